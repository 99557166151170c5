//! The transport's shared state and its requests: the per-chat sessions,
//! the app's callbacks, appends to `.in` with token refresh, and starting
//! sessions. Protocol decisions come from the core (`wire`, `retry`).

use super::errors::Fail;
use super::fetch::{self, endpoint_ctx, Request};
use super::options::{get, BaseUrl, Options};
use super::{sys, timer};
use crate::error::Error;
use crate::prelude::*;
use crate::retry::{rate_limit_wait_ms, Backoff};
use crate::session::SessionState;
use crate::wire::{self, Endpoint};
use alloc::rc::Rc;
use core::cell::{Cell, RefCell};
use js_sys::{Function, Object, Promise, Reflect};
use wasm_bindgen::JsValue;
use wasm_bindgen_futures::{future_to_promise, JsFuture};

/// How many times one append is tried when the server says "try again".
const APPEND_ATTEMPTS: u32 = 4;

/// Control of one running stream: abort it from anywhere.
pub struct StreamCtl {
    aborted: Cell<bool>,
    stream: web_sys::AbortController,
    connection: RefCell<Option<web_sys::AbortController>>,
    /// Ends the current wait early (a wake event).
    wait: RefCell<Option<web_sys::AbortController>>,
    /// A wake event asked to connect again at once.
    wake: Cell<bool>,
}

impl StreamCtl {
    pub fn new() -> Result<Rc<StreamCtl>, Fail> {
        Ok(Rc::new(StreamCtl {
            aborted: Cell::new(false),
            stream: web_sys::AbortController::new().map_err(Fail::Js)?,
            connection: RefCell::new(None),
            wait: RefCell::new(None),
            wake: Cell::new(false),
        }))
    }

    /// A signal for one wait, ended by [`StreamCtl::wake`] or an abort.
    pub fn wait_signal(&self) -> Result<web_sys::AbortSignal, Fail> {
        self.fresh_signal(&self.wait)
    }

    /// A new controller kept in `slot` (replacing the last one), already
    /// aborted when the stream is; returns its signal.
    fn fresh_signal(
        &self,
        slot: &RefCell<Option<web_sys::AbortController>>,
    ) -> Result<web_sys::AbortSignal, Fail> {
        let c = web_sys::AbortController::new().map_err(Fail::Js)?;
        if self.aborted() {
            c.abort();
        }
        let signal = c.signal();
        *slot.borrow_mut() = Some(c);
        Ok(signal)
    }

    /// A wake event: end the current wait; with `force`, also drop the
    /// current connection. Either way the stream connects again at once.
    pub fn wake(&self, force: bool) {
        self.wake.set(true);
        if let Some(c) = self.wait.borrow_mut().take() {
            c.abort();
        }
        if force {
            self.drop_connection();
        }
    }

    /// Whether a wake event came since the last call.
    pub fn take_wake(&self) -> bool {
        self.wake.replace(false)
    }

    pub fn aborted(&self) -> bool {
        self.aborted.get()
    }

    /// Ends the stream: the open connection, any wait, any read.
    pub fn abort(&self) {
        self.aborted.set(true);
        self.stream.abort();
        if let Some(c) = self.connection.borrow_mut().take() {
            c.abort();
        }
        if let Some(c) = self.wait.borrow_mut().take() {
            c.abort();
        }
    }

    /// The signal that wakes the stream's waits when it is aborted.
    pub fn signal(&self) -> web_sys::AbortSignal {
        self.stream.signal()
    }

    /// A signal for a new connection, aborted with the stream.
    pub fn connection_signal(&self) -> Result<web_sys::AbortSignal, Fail> {
        self.fresh_signal(&self.connection)
    }

    /// Drops the current connection (after a stall) without ending the stream.
    pub fn drop_connection(&self) {
        if let Some(c) = self.connection.borrow_mut().take() {
            c.abort();
        }
    }
}

/// A map keyed by chat id. An app has a handful of chats open, so a vector
/// is as fast as a hash map here, and smaller in the module.
pub struct ChatMap<T>(Vec<(String, T)>);

