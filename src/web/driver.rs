//! The loop that carries out what a stream's state machine asks (connect,
//! read, wait, refresh the token) and hands its chunks to the app. It makes
//! no protocol decisions of its own.

use super::body::{Body, Read};
use super::client::{Client, Event, StreamCtl};
use super::errors::{describe, is_abort, Fail};
use super::fetch::{self, endpoint_ctx, Request};
use super::{sys, timer};
use crate::error::Error;
use crate::prelude::*;
use crate::records::{decode_ui_stream_event, UiStreamEvent};
use crate::session::{Action, SessionEvent, Subscription, SubscriptionConfig};
use crate::sse::SseDecoder;
use crate::text::decimal;
use crate::wire::{self, Endpoint};
use alloc::rc::Rc;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

/// A connection silent for this long (no record, no keepalive) is dropped
/// and opened again.
pub const STALL_MS: u64 = 60_000;

/// Sends `{kind:"stop"}` when the app's abort signal fires, and ends the
/// stream. Removes its listener when dropped.
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

enum Source {
    /// A session's `.out` subscription.
    Session(Box<Subscription>),
    /// A head-start route's UI message stream (first turn only).
    HeadStart {
        sse: SseDecoder,
        out: String,
        ended: bool,
    },
}

/// Listens for browser wake events while a stream runs; stops listening
/// when dropped.
struct WakeHook {
    dispose: js_sys::Function,
    _callback: Closure<dyn FnMut(bool)>,
}

impl Drop for WakeHook {
    fn drop(&mut self) {
        let _ = self.dispose.call0(&JsValue::UNDEFINED);
    }
}

/// One stream of chunks for the app.
pub struct Runner {
    client: Rc<Client>,
    chat_id: String,
    ctl: Rc<StreamCtl>,
    source: Source,
    body: Option<Body>,
    /// Aborted when the current connection is dropped or the stream ends.
    conn_signal: Option<web_sys::AbortSignal>,
    scratch: Vec<u8>,
    /// An error thrown by the app's own code, reported as it is.
    js_fail: Option<JsValue>,
    _hook: Option<AbortHook>,
    _wake: Option<WakeHook>,
    /// Resuming after a reload (`reconnectToStream`), not following a send.
    resumed: bool,
    /// `stream-connected` was reported.
    connected: bool,
    /// The next chunk is the first of a turn (for `first-chunk`).
    turn_fresh: core::cell::Cell<bool>,
}

impl Runner {
    /// A `.out` subscription for `chat_id`, registered as the chat's active
    /// stream. `abort` is the app's signal; with `stop_on_abort` an abort
    /// also stops the agent's turn.
    pub fn session(
        client: &Rc<Client>,
        chat_id: &str,
        peek_settled: bool,
        abort: Option<web_sys::AbortSignal>,
        stop_on_abort: bool,
        since_in_seq: Option<u64>,
    ) -> Result<Runner, Fail> {
        let state = client.session(chat_id).unwrap_or_default();
        let sub = Subscription::new(SubscriptionConfig {
            watch: client.opts.watch,
            // A watcher waits through settled stretches, and a send in
            // flight may not have written yet (the previous turn's end can
            // still be the tail): no peek then.
            peek_settled: peek_settled && !client.opts.watch && since_in_seq.is_none(),
            timeout_seconds: client.opts.stream_timeout_seconds,
            cursor: state.last_event_id,
            skip_to_turn_complete: state.skip_to_turn_complete,
            since_in_seq,
            seed: client.next_seed(),
        });
        let mut runner = Self::new(
            client,
            chat_id,
            Source::Session(Box::new(sub)),
            abort,
            stop_on_abort,
        )?;
        runner.resumed = peek_settled;
        Ok(runner)
    }

    /// The stream of a head-start route's response.
    pub fn head_start(
        client: &Rc<Client>,
        chat_id: &str,
        response: &JsValue,
    ) -> Result<Runner, Fail> {
        let mut r = Self::new(
            client,
            chat_id,
            Source::HeadStart {
                sse: SseDecoder::new(),
                out: String::new(),
                ended: false,
            },
            None,
            false,
        )?;
        r.body = Body::of(response);
        if r.body.is_none() {
            return Err(Error::Protocol("the headStart route answered with no body".into()).into());
        }
        Ok(r)
    }

