//! Per-chat session state, and the state machine of one `.out` subscription.
//!
//! [`Subscription`] owns no socket and no clock. The driver asks it what to
//! do next, does it, and reports back:
//!
//! 1. [`Subscription::poll_action`] says what to do: connect, read, sleep,
//!    refresh the token, finish or fail.
//! 2. The driver reports the outcome with one `handle_*` call:
//!    [`handle_response`](Subscription::handle_response) once the response
//!    headers are in, [`handle_bytes`](Subscription::handle_bytes) for each
//!    piece of the body, [`handle_eof`](Subscription::handle_eof),
//!    [`handle_network_error`](Subscription::handle_network_error),
//!    [`handle_stall`](Subscription::handle_stall),
//!    [`handle_token_refreshed`](Subscription::handle_token_refreshed),
//!    [`handle_abort`](Subscription::handle_abort).
//! 3. It drains the results: [`take_chunks`](Subscription::take_chunks) for
//!    the UI message chunks to hand to the app (one JSON array per call),
//!    [`poll_event`](Subscription::poll_event) for session changes, and
//!    [`cursor`](Subscription::cursor) for the resume position.
//!
//! Then back to 1.

use crate::error::Error;
use crate::prelude::*;
use crate::records::{decode_batch_in, Control, Record};
use crate::retry::{status_is_retryable, Backoff};
use crate::seen::{SeenIds, SEEN_IDS_CAP};
use crate::sse::SseDecoder;
use crate::text::{decimal, whole_number};
use crate::wire::OutRequest;

/// What the transport keeps per chat, and what the app persists.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SessionState {
    pub public_access_token: String,
    /// The last `seq_num` read from `.out`, as a decimal string.
    pub last_event_id: Option<String>,
    /// Whether a reply is in flight (so a reload should resume it).
    pub is_streaming: Option<bool>,
    /// After a stop (or an abort whose append may have landed), the rest of
    /// the stopped turn is skipped up to its `turn-complete` (the gate).
    /// Persisted as `skipToTurnComplete`.
    pub skip_to_turn_complete: bool,
    /// The `.in` seq of the turn the gate waits for, when known
    /// (`supersededInputSeq`): its boundary is the first `turn-complete`
    /// whose `session-in-event-id` reaches it.
    pub superseded_input_seq: Option<u64>,
    /// The `.in` seq of the send whose reply is in flight: a resumed stream
    /// reads past turn-completes of earlier sends. Persisted.
    pub active_input_seq: Option<u64>,
    /// The gate was armed after the send of `active_input_seq` began (an
    /// append aborted meanwhile): the stopped turn may come after that
    /// send's own, so a resumed stream does not open the gate at its own
    /// boundary. Persisted as `gateAfterActiveSend` (ours; only when true).
    pub gate_after_active: bool,
    /// The session was closed: sends are refused and nothing is resumed.
    pub closed: bool,
    /// Why, when the closer said.
    pub closed_reason: Option<String>,
}

impl SessionState {
    /// Takes `cursor` as the resume position unless it is behind the one
    /// held: cursors are `seq_num`s, and moving back would replay records
    /// the app already has. False when it was not taken.
    pub fn advance_cursor(&mut self, cursor: &str) -> bool {
        let Some(new) = whole_number(cursor) else {
            return false;
        };
        let behind = self
            .last_event_id
            .as_deref()
            .and_then(whole_number)
            .is_some_and(|old| new <= old);
        if behind {
            return false;
        }
        self.last_event_id = Some(cursor.to_owned());
        true
    }

    /// Marks the session closed; false when it already was.
    pub fn close(&mut self, reason: Option<String>) -> bool {
        if self.closed {
            return false;
        }
        self.closed = true;
        if reason.is_some() {
            self.closed_reason = reason;
        }
        self.is_streaming = Some(false);
        self.clear_gate();
        self.active_input_seq = None;
        true
    }

    /// Forgets the gate (the stopped turn's end was seen, or given up on).
    pub fn clear_gate(&mut self) {
        self.skip_to_turn_complete = false;
        self.superseded_input_seq = None;
        self.gate_after_active = false;
    }

    /// Whether a turn this chat started may still be running: a send's
    /// reply is in flight.
    pub fn turn_outstanding(&self) -> bool {
        self.is_streaming == Some(true) || self.active_input_seq.is_some()
    }
}

