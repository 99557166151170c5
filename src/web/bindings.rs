//! The module's exports: the transport the app constructs (wrapped by the
//! package's `transport.js` for the vendor's class shape) and the chunk
//! sources behind its `ReadableStream`s.

use core::cell::{Cell, RefCell};

use alloc::rc::Rc;

use js_sys::Promise;
use wasm_bindgen::prelude::*;

use web_sys::EventTarget;

use super::host::{session_object, Web};
use super::js::{
    self, absent, arg_name, describe, function, is_object, is_plain_object, misuse, must_be,
    object, prop, set, stringify,
};
use super::options::{self, chat_id_arg, session_from, signal_arg};
use super::sys;
use crate::engine::{Done, Engine, OpId, Source as From};
use crate::error::Error;
use crate::prelude::*;
use crate::runner::{wake_is_forced, Failed, Runner, Step, Target};

type WebRunner = Runner<Web>;

/// A callback listening on event targets; removed from each when dropped.
struct Listener {
    f: Closure<dyn FnMut(JsValue)>,
    on: Vec<(EventTarget, &'static str)>,
}

impl Listener {
    fn new(f: impl FnMut(JsValue) + 'static) -> Self {
        Self::boxed(Box::new(f))
    }

    /// One copy of the body for every kind of callback.
    fn boxed(f: Box<dyn FnMut(JsValue)>) -> Self {
        Listener {
            f: Closure::<dyn FnMut(JsValue)>::wrap(f),
            on: Vec::new(),
        }
    }

    /// Listens for `kind` on `target` too; `false` where it cannot.
    fn listen(&mut self, target: &JsValue, kind: &'static str) -> bool {
        if !prop(target, "addEventListener").is_function() {
            return false;
        }
        let target: EventTarget = target.clone().unchecked_into();
        let added = target
            .add_event_listener_with_callback(kind, self.f.as_ref().unchecked_ref())
            .is_ok();
        if added {
            self.on.push((target, kind));
        }
        added
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        for (target, kind) in &self.on {
            let _ =
                target.remove_event_listener_with_callback(kind, self.f.as_ref().unchecked_ref());
        }
    }
}

/// Browser wake events, for every stream of the transport: back online, a
/// tab shown again (after [`crate::runner::WAKE_HIDDEN_MS`] hidden: the
/// connection is likely dead), a page restored from the back-forward
/// cache. One callback for the three, listened to while the transport
/// lives (none where there is no document: a server).
fn watch_wake(runner: &WebRunner) -> Option<Listener> {
    let g = js_sys::global();
    let doc = prop(&g, "document");
    if absent(&doc) {
        return None;
    }
    let hidden_since = Cell::new(0u64);
    let (r, d) = (runner.clone(), doc.clone());
    let mut l = Listener::new(move |e| {
        let force = match prop(&e, "type").as_string().as_deref() {
            Some("visibilitychange") => {
                let now = sys::now() as u64;
                if prop(&d, "visibilityState").as_string().as_deref() == Some("hidden") {
                    hidden_since.set(now);
                    return;
                }
                let since = hidden_since.replace(0);
                wake_is_forced(if since == 0 {
                    0
                } else {
                    now.saturating_sub(since)
                })
            }
            Some("pageshow") if !prop(&e, "persisted").is_truthy() => return,
            _ => true,
        };
        r.wake(force);
    });
    let listened =
        l.listen(&doc, "visibilitychange") | l.listen(&g, "online") | l.listen(&g, "pageshow");
    listened.then_some(l)
}

/// Forwards the app's abort signal to the operation that carries the call
/// now (the send, then its stream); the listener, if one was needed.
fn hook_abort(t: &Transport, signal: Option<JsValue>, target: &Target) -> Option<Listener> {
    let signal = signal?;
    let (runner, web, target) = (t.runner.clone(), t.web.clone(), target.clone());
    let abort = move |_| {
        let op = target.get();
        web.0.settled_by.borrow_mut().retain(|(o, _)| *o != op);
        runner.abort(op);
    };
    if prop(&signal, "aborted").is_truthy() {
        abort(JsValue::UNDEFINED);
        return None;
    }
    let mut l = Listener::new(abort);
    l.listen(&signal, "abort").then_some(l)
}

/// The error the app sees for a failed operation: what its code threw,
/// when that is what it was.
fn error_of(f: Failed<JsValue>) -> JsValue {
    match f.thrown {
        Some(t) if matches!(f.error, Error::Callback(_)) => t,
        _ => js::error(&f.error),
    }
}

/// The chunks (a JSON array's text) as an array.
fn chunks(json: &str) -> Result<JsValue, JsValue> {
    sys::json_parse(json).map_err(|_| {
        js::error(&Error::Decode(
            "the chunks of a batch do not form valid JSON".into(),
        ))
    })
}

struct SourceState {
    runner: WebRunner,
    web: Web,
    op: OpId,
    /// Chunks already read (`Some(None)`: the stream ended before any).
    first: RefCell<Option<Option<String>>>,
    /// The abort listener (if the call had a signal), while the stream is
    /// open.
    hooks: RefCell<Option<Option<Listener>>>,
}

impl SourceState {
    fn unhook(&self) {
        let hooks = self.hooks.borrow_mut().take();
        drop(hooks);
    }
}

/// The chunks of one stream, pulled by the package's `ReadableStream`.
#[wasm_bindgen(js_name = ChunkSource)]
pub struct ChunkSource(Rc<SourceState>);

#[wasm_bindgen(js_class = ChunkSource)]
impl ChunkSource {
    /// Resolves to an array of chunks, or `null` at the end.
    pub fn next(&self) -> Promise {
        let s = self.0.clone();
        promise(async move {
            let mut got = s.first.borrow_mut().take();
            if got.is_none() && s.hooks.borrow().is_some() {
                got = Some(match s.runner.next(s.op).await {
                    Ok(c) => c,
                    Err(f) => {
                        s.unhook();
                        return Err(error_of(f));
                    }
                });
            }
            if let Some(Some(json)) = got {
                return chunks(&json);
            }
            s.unhook();
            Ok(JsValue::NULL)
        })
    }