    fn new(
        client: &Rc<Client>,
        chat_id: &str,
        source: Source,
        abort: Option<web_sys::AbortSignal>,
        stop_on_abort: bool,
    ) -> Result<Runner, Fail> {
        let ctl = StreamCtl::new()?;
        client.register_stream(chat_id, &ctl);
        let hook = match abort {
            Some(signal) if signal.aborted() => {
                ctl.abort();
                None
            }
            Some(signal) => {
                let (c, id, k) = (client.clone(), chat_id.to_owned(), ctl.clone());
                let callback = Closure::<dyn FnMut()>::new(move || {
                    if k.aborted() {
                        return;
                    }
                    if stop_on_abort {
                        c.update(&id, |s| s.skip_to_turn_complete = true);
                        c.fire_stop(&id);
                    }
                    k.abort();
                });
                signal
                    .add_event_listener_with_callback("abort", callback.as_ref().unchecked_ref())
                    .map_err(Fail::Js)?;
                Some(AbortHook { signal, callback })
            }
            None => None,
        };
        let wake = {
            let k = ctl.clone();
            let callback = Closure::<dyn FnMut(bool)>::new(move |force: bool| k.wake(force));
            let dispose = sys::watch_wake(callback.as_ref());
            Some(WakeHook {
                dispose,
                _callback: callback,
            })
        };
        Ok(Runner {
            client: client.clone(),
            chat_id: chat_id.to_owned(),
            ctl,
            source,
            body: None,
            conn_signal: None,
            scratch: Vec::new(),
            js_fail: None,
            _hook: hook,
            _wake: wake,
            resumed: false,
            connected: false,
            turn_fresh: core::cell::Cell::new(true),
        })
    }

    pub fn ctl(&self) -> &Rc<StreamCtl> {
        &self.ctl
    }

    /// The next chunks for the app, as a JS array; `None` when the stream
    /// is over.
    pub async fn next(&mut self) -> Result<Option<JsValue>, Fail> {
        if matches!(self.source, Source::HeadStart { .. }) {
            return self.next_head_start().await;
        }
        loop {
            let Source::Session(sub) = &mut self.source else {
                return Ok(None);
            };
            if self.ctl.aborted() {
                sub.handle_abort();
                self.body = None;
            }
            // Chunks first, then the session changes that followed them (a
            // turn-complete is reported after the turn's chunks were handed
            // over, on the next call).
            if let Some((json, _)) = sub.take_chunks() {
                let chunks = parse_chunks(&json)?;
                if self.turn_fresh.replace(false) && self.client.wants_events() {
                    let cursor = sub.cursor();
                    let first =
                        js_sys::Reflect::get(&chunks, &0u32.into()).unwrap_or(JsValue::UNDEFINED);
                    let kind = js_sys::Reflect::get(&first, &"type".into())
                        .ok()
                        .and_then(|t| t.as_string());
                    let (since, message_id) = self.client.since_send(&self.chat_id);
                    self.client.emit(
                        Event::new("first-chunk", &self.chat_id)
                            .with_opt("chunkType", kind)
                            .with_opt("lastEventId", cursor)
                            .with_opt("messageId", message_id)
                            .with_opt("sinceSendMs", since),
                    );
                }
                return Ok(Some(chunks));
            }
            let events: Vec<SessionEvent> = core::iter::from_fn(|| sub.poll_event()).collect();
            for ev in events {
                self.apply(ev);
            }
            let Source::Session(sub) = &mut self.source else {
                return Ok(None);
            };
            match sub.poll_action() {
                Action::Connect(req) => self.connect(req).await,
                Action::Read => self.read().await,
                Action::Sleep(ms) => {
                    let signal = self.ctl.wait_signal()?;
                    timer::sleep(ms, &signal).await;
                    self.ctl.take_wake();
                }
                Action::RefreshToken => {
                    let r = self
                        .client
                        .refresh_token(&self.chat_id)
                        .await
                        .map_err(|f| self.keep(f));
                    let Source::Session(sub) = &mut self.source else {
                        return Ok(None);
                    };
                    match r {
                        Ok(_) => sub.handle_token_refreshed(),
                        Err(e) => sub.handle_token_error(e),
                    }
                }
                Action::Finish => {
                    self.close();
                    return Ok(None);
                }
                Action::Fail(e) => {
                    self.close();
                    let fail = self.js_fail.take().map_or(Fail::Core(e), Fail::Js);
                    if self.client.wants_events() {
                        self.client.emit(
                            Event::new("stream-error", &self.chat_id)
                                .with_opt("status", fail.core().and_then(Error::status))
                                .with("error", fail.clone().into_js()),
                        );
                    }
                    return Err(fail);
                }
            }
        }
    }

    /// Keeps an app-thrown error to report as it is; gives the core error.
    fn keep(&mut self, f: Fail) -> Error {
        match f {
            Fail::Core(e) => e,
            Fail::Js(v) => {
                let e = Error::Callback(describe(&v));
                self.js_fail = Some(v);
                e
            }
        }
    }