impl<T> ChatMap<T> {
    pub fn new() -> Self {
        ChatMap(Vec::new())
    }

    pub fn get(&self, k: &str) -> Option<&T> {
        self.0.iter().find(|(key, _)| key == k).map(|(_, v)| v)
    }

    pub fn get_mut(&mut self, k: &str) -> Option<&mut T> {
        self.0.iter_mut().find(|(key, _)| key == k).map(|(_, v)| v)
    }

    pub fn contains_key(&self, k: &str) -> bool {
        self.get(k).is_some()
    }

    /// Sets `k`, returning the value it replaces.
    pub fn insert(&mut self, k: String, v: T) -> Option<T> {
        match self.get_mut(&k) {
            Some(slot) => Some(core::mem::replace(slot, v)),
            None => {
                self.0.push((k, v));
                None
            }
        }
    }

    pub fn remove(&mut self, k: &str) -> Option<T> {
        let i = self.0.iter().position(|(key, _)| key == k)?;
        Some(self.0.swap_remove(i).1)
    }

    pub fn drain(&mut self) -> impl Iterator<Item = (String, T)> + '_ {
        self.0.drain(..)
    }
}

pub struct Client {
    pub opts: Options,
    sessions: RefCell<ChatMap<SessionState>>,
    client_data: RefCell<JsValue>,
    on_change: RefCell<Option<Function>>,
    active: RefCell<ChatMap<Rc<StreamCtl>>>,
    pending_starts: RefCell<ChatMap<Promise>>,
    /// Per chat: when the last turn-producing send went out, and its
    /// message id, for `sinceSendMs` and `messageId` on later events.
    last_send: RefCell<ChatMap<(f64, Option<String>)>>,
    /// Resume cursors seeded for chats that have no session yet.
    seeded: RefCell<ChatMap<String>>,
    seed: Cell<u64>,
}

/// What `message-sent` / `message-send-failed` say about a send.
pub struct SendReport<'a> {
    pub source: &'a str,
    pub message_id: Option<&'a str>,
    pub part_id: Option<&'a str>,
    /// When it started (`Date.now()`).
    pub started: f64,
    pub body_len: usize,
}

/// A lifecycle event for the app's `onEvent`, built field by field.
pub struct Event(Object);

impl Event {
    pub fn new(kind: &str, chat_id: &str) -> Event {
        let o = Object::new();
        set(&o, "type", &kind.into());
        set(&o, "chatId", &chat_id.into());
        set(&o, "timestamp", &sys::now_ms().into());
        Event(o)
    }

    pub fn with(self, key: &str, value: impl Into<JsValue>) -> Event {
        set(&self.0, key, &value.into());
        self
    }

    pub fn with_opt(self, key: &str, value: Option<impl Into<JsValue>>) -> Event {
        match value {
            Some(v) => self.with(key, v),
            None => self,
        }
    }
}

fn set(obj: &Object, k: &str, v: &JsValue) {
    let _ = Reflect::set(obj, &k.into(), v);
}

/// `{publicAccessToken, lastEventId, isStreaming}` for the app, with
/// `activeInputSeq` while a send's reply is in flight and `closed` /
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
    if s.closed {
        set(&o, "closed", &JsValue::TRUE);
        if let Some(r) = &s.closed_reason {
            set(&o, "closedReason", &r.as_str().into());
        }
    }
    o.into()
}

/// `JSON.stringify(v)`: the JSON text the wire carries; `None` for
/// `undefined` (which JSON has no word for). A value that cannot be
/// stringified (a cycle, a BigInt) is the caller's error, named by `what`.
pub fn to_json(v: &JsValue, what: &str) -> Result<Option<String>, Fail> {
    if v.is_undefined() {
        return Ok(None);
    }
    match js_sys::JSON::stringify(v) {
        Ok(text) => Ok(text.as_string()),
        Err(e) => Err(Error::Misuse(cat!(
            what,
            " cannot be sent as JSON: ",
            super::errors::describe(&e)
        ))
        .into()),
    }
}

