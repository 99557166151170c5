//! The effect runner: performs what the core's [`Engine`] asks (call a
//! callback, fetch, read a body, sleep) and hands the outcome back. It
//! decides nothing about retries, reconnects, cursors or what a stream
//! delivers; it only does I/O, races each effect against the engine's
//! interrupts, and turns notices into the app's callbacks.

use super::body::{Body, Read};
use super::errors::{describe, is_abort, to_js_error, Fail};
use super::fetch::{self, endpoint_ctx, Request};
use super::options::{get, BaseUrl, Options};
use super::sys;
use crate::engine::{Done, Effect, Engine, EngineConfig, Event, Field, Notice, OpId, Outcome};
use crate::error::Error;
use crate::prelude::*;
use crate::session::SessionState;
use crate::wire::{self, Endpoint};
use alloc::rc::Rc;
use core::cell::RefCell;
use js_sys::{Function, Object, Reflect};
use wasm_bindgen::JsValue;
use wasm_bindgen_futures::JsFuture;

/// What the runner keeps per operation while it runs.
#[derive(Default)]
struct OpIo {
    /// Aborted to cut the current effect short.
    ctl: Option<web_sys::AbortController>,
    /// The signal of the open connection's request: aborted when the
    /// connection is given up, so nothing keeps reading.
    conn: Option<web_sys::AbortController>,
    /// An interrupt came while no effect was out: cut the next one at once.
    interrupted: bool,
    /// The open response body of a stream.
    body: Option<Body>,
    /// What the app's code threw, handed back as it was.
    thrown: Option<JsValue>,
    /// Resolves a parked operation's wait.
    wake: Option<Function>,
    scratch: Vec<u8>,
}

/// What an operation yields to its caller.
pub enum Yield {
    Chunks(JsValue),
    Done(Done),
}

/// The engine and the app's callbacks of one transport.
pub struct Runtime {
    pub opts: Options,
    engine: RefCell<Engine>,
    io: RefCell<Vec<(OpId, OpIo)>>,
    client_data: RefCell<JsValue>,
    on_change: RefCell<Option<Function>>,
    /// `sendAction(…, { onSettled })` callbacks, by the reply's stream op.
    on_settled: RefCell<Vec<(OpId, Function)>>,
}

fn set(obj: &Object, k: &str, v: &JsValue) {
    let _ = Reflect::set(obj, &k.into(), v);
}

fn now() -> u64 {
    sys::now_ms() as u64
}

/// `{publicAccessToken, lastEventId, isStreaming}` for the app, with
/// `activeInputSeq` while a send's reply is in flight, the gate of a
/// stopped turn (`skipToTurnComplete`, `supersededInputSeq`) and `closed` /
/// `closedReason` once the session is closed.
pub fn persisted_js(s: &SessionState) -> JsValue {
    let o = Object::new();
    set(
        &o,
        "publicAccessToken",
        &s.public_access_token.as_str().into(),
    );
    set(
        &o,
        "lastEventId",
        &s.last_event_id
            .as_deref()
            .map_or(JsValue::UNDEFINED, JsValue::from),
    );
    set(
        &o,
        "isStreaming",
        &s.is_streaming.map_or(JsValue::UNDEFINED, JsValue::from),
    );
    if let Some(seq) = s.active_input_seq {
        set(&o, "activeInputSeq", &(seq as f64).into());
    }
    if s.skip_to_turn_complete {
        set(&o, "skipToTurnComplete", &JsValue::TRUE);
    }
    if let Some(seq) = s.superseded_input_seq {
        set(&o, "supersededInputSeq", &(seq as f64).into());
    }
    if s.closed {
        set(&o, "closed", &JsValue::TRUE);
        if let Some(r) = &s.closed_reason {
            set(&o, "closedReason", &r.as_str().into());
        }
    }
    o.into()
}

/// `JSON.stringify(v)`: the JSON text the wire carries; `None` for
/// `undefined`. A value that cannot be stringified (a cycle, a BigInt) is
/// the caller's error, named by `what`.
pub fn to_json(v: &JsValue, what: &str) -> Result<Option<String>, Fail> {
    if v.is_undefined() {
        return Ok(None);
    }
    match js_sys::JSON::stringify(v) {
        Ok(text) => Ok(text.as_string()),
        Err(e) => Err(Error::Misuse(cat!(what, " cannot be sent as JSON: ", describe(&e))).into()),
    }
}

