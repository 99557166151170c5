//! The effect runner: the [`Engine`]'s operations driven to their end over
//! a [`Host`]. It performs what the engine asks (call a callback, fetch,
//! read a body, sleep, wait) and hands the outcome back, each effect raced
//! against the engine's interrupts and, for requests and callbacks, against
//! a deadline. It makes no protocol decision of its own.
//!
//! Written once for every host, in the manner of `quinn`'s `Runtime`: the
//! browser's (`src/web/`) and the tests' fake (below) run the same code.
//! Single-threaded: state is behind `Rc` and `RefCell`, never borrowed
//! across a call into the host's notices (the app's callbacks may call back
//! into the transport).

mod host;

use core::cell::{Cell, RefCell};
use core::future::poll_fn;
use core::task::{Poll, Waker};

use alloc::rc::Rc;

pub use host::{Answer, Failure, Host, Request, Started, Task, Trace};

use crate::engine::{Done, Effect, Engine, EngineConfig, Notice, OpId, Outcome};
use crate::error::Error;
use crate::prelude::*;
use crate::session::SessionState;
use crate::wire::{session_url, Endpoint};

/// How long an append (its answer, body included), a connect to `.out`
/// (its headers) or the head-start route (its headers) may take before
/// the request is aborted and reported as timed out: the engine then
/// retries an append as a network failure and reconnects a stream. The
/// Sessions API answers at once (an `.out` long poll sends its headers
/// before it waits), so 30 s only cuts requests that will never answer.
pub const REQUEST_DEADLINE_MS: u64 = 30_000;

/// How long `accessToken` / `startSession` may take before the operation
/// fails as timed out (`code: "TIMEOUT"`): twice the request deadline, as a
/// callback usually makes a request of its own.
pub const CALLBACK_DEADLINE_MS: u64 = 60_000;

/// A tab shown again after being hidden this long: its connection is
/// likely dead, so the stream reconnects at once.
pub const WAKE_HIDDEN_MS: u64 = 30_000;

/// The base URL when the app gives none.
pub const DEFAULT_BASE_URL: &str = "https://api.trigger.dev";

/// Whether a tab shown again after `hidden_ms` hidden should reconnect.
pub fn wake_is_forced(hidden_ms: u64) -> bool {
    hidden_ms >= WAKE_HIDDEN_MS
}

/// An operation's failure as the app sees it: the engine's error, and what
/// the app's code threw when that is what it was.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failed<V> {
    pub error: Error,
    pub thrown: Option<V>,
}

/// How far [`Runner::drive`] took an operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Chunks for the app (the text of one JSON array); drive again for
    /// more.
    Chunks(String),
    /// The operation is over.
    Done(Done),
}

/// The operation that carries a call now (a send, then its reply's
/// stream): where the app's abort goes.
#[derive(Debug, Clone, Default)]
pub struct Target(Rc<Cell<OpId>>);

impl Target {
    pub fn new(op: OpId) -> Target {
        Target(Rc::new(Cell::new(op)))
    }

    pub fn get(&self) -> OpId {
        self.0.get()
    }

    fn set(&self, op: OpId) {
        self.0.set(op);
    }
}

/// The runner's side of one operation. Never borrowed across a call into
/// the host: a body dropped (which cancels it in JavaScript) is taken out
/// first.
struct Io<H: Host> {
    /// An effect is out.
    out: bool,
    /// An interrupt came for the effect that is out.
    cut: bool,
    /// An interrupt came while no effect was out: the next one is cut
    /// short as soon as it starts.
    pending: bool,
    /// A wake came for the parked operation.
    woken: bool,
    /// Whom to tell of `cut` or `woken`.
    waker: Option<Waker>,
    /// The open response body, between reads.
    body: Option<H::Body>,
    /// What the app's code threw last for this operation.
    thrown: Option<H::Value>,
}

impl<H: Host> Io<H> {
    fn new() -> Self {
        Io {
            out: false,
            cut: false,
            pending: false,
            woken: false,
            waker: None,
            body: None,
            thrown: None,
        }
    }

    fn wake(&mut self) {
        if let Some(w) = self.waker.take() {
            w.wake();
        }
    }
}

struct Shared<H: Host> {
    host: H,
    engine: RefCell<Engine>,
    ios: RefCell<Vec<(OpId, Io<H>)>>,
}

