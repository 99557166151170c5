//! The only `#[wasm_bindgen]` exports: the transport and its chunk sources.
//! The JS shim (`pkg/transport.js`) wraps them in the vendor's class shape
//! and turns a [`ChunkSource`] into a `ReadableStream`.

use crate::error::Error;
use crate::prelude::*;
use crate::web::client::{persisted_js, to_json, Client, SendReport, StreamCtl};
use crate::web::driver::Runner;
use crate::web::errors::{type_error, Fail};
use crate::web::fetch::{self, Request};
use crate::web::options::{self, get};
use crate::web::sys;
use crate::wire::{self, SendPayload, Trigger};
use alloc::rc::Rc;
use core::cell::RefCell;
use js_sys::{Array, Function, Promise};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::future_to_promise;

/// The transport's engine. One per `TriggerChatTransport`.
#[wasm_bindgen]
pub struct WasmTransport {
    client: Rc<Client>,
}

/// Chunks of one stream, pulled by the shim's `ReadableStream`.
#[wasm_bindgen]
pub struct ChunkSource {
    runner: Rc<RefCell<Option<Runner>>>,
    ctl: Rc<StreamCtl>,
}

fn source(runner: Runner) -> JsValue {
    let ctl = runner.ctl().clone();
    ChunkSource {
        runner: Rc::new(RefCell::new(Some(runner))),
        ctl,
    }
    .into()
}

/// An operation's future, boxed so that every exported method shares one
/// instance of the promise machinery instead of inlining its own copy.
type Op = core::pin::Pin<Box<dyn core::future::Future<Output = Result<JsValue, Fail>>>>;

fn promise<F>(f: F) -> Promise
where
    F: core::future::Future<Output = Result<JsValue, Fail>> + 'static,
{
    run(Box::pin(f))
}

#[inline(never)]
fn run(op: Op) -> Promise {
    future_to_promise(async move { op.await.map_err(Fail::into_js) })
}

/// An action on `.in` (with the call's `metadata` over the transport's
/// `clientData`), then its reply on `.out`.
async fn action_reply(
    c: &Rc<Client>,
    id: &str,
    action: &JsValue,
    metadata: &JsValue,
    signal: Option<web_sys::AbortSignal>,
) -> Result<JsValue, Fail> {
    let action = to_json(action, "action")?.unwrap_or_else(|| "null".into());
    let metadata = c.merged_metadata(metadata)?;
    c.ensure_session(id).await?;
    let chunk = wire::action_chunk(id, &action, metadata.as_deref());
    let seq = c.send_reported(id, &chunk, "action", None).await?;
    let stop_on_abort = signal.is_some();
    stream_reply(c, id, signal, stop_on_abort, seq)
}

/// After a send: the new turn supersedes the chat's running stream, the
/// chat is marked streaming (so a reload resumes it), and a stream on
/// `.out` carries the reply: the turn that answers `.in` record `in_seq`.
fn stream_reply(
    c: &Rc<Client>,
    chat_id: &str,
    signal: Option<web_sys::AbortSignal>,
    stop_on_abort: bool,
    in_seq: Option<u64>,
) -> Result<JsValue, Fail> {
    c.supersede(chat_id);
    c.update(chat_id, |s| {
        s.is_streaming = Some(true);
        s.active_input_seq = in_seq;
    });
    c.notify(chat_id);
    Ok(source(Runner::session(
        c,
        chat_id,
        false,
        signal,
        stop_on_abort,
        in_seq,
    )?))
}

fn chat_id_arg(v: &JsValue, method: &str) -> Result<String, Fail> {
    match v.as_string() {
        Some(s) if !s.is_empty() => Ok(s),
        _ => Err(Error::Misuse(cat!(
            "TriggerChatTransport.",
            method,
            ": `chatId` must be a non-empty string"
        ))
        .into()),
    }
}