    /// The app cancelled the stream: it ends quietly.
    pub fn cancel(&self) {
        let s = &self.0;
        s.web.0.settled_by.borrow_mut().retain(|(o, _)| *o != s.op);
        s.runner.cancel(s.op);
        s.unhook();
    }
}

/// The transport behind the package's `TriggerChatTransport`.
#[wasm_bindgen(js_name = Transport)]
pub struct Transport {
    runner: WebRunner,
    web: Web,
    /// The browser's wake events, until `dispose`.
    wake: RefCell<Option<Listener>>,
    multi_tab: bool,
    head_start: Option<String>,
}

/// What a send resolved to, as the app sees it.
fn done_value(d: Done) -> JsValue {
    match d {
        Done::Closed => JsValue::NULL,
        Done::Bool(b) => b.into(),
        Done::Session(s) => session_object(&s),
        Done::Stream(s) => JsValue::from_f64(f64::from(s)),
    }
}

/// `v` as JSON has it (a fresh copy), or `undefined` when JSON has nothing
/// for it; a value that cannot be stringified is the caller's error.
fn json_copy(v: &JsValue, what: &str) -> Result<JsValue, JsValue> {
    if v.is_undefined() {
        return Ok(JsValue::UNDEFINED);
    }
    match stringify(v) {
        Ok(Some(text)) => Ok(sys::json_parse(&text).unwrap_or(JsValue::UNDEFINED)),
        Ok(None) => Ok(JsValue::UNDEFINED),
        Err(e) => Err(misuse(&cat!(
            what,
            " cannot be sent as JSON: ",
            describe(&e)
        ))),
    }
}

/// `{kind: "message", payload}` as JSON text.
fn message_chunk(payload: &JsValue) -> String {
    let o = object();
    set(&o, "kind", &"message".into());
    set(&o, "payload", payload);
    stringify(&o).ok().flatten().unwrap_or_default()
}

/// The states of a resolved tool part, with the fields each keeps besides
/// `approval`.
fn resolved(state: &str) -> Option<&'static [&'static str]> {
    match state {
        "output-available" => Some(&["output"]),
        "output-error" => Some(&["errorText"]),
        "approval-responded" | "output-denied" => Some(&[]),
        _ => None,
    }
}