    /// Applies a session change and reports it. The stored cursor moves only
    /// here, at turn boundaries: what `getSession` and `onSessionChange` hand
    /// out is always a place a later resume can replay a whole turn from,
    /// as `resumeStreamIsReplay` promises.
    fn apply(&self, ev: SessionEvent) {
        match ev {
            SessionEvent::TurnComplete {
                token,
                cursor,
                in_event_id,
            } => {
                let last = cursor.clone();
                self.client.update(&self.chat_id, |s| {
                    if let Some(t) = token {
                        s.public_access_token = t;
                    }
                    s.is_streaming = Some(false);
                    s.active_input_seq = None;
                    s.last_event_id = Some(cursor);
                });
                self.turn_fresh.set(true);
                if self.client.wants_events() {
                    let (since, message_id) = self.client.since_send(&self.chat_id);
                    self.client.emit(
                        Event::new("turn-completed", &self.chat_id)
                            .with("lastEventId", last.as_str())
                            .with_opt("sessionInEventId", in_event_id.map(decimal))
                            .with_opt("messageId", message_id)
                            .with_opt("sinceSendMs", since),
                    );
                }
            }
            SessionEvent::Settled => {
                self.client
                    .update(&self.chat_id, |s| s.is_streaming = Some(false));
            }
            SessionEvent::PendingVersion => {
                self.client.pending_version(&self.chat_id, "upgrade");
                return;
            }
            SessionEvent::Closed { reason } => {
                // Reports on its own (once); nothing more to do here.
                self.client.mark_closed(&self.chat_id, reason, "stream");
                return;
            }
        }
        self.client.notify(&self.chat_id);
    }

    async fn connect(&mut self, req: wire::OutRequest) {
        let prepared = (|| {
            let token = self.client.token(&self.chat_id)?;
            let base = self.client.base_url(Endpoint::Out, &self.chat_id)?;
            let signal = self.ctl.connection_signal()?;
            Ok::<_, Fail>((token, base, signal))
        })();
        let (token, base, signal) = match prepared {
            Ok(p) => p,
            Err(f) => {
                let e = self.keep(f);
                if let Source::Session(sub) = &mut self.source {
                    sub.handle_token_error(e);
                }
                return;
            }
        };
        let url = wire::session_url(&base, &self.chat_id, Endpoint::Out);
        let headers = wire::out_headers(&self.client.opts.headers, &token, &req);
        let ctx = endpoint_ctx(Endpoint::Out, &self.chat_id);
        let request = Request {
            url: &url,
            method: None,
            headers: &headers,
            body: None,
            signal: Some(&signal),
        };
        self.conn_signal = Some(signal.clone());
        let fetch_override = self.client.opts.fetch.borrow().clone();
        let result = fetch::send(fetch_override.as_ref(), Some(&ctx), &request).await;
        let result = match result {
            Err(Fail::Js(v)) => Err(Fail::Core(self.keep(Fail::Js(v)))),
            other => other,
        };
        let Source::Session(sub) = &mut self.source else {
            return;
        };
        match result {
            Ok(resp) => {
                let status = fetch::status(&resp);
                let settled = sys::header_of(&resp, "X-Session-Settled").as_deref() == Some("true");
                sub.handle_response(status, settled);
                if (200..300).contains(&status) && !self.connected {
                    self.connected = true;
                    if self.client.wants_events() {
                        let (_, message_id) = self.client.since_send(&self.chat_id);
                        self.client.emit(
                            Event::new("stream-connected", &self.chat_id)
                                .with("resumed", self.resumed)
                                .with_opt("lastEventId", req.last_event_id.clone())
                                .with_opt("messageId", message_id),
                        );
                    }
                }
                if (200..300).contains(&status) {
                    self.body = Body::of(&resp);
                    if self.body.is_none() {
                        sub.handle_network_error("the stream response has no body");
                    }
                }
            }
            Err(Fail::Core(Error::Aborted)) if self.ctl.aborted() => sub.handle_abort(),
            Err(Fail::Core(Error::Aborted)) if self.ctl.take_wake() => sub.handle_reconnect_now(),
            Err(Fail::Core(Error::Aborted)) => sub.handle_network_error("the request was aborted"),
            Err(Fail::Core(e @ Error::Callback(_))) => sub.handle_token_error(e),
            Err(Fail::Core(e)) => sub.handle_network_error(&e.message()),
            Err(Fail::Js(_)) => {}
        }
    }

