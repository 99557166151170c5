//! The browser's [`Host`]: `fetch` (the app's override or the global one,
//! looked up at each call), `AbortController`, response bodies read as they
//! arrive, `setTimeout`, the app's callbacks, and where the engine's
//! notices go (`onSessionChange`, `onEvent`, `onSettled`).

use core::cell::{Cell, RefCell};
use core::future::{poll_fn, Future};
use core::pin::Pin;
use core::task::{Context, Poll, Waker};

use alloc::collections::VecDeque;
use alloc::rc::Rc;

use js_sys::Uint8Array;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::{spawn_local, JsFuture};
use web_sys::AbortController;

use super::js::{self, absent, call, call_promise, describe, named, object, prop, set};
use super::sys;
use crate::engine::OpId;
use crate::prelude::*;
use crate::runner::{Answer, Failure, Host, Request, Started, Task, DEFAULT_BASE_URL};
use crate::session::SessionState;
use crate::wire::Endpoint;

/// What a body read hands over at most: a backlog that arrived at once is
/// decoded in slices, so neither the module's memory nor a task grows with
/// it.
const READ_MAX: usize = 64 * 1024;

/// What the app may replace after the transport is built.
pub struct Callbacks {
    pub access_token: JsValue,
    pub start_session: Option<JsValue>,
    pub fetch: Option<JsValue>,
    pub on_event: Option<JsValue>,
    pub on_change: Option<JsValue>,
    pub client_data: JsValue,
}

/// The transport's options that the host uses, and its callbacks.
pub struct State {
    pub task: String,
    /// A string or a function.
    pub base_url: JsValue,
    pub stream_base_url: Option<String>,
    pub callbacks: RefCell<Callbacks>,
    /// `sendAction`'s `onSettled`, by the operation of the action's reply.
    pub settled_by: RefCell<Vec<(OpId, JsValue)>>,
}

/// The browser host: cheap to clone.
#[derive(Clone)]
pub struct Web(pub Rc<State>);

/// A timer that resolves once (or, `online`, the next `online` event);
/// cleared when dropped.
struct Sleep {
    done: Rc<Cell<bool>>,
    waker: Rc<RefCell<Option<Waker>>>,
    id: JsValue,
    online: bool,
    fire: Closure<dyn FnMut(JsValue)>,
}

impl Sleep {
    fn new(ms: u64, online: bool) -> Sleep {
        let done = Rc::new(Cell::new(false));
        let waker: Rc<RefCell<Option<Waker>>> = Rc::new(RefCell::new(None));
        let (d, w) = (done.clone(), waker.clone());
        let fire = Closure::<dyn FnMut(JsValue)>::new(move |_| {
            d.set(true);
            if let Some(w) = w.borrow_mut().take() {
                w.wake();
            }
        });
        let id = if online {
            // Where there is no such event (a server), it never fires.
            let _ = global_target()
                .add_event_listener_with_callback("online", fire.as_ref().unchecked_ref());
            JsValue::UNDEFINED
        } else {
            sys::set_timeout(fire.as_ref(), ms as f64)
        };
        Sleep {
            done,
            waker,
            id,
            online,
            fire,
        }
    }
}

/// The global object as an event target (where it is none, a server,
/// adding a listener fails, which the callers ignore).
fn global_target() -> web_sys::EventTarget {
    js_sys::global().unchecked_into()
}

impl Future for Sleep {
    type Output = ();
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.done.get() {
            return Poll::Ready(());
        }
        *self.waker.borrow_mut() = Some(cx.waker().clone());
        Poll::Pending
    }
}

impl Drop for Sleep {
    fn drop(&mut self) {
        if self.online {
            let _ = global_target()
                .remove_event_listener_with_callback("online", self.fire.as_ref().unchecked_ref());
        } else if !self.done.get() {
            sys::clear_timeout(&self.id);
        }
    }
}

/// Aborts its controller when dropped, unless disarmed.
pub struct AbortOnDrop(Option<AbortController>);

impl AbortOnDrop {
    fn signal(&self) -> JsValue {
        self.0
            .as_ref()
            .map_or(JsValue::UNDEFINED, |c| c.signal().into())
    }
}

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        if let Some(c) = self.0.take() {
            c.abort();
        }
    }
}

/// A response whose headers are in; its connection is let go when it is
/// dropped (unless its body was kept).
pub struct Response {
    value: JsValue,
    conn: AbortOnDrop,
}