impl Client {
    pub fn new(mut opts: Options) -> Rc<Client> {
        let mut sessions = ChatMap::new();
        for (id, state) in core::mem::take(&mut opts.sessions) {
            sessions.insert(id, state);
        }
        let seed = (sys::now_ms() as u64) ^ (js_sys::Math::random() * 1e15) as u64;
        Rc::new(Client {
            client_data: RefCell::new(opts.client_data.clone()),
            on_change: RefCell::new(opts.on_session_change.clone()),
            sessions: RefCell::new(sessions),
            active: RefCell::new(ChatMap::new()),
            pending_starts: RefCell::new(ChatMap::new()),
            last_send: RefCell::new(ChatMap::new()),
            seeded: RefCell::new(ChatMap::new()),
            seed: Cell::new(seed),
            opts,
        })
    }

    /// A fresh seed for a backoff schedule.
    pub fn next_seed(&self) -> u64 {
        let s = self
            .seed
            .get()
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.seed.set(s);
        s
    }

    // ----- sessions -------------------------------------------------------

    pub fn session(&self, chat_id: &str) -> Option<SessionState> {
        self.sessions.borrow().get(chat_id).cloned()
    }

    /// Changes a chat's session in place; false when there is none.
    pub fn update(&self, chat_id: &str, f: impl FnOnce(&mut SessionState)) -> bool {
        match self.sessions.borrow_mut().get_mut(chat_id) {
            Some(s) => {
                f(s);
                true
            }
            None => false,
        }
    }

    pub fn insert_session(&self, chat_id: &str, mut state: SessionState) {
        if let Some(cursor) = self.seeded.borrow_mut().remove(chat_id) {
            state.advance_cursor(&cursor);
        }
        self.sessions.borrow_mut().insert(chat_id.to_owned(), state);
    }

    /// A resume cursor from the app's stored transcript: applied now when
    /// the chat has a session (never moving its cursor back), else kept
    /// until the session is created, so the first subscription starts
    /// after the history the app already shows.
    pub fn seed_cursor(&self, chat_id: &str, cursor: &str) {
        let mut moved = false;
        let known = self.update(chat_id, |s| moved = s.advance_cursor(cursor));
        if !known {
            self.seeded
                .borrow_mut()
                .insert(chat_id.to_owned(), cursor.to_owned());
        } else if moved {
            self.notify(chat_id);
        }
    }

    pub fn token(&self, chat_id: &str) -> Result<String, Fail> {
        self.sessions
            .borrow()
            .get(chat_id)
            .map(|s| s.public_access_token.clone())
            .ok_or_else(|| Error::Misuse(cat!("no session for chat ", chat_id)).into())
    }

    /// Tells the app (`onSessionChange`) what the chat's session is now.
    /// A throwing callback does not break the transport.
    pub fn notify(&self, chat_id: &str) {
        let Some(cb) = self.on_change.borrow().clone() else {
            return;
        };
        let state = self
            .session(chat_id)
            .map_or(JsValue::NULL, |s| persisted_js(&s));
        let _ = cb.call2(&JsValue::UNDEFINED, &chat_id.into(), &state);
    }

    pub fn set_on_change(&self, cb: Option<Function>) {
        *self.on_change.borrow_mut() = cb;
    }

    /// Hands an event to the app's `onEvent`; what the callback throws is
    /// swallowed, so a failing metrics pipeline never breaks the chat.
    pub fn emit(&self, ev: Event) {
        let cb = self.opts.on_event.borrow().clone();
        if let Some(cb) = cb {
            let _ = cb.call1(&JsValue::UNDEFINED, &ev.0);
        }
    }

    /// Whether anyone listens for events (to skip building them).
    pub fn wants_events(&self) -> bool {
        self.opts.on_event.borrow().is_some()
    }

    /// Remembers a turn-producing send on the chat.
    pub fn note_send(&self, chat_id: &str, message_id: Option<String>) {
        self.last_send
            .borrow_mut()
            .insert(chat_id.to_owned(), (sys::now_ms(), message_id));
    }