    async fn read(&mut self) {
        let Some(body) = &mut self.body else {
            if let Source::Session(sub) = &mut self.source {
                sub.handle_network_error("the connection is gone");
            }
            return;
        };
        let signal = self
            .conn_signal
            .clone()
            .unwrap_or_else(|| self.ctl.signal());
        let r = body.read(&mut self.scratch, STALL_MS, &signal).await;
        let aborted = self.ctl.aborted();
        let Source::Session(sub) = &mut self.source else {
            return;
        };
        match r {
            Ok(Read::Bytes) => {
                let skipping = sub.skip_to_turn_complete();
                // A decode error fails the subscription; the next poll reports it.
                let _ = sub.handle_bytes(&self.scratch);
                // The chat's stored cursor moves only at turn boundaries (see
                // `apply`); the subscription keeps its own for reconnects. The
                // skip mark is stored when it changes, not on every read.
                let skip = sub.skip_to_turn_complete();
                if skip != skipping {
                    self.client
                        .update(&self.chat_id, |s| s.skip_to_turn_complete = skip);
                }
            }
            Ok(Read::Eof) => {
                self.body = None;
                sub.handle_eof();
            }
            Ok(Read::Stall) => {
                self.body = None;
                self.ctl.drop_connection();
                sub.handle_stall();
            }
            Ok(Read::Aborted) => {
                self.body = None;
                if aborted {
                    sub.handle_abort();
                } else if self.ctl.take_wake() {
                    sub.handle_reconnect_now();
                } else {
                    sub.handle_network_error("the connection was dropped");
                }
            }
            Err(e) => {
                self.body = None;
                if aborted {
                    sub.handle_abort();
                } else if self.ctl.take_wake() {
                    sub.handle_reconnect_now();
                } else if is_abort(&e) {
                    sub.handle_network_error("the connection was aborted");
                } else {
                    sub.handle_network_error(&describe(&e));
                }
            }
        }
    }

    async fn next_head_start(&mut self) -> Result<Option<JsValue>, Fail> {
        loop {
            let Source::HeadStart { sse, out, ended } = &mut self.source else {
                return Ok(None);
            };
            if self.ctl.aborted() || *ended {
                self.close_head_start();
                return Ok(None);
            }
            while let Some(ev) = sse.poll_event()? {
                match decode_ui_stream_event(&ev.data)? {
                    UiStreamEvent::Chunk(c) => {
                        out.push(if out.is_empty() { '[' } else { ',' });
                        out.push_str(c);
                    }
                    UiStreamEvent::TurnComplete => {
                        self.client
                            .update(&self.chat_id, |s| s.is_streaming = Some(false));
                        self.client.notify(&self.chat_id);
                    }
                    UiStreamEvent::SessionState {
                        last_event_id: Some(id),
                    } => {
                        self.client
                            .update(&self.chat_id, |s| s.last_event_id = Some(id));
                        self.client.notify(&self.chat_id);
                    }
                    UiStreamEvent::SessionState { .. } | UiStreamEvent::Skip => {}
                }
            }
            if !out.is_empty() {
                out.push(']');
                let json = core::mem::take(out);
                return parse_chunks(&json).map(Some);
            }
            let Some(body) = &mut self.body else {
                *ended = true;
                continue;
            };
            match body
                .read(&mut self.scratch, STALL_MS, &self.ctl.signal())
                .await
            {
                Ok(Read::Bytes) => sse.handle_bytes(&self.scratch)?,
                Ok(Read::Eof) => {
                    sse.handle_eof();
                    self.body = None;
                }
                Ok(Read::Stall) => {
                    self.close_head_start();
                    return Err(Error::TimedOut("the headStart route's stream").into());
                }
                Ok(Read::Aborted) => {
                    self.close_head_start();
                    return Ok(None);
                }
                Err(e) if self.ctl.aborted() || is_abort(&e) => {
                    self.close_head_start();
                    return Ok(None);
                }
                Err(e) => {
                    self.close_head_start();
                    return Err(Error::Network(describe(&e)).into());
                }
            }
        }
    }

    fn close_head_start(&mut self) {
        // However the first turn ended, it is not streaming any more.
        let mut changed = false;
        self.client.update(&self.chat_id, |s| {
            changed = s.is_streaming == Some(true);
            s.is_streaming = Some(false);
        });
        if changed {
            self.client.notify(&self.chat_id);
        }
        self.close();
    }

    /// Releases the connection and the chat's active-stream slot.
    pub fn close(&mut self) {
        self.body = None;
        self.client.unregister_stream(&self.chat_id, &self.ctl);
        self._hook = None;
        self._wake = None;
    }
}

impl Drop for Runner {
    fn drop(&mut self) {
        self.close();
    }
}

fn parse_chunks(json: &str) -> Result<JsValue, Fail> {
    js_sys::JSON::parse(json)
        .map_err(|_| Error::Decode("the chunks of a batch do not form valid JSON".into()).into())
}