/// `to` with those of `keys` that `from` has as its own.
fn copy_own(from: &JsValue, to: &JsValue, keys: &[&str]) {
    for k in keys {
        if sys::has_own(from, k).unwrap_or(false) {
            set(to, k, &prop(from, k));
        }
    }
}

/// The newest message as a `submit-message` carries it: an assistant
/// message with resolved tool parts (a human answered a tool, approved or
/// denied one) is cut down to those parts, each with only its resolution;
/// the agent has everything else. Other messages pass as they are.
fn slim(m: &JsValue) -> JsValue {
    if !is_plain_object(m) || prop(m, "role").as_string().as_deref() != Some("assistant") {
        return m.clone();
    }
    let parts = js_sys::Array::new();
    let given = prop(m, "parts");
    if sys::is_array(&given) {
        for p in given.unchecked_ref::<js_sys::Array>().iter() {
            if !is_plain_object(&p) {
                continue;
            }
            let ty = prop(&p, "type");
            let state = prop(&p, "state").as_string().unwrap_or_default();
            let Some(keep) = resolved(&state) else {
                continue;
            };
            let t = ty.as_string().unwrap_or_default();
            if !(t == "dynamic-tool" || (ty.is_string() && t.starts_with("tool-"))) {
                continue;
            }
            let s = object();
            set(&s, "type", &ty);
            copy_own(&p, &s, &["toolCallId"]);
            set(&s, "state", &state.as_str().into());
            if t == "dynamic-tool" && prop(&p, "toolName").is_string() {
                set(&s, "toolName", &prop(&p, "toolName"));
            }
            copy_own(&p, &s, keep);
            copy_own(&p, &s, &["approval"]);
            parts.push(&s);
        }
    }
    if parts.length() == 0 {
        return m.clone();
    }
    let out = object();
    copy_own(m, &out, &["id"]);
    set(&out, "role", &"assistant".into());
    set(&out, "parts", &parts);
    out
}

/// The promise of `f`: one instantiation of `future_to_promise` for every
/// caller (each costs a kilobyte of code).
fn promise(f: impl core::future::Future<Output = Result<JsValue, JsValue>> + 'static) -> Promise {
    let f: core::pin::Pin<Box<dyn core::future::Future<Output = Result<JsValue, JsValue>>>> =
        Box::pin(f);
    wasm_bindgen_futures::future_to_promise(f)
}

/// A rejected promise.
fn rejected(e: JsValue) -> Promise {
    Promise::reject(&e)
}

#[wasm_bindgen(js_class = Transport)]
impl Transport {
    #[wasm_bindgen(constructor)]
    pub fn new(options: &JsValue) -> Result<Transport, JsValue> {
        let o = options::read(options)?;
        let seed = sys::now();
        let noise = sys::random() * 9e15;
        let web = Web(Rc::new(o.state));
        let runner = Runner::new(
            web.clone(),
            o.cfg,
            o.sessions,
            (seed as u64) ^ (noise as u64),
        );
        runner.set_offline_wait(o.offline_wait_ms);
        Ok(Transport {
            wake: RefCell::new(watch_wake(&runner)),
            runner,
            web,
            multi_tab: o.multi_tab,
            head_start: o.head_start,
        })
    }

    /// Whether tabs are coordinated (`multiTab`, and not `watch`).
    #[wasm_bindgen(getter, js_name = multiTab)]
    pub fn multi_tab(&self) -> bool {
        self.multi_tab
    }

