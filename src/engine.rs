//! The whole transport as one sans-IO state machine: every chat's session,
//! and every operation on it (start, send with its retries, stop, streams,
//! head start), with no clock, socket or randomness inside.
//!
//! The contract, in the manner of `quinn-proto`:
//!
//! 1. The caller opens an operation ([`Engine::start`], [`Engine::send`],
//!    [`Engine::stop`], [`Engine::reconnect`], [`Engine::head_start`]) and
//!    gets its [`OpId`].
//! 2. [`Engine::poll`] says what the operation needs next (an [`Effect`]):
//!    a callback to call, a request to make, bytes to read, a wait, chunks
//!    to hand to the app, or its result. An operation has at most one effect
//!    out at a time.
//! 3. The caller performs the effect and reports its [`Outcome`] with
//!    [`Engine::handle`]; then polls again.
//! 4. After every call, the caller drains [`Engine::poll_notice`]: session
//!    changes to persist (`onSessionChange`), lifecycle events (`onEvent`),
//!    effects to cut short ([`Notice::Interrupt`]), parked operations to
//!    wake, and detached operations to drive ([`Notice::Spawn`]).
//!
//! Time comes in through [`Engine::set_now`] (milliseconds); randomness
//! (part ids, backoff jitter) from the seed given to [`Engine::new`].
//! Every retry, reconnect, cursor and gate decision is made here.

use crate::error::{truncate, Error};
use crate::json::quote;
use crate::prelude::*;
use crate::records::{decode_ui_stream_event, UiStreamEvent};
use crate::retry::{rate_limit_wait_ms, Backoff};
use crate::session::{
    Action, SessionEvent, SessionState, Subscription, SubscriptionConfig, STALL_MS,
};
use crate::sse::SseDecoder;
use crate::text::{decimal, whole_number};
use crate::wire::{self, OutRequest};

/// An operation's handle.
pub type OpId = u32;

/// The largest integer a JavaScript number holds exactly.
pub const MAX_SAFE_INTEGER: u64 = (1 << 53) - 1;

/// How many times one append is tried when the server says "try again".
pub const APPEND_ATTEMPTS: u32 = 4;

/// How many times a transient rejection of `accessToken` / `startSession`
/// ([`Outcome::Transient`]) is retried, after 100, 200, 400, 800 and
/// 1,600 ms (each with up to half taken off at random), as a stream's
/// reconnects that bring nothing: then the operation fails with it.
pub const CALLBACK_RETRIES: u32 = 5;

/// What the engine needs to know of the transport's options.
#[derive(Debug, Clone, Default)]
pub struct EngineConfig {
    /// Keep reading across turns (`watch`).
    pub watch: bool,
    /// `Timeout-Seconds` for `.out`.
    pub timeout_seconds: u32,
    /// The app's extra headers, sent on every request.
    pub headers: Vec<(String, String)>,
    /// The app gave `startSession`.
    pub has_start_session: bool,
    /// Someone listens for lifecycle events (so they are built at all).
    pub wants_events: bool,
}

/// Who asked for an append (the `source` of `message-sent`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Submit,
    Regenerate,
    Action,
    Steer,
    Stop,
    /// The first turn, through the app's head-start route.
    HeadStart,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Submit => "submit-message",
            Source::Regenerate => "regenerate-message",
            Source::Action => "action",
            Source::Steer => "steer",
            Source::Stop => "stop",
            Source::HeadStart => "head-start",
        }
    }

    fn starts_turn(self) -> bool {
        matches!(
            self,
            Source::Submit | Source::Regenerate | Source::Action | Source::HeadStart
        )
    }
}

/// What the caller must do for an operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// Call the app's `startSession({taskId, chatId, clientData})`; report
    /// [`Outcome::Started`] or [`Outcome::Failed`].
    CallStartSession { chat_id: String },
    /// Call the app's `accessToken({chatId})`; report [`Outcome::Token`] or
    /// [`Outcome::Failed`].
    CallAccessToken { chat_id: String },
    /// `POST` to the chat's `.in/append`; report [`Outcome::Response`] with
    /// the whole body, or [`Outcome::Failed`].
    Append {
        chat_id: String,
        /// The JSON text of an object, name to value.
        headers: String,
        body: String,
    },
    /// `GET` the chat's `.out`; report [`Outcome::Connected`] (keep the
    /// body open for reads) or [`Outcome::Failed`].
    Connect {
        chat_id: String,
        /// The JSON text of an object, name to value.
        headers: String,
        req: OutRequest,
    },
    /// `POST` `body` to the app's head-start route; report
    /// [`Outcome::HeadStarted`] (keep the body open) or [`Outcome::Failed`].
    HeadStart {
        chat_id: String,
        url: String,
        /// The JSON text of an object, name to value.
        headers: String,
        body: String,
    },
    /// Read the open body: [`Outcome::Bytes`], [`Outcome::Eof`],
    /// [`Outcome::Stall`] after `stall_ms` of silence, or
    /// [`Outcome::Failed`]. A body left unread when the operation moves on
    /// is dropped by the caller.
    Read { stall_ms: u64 },
    /// Wait; report [`Outcome::Slept`].
    Sleep { ms: u64 },
    /// Wait until the browser is back online, at most `ms`; report
    /// [`Outcome::Slept`] (the next poll looks at [`Engine::set_online`]).
    WaitOnline { ms: u64 },
    /// Nothing to do until [`Notice::Wake`] names this operation; then
    /// report [`Outcome::Woken`].
    Park,
    /// Hand these chunks (the text of one JSON array) to the app. No
    /// outcome: poll again when the app wants more.
    Chunks(String),
    /// The operation is over. It is forgotten: polling it again gives
    /// `Done(Err(Misuse))`.
    Done(Result<Done, Error>),
}

/// An operation's result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Done {
    /// A stream ended normally.
    Closed,
    /// `stopGeneration` / `sendPendingMessage`: whether it went through.
    Bool(bool),
    /// `start()`: the chat's session.
    Session(SessionState),
    /// A send's reply streams from this operation.
    Stream(OpId),
}