/// What an effect came to, owned until it is handed to the engine.
enum Got {
    Token(Option<String>),
    Started(Option<String>, bool),
    Response {
        status: u16,
        body: String,
        reset: Option<String>,
        retry_after: Option<String>,
    },
    Connected(u16, bool),
    HeadStarted {
        status: u16,
        token: Option<String>,
        pending: bool,
        error_body: String,
    },
    Bytes,
    Eof,
    Stall,
    Failed(Error),
    Interrupted,
    Slept,
    Woken,
}

impl Runtime {
    pub fn new(mut opts: Options) -> Rc<Runtime> {
        let cfg = EngineConfig {
            watch: opts.watch,
            timeout_seconds: opts.stream_timeout_seconds,
            headers: opts.headers.clone(),
            has_start_session: opts.start_session.borrow().is_some(),
            wants_events: opts.on_event.borrow().is_some(),
        };
        let sessions = core::mem::take(&mut opts.sessions);
        let seed = now() ^ (js_sys::Math::random() * 9.0e15) as u64;
        let mut engine = Engine::new(cfg, sessions, seed);
        engine.set_now(now());
        Rc::new(Runtime {
            client_data: RefCell::new(opts.client_data.clone()),
            on_change: RefCell::new(opts.on_session_change.clone()),
            engine: RefCell::new(engine),
            io: RefCell::new(Vec::new()),
            on_settled: RefCell::new(Vec::new()),
            opts,
        })
    }

    /// Runs `f` on the engine (at the current time), then carries out the
    /// notices it left.
    pub fn with<R>(self: &Rc<Self>, f: impl FnOnce(&mut Engine) -> R) -> R {
        let r = {
            let mut e = self.engine.borrow_mut();
            e.set_now(now());
            f(&mut e)
        };
        self.flush();
        r
    }

    /// Reads the engine without changing it.
    pub fn read<R>(&self, f: impl FnOnce(&Engine) -> R) -> R {
        f(&self.engine.borrow())
    }

    pub fn client_data(&self) -> JsValue {
        self.client_data.borrow().clone()
    }

    pub fn set_client_data(&self, v: JsValue) {
        *self.client_data.borrow_mut() = v;
    }

    pub fn set_on_change(&self, cb: Option<Function>) {
        *self.on_change.borrow_mut() = cb;
    }

    /// Callbacks changed: the engine learns which ones exist.
    pub fn callbacks_changed(&self) {
        let has_start = self.opts.start_session.borrow().is_some();
        let wants = self.opts.on_event.borrow().is_some();
        let mut e = self.engine.borrow_mut();
        e.config_mut().has_start_session = has_start;
        e.config_mut().wants_events = wants;
    }

    /// The app's `clientData` merged under a call's `metadata`.
    pub fn merged_metadata(&self, metadata: &JsValue) -> Result<Option<String>, Fail> {
        let cd = to_json(&self.client_data(), "clientData")?;
        let md = to_json(metadata, "metadata")?;
        Ok(wire::merge_metadata(cd.as_deref(), md.as_deref()))
    }

    fn io_mut<R>(&self, op: OpId, f: impl FnOnce(&mut OpIo) -> R) -> R {
        let mut all = self.io.borrow_mut();
        let i = match all.iter().position(|(id, _)| *id == op) {
            Some(i) => i,
            None => {
                all.push((op, OpIo::default()));
                all.len() - 1
            }
        };
        f(&mut all[i].1)
    }

    fn forget(&self, op: OpId) -> Option<OpIo> {
        let mut all = self.io.borrow_mut();
        let i = all.iter().position(|(id, _)| *id == op)?;
        Some(all.swap_remove(i).1)
    }