    /// Runs send `op` until it resolves, with the app's `signal` forwarded
    /// to the operation that carries the call; a reply's stream becomes a
    /// source. A head start's source comes at once (the route's answer
    /// decides whether the send succeeded, so its stream is read up to its
    /// first chunks first).
    fn send_and_stream(
        &self,
        op: OpId,
        signal: Option<JsValue>,
        on_settled: Option<JsValue>,
        head_start: bool,
    ) -> Promise {
        let target = Target::new(op);
        let hook = hook_abort(self, signal, &target);
        let (runner, web) = (self.runner.clone(), self.web.clone());
        promise(async move {
            let step = runner.send(op, &target).await.map_err(error_of)?;
            let source = |op, first| {
                let s = SourceState {
                    runner: runner.clone(),
                    web: web.clone(),
                    op,
                    first: RefCell::new(first),
                    hooks: RefCell::new(Some(hook)),
                };
                JsValue::from(ChunkSource(Rc::new(s)))
            };
            Ok(match step {
                Step::Chunks(c) if head_start => source(op, Some(Some(c))),
                Step::Done(_) if head_start => source(op, Some(None)),
                Step::Done(Done::Stream(s)) => {
                    if let Some(f) = on_settled {
                        web.0.settled_by.borrow_mut().push((s, f));
                    }
                    source(s, None)
                }
                Step::Done(d) => done_value(d),
                Step::Chunks(_) => JsValue::NULL,
            })
        })
    }

    fn engine<R>(&self, f: impl FnOnce(&mut Engine) -> R) -> R {
        self.runner.with(f)
    }

    /// `{...clientData, ...metadata}`, or `undefined` when neither is given.
    fn merged(&self, metadata: &JsValue) -> Result<JsValue, JsValue> {
        let cd = self.web.0.callbacks.borrow().client_data.clone();
        let given = [
            json_copy(&cd, "clientData")?,
            json_copy(metadata, "metadata")?,
        ];
        let mut out = JsValue::UNDEFINED;
        for v in given.iter().filter(|v| !absent(v)) {
            if out.is_undefined() {
                out = object();
            }
            if is_plain_object(v) {
                sys::assign(&out, v);
            }
        }
        Ok(out)
    }

    fn send_op(
        &self,
        chat_id: &str,
        payload: String,
        source: From,
        id: Option<String>,
        stop_on_abort: bool,
    ) -> OpId {
        self.engine(|e| e.send(chat_id, payload, source, id, stop_on_abort))
    }

    /// An action on `.in` (with the call's `metadata` over `clientData`),
    /// then its reply on `.out`.
    fn action(
        &self,
        chat_id: &str,
        action: &JsValue,
        metadata: &JsValue,
        signal: Option<JsValue>,
        on_settled: Option<JsValue>,
    ) -> Result<Promise, JsValue> {
        let payload = object();
        set(&payload, "chatId", &chat_id.into());
        set(&payload, "trigger", &"action".into());
        let a = json_copy(action, "action")?;
        set(
            &payload,
            "action",
            &if absent(&a) { JsValue::NULL } else { a },
        );
        let md = self.merged(metadata)?;
        if !md.is_undefined() {
            set(&payload, "metadata", &md);
        }
        let stop = signal.is_some();
        let op = self.send_op(chat_id, message_chunk(&payload), From::Action, None, stop);
        Ok(self.send_and_stream(op, signal, on_settled, false))
    }

    pub fn start(&self, chat_id: JsValue) -> Promise {
        match chat_id_arg(&chat_id, "start") {
            Ok(id) => {
                let op = self.engine(|e| e.start(&id));
                self.send_and_stream(op, None, None, false)
            }
            Err(e) => rejected(e),
        }
    }

    /// `useChat`'s send: append the newest message, then stream the reply.
    #[wasm_bindgen(js_name = sendMessages)]
    pub fn send_messages(&self, options: JsValue) -> Promise {
        self.try_send_messages(&options).unwrap_or_else(rejected)
    }

