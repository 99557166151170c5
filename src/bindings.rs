//! The only `#[wasm_bindgen]` exports: the transport and its chunk sources.
//! Each method checks its arguments, opens an operation on the core's
//! engine and lets the runner drive it. The JS shim (`pkg/transport.js`)
//! wraps them in the vendor's class shape and turns a [`ChunkSource`] into
//! a `ReadableStream`.

use crate::engine::{Done, OpId, Source};
use crate::error::Error;
use crate::prelude::*;
use crate::web::errors::{type_error, Fail};
use crate::web::options::{self, get};
use crate::web::runner::{drive, persisted_js, to_json, Runtime, Yield};
use crate::web::sys;
use crate::wire::{self, SendPayload, Trigger};
use alloc::rc::Rc;
use core::cell::{Cell, RefCell};
use js_sys::{Array, Function, Promise};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::future_to_promise;

/// The transport's engine. One per `TriggerChatTransport`.
#[wasm_bindgen]
pub struct WasmTransport {
    rt: Rc<Runtime>,
}

/// Forwards the app's `AbortSignal` to the operation that currently carries
/// the call (the send, then its stream); removes its listener when dropped.
struct AbortHook {
    signal: web_sys::AbortSignal,
    callback: Closure<dyn FnMut()>,
}

impl Drop for AbortHook {
    fn drop(&mut self) {
        let _ = self
            .signal
            .remove_event_listener_with_callback("abort", self.callback.as_ref().unchecked_ref());
    }
}

fn hook_abort(
    rt: &Rc<Runtime>,
    signal: Option<web_sys::AbortSignal>,
    target: &Rc<Cell<OpId>>,
) -> Result<Option<AbortHook>, Fail> {
    let Some(signal) = signal else {
        return Ok(None);
    };
    if signal.aborted() {
        let op = target.get();
        rt.forget_settled(Some(op));
        rt.with(|e| e.abort(op));
        return Ok(None);
    }
    let (rt, target) = (rt.clone(), target.clone());
    let callback = Closure::<dyn FnMut()>::new(move || {
        let op = target.get();
        rt.forget_settled(Some(op));
        rt.with(|e| e.abort(op));
    });
    signal
        .add_event_listener_with_callback("abort", callback.as_ref().unchecked_ref())
        .map_err(Fail::Js)?;
    Ok(Some(AbortHook { signal, callback }))
}

/// Listens for browser wake events while a stream runs.
struct WakeHook {
    dispose: Function,
    _callback: Closure<dyn FnMut(bool)>,
}

impl Drop for WakeHook {
    fn drop(&mut self) {
        let _ = self.dispose.call0(&JsValue::UNDEFINED);
    }
}

/// What a stream listens to while it runs; dropped (listeners removed) when
/// it ends.
type Hooks = Rc<RefCell<Option<(Option<AbortHook>, Option<WakeHook>)>>>;

/// Chunks of one stream, pulled by the shim's `ReadableStream`.
#[wasm_bindgen]
pub struct ChunkSource {
    rt: Rc<Runtime>,
    op: OpId,
    /// Chunks (or the end) read before the source was handed out.
    first: RefCell<Option<Result<Option<JsValue>, JsValue>>>,
    hooks: Hooks,
}

fn source(rt: &Rc<Runtime>, op: OpId, abort: Option<AbortHook>) -> ChunkSource {
    let wake = {
        let rt2 = rt.clone();
        let callback =
            Closure::<dyn FnMut(bool)>::new(move |force: bool| rt2.with(|e| e.wake(op, force)));
        let dispose = sys::watch_wake(callback.as_ref());
        Some(WakeHook {
            dispose,
            _callback: callback,
        })
    };
    ChunkSource {
        rt: rt.clone(),
        op,
        first: RefCell::new(None),
        hooks: Rc::new(RefCell::new(Some((abort, wake)))),
    }
}

/// An operation's future, boxed so that every exported method shares one
/// instance of the promise machinery.
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

/// Runs a send until it resolves; a reply's stream becomes a source.
async fn send_and_stream(
    rt: &Rc<Runtime>,
    op: OpId,
    signal: Option<web_sys::AbortSignal>,
    on_settled: Option<Function>,
) -> Result<JsValue, Fail> {
    let target = Rc::new(Cell::new(op));
    let hook = hook_abort(rt, signal, &target)?;
    match drive(rt, op).await? {
        Yield::Done(Done::Stream(stream)) => {
            target.set(stream);
            if let Some(f) = on_settled {
                rt.on_settled(stream, f);
            }
            Ok(source(rt, stream, hook).into())
        }
        Yield::Done(Done::Bool(b)) => Ok(b.into()),
        Yield::Done(Done::Session(s)) => Ok(persisted_js(&s)),
        Yield::Done(Done::Closed) | Yield::Chunks(_) => Ok(JsValue::NULL),
    }
}