    /// Milliseconds since the chat's last turn-producing send, and its
    /// message id.
    pub fn since_send(&self, chat_id: &str) -> (Option<f64>, Option<String>) {
        match self.last_send.borrow().get(chat_id) {
            Some((at, id)) => (Some(sys::now_ms() - at), id.clone()),
            None => (None, None),
        }
    }

    /// Reports a send's outcome to `onEvent`: `message-sent`, or
    /// `message-send-failed` with the error.
    pub fn report_send(&self, chat_id: &str, sent: &SendReport<'_>, failure: Option<&Fail>) {
        if !self.wants_events() {
            return;
        }
        let kind = if failure.is_none() {
            "message-sent"
        } else {
            "message-send-failed"
        };
        let mut ev = Event::new(kind, chat_id)
            .with_opt("messageId", sent.message_id)
            .with("source", sent.source)
            .with("durationMs", sys::now_ms() - sent.started)
            .with_opt("partId", sent.part_id)
            .with("bodyBytes", sent.body_len as f64);
        if let Some(f) = failure {
            ev = ev
                .with_opt("status", f.core().and_then(Error::status))
                .with("error", f.clone().into_js());
        }
        self.emit(ev);
    }

    /// An append with the chat's token (see [`Client::append_authed`]),
    /// reported to `onEvent` as `message-sent` or `message-send-failed`.
    /// Gives the record's `.in` seq when the server tells it.
    pub async fn send_reported(
        &self,
        chat_id: &str,
        body: &str,
        source: &str,
        message_id: Option<&str>,
    ) -> Result<Option<u64>, Fail> {
        let part_id = sys::random_uuid();
        let started = sys::now_ms();
        let result = self.append_authed(chat_id, body, &part_id).await;
        let sent = SendReport {
            source,
            message_id,
            part_id: Some(&part_id),
            started,
            body_len: body.len(),
        };
        self.report_send(chat_id, &sent, result.as_ref().err());
        result
    }

    pub fn client_data(&self) -> JsValue {
        self.client_data.borrow().clone()
    }

    pub fn set_client_data(&self, v: JsValue) {
        *self.client_data.borrow_mut() = v;
    }

    // ----- streams --------------------------------------------------------

    pub fn has_active(&self, chat_id: &str) -> bool {
        self.active.borrow().contains_key(chat_id)
    }

    pub fn register_stream(&self, chat_id: &str, ctl: &Rc<StreamCtl>) {
        let old = self
            .active
            .borrow_mut()
            .insert(chat_id.to_owned(), ctl.clone());
        if let Some(old) = old {
            if !Rc::ptr_eq(&old, ctl) {
                old.abort();
            }
        }
    }

    pub fn unregister_stream(&self, chat_id: &str, ctl: &Rc<StreamCtl>) {
        let mut active = self.active.borrow_mut();
        if active.get(chat_id).is_some_and(|c| Rc::ptr_eq(c, ctl)) {
            active.remove(chat_id);
        }
    }

    /// Ends the chat's running stream, if any: a new one supersedes it.
    pub fn supersede(&self, chat_id: &str) {
        let old = self.active.borrow_mut().remove(chat_id);
        if let Some(old) = old {
            old.abort();
        }
    }

    pub fn abort_all(&self) {
        let all: Vec<_> = self.active.borrow_mut().drain().map(|(_, c)| c).collect();
        for c in all {
            c.abort();
        }
    }

    // ----- callbacks ------------------------------------------------------