    fn try_send_messages(&self, options: &JsValue) -> Result<Promise, JsValue> {
        const M: &str = "sendMessages";
        if !is_object(options) {
            return Err(must_be(&arg_name(M, "options"), "an object"));
        }
        let chat_id = chat_id_arg(&prop(options, "chatId"), M)?;
        // Before anything else: no head-start route call either.
        let had_session = self.runner.read(|e| e.session(&chat_id).is_some());
        if let Some(reason) = self
            .runner
            .read(|e| e.closed(&chat_id).map(|r| r.map(String::from)))
        {
            return Err(js::error(&Error::SessionClosed { chat_id, reason }));
        }
        let signal = signal_arg(&prop(options, "abortSignal"), M)?;
        // An action sent through `useChat` (`useChatActions` puts it in
        // `body.action`): `useChat` then owns the reply's stream.
        let action = prop(&prop(options, "body"), "action");
        if !action.is_undefined() {
            return self.action(&chat_id, &action, &prop(options, "metadata"), signal, None);
        }
        let trigger = prop(options, "trigger").as_string().unwrap_or_default();
        let regenerate = match trigger.as_str() {
            "submit-message" => false,
            "regenerate-message" => true,
            _ => {
                return Err(must_be(
                    &arg_name(M, "`trigger`"),
                    "\"submit-message\" or \"regenerate-message\"",
                ))
            }
        };
        let messages = prop(options, "messages");
        if !sys::is_array(&messages) {
            return Err(must_be(&arg_name(M, "`messages`"), "an array"));
        }
        let message_id = prop(options, "messageId").as_string();
        let newest = js::last_of(&messages);
        // The id its events go under (4.8.3's): its `messageId`, else its
        // newest message's.
        let attributed = message_id
            .clone()
            .or_else(|| prop(&newest, "id").as_string());
        let metadata = self.merged(&prop(options, "metadata"))?;
        let body = json_copy(&prop(options, "body"), "body")?;
        let payload = object();
        if is_plain_object(&body) {
            sys::assign(&payload, &body);
        }
        let put_id_and_metadata = |payload: &JsValue| {
            if let Some(id) = &message_id {
                set(payload, "messageId", &id.as_str().into());
            }
            if !metadata.is_undefined() {
                set(payload, "metadata", &metadata);
            }
        };
        if let (Some(url), false) = (&self.head_start, had_session) {
            set(
                &payload,
                "headStartMessages",
                &json_copy(&messages, "messages")?,
            );
            set(&payload, "chatId", &chat_id.as_str().into());
            set(&payload, "trigger", &trigger.as_str().into());
            put_id_and_metadata(&payload);
            let text = stringify(&payload).ok().flatten().unwrap_or_default();
            let url = url.clone();
            let op = self.engine(|e| e.head_start(&chat_id, url, text, attributed));
            return Ok(self.send_and_stream(op, signal, None, true));
        }
        if !regenerate && prop(&messages, "length").as_f64() == Some(0.0) {
            return Err(misuse(&arg_name(
                M,
                "'submit-message' trigger requires at least one message",
            )));
        }
        let last = json_copy(&newest, "message")?;
        if !regenerate && !last.is_undefined() {
            set(&payload, "message", &slim(&last));
        }
        set(&payload, "chatId", &chat_id.as_str().into());
        set(&payload, "trigger", &trigger.as_str().into());
        // Both always assigned (an absent one over the body's own is left
        // out of the JSON).
        let id = message_id
            .as_deref()
            .map_or(JsValue::UNDEFINED, JsValue::from_str);
        set(&payload, "messageId", &id);
        set(&payload, "metadata", &metadata);
        let source = if regenerate {
            From::Regenerate
        } else {
            From::Submit
        };
        let op = self.send_op(&chat_id, message_chunk(&payload), source, attributed, true);
        Ok(self.send_and_stream(op, signal, None, false))
    }

    /// Resumes the chat's reply after a reload; `null` when there is
    /// nothing to resume.
    #[wasm_bindgen(js_name = reconnectToStream)]
    pub fn reconnect_to_stream(&self, options: JsValue) -> Promise {
        self.try_reconnect(&options).unwrap_or_else(rejected)
    }

