//! Streams: reading the chat's `.out` (connect, read, reconnect with the
//! cursor, refresh the token, give up after the budget), what a stream
//! reports to the chat as it reads (turn ends, closes, tokens, the cursor
//! the app persists) and when a stream is over.

use super::*;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum StreamPhase {
    Idle,
    Connecting,
    Reading,
    Sleeping,
    Refreshing,
}

#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub(super) enum Feed {
    Session(Box<Subscription>),
    HeadStart {
        /// The route's URL and the body to post, until the post goes out.
        post: Option<(String, String)>,
        /// For the send's events: the body's size, when the send began.
        body_bytes: usize,
        started_at: u64,
        sse: SseDecoder,
        out: String,
        ended: bool,
        message_id: Option<String>,
    },
}

#[derive(Debug)]
pub(super) struct StreamOp {
    pub(super) feed: Feed,
    pub(super) phase: StreamPhase,
    pub(super) stop_on_abort: bool,
    pub(super) resumed: bool,
    /// `stream-connected` was reported.
    pub(super) connected: bool,
    /// The next chunk is the first of a turn (for `first-chunk`).
    pub(super) turn_fresh: bool,
    /// A wake event asked to reconnect at once.
    pub(super) woken: bool,
    /// The cursor the first connection asked from.
    pub(super) first_cursor: Option<String>,
    /// The chat's gate (its arming count) this stream was opened with.
    pub(super) gate_epoch: u32,
    /// The `.in` seq of the send this stream answers, when known.
    pub(super) since: Option<u64>,
    /// Transient rejections of the token refresh retried in a row.
    pub(super) blips: u32,
    /// The refresh is tried again after this wait.
    pub(super) token_retry: Option<u64>,
    /// A reply this stream is to show has not ended yet: its send's, or
    /// the one in flight when it resumed.
    pub(super) awaits_reply: bool,
    /// Since when its connections fail while the browser is offline (they
    /// wait for the network, uncounted, up to `offlineSendTimeoutMs`).
    pub(super) offline_since: Option<u64>,
    /// The next connection waits for the browser to be online.
    pub(super) wait_online: bool,
    /// The chat's session remakes when it opened ([`Chat::resets`]): once
    /// the session is made again, what it still reads of the old one
    /// changes nothing of the new one's state.
    pub(super) resets: u32,
    /// Session changes it had read of the old session, still queued when
    /// it restarted on the new one: applied as stale.
    pub(super) stale_events: usize,
}

impl Engine {
    /// `reconnectToStream`: the stream of the chat's reply in flight, or
    /// `None` when there is nothing to resume.
    pub fn reconnect(&mut self, chat_id: &str, stop_on_abort: bool) -> Option<OpId> {
        let watch = self.cfg.watch;
        let chat = self.chat(chat_id)?;
        let state = chat.state.as_ref()?;
        // A closed session has no turn to resume; neither has an idle one
        // (a watcher waits for the next turn, though), nor one whose gate
        // still waits for a stopped turn's end.
        let idle = state.is_streaming == Some(false) && !watch;
        if state.closed || idle || chat.active.is_some() {
            return None;
        }
        // A send after the stop is in flight, though: its stream reads
        // past the gate to its own reply.
        if state.skip_to_turn_complete && !watch && state.active_input_seq.is_none() {
            mark!("reconnect-refused-behind-gate");
            return None;
        }
        let since = state.active_input_seq;
        // The gate may be for a turn after the one resumed (stored with
        // it: the resume does not take its own boundary as the gate's).
        let gate_after = state.gate_after_active && state.skip_to_turn_complete;
        Some(self.open_stream(chat_id, true, since, stop_on_abort, gate_after))
    }

