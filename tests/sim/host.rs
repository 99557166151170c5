//! The simulator's [`Host`]: the transport's effect runner runs on it
//! unchanged. Every request, body read, timer and app callback the runner
//! asks for becomes a [`Call`] that the simulator's scheduler answers on the
//! virtual clock (or never); what the runner traces, tells the app
//! (`onSessionChange`, `onEvent`) and lets go of (a request aborted, a
//! connection dropped) becomes an [`Entry`] of one log, read by the
//! simulator in the order it happened.
//!
//! Nothing here decides anything: the model server and user are in
//! `driver.rs` and `world.rs`.

use futures::executor::LocalSpawner;
use futures::task::LocalSpawnExt;
use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};
use trigger_chat_wasm::engine::{Effect, Notice, OpId, Outcome};
use trigger_chat_wasm::runner::{Answer, Failure, Host, Request, Started, Task, Trace};
use trigger_chat_wasm::session::SessionState;
use trigger_chat_wasm::wire::Endpoint;
use trigger_chat_wasm::Error;

/// A failure as the simulated app and network give it (the app's thrown
/// value is its message).
pub type Fail = Failure<String>;

/// Where a call's answer goes: filled once by the simulator, taken by the
/// runner's future.
pub struct Slot<T> {
    value: RefCell<Option<T>>,
    waker: RefCell<Option<Waker>>,
    /// The future took its answer (a drop after that is no abort).
    taken: Cell<bool>,
}

impl<T> Slot<T> {
    fn new() -> Rc<Slot<T>> {
        Rc::new(Slot {
            value: RefCell::new(None),
            waker: RefCell::new(None),
            taken: Cell::new(false),
        })
    }

    /// Answers the call; the runner hears of it on its next turn.
    pub fn fill(&self, v: T) {
        *self.value.borrow_mut() = Some(v);
        if let Some(w) = self.waker.borrow_mut().take() {
            w.wake();
        }
    }
}

/// A response as the model server gives it.
#[derive(Debug, Clone)]
pub struct SimResponse {
    pub status: u16,
    pub headers: Vec<(&'static str, String)>,
    pub text: String,
    /// A `.out` stream's body to read, the call that opened it.
    pub body: Option<u64>,
    pub op: OpId,
}

/// What the runner asked for.
pub enum Call {
    Token(Rc<Slot<Result<Option<String>, Fail>>>),
    Started(Rc<Slot<Result<Started, Fail>>>),
    Fetch {
        endpoint: Option<Endpoint>,
        headers: String,
        body: Option<String>,
        slot: Rc<Slot<Result<SimResponse, Fail>>>,
    },
    /// The next bytes of the body the call `conn` opened.
    Read {
        conn: u64,
        slot: Rc<Slot<Result<Option<Vec<u8>>, Fail>>>,
    },
    Timer {
        ms: u64,
        slot: Rc<Slot<()>>,
    },
    /// The app's reader, between two pulls, is busy for a while (or not):
    /// not the runner's call, the simulator's model of a slow reader.
    Pause(Rc<Slot<()>>),
    /// The browser's next `online` event.
    Online(Rc<Slot<()>>),
}

impl std::fmt::Debug for Call {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Call::Token(_) => f.write_str("accessToken"),
            Call::Started(_) => f.write_str("startSession"),
            Call::Fetch { endpoint, .. } => write!(f, "fetch {endpoint:?}"),
            Call::Read { conn, .. } => write!(f, "read c{conn}"),
            Call::Timer { ms, .. } => write!(f, "timer {ms} ms"),
            Call::Pause(_) => f.write_str("reader pause"),
            Call::Online(_) => f.write_str("until online"),
        }
    }
}

/// What an outcome handed to the engine was, as far as the invariants
/// care.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Seen {
    /// A read heard nothing for the stall time (the runner's timer).
    Stall,
    /// The effect was cut short by an interrupt.
    Interrupted,
    /// The effect's deadline passed (a request or callback never answered).
    TimedOut,
    /// `accessToken` / `startSession` answered with no usable token.
    NoToken,
    Other,
}