/// What the body's pump has taken from the network.
#[derive(Default)]
struct Queue {
    chunks: VecDeque<Vec<u8>>,
    /// The bytes in `chunks`: at [`READ_MAX`] the pump waits for the
    /// engine to take some (the rest waits in the browser's stream, as for
    /// a reader in JavaScript).
    bytes: usize,
    done: bool,
    err: Option<JsValue>,
    cancelled: bool,
    /// Who waits: the reader for bytes (the queue is empty) or the pump
    /// for room (it is full), never both.
    waker: Option<Waker>,
}

impl Queue {
    fn wake(&mut self) {
        if let Some(w) = self.waker.take() {
            w.wake();
        }
    }
}

/// An open body, read ahead of the engine by up to [`READ_MAX`] bytes: a
/// stream that errors (a cut connection) drops what it still holds, so the
/// bytes that arrived before the cut are taken out first; what the
/// browser still held comes again from the cursor.
pub struct BodyInner {
    queue: Rc<RefCell<Queue>>,
    reader: JsValue,
    _conn: AbortOnDrop,
}

impl Drop for BodyInner {
    fn drop(&mut self) {
        {
            let mut q = self.queue.borrow_mut();
            q.cancelled = true;
            q.chunks.clear();
            q.wake();
        }
        if let Ok(p) = call_method(&self.reader, "cancel") {
            quietly(p);
        }
    }
}

/// Shared by the runner and its read in flight.
#[derive(Clone)]
pub struct Body(Rc<BodyInner>);

/// `obj[name]()`.
fn call_method(obj: &JsValue, name: &str) -> Result<JsValue, JsValue> {
    let f = prop(obj, name);
    let args = js_sys::Array::new();
    sys::apply(&f, obj, &args)
}

/// Runs `task` on the microtask queue: one instantiation of `spawn_local`
/// for every task.
fn spawn(task: Task<()>) {
    spawn_local(task);
}

/// Lets promise `p` settle with no one listening and no unhandled
/// rejection.
fn quietly(p: JsValue) {
    if prop(&p, "then").is_function() {
        let p = js_sys::Promise::resolve(&p);
        spawn(Box::pin(async move {
            let _ = JsFuture::from(p).await;
        }));
    }
}

/// Reads `reader` into `queue` until the end, an error or a cancel, while
/// the queue has room.
async fn pump(reader: JsValue, queue: Rc<RefCell<Queue>>) {
    loop {
        let go = poll_fn(|cx| {
            let mut q = queue.borrow_mut();
            if q.done || q.err.is_some() || q.cancelled {
                Poll::Ready(false)
            } else if q.bytes < READ_MAX {
                Poll::Ready(true)
            } else {
                q.waker = Some(cx.waker().clone());
                Poll::Pending
            }
        })
        .await;
        if !go {
            return;
        }
        let got = match call_method(&reader, "read") {
            Ok(p) => JsFuture::from(js_sys::Promise::resolve(&p)).await,
            Err(e) => Err(e),
        };
        // What the read brought, taken out of JavaScript before the queue is
        // borrowed (a throw must not leave it borrowed).
        let step = got.and_then(|r| {
            let v = prop(&r, "value");
            if prop(&r, "done").is_truthy() {
                Ok(None)
            } else if sys::is_view(&v) {
                // Any view, not only a Uint8Array of this realm: bytes from
                // an iframe or jsdom are still bytes.
                let offset = prop(&v, "byteOffset").as_f64().unwrap_or(0.0);
                let len = prop(&v, "byteLength").as_f64().unwrap_or(0.0);
                let view = sys::View::new(&prop(&v, "buffer"), offset, len)?;
                Ok(Some(view.unchecked_into::<Uint8Array>().to_vec()))
            } else {
                Err(
                    js_sys::TypeError::new("the response body yielded something other than bytes")
                        .into(),
                )
            }
        });
        let mut q = queue.borrow_mut();
        if q.cancelled {
            return;
        }
        match step {
            Ok(Some(bytes)) => {
                q.bytes += bytes.len();
                q.chunks.push_back(bytes);
            }
            Ok(None) => q.done = true,
            Err(e) => q.err = Some(e),
        }
        q.wake();
    }
}