    pub fn base_url(&self, endpoint: Endpoint, chat_id: &str) -> Result<String, Fail> {
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

    /// Calls the app's `accessToken({chatId})`.
    async fn call_access_token(&self, chat_id: &str) -> Result<String, Fail> {
        let arg = Object::new();
        set(&arg, "chatId", &chat_id.into());
        let f = self.opts.access_token.borrow().clone();
        let p = sys::call_promise(&f, &js_sys::Array::of1(&arg));
        let v = JsFuture::from(p).await.map_err(Fail::Js)?;
        match v.as_string() {
            Some(t) if !t.is_empty() => Ok(t),
            _ => Err(Error::Callback(
                "TriggerChatTransport: `accessToken` must return a non-empty string".into(),
            )
            .into()),
        }
    }

    /// A fresh token from `accessToken`, stored and reported.
    pub async fn refresh_token(&self, chat_id: &str) -> Result<String, Fail> {
        let fresh = self.call_access_token(chat_id).await?;
        let known = self.update(chat_id, |s| s.public_access_token = fresh.clone());
        if !known {
            self.insert_session(
                chat_id,
                SessionState {
                    public_access_token: fresh.clone(),
                    ..Default::default()
                },
            );
        }
        self.notify(chat_id);
        Ok(fresh)
    }

    /// Calls the app's `startSession({taskId, chatId, clientData})`.
    async fn call_start_session(&self, chat_id: &str) -> Result<String, Fail> {
        let Some(f) = self.opts.start_session.borrow().clone() else {
            return Err(Error::Misuse(
                "TriggerChatTransport: `startSession` is required to start a session (start(), preload(), \
                 or a first message with no stored session); provide it, or hydrate the chat through `sessions`"
                    .into(),
            )
            .into());
        };
        let arg = Object::new();
        set(&arg, "taskId", &self.opts.task.as_str().into());
        set(&arg, "chatId", &chat_id.into());
        let cd = self.client_data();
        set(
            &arg,
            "clientData",
            &if cd.is_undefined() || cd.is_null() {
                Object::new().into()
            } else {
                cd
            },
        );
        let p = sys::call_promise(&f, &js_sys::Array::of1(&arg));
        let v = JsFuture::from(p).await.map_err(Fail::Js)?;
        if get(&v, "pendingVersion").as_bool() == Some(true) {
            self.pending_version(chat_id, "start");
        }
        match get(&v, "publicAccessToken").as_string() {
            Some(t) if !t.is_empty() => Ok(t),
            _ => Err(Error::Callback(
                "TriggerChatTransport: `startSession` must resolve to { publicAccessToken: string }".into(),
            )
            .into()),
        }
    }

    // ----- starting sessions ----------------------------------------------

    /// The chat's session, started through `startSession` when there is
    /// none. Concurrent calls for one chat share one `startSession` call.
    pub async fn start(self: &Rc<Self>, chat_id: &str) -> Result<SessionState, Fail> {
        if let Some(s) = self
            .session(chat_id)
            .filter(|s| !s.public_access_token.is_empty())
        {
            return Ok(s);
        }
        let pending = self.pending_starts.borrow().get(chat_id).cloned();
        let promise = match pending {
            Some(p) => p,
            None => {
                let this = self.clone();
                let id = chat_id.to_owned();
                let p = future_to_promise(async move {
                    let r = this.do_start(&id).await;
                    this.pending_starts.borrow_mut().remove(&id);
                    r.map(|()| JsValue::UNDEFINED).map_err(Fail::into_js)
                });
                self.pending_starts
                    .borrow_mut()
                    .insert(chat_id.to_owned(), p.clone());
                p
            }
        };
        JsFuture::from(promise).await.map_err(Fail::Js)?;
        self.session(chat_id).ok_or_else(|| {
            Error::Protocol(cat!(
                "session for chat ",
                chat_id,
                " vanished while starting"
            ))
            .into()
        })
    }

    async fn do_start(&self, chat_id: &str) -> Result<(), Fail> {
        let token = self.call_start_session(chat_id).await?;
        self.insert_session(
            chat_id,
            SessionState {
                public_access_token: token,
                is_streaming: Some(false),
                ..Default::default()
            },
        );
        self.notify(chat_id);
        Ok(())
    }

    /// Makes sure the chat has a token: a stored one, a started session,
    /// or (with no `startSession`) one from `accessToken`.
    pub async fn ensure_session(self: &Rc<Self>, chat_id: &str) -> Result<(), Fail> {
        if self
            .session(chat_id)
            .is_some_and(|s| !s.public_access_token.is_empty())
        {
            return Ok(());
        }
        if self.opts.start_session.borrow().is_some() {
            return self.start(chat_id).await.map(|_| ());
        }
        let token = self.call_access_token(chat_id).await?;
        self.insert_session(
            chat_id,
            SessionState {
                public_access_token: token,
                ..Default::default()
            },
        );
        self.notify(chat_id);
        Ok(())
    }

    /// The session's row is gone where the token points (404): create it
    /// again through `startSession`, dropping the stale cursor.
    async fn recreate_session(&self, chat_id: &str) -> Result<(), Fail> {
        if self.opts.start_session.borrow().is_none() {
            return Err(Error::Misuse(cat!(
                "TriggerChatTransport: the session for chat ",
                chat_id,
                " was not found (404) and there is no `startSession` to create it again"
            ))
            .into());
        }
        let token = self.call_start_session(chat_id).await?;
        let state = SessionState {
            public_access_token: token,
            is_streaming: Some(false),
            ..Default::default()
        };
        self.insert_session(chat_id, state);
        self.notify(chat_id);
        Ok(())
    }

    // ----- appends --------------------------------------------------------

    /// One POST to `.in/append`. On failure, also how long the server asked
    /// us to wait (429).
    async fn append_once(
        &self,
        chat_id: &str,
        token: &str,
        body: &str,
        part_id: &str,
    ) -> Result<Option<u64>, (Fail, Option<u64>)> {
        let base = self
            .base_url(Endpoint::In, chat_id)
            .map_err(|e| (e, None))?;
        let url = wire::session_url(&base, chat_id, Endpoint::In);
        let headers = wire::append_headers(&self.opts.headers, token, part_id);
        let ctx = endpoint_ctx(Endpoint::In, chat_id);
        let req = Request {
            url: &url,
            method: Some("POST"),
            headers: &headers,
            body: Some(body),
            signal: None,
        };
        let fetch_override = self.opts.fetch.borrow().clone();
        let resp = fetch::send(fetch_override.as_ref(), Some(&ctx), &req)
            .await
            .map_err(|e| (e, None))?;
        let status = fetch::status(&resp);
        if (200..300).contains(&status) {
            // `{ok: true, seq, pendingVersion?}`: the record's `.in` seq, when
            // the server says, and whether the run waits for its deployment.
            let text = fetch::text(&resp).await;
            if wire::pending_version(&text) {
                self.pending_version(chat_id, "send");
            }
            return Ok(wire::appended_seq(&text));
        }
        let wait = (status == 429)
            .then(|| {
                rate_limit_wait_ms(
                    sys::header_of(&resp, "x-ratelimit-reset").as_deref(),
                    sys::header_of(&resp, "retry-after").as_deref(),
                    sys::now_ms() as u64,
                )
            })
            .flatten();
        let text = fetch::text(&resp).await;
        if status == 409 {
            if let Some(reason) = wire::closed_refusal(&text) {
                let chat_id = chat_id.to_owned();
                return Err((Error::SessionClosed { chat_id, reason }.into(), None));
            }
        }
        Err((fetch::http_error("append", &resp, &text).into(), wait))
    }

    /// An append, retried (same `X-Part-Id`, so the server keeps one copy)
    /// while the failure is worth retrying.
    async fn append(
        &self,
        chat_id: &str,
        token: &str,
        body: &str,
        part_id: &str,
    ) -> Result<Option<u64>, Fail> {
        let mut backoff = Backoff::new(self.next_seed());
        backoff.max_attempts = APPEND_ATTEMPTS - 1;
        let never = web_sys::AbortController::new().map_err(Fail::Js)?;
        loop {
            match self.append_once(chat_id, token, body, part_id).await {
                Ok(seq) => return Ok(seq),
                Err((Fail::Core(e), wait)) if e.is_retryable() => match backoff.next_delay() {
                    Some(d) => timer::sleep(wait.unwrap_or(d), &never.signal()).await,
                    None => return Err(e.into()),
                },
                Err((e, _)) => return Err(e),
            }
        }
    }

    /// An append with the chat's token (see [`Client::append_renewing`]).
    /// A closed session is refused here, with no request; a `session_closed`
    /// refusal from the server marks the chat closed and is not retried.
    pub async fn append_authed(
        &self,
        chat_id: &str,
        body: &str,
        part_id: &str,
    ) -> Result<Option<u64>, Fail> {
        self.refuse_if_closed(chat_id)?;
        let result = self.append_renewing(chat_id, body, part_id).await;
        if let Err(Fail::Core(Error::SessionClosed { reason, .. })) = &result {
            self.mark_closed(chat_id, reason.clone(), "append");
        }
        result
    }

    /// The `session_closed` error for a chat whose session is closed.
    pub fn refuse_if_closed(&self, chat_id: &str) -> Result<(), Fail> {
        let sessions = self.sessions.borrow();
        match sessions.get(chat_id).filter(|s| s.closed) {
            Some(s) => Err(Error::SessionClosed {
                chat_id: chat_id.to_owned(),
                reason: s.closed_reason.clone(),
            }
            .into()),
            None => Ok(()),
        }
    }

    /// Reports that the run answering the chat is parked until its
    /// deployment lands (`run-pending-version`); `source` says how we know.
    pub fn pending_version(&self, chat_id: &str, source: &str) {
        if self.wants_events() {
            self.emit(Event::new("run-pending-version", chat_id).with("source", source));
        }
    }

    /// Marks the chat's session closed (once) and reports it: through
    /// `onSessionChange`, and to `onEvent` as `session-closed` with where
    /// the news came from (`"append"` or `"stream"`).
    pub fn mark_closed(&self, chat_id: &str, reason: Option<String>, source: &str) {
        let mut changed = false;
        self.update(chat_id, |s| changed = s.close(reason.clone()));
        if !changed {
            return;
        }
        if self.wants_events() {
            self.emit(
                Event::new("session-closed", chat_id)
                    .with_opt("reason", reason)
                    .with("source", source),
            );
        }
        self.notify(chat_id);
    }

    /// The append itself: with the chat's token; on 401/403 once more with
    /// a fresh token from `accessToken`; on 404 once more on a session
    /// created again through `startSession`.
    async fn append_renewing(
        &self,
        chat_id: &str,
        body: &str,
        part_id: &str,
    ) -> Result<Option<u64>, Fail> {
        let token = self.token(chat_id)?;
        match self.append(chat_id, &token, body, part_id).await {
            Ok(seq) => return Ok(seq),
            Err(e) if e.is_not_found() => {
                self.recreate_session(chat_id).await?;
                return self
                    .append(chat_id, &self.token(chat_id)?, body, part_id)
                    .await;
            }
            Err(e) if !e.is_auth() => return Err(e),
            Err(_) => {}
        }
        let fresh = self.refresh_token(chat_id).await?;
        match self.append(chat_id, &fresh, body, part_id).await {
            Err(e) if e.is_not_found() => {}
            other => return other,
        }
        self.recreate_session(chat_id).await?;
        self.append(chat_id, &self.token(chat_id)?, body, part_id)
            .await
    }

    /// `{kind:"stop"}` on `.in`, without waiting (used when the app aborts).
    pub fn fire_stop(self: &Rc<Self>, chat_id: &str) {
        let this = self.clone();
        let id = chat_id.to_owned();
        wasm_bindgen_futures::spawn_local(async move {
            let part = sys::random_uuid();
            let _ = this.append_authed(&id, &wire::stop_chunk(), &part).await;
        });
    }

    /// The app's `clientData` merged under a call's `metadata`.
    pub fn merged_metadata(&self, metadata: &JsValue) -> Result<Option<String>, Fail> {
        let cd = to_json(&self.client_data(), "clientData")?;
        let md = to_json(metadata, "metadata")?;
        Ok(wire::merge_metadata(cd.as_deref(), md.as_deref()))
    }
}