/// Runs an operation that resolves to a value (not a stream).
async fn settle(rt: &Rc<Runtime>, op: OpId) -> Result<JsValue, Fail> {
    send_and_stream(rt, op, None, None).await
}

#[wasm_bindgen]
impl WasmTransport {
    /// Reads and checks the options; a bad one throws a `TypeError` naming it.
    #[wasm_bindgen(constructor)]
    pub fn new(options: JsValue) -> Result<WasmTransport, JsValue> {
        let opts = options::parse(&options).map_err(|m| type_error(&m))?;
        Ok(WasmTransport {
            rt: Runtime::new(opts),
        })
    }

    #[wasm_bindgen(js_name = multiTab, getter)]
    pub fn multi_tab(&self) -> bool {
        self.rt.opts.multi_tab && !self.rt.opts.watch
    }

    pub fn start(&self, chat_id: JsValue) -> Promise {
        let rt = self.rt.clone();
        promise(async move {
            let id = chat_id_arg(&chat_id, "start")?;
            let op = rt.with(|e| e.start(&id));
            settle(&rt, op).await
        })
    }

    /// `useChat`'s send: append the newest message, then stream the reply.
    #[wasm_bindgen(js_name = sendMessages)]
    pub fn send_messages(&self, options: JsValue) -> Promise {
        let rt = self.rt.clone();
        promise(async move {
            if !options.is_object() {
                return Err(Error::Misuse(
                    "TriggerChatTransport.sendMessages: options must be an object".into(),
                )
                .into());
            }
            let chat_id = chat_id_arg(&get(&options, "chatId"), "sendMessages")?;
            // Before anything else: no head-start route call either.
            if let Some(e) = rt.read(|e| e.closed(&chat_id).map(|r| r.map(str::to_owned))) {
                return Err(Error::SessionClosed { chat_id, reason: e }.into());
            }
            let signal = signal_arg(&get(&options, "abortSignal"), "sendMessages")?;
            // An action sent through `useChat` (`useChatActions` puts it in
            // `body.action`): `useChat` then owns the reply's stream.
            let action = get(&get(&options, "body"), "action");
            if !action.is_undefined() {
                let metadata = get(&options, "metadata");
                return send_action(&rt, &chat_id, &action, &metadata, signal, None).await;
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
            let metadata = rt.merged_metadata(&get(&options, "metadata"))?;
            let body = to_json(&get(&options, "body"), "body")?;

            if let Some(url) = rt.opts.head_start.clone() {
                if rt.read(|e| e.session(&chat_id).is_none()) {
                    let history = to_json(&messages, "messages")?.unwrap_or_else(|| "[]".into());
                    let payload = wire::head_start_body(
                        trigger,
                        &chat_id,
                        message_id.as_deref(),
                        &history,
                        body.as_deref(),
                        metadata.as_deref(),
                    );
                    let op = rt.with(|e| e.head_start(&chat_id, url, payload, message_id));
                    return head_start(&rt, op, signal).await;
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
            let source = match trigger {
                Trigger::SubmitMessage => Source::Submit,
                Trigger::RegenerateMessage => Source::Regenerate,
            };
            let op = rt.with(|e| e.send(&chat_id, payload, source, message_id, true));
            send_and_stream(&rt, op, signal, None).await
        })
    }

    /// Resumes the chat's reply after a reload; `null` when there is
    /// nothing to resume. Aborting it stops the agent only with
    /// `stopOnAbort: true` (the subscriber owns the turn).
    #[wasm_bindgen(js_name = reconnectToStream)]
    pub fn reconnect_to_stream(&self, options: JsValue) -> Promise {
        let rt = self.rt.clone();
        promise(async move {
            let chat_id = chat_id_arg(&get(&options, "chatId"), "reconnectToStream")?;
            let signal = signal_arg(&get(&options, "abortSignal"), "reconnectToStream")?;
            let stop_on_abort = get(&options, "stopOnAbort").as_bool() == Some(true);
            let Some(op) = rt.with(|e| e.reconnect(&chat_id, stop_on_abort)) else {
                return Ok(JsValue::NULL);
            };
            let target = Rc::new(Cell::new(op));
            let hook = hook_abort(&rt, signal, &target)?;
            Ok(source(&rt, op, hook).into())
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
        let rt = self.rt.clone();
        promise(async move {
            let id = chat_id_arg(&chat_id, "sendPendingMessage")?;
            let Some(msg) = to_json(&message, "message")? else {
                return Err(Error::Misuse(
                    "TriggerChatTransport.sendPendingMessage: `message` is required".into(),
                )
                .into());
            };
            let body = wire::pending_chunk(&id, &msg, rt.merged_metadata(&metadata)?.as_deref());
            let op = rt.with(|e| e.send(&id, body, Source::Steer, None, false));
            settle(&rt, op).await
        })
    }

    /// Stops the agent's turn and ends the chat's stream.
    #[wasm_bindgen(js_name = stopGeneration)]
    pub fn stop_generation(&self, chat_id: JsValue) -> Promise {
        let rt = self.rt.clone();
        promise(async move {
            let id = chat_id_arg(&chat_id, "stopGeneration")?;
            let op = rt.with(|e| e.stop(&id));
            settle(&rt, op).await
        })
    }

    /// A custom action for the agent's `onAction`; streams its reply.
    #[wasm_bindgen(js_name = sendAction)]
    pub fn send_action(&self, chat_id: JsValue, action: JsValue, options: JsValue) -> Promise {
        let rt = self.rt.clone();
        promise(async move {
            let id = chat_id_arg(&chat_id, "sendAction")?;
            let signal = signal_arg(&get(&options, "abortSignal"), "sendAction")?;
            let on_settled = get(&options, "onSettled");
            let on_settled = if on_settled.is_undefined() || on_settled.is_null() {
                None
            } else {
                Some(on_settled.dyn_into::<Function>().map_err(|_| {
                    Error::Misuse(
                        "TriggerChatTransport.sendAction: `onSettled` must be a function".into(),
                    )
                })?)
            };
            send_action(
                &rt,
                &id,
                &action,
                &get(&options, "metadata"),
                signal,
                on_settled,
            )
            .await
        })
    }

    /// `"closed"` once the chat's session is closed, else `"open"`.
    #[wasm_bindgen(js_name = sessionStatus)]
    pub fn session_status(&self, chat_id: JsValue) -> JsValue {
        let closed = chat_id
            .as_string()
            .is_some_and(|id| self.rt.read(|e| e.closed(&id).is_some()));
        JsValue::from_str(if closed { "closed" } else { "open" })
    }

    /// Why the chat's session was closed, when a reason was given.
    #[wasm_bindgen(js_name = sessionClosedReason)]
    pub fn session_closed_reason(&self, chat_id: JsValue) -> JsValue {
        chat_id
            .as_string()
            .and_then(|id| {
                self.rt
                    .read(|e| e.closed(&id).flatten().map(JsValue::from_str))
            })
            .unwrap_or(JsValue::UNDEFINED)
    }

    #[wasm_bindgen(js_name = getSession)]
    pub fn get_session(&self, chat_id: JsValue) -> JsValue {
        chat_id
            .as_string()
            .and_then(|id| self.rt.read(|e| e.session(&id).map(persisted_js)))
            .unwrap_or(JsValue::UNDEFINED)
    }

    #[wasm_bindgen(js_name = setSession)]
    pub fn set_session(&self, chat_id: JsValue, session: JsValue) -> Result<(), JsValue> {
        let id = chat_id_arg(&chat_id, "setSession").map_err(Fail::into_js)?;
        let state =
            options::session_from_js(&session, "TriggerChatTransport.setSession: `session`")
                .map_err(|m| type_error(&m))?;
        self.rt.with(|e| e.set_session(&id, state));
        Ok(())
    }

    #[wasm_bindgen(js_name = setOnSessionChange)]
    pub fn set_on_session_change(&self, callback: JsValue) -> Result<(), JsValue> {
        if callback.is_undefined() || callback.is_null() {
            self.rt.set_on_change(None);
            return Ok(());
        }
        let f: Function = callback.dyn_into().map_err(|_| {
            type_error("TriggerChatTransport.setOnSessionChange: the callback must be a function")
        })?;
        self.rt.set_on_change(Some(f));
        Ok(())
    }

    #[wasm_bindgen(js_name = setClientData)]
    pub fn set_client_data(&self, client_data: JsValue) {
        self.rt.set_client_data(client_data);
    }

    /// Keeps a cursor learned from another tab, unless ours is ahead.
    #[wasm_bindgen(js_name = adoptLastEventId)]
    pub fn adopt_last_event_id(&self, chat_id: String, last_event_id: String) {
        self.rt.with(|e| e.adopt_cursor(&chat_id, &last_event_id));
    }

    /// Seeds the chat's resume cursor from the app's stored transcript.
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
        self.rt.with(|e| e.seed_cursor(&id, &cursor));
        Ok(())
    }

    /// Forgets the gate of a stopped turn that died without its
    /// `turn-complete`.
    #[wasm_bindgen(js_name = clearSupersedeGate)]
    pub fn clear_supersede_gate(&self, chat_id: JsValue) {
        if let Some(id) = chat_id.as_string() {
            self.rt.with(|e| e.clear_gate(&id));
        }
    }

    /// Replaces one of the app's callbacks (`accessToken`, `startSession`,
    /// `fetch` or `onEvent`); the next use reads the new one.
    #[wasm_bindgen(js_name = setCallback)]
    pub fn set_callback(&self, which: &str, callback: JsValue) -> Result<(), JsValue> {
        let o = &self.rt.opts;
        let bad = || {
            type_error(&cat!(
                "TriggerChatTransport.set",
                which,
                ": the callback must be a function"
            ))
        };
        let f = if callback.is_undefined() || callback.is_null() {
            None
        } else {
            Some(callback.dyn_into::<Function>().map_err(|_| bad())?)
        };
        match which {
            // Absent keeps the current `accessToken` (it is required).
            "AccessToken" => {
                if let Some(f) = f {
                    *o.access_token.borrow_mut() = f;
                }
            }
            "StartSession" => *o.start_session.borrow_mut() = f,
            "Fetch" => *o.fetch.borrow_mut() = f,
            "OnEvent" => *o.on_event.borrow_mut() = f,
            _ => return Err(bad()),
        }
        self.rt.callbacks_changed();
        Ok(())
    }

    /// Ends every open operation: no timer or connection is left.
    pub fn dispose(&self) {
        self.rt.forget_settled(None);
        self.rt.with(|e| e.dispose());
    }
}

/// An action on `.in` (with the call's `metadata` over the transport's
/// `clientData`), then its reply on `.out`.
async fn send_action(
    rt: &Rc<Runtime>,
    id: &str,
    action: &JsValue,
    metadata: &JsValue,
    signal: Option<web_sys::AbortSignal>,
    on_settled: Option<Function>,
) -> Result<JsValue, Fail> {
    let action = to_json(action, "action")?.unwrap_or_else(|| "null".into());
    let metadata = rt.merged_metadata(metadata)?;
    let chunk = wire::action_chunk(id, &action, metadata.as_deref());
    let stop_on_abort = signal.is_some();
    let op = rt.with(|e| e.send(id, chunk, Source::Action, None, stop_on_abort));
    send_and_stream(rt, op, signal, on_settled).await
}

/// The head-start path: the route's answer decides whether the send
/// succeeded, so the stream is read up to its first chunks before the
/// source is handed out.
async fn head_start(
    rt: &Rc<Runtime>,
    op: OpId,
    signal: Option<web_sys::AbortSignal>,
) -> Result<JsValue, Fail> {
    let target = Rc::new(Cell::new(op));
    let hook = hook_abort(rt, signal, &target)?;
    let first = match drive(rt, op).await? {
        Yield::Chunks(c) => Some(c),
        Yield::Done(_) => None,
    };
    let src = source(rt, op, hook);
    *src.first.borrow_mut() = Some(Ok(first));
    Ok(src.into())
}

#[wasm_bindgen]
impl ChunkSource {
    /// The next chunks as an array, or `null` at the end. Rejects with the
    /// stream's error.
    pub fn next(&self) -> Promise {
        let first = self.first.borrow_mut().take();
        let (rt, op, hooks) = (self.rt.clone(), self.op, self.hooks.clone());
        promise(async move {
            match first {
                Some(Ok(Some(c))) => return Ok(c),
                Some(Ok(None)) => {
                    hooks.borrow_mut().take();
                    return Ok(JsValue::NULL);
                }
                Some(Err(e)) => return Err(Fail::Js(e)),
                None => {}
            }
            if hooks.borrow().is_none() {
                return Ok(JsValue::NULL);
            }
            match drive(&rt, op).await {
                Ok(Yield::Chunks(c)) => Ok(c),
                Ok(Yield::Done(_)) => {
                    hooks.borrow_mut().take();
                    Ok(JsValue::NULL)
                }
                Err(f) => {
                    hooks.borrow_mut().take();
                    Err(f)
                }
            }
        })
    }

    /// The app cancelled the stream: close the connection.
    pub fn cancel(&self) {
        let op = self.op;
        self.rt.forget_settled(Some(op));
        self.rt.with(|e| e.cancel(op));
        self.hooks.borrow_mut().take();
    }
}