/// The bytes that arrived (several network chunks joined, up to
/// [`READ_MAX`]); `Ok(None)` at the end, `Err` once every byte before the
/// body's error was taken; `Pending` when nothing arrived yet.
fn take(q: &mut Queue) -> Poll<Result<Option<Vec<u8>>, JsValue>> {
    if q.chunks.is_empty() {
        if let Some(e) = &q.err {
            return Poll::Ready(Err(e.clone()));
        }
        return if q.done {
            Poll::Ready(Ok(None))
        } else {
            Poll::Pending
        };
    }
    let mut all = Vec::new();
    if let Some(front) = q.chunks.front_mut().filter(|c| c.len() > READ_MAX) {
        // A chunk larger than that: its first READ_MAX bytes.
        let rest = front.split_off(READ_MAX);
        all = core::mem::replace(front, rest);
    }
    while let Some(c) = q.chunks.front() {
        if !all.is_empty() && all.len() + c.len() > READ_MAX {
            break;
        }
        let c = q.chunks.pop_front().unwrap_or_default();
        if all.is_empty() {
            all = c;
        } else {
            all.extend_from_slice(&c);
        }
    }
    // Room again: the pump, if it waits, reads on.
    q.bytes -= all.len();
    q.wake();
    Poll::Ready(Ok(Some(all)))
}

/// The persisted form of a session, keys in their usual order.
pub fn session_object(s: &SessionState) -> JsValue {
    let o = object();
    set(
        &o,
        "publicAccessToken",
        &s.public_access_token.as_str().into(),
    );
    let last = s
        .last_event_id
        .as_deref()
        .map_or(JsValue::UNDEFINED, JsValue::from_str);
    set(&o, "lastEventId", &last);
    let streaming = s
        .is_streaming
        .map_or(JsValue::UNDEFINED, JsValue::from_bool);
    set(&o, "isStreaming", &streaming);
    let num = |n: u64| JsValue::from_f64(n as f64);
    if let Some(seq) = s.active_input_seq {
        set(&o, "activeInputSeq", &num(seq));
    }
    if s.skip_to_turn_complete {
        set(&o, "skipToTurnComplete", &true.into());
    }
    if s.gate_after_active {
        set(&o, "gateAfterActiveSend", &true.into());
    }
    if let Some(seq) = s.superseded_input_seq {
        set(&o, "supersededInputSeq", &num(seq));
    }
    if s.closed {
        set(&o, "closed", &true.into());
        if let Some(r) = &s.closed_reason {
            set(&o, "closedReason", &r.as_str().into());
        }
    }
    o
}

/// A failure of fetch (or the app's override) as the runner hears of it.
fn fetch_failure(e: JsValue) -> Failure<JsValue> {
    if named(&e, "AbortError") {
        return Failure::Aborted;
    }
    // fetch itself rejects with a TypeError when the network fails;
    // anything else was thrown by the app's own code and passes through.
    if named(&e, "TypeError") {
        return Failure::Network(describe(&e));
    }
    Failure::Thrown {
        message: describe(&e),
        value: e,
    }
}

/// The app's callback `f` called with `arg`, raced by the runner. A
/// rejection with a `TypeError` (fetch's network failure) or an object
/// with `retryable: true` is transient: the engine tries again.
fn call_app(f: &JsValue, arg: &JsValue) -> Task<Result<JsValue, Failure<JsValue>>> {
    let mut p = JsFuture::from(call_promise(f, &[arg]));
    Box::pin(poll_fn(move |cx| {
        Pin::new(&mut p).poll(cx).map_err(|e| {
            let message = describe(&e);
            if named(&e, "TypeError") || prop(&e, "retryable").as_bool() == Some(true) {
                Failure::Transient { message, value: e }
            } else {
                Failure::Thrown { message, value: e }
            }
        })
    }))
}

/// `{endpoint, chatId}`: what the `baseURL` function and the app's
/// `fetch` are told of a session request.
fn endpoint_arg(endpoint: Endpoint, chat_id: &str) -> JsValue {
    let o = object();
    set(&o, "endpoint", &endpoint.as_str().into());
    set(&o, "chatId", &chat_id.into());
    o
}

impl Host for Web {
    type Value = JsValue;
    type Response = Response;
    type Body = Body;

    fn now(&self) -> u64 {
        sys::now() as u64
    }

    fn sleep(&self, ms: u64) -> Task<()> {
        Box::pin(Sleep::new(ms, false))
    }

    fn spawn(&self, task: Task<()>) {
        spawn(task);
    }