/// What came of an effect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome<'a> {
    /// `accessToken` resolved (to this, if a string).
    Token(Option<&'a str>),
    /// `startSession` resolved.
    Started {
        token: Option<&'a str>,
        pending_version: bool,
    },
    /// An append's answer.
    Response {
        status: u16,
        body: &'a str,
        ratelimit_reset: Option<&'a str>,
        retry_after: Option<&'a str>,
    },
    /// `.out` answered (headers in).
    Connected {
        status: u16,
        settled: bool,
    },
    /// The head-start route answered.
    HeadStarted {
        status: u16,
        token: Option<&'a str>,
        pending_version: bool,
        /// The body, read whole, when the status is not a success.
        error_body: &'a str,
    },
    Bytes(&'a [u8]),
    Eof,
    Stall,
    /// The effect failed: a network error, a callback or fetch override
    /// that threw ([`Error::Callback`]), a body without a reader.
    Failed(Error),
    /// `accessToken` or `startSession` rejected with something worth
    /// another try (fetch's `TypeError`, an error marked `retryable: true`):
    /// retried up to [`CALLBACK_RETRIES`] times, then like `Failed`.
    Transient(Error),
    /// The effect was cut short because a [`Notice::Interrupt`] asked.
    Interrupted,
    Slept,
    Woken,
}

/// Something for the caller to do besides the operation's own effects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notice {
    /// The chat's persisted state changed: hand [`Engine::persisted`] to
    /// `onSessionChange`.
    SessionChanged(String),
    /// A lifecycle event for `onEvent` (or the runner's own
    /// `action-settled`): the JSON text of an object, `type` first.
    Event(String),
    /// Cut this operation's effect short (and report
    /// [`Outcome::Interrupted`] for it). When no effect is out, the next
    /// one it polls is cut short as soon as it starts; the connection it
    /// holds between reads, if any, is let go either way.
    Interrupt(OpId),
    /// A parked operation may go on.
    Wake(OpId),
    /// A detached operation (a stop fired by an abort): drive it to its end.
    Spawn(OpId),
}

/// A lifecycle event as it is built: the JSON text of one object, `type`
/// and `chatId` first, then its fields in order. [`Event::json`] closes it
/// for [`Notice::Event`]. An error field is `{"$error": {...}, "$op": n}`:
/// `n` is the operation whose callback may have thrown it (the runner then
/// hands out what was thrown, as it was).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event(String);