/// How a subscription behaves.
#[derive(Debug, Clone)]
pub struct SubscriptionConfig {
    /// Keep reading across `turn-complete` (observe every turn).
    pub watch: bool,
    /// Ask the server to close at once when the session is idle
    /// (`X-Peek-Settled: 1`); only for resuming after a reload.
    pub peek_settled: bool,
    /// `Timeout-Seconds` sent to the server.
    pub timeout_seconds: u32,
    /// Where to resume from.
    pub cursor: Option<String>,
    /// The gate: skip records up to the stopped turn's `turn-complete`.
    pub skip_to_turn_complete: bool,
    /// The stopped turn's `.in` seq, when known (see
    /// [`SessionState::superseded_input_seq`]). Unknown while this stream
    /// answers a known seq of its own, the records before the first
    /// boundary are held back instead of skipped: if that boundary is its
    /// own, they were its reply after all.
    pub superseded_input_seq: Option<u64>,
    /// The `.in` seq of the send this stream answers (from the append's
    /// response): a `turn-complete` whose `session-in-event-id` is below it
    /// ends an earlier turn (a concurrent action, say), and reading goes on.
    pub since_in_seq: Option<u64>,
    /// The gate was armed after this stream's send began: a stopped turn
    /// of unknown seq may come after this stream's own.
    pub gate_after_send: bool,
    /// The `.in` seq of the stop sent for a gate of unknown seq, once its
    /// append answered. A watcher with no reply of its own to wait for
    /// drops every turn that ended before it as well: none of them is the
    /// end of the turn the stop cut (which took the stop in, or, cut out of
    /// order, ended first). The first turn to end at or after it is taken
    /// for the stopped one, as without the stop's seq.
    pub stop_seq: Option<u64>,
    /// Seed of the backoff jitter.
    pub seed: u64,
}

/// `Timeout-Seconds` when the app sets none (`streamTimeoutSeconds`).
pub const DEFAULT_TIMEOUT_SECONDS: u32 = 120;

/// A subscription that follows one send from the start of the stream.
impl Default for SubscriptionConfig {
    fn default() -> Self {
        SubscriptionConfig {
            watch: false,
            peek_settled: false,
            timeout_seconds: DEFAULT_TIMEOUT_SECONDS,
            cursor: None,
            skip_to_turn_complete: false,
            superseded_input_seq: None,
            since_in_seq: None,
            gate_after_send: false,
            stop_seq: None,
            seed: 1,
        }
    }
}

/// The next thing the driver must do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Open a connection to `.out` with the session's current token.
    Connect(OutRequest),
    /// Read the next piece of the body (and time out a silent connection).
    Read,
    /// Wait this many milliseconds, then poll again.
    Sleep(u64),
    /// Ask the app for a fresh token (`accessToken`), then report it with
    /// [`Subscription::handle_token_refreshed`].
    RefreshToken,
    /// The stream ended normally: close it for the app.
    Finish,
    /// The stream failed: error it for the app.
    Fail(Error),
}

/// A change the driver applies to the chat's [`SessionState`] and reports
/// through `onSessionChange`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionEvent {
    /// The turn is over: `isStreaming` is false, maybe with a new token,
    /// and `cursor` (the `turn-complete` record's `seq_num`) is where a
    /// later subscription resumes.
    TurnComplete {
        token: Option<String>,
        cursor: String,
        /// The last `.in` seq the turn consumed (`session-in-event-id`).
        in_event_id: Option<u64>,
        /// That header's own text.
        in_event_text: Option<String>,
    },
    /// The answering run waits for its deployment (`pending-version`).
    PendingVersion,
    /// The server says nothing is in flight (`X-Session-Settled`).
    Settled,
    /// The session was closed (after the `TurnComplete` of the turn that
    /// closed it, if any). The subscription finishes.
    Closed { reason: Option<String> },
    /// The gate opened: the stopped turn's boundary went by, at `cursor`
    /// (its `seq_num`): a later resume starts after it, so the skipped
    /// turn is not replayed. `in_event_id` is the boundary's: the `.in`
    /// record it answered, and every one before it.
    GateOpened {
        cursor: String,
        in_event_id: Option<u64>,
    },
    /// The gate skipped a whole turn before the stopped one or this
    /// stream's own: the reply to `.in` record `seq`, which a reader
    /// resuming from `from` (a `seq_num`; `None`: the start) reads first.
    /// Its send may not have resolved yet, and then shows it from there.
    TurnSkipped { seq: u64, from: Option<u64> },
    /// The stream gives up (it fails next): nothing is in flight any more
    /// as far as a reload is concerned.
    Abandoned,
}