    /// Carries out the engine's notices, one at a time, with no borrow held
    /// while the app's callbacks run (they may call back into us).
    fn flush(self: &Rc<Self>) {
        loop {
            let n = self.engine.borrow_mut().poll_notice();
            let Some(n) = n else { return };
            match n {
                Notice::SessionChanged(chat) => self.notify(&chat),
                Notice::Event(ev) => self.emit(ev),
                Notice::Interrupt(op) => {
                    let (ctl, conn) = self.io_mut(op, |io| {
                        let ctl = io.ctl.take();
                        if ctl.is_none() {
                            io.interrupted = true;
                        }
                        io.body = None;
                        (ctl, io.conn.take())
                    });
                    for c in [ctl, conn].into_iter().flatten() {
                        c.abort();
                    }
                }
                Notice::Wake(op) => {
                    let wake = {
                        let mut all = self.io.borrow_mut();
                        all.iter_mut()
                            .find(|(id, _)| *id == op)
                            .and_then(|(_, io)| io.wake.take())
                    };
                    if let Some(f) = wake {
                        let _ = f.call0(&JsValue::UNDEFINED);
                    }
                }
                Notice::Spawn(op) => {
                    let rt = self.clone();
                    wasm_bindgen_futures::spawn_local(async move {
                        let _ = drive(&rt, op).await;
                    });
                }
            }
        }
    }

    /// Tells the app (`onSessionChange`) what the chat's session is now. A
    /// throwing callback does not break the transport.
    fn notify(&self, chat_id: &str) {
        let Some(cb) = self.on_change.borrow().clone() else {
            return;
        };
        let state = self.read(|e| e.session(chat_id).map_or(JsValue::NULL, persisted_js));
        let _ = cb.call2(&JsValue::UNDEFINED, &chat_id.into(), &state);
    }

    /// The app ended operation `op` (or every one, with `None`): its
    /// settlement is not reported any more, even one already on its way.
    pub fn forget_settled(&self, op: Option<OpId>) {
        self.on_settled
            .borrow_mut()
            .retain(|(o, _)| op.is_some_and(|op| op != *o));
    }

    /// Calls `onSettled` when the action answered by stream `op` settles.
    pub fn on_settled(&self, op: OpId, f: Function) {
        self.on_settled.borrow_mut().push((op, f));
    }

    /// `{inputSeq, sessionInEventId, lastEventId}` to the action's
    /// `onSettled`; what it throws is swallowed.
    fn settled(&self, ev: &Event) {
        let Some(Field::Num(op)) = ev.get("op") else {
            return;
        };

        let f = {
            let mut all = self.on_settled.borrow_mut();
            let i = all.iter().position(|(o, _)| u64::from(*o) == *op);
            i.map(|i| all.swap_remove(i).1)
        };
        let Some(f) = f else { return };
        let o = Object::new();
        for key in ["inputSeq", "sessionInEventId", "lastEventId"] {
            let v = match ev.get(key) {
                Some(Field::Num(n)) => JsValue::from(*n as f64),
                Some(Field::Str(s)) => JsValue::from(s.as_str()),
                _ => JsValue::UNDEFINED,
            };
            set(&o, key, &v);
        }
        let _ = f.call1(&JsValue::UNDEFINED, &o);
    }

    /// Hands an event to `onEvent`; what the callback throws is swallowed.
    fn emit(&self, ev: Event) {
        if ev.kind == "action-settled" {
            self.settled(&ev);
            return;
        }
        let Some(cb) = self.opts.on_event.borrow().clone() else {
            return;
        };
        let o = Object::new();
        set(&o, "type", &ev.kind.into());
        set(&o, "chatId", &ev.chat_id.as_str().into());
        set(&o, "timestamp", &sys::now_ms().into());
        for (k, v) in ev.fields {
            let v = match v {
                Field::Str(s) => JsValue::from(s),
                Field::Num(n) => JsValue::from(n as f64),
                Field::Bool(b) => JsValue::from(b),
                Field::Error { error, op } => self.js_error(op, &error),
            };
            set(&o, k, &v);
        }
        let _ = cb.call1(&JsValue::UNDEFINED, &o);
    }

    /// The JS form of an operation's error: what the app's code threw, when
    /// that is what it was, else the core error as an `Error`.
    fn js_error(&self, op: OpId, e: &Error) -> JsValue {
        if matches!(e, Error::Callback(_)) {
            let thrown = self.io_mut(op, |io| io.thrown.clone());
            if let Some(v) = thrown {
                return v;
            }
        }
        to_js_error(e)
    }