impl Event {
    fn new(kind: &'static str, chat_id: &str) -> Event {
        Event(cat!(r#"{"type":""#, kind, r#"","chatId":"#, quote(chat_id)))
    }

    /// `"key":value`, with `value` JSON text already.
    fn raw(mut self, key: &str, value: &str) -> Event {
        self.0.push_str(",\"");
        self.0.push_str(key);
        self.0.push_str("\":");
        self.0.push_str(value);
        self
    }

    fn text(self, key: &str, v: &str) -> Event {
        self.raw(key, &quote(v))
    }

    fn str(self, key: &str, v: Option<&str>) -> Event {
        match v {
            Some(v) => self.text(key, v),
            None => self,
        }
    }

    fn num(self, key: &str, v: Option<u64>) -> Event {
        match v {
            Some(n) => self.raw(key, &decimal(n)),
            None => self,
        }
    }

    /// `status` (when it has one) and `error`, for a failure event.
    fn error(self, error: &Error, op: OpId) -> Event {
        let field = cat!(
            r#"{"$error":"#,
            error.json(),
            r#","$op":"#,
            decimal(u64::from(op)),
            "}"
        );
        self.num("status", error.status().map(u64::from))
            .raw("error", &field)
    }

    /// The event's JSON text.
    pub fn json(mut self) -> String {
        self.0.push('}');
        self.0
    }
}

// ----- chats ----------------------------------------------------------------

#[derive(Debug, Default)]
struct Chat {
    id: String,
    state: Option<SessionState>,
    /// A resume cursor seeded before the session exists.
    seeded: Option<String>,
    /// The operation calling `startSession` (or `accessToken`) for it.
    starting: Option<OpId>,
    /// Operations waiting for that start.
    parked: Vec<OpId>,
    /// The stream that currently answers the chat.
    active: Option<OpId>,
    /// When the last turn-starting send went out, and its message id.
    last_send: Option<(u64, Option<String>)>,
    /// Stops on their way to `.in`: a turn-starting send waits for them,
    /// so a late stop never cuts the new turn.
    stops: Vec<OpId>,
    /// The highest `session-in-event-id` a turn-complete carried: sends up
    /// to it were answered already.
    answered: Option<u64>,
    /// How many times the gate was armed: a stream opened before the last
    /// arming does not open the newer gate.
    gate_epoch: u32,
    /// How many times a 404 made the session again: of concurrent sends
    /// that met the same 404, the first resets the state.
    resets: u32,
}

// ----- operations -----------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Then {
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
enum SendPhase {
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
struct SendOp {
    body: Option<String>,
    source: Source,
    message_id: Option<String>,
    then: Then,
    phase: SendPhase,
    part_id: String,
    attempts: u32,
    backoff: Backoff,
    /// The token this send's refresh got, once it refreshed.
    refreshed: Option<String>,
    recreated: bool,
    /// An attempt may have reached the server (in flight, or it failed in
    /// a way that does not say).
    maybe_landed: bool,
    started_at: u64,
    /// The last retryable failure, reported if the attempts run out.
    last_error: Option<Error>,
    /// The chat's gate arming count when this send began.
    gate_epoch: u32,
    /// Transient callback rejections retried in a row.
    blips: u32,
    /// What a wait (`Sleeping`) goes back to.
    after_sleep: SendPhase,
    /// Since when it has waited for the browser to come back online.
    offline_since: Option<u64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum StreamPhase {
    Idle,
    Connecting,
    Reading,
    Sleeping,
    Refreshing,
}

// A transport holds a handful of streams at most: boxing the head-start
// variant would only add an indirection to the common path.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
enum Feed {
    Session(Box<Subscription>),
    HeadStart {
        url: String,
        body: String,
        sse: SseDecoder,
        out: String,
        requested: bool,
        ended: bool,
        message_id: Option<String>,
    },
}

#[derive(Debug)]
struct StreamOp {
    feed: Feed,
    phase: StreamPhase,
    stop_on_abort: bool,
    resumed: bool,
    /// `stream-connected` was reported.
    connected: bool,
    /// The next chunk is the first of a turn (for `first-chunk`).
    turn_fresh: bool,
    /// A wake event asked to reconnect at once.
    woken: bool,
    /// The cursor the first connection asked from.
    first_cursor: Option<String>,
    /// The chat's gate (its arming count) this stream was opened with.
    gate_epoch: u32,
    /// The `.in` seq of the send this stream answers, when known.
    since: Option<u64>,
    /// Transient rejections of the token refresh retried in a row.
    blips: u32,
    /// The refresh is tried again after this wait.
    token_retry: Option<u64>,
    /// A reply this stream is to show has not ended yet: its send's, or
    /// the one in flight when it resumed.
    awaits_reply: bool,
}

#[derive(Debug)]
enum Kind {
    Send(SendOp),
    Stream(StreamOp),
}

#[derive(Debug)]
struct Op {
    chat: String,
    kind: Kind,
    /// An effect is out.
    busy: bool,
    /// The app (or a successor, or `dispose`) ended it.
    aborted: bool,
    /// Its end was decided; the next poll reports it.
    result: Option<Result<Done, Error>>,
}

/// The engine: all chats and all operations of one transport.
#[derive(Debug)]
pub struct Engine {
    cfg: EngineConfig,
    now: u64,
    chats: Vec<Chat>,
    ops: Vec<(OpId, Op)>,
    next_op: OpId,
    notices: Vec<Notice>,
    rng: u64,
    /// Action replies that settle: (stream op, the action's `.in` seq).
    settles: Vec<(OpId, u64)>,
    /// The browser says it is offline.
    offline: bool,
    /// How long a send waits for the browser to come back online before it
    /// fails (`offlineSendTimeoutMs`); 0 (the default): it does not wait.
    offline_wait_ms: u64,
}

impl Engine {
    pub fn new(cfg: EngineConfig, sessions: Vec<(String, SessionState)>, seed: u64) -> Engine {
        let mut e = Engine {
            cfg,
            now: 0,
            chats: Vec::new(),
            ops: Vec::new(),
            next_op: 1,
            notices: Vec::new(),
            rng: seed | 1,
            settles: Vec::new(),
            offline: false,
            offline_wait_ms: 0,
        };
        for (id, state) in sessions {
            e.chat_mut(&id).state = Some(state);
        }
        e
    }

    pub fn config(&self) -> &EngineConfig {
        &self.cfg
    }

    pub fn config_mut(&mut self) -> &mut EngineConfig {
        &mut self.cfg
    }

    /// The current time in milliseconds (any epoch; `Date.now()` in the
    /// browser, so rate-limit resets compare).
    /// Whether the browser says it is online (`navigator.onLine`): a send
    /// waits while it is not (see [`Engine::set_offline_wait`]).
    pub fn set_online(&mut self, online: bool) {
        self.offline = !online;
    }

    /// How long a send waits for the browser to come back online before it
    /// fails (`offlineSendTimeoutMs`); 0 (the default): it does not wait.
    pub fn set_offline_wait(&mut self, ms: u64) {
        self.offline_wait_ms = ms;
    }

    pub fn set_now(&mut self, now: u64) {
        self.now = now;
    }

    pub fn now(&self) -> u64 {
        self.now
    }

    fn next_random(&mut self) -> u64 {
        let mut x = self.rng;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.rng = x;
        x
    }

    /// A version-4 UUID from the engine's generator: an append's
    /// `X-Part-Id`, the same for all its retries.
    fn part_id(&mut self) -> String {
        let mut b = [0u8; 16];
        let (hi, lo) = (self.next_random(), self.next_random());
        b[..8].copy_from_slice(&hi.to_le_bytes());
        b[8..].copy_from_slice(&lo.to_le_bytes());
        b[6] = (b[6] & 0x0f) | 0x40;
        b[8] = (b[8] & 0x3f) | 0x80;
        let mut s = String::with_capacity(36);
        for (i, byte) in b.iter().enumerate() {
            if matches!(i, 4 | 6 | 8 | 10) {
                s.push('-');
            }
            for nib in [byte >> 4, byte & 15] {
                s.push(char::from(b"0123456789abcdef"[usize::from(nib)]));
            }
        }
        s
    }

    // ----- chats ------------------------------------------------------------

    fn chat_mut(&mut self, id: &str) -> &mut Chat {
        if let Some(i) = self.chats.iter().position(|c| c.id == id) {
            return &mut self.chats[i];
        }
        self.chats.push(Chat {
            id: id.to_owned(),
            ..Chat::default()
        });
        let last = self.chats.len() - 1;
        &mut self.chats[last]
    }

    fn chat(&self, id: &str) -> Option<&Chat> {
        self.chats.iter().find(|c| c.id == id)
    }

    /// The chat's session, if it has one.
    pub fn session(&self, chat_id: &str) -> Option<&SessionState> {
        self.chat(chat_id).and_then(|c| c.state.as_ref())
    }

    /// Every chat's session (for tabs and tests).
    pub fn sessions(&self) -> impl Iterator<Item = (&str, &SessionState)> {
        self.chats
            .iter()
            .filter_map(|c| Some((c.id.as_str(), c.state.as_ref()?)))
    }

    fn state_mut(&mut self, chat_id: &str) -> Option<&mut SessionState> {
        self.chat_mut(chat_id).state.as_mut()
    }

    fn changed(&mut self, chat_id: &str) {
        self.notices
            .push(Notice::SessionChanged(chat_id.to_owned()));
    }

    fn emit(&mut self, ev: Event) {
        if self.cfg.wants_events {
            self.notices.push(Notice::Event(ev.json()));
        }
    }

    /// Stores a session for the chat (from the app, or a start), applying a
    /// seeded cursor, and reports it.
    pub fn set_session(&mut self, chat_id: &str, mut state: SessionState) {
        let chat = self.chat_mut(chat_id);
        if let Some(cursor) = chat.seeded.take() {
            state.advance_cursor(&cursor);
        }
        chat.state = Some(state);
        chat.answered = None;
        self.changed(chat_id);
    }

    /// A resume cursor from the app's stored transcript: applied to a
    /// session that has no cursor yet, or kept for a session not started
    /// yet. A session that already has a cursor keeps it.
    pub fn seed_cursor(&mut self, chat_id: &str, cursor: &str) {
        if whole_number(cursor).is_none() {
            return;
        }
        let chat = self.chat_mut(chat_id);
        match &mut chat.state {
            Some(s) if s.last_event_id.is_none() => {
                s.last_event_id = Some(cursor.to_owned());
                self.changed(chat_id);
            }
            Some(_) => {}
            None => chat.seeded = Some(cursor.to_owned()),
        }
    }

    /// A cursor learned from another tab, taken unless ours is ahead.
    pub fn adopt_cursor(&mut self, chat_id: &str, cursor: &str) {
        if let Some(s) = self.state_mut(chat_id) {
            s.advance_cursor(cursor);
        }
    }

    /// Forgets the gate of a stopped turn that will never end.
    pub fn clear_gate(&mut self, chat_id: &str) {
        let Some(s) = self.state_mut(chat_id) else {
            return;
        };
        let had = s.skip_to_turn_complete || s.superseded_input_seq.is_some();
        s.clear_gate();
        if had {
            s.is_streaming = Some(false);
            s.active_input_seq = None;
            self.changed(chat_id);
        }
    }

    /// Whether a stream answers the chat now.
    pub fn has_active(&self, chat_id: &str) -> bool {
        self.chat(chat_id).is_some_and(|c| c.active.is_some())
    }

    /// The session's closed state: `Some(reason)` once closed.
    pub fn closed(&self, chat_id: &str) -> Option<Option<&str>> {
        self.session(chat_id)
            .filter(|s| s.closed)
            .map(|s| s.closed_reason.as_deref())
    }

    fn closed_error(&self, chat_id: &str) -> Option<Error> {
        self.closed(chat_id).map(|reason| Error::SessionClosed {
            chat_id: chat_id.to_owned(),
            reason: reason.map(str::to_owned),
        })
    }

    // ----- opening operations -----------------------------------------------

    fn open(&mut self, chat_id: &str, kind: Kind) -> OpId {
        let id = self.next_op;
        self.next_op = self.next_op.wrapping_add(1).max(1);
        self.ops.push((
            id,
            Op {
                chat: chat_id.to_owned(),
                kind,
                busy: false,
                aborted: false,
                result: None,
            },
        ));
        id
    }

    fn send_op(
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
        let gate_epoch = self.chat(chat_id).map_or(0, |c| c.gate_epoch);
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

    /// `stopGeneration`: `{kind:"stop"}` on `.in`; on success the stopped
    /// turn (if one is outstanding) is gated and the chat's stream ends.
    pub fn stop(&mut self, chat_id: &str) -> OpId {
        self.send(chat_id, wire::stop_chunk(), Source::Stop, None, false)
    }

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
        Some(self.open_stream(chat_id, true, since, stop_on_abort, false))
    }

    /// The first turn through the app's head-start route: `body` is posted
    /// to `url` and the route's UI message stream is the reply.
    pub fn head_start(
        &mut self,
        chat_id: &str,
        url: String,
        body: String,
        message_id: Option<String>,
    ) -> OpId {
        let id = self.open(
            chat_id,
            Kind::Stream(StreamOp {
                feed: Feed::HeadStart {
                    url,
                    body,
                    sse: SseDecoder::new(),
                    out: String::new(),
                    requested: false,
                    ended: false,
                    message_id,
                },
                phase: StreamPhase::Idle,
                stop_on_abort: false,
                resumed: false,
                connected: false,
                turn_fresh: true,
                woken: false,
                first_cursor: None,
                gate_epoch: 0,
                since: None,
                blips: 0,
                token_retry: None,
                awaits_reply: true,
            }),
        );
        self.supersede(chat_id, id);
        id
    }

    fn open_stream(
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
        let state = self.session(chat_id).cloned().unwrap_or_default();
        let sub = Subscription::new(SubscriptionConfig {
            watch,
            // A watcher waits through settled stretches, and a send in
            // flight may not have written yet: no peek then.
            peek_settled: resumed && !watch && since_in_seq.is_none(),
            timeout_seconds,
            cursor: state.last_event_id.clone(),
            skip_to_turn_complete: state.skip_to_turn_complete,
            superseded_input_seq: state.superseded_input_seq,
            since_in_seq,
            gate_after_send,
            seed,
        });
        let id = self.open(
            chat_id,
            Kind::Stream(StreamOp {
                feed: Feed::Session(Box::new(sub)),
                phase: StreamPhase::Idle,
                stop_on_abort,
                resumed,
                connected: false,
                turn_fresh: true,
                woken: false,
                awaits_reply: !resumed
                    || state.is_streaming == Some(true)
                    || state.active_input_seq.is_some(),
                first_cursor: state.last_event_id,
                gate_epoch: self.chat(chat_id).map_or(0, |c| c.gate_epoch),
                since: since_in_seq,
                blips: 0,
                token_retry: None,
            }),
        );
        self.supersede(chat_id, id);
        id
    }

    /// `id` now answers the chat; the stream it replaces ends quietly.
    fn supersede(&mut self, chat_id: &str, id: OpId) {
        let old = self.chat_mut(chat_id).active.replace(id);
        if let Some(old) = old.filter(|&o| o != id) {
            self.end_stream_quietly(old);
        }
    }

    fn end_stream_quietly(&mut self, id: OpId) {
        let Some(op) = self.op_mut(id) else {
            return;
        };
        if op.result.is_some() {
            return;
        }
        op.aborted = true;
        if let Kind::Stream(s) = &mut op.kind {
            if let Feed::Session(sub) = &mut s.feed {
                sub.handle_abort();
            }
        }
        op.result = Some(Ok(Done::Closed));
        // Busy or not: a connection held between reads is let go too.
        self.notices.push(Notice::Interrupt(id));
    }

    // ----- the app's hands on operations ------------------------------------

    /// The app aborted the operation (its `AbortSignal`, or the stream's
    /// `cancel()`). A send not yet through ends with [`Error::Aborted`]; a
    /// stream ends quietly, and one that owns its turn (`stop_on_abort`)
    /// stops the agent and gates the rest of the turn.
    pub fn abort(&mut self, id: OpId) {
        let Some(op) = self.op_mut(id) else {
            return;
        };
        if op.result.is_some() || op.aborted {
            return;
        }
        op.aborted = true;
        let chat = op.chat.clone();
        match &mut op.kind {
            Kind::Send(s) => {
                let (landed, then) = (
                    s.maybe_landed || matches!(s.phase, SendPhase::Appending),
                    s.then,
                );
                op.result = Some(Err(Error::Aborted));
                self.forget_start(&chat, id);
                if landed && matches!(then, Then::Stream { .. }) {
                    mark!("abort-send-maybe-landed");
                    // Its fate is unknown: if it landed, its turn must
                    // neither run on nor show up in the next reply.
                    self.gate(&chat, None);
                    self.fire_stop(&chat);
                }
            }
            Kind::Stream(s) => {
                let owns = s.stop_on_abort;
                if let Feed::Session(sub) = &mut s.feed {
                    sub.handle_abort();
                }
                op.result = Some(Ok(Done::Closed));
                let outstanding = self
                    .session(&chat)
                    .is_some_and(SessionState::turn_outstanding);
                if owns && outstanding {
                    let seq = self.session(&chat).and_then(|s| s.active_input_seq);
                    mark!("abort-stream-owns-turn");
                    self.gate(&chat, seq);
                    self.fire_stop(&chat);
                }
            }
        }
        // Busy or not: a connection held between reads is let go too.
        self.notices.push(Notice::Interrupt(id));
    }

    /// The app cancelled a stream (`reader.cancel()`): it ends quietly,
    /// without stopping the agent.
    pub fn cancel(&mut self, id: OpId) {
        let is_stream = self
            .ops
            .iter()
            .any(|(i, o)| *i == id && matches!(o.kind, Kind::Stream(_)));
        if is_stream {
            self.end_stream_quietly(id);
        } else {
            self.abort(id);
        }
    }

    /// A browser wake event (back online, a tab shown again, a page restored
    /// from the back-forward cache): a waiting stream reconnects at once;
    /// with `force` a connected one too.
    pub fn wake(&mut self, id: OpId, force: bool) {
        let Some(op) = self.op_mut(id) else {
            return;
        };
        if op.result.is_some() {
            return;
        }
        let busy = op.busy;
        let Kind::Stream(s) = &mut op.kind else {
            return;
        };
        let cut = match s.phase {
            // Between two pulls of the app: the connection it holds may be
            // dead all the same; the next read is cut at once.
            _ if !busy => force,
            StreamPhase::Sleeping => true,
            StreamPhase::Connecting | StreamPhase::Reading => force,
            _ => false,
        };
        if cut && matches!(s.feed, Feed::Session(_)) {
            s.woken = true;
            self.notices.push(Notice::Interrupt(id));
        }
    }

    /// Ends every operation: sends fail with [`Error::Aborted`], streams
    /// close; no stop is sent.
    pub fn dispose(&mut self) {
        let ids: Vec<OpId> = self.ops.iter().map(|(id, _)| *id).collect();
        for id in ids {
            let Some(op) = self.op_mut(id) else { continue };
            if op.result.is_some() {
                continue;
            }
            op.aborted = true;
            op.result = Some(match &mut op.kind {
                Kind::Send(_) => Err(Error::Aborted),
                Kind::Stream(s) => {
                    if let Feed::Session(sub) = &mut s.feed {
                        sub.handle_abort();
                    }
                    Ok(Done::Closed)
                }
            });
            self.notices.push(Notice::Interrupt(id));
        }
        for c in &mut self.chats {
            c.starting = None;
            c.parked.clear();
            c.stops.clear();
            c.active = None;
        }
    }

    /// Whether any operation is still open (for checks after `dispose`).
    pub fn open_ops(&self) -> usize {
        self.ops.len()
    }

    /// The next notice, if any.
    pub fn poll_notice(&mut self) -> Option<Notice> {
        (!self.notices.is_empty()).then(|| self.notices.remove(0))
    }

    // ----- gate and stop ----------------------------------------------------

    /// Arms the gate for a stopped turn (`seq` when known) and ends the
    /// chat's stream.
    fn gate(&mut self, chat_id: &str, seq: Option<u64>) {
        let chat = self.chat_mut(chat_id);
        chat.gate_epoch = chat.gate_epoch.wrapping_add(1);
        if let Some(s) = self.state_mut(chat_id) {
            if !s.skip_to_turn_complete {
                s.skip_to_turn_complete = true;
                s.superseded_input_seq = seq;
            } else {
                mark!("gate-armed-again");
                // A second stopped turn while the gate waits: it waits for
                // the later one, and an unknown one makes it unknown.
                s.superseded_input_seq = match (s.superseded_input_seq, seq) {
                    (Some(a), Some(b)) => Some(a.max(b)),
                    _ => None,
                };
            }
            s.is_streaming = Some(false);
            s.active_input_seq = None;
        }
        self.changed(chat_id);
    }

    fn fire_stop(&mut self, chat_id: &str) {
        if self.closed(chat_id).is_some() || self.session(chat_id).is_none() {
            return;
        }
        // A turn-starting send already on its way (past its wait for stops)
        // would land first, and the stop would cut that send's reply
        // instead of the turn given up. When the gate knows that turn, it
        // alone hides it. (An unknown gate drops every turn before the next
        // reply's boundary; the stop then keeps what it drops from running
        // on.)
        let known = self
            .session(chat_id)
            .is_some_and(|st| st.superseded_input_seq.is_some());
        let racing = known
            && self.ops.iter().any(|(_, o)| {
                o.chat == chat_id
                    && o.result.is_none()
                    && !o.aborted
                    && matches!(&o.kind, Kind::Send(s)
                    if matches!(s.then, Then::Stream { .. })
                        && !matches!(s.phase, SendPhase::Init | SendPhase::Parked))
            });
        if racing {
            mark!("stop-on-abort-skipped-racing");
            return;
        }
        mark!("stop-on-abort-fired");
        let id = self.send_op(
            chat_id,
            Some(wire::stop_chunk()),
            Source::Stop,
            None,
            Then::Detached,
        );
        self.notices.push(Notice::Spawn(id));
    }

    // ----- polling ----------------------------------------------------------

    fn op_mut(&mut self, id: OpId) -> Option<&mut Op> {
        self.ops.iter_mut().find(|(i, _)| *i == id).map(|(_, o)| o)
    }

    fn take_op(&mut self, id: OpId) -> Option<Op> {
        let i = self.ops.iter().position(|(i, _)| *i == id)?;
        Some(self.ops.swap_remove(i).1)
    }

    /// What operation `id` needs next.
    pub fn poll(&mut self, id: OpId) -> Effect {
        let Some(mut op) = self.take_op(id) else {
            return Effect::Done(Err(Error::Misuse(
                "poll of an operation that is over".into(),
            )));
        };
        if op.busy {
            self.ops.push((id, op));
            return Effect::Done(Err(Error::Misuse(
                "poll while the operation's effect is out".into(),
            )));
        }
        let effect = match &mut op.kind {
            Kind::Send(_) => self.poll_send(id, &mut op),
            Kind::Stream(_) => self.poll_stream(id, &mut op),
        };
        match effect {
            Effect::Done(r) => {
                self.finished(id, &op);
                Effect::Done(r)
            }
            Effect::Chunks(c) => {
                self.ops.push((id, op));
                Effect::Chunks(c)
            }
            e => {
                op.busy = true;
                self.ops.push((id, op));
                e
            }
        }
    }

    /// An action's reply reached the turn that consumed its `.in` record:
    /// an `action-settled` notice for the caller's `onSettled` (not an
    /// `onEvent` event: it is delivered whether or not anyone listens).
    fn settle(&mut self, op: OpId, answered: u64, text: Option<String>, cursor: &str) {
        let Some(i) = self
            .settles
            .iter()
            .position(|&(o, q)| o == op && answered >= q && answered <= MAX_SAFE_INTEGER)
        else {
            return;
        };
        let (_, q) = self.settles.swap_remove(i);
        let ev = Event::new("action-settled", "")
            .num("op", Some(u64::from(op)))
            .num("inputSeq", Some(q))
            .text(
                "sessionInEventId",
                &text.unwrap_or_else(|| decimal(answered)),
            )
            .text("lastEventId", cursor);
        self.notices.push(Notice::Event(ev.json()));
    }

    fn finished(&mut self, id: OpId, op: &Op) {
        self.settles.retain(|&(o, _)| o != id);
        let chat = self.chat_mut(&op.chat);
        if chat.active == Some(id) {
            chat.active = None;
        }
        if let Some(i) = chat.stops.iter().position(|&s| s == id) {
            chat.stops.remove(i);
            if chat.stops.is_empty() && chat.starting.is_none() {
                // The sends that waited for it go on.
                let parked = core::mem::take(&mut chat.parked);
                for p in parked {
                    self.notices.push(Notice::Wake(p));
                }
            }
        }
        self.forget_start(&op.chat, id);
    }

    /// If `id` was starting the chat's session, wake whoever waited.
    fn forget_start(&mut self, chat_id: &str, id: OpId) {
        let chat = self.chat_mut(chat_id);
        if chat.starting == Some(id) {
            chat.starting = None;
            let parked = core::mem::take(&mut chat.parked);
            for p in parked {
                self.notices.push(Notice::Wake(p));
            }
        }
    }

    /// Reports the outcome of operation `id`'s effect.
    pub fn handle(&mut self, id: OpId, outcome: Outcome<'_>) {
        let Some(mut op) = self.take_op(id) else {
            return;
        };
        op.busy = false;
        if op.result.is_some() {
            mark!("outcome-after-the-op-ended");
        }
        if op.result.is_none() {
            match &mut op.kind {
                Kind::Send(_) => self.handle_send(id, &mut op, outcome),
                Kind::Stream(_) => self.handle_stream(&mut op, outcome),
            }
        }
        self.ops.push((id, op));
    }

    // ----- sends ------------------------------------------------------------

    fn poll_send(&mut self, id: OpId, op: &mut Op) -> Effect {
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
                            return Effect::Done(Ok(Done::Session(
                                self.session(&chat_id).cloned().unwrap_or_default(),
                            )));
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
                            let st = self.session(&chat_id).cloned().unwrap_or_default();
                            return Effect::Done(Ok(Done::Session(st)));
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
                    return Effect::Done(Err(Error::Misuse("poll before the outcome".into())));
                }
            }
        }
    }

    fn handle_send(&mut self, id: OpId, op: &mut Op, outcome: Outcome<'_>) {
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
                                // The session is new: the old cursor and
                                // gate mean nothing there.
                                let chat = self.chat_mut(&chat_id);
                                chat.resets = chat.resets.wrapping_add(1);
                                chat.state = Some(state);
                                chat.answered = None;
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
                            ))
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
            (_, other) => Some(Error::Protocol(cat!(
                "unexpected outcome for a send: ",
                outcome_name(&other)
            ))),
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