/// Consecutive connections that opened but ended with no byte and no
/// record before a stream (not a watcher) gives up.
pub const EMPTY_WINDOW_BUDGET: u32 = 5;
/// Consecutive connections cut inside their first event (some bytes, no
/// whole record) before giving up; each waits [`PARTIAL_WINDOW_DELAY_MS`].
pub const PARTIAL_WINDOW_BUDGET: u32 = 50;
/// No wait: the first event grows with every wait (the server sends the
/// backlog as one `batch`), and one that has grown past where connections
/// get cut never arrives (the simulator's scenario 1: with 50 ms, replies
/// of 2,000 tokens failed; with none, 10 of 10 arrive).
pub const PARTIAL_WINDOW_DELAY_MS: u64 = 0;
/// The pause before reconnecting after a connection that delivered records
/// was cut.
pub const RECONNECT_AFTER_CUT_MS: u64 = 25;
/// The longest wait between a watcher's quiet windows.
pub const QUIET_MAX_MS: u64 = 5_000;
/// A connection silent for this long (no record, no keepalive) is dropped
/// and opened again.
pub const STALL_MS: u64 = 60_000;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Phase {
    NeedConnect,
    Connecting,
    NeedToken,
    Reading,
    Backoff(u64),
    Finished,
    Failed(Error),
}

/// One `.out` subscription: connections, reconnections and decoding.
#[derive(Debug)]
pub struct Subscription {
    cfg: SubscriptionConfig,
    phase: Phase,
    sse: SseDecoder,
    /// The resume position given at the start, until a record arrives.
    start_cursor: Option<String>,
    /// The last `seq_num` read.
    last_seq: Option<u64>,
    /// The `seq_num` of the last turn boundary read (else where the stream
    /// opened): a turn read next starts right after it.
    boundary: Option<u64>,
    skip: bool,
    /// Data has arrived since the last `turn-complete`.
    in_turn: bool,
    seen: SeenIds,
    /// The room record bodies are unescaped into, kept between events.
    bodies: Vec<u8>,
    out: String,
    out_count: usize,
    events: Vec<SessionEvent>,
    backoff: Backoff,
    /// This connection delivered at least one record.
    progressed: bool,
    /// This connection sent `data: [DONE]`.
    done_marker: bool,
    /// This connection's response said `X-Session-Settled: true`.
    settled: bool,
    /// The token was refreshed since the last successful connection.
    refreshed: bool,
    /// The connection ended inside an event: it was cut, not empty.
    got_bytes: bool,
    /// Data records on this connection: new ones, and replays of records
    /// already delivered (a server that ignored `Last-Event-ID`).
    fresh: bool,
    replayed: bool,
    /// Consecutive connections that ended with nothing / with a cut first
    /// event / with a quiet `[DONE]`.
    empty_windows: u32,
    partial_windows: u32,
    quiet_windows: u32,
    /// The gate's held-back records (see
    /// [`SubscriptionConfig::superseded_input_seq`]).
    held: String,
    held_count: usize,
}

impl Subscription {
    pub fn new(cfg: SubscriptionConfig) -> Self {
        Subscription {
            phase: Phase::NeedConnect,
            sse: SseDecoder::new(),
            start_cursor: cfg.cursor.clone(),
            last_seq: None,
            boundary: cfg.cursor.as_deref().and_then(whole_number),
            skip: cfg.skip_to_turn_complete,
            in_turn: false,
            seen: SeenIds::new(SEEN_IDS_CAP),
            bodies: Vec::new(),
            out: String::new(),
            out_count: 0,
            events: Vec::new(),
            backoff: Backoff::new(cfg.seed),
            progressed: false,
            done_marker: false,
            settled: false,
            refreshed: false,
            got_bytes: false,
            fresh: false,
            replayed: false,
            empty_windows: 0,
            partial_windows: 0,
            quiet_windows: 0,
            held: String::new(),
            held_count: 0,
            cfg,
        }
    }

    /// What to do next.
    pub fn poll_action(&mut self) -> Action {
        match &self.phase {
            Phase::NeedConnect => {
                self.phase = Phase::Connecting;
                Action::Connect(OutRequest {
                    last_event_id: self.cursor(),
                    timeout_seconds: self.cfg.timeout_seconds,
                    peek_settled: self.cfg.peek_settled,
                })
            }
            Phase::Connecting => Action::Fail(crate::error::out_of_order()),
            Phase::NeedToken => Action::RefreshToken,
            Phase::Reading => Action::Read,
            Phase::Backoff(ms) => {
                let ms = *ms;
                self.phase = Phase::NeedConnect;
                Action::Sleep(ms)
            }
            Phase::Finished => Action::Finish,
            Phase::Failed(e) => Action::Fail(e.clone()),
        }
    }