fn signal_arg(v: &JsValue, method: &str) -> Result<Option<web_sys::AbortSignal>, Fail> {
    if v.is_undefined() || v.is_null() {
        return Ok(None);
    }
    if !v.is_object() || get(v, "aborted").as_bool().is_none() {
        return Err(Error::Misuse(cat!(
            "TriggerChatTransport.",
            method,
            ": `abortSignal` must be an AbortSignal"
        ))
        .into());
    }
    Ok(Some(v.clone().unchecked_into()))
}

#[wasm_bindgen]
impl WasmTransport {
    /// Reads and checks the options; a bad one throws a `TypeError` naming it.
    #[wasm_bindgen(constructor)]
    pub fn new(options: JsValue) -> Result<WasmTransport, JsValue> {
        let opts = options::parse(&options).map_err(|m| type_error(&m))?;
        Ok(WasmTransport {
            client: Client::new(opts),
        })
    }

    #[wasm_bindgen(js_name = multiTab, getter)]
    pub fn multi_tab(&self) -> bool {
        self.client.opts.multi_tab && !self.client.opts.watch
    }

    pub fn start(&self, chat_id: JsValue) -> Promise {
        let c = self.client.clone();
        promise(async move {
            let id = chat_id_arg(&chat_id, "start")?;
            let state = c.start(&id).await?;
            Ok(persisted_js(&state))
        })
    }

    /// `useChat`'s send: append the newest message, then stream the reply.
    #[wasm_bindgen(js_name = sendMessages)]
    pub fn send_messages(&self, options: JsValue) -> Promise {
        let c = self.client.clone();
        promise(async move {
            if !options.is_object() {
                return Err(Error::Misuse(
                    "TriggerChatTransport.sendMessages: options must be an object".into(),
                )
                .into());
            }
            let chat_id = chat_id_arg(&get(&options, "chatId"), "sendMessages")?;
            // Before anything else: no head-start route call either.
            c.refuse_if_closed(&chat_id)?;
            // An action sent through `useChat` (`useChatActions` puts it in
            // `body.action`): `useChat` then owns the reply's stream.
            let action = get(&get(&options, "body"), "action");
            if !action.is_undefined() {
                let signal = signal_arg(&get(&options, "abortSignal"), "sendMessages")?;
                let metadata = get(&options, "metadata");
                return action_reply(&c, &chat_id, &action, &metadata, signal).await;
            }
            let trigger = get(&options, "trigger").as_string().and_then(|t| Trigger::parse(&t)).ok_or_else(|| {
                Error::Misuse(
                    "TriggerChatTransport.sendMessages: `trigger` must be \"submit-message\" or \"regenerate-message\""
                        .into(),
                )
            })?;
            let messages = get(&options, "messages");
            if !Array::is_array(&messages) {
                return Err(Error::Misuse(
                    "TriggerChatTransport.sendMessages: `messages` must be an array".into(),
                )
                .into());
            }
            let messages: Array = messages.unchecked_into();
            let message_id = get(&options, "messageId").as_string();
            let signal = signal_arg(&get(&options, "abortSignal"), "sendMessages")?;
            let metadata = c.merged_metadata(&get(&options, "metadata"))?;
            let body = to_json(&get(&options, "body"), "body")?;

            if let Some(url) = c.opts.head_start.clone() {
                if c.session(&chat_id).is_none() {
                    let history = to_json(&messages, "messages")?.unwrap_or_else(|| "[]".into());
                    let payload = wire::head_start_body(
                        trigger,
                        &chat_id,
                        message_id.as_deref(),
                        &history,
                        body.as_deref(),
                        metadata.as_deref(),
                    );
                    return head_start(&c, &chat_id, message_id.as_deref(), &url, &payload, signal)
                        .await;
                }
            }
            if trigger == Trigger::SubmitMessage && messages.length() == 0 {
                return Err(Error::Misuse(
                    "TriggerChatTransport.sendMessages: 'submit-message' trigger requires at least one message".into(),
                )
                .into());
            }
            let last = if messages.length() == 0 {
                None
            } else {
                to_json(&messages.get(messages.length() - 1), "message")?
            };
            let payload = wire::send_chunk(
                trigger,
                SendPayload {
                    chat_id: &chat_id,
                    message_id: message_id.as_deref(),
                    last_message: last.as_deref(),
                    body: body.as_deref(),
                    metadata: metadata.as_deref(),
                },
            );
            c.ensure_session(&chat_id).await?;
            let seq = c
                .send_reported(&chat_id, &payload, trigger.as_str(), message_id.as_deref())
                .await?;
            c.note_send(&chat_id, message_id.clone());
            stream_reply(&c, &chat_id, signal, true, seq)
        })
    }