    /// The chat's session was made again (seed 14973013): each stream open
    /// on the old one either reads the new one from its start (at a turn
    /// boundary with no reply to wait for: a resume of an idle chat, a
    /// watcher between turns) or ends with an error (inside a turn, or
    /// waiting for a reply of the old session: that reply went with it). A
    /// connection in flight is cut either way: the server may answer it
    /// from the new session.
    fn session_remade(&mut self, chat_id: &str) {
        let Engine { ops, notices, .. } = self;
        for (id, op) in ops.iter_mut() {
            if op.chat != chat_id || op.result.is_some() || op.aborted {
                continue;
            }
            let Kind::Stream(st) = &mut op.kind else {
                continue;
            };
            let Feed::Session(sub) = &mut st.feed else {
                continue;
            };
            if st.awaits_reply || sub.in_turn() {
                mark!("session-remade-stream-lost");
                sub.handle_session_lost();
            } else {
                mark!("session-remade-stream-restarts");
                sub.handle_new_session();
            }
            // Cut at once, whatever is out (the next poll reconnects or
            // reports the end).
            st.woken = true;
            notices.push(Notice::Interrupt(*id));
        }
    }

    /// The wait before transient callback rejection `n + 1` is retried
    /// (`n` counted up), or `None` after [`CALLBACK_RETRIES`].
    fn blip_delay(&mut self, n: &mut u32) -> Option<u64> {
        if *n >= CALLBACK_RETRIES {
            return None;
        }
        let full = 100u64 << *n;
        *n += 1;
        Some(full - self.next_random() % (full / 2 + 1))
    }