/// One thing that happened in the runner, in order.
#[derive(Debug)]
pub enum Entry {
    /// The runner performs (or hands over, or ends with) this.
    Effect(OpId, Effect),
    Outcome(OpId, Seen, String),
    /// The engine fired a stop of its own (a detached operation).
    Spawned(OpId),
    /// The engine cut `op`'s effect short (`true`) or woke it.
    Interrupt(OpId, bool),
    /// A call the scheduler is to answer; `op` is the operation it is for.
    Call {
        id: u64,
        op: OpId,
        call: Call,
    },
    /// The runner let go of call `id` before taking an answer (an abort,
    /// a deadline, the operation moved on).
    Dropped(u64),
    /// The runner let go of the body call `conn` opened.
    BodyDropped {
        op: OpId,
        conn: u64,
    },
    SessionChanged(Option<SessionState>),
    /// A lifecycle event, and the operation being driven when it came.
    Event {
        op: Option<OpId>,
        json: String,
    },
}

struct Inner {
    now: Cell<u64>,
    /// `navigator.onLine`.
    online: Cell<bool>,
    next_call: Cell<u64>,
    /// The operation the runner is driving: set by its trace, so the host
    /// calls that follow an effect at once are known to be that
    /// operation's.
    ctx: Cell<Option<OpId>>,
    log: RefCell<VecDeque<Entry>>,
    spawner: RefCell<Option<LocalSpawner>>,
}

impl Inner {
    fn push(&self, e: Entry) {
        self.log.borrow_mut().push_back(e);
    }
}

/// The host; cloning gives another handle on the same one.
#[derive(Clone)]
pub struct SimHost(Rc<Inner>);

impl SimHost {
    pub fn new(spawner: LocalSpawner) -> SimHost {
        SimHost(Rc::new(Inner {
            now: Cell::new(0),
            online: Cell::new(true),
            next_call: Cell::new(1),
            ctx: Cell::new(None),
            log: RefCell::new(VecDeque::new()),
            spawner: RefCell::new(Some(spawner)),
        }))
    }

    pub fn set_now(&self, now: u64) {
        self.0.now.set(now);
    }

    /// The browser goes offline or comes back (`navigator.onLine`).
    pub fn set_online(&self, online: bool) {
        self.0.online.set(online);
    }

    /// What comes next is the app's doing, not an operation's.
    pub fn clear_ctx(&self) {
        self.0.ctx.set(None);
    }

    /// The next entry of the log.
    pub fn next_entry(&self) -> Option<Entry> {
        self.0.log.borrow_mut().pop_front()
    }

    /// A call for the scheduler, and the future that waits for its answer.
    fn call<T: 'static>(
        &self,
        op: OpId,
        make: impl FnOnce(Rc<Slot<T>>) -> Call,
    ) -> Pin<Box<dyn Future<Output = T>>> {
        let id = self.0.next_call.get();
        self.0.next_call.set(id + 1);
        let slot = Slot::new();
        self.0.push(Entry::Call {
            id,
            op,
            call: make(slot.clone()),
        });
        Box::pin(Waiting {
            host: self.0.clone(),
            id,
            slot,
        })
    }

    /// The app's reader of `op` between two pulls: done when the
    /// simulator says.
    pub fn pause(&self, op: OpId) -> impl Future<Output = ()> {
        self.call(op, Call::Pause)
    }

    fn op(&self) -> OpId {
        // A call outside any operation is a runner bug the simulator
        // reports (op 0 is never an operation).
        self.0.ctx.get().unwrap_or(0)
    }
}

/// A call's future: its answer once the scheduler gave it; dropped
/// unanswered, the call is let go.
struct Waiting<T> {
    host: Rc<Inner>,
    id: u64,
    slot: Rc<Slot<T>>,
}

impl<T> Future for Waiting<T> {
    type Output = T;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        if let Some(v) = self.slot.value.borrow_mut().take() {
            self.slot.taken.set(true);
            return Poll::Ready(v);
        }
        *self.slot.waker.borrow_mut() = Some(cx.waker().clone());
        Poll::Pending
    }
}

impl<T> Drop for Waiting<T> {
    fn drop(&mut self) {
        if !self.slot.taken.get() {
            self.host.push(Entry::Dropped(self.id));
        }
    }
}

/// An open `.out` body; the last handle dropped lets the connection go.
#[derive(Clone)]
pub struct SimBody(Rc<BodyInner>);

struct BodyInner {
    host: SimHost,
    op: OpId,
    conn: u64,
}