    /// Whether the subscription has ended, normally or not.
    pub fn is_over(&self) -> bool {
        matches!(self.phase, Phase::Finished | Phase::Failed(_))
    }

    /// The response headers are in.
    /// `settled` is the `X-Session-Settled: true` response header.
    pub fn handle_response(&mut self, status: u16, settled: bool) {
        if self.is_over() {
            return;
        }
        if (200..300).contains(&status) {
            self.phase = Phase::Reading;
            self.sse = SseDecoder::new();
            self.progressed = false;
            self.got_bytes = false;
            self.fresh = false;
            self.replayed = false;
            self.done_marker = false;
            self.settled = settled;
            // The token works: a later expiry may be refreshed again.
            self.refreshed = false;
            return;
        }
        let err = Error::Http {
            op: "subscribe",
            status,
            body: String::new(),
        };
        if status == 401 || status == 403 {
            if self.refreshed {
                mark!("stream-refused-after-refresh");
                self.phase = Phase::Failed(err);
            } else {
                mark!("stream-token-refresh");
                self.refreshed = true;
                self.phase = Phase::NeedToken;
            }
        } else if status_is_retryable(status) {
            self.retry_later(err);
        } else {
            // 400, 404, 409 and every other status: retrying cannot help.
            self.phase = Phase::Failed(err);
        }
    }

    /// The app gave a fresh token; connect again with it.
    pub fn handle_token_refreshed(&mut self) {
        if matches!(self.phase, Phase::NeedToken) {
            self.phase = Phase::NeedConnect;
        }
    }

    /// Getting a token failed: the subscription fails with that error.
    pub fn handle_token_error(&mut self, err: Error) {
        if !self.is_over() {
            self.phase = Phase::Failed(err);
        }
    }

    /// The request failed before an answer, or the body broke mid-way.
    pub fn handle_network_error(&mut self, message: &str) {
        if self.is_over() {
            return;
        }
        if matches!(self.phase, Phase::Reading) {
            self.salvage();
            if !matches!(self.phase, Phase::Reading) {
                // What was salvaged ended the stream (its turn's end).
                mark!("salvaged-records-end-the-stream");
                return;
            }
        }
        self.got_bytes = self.sse.mid_event();
        if matches!(self.phase, Phase::Reading) && (self.progressed || self.got_bytes) {
            // The connection was alive and broke mid-way: like a cut.
            self.window_ended();
            return;
        }
        self.retry_later(Error::Network(message.to_owned().into()));
    }

    /// The request failed, or the body broke, while the browser is
    /// offline: what the broken body held whole is kept, and the next
    /// connection (after the caller's wait for the network) does not count
    /// toward the retry budget.
    pub fn handle_offline(&mut self) {
        if self.is_over() {
            return;
        }
        if matches!(self.phase, Phase::Reading) {
            self.salvage();
            if !matches!(self.phase, Phase::Reading) {
                return;
            }
        }
        self.phase = Phase::NeedConnect;
    }

    /// No byte arrived for too long: drop the connection and reconnect.
    pub fn handle_stall(&mut self) {
        if self.is_over() {
            return;
        }
        mark!("stream-stalled");
        self.retry_later(Error::TimedOut("the stream (no data or keepalive)"));
    }

    /// The browser says the connection is likely dead (back online, a tab
    /// shown after a long time hidden, a page restored from the back-forward
    /// cache), or a wait should end early: connect again now, without
    /// counting a failure. Only while connecting, connected or waiting to
    /// retry.
    pub fn handle_reconnect_now(&mut self) {
        if matches!(
            self.phase,
            Phase::Connecting | Phase::Reading | Phase::Backoff(_)
        ) {
            self.phase = Phase::NeedConnect;
        }
    }

    /// Whether records of a turn arrived since the last turn's end.
    pub fn in_turn(&self) -> bool {
        self.in_turn
    }

    /// The chat's session was made again (a new `.out` under the same chat
    /// id) while this stream stood at a turn boundary with no reply of its
    /// own to wait for: its positions and gate belong to the old session.
    /// The next connection reads the new session from its start; one open
    /// now is dropped (the caller cuts it).
    pub fn handle_new_session(&mut self) {
        self.start_cursor = None;
        self.last_seq = None;
        self.boundary = None;
        self.skip = false;
        self.held.clear();
        self.held_count = 0;
        self.cfg.superseded_input_seq = None;
        self.cfg.since_in_seq = None;
        self.handle_reconnect_now();
    }