    /// Sends wait for the browser to come back online (it is offline, and
    /// the app did not turn waiting off).
    fn waits_offline(&self) -> bool {
        self.offline && self.offline_wait_ms > 0
    }

    /// Before a request or callback of send `s`: while the browser is
    /// offline, the wait for it to come back (reported as
    /// `send-queued-offline` when it begins, `send-resumed-online` with
    /// `waitedMs` when it ends), or the send's failure once it waited
    /// [`Engine::set_offline_wait`]; `None`: go on.
    fn offline_wait(&mut self, id: OpId, s: &mut SendOp, chat_id: &str) -> Option<Effect> {
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
            let e = s.last_error.take().unwrap_or_else(|| {
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

    fn retry_append(&mut self, s: &mut SendOp, err: Error, wait: Option<u64>) -> Option<Error> {
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

    fn store_token(&mut self, chat_id: &str, token: &str) {
        let chat = self.chat_mut(chat_id);
        match &mut chat.state {
            Some(st) => st.public_access_token = token.to_owned(),
            None => {
                let state = SessionState {
                    public_access_token: token.to_owned(),
                    ..SessionState::default()
                };
                self.set_session(chat_id, state);
                return;
            }
        }
        self.changed(chat_id);
    }

    /// A send failed: `message-send-failed` for appends that were tried.
    fn report_failure(&mut self, s: &SendOp, chat_id: &str, e: Error, id: OpId) -> Error {
        if !matches!(s.then, Then::Session) && s.body.is_some() {
            let ev = self
                .send_event("message-send-failed", s, chat_id)
                .error(&e, id);
            self.emit(ev);
        }
        e
    }

    fn send_failed(&mut self, s: &SendOp, e: Error) -> Effect {
        if matches!(s.then, Then::Bool | Then::Stop | Then::Detached) {
            return Effect::Done(Ok(Done::Bool(false)));
        }
        Effect::Done(Err(e))
    }

    fn send_event(&self, kind: &'static str, s: &SendOp, chat_id: &str) -> Event {
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
    fn appended(
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
                    self.chat_mut(chat_id).last_send = Some((now, s.message_id.clone()));
                }
                let answered = self.chat(chat_id).and_then(|c| c.answered);
                if matches!((seq, answered), (Some(q), Some(a)) if q <= a) {
                    // Two sends resolved out of order, and the later one's
                    // stream already read past this one's turn (it showed
                    // there): nothing is left to stream.
                    mark!("send-answered-before-it-resolved");
                    let stream = self.open(
                        chat_id,
                        Kind::Stream(StreamOp {
                            feed: Feed::Session(Box::new(Subscription::new(
                                SubscriptionConfig::default(),
                            ))),
                            phase: StreamPhase::Idle,
                            stop_on_abort: false,
                            resumed: false,
                            connected: false,
                            turn_fresh: false,
                            woken: false,
                            first_cursor: None,
                            gate_epoch: 0,
                            since: None,
                            blips: 0,
                            token_retry: None,
                            awaits_reply: false,
                        }),
                    );
                    if let Some(op) = self.op_mut(stream) {
                        op.result = Some(Ok(Done::Closed));
                    }
                    return Ok(Done::Stream(stream));
                }
                if let Some(st) = self.state_mut(chat_id) {
                    st.is_streaming = Some(true);
                    // Two sends may resolve out of order: the later one
                    // is what is outstanding (and what a stop gates).
                    st.active_input_seq = match (st.active_input_seq, seq) {
                        (Some(a), Some(b)) => Some(a.max(b)),
                        (_, b) => b,
                    };
                }
                self.changed(chat_id);
                // A gate armed after this send began may be for a turn
                // after its own (an append aborted meanwhile).
                let gate_after_send = self
                    .chat(chat_id)
                    .is_some_and(|c| c.gate_epoch != s.gate_epoch);
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
                if outstanding {
                    mark!("stop-gates-turn-in-flight");
                    let seq = self.session(chat_id).and_then(|st| st.active_input_seq);
                    self.gate(chat_id, seq);
                } else if let Some(st) = self.state_mut(chat_id) {
                    st.is_streaming = Some(false);
                    self.changed(chat_id);
                }
                if let Some(active) = self.chat_mut(chat_id).active.take() {
                    self.end_stream_quietly(active);
                }
                Ok(Done::Bool(true))
            }
            Then::Bool | Then::Detached => Ok(Done::Bool(true)),
            Then::Session => Ok(Done::Session(
                self.session(chat_id).cloned().unwrap_or_default(),
            )),
        }
    }

    /// Marks the chat's session closed (once) and reports it.
    fn mark_closed(&mut self, chat_id: &str, reason: Option<String>, source: &str) {
        let changed = self
            .state_mut(chat_id)
            .is_some_and(|st| st.close(reason.clone()));
        if !changed {
            return;
        }
        let ev = Event::new("session-closed", chat_id)
            .str("reason", reason.as_deref())
            .text("source", source);
        self.emit(ev);
        self.changed(chat_id);
    }

    // ----- streams ----------------------------------------------------------

    fn poll_stream(&mut self, id: OpId, op: &mut Op) -> Effect {
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
                let (since, message_id) = self.since_send(&chat_id);
                let ev = Event::new("first-chunk", &chat_id)
                    .str("chunkType", first_chunk_type(&json).as_deref())
                    .str("lastEventId", cursor.as_deref())
                    .str("messageId", message_id.as_deref())
                    .num("sinceSendMs", since);
                self.emit(ev);
            }
            return Effect::Chunks(json);
        }
        let events: Vec<SessionEvent> = core::iter::from_fn(|| sub.poll_event()).collect();
        for ev in events {
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
                    if let Some(s) = self.state_mut(&chat_id) {
                        s.advance_cursor(cursor);
                    }
                    self.changed(&chat_id);
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
            self.apply(&chat_id, ev);
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
                    if let Some(s) = self.state_mut(&chat_id) {
                        s.is_streaming = Some(false);
                    }
                    self.changed(&chat_id);
                }
                let ev = Event::new("stream-error", &chat_id).error(&e, id);
                self.emit(ev);
                Effect::Done(Err(e))
            }
        }
    }

    fn handle_stream(&mut self, op: &mut Op, outcome: Outcome<'_>) {
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
            (_, Outcome::Failed(e)) => sub.handle_network_error(&e.message()),
            (_, other) => sub.handle_token_error(Error::Protocol(cat!(
                "unexpected outcome for a stream: ",
                outcome_name(&other)
            ))),
        }
    }

    /// Applies a session change from the stream and reports it. The stored
    /// cursor moves only here, at turn boundaries: what the app persists is
    /// always a place a later resume can replay a whole turn from.
    fn apply(&mut self, chat_id: &str, ev: SessionEvent) {
        match ev {
            SessionEvent::TurnComplete {
                token,
                cursor,
                in_event_id,
                in_event_text,
            } => {
                let chat = self.chat_mut(chat_id);
                chat.answered = chat.answered.max(in_event_id);
                if let Some(s) = chat.state.as_mut() {
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
                    s.advance_cursor(&cursor);
                }
                let (since, message_id) = self.since_send(chat_id);
                let ev = Event::new("turn-completed", chat_id)
                    .text("lastEventId", &cursor)
                    .str("sessionInEventId", in_event_text.as_deref())
                    .str("messageId", message_id.as_deref())
                    .num("sinceSendMs", since);
                self.emit(ev);
                self.changed(chat_id);
            }
            SessionEvent::Settled | SessionEvent::Abandoned => {
                if let Some(s) = self.state_mut(chat_id) {
                    s.is_streaming = Some(false);
                    s.active_input_seq = None;
                }
                self.changed(chat_id);
            }
            SessionEvent::GateOpened {
                cursor,
                in_event_id,
            } => {
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
            SessionEvent::PendingVersion => {
                let ev = Event::new("run-pending-version", chat_id).text("source", "upgrade");
                self.emit(ev);
            }
            SessionEvent::Closed { reason } => self.mark_closed(chat_id, reason, "stream"),
        }
    }

    fn since_send(&self, chat_id: &str) -> (Option<u64>, Option<String>) {
        match self.chat(chat_id).and_then(|c| c.last_send.as_ref()) {
            Some((at, id)) => (Some(self.now.saturating_sub(*at)), id.clone()),
            None => (None, None),
        }
    }

    fn last_message_id(&self, chat_id: &str) -> Option<String> {
        self.chat(chat_id)
            .and_then(|c| c.last_send.as_ref())
            .and_then(|(_, id)| id.clone())
    }

    // ----- head start -------------------------------------------------------

    fn poll_head_start(&mut self, _id: OpId, chat_id: &str, st: &mut StreamOp) -> Effect {
        let Feed::HeadStart {
            url,
            body,
            sse,
            out,
            requested,
            ..
        } = &mut st.feed
        else {
            return mismatch();
        };
        if !*requested {
            *requested = true;
            st.phase = StreamPhase::Connecting;
            return Effect::HeadStart {
                chat_id: chat_id.to_owned(),
                url: url.clone(),
                headers: wire::headers_json(
                    &self.cfg.headers,
                    &[("Content-Type", "application/json")],
                ),
                body: body.clone(),
            };
        }
        let mut turn_done = false;
        let mut cursor = None;
        loop {
            match sse.poll_event() {
                Ok(Some(ev)) => match decode_ui_stream_event(&ev.data) {
                    Ok(UiStreamEvent::Chunk(c)) => {
                        out.push(if out.is_empty() { '[' } else { ',' });
                        out.push_str(c);
                    }
                    Ok(UiStreamEvent::TurnComplete) => turn_done = true,
                    Ok(UiStreamEvent::SessionState {
                        last_event_id: Some(id),
                    }) => cursor = Some(id),
                    Ok(_) => {}
                    Err(e) => return self.head_start_over(chat_id, Err(e)),
                },
                Ok(None) => break,
                Err(e) => return self.head_start_over(chat_id, Err(e)),
            }
        }
        if let Some(c) = cursor {
            if let Some(s) = self.state_mut(chat_id) {
                s.last_event_id = Some(c);
            }
            self.changed(chat_id);
        }
        if turn_done {
            if let Some(s) = self.state_mut(chat_id) {
                s.is_streaming = Some(false);
            }
            self.changed(chat_id);
        }
        let Feed::HeadStart { out, ended, .. } = &mut st.feed else {
            return mismatch();
        };
        if !out.is_empty() {
            out.push(']');
            let json = core::mem::take(out);
            if core::mem::replace(&mut st.turn_fresh, false) {
                let (since, message_id) = self.since_send(chat_id);
                let ev = Event::new("first-chunk", chat_id)
                    .str("chunkType", first_chunk_type(&json).as_deref())
                    .str("messageId", message_id.as_deref())
                    .num("sinceSendMs", since);
                self.emit(ev);
            }
            return Effect::Chunks(json);
        }
        if *ended {
            return self.head_start_over(chat_id, Ok(Done::Closed));
        }
        st.phase = StreamPhase::Reading;
        Effect::Read { stall_ms: STALL_MS }
    }

    fn head_start_over(&mut self, chat_id: &str, r: Result<Done, Error>) -> Effect {
        // However the first turn ended, it is not streaming any more.
        let mut changed = false;
        if let Some(s) = self.state_mut(chat_id) {
            changed = s.is_streaming == Some(true);
            s.is_streaming = Some(false);
        }
        if changed {
            self.changed(chat_id);
        }
        Effect::Done(r)
    }

    fn handle_head_start(
        &mut self,
        chat_id: &str,
        st: &mut StreamOp,
        outcome: Outcome<'_>,
    ) -> Option<Result<Done, Error>> {
        let Feed::HeadStart {
            sse,
            ended,
            message_id,
            body,
            ..
        } = &mut st.feed
        else {
            return None;
        };
        match outcome {
            Outcome::HeadStarted {
                status,
                token,
                pending_version,
                error_body,
            } => {
                // What the lifecycle events say of the route's request.
                let sent = SendOp {
                    body: Some(core::mem::take(body)),
                    source: Source::HeadStart,
                    message_id: message_id.clone(),
                    started_at: self.now,
                    ..placeholder_send()
                };
                if !(200..300).contains(&status) {
                    let e = Error::Http {
                        op: "headStart request",
                        status,
                        body: truncate(error_body.trim_ascii(), 200),
                    };
                    let ev = self
                        .send_event("message-send-failed", &sent, chat_id)
                        .error(&e, 0);
                    self.emit(ev);
                    return Some(Err(e));
                }
                let ev = self.send_event("message-sent", &sent, chat_id);
                self.emit(ev);
                let now = self.now;
                self.chat_mut(chat_id).last_send = Some((now, message_id.clone()));
                if pending_version {
                    let ev =
                        Event::new("run-pending-version", chat_id).text("source", "head-start");
                    self.emit(ev);
                }
                let Some(token) = token.filter(|t| !t.is_empty()) else {
                    return Some(Err(Error::Protocol(
                        "the headStart route's response lacks the X-Trigger-Chat-Access-Token header, so later turns could not reach the session".into(),
                    )));
                };
                self.set_session(
                    chat_id,
                    SessionState {
                        public_access_token: token.to_owned(),
                        is_streaming: Some(true),
                        ..SessionState::default()
                    },
                );
                None
            }
            Outcome::Bytes(b) => match sse.handle_bytes(b) {
                Ok(()) => None,
                Err(e) => Some(Err(e)),
            },
            Outcome::Eof => {
                sse.handle_eof();
                *ended = true;
                None
            }
            Outcome::Stall => Some(Err(Error::TimedOut("the headStart route's stream"))),
            Outcome::Interrupted => Some(Ok(Done::Closed)),
            Outcome::Failed(e) => {
                if !st.connected && matches!(e, Error::Network(_) | Error::Callback(_)) {
                    // Failed before an answer: report the send's failure.
                    st.connected = true;
                }
                Some(Err(e))
            }
            other => Some(Err(Error::Protocol(cat!(
                "unexpected outcome for a head start: ",
                outcome_name(&other)
            )))),
        }
    }

    /// The persisted form of a chat's session, for `onSessionChange`.
    pub fn persisted(&self, chat_id: &str) -> Option<&SessionState> {
        self.session(chat_id)
    }
}