    /// Resumes the chat's reply after a reload; `null` when there is
    /// nothing to resume.
    #[wasm_bindgen(js_name = reconnectToStream)]
    pub fn reconnect_to_stream(&self, options: JsValue) -> Promise {
        let c = self.client.clone();
        promise(async move {
            let chat_id = chat_id_arg(&get(&options, "chatId"), "reconnectToStream")?;
            let signal = signal_arg(&get(&options, "abortSignal"), "reconnectToStream")?;
            let Some(state) = c.session(&chat_id) else {
                return Ok(JsValue::NULL);
            };
            // A closed session has no turn to resume. In watch mode a
            // settled session is just between turns: the viewer waits.
            let idle = state.is_streaming == Some(false) && !c.opts.watch;
            if state.closed || idle || c.has_active(&chat_id) {
                return Ok(JsValue::NULL);
            }
            let stop_on_abort = signal.is_some();
            // The send in flight, if known: its turn ends the stream.
            Ok(source(Runner::session(
                &c,
                &chat_id,
                true,
                signal,
                stop_on_abort,
                state.active_input_seq,
            )?))
        })
    }

    /// A steering message while a reply streams; the stream goes on.
    #[wasm_bindgen(js_name = sendPendingMessage)]
    pub fn send_pending_message(
        &self,
        chat_id: JsValue,
        message: JsValue,
        metadata: JsValue,
    ) -> Promise {
        let c = self.client.clone();
        promise(async move {
            let id = chat_id_arg(&chat_id, "sendPendingMessage")?;
            if c.session(&id).is_none() {
                return Ok(false.into());
            }
            let Some(msg) = to_json(&message, "message")? else {
                return Err(Error::Misuse(
                    "TriggerChatTransport.sendPendingMessage: `message` is required".into(),
                )
                .into());
            };
            let body = wire::pending_chunk(&id, &msg, c.merged_metadata(&metadata)?.as_deref());
            Ok(c.send_reported(&id, &body, "steer", None)
                .await
                .is_ok()
                .into())
        })
    }

    /// Stops the agent's turn and ends the chat's stream.
    #[wasm_bindgen(js_name = stopGeneration)]
    pub fn stop_generation(&self, chat_id: JsValue) -> Promise {
        let c = self.client.clone();
        promise(async move {
            let id = chat_id_arg(&chat_id, "stopGeneration")?;
            if c.session(&id).is_none() {
                return Ok(false.into());
            }
            if c.send_reported(&id, &wire::stop_chunk(), "stop", None)
                .await
                .is_err()
            {
                return Ok(false.into());
            }
            c.update(&id, |s| {
                s.skip_to_turn_complete = true;
                s.is_streaming = Some(false);
            });
            c.supersede(&id);
            c.notify(&id);
            Ok(true.into())
        })
    }

    /// A custom action for the agent's `onAction`; streams its reply.
    #[wasm_bindgen(js_name = sendAction)]
    pub fn send_action(&self, chat_id: JsValue, action: JsValue, options: JsValue) -> Promise {
        let c = self.client.clone();
        promise(async move {
            let id = chat_id_arg(&chat_id, "sendAction")?;
            let signal = signal_arg(&get(&options, "abortSignal"), "sendAction")?;
            action_reply(&c, &id, &action, &get(&options, "metadata"), signal).await
        })
    }