    fn try_reconnect(&self, options: &JsValue) -> Result<Promise, JsValue> {
        const M: &str = "reconnectToStream";
        let chat_id = chat_id_arg(&prop(options, "chatId"), M)?;
        let signal = signal_arg(&prop(options, "abortSignal"), M)?;
        let stop_on_abort = prop(options, "stopOnAbort") == JsValue::TRUE;
        let Some(op) = self.engine(|e| e.reconnect(&chat_id, stop_on_abort)) else {
            return Ok(js_sys::Promise::resolve(&JsValue::NULL));
        };
        let target = Target::new(op);
        let hook = hook_abort(self, signal, &target);
        let s = SourceState {
            runner: self.runner.clone(),
            web: self.web.clone(),
            op,
            first: RefCell::new(None),
            hooks: RefCell::new(Some(hook)),
        };
        Ok(js_sys::Promise::resolve(&JsValue::from(ChunkSource(
            Rc::new(s),
        ))))
    }

    /// A steering message while a reply streams; the stream goes on.
    #[wasm_bindgen(js_name = sendPendingMessage)]
    pub fn send_pending_message(
        &self,
        chat_id: JsValue,
        message: JsValue,
        metadata: JsValue,
    ) -> Promise {
        const M: &str = "sendPendingMessage";
        let go = || -> Result<Promise, JsValue> {
            let id = chat_id_arg(&chat_id, M)?;
            let msg = json_copy(&message, "message")?;
            if msg.is_undefined() {
                return Err(misuse(&arg_name(M, "`message` is required")));
            }
            let payload = object();
            set(&payload, "message", &msg);
            set(&payload, "chatId", &id.as_str().into());
            set(&payload, "trigger", &"submit-message".into());
            let md = self.merged(&metadata)?;
            if !md.is_undefined() {
                set(&payload, "metadata", &md);
            }
            let op = self.send_op(&id, message_chunk(&payload), From::Steer, None, false);
            Ok(self.send_and_stream(op, None, None, false))
        };
        go().unwrap_or_else(rejected)
    }

    /// Stops the agent's turn and ends the chat's stream.
    #[wasm_bindgen(js_name = stopGeneration)]
    pub fn stop_generation(&self, chat_id: JsValue) -> Promise {
        match chat_id_arg(&chat_id, "stopGeneration") {
            Ok(id) => {
                let op = self.engine(|e| e.stop(&id));
                self.send_and_stream(op, None, None, false)
            }
            Err(e) => rejected(e),
        }
    }

    /// A custom action for the agent's `onAction`; streams its reply.
    #[wasm_bindgen(js_name = sendAction)]
    pub fn send_action(&self, chat_id: JsValue, action: JsValue, options: JsValue) -> Promise {
        const M: &str = "sendAction";
        let go = || -> Result<Promise, JsValue> {
            let id = chat_id_arg(&chat_id, M)?;
            let signal = signal_arg(&prop(&options, "abortSignal"), M)?;
            let on_settled = prop(&options, "onSettled");
            if !absent(&on_settled) && !on_settled.is_function() {
                return Err(must_be(&arg_name(M, "`onSettled`"), "a function"));
            }
            let on_settled = (!absent(&on_settled)).then_some(on_settled);
            self.action(
                &id,
                &action,
                &prop(&options, "metadata"),
                signal,
                on_settled,
            )
        };
        go().unwrap_or_else(rejected)
    }

    // Strings go back as JavaScript values: the bindings then pass the
    // result through instead of copying it out of the module's memory.
    #[wasm_bindgen(js_name = sessionStatus)]
    pub fn session_status(&self, chat_id: JsValue) -> JsValue {
        let closed = chat_id
            .as_string()
            .is_some_and(|c| self.runner.read(|e| e.closed(&c).is_some()));
        JsValue::from_str(if closed { "closed" } else { "open" })
    }

    #[wasm_bindgen(js_name = sessionClosedReason)]
    pub fn session_closed_reason(&self, chat_id: JsValue) -> JsValue {
        let reason = chat_id.as_string().and_then(|c| {
            self.runner
                .read(|e| e.closed(&c).flatten().map(JsValue::from_str))
        });
        reason.unwrap_or(JsValue::UNDEFINED)
    }