    fn base_url(&self, endpoint: Endpoint, chat_id: &str) -> Result<String, Fail> {
        if endpoint == Endpoint::Out {
            if let Some(s) = &self.opts.stream_base_url {
                return Ok(s.clone());
            }
        }
        match &self.opts.base_url {
            BaseUrl::Fixed(s) => Ok(s.clone()),
            BaseUrl::Resolver(f) => {
                let v = f
                    .call1(&JsValue::UNDEFINED, &endpoint_ctx(endpoint, chat_id))
                    .map_err(Fail::Js)?;
                v.as_string().ok_or_else(|| {
                    Error::Misuse(
                        "TriggerChatTransport: the `baseURL` function must return a string".into(),
                    )
                    .into()
                })
            }
        }
    }

    /// Keeps what the app threw; the engine sees a callback error.
    fn thrown(&self, op: OpId, v: JsValue) -> Got {
        let e = Error::Callback(describe(&v));
        self.io_mut(op, |io| io.thrown = Some(v));
        Got::Failed(e)
    }

    fn fail(&self, op: OpId, f: Fail) -> Got {
        match f {
            Fail::Core(e) => Got::Failed(e),
            Fail::Js(v) => self.thrown(op, v),
        }
    }

    /// Calls one of the app's callbacks with one argument, raced against
    /// the effect's signal.
    async fn call(
        &self,
        op: OpId,
        f: &Function,
        arg: &JsValue,
        signal: &web_sys::AbortSignal,
    ) -> Result<JsValue, Got> {
        let p = sys::call_promise(f, &js_sys::Array::of1(arg));
        let settled = JsFuture::from(sys::settle(&p, signal))
            .await
            .unwrap_or(JsValue::UNDEFINED);
        if get(&settled, "a").is_truthy() {
            return Err(Got::Interrupted);
        }
        if get(&settled, "f").is_truthy() {
            return Err(self.thrown(op, get(&settled, "e")));
        }
        Ok(get(&settled, "v"))
    }

    /// A request to the chat's `.in` or `.out` through the app's `fetch`
    /// (or the global one), with `{endpoint, chatId}` for it; what went wrong
    /// as the outcome to report.
    async fn session_fetch(
        &self,
        op: OpId,
        endpoint: Endpoint,
        chat_id: &str,
        headers: &wire::Headers,
        body: Option<&str>,
        signal: &web_sys::AbortSignal,
    ) -> Result<JsValue, Got> {
        let base = self
            .base_url(endpoint, chat_id)
            .map_err(|f| self.fail(op, f))?;
        let url = wire::session_url(&base, chat_id, endpoint);
        let req = Request {
            url: &url,
            method: body.map(|_| "POST"),
            headers,
            body,
            signal: Some(signal),
        };
        let ctx = endpoint_ctx(endpoint, chat_id);
        let f = self.opts.fetch.borrow().clone();
        match fetch::send(f.as_ref(), Some(&ctx), &req).await {
            Ok(r) => Ok(r),
            Err(Fail::Core(Error::Aborted)) if signal.aborted() => Err(Got::Interrupted),
            Err(Fail::Core(Error::Aborted)) => Err(Got::Failed(Error::Network(
                "the request was aborted".into(),
            ))),
            Err(f) => Err(self.fail(op, f)),
        }
    }