    /// The chat's session was made again while this stream was inside a
    /// turn of the old one, or waiting for the reply to a send made to it:
    /// that reply went with the old session.
    pub fn handle_session_lost(&mut self) {
        if !self.is_over() {
            self.phase = Phase::Failed(Error::SessionRemade);
        }
    }

    /// The app aborted: end quietly.
    pub fn handle_abort(&mut self) {
        if !self.is_over() {
            self.phase = Phase::Finished;
        }
    }

    fn retry_later(&mut self, err: Error) {
        match self.backoff.next_delay() {
            Some(ms) => self.phase = Phase::Backoff(ms),
            // A watcher is a standing subscription: it keeps trying, at the
            // slowest pace.
            None if self.cfg.watch => {
                mark!("watcher-past-its-retry-budget");
                self.phase = Phase::Backoff(self.backoff.max_ms)
            }
            None => {
                mark!("stream-retries-exhausted");
                self.phase = Phase::Failed(err)
            }
        }
    }

    /// The body ended.
    pub fn handle_eof(&mut self) {
        if !matches!(self.phase, Phase::Reading) {
            return;
        }
        self.salvage();
        if !matches!(self.phase, Phase::Reading) {
            return;
        }
        self.got_bytes = self.sse.mid_event();
        self.sse.handle_eof();
        if self.settled {
            // The server says nothing is in flight: whatever was read is
            // all there is, in either mode.
            self.in_turn = false;
            self.events.push(SessionEvent::Settled);
            self.phase = Phase::Finished;
            return;
        }
        self.window_ended();
    }

    /// Takes the whole records of a `batch` event the connection was cut
    /// inside of: the next connection resumes after them, so a backlog
    /// larger than what gets through before each cut still moves on.
    fn salvage(&mut self) {
        let sse = core::mem::take(&mut self.sse);
        if let Some(("batch", data)) = sse.cut_data_line() {
            mark!("cut-inside-a-batch");
            let mut result = Ok(());
            crate::records::decode_batch_prefix(data, |rec| {
                if result.is_ok() && matches!(self.phase, Phase::Reading) {
                    result = self.handle_record(rec);
                }
            });
            if let Err(e) = result {
                self.phase = Phase::Failed(e);
            }
        }
        self.sse = sse;
    }

    /// A connection that had opened ended (its end, a cut, a broken body):
    /// when and whether to connect again.
    fn window_ended(&mut self) {
        if self.replayed && !self.fresh {
            // The server sent back what was already delivered: it does not
            // honour the cursor. A watcher cannot follow such a server
            // (it would loop on the same records); a stream counts it as a
            // window that brought nothing.
            mark!("server-replayed-the-cursor");
            if self.cfg.watch {
                self.phase = Phase::Finished;
                return;
            }
            self.progressed = false;
            self.got_bytes = false;
        }
        if self.progressed {
            // Records arrived: go on from the cursor at once.
            self.empty_windows = 0;
            self.partial_windows = 0;
            self.quiet_windows = 0;
            self.backoff.reset();
            // After the server's own end of a poll, again at once; after a
            // cut, a moment's pause (never a tight loop).
            self.phase = if self.done_marker {
                Phase::NeedConnect
            } else {
                Phase::Backoff(RECONNECT_AFTER_CUT_MS)
            };
        } else if self.done_marker {
            // The server's normal end of a quiet long poll: again at once
            // the first time, then slower and slower (never a tight loop
            // against a server that ends every poll at once).
            self.quiet_windows = self.quiet_windows.saturating_add(1);
            let ms = match self.quiet_windows {
                1 => 0,
                n => 100u64
                    .saturating_mul(1 << (n - 2).min(16))
                    .min(QUIET_MAX_MS),
            };
            self.phase = Phase::Backoff(ms);
        } else if self.got_bytes {
            // Cut inside its first event: the connection works, the backlog
            // is what did not fit. Come back quickly, before it grows.
            self.partial_windows += 1;
            if self.partial_windows <= PARTIAL_WINDOW_BUDGET {
                self.phase = Phase::Backoff(PARTIAL_WINDOW_DELAY_MS);
            } else if !self.cfg.watch {
                mark!("reconnects-exhausted-cut-windows");
                self.give_up("every connection was cut before a whole record arrived");
            } else {
                // A watcher past the budget slows down (no tight loop).
                let ms = self.backoff.next_delay().unwrap_or(QUIET_MAX_MS);
                self.phase = Phase::Backoff(ms.min(QUIET_MAX_MS));
            }
        } else {
            self.empty_windows += 1;
            if self.cfg.watch {
                let ms = self.backoff.next_delay().unwrap_or(QUIET_MAX_MS);
                self.phase = Phase::Backoff(ms.min(QUIET_MAX_MS));
            } else if self.empty_windows > EMPTY_WINDOW_BUDGET {
                mark!("reconnects-exhausted-empty-windows");
                self.give_up("the stream kept ending before the turn was complete");
            } else {
                let n = self.empty_windows - 1;
                self.phase = Phase::Backoff(100 << n.min(4));
            }
        }
    }