    pub(super) fn open_stream(
        &mut self,
        chat_id: &str,
        resumed: bool,
        since_in_seq: Option<u64>,
        stop_on_abort: bool,
        gate_after_send: bool,
    ) -> OpId {
        let seed = self.next_random();
        let watch = self.cfg.watch;
        let timeout_seconds = self.cfg.timeout_seconds;
        // What the stream needs of the chat's state (no copy of the rest).
        let (cursor, skip_to_turn_complete, superseded_input_seq, in_flight) =
            match self.session(chat_id) {
                Some(s) => (
                    s.last_event_id.clone(),
                    s.skip_to_turn_complete,
                    s.superseded_input_seq,
                    s.is_streaming == Some(true) || s.active_input_seq.is_some(),
                ),
                None => (None, false, None, false),
            };
        let stop_seq = self
            .chat(chat_id)
            .and_then(|c| c.stop_seq.filter(|&(e, _)| e == c.gate_epoch))
            .map(|(_, q)| q);
        let sub = Subscription::new(SubscriptionConfig {
            watch,
            // A watcher waits through settled stretches, and a send in
            // flight may not have written yet: no peek then.
            peek_settled: resumed && !watch && since_in_seq.is_none(),
            timeout_seconds,
            cursor: cursor.clone(),
            skip_to_turn_complete,
            superseded_input_seq,
            since_in_seq,
            gate_after_send,
            stop_seq,
            seed,
        });
        let awaits_reply = !resumed || in_flight;
        let feed = Feed::Session(Box::new(sub));
        let id = self.open_feed(
            chat_id,
            feed,
            (resumed, stop_on_abort, awaits_reply),
            since_in_seq,
            cursor,
        );
        self.supersede(chat_id, id);
        id
    }

    /// A stream operation reading `feed`, not yet connected.
    pub(super) fn open_feed(
        &mut self,
        chat_id: &str,
        feed: Feed,
        (resumed, stop_on_abort, awaits_reply): (bool, bool, bool),
        since: Option<u64>,
        first_cursor: Option<String>,
    ) -> OpId {
        let (gate_epoch, resets) = self
            .chat(chat_id)
            .map_or((0, 0), |c| (c.gate_epoch, c.resets));
        self.open(
            chat_id,
            Kind::Stream(StreamOp {
                feed,
                phase: StreamPhase::Idle,
                stop_on_abort,
                resumed,
                connected: false,
                turn_fresh: true,
                woken: false,
                awaits_reply,
                first_cursor,
                gate_epoch,
                since,
                blips: 0,
                token_retry: None,
                offline_since: None,
                wait_online: false,
                resets,
                stale_events: 0,
            }),
        )
    }