    async fn perform(&self, op: OpId, effect: Effect, signal: &web_sys::AbortSignal) -> Got {
        match effect {
            Effect::CallAccessToken { chat_id } => {
                let arg = Object::new();
                set(&arg, "chatId", &chat_id.as_str().into());
                let f = self.opts.access_token.borrow().clone();
                match self.call(op, &f, &arg, signal).await {
                    Ok(v) => Got::Token(v.as_string()),
                    Err(g) => g,
                }
            }
            Effect::CallStartSession { chat_id } => {
                let Some(f) = self.opts.start_session.borrow().clone() else {
                    return Got::Failed(Error::Misuse(
                        "TriggerChatTransport: `startSession` is required to start a session"
                            .into(),
                    ));
                };
                let arg = Object::new();
                set(&arg, "taskId", &self.opts.task.as_str().into());
                set(&arg, "chatId", &chat_id.as_str().into());
                let cd = self.client_data();
                let cd = if cd.is_undefined() || cd.is_null() {
                    Object::new().into()
                } else {
                    cd
                };
                set(&arg, "clientData", &cd);
                match self.call(op, &f, &arg, signal).await {
                    Ok(v) => Got::Started(
                        get(&v, "publicAccessToken").as_string(),
                        get(&v, "pendingVersion").as_bool() == Some(true),
                    ),
                    Err(g) => g,
                }
            }
            Effect::Append {
                chat_id,
                headers,
                body,
            } => {
                let resp = match self
                    .session_fetch(op, Endpoint::In, &chat_id, &headers, Some(&body), signal)
                    .await
                {
                    Ok(r) => r,
                    Err(g) => return g,
                };
                let status = fetch::status(&resp);
                let reset = sys::header_of(&resp, "x-ratelimit-reset");
                let retry_after = sys::header_of(&resp, "retry-after");
                let body = fetch::text(&resp).await;
                if signal.aborted() {
                    return Got::Interrupted;
                }
                Got::Response {
                    status,
                    body,
                    reset,
                    retry_after,
                }
            }
            Effect::Connect {
                chat_id, headers, ..
            } => {
                match self
                    .session_fetch(op, Endpoint::Out, &chat_id, &headers, None, signal)
                    .await
                {
                    Ok(resp) => {
                        let status = fetch::status(&resp);
                        let settled =
                            sys::header_of(&resp, "X-Session-Settled").as_deref() == Some("true");
                        if (200..300).contains(&status) {
                            match Body::of(&resp) {
                                Some(b) => self.io_mut(op, |io| io.body = Some(b)),
                                None => {
                                    return Got::Failed(Error::Network(
                                        "the stream response has no body".into(),
                                    ))
                                }
                            }
                        }
                        Got::Connected(status, settled)
                    }
                    Err(g) => g,
                }
            }
            Effect::HeadStart {
                url, headers, body, ..
            } => {
                let req = Request {
                    url: &url,
                    method: Some("POST"),
                    headers: &headers,
                    body: Some(&body),
                    signal: Some(signal),
                };
                match fetch::send(None, None, &req).await {
                    Ok(resp) => {
                        let status = fetch::status(&resp);
                        let ok = (200..300).contains(&status);
                        let error_body = if ok {
                            match Body::of(&resp) {
                                Some(b) => self.io_mut(op, |io| io.body = Some(b)),
                                None => {
                                    return Got::Failed(Error::Protocol(
                                        "the headStart route answered with no body".into(),
                                    ))
                                }
                            }
                            String::new()
                        } else {
                            fetch::text(&resp).await
                        };
                        Got::HeadStarted {
                            status,
                            token: sys::header_of(&resp, "X-Trigger-Chat-Access-Token"),
                            pending: sys::header_of(&resp, "X-Trigger-Chat-Pending-Version")
                                .as_deref()
                                == Some("1"),
                            error_body,
                        }
                    }
                    Err(Fail::Core(Error::Aborted)) => Got::Interrupted,
                    Err(f) => self.fail(op, f),
                }
            }
            Effect::Read { stall_ms } => {
                let body = self.io_mut(op, |io| io.body.take());
                let Some(mut body) = body else {
                    return Got::Failed(Error::Network("the connection is gone".into()));
                };
                let mut buf = self.io_mut(op, |io| core::mem::take(&mut io.scratch));
                let r = body.read(&mut buf, stall_ms, signal).await;
                let got = match r {
                    Ok(Read::Bytes) => Got::Bytes,
                    Ok(Read::Eof) => Got::Eof,
                    Ok(Read::Stall) => Got::Stall,
                    Ok(Read::Aborted) => Got::Interrupted,
                    Err(_) if signal.aborted() => Got::Interrupted,
                    Err(e) if is_abort(&e) => {
                        Got::Failed(Error::Network("the connection was aborted".into()))
                    }
                    Err(e) => Got::Failed(Error::Network(describe(&e))),
                };
                let keep = matches!(got, Got::Bytes);
                self.io_mut(op, |io| {
                    io.scratch = buf;
                    if keep {
                        io.body = Some(body);
                    }
                });
                got
            }
            Effect::Sleep { ms } => {
                let _ = JsFuture::from(sys::sleep(ms as f64, signal)).await;
                if signal.aborted() {
                    Got::Interrupted
                } else {
                    Got::Slept
                }
            }
            Effect::Park => {
                let p = sys::deferred();
                let resolve: Function = get(&p, "resolve").into();
                self.io_mut(op, |io| io.wake = Some(resolve));
                let waited = js_sys::Promise::from(get(&p, "promise"));
                let _ = JsFuture::from(sys::settle(&waited, signal)).await;
                if signal.aborted() {
                    Got::Interrupted
                } else {
                    Got::Woken
                }
            }
            Effect::Chunks(_) | Effect::Done(_) => {
                Got::Failed(Error::Misuse("not an effect".into()))
            }
        }
    }