    fn give_up(&mut self, why: &'static str) {
        self.events.push(SessionEvent::Abandoned);
        self.phase = Phase::Failed(Error::ReconnectsExhausted(why.into()));
    }

    /// Feeds a piece of the response body.
    pub fn handle_bytes(&mut self, bytes: &[u8]) -> Result<(), Error> {
        if !matches!(self.phase, Phase::Reading) {
            return Ok(());
        }

        if let Err(e) = self.sse.handle_bytes(bytes) {
            self.phase = Phase::Failed(e.clone());
            return Err(e);
        }
        // The decoder lends out its events; it is taken out of `self` for
        // the loop so records can update the rest of the state meanwhile.
        let mut sse = core::mem::take(&mut self.sse);
        let result = self.handle_events(&mut sse);
        self.sse = sse;
        if let Err(e) = &result {
            self.phase = Phase::Failed(e.clone());
        }
        result
    }

    fn handle_events(&mut self, sse: &mut SseDecoder) -> Result<(), Error> {
        while matches!(self.phase, Phase::Reading) {
            let Some(ev) = sse.poll_event_ref()? else {
                break;
            };
            if ev.data == "[DONE]" {
                self.done_marker = true;
                continue;
            }
            if ev.event == "error" {
                mark!("server-error-event");
                // The server's read failed mid-stream; the connection ends
                // without `[DONE]`. Resume from the cursor like after a drop.
                let reason = crate::error::truncate(ev.data, 200);
                self.retry_later(Error::Network(
                    cat!("the server reported a stream error: ", reason).into(),
                ));
                break;
            }
            if ev.event.is_empty() || ev.event == "message" {
                // A v1 stream: each unnamed event is one chunk, its id the
                // sequence number.
                let seq = ev
                    .id
                    .and_then(whole_number)
                    .unwrap_or_else(|| self.last_seq.map_or(0, |s| s.saturating_add(1)));
                let mut result = Ok(());
                crate::records::decode_v1_event(ev.data, seq, |rec| {
                    if result.is_ok() && matches!(self.phase, Phase::Reading) {
                        result = self.handle_record(rec);
                    }
                })?;
                result?;
                continue;
            }
            if ev.event != "batch" {
                // `ping` keepalives and unknown events carry nothing.
                continue;
            }
            let mut result = Ok(());
            let mut bodies = core::mem::take(&mut self.bodies);
            let decoded = decode_batch_in(ev.data, &mut bodies, |rec| {
                if result.is_ok() && matches!(self.phase, Phase::Reading) {
                    result = self.handle_record(rec);
                }
            });
            self.bodies = bodies;
            decoded?;
            result?;
        }
        Ok(())
    }