    pub(super) fn poll_stream(&mut self, id: OpId, op: &mut Op) -> Effect {
        if let Some(r) = op.result.take() {
            return Effect::Done(r);
        }
        let chat_id = op.chat.clone();
        let Kind::Stream(st) = &mut op.kind else {
            return mismatch();
        };
        if let Feed::HeadStart { .. } = st.feed {
            return self.poll_head_start(id, &chat_id, st);
        }
        let Feed::Session(sub) = &mut st.feed else {
            return mismatch();
        };
        // Chunks first, then the session changes that followed them (a
        // turn-complete is reported after the turn's chunks went out).
        if let Some((json, _)) = sub.take_chunks() {
            // A stream resumed without knowing whether a turn is in flight
            // (a session hydrated without `isStreaming`, as the vendor's
            // documented persistence stores it) that reads one: the turn is
            // outstanding, for a Stop's gate and for a reload.
            if sub.in_turn() {
                if let Some(s) = self.state_mut(&chat_id) {
                    if s.is_streaming.is_none() {
                        s.is_streaming = Some(true);
                        self.changed(&chat_id);
                    }
                }
            }
            let cursor = sub.cursor();
            if !st.connected {
                st.connected = true;
                let message_id = self.last_message_id(&chat_id);
                let ev = Event::new("stream-connected", &chat_id)
                    .raw("resumed", if st.resumed { "true" } else { "false" })
                    .str("lastEventId", st.first_cursor.as_deref())
                    .str("messageId", message_id.as_deref());
                self.emit(ev);
            }
            if core::mem::replace(&mut st.turn_fresh, false) {
                self.first_chunk(&chat_id, &json, cursor.as_deref());
            }
            return Effect::Chunks(json);
        }
        let events: Vec<SessionEvent> = core::iter::from_fn(|| sub.poll_event()).collect();
        let stale = self.chat(&chat_id).is_some_and(|c| c.resets != st.resets);
        let old = core::mem::take(&mut st.stale_events);
        for (i, ev) in events.into_iter().enumerate() {
            let stale = stale || i < old;
            if matches!(ev, SessionEvent::TurnComplete { .. }) {
                st.turn_fresh = true;
                st.awaits_reply = false;
            }
            if let SessionEvent::GateOpened { cursor, .. } = &ev {
                let epoch = self.chat(&chat_id).map_or(0, |c| c.gate_epoch);
                if epoch != st.gate_epoch {
                    mark!("gate-opened-by-older-stream");
                    // The gate was armed again after this stream opened:
                    // the newer one stays (its turn is still to end).
                    self.update(&chat_id, |s| {
                        s.advance_cursor(cursor);
                    });
                    continue;
                }
            }
            // The turn's observers (`turn-completed`) go first; an abort
            // or dispose they do still cancels the settlement after them.
            let settles = match &ev {
                SessionEvent::TurnComplete {
                    cursor,
                    in_event_id: Some(a),
                    in_event_text,
                    ..
                } => Some((*a, in_event_text.clone(), cursor.clone())),
                _ => None,
            };
            self.apply(&chat_id, ev, stale);
            if let Some((a, text, cursor)) = settles {
                self.settle(id, a, text, &cursor);
            }
        }
        if let Some(ms) = st.token_retry.take() {
            // A token refresh that blipped: the same refresh after the wait.
            st.phase = StreamPhase::Sleeping;
            return Effect::Sleep { ms };
        }
        let Feed::Session(sub) = &mut st.feed else {
            return mismatch();
        };
        if core::mem::take(&mut st.wait_online) && !sub.is_over() {
            st.phase = StreamPhase::Sleeping;
            let waited = self
                .now
                .saturating_sub(st.offline_since.unwrap_or(self.now));
            return Effect::WaitOnline {
                ms: self.offline_wait_ms.saturating_sub(waited).min(0x7fff_ffff),
            };
        }
        match sub.poll_action() {
            Action::Connect(req) => {
                let token = self
                    .session(&chat_id)
                    .map(|s| s.public_access_token.clone())
                    .unwrap_or_default();
                st.phase = StreamPhase::Connecting;
                Effect::Connect {
                    headers: wire::out_headers(&self.cfg.headers, &token, &req),
                    chat_id,
                    req,
                }
            }
            Action::Read => {
                st.phase = StreamPhase::Reading;
                Effect::Read { stall_ms: STALL_MS }
            }
            Action::Sleep(ms) => {
                st.phase = StreamPhase::Sleeping;
                Effect::Sleep { ms }
            }
            Action::RefreshToken => {
                st.phase = StreamPhase::Refreshing;
                Effect::CallAccessToken { chat_id }
            }
            Action::Finish => Effect::Done(Ok(Done::Closed)),
            Action::Fail(e) => {
                // A reload must not reopen a doomed subscription.
                let streaming = self
                    .session(&chat_id)
                    .is_some_and(|s| s.is_streaming == Some(true) || s.active_input_seq.is_some());
                // The server's definitive refusal (the token is refused
                // even fresh, the session is gone): a reload would meet it
                // again. A failing callback or network may well work after
                // a reload, so the reply stays resumable then.
                let definitive = matches!(
                    e,
                    Error::Http {
                        status: 401 | 403 | 404,
                        ..
                    }
                );
                // Only the stream of the send in flight (or of no known
                // send) speaks for it: one that answered an earlier send
                // leaves a later reply resumable.
                let active = self.session(&chat_id).and_then(|s| s.active_input_seq);
                let answers_active = match (st.since, active) {
                    (Some(mine), Some(a)) => mine >= a,
                    _ => true,
                };
                if streaming && definitive && answers_active {
                    mark!("reply-refused-for-good");
                    // Not resumed, but still outstanding at the agent: a
                    // stop gates it (the seq stays).
                    self.update(&chat_id, |s| s.is_streaming = Some(false));
                }
                let ev = Event::new("stream-error", &chat_id).error(&e, id);
                self.emit(ev);
                Effect::Done(Err(e))
            }
        }
    }

