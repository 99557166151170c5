//! What the runner needs from the world it runs in: requests and their
//! bodies, sleeps and the clock, the app's callbacks, spawning, and where
//! the engine's notices go. The browser's implementation is `src/web/`; the
//! tests' is a fake with a virtual clock.
//!
//! Every future is boxed and `'static` (a host keeps its state behind `Rc`),
//! so the runner can hold several at once and race them. Dropping a future
//! cancels what it stands for: a request is aborted, a sleep's timer
//! cleared, a callback's answer ignored. Dropping a [`Host::Body`] lets the
//! connection go.

use core::future::Future;
use core::pin::Pin;

use crate::engine::{Effect, Notice, OpId, Outcome};
use crate::prelude::*;
use crate::session::SessionState;
use crate::wire::Endpoint;

/// A boxed future, what every asynchronous host call returns.
pub type Task<T> = Pin<Box<dyn Future<Output = T>>>;

/// A host call's answer, or why there is none.
pub type Answer<T, V> = Task<Result<T, Failure<V>>>;

/// Why a host call did not give an answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Failure<V> {
    /// The network failed (fetch's own `TypeError`), or a body broke off.
    Network(String),
    /// The request was aborted by someone other than the runner (an
    /// `AbortError` while the runner's own signal was not aborted).
    Aborted,
    /// The app's own code (a callback, its `fetch`) threw `value`;
    /// `message` describes it.
    Thrown { message: String, value: V },
    /// The app's `accessToken` / `startSession` rejected with something
    /// worth another try: a `TypeError` (what `fetch` throws when the
    /// network fails) or an object with `retryable: true`. Otherwise as
    /// [`Failure::Thrown`].
    Transient { message: String, value: V },
    /// The app's code answered with something unusable (fetch resolving to
    /// something other than a `Response`).
    Protocol(String),
    /// The caller used the API wrongly (a missing `startSession`, a
    /// `baseURL` function that returns no string).
    Misuse(String),
}

/// What `startSession` resolved to.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Started {
    /// `publicAccessToken`, if it was a string.
    pub token: Option<String>,
    /// `pendingVersion === true`.
    pub pending_version: bool,
}

/// What the runner is doing, for a host that watches it (the simulator
/// checks its invariants on it). Native builds only call it: in the module
/// the calls are compiled out (even as empty calls they cost ~300 B gzip,
/// measured: the values they borrow must stay in memory).
#[derive(Debug)]
pub enum Trace<'a> {
    /// Operation `op` is about to ask the engine for its next effect.
    Poll(OpId),
    /// What the engine asked of `op`: an effect the runner now performs
    /// (its host calls follow at once, before the runner yields), chunks
    /// for the app, or the operation's end.
    Effect(OpId, &'a Effect),
    /// What came of `op`'s effect, about to be handed to the engine.
    Outcome(OpId, &'a Outcome<'a>),
    /// A notice of the engine, about to be carried out.
    Notice(&'a Notice),
}

/// One request, as the runner asks for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request<'a> {
    pub url: &'a str,
    /// The JSON text of an object, header name to value.
    pub headers: &'a str,
    /// A `POST` with this body; a `GET` without.
    pub body: Option<&'a str>,
    /// For the chat's `.in` / `.out`: which, and the chat. The app's
    /// `fetch` override gets them as its third argument; `None` (the
    /// head-start route) always goes through the global `fetch`.
    pub session: Option<(Endpoint, &'a str)>,
}

/// The world the runner performs effects in.
pub trait Host: 'static {
    /// A value of the app's: what its code threw, handed back as it was.
    type Value: Clone + 'static;
    /// A response whose headers are in.
    type Response: 'static;
    /// An open response body. Reads must not lose bytes when a read's
    /// future is dropped unfinished; dropping the body cancels it.
    type Body: Clone + 'static;

    /// The clock, in milliseconds since the epoch.
    fn now(&self) -> u64;
    /// Resolves after `ms` milliseconds.
    fn sleep(&self, ms: u64) -> Task<()>;
    /// Runs `task` to its end, detached (a stop fired by an abort).
    fn spawn(&self, task: Task<()>);

    /// The app's `accessToken({chatId})`: its value if a string.
    fn access_token(&self, chat_id: &str) -> Answer<Option<String>, Self::Value>;
    /// The app's `startSession({taskId, chatId, clientData})`;
    /// [`Failure::Misuse`] when there is none.
    fn start_session(&self, chat_id: &str) -> Answer<Started, Self::Value>;
    /// The base URL for the chat's `endpoint` (`baseURL`, a string or a
    /// function, or `streamBaseURL` for `.out`).
    fn base_url(&self, endpoint: Endpoint, chat_id: &str) -> Result<String, Failure<Self::Value>>;

    /// Sends a request (through the app's `fetch` for a session request,
    /// if it gave one; else the global `fetch` looked up now).
    fn fetch(&self, request: &Request<'_>) -> Answer<Self::Response, Self::Value>;
    /// The response's status (0 when it has none that makes sense).
    fn status(&self, response: &Self::Response) -> u16;
    /// One of the response's headers.
    fn header(&self, response: &Self::Response, name: &str) -> Option<String>;
    /// The whole body as text (`""` when it cannot be read).
    fn text(&self, response: Self::Response) -> Task<String>;
    /// The body, kept open for reads; `None` when there is none.
    fn body(&self, response: Self::Response) -> Option<Self::Body>;
    /// The bytes that arrived since the last read (several network chunks
    /// joined, at most 64 KiB), as soon as there are some; `None` at the
    /// end of the body.
    fn read(&self, body: &Self::Body) -> Answer<Option<Vec<u8>>, Self::Value>;

    /// The chat's persisted session changed (`onSessionChange`).
    fn session_changed(&self, chat_id: &str, session: Option<&SessionState>);
    /// A lifecycle event (the engine's JSON text of one object). An error
    /// field `{"$error": {...}, "$op": n}` stands for what `thrown(n)`
    /// gives, if anything, else the error it describes.
    fn event(&self, json: &str, thrown: &dyn Fn(OpId) -> Option<Self::Value>);

    /// Whether the browser says it is online (`navigator.onLine`); `true`
    /// where nothing says otherwise.
    fn online(&self) -> bool {
        true
    }
    /// Resolves at the browser's next `online` event (never where there is
    /// none: the runner races it against a sleep).
    fn until_online(&self) -> Task<()> {
        Box::pin(core::future::pending())
    }

    /// What the runner is doing (nothing to do by default).
    fn trace(&self, _what: Trace<'_>) {}
}