    fn handle_record(&mut self, rec: Record<'_>) -> Result<(), Error> {
        // At or before the position this stream was opened at: a server
        // that ignored `Last-Event-ID` is sending back what an earlier
        // stream (whose part ids this one never saw) delivered or skipped.
        // Nothing of it is new. Only the opening cursor is compared: within
        // one stream a reconnect's replays are the part-id filter's, and a
        // server that numbers a later window from 1 again (the vendor's own
        // 4.8.3 tests do) still has its new records read.
        let opened_at = self.start_cursor.as_deref().and_then(whole_number);
        if opened_at.is_some_and(|at| rec.seq() <= at) {
            mark!("record-at-or-before-the-cursor-dropped");
            self.replayed = true;
            return Ok(());
        }
        let before = self.last_seq;
        self.last_seq = Some(rec.seq());
        self.progressed = true;
        self.backoff.reset();
        self.refreshed = false;
        match rec {
            Record::Command { .. } | Record::Skip { .. } => {}
            Record::Control { control, seq } => match control {
                Control::TurnComplete {
                    token,
                    closed,
                    in_event_id,
                    in_event_text,
                } => {
                    let from = self.boundary.replace(seq);
                    if let (true, Some(stop), Some(a)) = (self.skip, self.stop_seq(), in_event_id) {
                        // Behind a gate of unknown seq with the stop's seq
                        // known: a turn that ended before the stop was taken
                        // in is not the stopped one's end (it ended before
                        // the stop, or is another turn): dropped, and the
                        // gate holds. From the first turn that ended at or
                        // after it on, as without the stop's seq.
                        if a < stop {
                            mark!("gate-unknown-drops-turn-before-stop");
                            self.skipped(in_event_id, from);
                            return Ok(());
                        }
                        mark!("gate-unknown-ends-at-or-after-stop");
                    }
                    if self.skip {
                        let mine = self.cfg.since_in_seq;
                        let own = matches!((in_event_id, mine), (Some(a), Some(m)) if a >= m);
                        // The stopped turn comes after this stream's own (a
                        // send that resolved late): the gate is not this
                        // stream's to open.
                        let later = match (self.cfg.superseded_input_seq, mine) {
                            (Some(s), Some(m)) => s > m,
                            // A stop that landed before this stream's own
                            // message cut a turn of an earlier one, if any
                            // (seed 962126029).
                            (None, Some(m)) => {
                                self.cfg.gate_after_send && self.cfg.stop_seq.is_none_or(|q| q >= m)
                            }
                            (_, None) => false,
                        };
                        if own && self.cfg.superseded_input_seq.is_some() && !later {
                            mark!("gate-own-boundary-before-stopped-turn");
                            // Our own boundary came while the stopped turn's
                            // never did: what went by cannot be told apart.
                            self.skip = false;
                            self.held.clear();
                            self.events.push(SessionEvent::GateOpened {
                                cursor: decimal(seq),
                                in_event_id,
                            });
                            self.events.push(SessionEvent::Abandoned);
                            return Err(Error::Protocol(
                                "The previous turn's output was lost: the stopped turn never ended, so this reply cannot be told apart from it".into(),
                            ));
                        }
                        if own {
                            // The held-back records were this reply's. A
                            // watcher reads on: past its own turn it skips
                            // to the later stopped turn's end.
                            self.skip = later && self.cfg.watch;
                            if !later {
                                self.events.push(SessionEvent::GateOpened {
                                    cursor: decimal(seq),
                                    in_event_id,
                                });
                            }
                            if later && self.cfg.watch {
                                mark!("gate-watcher-skips-to-later-stopped-turn");
                            }
                            let held = core::mem::take(&mut self.held);
                            if !held.is_empty() {
                                mark!("gate-releases-held-reply");
                                self.out.push(if self.out.is_empty() { '[' } else { ',' });
                                self.out.push_str(&held);
                                self.out_count += core::mem::replace(&mut self.held_count, 0);
                                self.in_turn = true;
                            }
                        } else {
                            let earlier_than_stopped = matches!(
                                (in_event_id, self.cfg.superseded_input_seq),
                                (Some(a), Some(s)) if a < s
                            );
                            // With the stopped turn unknown (or after this
                            // stream's own), everything before this stream's
                            // own boundary belongs to earlier turns: the gate
                            // holds until then.
                            if self.holds() {
                                mark!("gate-drops-held-turn");
                                self.held.clear();
                                self.held_count = 0;
                                self.skipped(in_event_id, from);
                            } else if earlier_than_stopped {
                                mark!("gate-skips-turn-before-stopped-one");
                                self.skipped(in_event_id, from);
                            } else {
                                // The stopped turn's end; a close riding on
                                // it still ends the conversation.
                                self.skip = false;
                                self.held.clear();
                                self.held_count = 0;
                                // A watcher cannot tell an unknown stopped
                                // turn's end: it reads on from here, but the
                                // gate stays for the next reply to pass.
                                if self.cfg.superseded_input_seq.is_none() && self.cfg.watch {
                                    mark!("gate-unknown-watcher-reads-on");
                                }
                                if self.cfg.superseded_input_seq.is_some() || !self.cfg.watch {
                                    mark!("gate-opened-at-stopped-turn-end");
                                    self.events.push(SessionEvent::GateOpened {
                                        cursor: decimal(seq),
                                        in_event_id,
                                    });
                                }
                            }
                            if let Some(c) = closed {
                                self.close(c.reason);
                            }
                            return Ok(());
                        }
                    }
                    let earlier = matches!(
                        (self.cfg.since_in_seq, in_event_id),
                        (Some(mine), Some(answered)) if answered < mine
                    );
                    if earlier && closed.is_none() {
                        mark!("turn-complete-before-own-skipped");
                        // Not this send's turn: its reply is still to come.
                        return Ok(());
                    }
                    self.cfg.since_in_seq = None;
                    self.in_turn = false;
                    let cursor = decimal(seq);
                    self.events.push(SessionEvent::TurnComplete {
                        token,
                        cursor,
                        in_event_id,
                        in_event_text,
                    });
                    if let Some(c) = closed {
                        self.close(c.reason);
                    } else if !self.cfg.watch {
                        self.phase = Phase::Finished;
                    }
                }
                Control::SessionClosed(c) => {
                    self.skip = false;
                    self.held.clear();
                    self.close(c.reason);
                }
                Control::PendingVersion => self.events.push(SessionEvent::PendingVersion),
                Control::UpgradeRequired | Control::Other(_) => {}
            },
            Record::Data {
                seq,
                part_id,
                chunk,
                ..
            } => {
                if let Some(id) = part_id {
                    if !self.seen.insert_record(&id, chunk) {
                        mark!("duplicate-part-dropped");
                        // At or before the position asked for: the server
                        // is sending back what it was told was delivered (a
                        // duplicate write of the agent's comes after it,
                        // with a seq of its own). Worked out only here, off
                        // the path of every fresh record.
                        let asked =
                            before.or_else(|| self.start_cursor.as_deref().and_then(whole_number));
                        self.replayed |= asked.is_some_and(|at| seq <= at);
                        return Ok(());
                    }
                }
                self.fresh = true;
                if self.skip {
                    if self.holds() {
                        if !self.held.is_empty() {
                            self.held.push(',');
                        }
                        self.held.push_str(chunk);
                        self.held_count += 1;
                    }
                    return Ok(());
                }
                self.in_turn = true;
                self.out.push(if self.out.is_empty() { '[' } else { ',' });
                self.out.push_str(chunk);
                self.out_count += 1;
            }
        }
        Ok(())
    }