    pub(super) fn handle_stream(&mut self, op: &mut Op, outcome: Outcome<'_>) {
        let chat_id = op.chat.clone();
        let aborted = op.aborted;
        let Kind::Stream(st) = &mut op.kind else {
            return;
        };
        let phase = core::mem::replace(&mut st.phase, StreamPhase::Idle);
        let woken = core::mem::take(&mut st.woken);
        if let Feed::HeadStart { .. } = st.feed {
            if let Some(r) = self.handle_head_start(&chat_id, st, outcome) {
                op.result = Some(r);
            }
            return;
        }
        let Feed::Session(sub) = &mut st.feed else {
            return;
        };
        if aborted {
            sub.handle_abort();
            return;
        }
        match (phase, outcome) {
            (_, Outcome::Interrupted) if woken => {
                mark!("stream-woken-reconnects");
                sub.handle_reconnect_now()
            }
            (_, Outcome::Interrupted) => sub.handle_network_error("the connection was dropped"),
            (StreamPhase::Connecting, Outcome::Connected { status, settled }) => {
                if (200..300).contains(&status) {
                    st.offline_since = None;
                }
                sub.handle_response(status, settled);
            }
            (StreamPhase::Reading, Outcome::Bytes(b)) => {
                // A decode error fails the subscription; the next poll
                // reports it.
                let _ = sub.handle_bytes(b);
            }
            (StreamPhase::Reading, Outcome::Eof) => sub.handle_eof(),
            (StreamPhase::Reading, Outcome::Stall) => sub.handle_stall(),
            (StreamPhase::Sleeping, Outcome::Slept) => {}
            (StreamPhase::Refreshing, Outcome::Transient(e)) => {
                match self.blip_delay(&mut st.blips) {
                    Some(ms) => {
                        mark!("stream-token-blip-retried");
                        st.token_retry = Some(ms);
                    }
                    None => sub.handle_token_error(e),
                }
            }
            (StreamPhase::Refreshing, Outcome::Token(Some(t))) if !t.is_empty() => {
                st.blips = 0;
                self.store_token(&chat_id, t);
                sub.handle_token_refreshed();
            }
            (StreamPhase::Refreshing, Outcome::Token(_)) => sub.handle_token_error(bad_token()),
            (_, Outcome::Failed(e @ (Error::Callback(_) | Error::Misuse(_))))
            | (_, Outcome::Transient(e)) => sub.handle_token_error(e),
            // `accessToken` never settled: reconnecting with the token that
            // was refused would only be refused again.
            (StreamPhase::Refreshing, Outcome::Failed(e)) => sub.handle_token_error(e),
            // Offline: the connection waits for the network instead of
            // spending the retry budget, up to `offlineSendTimeoutMs`.
            (_, Outcome::Failed(Error::Network(_)))
                if self.waits_offline()
                    && self
                        .now
                        .saturating_sub(*st.offline_since.get_or_insert(self.now))
                        < self.offline_wait_ms =>
            {
                mark!("stream-waits-online");
                st.wait_online = true;
                sub.handle_offline();
            }
            (_, Outcome::Failed(e)) => sub.handle_network_error(&e.message()),
            (_, _) => sub.handle_token_error(out_of_order()),
        }
    }