    fn access_token(&self, chat_id: &str) -> Answer<Option<String>, JsValue> {
        let f = self.0.callbacks.borrow().access_token.clone();
        let arg = object();
        set(&arg, "chatId", &chat_id.into());
        let mut call = call_app(&f, &arg);
        Box::pin(poll_fn(move |cx| {
            call.as_mut().poll(cx).map(|r| r.map(|v| v.as_string()))
        }))
    }

    fn start_session(&self, chat_id: &str) -> Answer<Started, JsValue> {
        let (f, cd) = {
            let c = self.0.callbacks.borrow();
            (c.start_session.clone(), c.client_data.clone())
        };
        let Some(f) = f else {
            let m = "TriggerChatTransport: `startSession` is required to start a session";
            return Box::pin(async move { Err(Failure::Misuse(m.into())) });
        };
        let arg = object();
        set(&arg, "taskId", &self.0.task.as_str().into());
        set(&arg, "chatId", &chat_id.into());
        set(&arg, "clientData", &if absent(&cd) { object() } else { cd });
        let mut call = call_app(&f, &arg);
        Box::pin(poll_fn(move |cx| {
            call.as_mut().poll(cx).map(|r| {
                r.map(|v| Started {
                    token: prop(&v, "publicAccessToken").as_string(),
                    pending_version: prop(&v, "pendingVersion") == JsValue::TRUE,
                })
            })
        }))
    }

    fn base_url(&self, endpoint: Endpoint, chat_id: &str) -> Result<String, Failure<JsValue>> {
        if endpoint == Endpoint::Out {
            if let Some(u) = &self.0.stream_base_url {
                return Ok(u.clone());
            }
        }
        let base = &self.0.base_url;
        if let Some(s) = base.as_string() {
            return Ok(s);
        }
        if !base.is_function() {
            return Ok(DEFAULT_BASE_URL.into());
        }
        match call(base, &[&endpoint_arg(endpoint, chat_id)]) {
            Ok(v) => v.as_string().ok_or_else(|| {
                Failure::Misuse(
                    "TriggerChatTransport: the `baseURL` function must return a string".into(),
                )
            }),
            Err(e) => Err(Failure::Thrown {
                message: describe(&e),
                value: e,
            }),
        }
    }

    fn fetch(&self, request: &Request<'_>) -> Answer<Response, JsValue> {
        let conn = AbortOnDrop(AbortController::new().ok());
        let init = object();
        if request.body.is_some() {
            set(&init, "method", &"POST".into());
        }
        let headers = sys::json_parse(request.headers).unwrap_or_else(|_| object());
        set(&init, "headers", &headers);
        if let Some(b) = request.body {
            set(&init, "body", &b.into());
        }
        set(&init, "signal", &conn.signal());
        // Past the HTTP cache: Firefox holds a GET of a URL while another
        // request's response to it is being cached, up to 20 s, and a
        // `.out` stream left open by a page being reloaded is such a one.
        set(&init, "cache", &"no-store".into());
        let url = JsValue::from_str(request.url);
        let over = match request.session {
            Some(_) => self.0.callbacks.borrow().fetch.clone(),
            None => None,
        };
        let sent = match (over, request.session) {
            (Some(f), Some((endpoint, chat_id))) => {
                let ctx = endpoint_arg(endpoint, chat_id);
                Ok(call_promise(&f, &[&url, &init, &ctx]))
            }
            _ => sys::fetch(request.url, &init).map(|p| js_sys::Promise::resolve(&p)),
        };
        Box::pin(async move {
            let got = match sent {
                Ok(p) => JsFuture::from(p).await,
                Err(e) => Err(e),
            };
            match got {
                Ok(v) if js::is_object(&v) => Ok(Response { value: v, conn }),
                Ok(_) => Err(Failure::Protocol(
                    "fetch resolved to something other than a Response".into(),
                )),
                Err(e) => Err(fetch_failure(e)),
            }
        })
    }

    fn status(&self, r: &Response) -> u16 {
        match prop(&r.value, "status").as_f64() {
            Some(n) if (0.0..=999.0).contains(&n) => n as u16,
            _ => 0,
        }
    }

    fn header(&self, r: &Response, name: &str) -> Option<String> {
        let headers = prop(&r.value, "headers");
        let get = prop(&headers, "get");
        let args = js_sys::Array::new();
        args.push(&name.into());
        let v = sys::apply(&get, &headers, &args).ok()?;
        if absent(&v) {
            return None;
        }
        Some(js::string(&v))
    }