    /// A turn before this stream's own went by unshown behind the gate: a
    /// send of it that resolves late reads it again from `from`.
    fn skipped(&mut self, in_event_id: Option<u64>, from: Option<u64>) {
        if let Some(seq) = in_event_id {
            self.events.push(SessionEvent::TurnSkipped { seq, from });
        }
    }

    /// Whether the gate holds records back until this stream's own
    /// boundary (releasing them there) rather than skipping to the stopped
    /// turn's: the stopped turn is unknown, or comes after this stream's.
    fn holds(&self) -> bool {
        match (self.cfg.superseded_input_seq, self.cfg.since_in_seq) {
            (_, None) => false,
            (None, Some(_)) => true,
            (Some(stopped), Some(mine)) => stopped > mine,
        }
    }

    /// The stop sent for an unknown gate, where it decides which turns the
    /// gate drops: this stream waits for no reply of its own.
    fn stop_seq(&self) -> Option<u64> {
        let unknown = self.cfg.superseded_input_seq.is_none() && self.cfg.since_in_seq.is_none();
        self.cfg.stop_seq.filter(|_| unknown)
    }

    /// The session is closed: report it and finish, whatever the mode.
    fn close(&mut self, reason: Option<String>) {
        self.in_turn = false;
        self.events.push(SessionEvent::Closed { reason });
        self.phase = Phase::Finished;
    }

    /// The chunks decoded so far, as the text of one JSON array, and how many.
    pub fn take_chunks(&mut self) -> Option<(String, usize)> {
        if self.out.is_empty() {
            return None;
        }
        self.out.push(']');
        let n = core::mem::replace(&mut self.out_count, 0);
        Some((core::mem::take(&mut self.out), n))
    }

    /// How many session changes wait for [`Subscription::poll_event`].
    pub fn queued_events(&self) -> usize {
        self.events.len()
    }

    /// The next session change to apply and report.
    pub fn poll_event(&mut self) -> Option<SessionEvent> {
        (!self.events.is_empty()).then(|| self.events.remove(0))
    }

    /// The resume position: the last `seq_num` read, as `Last-Event-ID`
    /// wants it.
    pub fn cursor(&self) -> Option<String> {
        match self.last_seq {
            Some(seq) => Some(decimal(seq)),
            None => self.start_cursor.clone(),
        }
    }

    /// Whether the rest of a stopped turn is still being skipped.
    pub fn skip_to_turn_complete(&self) -> bool {
        self.skip
    }
}