    /// Applies a session change from the stream and reports it. The stored
    /// cursor moves only here, at turn boundaries: what the app persists is
    /// always a place a later resume can replay a whole turn from.
    ///
    /// `stale`: the stream read it from a session since made again; only
    /// the turn's end is reported (the stream's own), nothing is applied.
    pub(super) fn apply(&mut self, chat_id: &str, ev: SessionEvent, stale: bool) {
        if stale && !matches!(ev, SessionEvent::TurnComplete { .. }) {
            mark!("event-of-a-remade-session-dropped");
            return;
        }
        match ev {
            SessionEvent::TurnComplete {
                token,
                cursor,
                in_event_id,
                in_event_text,
            } => {
                if let Some(b) = in_event_id.filter(|_| !stale) {
                    self.turn_ended(chat_id, b, None);
                }
                let chat = self.chat_mut(chat_id);
                if !stale {
                    chat.answered = chat.answered.max(in_event_id);
                }
                if let Some(s) = chat.state.as_mut().filter(|_| !stale) {
                    if let Some(t) = token {
                        s.public_access_token = t;
                    }
                    // The end of an earlier turn than the latest send's
                    // leaves that one outstanding.
                    let earlier = matches!(
                        (in_event_id, s.active_input_seq),
                        (Some(a), Some(b)) if a < b
                    );
                    if !earlier {
                        s.is_streaming = Some(false);
                        s.active_input_seq = None;
                    } else {
                        mark!("turn-complete-of-an-earlier-send");
                    }
                    // A stream opened before the gate read past the
                    // stopped turn's end (this boundary answered its seq):
                    // the cursor moves past it, so the gate would wait for
                    // it for ever (seed 609148681).
                    let passed = matches!(
                        (in_event_id, s.superseded_input_seq),
                        (Some(a), Some(q)) if a >= q
                    );
                    if s.skip_to_turn_complete && passed {
                        mark!("gate-passed-by-older-stream");
                        s.clear_gate();
                    }
                    s.advance_cursor(&cursor);
                }
                let (since, message_id) = self.since_send(chat_id);
                let ev = Event::new("turn-completed", chat_id)
                    .text("lastEventId", &cursor)
                    .str("sessionInEventId", in_event_text.as_deref())
                    .str("messageId", message_id.as_deref())
                    .num("sinceSendMs", since);
                self.emit(ev);
                if !stale {
                    self.changed(chat_id);
                }
            }
            SessionEvent::Settled | SessionEvent::Abandoned => {
                self.update(chat_id, |s| {
                    s.is_streaming = Some(false);
                    s.active_input_seq = None;
                });
            }
            SessionEvent::GateOpened {
                cursor,
                in_event_id,
            } => {
                // The stopped turn: cut as the user asked, nothing to show
                // again.
                if let Some(b) = in_event_id {
                    self.turn_ended(chat_id, b, None);
                }
                let chat = self.chat_mut(chat_id);
                if let Some(s) = chat.state.as_mut() {
                    // The stopped turn's boundary answered its seq and every
                    // one before: a send of those resolving late has nothing
                    // left to stream.
                    chat.answered = chat.answered.max(s.superseded_input_seq).max(in_event_id);
                    // A send that resolved after the gate was armed, and
                    // that this boundary answered too, is not outstanding
                    // any more: its reply went by behind the gate (seed
                    // 8854009: aborting its stream later must not gate and
                    // stop the next reply).
                    if matches!((s.active_input_seq, in_event_id), (Some(a), Some(b)) if a <= b) {
                        mark!("gate-boundary-answers-reply-in-flight");
                        s.is_streaming = Some(false);
                        s.active_input_seq = None;
                    }
                    s.clear_gate();
                    s.advance_cursor(&cursor);
                }
                self.changed(chat_id);
            }
            SessionEvent::TurnSkipped { seq, from } => {
                self.turn_ended(chat_id, seq, Some(from));
            }
            SessionEvent::PendingVersion => {
                let ev = Event::new("run-pending-version", chat_id).text("source", "upgrade");
                self.emit(ev);
            }
            SessionEvent::Closed { reason } => self.mark_closed(chat_id, reason, "stream"),
        }
    }

    /// `first-chunk`: the first chunks of a turn, `json`, go to the app.
    pub(super) fn first_chunk(&mut self, chat_id: &str, json: &str, cursor: Option<&str>) {
        let (since, message_id) = self.since_send(chat_id);
        let ev = Event::new("first-chunk", chat_id)
            .str("chunkType", first_chunk_type(json).as_deref())
            .str("lastEventId", cursor)
            .str("messageId", message_id.as_deref())
            .num("sinceSendMs", since);
        self.emit(ev);
    }

    pub(super) fn since_send(&self, chat_id: &str) -> (Option<u64>, Option<String>) {
        match self.chat(chat_id).and_then(|c| c.last_send.as_ref()) {
            Some((at, id)) => (Some(self.now.saturating_sub(*at)), id.clone()),
            None => (None, None),
        }
    }

    pub(super) fn last_message_id(&self, chat_id: &str) -> Option<String> {
        self.chat(chat_id)
            .and_then(|c| c.last_send.as_ref())
            .and_then(|(_, id)| id.clone())
    }
}

/// The `type` of the first chunk in a JSON array of chunks.
fn first_chunk_type(json: &str) -> Option<String> {
    let mut r = crate::json::Reader::new(json);
    let mut first = None;
    let _ = r.array(|item| {
        let v = item.value()?;
        if first.is_none() {
            first = Some(v);
        }
        Ok(())
    });
    crate::json::string_field(first?, "type").map(|s| s.into_owned())
}