    fn text(&self, r: Response) -> Task<String> {
        Box::pin(async move {
            let p = match call_method(&r.value, "text") {
                Ok(p) => p,
                Err(_) => return String::new(),
            };
            let t = JsFuture::from(js_sys::Promise::resolve(&p)).await;
            drop(r);
            t.ok().and_then(|t| t.as_string()).unwrap_or_default()
        })
    }

    fn body(&self, r: Response) -> Option<Body> {
        let body = prop(&r.value, "body");
        if !prop(&body, "getReader").is_function() {
            return None;
        }
        let reader = call_method(&body, "getReader").ok()?;
        let queue = Rc::new(RefCell::new(Queue::default()));
        spawn(Box::pin(pump(reader.clone(), queue.clone())));
        Some(Body(Rc::new(BodyInner {
            queue,
            reader,
            _conn: r.conn,
        })))
    }

    fn read(&self, body: &Body) -> Answer<Option<Vec<u8>>, JsValue> {
        let body = body.clone();
        Box::pin(poll_fn(move |cx| {
            let mut q = body.0.queue.borrow_mut();
            match take(&mut q) {
                Poll::Ready(Ok(v)) => Poll::Ready(Ok(v)),
                Poll::Ready(Err(e)) => Poll::Ready(Err(if named(&e, "AbortError") {
                    Failure::Aborted
                } else {
                    Failure::Network(describe(&e))
                })),
                Poll::Pending => {
                    q.waker = Some(cx.waker().clone());
                    Poll::Pending
                }
            }
        }))
    }

    fn session_changed(&self, chat_id: &str, session: Option<&SessionState>) {
        let Some(cb) = self.0.callbacks.borrow().on_change.clone() else {
            return;
        };
        let s = session.map_or(JsValue::NULL, session_object);
        let _ = call(&cb, &[&chat_id.into(), &s]);
    }

    fn online(&self) -> bool {
        prop(&prop(&js_sys::global(), "navigator"), "onLine").as_bool() != Some(false)
    }

    fn until_online(&self) -> Task<()> {
        Box::pin(Sleep::new(0, true))
    }

    fn event(&self, json: &str, thrown: &dyn Fn(OpId) -> Option<JsValue>) {
        let Ok(ev) = sys::json_parse(json) else {
            return;
        };
        let kind = prop(&ev, "type").as_string().unwrap_or_default();
        if kind == "action-settled" {
            let op = prop(&ev, "op").as_f64().unwrap_or(-1.0);
            let f = {
                let mut by = self.0.settled_by.borrow_mut();
                let i = by.iter().position(|(o, _)| f64::from(*o) == op);
                i.map(|i| by.swap_remove(i).1)
            };
            if let Some(f) = f {
                let arg = object();
                for k in ["inputSeq", "sessionInEventId", "lastEventId"] {
                    set(&arg, k, &prop(&ev, k));
                }
                let _ = call(&f, &[&arg]);
            }
            return;
        }
        let Some(cb) = self.0.callbacks.borrow().on_event.clone() else {
            return;
        };
        let o = object();
        set(&o, "type", &prop(&ev, "type"));
        set(&o, "chatId", &prop(&ev, "chatId"));
        set(&o, "timestamp", &sys::now().into());
        sys::assign(&o, &ev);
        // The engine writes an error only as `error`, as
        // `{"$error": {...}, "$op": n}`: what the app's code threw for
        // operation `n` when it was a callback's failure, else the error
        // the object describes. Always an `Error` (a throw may be anything).
        let field = prop(&ev, "error");
        let inner = prop(&field, "$error");
        if js::is_object(&inner) {
            let op = prop(&field, "$op").as_f64().map(|n| n as OpId);
            let err = match op.and_then(thrown) {
                Some(t) if prop_is(&inner, "code", "CALLBACK") => {
                    if t.is_instance_of::<js_sys::Error>() {
                        t
                    } else {
                        js_sys::Error::new(&js::string(&t)).into()
                    }
                }
                _ => js::error_from(&inner),
            };
            set(&o, "error", &err);
        }
        let _ = call(&cb, &[&o]);
    }
}

fn prop_is(o: &JsValue, key: &str, value: &str) -> bool {
    prop(o, key).as_string().as_deref() == Some(value)
}