    #[wasm_bindgen(js_name = getSession)]
    pub fn get_session(&self, chat_id: JsValue) -> JsValue {
        let Some(c) = chat_id.as_string() else {
            return JsValue::UNDEFINED;
        };
        self.runner
            .read(|e| e.session(&c).map(session_object))
            .unwrap_or(JsValue::UNDEFINED)
    }

    #[wasm_bindgen(js_name = setSession)]
    pub fn set_session(&self, chat_id: JsValue, session: JsValue) -> Result<(), JsValue> {
        let id = chat_id_arg(&chat_id, "setSession")?;
        let s = session_from(&session, &arg_name("setSession", "`session`"))?;
        self.engine(|e| e.set_session(&id, s));
        Ok(())
    }

    #[wasm_bindgen(js_name = setClientData)]
    pub fn set_client_data(&self, value: JsValue) {
        self.web.0.callbacks.borrow_mut().client_data = value;
    }

    /// Keeps a cursor learned from another tab, unless ours is ahead.
    #[wasm_bindgen(js_name = adoptLastEventId)]
    pub fn adopt_last_event_id(&self, chat_id: JsValue, last_event_id: JsValue) {
        if let (Some(c), Some(l)) = (chat_id.as_string(), last_event_id.as_string()) {
            self.engine(|e| e.adopt_cursor(&c, &l));
        }
    }

    /// Seeds the chat's resume cursor from the app's stored transcript.
    #[wasm_bindgen(js_name = seedResumeCursor)]
    pub fn seed_resume_cursor(
        &self,
        chat_id: JsValue,
        last_event_id: JsValue,
    ) -> Result<(), JsValue> {
        const M: &str = "seedResumeCursor";
        let id = chat_id_arg(&chat_id, M)?;
        let Some(cursor) = last_event_id.as_string() else {
            return Err(must_be(&arg_name(M, "`lastEventId`"), "a string"));
        };
        self.engine(|e| e.seed_cursor(&id, &cursor));
        Ok(())
    }

    /// Forgets the gate of a stopped turn that died without its
    /// `turn-complete`.
    #[wasm_bindgen(js_name = clearSupersedeGate)]
    pub fn clear_supersede_gate(&self, chat_id: JsValue) {
        if let Some(c) = chat_id.as_string() {
            self.engine(|e| e.clear_gate(&c));
        }
    }

    /// Replaces one of the app's callbacks (`AccessToken`, `StartSession`,
    /// `Fetch`, `OnEvent` or `OnSessionChange`; absent: none); the next use
    /// reads the new one.
    #[wasm_bindgen(js_name = setCallback)]
    pub fn set_callback(&self, which: JsValue, callback: JsValue) -> Result<(), JsValue> {
        let which = which.as_string().unwrap_or_default();
        let bad = || {
            must_be(
                &arg_name(&cat!("set", &which), "the callback"),
                "a function",
            )
        };
        if !absent(&callback) && function(&callback).is_none() {
            return Err(bad());
        }
        let f = (!absent(&callback)).then_some(callback);
        let (has_start, wants_events) = {
            let mut c = self.web.0.callbacks.borrow_mut();
            match which.as_str() {
                // Absent keeps the current one (it is required).
                "AccessToken" => {
                    if let Some(f) = f {
                        c.access_token = f;
                    }
                }
                "StartSession" => c.start_session = f,
                "Fetch" => c.fetch = f,
                "OnEvent" => c.on_event = f,
                "OnSessionChange" => c.on_change = f,
                _ => return Err(bad()),
            }
            (c.start_session.is_some(), c.on_event.is_some())
        };
        self.engine(|e| {
            let cfg = e.config_mut();
            cfg.has_start_session = has_start;
            cfg.wants_events = wants_events;
        });
        Ok(())
    }

    /// Ends every open operation: no timer or connection is left.
    pub fn dispose(&self) {
        drop(self.wake.borrow_mut().take());
        self.web.0.settled_by.borrow_mut().clear();
        self.runner.dispose();
    }
}