    fn hand_back(self: &Rc<Self>, op: OpId, got: Got) {
        let scratch = if matches!(got, Got::Bytes) {
            self.io_mut(op, |io| core::mem::take(&mut io.scratch))
        } else {
            Vec::new()
        };
        let outcome = match &got {
            Got::Token(t) => Outcome::Token(t.as_deref()),
            Got::Started(t, p) => Outcome::Started {
                token: t.as_deref(),
                pending_version: *p,
            },
            Got::Response {
                status,
                body,
                reset,
                retry_after,
            } => Outcome::Response {
                status: *status,
                body,
                ratelimit_reset: reset.as_deref(),
                retry_after: retry_after.as_deref(),
            },
            Got::Connected(s, settled) => Outcome::Connected {
                status: *s,
                settled: *settled,
            },
            Got::HeadStarted {
                status,
                token,
                pending,
                error_body,
            } => Outcome::HeadStarted {
                status: *status,
                token: token.as_deref(),
                pending_version: *pending,
                error_body,
            },
            Got::Bytes => Outcome::Bytes(&scratch),
            Got::Eof => Outcome::Eof,
            Got::Stall => Outcome::Stall,
            Got::Failed(e) => Outcome::Failed(e.clone()),
            Got::Interrupted => Outcome::Interrupted,
            Got::Slept => Outcome::Slept,
            Got::Woken => Outcome::Woken,
        };
        self.with(|e| e.handle(op, outcome));
        if !scratch.is_empty() {
            self.io_mut(op, |io| io.scratch = scratch);
        }
    }
}

/// Drives operation `op` until it yields chunks or ends.
pub async fn drive(rt: &Rc<Runtime>, op: OpId) -> Result<Yield, Fail> {
    loop {
        let effect = rt.with(|e| e.poll(op));
        match effect {
            Effect::Chunks(json) => {
                return js_sys::JSON::parse(&json).map(Yield::Chunks).map_err(|_| {
                    Error::Decode("the chunks of a batch do not form valid JSON".into()).into()
                });
            }
            Effect::Done(r) => {
                let io = rt.forget(op);
                rt.on_settled.borrow_mut().retain(|(o, _)| *o != op);
                if let Some(c) = io.as_ref().and_then(|io| io.conn.as_ref()) {
                    c.abort();
                }
                return match r {
                    Ok(d) => Ok(Yield::Done(d)),
                    Err(e @ Error::Callback(_)) => match io.and_then(|io| io.thrown) {
                        Some(v) => Err(Fail::Js(v)),
                        None => Err(Fail::Core(e)),
                    },
                    Err(e) => Err(Fail::Core(e)),
                };
            }
            effect => {
                let ctl = match web_sys::AbortController::new() {
                    Ok(c) => c,
                    Err(v) => return Err(Fail::Js(v)),
                };
                let cut = rt.io_mut(op, |io| {
                    io.ctl = Some(ctl.clone());
                    core::mem::take(&mut io.interrupted)
                });
                if cut {
                    ctl.abort();
                }
                let connect = matches!(effect, Effect::Connect { .. } | Effect::HeadStart { .. });
                if connect {
                    // A new connection: the old one is over.
                    if let Some(old) = rt.io_mut(op, |io| io.conn.take()) {
                        old.abort();
                    }
                }
                let got = rt.perform(op, effect, &ctl.signal()).await;
                rt.io_mut(op, |io| {
                    let c = io.ctl.take();
                    if connect {
                        io.conn = c;
                    }
                });
                rt.hand_back(op, got);
            }
        }
    }
}