/// What came of an effect, owned (the engine's [`Outcome`] borrows).
enum Got {
    Token(Option<String>),
    Started(Started),
    Response {
        status: u16,
        body: String,
        ratelimit_reset: Option<String>,
        retry_after: Option<String>,
    },
    Connected {
        status: u16,
        settled: bool,
    },
    HeadStarted {
        status: u16,
        token: Option<String>,
        pending_version: bool,
        error_body: String,
    },
    Bytes(Vec<u8>),
    Eof,
    Stall,
    Failed(Error),
    Transient(Error),
    Interrupted,
    Slept,
    Woken,
}

impl Got {
    /// The outcome for the engine; a failure's error is moved out (the
    /// effect's result is handed over once).
    fn as_outcome(&mut self) -> Outcome<'_> {
        match self {
            Got::Token(t) => Outcome::Token(t.as_deref()),
            Got::Started(s) => Outcome::Started {
                token: s.token.as_deref(),
                pending_version: s.pending_version,
            },
            Got::Response {
                status,
                body,
                ratelimit_reset,
                retry_after,
            } => Outcome::Response {
                status: *status,
                body,
                ratelimit_reset: ratelimit_reset.as_deref(),
                retry_after: retry_after.as_deref(),
            },
            Got::Connected { status, settled } => Outcome::Connected {
                status: *status,
                settled: *settled,
            },
            Got::HeadStarted {
                status,
                token,
                pending_version,
                error_body,
            } => Outcome::HeadStarted {
                status: *status,
                token: token.as_deref(),
                pending_version: *pending_version,
                error_body,
            },
            Got::Bytes(b) => Outcome::Bytes(b),
            Got::Eof => Outcome::Eof,
            Got::Stall => Outcome::Stall,
            Got::Failed(e) => Outcome::Failed(core::mem::replace(e, Error::Aborted)),
            Got::Transient(e) => Outcome::Transient(core::mem::replace(e, Error::Aborted)),
            Got::Interrupted => Outcome::Interrupted,
            Got::Slept => Outcome::Slept,
            Got::Woken => Outcome::Woken,
        }
    }
}

/// Where operation `op`'s I/O state is in `ios`, made if it is new. Out of
/// line: [`Runner::io`] is instantiated for each of its callers.
#[inline(never)]
fn slot<H: Host>(ios: &mut Vec<(OpId, Io<H>)>, op: OpId) -> usize {
    match ios.iter().position(|(o, _)| *o == op) {
        Some(i) => i,
        None => {
            ios.push((op, Io::new()));
            ios.len() - 1
        }
    }
}

/// Which request [`Runner::request`] makes.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Append,
    Connect,
    HeadStart,
}