impl Drop for BodyInner {
    fn drop(&mut self) {
        self.host.0.push(Entry::BodyDropped {
            op: self.op,
            conn: self.conn,
        });
    }
}

fn seen(o: &Outcome<'_>) -> Seen {
    match o {
        Outcome::Stall => Seen::Stall,
        Outcome::Interrupted => Seen::Interrupted,
        Outcome::Failed(Error::TimedOut(_)) => Seen::TimedOut,
        Outcome::Token(None) | Outcome::Started { token: None, .. } => Seen::NoToken,
        _ => Seen::Other,
    }
}

fn short(o: &Outcome<'_>) -> String {
    match o {
        Outcome::Bytes(b) => format!("Bytes({})", b.len()),
        Outcome::Response { status, body, .. } => format!("Response({status} {body})"),
        o => format!("{o:?}"),
    }
}

impl Host for SimHost {
    type Value = String;
    type Response = SimResponse;
    type Body = SimBody;

    fn now(&self) -> u64 {
        self.0.now.get()
    }

    fn sleep(&self, ms: u64) -> Task<()> {
        self.call(self.op(), |slot| Call::Timer { ms, slot })
    }

    fn spawn(&self, task: Task<()>) {
        if let Some(s) = &*self.0.spawner.borrow() {
            // Spawning fails only once the pool is gone (never here).
            let _ = s.spawn_local(task);
        }
    }

    fn online(&self) -> bool {
        self.0.online.get()
    }

    fn until_online(&self) -> Task<()> {
        self.call(self.op(), Call::Online)
    }

    fn access_token(&self, _chat_id: &str) -> Answer<Option<String>, String> {
        self.call(self.op(), Call::Token)
    }

    fn start_session(&self, _chat_id: &str) -> Answer<Started, String> {
        self.call(self.op(), Call::Started)
    }

    fn base_url(&self, _endpoint: Endpoint, _chat_id: &str) -> Result<String, Fail> {
        Ok("https://sim.test".into())
    }

    fn fetch(&self, request: &Request<'_>) -> Answer<SimResponse, String> {
        let endpoint = request.session.map(|(e, _)| e);
        let headers = request.headers.to_owned();
        let body = request.body.map(str::to_owned);
        self.call(self.op(), |slot| Call::Fetch {
            endpoint,
            headers,
            body,
            slot,
        })
    }

    fn status(&self, response: &SimResponse) -> u16 {
        response.status
    }

    fn header(&self, response: &SimResponse, name: &str) -> Option<String> {
        response
            .headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone())
    }

    fn text(&self, response: SimResponse) -> Task<String> {
        Box::pin(std::future::ready(response.text))
    }

    fn body(&self, response: SimResponse) -> Option<SimBody> {
        let conn = response.body?;
        Some(SimBody(Rc::new(BodyInner {
            host: self.clone(),
            op: response.op,
            conn,
        })))
    }

    fn read(&self, body: &SimBody) -> Answer<Option<Vec<u8>>, String> {
        let conn = body.0.conn;
        self.call(body.0.op, |slot| Call::Read { conn, slot })
    }

    fn session_changed(&self, _chat_id: &str, session: Option<&SessionState>) {
        self.0.push(Entry::SessionChanged(session.cloned()));
    }

    fn event(&self, json: &str, _thrown: &dyn Fn(OpId) -> Option<String>) {
        let op = self.0.ctx.get();
        self.0.push(Entry::Event {
            op,
            json: json.to_owned(),
        });
    }

    fn trace(&self, what: Trace<'_>) {
        match what {
            Trace::Poll(op) => self.0.ctx.set(Some(op)),
            Trace::Effect(op, effect) => {
                self.0.ctx.set(Some(op));
                self.0.push(Entry::Effect(op, effect.clone()));
            }
            Trace::Outcome(op, outcome) => {
                self.0.ctx.set(Some(op));
                self.0
                    .push(Entry::Outcome(op, seen(outcome), short(outcome)));
            }
            Trace::Notice(Notice::Spawn(op)) => self.0.push(Entry::Spawned(*op)),
            Trace::Notice(Notice::Interrupt(op)) => self.0.push(Entry::Interrupt(*op, true)),
            Trace::Notice(Notice::Wake(op)) => self.0.push(Entry::Interrupt(*op, false)),
            Trace::Notice(_) => {}
        }
    }
}