/// A send that does nothing (a stand-in while the real one is moved out,
/// and the base of the head-start route's report).
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
        blips: 0,
        after_sleep: SendPhase::Append,
        offline_since: None,
    }
}

fn no_start_session() -> Error {
    Error::Misuse(
        "TriggerChatTransport: `startSession` is required to start a session (start(), preload(), or a first message with no stored session); provide it, or hydrate the chat through `sessions`".into(),
    )
}

fn bad_token() -> Error {
    Error::Callback("TriggerChatTransport: `accessToken` must return a non-empty string".into())
}

fn outcome_name(o: &Outcome<'_>) -> &'static str {
    match o {
        Outcome::Token(_) => "token",
        Outcome::Started { .. } => "started",
        Outcome::Response { .. } => "response",
        Outcome::Connected { .. } => "connected",
        Outcome::HeadStarted { .. } => "head-started",
        Outcome::Bytes(_) => "bytes",
        Outcome::Eof => "eof",
        Outcome::Stall => "stall",
        Outcome::Failed(_) | Outcome::Transient(_) => "failed",
        Outcome::Interrupted => "interrupted",
        Outcome::Slept => "slept",
        Outcome::Woken => "woken",
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

fn mismatch() -> Effect {
    Effect::Done(Err(Error::Misuse("operation kind mismatch".into())))
}