/// How long an effect may take, and what it waited for (the timeout's
/// message).
type Deadline = (u64, &'static str);

/// One transport's engine and the effects in flight for it. Cloning gives
/// another handle on the same runner.
pub struct Runner<H: Host> {
    shared: Rc<Shared<H>>,
}

impl<H: Host> Clone for Runner<H> {
    fn clone(&self) -> Self {
        Runner {
            shared: self.shared.clone(),
        }
    }
}

impl<H: Host> Runner<H> {
    /// A runner over `host`; `seed` drives part ids and jitter.
    pub fn new(
        host: H,
        cfg: EngineConfig,
        sessions: Vec<(String, SessionState)>,
        seed: u64,
    ) -> Self {
        let mut engine = Engine::new(cfg, sessions, seed);
        engine.set_now(host.now());
        Runner {
            shared: Rc::new(Shared {
                host,
                engine: RefCell::new(engine),
                ios: RefCell::new(Vec::new()),
            }),
        }
    }

    pub fn host(&self) -> &H {
        &self.shared.host
    }

    /// Runs `f` on the engine at the current time, then carries out the
    /// notices it left.
    pub fn with<R>(&self, f: impl FnOnce(&mut Engine) -> R) -> R {
        let r = {
            let mut engine = self.shared.engine.borrow_mut();
            engine.set_now(self.shared.host.now());
            engine.set_online(self.shared.host.online());
            f(&mut engine)
        };
        self.flush();
        r
    }

    /// How long a send waits for the browser to come back online
    /// ([`Engine::set_offline_wait`]); nothing to carry out.
    pub fn set_offline_wait(&self, ms: u64) {
        self.shared.engine.borrow_mut().set_offline_wait(ms);
    }

    /// Reads the engine, carrying out nothing.
    pub fn read<R>(&self, f: impl FnOnce(&Engine) -> R) -> R {
        f(&self.shared.engine.borrow())
    }

    /// The app aborted operation `op` (its signal).
    pub fn abort(&self, op: OpId) {
        self.with(|e| e.abort(op));
    }

    /// The app cancelled stream `op` (its `ReadableStream`).
    pub fn cancel(&self, op: OpId) {
        self.with(|e| e.cancel(op));
    }

    /// A browser wake event for every stream; `force` when their
    /// connections are likely dead.
    pub fn wake(&self, force: bool) {
        self.with(|e| e.wake(force));
    }

    /// Ends every operation.
    pub fn dispose(&self) {
        self.with(|e| e.dispose());
    }

    /// Operation `op`'s I/O state, made if it is new.
    fn io<R>(&self, op: OpId, f: impl FnOnce(&mut Io<H>) -> R) -> R {
        let mut ios = self.shared.ios.borrow_mut();
        let i = slot(&mut ios, op);
        f(&mut ios[i].1)
    }

    /// What the app's code threw last for operation `op`.
    fn thrown(&self, op: OpId) -> Option<H::Value> {
        let ios = self.shared.ios.borrow();
        ios.iter()
            .find(|(o, _)| *o == op)
            .and_then(|(_, io)| io.thrown.clone())
    }

    /// Carries out the engine's notices, one at a time.
    fn flush(&self) {
        loop {
            let notice = self.shared.engine.borrow_mut().poll_notice();
            let Some(notice) = notice else { return };
            #[cfg(not(target_arch = "wasm32"))]
            self.shared.host.trace(Trace::Notice(&notice));
            match notice {
                Notice::SessionChanged(chat) => {
                    let session = self.shared.engine.borrow().persisted(&chat).cloned();
                    self.shared.host.session_changed(&chat, session.as_ref());
                }
                Notice::Event(json) => {
                    let thrown = |op| self.thrown(op);
                    self.shared.host.event(&json, &thrown);
                }
                Notice::Interrupt(op) => {
                    let body = self.io(op, |io| {
                        if io.out {
                            io.cut = true;
                            io.wake();
                        } else {
                            io.pending = true;
                        }
                        io.body.take()
                    });
                    // The connection it held is let go (outside the borrow:
                    // a body's drop may call into the host).
                    drop(body);
                }
                // Only a parked operation has something to wake (one not
                // driven yet has no I/O state, and the engine may name one
                // that ended while it was parked).
                Notice::Wake(op) => {
                    let mut ios = self.shared.ios.borrow_mut();
                    if let Some((_, io)) = ios.iter_mut().find(|(o, _)| *o == op) {
                        io.woken = true;
                        io.wake();
                    }
                }
                Notice::Spawn(op) => {
                    let runner = self.clone();
                    self.shared.host.spawn(Box::pin(async move {
                        while let Ok(Step::Chunks(_)) = runner.drive(op).await {}
                    }));
                }
            }
        }
    }

    /// What came of `task`: [`Got::Interrupted`] when an interrupt for
    /// `op` came first, a timeout when `deadline` passed first (then `task`
    /// is dropped, which cancels it). The interrupt wins a tie: an effect
    /// that resolved in the same turn as an interrupt reports
    /// [`Outcome::Interrupted`].
    async fn raced(&self, op: OpId, mut task: Task<Got>, deadline: Option<Deadline>) -> Got {
        let mut timer = deadline.map(|(ms, what)| (self.shared.host.sleep(ms), what));
        poll_fn(|cx| {
            let cut = self.io(op, |io| {
                if !io.cut {
                    io.waker = Some(cx.waker().clone());
                }
                io.cut
            });
            if cut {
                mark!("runner-effect-interrupted");
                return Poll::Ready(Got::Interrupted);
            }
            if let Poll::Ready(got) = task.as_mut().poll(cx) {
                return Poll::Ready(got);
            }
            if let Some((sleep, what)) = &mut timer {
                if sleep.as_mut().poll(cx).is_ready() {
                    mark!("runner-deadline-passed");
                    return Poll::Ready(Got::Failed(Error::TimedOut(what)));
                }
            }
            Poll::Pending
        })
        .await
    }

    /// A failure of the host as the engine hears of it; what the app threw
    /// is kept for the error the app sees.
    fn failure(&self, op: OpId, f: Failure<H::Value>, aborted: Error) -> Got {
        let transient = matches!(f, Failure::Transient { .. });
        let e = match f {
            Failure::Network(m) => Error::Network(m.into()),
            Failure::Aborted => aborted,
            Failure::Thrown { message, value } | Failure::Transient { message, value } => {
                self.io(op, |io| io.thrown = Some(value));
                Error::Callback(message.into())
            }
            Failure::Protocol(m) => Error::Protocol(m.into()),
            Failure::Misuse(m) => Error::Misuse(m.into()),
        };
        if transient {
            Got::Transient(e)
        } else {
            Got::Failed(e)
        }
    }

    /// Sends a request; the host's answer to await, or the outcome that
    /// ends the effect. `session` is the chat's endpoint for a session
    /// request (its URL built here), `None` for the head-start route's
    /// (`url` given). Not `async`: the answer is awaited in
    /// [`Runner::request`]'s own state machine.
    fn send_request(
        &self,
        op: OpId,
        session: Option<(Endpoint, &str)>,
        url: &str,
        headers: &str,
        body: Option<&str>,
    ) -> Result<Answer<H::Response, H::Value>, Got> {
        let host = &self.shared.host;
        let built;
        let url = match session {
            Some((endpoint, chat_id)) => match host.base_url(endpoint, chat_id) {
                Ok(base) => {
                    built = session_url(&base, chat_id, endpoint);
                    &built
                }
                Err(f) => return Err(self.failure(op, f, Error::Aborted)),
            },
            None => url,
        };
        Ok(host.fetch(&Request {
            url,
            headers,
            body,
            session,
        }))
    }

    /// Keeps the body of response `r` for the reads that follow; `none`
    /// when it has none.
    fn keep_body(&self, op: OpId, r: H::Response, none: Error) -> Option<Got> {
        match self.shared.host.body(r) {
            Some(b) => {
                drop(self.io(op, |io| io.body.replace(b)));
                None
            }
            None => Some(Got::Failed(none)),
        }
    }

    /// An append to the chat's session (`Kind::Append`), a connect to its
    /// stream (`Kind::Connect`) or a post to the head-start route
    /// (`Kind::HeadStart`, `target` its URL; otherwise the chat id). One
    /// body for the three: each was its own state machine with its own drop
    /// glue.
    async fn request(
        self,
        op: OpId,
        kind: Kind,
        target: String,
        headers: String,
        body: Option<String>,
    ) -> Got {
        let (session, url) = match kind {
            Kind::Append => (Some((Endpoint::In, target.as_str())), ""),
            Kind::Connect => (Some((Endpoint::Out, target.as_str())), ""),
            Kind::HeadStart => (None, target.as_str()),
        };
        let sent = match self.send_request(op, session, url, &headers, body.as_deref()) {
            Ok(sent) => sent,
            Err(got) => return got,
        };
        let r = match sent.await {
            Ok(r) => r,
            // An abort that was not the runner's: for a session request,
            // the app's `fetch` gave up (a network failure); the head-start
            // route's is the effect's own.
            Err(Failure::Aborted) if session.is_none() => return Got::Interrupted,
            Err(f) => return self.failure(op, f, Error::Network("the request was aborted".into())),
        };
        let host = &self.shared.host;
        let status = host.status(&r);
        let ok = (200..300).contains(&status);
        // The headers each kind reads, before the body is taken.
        let (first, second) = match kind {
            Kind::Append => ("x-ratelimit-reset", Some("retry-after")),
            Kind::Connect => ("X-Session-Settled", None),
            Kind::HeadStart => (
                "X-Trigger-Chat-Access-Token",
                Some("X-Trigger-Chat-Pending-Version"),
            ),
        };
        let first = host.header(&r, first);
        let second = second.and_then(|name| host.header(&r, name));
        let mut text = String::new();
        match kind {
            Kind::Append => text = host.text(r).await,
            Kind::HeadStart if !ok => text = host.text(r).await,
            _ if ok => {
                let none = if kind == Kind::Connect {
                    Error::Network("the stream response has no body".into())
                } else {
                    Error::Protocol("the headStart route answered with no body".into())
                };
                if let Some(got) = self.keep_body(op, r, none) {
                    return got;
                }
            }
            _ => drop(r),
        }
        match kind {
            Kind::Append => Got::Response {
                status,
                body: text,
                ratelimit_reset: first,
                retry_after: second,
            },
            Kind::Connect => Got::Connected {
                status,
                settled: first.as_deref() == Some("true"),
            },
            Kind::HeadStart => Got::HeadStarted {
                status,
                token: first,
                pending_version: second.as_deref() == Some("1"),
                error_body: text,
            },
        }
    }

    /// The next bytes of operation `op`'s body, raced against its stall
    /// timer: one `poll_fn` that owns the body, the read and the timer (no
    /// state machine around it). The body is taken when the task is made,
    /// right before its first poll.
    fn read_body(self, op: OpId, stall_ms: u64) -> impl core::future::Future<Output = Got> {
        let mut body = self.io(op, |io| io.body.take());
        let host = &self.shared.host;
        let mut pending = body.as_ref().map(|b| (host.read(b), host.sleep(stall_ms)));
        poll_fn(move |cx| {
            let Some((read, stall)) = pending.as_mut() else {
                return Poll::Ready(Got::Failed(Error::Network("the connection is gone".into())));
            };
            let got = if let Poll::Ready(r) = read.as_mut().poll(cx) {
                Some(r)
            } else if stall.as_mut().poll(cx).is_ready() {
                None
            } else {
                return Poll::Pending;
            };
            pending = None;
            let keep = |body: Option<H::Body>| {
                drop(self.io(op, |io| core::mem::replace(&mut io.body, body)))
            };
            Poll::Ready(match got {
                Some(Ok(Some(bytes))) => {
                    keep(body.take());
                    Got::Bytes(bytes)
                }
                Some(Ok(None)) => {
                    drop(body.take());
                    Got::Eof
                }
                Some(Err(Failure::Aborted)) => {
                    drop(body.take());
                    Got::Failed(Error::Network("the connection was aborted".into()))
                }
                Some(Err(
                    Failure::Network(m)
                    | Failure::Protocol(m)
                    | Failure::Misuse(m)
                    | Failure::Thrown { message: m, .. }
                    | Failure::Transient { message: m, .. },
                )) => {
                    drop(body.take());
                    Got::Failed(Error::Network(m.into()))
                }
                None => {
                    keep(body.take());
                    Got::Stall
                }
            })
        })
    }

    /// Waits for a wake of operation `op` (a plain `poll_fn`: no state
    /// machine around it).
    fn park(self, op: OpId) -> impl core::future::Future<Output = Got> {
        poll_fn(move |cx| {
            self.io(op, |io| {
                if io.woken {
                    Poll::Ready(Got::Woken)
                } else {
                    io.waker = Some(cx.waker().clone());
                    Poll::Pending
                }
            })
        })
    }

    /// The task that performs `effect`, and its deadline.
    fn task(&self, op: OpId, effect: Effect) -> (Task<Got>, Option<Deadline>) {
        let host = &self.shared.host;
        let me = self.clone();
        let failure = move |f| me.failure(op, f, Error::Network("the request was aborted".into()));
        let me = self.clone();
        match effect {
            Effect::CallAccessToken { chat_id } => {
                let call = host.access_token(&chat_id);
                let task = async move { call.await.map_or_else(failure, Got::Token) };
                let what = "the `accessToken` callback to settle (60 s)";
                (Box::pin(task), Some((CALLBACK_DEADLINE_MS, what)))
            }
            Effect::CallStartSession { chat_id } => {
                let call = host.start_session(&chat_id);
                let task = async move { call.await.map_or_else(failure, Got::Started) };
                let what = "the `startSession` callback to settle (60 s)";
                (Box::pin(task), Some((CALLBACK_DEADLINE_MS, what)))
            }
            Effect::Append {
                chat_id,
                headers,
                body,
            } => {
                let what = "the append to the chat's session (30 s)";
                let task = me.request(op, Kind::Append, chat_id, headers, Some(body));
                (Box::pin(task), Some((REQUEST_DEADLINE_MS, what)))
            }
            Effect::Connect {
                chat_id, headers, ..
            } => {
                let what = "the chat's stream to answer (30 s)";
                let task = me.request(op, Kind::Connect, chat_id, headers, None);
                (Box::pin(task), Some((REQUEST_DEADLINE_MS, what)))
            }
            Effect::HeadStart {
                url, headers, body, ..
            } => {
                let what = "the headStart route to answer (30 s)";
                let task = me.request(op, Kind::HeadStart, url, headers, Some(body));
                (Box::pin(task), Some((REQUEST_DEADLINE_MS, what)))
            }
            Effect::Read { stall_ms } => (Box::pin(me.read_body(op, stall_ms)), None),
            Effect::Sleep { ms } => {
                let mut sleep = host.sleep(ms);
                let task = poll_fn(move |cx| sleep.as_mut().poll(cx).map(|()| Got::Slept));
                (Box::pin(task), None)
            }
            Effect::Park => (Box::pin(me.park(op)), None),
            Effect::WaitOnline { ms } => {
                let (mut online, mut sleep) = (host.until_online(), host.sleep(ms));
                let task = poll_fn(move |cx| {
                    if online.as_mut().poll(cx).is_ready() || sleep.as_mut().poll(cx).is_ready() {
                        Poll::Ready(Got::Slept)
                    } else {
                        Poll::Pending
                    }
                });
                (Box::pin(task), None)
            }
            Effect::Chunks(_) | Effect::Done(_) => {
                let got = Got::Failed(crate::error::out_of_order());
                (Box::pin(core::future::ready(got)), None)
            }
        }
    }

    /// Drives operation `op` until it has chunks for the app or ends.
    pub async fn drive(&self, op: OpId) -> Result<Step, Failed<H::Value>> {
        loop {
            #[cfg(not(target_arch = "wasm32"))]
            self.shared.host.trace(Trace::Poll(op));
            let effect = self.with(|e| e.poll(op));
            #[cfg(not(target_arch = "wasm32"))]
            self.shared.host.trace(Trace::Effect(op, &effect));
            let effect = match effect {
                Effect::Chunks(json) => return Ok(Step::Chunks(json)),
                Effect::Done(r) => {
                    let io = {
                        let mut ios = self.shared.ios.borrow_mut();
                        let i = ios.iter().position(|(o, _)| *o == op);
                        i.map(|i| ios.swap_remove(i).1)
                    };
                    let thrown = io.and_then(|io| io.thrown);
                    return match r {
                        Ok(done) => Ok(Step::Done(done)),
                        Err(error) => {
                            let thrown = match error {
                                Error::Callback(_) => thrown,
                                _ => None,
                            };
                            Err(Failed { error, thrown })
                        }
                    };
                }
                e => e,
            };
            // A new connection, or a backoff before one: the old one is
            // over.
            let lets_go = matches!(
                effect,
                Effect::Connect { .. } | Effect::HeadStart { .. } | Effect::Sleep { .. }
            );
            let (body, cut) = self.io(op, |io| {
                io.out = true;
                io.woken = false;
                io.cut = core::mem::take(&mut io.pending);
                (if lets_go { io.body.take() } else { None }, io.cut)
            });
            drop(body);
            let mut got = if cut {
                mark!("runner-interrupt-before-effect");
                Got::Interrupted
            } else {
                let (task, deadline) = self.task(op, effect);
                self.raced(op, task, deadline).await
            };
            self.io(op, |io| {
                io.out = false;
                io.cut = false;
                io.waker = None;
            });
            self.with(|e| {
                let outcome = got.as_outcome();
                #[cfg(not(target_arch = "wasm32"))]
                self.shared.host.trace(Trace::Outcome(op, &outcome));
                e.handle(op, outcome)
            });
        }
    }

    /// Runs send `op` until it resolves; its reply's stream, if it has one,
    /// takes over `target` (an abort from then on ends the stream).
    pub async fn send(&self, op: OpId, target: &Target) -> Result<Step, Failed<H::Value>> {
        target.set(op);
        let step = self.drive(op).await?;
        if let Step::Done(Done::Stream(stream)) = step {
            target.set(stream);
        }
        Ok(step)
    }

    /// The next chunks of stream `op`; `None` once it ended.
    pub async fn next(&self, op: OpId) -> Result<Option<String>, Failed<H::Value>> {
        match self.drive(op).await? {
            Step::Chunks(json) => Ok(Some(json)),
            Step::Done(_) => Ok(None),
        }
    }

    /// The operations that hold I/O state (none once all ended).
    pub fn open_io(&self) -> Vec<OpId> {
        self.shared.ios.borrow().iter().map(|(op, _)| *op).collect()
    }
}

// Native only: the deterministic executor is a native dev-dependency.
#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests;