    /// `"closed"` once the chat's session is closed (by the agent or the
    /// app's server), else `"open"`.
    #[wasm_bindgen(js_name = sessionStatus)]
    pub fn session_status(&self, chat_id: JsValue) -> JsValue {
        let closed = self.closed_state(&chat_id).is_some();
        JsValue::from_str(if closed { "closed" } else { "open" })
    }

    /// Why the chat's session was closed, when a reason was given.
    #[wasm_bindgen(js_name = sessionClosedReason)]
    pub fn session_closed_reason(&self, chat_id: JsValue) -> JsValue {
        self.closed_state(&chat_id)
            .and_then(|s| s.closed_reason)
            .map_or(JsValue::UNDEFINED, |r| JsValue::from_str(&r))
    }

    #[wasm_bindgen(js_name = getSession)]
    pub fn get_session(&self, chat_id: JsValue) -> JsValue {
        chat_id
            .as_string()
            .and_then(|id| self.client.session(&id))
            .map_or(JsValue::UNDEFINED, |s| persisted_js(&s))
    }

    #[wasm_bindgen(js_name = setSession)]
    pub fn set_session(&self, chat_id: JsValue, session: JsValue) -> Result<(), JsValue> {
        let id = chat_id_arg(&chat_id, "setSession").map_err(Fail::into_js)?;
        let state =
            options::session_from_js(&session, "TriggerChatTransport.setSession: `session`")
                .map_err(|m| type_error(&m))?;
        self.client.insert_session(&id, state);
        self.client.notify(&id);
        Ok(())
    }

    #[wasm_bindgen(js_name = setOnSessionChange)]
    pub fn set_on_session_change(&self, callback: JsValue) -> Result<(), JsValue> {
        if callback.is_undefined() || callback.is_null() {
            self.client.set_on_change(None);
            return Ok(());
        }
        let f: Function = callback.dyn_into().map_err(|_| {
            type_error("TriggerChatTransport.setOnSessionChange: the callback must be a function")
        })?;
        self.client.set_on_change(Some(f));
        Ok(())
    }

    #[wasm_bindgen(js_name = setClientData)]
    pub fn set_client_data(&self, client_data: JsValue) {
        self.client.set_client_data(client_data);
    }

    /// Keeps a cursor learned from another tab, unless ours is ahead.
    #[wasm_bindgen(js_name = adoptLastEventId)]
    pub fn adopt_last_event_id(&self, chat_id: String, last_event_id: String) {
        self.client.update(&chat_id, |s| {
            s.advance_cursor(&last_event_id);
        });
    }

    /// Seeds the chat's resume cursor from the app's stored transcript
    /// (see [`Client::seed_cursor`]).
    #[wasm_bindgen(js_name = seedResumeCursor)]
    pub fn seed_resume_cursor(
        &self,
        chat_id: JsValue,
        last_event_id: JsValue,
    ) -> Result<(), JsValue> {
        let id = chat_id_arg(&chat_id, "seedResumeCursor").map_err(Fail::into_js)?;
        let cursor = last_event_id.as_string().ok_or_else(|| {
            type_error("TriggerChatTransport.seedResumeCursor: `lastEventId` must be a string")
        })?;
        self.client.seed_cursor(&id, &cursor);
        Ok(())
    }

    /// Forgets the "skip to the end of the stopped turn" mark, for a stopped
    /// turn that died without writing its `turn-complete`.
    #[wasm_bindgen(js_name = clearSupersedeGate)]
    pub fn clear_supersede_gate(&self, chat_id: JsValue) {
        if let Some(id) = chat_id.as_string() {
            self.client.update(&id, |s| s.skip_to_turn_complete = false);
        }
    }

