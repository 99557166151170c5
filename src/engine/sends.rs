//! Sends: a record appended to the chat's `.in` (a message, a stop, an
//! action, a steering message), with the session started first if there is
//! none, the token refreshed on a 401, 429 and 5xx retried with the same
//! `X-Part-Id`, a 404 answered by making the session again, and what the
//! send resolves to once the append is through (a stream, a bool, the
//! session).

use super::*;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Then {
    /// `start()`: resolve to the session.
    Session,
    /// Stream the reply (a turn-starting send).
    Stream { stop_on_abort: bool },
    /// Resolve to whether it went through (`steer`).
    Bool,
    /// `stopGeneration`: gate the stopped turn, resolve to a bool.
    Stop,
    /// Fire and forget (the stop an abort sends).
    Detached,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum SendPhase {
    Init,
    /// Waiting for another operation's start of the session.
    Parked,
    /// Call `startSession` / `accessToken` to start the session.
    Start,
    Token,
    Starting,
    Tokening,
    Append,
    Appending,
    Backoff(u64),
    Sleeping,
    /// A 401/403: a fresh token first.
    Refresh,
    Refreshing,
    /// A 404: the session again first (with the chat's reset count then).
    Recreate(u32),
    Recreating(u32),
}

#[derive(Debug)]
pub(super) struct SendOp {
    pub(super) body: Option<String>,
    pub(super) source: Source,
    pub(super) message_id: Option<String>,
    pub(super) then: Then,
    pub(super) phase: SendPhase,
    pub(super) part_id: String,
    pub(super) attempts: u32,
    pub(super) backoff: Backoff,
    /// The token this send's refresh got, once it refreshed.
    pub(super) refreshed: Option<String>,
    pub(super) recreated: bool,
    /// An attempt may have reached the server (in flight, or it failed in
    /// a way that does not say).
    pub(super) maybe_landed: bool,
    pub(super) started_at: u64,
    /// The last retryable failure, reported if the attempts run out.
    pub(super) last_error: Option<Error>,
    /// The chat's gate arming count when this send began.
    pub(super) gate_epoch: u32,
    /// The chat's session remakes when this send began ([`Chat::resets`]).
    pub(super) resets: u32,
    /// Transient callback rejections retried in a row.
    pub(super) blips: u32,
    /// What a wait (`Sleeping`) goes back to.
    pub(super) after_sleep: SendPhase,
    /// Since when it has waited for the browser to come back online.
    pub(super) offline_since: Option<u64>,
}

impl Engine {
    pub(super) fn send_op(
        &mut self,
        chat_id: &str,
        body: Option<String>,
        source: Source,
        message_id: Option<String>,
        then: Then,
    ) -> OpId {
        let part_id = self.part_id();
        let seed = self.next_random();
        let mut backoff = Backoff::new(seed);
        backoff.max_attempts = APPEND_ATTEMPTS - 1;
        let now = self.now;
        let (gate_epoch, resets) = self
            .chat(chat_id)
            .map_or((0, 0), |c| (c.gate_epoch, c.resets));
        let id = self.open(
            chat_id,
            Kind::Send(SendOp {
                body,
                source,
                message_id,
                then,
                phase: SendPhase::Init,
                part_id,
                attempts: 0,
                backoff,
                refreshed: None,
                recreated: false,
                maybe_landed: false,
                started_at: now,
                last_error: None,
                gate_epoch,
                resets,
                blips: 0,
                after_sleep: SendPhase::Append,
                offline_since: None,
            }),
        );
        if matches!(then, Then::Stop | Then::Detached) {
            self.chat_mut(chat_id).stops.push(id);
        }
        id
    }

    /// `start()` / `preload()`: the chat's session, started through
    /// `startSession` when there is none (concurrent starts share one call).
    pub fn start(&mut self, chat_id: &str) -> OpId {
        self.send_op(chat_id, None, Source::Submit, None, Then::Session)
    }

    /// Appends `body` (a `ChatInputChunk`) to the chat's `.in`, starting the
    /// session first if needed. A turn-starting source resolves to the
    /// stream of its reply ([`Done::Stream`]); `Steer` and `Stop` resolve
    /// to whether they went through.
    pub fn send(
        &mut self,
        chat_id: &str,
        body: String,
        source: Source,
        message_id: Option<String>,
        stop_on_abort: bool,
    ) -> OpId {
        let then = match source {
            Source::Steer => Then::Bool,
            Source::Stop => Then::Stop,
            _ => Then::Stream { stop_on_abort },
        };
        self.send_op(chat_id, Some(body), source, message_id, then)
    }

    pub(super) fn poll_send(&mut self, id: OpId, op: &mut Op) -> Effect {
        if let Some(r) = op.result.take() {
            return Effect::Done(r);
        }
        let chat_id = op.chat.clone();
        let Kind::Send(s) = &mut op.kind else {
            return mismatch();
        };
        loop {
            if matches!(
                s.phase,
                SendPhase::Start
                    | SendPhase::Token
                    | SendPhase::Refresh
                    | SendPhase::Recreate(_)
                    | SendPhase::Append
            ) {
                if let Some(e) = self.offline_wait(id, s, &chat_id) {
                    return e;
                }
            }
            match s.phase {
                SendPhase::Init | SendPhase::Parked => {
                    if let Some(e) = self.closed_error(&chat_id) {
                        if s.then == Then::Session {
                            return Effect::Done(Ok(self.session_done(&chat_id)));
                        }
                        return self.send_failed(s, e);
                    }
                    if matches!(s.then, Then::Stream { .. }) {
                        let chat = self.chat_mut(&chat_id);
                        if !chat.stops.is_empty() {
                            // A stop is on its way: it lands first.
                            mark!("send-waits-for-stop");
                            chat.parked.push(id);
                            s.phase = SendPhase::Parked;
                            return Effect::Park;
                        }
                    }
                    let has_token = self
                        .session(&chat_id)
                        .is_some_and(|st| !st.public_access_token.is_empty());
                    if has_token {
                        if s.then == Then::Session {
                            return Effect::Done(Ok(self.session_done(&chat_id)));
                        }
                        s.phase = SendPhase::Append;
                        continue;
                    }
                    if matches!(s.then, Then::Bool | Then::Stop | Then::Detached) {
                        // Steering and stopping need a session already.
                        return Effect::Done(Ok(Done::Bool(false)));
                    }
                    let has_start = self.cfg.has_start_session;
                    if matches!(s.then, Then::Session) && !has_start {
                        return Effect::Done(Err(no_start_session()));
                    }
                    let chat = self.chat_mut(&chat_id);
                    match chat.starting {
                        Some(other) if other != id => {
                            chat.parked.push(id);
                            s.phase = SendPhase::Parked;
                            return Effect::Park;
                        }
                        _ => chat.starting = Some(id),
                    }
                    s.phase = if has_start {
                        SendPhase::Start
                    } else {
                        SendPhase::Token
                    };
                }
                SendPhase::Start => {
                    s.phase = SendPhase::Starting;
                    return Effect::CallStartSession { chat_id };
                }
                SendPhase::Token => {
                    s.phase = SendPhase::Tokening;
                    return Effect::CallAccessToken { chat_id };
                }
                SendPhase::Append => {
                    let Some(body) = s.body.clone() else {
                        return Effect::Done(Err(Error::Misuse("nothing to append".into())));
                    };
                    let token = self
                        .session(&chat_id)
                        .map(|st| st.public_access_token.clone())
                        .unwrap_or_default();
                    s.phase = SendPhase::Appending;
                    return Effect::Append {
                        chat_id,
                        headers: wire::append_headers(&self.cfg.headers, &token, &s.part_id),
                        body,
                    };
                }
                SendPhase::Backoff(ms) => {
                    s.phase = SendPhase::Sleeping;
                    return Effect::Sleep { ms };
                }
                SendPhase::Refresh => {
                    s.phase = SendPhase::Refreshing;
                    return Effect::CallAccessToken { chat_id };
                }
                SendPhase::Recreate(n) => {
                    s.phase = SendPhase::Recreating(n);
                    return Effect::CallStartSession { chat_id };
                }
                SendPhase::Starting
                | SendPhase::Tokening
                | SendPhase::Appending
                | SendPhase::Sleeping
                | SendPhase::Refreshing
                | SendPhase::Recreating(_) => {
                    return Effect::Done(Err(out_of_order()));
                }
            }
        }
    }

    pub(super) fn handle_send(&mut self, id: OpId, op: &mut Op, outcome: Outcome<'_>) {
        let chat_id = op.chat.clone();
        let aborted = op.aborted;
        let Kind::Send(s) = &mut op.kind else {
            return;
        };
        if aborted {
            return;
        }
        let r = match (s.phase, outcome) {
            (SendPhase::Parked, _) => {
                s.phase = SendPhase::Init;
                None
            }
            (
                SendPhase::Starting | SendPhase::Recreating(_),
                Outcome::Started {
                    token,
                    pending_version,
                },
            ) => {
                let recreating = match s.phase {
                    SendPhase::Recreating(n) => Some(n),
                    _ => None,
                };
                s.blips = 0;
                self.forget_start(&chat_id, id);
                if pending_version {
                    self.emit(Event::new("run-pending-version", &chat_id).text("source", "start"));
                }
                match token.filter(|t| !t.is_empty()) {
                    Some(t) => {
                        let state = SessionState {
                            public_access_token: t.to_owned(),
                            is_streaming: Some(false),
                            ..SessionState::default()
                        };
                        match recreating {
                            Some(n) if self.chat(&chat_id).is_some_and(|c| c.resets == n) => {
                                // The session is new (its cursor too).
                                let chat = self.chat_mut(&chat_id);
                                chat.resets = chat.resets.wrapping_add(1);
                                chat.take_session(state);
                                self.changed(&chat_id);
                                self.session_remade(&chat_id);
                            }
                            // Another send made it again meanwhile (and may
                            // have read from it): only the token is news.
                            Some(_) => {
                                mark!("session-remade-by-another-send");
                                self.store_token(&chat_id, t)
                            }
                            None => self.set_session(&chat_id, state),
                        }
                        s.phase = if recreating.is_some() {
                            SendPhase::Append
                        } else {
                            SendPhase::Init
                        };
                        None
                    }
                    None => Some(Error::Callback(
                        "TriggerChatTransport: `startSession` must resolve to { publicAccessToken: string }".into(),
                    )),
                }
            }
            (SendPhase::Tokening | SendPhase::Refreshing, Outcome::Token(token)) => {
                let refreshing = matches!(s.phase, SendPhase::Refreshing);
                s.blips = 0;
                self.forget_start(&chat_id, id);
                match token.filter(|t| !t.is_empty()) {
                    Some(t) => {
                        self.store_token(&chat_id, t);
                        if refreshing {
                            s.refreshed = Some(t.to_owned());
                        }
                        s.phase = if refreshing {
                            SendPhase::Append
                        } else {
                            SendPhase::Init
                        };
                        None
                    }
                    None => Some(bad_token()),
                }
            }
            (
                SendPhase::Appending,
                Outcome::Response {
                    status,
                    body,
                    ratelimit_reset,
                    retry_after,
                },
            ) => {
                if (200..300).contains(&status) {
                    let seq = wire::appended_seq(body);
                    if wire::pending_version(body) {
                        self.emit(
                            Event::new("run-pending-version", &chat_id).text("source", "send"),
                        );
                    }
                    let s = core::mem::replace(s, placeholder_send());
                    let r = self.appended(id, &chat_id, s, seq);
                    op.result = Some(r);
                    return;
                }
                s.maybe_landed |= status >= 500;
                let err = Error::Http {
                    op: "append",
                    status,
                    body: truncate(body.trim_ascii(), 200),
                };
                if status == 409 {
                    if let Some(reason) = wire::closed_refusal(body) {
                        self.mark_closed(&chat_id, reason.clone(), "append");
                        op.result = Some(Err(self.report_failure(
                            s,
                            &chat_id,
                            Error::SessionClosed {
                                chat_id: chat_id.clone(),
                                reason,
                            },
                            id,
                        )));
                        return;
                    }
                }
                if status == 401 || status == 403 {
                    // Refused again with the token this send's refresh got:
                    // final. A token that replaced it since (one a
                    // turn-complete carried, say) earns a refresh of its own.
                    let current = self.session(&chat_id).map(|st| &st.public_access_token);
                    if s.refreshed.is_some() && s.refreshed.as_ref() == current {
                        mark!("append-refused-after-refresh");
                        Some(err)
                    } else {
                        s.refreshed = Some(String::new());
                        s.phase = SendPhase::Refresh;
                        None
                    }
                } else if status == 404 {
                    // Only a turn-starting send makes the session again: a
                    // stop or a steer has nothing to act on in a new one
                    // (and must not reset the state a concurrent send set).
                    let starts = matches!(s.then, Then::Stream { .. });
                    if s.recreated || !self.cfg.has_start_session || !starts {
                        Some(if self.cfg.has_start_session {
                            err
                        } else {
                            Error::Misuse(cat!(
                                "TriggerChatTransport: the session for chat ",
                                &chat_id,
                                " was not found (404) and there is no `startSession` to create it again"
                            ).into())
                        })
                    } else {
                        mark!("append-404-makes-session-again");
                        s.recreated = true;
                        s.phase = SendPhase::Recreate(self.chat(&chat_id).map_or(0, |c| c.resets));
                        None
                    }
                } else if crate::retry::status_is_retryable(status) {
                    let wait = if status == 429 {
                        rate_limit_wait_ms(ratelimit_reset, retry_after, self.now)
                    } else {
                        None
                    };
                    if wait.is_some() {
                        mark!("append-429-waits-for-reset");
                    }
                    self.retry_append(s, err, wait)
                } else {
                    Some(err)
                }
            }
            (SendPhase::Appending, Outcome::Failed(e)) => {
                if matches!(e, Error::Network(_) | Error::TimedOut(_)) {
                    s.maybe_landed = true;
                    if self.waits_offline() {
                        // The browser went offline: the same append (same
                        // part id) once it is back, no attempt counted.
                        mark!("append-failed-offline-waits");
                        s.last_error = Some(e);
                        s.phase = SendPhase::Append;
                        None
                    } else {
                        self.retry_append(s, e, None)
                    }
                } else {
                    Some(e)
                }
            }
            (SendPhase::Sleeping, Outcome::Slept) => {
                s.phase = core::mem::replace(&mut s.after_sleep, SendPhase::Append);
                None
            }
            (
                SendPhase::Starting
                | SendPhase::Recreating(_)
                | SendPhase::Tokening
                | SendPhase::Refreshing,
                Outcome::Transient(e),
            ) => {
                let again = match s.phase {
                    SendPhase::Starting => SendPhase::Start,
                    SendPhase::Tokening => SendPhase::Token,
                    SendPhase::Recreating(n) => SendPhase::Recreate(n),
                    _ => SendPhase::Refresh,
                };
                if self.waits_offline() {
                    // Offline: the call again once the browser is back.
                    s.phase = again;
                    None
                } else if let Some(ms) = self.blip_delay(&mut s.blips) {
                    mark!("callback-blip-retried");
                    s.after_sleep = again;
                    s.phase = SendPhase::Backoff(ms);
                    None
                } else {
                    mark!("callback-blips-exhausted");
                    self.forget_start(&chat_id, id);
                    Some(e)
                }
            }
            (
                SendPhase::Starting
                | SendPhase::Recreating(_)
                | SendPhase::Tokening
                | SendPhase::Refreshing,
                Outcome::Failed(e),
            ) => {
                self.forget_start(&chat_id, id);
                Some(e)
            }
            (_, Outcome::Interrupted) => Some(Error::Aborted),
            (_, _) => Some(out_of_order()),
        };
        if let Some(e) = r {
            let e = self.report_failure(s, &chat_id, e, id);
            op.result = Some(match s.then {
                // Steering and stopping say whether they went through.
                Then::Bool | Then::Stop | Then::Detached => Ok(Done::Bool(false)),
                _ => Err(e),
            });
        }
    }

    pub(super) fn retry_append(
        &mut self,
        s: &mut SendOp,
        err: Error,
        wait: Option<u64>,
    ) -> Option<Error> {
        s.attempts += 1;
        match s.backoff.next_delay() {
            Some(d) => {
                s.last_error = Some(err);
                s.phase = SendPhase::Backoff(wait.unwrap_or(d));
                None
            }
            None => {
                mark!("append-retries-exhausted");
                Some(err)
            }
        }
    }

    /// A send failed: `message-send-failed` for appends that were tried.
    pub(super) fn report_failure(
        &mut self,
        s: &SendOp,
        chat_id: &str,
        e: Error,
        id: OpId,
    ) -> Error {
        if !matches!(s.then, Then::Session) && s.body.is_some() {
            let ev = self
                .send_event("message-send-failed", s, chat_id)
                .error(&e, id);
            self.emit(ev);
        }
        e
    }

    pub(super) fn send_failed(&mut self, s: &SendOp, e: Error) -> Effect {
        if matches!(s.then, Then::Bool | Then::Stop | Then::Detached) {
            return Effect::Done(Ok(Done::Bool(false)));
        }
        Effect::Done(Err(e))
    }

    pub(super) fn send_event(&self, kind: &'static str, s: &SendOp, chat_id: &str) -> Event {
        // The head-start route's request has no part id.
        let part_id = Some(s.part_id.as_str()).filter(|id| !id.is_empty());
        Event::new(kind, chat_id)
            .str("messageId", s.message_id.as_deref())
            .text("source", s.source.as_str())
            .num("durationMs", Some(self.now.saturating_sub(s.started_at)))
            .str("partId", part_id)
            .num(
                "bodyBytes",
                Some(s.body.as_ref().map_or(0, |b| b.len() as u64)),
            )
    }

    /// The append went through.
    pub(super) fn appended(
        &mut self,
        id: OpId,
        chat_id: &str,
        s: SendOp,
        seq: Option<u64>,
    ) -> Result<Done, Error> {
        let ev = self.send_event("message-sent", &s, chat_id);
        self.emit(ev);
        match s.then {
            Then::Stream { stop_on_abort } => {
                if s.source.starts_turn() {
                    let now = self.now;
                    let chat = self.chat_mut(chat_id);
                    // An action has no message of its own: its reply is
                    // told under the message before it (4.8.3's events).
                    let id = match s.source {
                        Source::Action => chat.last_send.take().and_then(|(_, id)| id),
                        _ => s.message_id.clone(),
                    };
                    chat.last_send = Some((now, id));
                    chat.sent = chat.sent.max(seq.unwrap_or(0));
                }
                let answered = self.chat(chat_id).and_then(|c| c.answered);
                if let (Some(q), Some(a)) = (seq, answered) {
                    if q <= a {
                        return Ok(Done::Stream(self.open_late(chat_id, q)));
                    }
                }
                // A gate armed after this send began may be for a turn
                // after its own (an append aborted meanwhile).
                let gate_after_send = self
                    .chat(chat_id)
                    .is_some_and(|c| c.gate_epoch != s.gate_epoch);
                self.update(chat_id, |st| {
                    // Two sends may resolve out of order: the later one
                    // is what is outstanding (and what a stop gates). A
                    // reply refused for good keeps its seq for a stop but
                    // is not in flight: any send after it is. A reload's
                    // resume needs to know whether the gate came after it
                    // began.
                    let later = match (st.active_input_seq, seq) {
                        (Some(a), Some(b)) => b >= a || st.is_streaming == Some(false),
                        _ => true,
                    };
                    st.is_streaming = Some(true);
                    if later {
                        st.active_input_seq = seq;
                        st.gate_after_active = gate_after_send && st.skip_to_turn_complete;
                    }
                });
                let stream = self.open_stream(chat_id, false, seq, stop_on_abort, gate_after_send);
                if s.source == Source::Action {
                    // `onSettled`: only for a seq JavaScript holds exactly.
                    if let Some(q) = seq.filter(|&q| q <= MAX_SAFE_INTEGER) {
                        self.settles.push((stream, q));
                    }
                }
                let _ = id;
                Ok(Done::Stream(stream))
            }
            Then::Stop => {
                let outstanding = self
                    .session(chat_id)
                    .is_some_and(SessionState::turn_outstanding);
                // A reply refused for good is not in flight, but its turn
                // may still run, and a stop that landed after its message
                // cut it (seed 876297315). Known only where the server
                // says which turns ended (`session-in-event-id`).
                let refused = self
                    .chat(chat_id)
                    .filter(|c| c.answered.is_some())
                    .map_or(0, Chat::unended);
                if outstanding {
                    mark!("stop-gates-turn-in-flight");
                    self.gate_outstanding(chat_id, seq);
                } else if refused > 0 && seq.is_some_and(|q| refused < q) {
                    mark!("stop-gates-turn-refused-for-good");
                    self.gate(chat_id, Some(refused));
                } else {
                    self.update(chat_id, |st| st.is_streaming = Some(false));
                }
                if let Some(active) = self.chat_mut(chat_id).active.take() {
                    self.end_stream_quietly(active);
                }
                Ok(Done::Bool(true))
            }
            Then::Detached => {
                let remade = self.chat(chat_id).is_some_and(|c| c.resets != s.resets);
                // A turn of the chat is outstanding that the stop may have
                // cut: not one whose message came after the stop's.
                let outstanding = self.session(chat_id).is_some_and(|st| {
                    st.turn_outstanding()
                        && !matches!((st.active_input_seq, seq), (Some(a), Some(q)) if a > q)
                });
                if remade && outstanding {
                    // Sent for a turn of the session before it was made
                    // again, it landed in the new one (the address is the
                    // chat's) and stopped the turn running there: that turn
                    // is gated as a stop gates it.
                    mark!("detached-stop-landed-in-remade-session");
                    self.gate_outstanding(chat_id, seq);
                } else {
                    self.stop_landed(chat_id, s.gate_epoch, seq);
                }
                Ok(Done::Bool(true))
            }
            Then::Bool => Ok(Done::Bool(true)),
            Then::Session => Ok(self.session_done(chat_id)),
        }
    }

    /// A stop landed at `seq` while a turn of the chat was outstanding:
    /// that turn is gated (its `.in` seq when known; else the gate waits
    /// for a turn of unknown seq, and the stop's seq tells which turns
    /// ended before it).
    fn gate_outstanding(&mut self, chat_id: &str, seq: Option<u64>) {
        let active = self.session(chat_id).and_then(|st| st.active_input_seq);
        self.gate(chat_id, active);
        if active.is_none() {
            let epoch = self.chat(chat_id).map_or(0, |c| c.gate_epoch);
            self.stop_landed(chat_id, epoch, seq);
        }
    }

    /// A stop landed at `seq`: while the gate it was sent for (of `epoch`)
    /// waits for a turn of unknown seq, no turn that ended before `seq` is
    /// the one that stop cut (that one took the stop in, ending at `seq`,
    /// or was cut out of order and is the first to end at or after it).
    fn stop_landed(&mut self, chat_id: &str, epoch: u32, seq: Option<u64>) {
        let unknown = self
            .session(chat_id)
            .is_some_and(|st| st.skip_to_turn_complete && st.superseded_input_seq.is_none());
        let chat = self.chat_mut(chat_id);
        if let (true, true, Some(q)) = (unknown, chat.gate_epoch == epoch, seq) {
            chat.stop_seq = Some((epoch, q));
        }
    }

    /// What a `start` resolves to: the chat's session as it stands.
    fn session_done(&self, chat_id: &str) -> Done {
        Done::Session(self.session(chat_id).cloned().unwrap_or_default())
    }

    /// The stream of a send that resolved after later streams read past
    /// its turn. Where one showed it (in its own stream, as a turn before
    /// its own), nothing is left: an empty stream. Where a gate skipped it
    /// unshown, it is read again from just before it, and only it.
    fn open_late(&mut self, chat_id: &str, seq: u64) -> OpId {
        mark!("send-answered-before-it-resolved");
        let chat = self.chat_mut(chat_id);
        // The first turn that ended at or after `seq` (shown before skipped
        // where two streams read the same one), if it was skipped: shown
        // now, from where it starts.
        let turn = chat
            .turns
            .iter_mut()
            .filter(|t| t.0 >= seq)
            .min_by_key(|t| (t.0, t.1.is_some()));
        let from = turn.and_then(|t| t.1.take());
        if from.is_some() {
            mark!("send-shows-its-skipped-turn");
        }
        let sub = Subscription::new(SubscriptionConfig {
            cursor: from.flatten().map(|c| c.to_string()),
            since_in_seq: Some(seq),
            timeout_seconds: self.cfg.timeout_seconds,
            seed: self.next_random(),
            ..SubscriptionConfig::default()
        });
        let feed = Feed::Session(Box::new(sub));
        let stream = self.open_feed(chat_id, feed, (false, false, false), Some(seq), None);
        if from.is_none() {
            if let Some(op) = self.op_mut(stream) {
                op.result = Some(Ok(Done::Closed));
            }
        }
        stream
    }

    /// The wait before transient callback rejection `n + 1` is retried
    /// (`n` counted up), or `None` after [`CALLBACK_RETRIES`].
    pub(super) fn blip_delay(&mut self, n: &mut u32) -> Option<u64> {
        if *n >= CALLBACK_RETRIES {
            return None;
        }
        let full = 100u64 << *n;
        *n += 1;
        Some(full - self.next_random() % (full / 2 + 1))
    }

    /// Sends wait for the browser to come back online (it is offline, and
    /// the app did not turn waiting off).
    pub(super) fn waits_offline(&self) -> bool {
        self.offline && self.offline_wait_ms > 0
    }

    /// Before a request or callback of send `s`: while the browser is
    /// offline, the wait for it to come back (reported as
    /// `send-queued-offline` when it begins, `send-resumed-online` with
    /// `waitedMs` when it ends), or the send's failure once it waited
    /// [`Engine::set_offline_wait`]; `None`: go on.
    pub(super) fn offline_wait(
        &mut self,
        id: OpId,
        s: &mut SendOp,
        chat_id: &str,
    ) -> Option<Effect> {
        let now = self.now;
        let waits = self.waits_offline();
        let since = s.offline_since;
        if waits != since.is_some() {
            s.offline_since = waits.then_some(now);
            // The wait begins, or ends: reported for a message (not for a
            // session start).
            if s.body.is_some() {
                let kind = if waits {
                    "send-queued-offline"
                } else {
                    "send-resumed-online"
                };
                let ev = self
                    .send_event(kind, s, chat_id)
                    .num("waitedMs", since.map(|t| now.saturating_sub(t)));
                self.emit(ev);
            }
        }
        if !waits {
            return None;
        }
        let waited = now.saturating_sub(s.offline_since.unwrap_or(now));
        let limit = self.offline_wait_ms;
        if waited >= limit {
            mark!("offline-send-timed-out");
            // The last attempt's network error, else (a deadline, say) the
            // wait's own: a network error either way, as documented.
            let e = s
                .last_error
                .take()
                .filter(|e| matches!(e, Error::Network(_)))
                .unwrap_or_else(|| {
                    Error::Network("the browser stayed offline (offlineSendTimeoutMs)".into())
                });
            let e = self.report_failure(s, chat_id, e, id);
            return Some(self.send_failed(s, e));
        }
        s.after_sleep = s.phase;
        s.phase = SendPhase::Sleeping;
        // A browser timer holds at most 2^31 - 1 ms (a longer one fires at
        // once): a longer wait is taken in turns.
        Some(Effect::WaitOnline {
            ms: (limit - waited).min(0x7fff_ffff),
        })
    }
}

/// A send that does nothing (a stand-in while the real one is moved out).
fn placeholder_send() -> SendOp {
    SendOp {
        body: None,
        source: Source::Steer,
        message_id: None,
        then: Then::Detached,
        phase: SendPhase::Init,
        part_id: String::new(),
        attempts: 0,
        backoff: Backoff::new(1),
        refreshed: None,
        recreated: false,
        maybe_landed: false,
        started_at: 0,
        last_error: None,
        gate_epoch: 0,
        resets: 0,
        blips: 0,
        after_sleep: SendPhase::Append,
        offline_since: None,
    }
}

pub(super) fn no_start_session() -> Error {
    Error::Misuse(
        "TriggerChatTransport: `startSession` is required to start a session (start(), preload(), or a first message with no stored session); provide it, or hydrate the chat through `sessions`".into(),
    )
}

pub(super) fn bad_token() -> Error {
    Error::Callback("TriggerChatTransport: `accessToken` must return a non-empty string".into())
}
