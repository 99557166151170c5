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
//!
//! One concept a file, each `impl Engine` block beside the state it keeps:
//!
//! | file | what it decides |
//! | --- | --- |
//! | `mod.rs` | the public types (effects, outcomes, notices, results), the clock and randomness |
//! | `operations.rs` | opening, polling, handing outcomes to and ending operations; abort, cancel, wake, dispose |
//! | `chats.rs` | each chat's session: adopt, seed, persist (`onSessionChange`), close, remake after a 404 |
//! | `sends.rs` | appends to `.in`: session start, token refresh, retries with one `X-Part-Id`, what a send resolves to |
//! | `streams.rs` | reads of `.out`: connect, read, reconnect, what a turn's end changes, when a stream is over |
//! | `gate.rs` | `stopGeneration`, the stop an abort fires, and the gate that holds a stopped turn out of the next reply |
//! | `head_start.rs` | a first turn through the app's head-start route |
//! | `actions.rs` | an action's `onSettled` |
//! | `notices.rs` | lifecycle events (`onEvent`) and the notice queue |

mod actions;
mod chats;
mod gate;
mod head_start;
mod notices;
mod operations;
mod sends;
mod streams;

use chats::Chat;
use notices::Event;
use operations::{Kind, Op};
use sends::{bad_token, SendOp, SendPhase, Then};
use streams::{Feed, StreamOp, StreamPhase};

use crate::error::{out_of_order, truncate, Error};
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

fn mismatch() -> Effect {
    Effect::Done(Err(out_of_order()))
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

    /// The current time in milliseconds (any epoch; `Date.now()` in the
    /// browser, so rate-limit resets compare).
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
}