    /// Replaces one of the app's callbacks (`accessToken`, `startSession`,
    /// `fetch` or `onEvent`); the next use reads the new one.
    #[wasm_bindgen(js_name = setCallback)]
    pub fn set_callback(&self, which: &str, callback: JsValue) -> Result<(), JsValue> {
        let o = &self.client.opts;
        let bad = || {
            type_error(&cat!(
                "TriggerChatTransport.set",
                which,
                ": the callback must be a function"
            ))
        };
        // Absent clears an optional callback; anything else must be a function.
        let f = if callback.is_undefined() || callback.is_null() {
            None
        } else {
            Some(callback.dyn_into::<Function>().map_err(|_| bad())?)
        };
        match which {
            "AccessToken" => *o.access_token.borrow_mut() = f.ok_or_else(bad)?,
            "StartSession" => *o.start_session.borrow_mut() = f,
            "Fetch" => *o.fetch.borrow_mut() = f,
            "OnEvent" => *o.on_event.borrow_mut() = f,
            _ => return Err(bad()),
        }
        Ok(())
    }

    /// Ends every open stream.
    pub fn dispose(&self) {
        self.client.abort_all();
    }
}

impl WasmTransport {
    fn closed_state(&self, chat_id: &JsValue) -> Option<crate::session::SessionState> {
        let id = chat_id.as_string()?;
        self.client.session(&id).filter(|s| s.closed)
    }
}

/// The head-start path: the app's route runs the first turn and streams it.
async fn head_start(
    c: &Rc<Client>,
    chat_id: &str,
    message_id: Option<&str>,
    url: &str,
    payload: &str,
    signal: Option<web_sys::AbortSignal>,
) -> Result<JsValue, Fail> {
    let headers = wire::merge_headers(
        &c.opts.headers,
        vec![("Content-Type".into(), "application/json".into())],
    );
    let req = Request {
        url,
        method: Some("POST"),
        headers: &headers,
        body: Some(payload),
        signal: signal.as_ref(),
    };
    let started = sys::now_ms();
    let sent: Result<JsValue, Fail> = async {
        let resp = fetch::send(None, None, &req).await?;
        let status = fetch::status(&resp);
        if !(200..300).contains(&status) {
            let text = fetch::text(&resp).await;
            return Err(fetch::http_error("headStart request", &resp, &text).into());
        }
        Ok(resp)
    }
    .await;
    let report = SendReport {
        source: "head-start",
        message_id,
        part_id: None,
        started,
        body_len: payload.len(),
    };
    c.report_send(chat_id, &report, sent.as_ref().err());
    let resp = sent?;
    c.note_send(chat_id, message_id.map(str::to_owned));
    if sys::header_of(&resp, "X-Trigger-Chat-Pending-Version").as_deref() == Some("1") {
        c.pending_version(chat_id, "head-start");
    }
    let Some(token) =
        sys::header_of(&resp, "X-Trigger-Chat-Access-Token").filter(|t| !t.is_empty())
    else {
        return Err(Error::Protocol(
            "the headStart route's response lacks the X-Trigger-Chat-Access-Token header, so later turns could \
             not reach the session"
                .into(),
        )
        .into());
    };
    c.insert_session(
        chat_id,
        crate::session::SessionState {
            public_access_token: token,
            is_streaming: Some(true),
            ..Default::default()
        },
    );
    c.notify(chat_id);
    Ok(source(Runner::head_start(c, chat_id, &resp)?))
}

#[wasm_bindgen]
impl ChunkSource {
    /// The next chunks as an array, or `null` at the end. Rejects with the
    /// stream's error.
    pub fn next(&self) -> Promise {
        let slot = self.runner.clone();
        promise(async move {
            let taken = slot.borrow_mut().take();
            let Some(mut runner) = taken else {
                return Ok(JsValue::NULL);
            };
            match runner.next().await {
                Ok(Some(chunks)) => {
                    *slot.borrow_mut() = Some(runner);
                    Ok(chunks)
                }
                Ok(None) => Ok(JsValue::NULL),
                Err(f) => Err(f),
            }
        })
    }

    /// The app cancelled the stream: close the connection.
    pub fn cancel(&self) {
        self.ctl.abort();
        // When no read is in flight, release the stream now.
        drop(self.runner.borrow_mut().take());
    }
}
