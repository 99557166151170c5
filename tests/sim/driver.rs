//! The simulator: one seeded run of the real transport (the [`Engine`]
//! and the effect runner that performs its effects, `trigger_chat_wasm::runner`)
//! against the model server and agent of `world.rs`, a model user, a
//! virtual clock and a scheduler, with the invariants of issues 8 and 20
//! checked as it goes (docs/simulation.md states them). The runner runs on
//! the simulator's host (`host.rs`) and a deterministic single-threaded
//! executor: every request, read, timer and callback it makes waits for
//! the scheduler.

use super::host::{Call, Entry, Seen, SimHost, SimResponse};
use super::world::*;
use futures::executor::LocalPool;
use futures::task::LocalSpawnExt;
use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, HashMap, HashSet, VecDeque};
use trigger_chat_wasm::engine::{
    Done, Effect, Engine, EngineConfig, OpId, Source, APPEND_ATTEMPTS,
};
use trigger_chat_wasm::json::string_field;
use trigger_chat_wasm::runner::{Failure, Runner, Started, Step};
use trigger_chat_wasm::session::{
    SessionState, EMPTY_WINDOW_BUDGET, PARTIAL_WINDOW_BUDGET, STALL_MS,
};
use trigger_chat_wasm::wire::{Endpoint, OutRequest};
use trigger_chat_wasm::Error;

pub const CHAT: &str = "chat-1";
/// A stream must end this long after its own turn ended (virtual ms),
/// whatever the faults (the longest honest retry schedule is about a
/// minute of backoff plus one stall).
pub const END_BOUND_MS: u64 = 5 * 60_000;
/// How long a send waits for the browser to come back online
/// (`offlineSendTimeoutMs`, the browser transport's default).
pub const OFFLINE_WAIT_MS: u64 = 180_000;
/// The consecutive-failure budget of a subscription's backoff.
const STREAM_ATTEMPTS: u32 = 12;

/// Fault and behaviour rates of one run, per mille unless said.
#[derive(Debug, Clone, Default)]
pub struct Profile {
    pub net: u32,
    pub r429: u32,
    pub r5xx: u32,
    pub cut: u32,
    pub cut_window: u64,
    pub silent: u32,
    pub err_event: u32,
    pub cb_throw: u32,
    pub cb_hang: u32,
    pub cb_bad: u32,
    pub dup: u32,
    pub trim: u32,
    pub tc_token: u32,
    pub agent_close: u32,
    pub pause: u32,
    /// Mean gap between token expiries (0: never).
    pub expire_every: u64,
    /// Mean gap between another device's appends (0: never).
    pub other_every: u64,
    /// When the session goes away / is closed from outside (0: never).
    pub gone_at: u64,
    pub close_at: u64,
    pub turn_len: (u64, u64),
    pub long_turn: u32,
    pub tok_ms: (u64, u64),
    pub latency: (u64, u64),
    pub actions: u32,
    pub small_batches: u32,
    /// The most bytes one read gives (else seeded per connection).
    pub max_piece: Option<usize>,
    /// How long a read takes when bytes are there, and how soon a waiting
    /// read hears of a new record (ms).
    pub read_ms: (u64, u64),
    pub wake_ms: (u64, u64),
    /// The transport watches (`watch: true`): streams read across turns.
    pub watch: bool,
    /// The swarm's extras (`None`: the classic run, as every seed ran
    /// before the swarm, and as the regression seeds still run).
    pub swarm: Option<Swarm>,
}

/// The user's actions, by index in [`Swarm::weights`].
pub const USER_ACTIONS: [&str; 12] = [
    "send",
    "stopGeneration",
    "useChat stop",
    "abort a send",
    "abort a stream",
    "reload",
    "start",
    "nothing",
    "reader.cancel",
    "wake",
    "reload from partial storage",
    "clearSupersedeGate",
];

/// What a swarmed seed adds to the classic run: the user's own mix of
/// actions (some kinds never, some often), sometimes a long run, a fault
/// storm, and server behaviours the classic run never shows. Drawn from a
/// generator of its own, so classic seeds replay as they always did.
#[derive(Debug, Clone, Default)]
pub struct Swarm {
    /// Relative weight of each of [`USER_ACTIONS`] (0: never).
    pub weights: [u32; 12],
    /// `.out` events with CRLF line ends (per connection, per mille).
    pub crlf: u32,
    /// Comment lines (`: ...`) between events (per connection, per mille).
    pub comments: u32,
    /// A connection that ignores `Last-Event-ID` and replays the session
    /// from its start (per mille).
    pub ignore_cursor: u32,
    /// A 429 that says `Retry-After` (seconds) instead of a reset time.
    pub retry_after: u32,
    /// An append refused with 413 (per mille of appends).
    pub r413: u32,
    /// A request (append or `.out` connect) that never answers: the
    /// runner's deadline must end it (per mille of requests).
    pub hang_req: u32,
    /// The app reads slowly: between two pulls it is busy for up to this
    /// long (ms), a quarter of the time (0: it pulls at once).
    pub slow_reader: u64,
    /// Mean gap between the browser's offline stretches (0: never); each
    /// lasts 1 s to 2 minutes, one in ten longer than a send's wait.
    pub offline_every: u64,
    /// `accessToken` / `startSession` rejecting with a transient error
    /// (fetch's `TypeError`), per mille of calls.
    pub cb_blip: u32,
}

impl Swarm {
    /// The swarm's draws for one seed, or `None` for a classic run (half
    /// the seeds).
    pub fn random(rng: &mut Rng, p: &mut Profile) -> Option<Swarm> {
        if rng.pm(500) {
            return None;
        }
        let mut w = [0u32; 12];
        for x in w[..11].iter_mut() {
            *x = if rng.pm(250) {
                0
            } else {
                rng.range(1, 10) as u32
            };
        }
        if w[0] == 0 {
            w[0] = rng.range(1, 10) as u32;
        }
        // Some runs long (hundreds of actions), more of them middling.
        p.actions = match rng.below(100) {
            0..=3 => rng.range(100, 400),
            4..=19 => rng.range(10, 60),
            _ => rng.range(2, 10),
        } as u32;
        if rng.pm(100) {
            // A storm: faults enough to spend retry and reconnect budgets.
            p.net = rng.range(300, 700) as u32;
            p.r5xx = rng.range(100, 400) as u32;
            // Sometimes every connection is cut (reconnect budgets).
            p.cut = if rng.pm(300) {
                1000
            } else {
                rng.range(500, 1000) as u32
            };
            p.cut_window = [200, 3000][rng.below(2) as usize];
        }
        let maybe = |rng: &mut Rng, hi: u64| {
            if rng.pm(500) {
                0
            } else {
                rng.range(1, hi) as u32
            }
        };
        let mut sw = Swarm {
            weights: w,
            crlf: maybe(rng, 1000),
            comments: maybe(rng, 1000),
            ignore_cursor: maybe(rng, 30),
            retry_after: maybe(rng, 1000),
            r413: maybe(rng, 10),
            hang_req: 0,
            slow_reader: 0,
            offline_every: 0,
            cb_blip: 0,
        };
        // Drawn last, so the seeds swarmed before it keep their draws.
        sw.weights[11] = if rng.pm(750) {
            0
        } else {
            rng.range(1, 3) as u32
        };
        sw.hang_req = maybe(rng, 20);
        sw.slow_reader = u64::from(maybe(rng, 3_000));
        sw.offline_every = if rng.pm(700) {
            0
        } else {
            rng.range(5_000, 120_000)
        };
        sw.cb_blip = maybe(rng, 300);
        Some(sw)
    }
}

impl Profile {
    pub fn random(rng: &mut Rng) -> Profile {
        // Off (0) with probability `off` per mille, else in `lo..hi`; the
        // same draws in the same order as ever, so old seeds replay.
        let off_or = |rng: &mut Rng, off: u32, lo: u64, hi: u64| {
            if rng.pm(off) {
                0
            } else {
                rng.range(lo, hi)
            }
        };
        let maybe = |rng: &mut Rng, hi: u64| off_or(rng, 500, 1, hi) as u32;
        let mut p = Profile {
            net: maybe(rng, 150),
            r429: maybe(rng, 150),
            r5xx: maybe(rng, 150),
            cut: maybe(rng, 700),
            cut_window: [200, 3000, 20_000][rng.below(3) as usize],
            silent: maybe(rng, 60),
            err_event: maybe(rng, 60),
            cb_throw: maybe(rng, 100),
            cb_hang: maybe(rng, 40),
            cb_bad: maybe(rng, 80),
            dup: maybe(rng, 100),
            trim: maybe(rng, 50),
            tc_token: maybe(rng, 500),
            agent_close: maybe(rng, 30),
            pause: maybe(rng, 60),
            ..Profile::default()
        };
        p.expire_every = off_or(rng, 500, 500, 30_000);
        p.other_every = off_or(rng, 700, 2_000, 60_000);
        p.gone_at = off_or(rng, 900, 100, 60_000);
        p.close_at = off_or(rng, 900, 100, 120_000);
        p.turn_len = (0, rng.range(1, 40));
        p.long_turn = maybe(rng, 100);
        p.tok_ms = (1, rng.range(1, 80));
        p.latency = (1, rng.range(5, 800));
        p.actions = rng.range(2, 10) as u32;
        p.small_batches = maybe(rng, 500);
        p.read_ms = (0, 15);
        p.wake_ms = (0, 30);
        p.watch = rng.pm(150);
        p
    }

    /// No faults at all.
    pub fn calm() -> Profile {
        Profile {
            cut_window: 3000,
            turn_len: (1, 20),
            tok_ms: (1, 20),
            latency: (1, 50),
            read_ms: (0, 15),
            wake_ms: (0, 30),
            ..Profile::default()
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Ev {
    AgentStep { session: usize, step: u64 },
    User,
    OtherSend,
    Expire,
    Gone,
    CloseOutside,
    Calm,
    Offline,
    Online,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Behave {
    Ok,
    Throw,
    Hang,
    Bad,
    /// Rejects with something worth another try (fetch's `TypeError`).
    Blip,
}

#[derive(Debug)]
enum PKind {
    Cb {
        start: bool,
        behave: Behave,
    },
    Append {
        token: String,
        part: String,
        body: String,
    },
    Connect {
        token: String,
        last: Option<String>,
        timeout: u32,
        peek: bool,
    },
    /// A read of the open body; the runner's own timer says when it
    /// stalled.
    Read {
        started: u64,
    },
    /// A timer of the runner's (a backoff, a deadline, a stall).
    Timer,
    /// A request that never answers (the runner's deadline ends it).
    Never,
    /// The app's reader busy since then.
    Pause {
        since: u64,
    },
    /// A request while the browser is offline: it fails at once.
    Offline,
    /// Waits for the browser's `online` event.
    Online,
}

#[derive(Debug)]
struct Pend {
    op: OpId,
    due: u64,
    kind: PKind,
    /// The host call it answers.
    id: u64,
    call: Call,
}

/// An outcome, owned until it is handed to the engine.
#[derive(Debug, Clone)]
pub enum Out {
    Token(Option<String>),
    Started(Option<String>),
    Response {
        status: u16,
        body: String,
        reset: Option<String>,
        retry_after: Option<String>,
    },
    Connected {
        status: u16,
        settled: bool,
    },
    Bytes(Vec<u8>),
    Eof,
    Failed(Error),
    /// A callback's transient rejection.
    Blip(String),
    Fired,
}

impl Out {
    fn short(&self) -> String {
        match self {
            Out::Bytes(b) => format!("Bytes({})", b.len()),
            Out::Response { status, body, .. } => format!("Response({status} {body})"),
            o => format!("{o:?}"),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpKind {
    Send,
    Stop,
    Detached,
    Start,
    Stream { resumed: bool },
}

#[derive(Debug, Clone)]
pub struct OpInfo {
    pub kind: OpKind,
    pub opened: u64,
    /// When it opened, in the order of everything stamped (`Sim::stamp`).
    pub opened_stamp: u64,
    pub aborted: bool,
    pub result: Option<Result<Done, Error>>,
    pub stop_on_abort: bool,
    /// The append's `X-Part-Id` (sends).
    pub part: Option<String>,
    /// The `.in` seq this stream answers, from the server's ground truth.
    pub since: Option<u64>,
    pub session: Option<usize>,
    pub chunks: Vec<(u32, u32)>,
    /// The `.out` seq of the last turn-complete this stream reported.
    pub last_tc: Option<u64>,
    pub superseded: bool,
    /// Its end was checked.
    pub checked: bool,
    pub hang: bool,
    /// After a reload: the turn the resumed stream must end with.
    pub expect_target: Option<u32>,
    /// Its turn had been answered when it opened (a later send's stream
    /// read past it): it may end at once, empty.
    pub pre_answered: bool,
    /// A watcher resumed while the gate waited for a turn of unknown seq
    /// with no send in flight: it opens at the first boundary (a limit of
    /// the design; see docs/simulation.md).
    pub blind_gate: bool,
    pub cb_fault: bool,
    /// Retryable faults since records last reached it (see `progressed`),
    /// and in all (only to say when the old, total count would have
    /// excused an error).
    pub retry_faults: u32,
    pub retry_total: u32,
    pub empty_cuts: u32,
    pub partial_cuts: u32,
    pub expiries_at_open: u32,
    /// `expiries` when this op was last handed a fresh token.
    pub expiries_at_refresh: Option<u32>,
    pub gone_at_open: u32,
    pub closes_at_open: u32,
    /// The server session current when it opened, and whether it was gone
    /// or closed then.
    pub session_at_open: Option<usize>,
    pub lost_at_open: bool,
    pub closed_at_open: bool,
    /// The engine held a token for the chat when it opened (a stop needs
    /// one).
    pub had_token: bool,
    /// A send's stream: when its send began (virtual ms).
    pub send_opened: Option<u64>,
    /// A detached stop: when the app asked for it (the abort, a stamp).
    pub asked: Option<u64>,
    /// An append of it was refused with 413.
    pub got_413: bool,
    /// Resumed after a reload from partial storage (token and cursor).
    pub partial_resume: bool,
    /// Virtual ms its reads spent delivering bytes: a stream reading a
    /// backlog of thousands of records 7 bytes a read is slow, not stuck.
    pub read_busy: u64,
    /// A connection of it ignored `Last-Event-ID` (replayed from the
    /// session's start).
    pub server_replayed: bool,
    /// Connections the server took for it so far.
    pub connects: u32,
}

impl OpInfo {
    fn new(kind: OpKind, now: u64) -> OpInfo {
        OpInfo {
            kind,
            opened: now,
            opened_stamp: 0,
            aborted: false,
            result: None,
            stop_on_abort: false,
            part: None,
            since: None,
            session: None,
            chunks: Vec::new(),
            last_tc: None,
            superseded: false,
            checked: false,
            hang: false,
            expect_target: None,
            pre_answered: false,
            blind_gate: false,
            cb_fault: false,
            retry_faults: 0,
            retry_total: 0,
            empty_cuts: 0,
            partial_cuts: 0,
            expiries_at_open: 0,
            expiries_at_refresh: None,
            gone_at_open: 0,
            closes_at_open: 0,
            session_at_open: None,
            lost_at_open: false,
            closed_at_open: false,
            had_token: false,
            send_opened: None,
            asked: None,
            got_413: false,
            partial_resume: false,
            read_busy: 0,
            server_replayed: false,
            connects: 0,
        }
    }
}

pub struct Sim {
    pub rng: Rng,
    pub now: u64,
    pub prof: Profile,
    pub cfg: EngineConfig,
    pub sessions: Vec<Session>,
    pub current: Option<usize>,
    pub turns: Vec<Turn>,
    token_next: u64,
    token_min: u64,
    pub expiries: u32,
    pub gones: u32,
    pub closes: u32,
    /// The transport: the engine inside the runner, on the simulator's
    /// host, its tasks on `pool`.
    runner: Runner<SimHost>,
    host: SimHost,
    pool: LocalPool,
    /// A stream's `.out` request, from its effect, for the connect that
    /// follows.
    connect_reqs: HashMap<OpId, OutRequest>,
    /// Which call opened an operation's connection.
    conn_call: HashMap<OpId, u64>,
    /// Operations whose app-side task (the reader) is still to start.
    to_drive: Vec<OpId>,
    /// The browser is offline since then.
    offline_since: Option<u64>,
    /// Offline stretches that ended: (from, until).
    offline_spans: Vec<(u64, u64)>,
    /// The trace shows every outcome (`SIM_ALL`), not only the telling ones.
    trace_all: bool,
    pub gen: u32,
    pub ops: BTreeMap<OpId, OpInfo>,
    pends: Vec<Pend>,
    conns: HashMap<OpId, Conn>,
    events: BinaryHeap<Reverse<(u64, u64, Ev)>>,
    ev_seq: u64,
    pub storage: Option<SessionState>,
    pub trace: Option<VecDeque<String>>,
    pub violations: Vec<String>,
    /// Turns this transport stopped or aborted, and since when.
    /// By (session, `.in` seq of the message).
    pub gated: HashMap<(usize, u64), u64>,
    /// Aborted sends whose append may have landed: part id, when.
    gated_parts: Vec<(String, u64)>,
    /// Turns a stream delivered whole and completed.
    pub delivered: HashSet<u32>,
    /// Our latest turn-starting send: (session, `.in` seq).
    pub last_own: Option<(usize, u64)>,
    /// The highest `sessionInEventId` a turn-completed event reported.
    answered: HashMap<usize, u64>,
    /// When the engine's gate waited for a turn of unknown seq (virtual
    /// ms, from and until).
    unknown_gates: Vec<(u64, Option<u64>)>,
    /// A gate was armed at some point of the run (only to say, in a
    /// violation, that the seed-wide excuse of old would have hidden it).
    gate_ever: bool,
    /// Stops of ours the app asked for, by part id: when it asked (a stamp).
    stop_asked: HashMap<String, u64>,
    /// Turn-starting sends of ours, by part id: when they began (a stamp).
    send_began: HashMap<String, u64>,
    /// Inside `abort()` of an operation whose abort may fire a stop: when.
    aborting: Option<u64>,
    /// The last reload from partial storage (a stamp): the gates armed
    /// before it are forgotten.
    gates_forgotten: u64,
    /// Every send of ours the transport learned the seq of.
    pub known_own: HashSet<(usize, u64)>,
    /// Turns our stops cut: (stop's part id, turn, when).
    our_cuts: Vec<(String, u32, u64)>,
    /// Stops whose fate the transport knows: those that went through, and
    /// the ones it fired on an abort (it gated at once).
    committed_stops: HashSet<String>,
    pub calm: bool,
    calm_at: u64,
    finished: Vec<OpId>,
    actions_left: u32,
    /// Appends that reached the server, by part id (for scenarios).
    pub landed_parts: Vec<String>,
    pub steps: u64,
    pub connects: u64,
    last_stamp: u64,
    /// Scenario hooks: the next appends' answers (status, rate-limit reset
    /// in ms from now), refused without landing.
    pub script_append: VecDeque<(u16, Option<u64>)>,
    /// The next callbacks' behaviour.
    pub script_cb: VecDeque<Behave>,
    /// Times `.out` connections were opened (virtual ms).
    pub connect_times: Vec<u64>,
    /// Calls of `accessToken` / `startSession`.
    pub callbacks: u64,
    /// The server says settled on every `.out` answer (a fake that does).
    pub always_settled: bool,
    /// A turn's first chunk waits this long (ms), when set.
    pub first_chunk_delay: Option<u64>,
}

/// A request header, from the JSON text of an effect's headers.
fn header(headers: &str, name: &str) -> Option<String> {
    string_field(headers, name).map(|v| v.into_owned())
}

impl Sim {
    pub fn new(seed: u64, prof: Option<Profile>, trace: bool) -> Sim {
        Sim::with_swarm(seed, prof, trace, false)
    }

    /// A run; with `swarm`, a random one may be swarmed (see [`Swarm`]).
    pub fn with_swarm(seed: u64, prof: Option<Profile>, trace: bool, swarm: bool) -> Sim {
        let mut rng = Rng::new(seed);
        let random = prof.is_none();
        let mut prof = prof.unwrap_or_else(|| Profile::random(&mut rng));
        if random && swarm && std::env::var("SIM_CLASSIC").is_err() {
            let mut side = Rng::new(seed ^ 0x5A5A_0F0F_3C3C_9696);
            prof.swarm = Swarm::random(&mut side, &mut prof);
        }
        let timeout_seconds = [1, 2, 5, 20, 60, 120][rng.below(6) as usize];
        let cfg = EngineConfig {
            watch: prof.watch,
            timeout_seconds,
            headers: Vec::new(),
            has_start_session: true,
            wants_events: true,
        };
        let pool = LocalPool::new();
        let host = SimHost::new(pool.spawner());
        let runner = Runner::new(host.clone(), cfg.clone(), Vec::new(), rng.next());
        runner.set_offline_wait(OFFLINE_WAIT_MS);
        Sim {
            rng,
            now: 0,
            actions_left: prof.actions,
            prof,
            cfg,
            sessions: Vec::new(),
            current: None,
            turns: Vec::new(),
            token_next: 1,
            token_min: 0,
            expiries: 0,
            gones: 0,
            closes: 0,
            runner,
            host,
            pool,
            connect_reqs: HashMap::new(),
            conn_call: HashMap::new(),
            to_drive: Vec::new(),
            offline_since: None,
            offline_spans: Vec::new(),
            trace_all: trace && std::env::var("SIM_ALL").is_ok(),
            gen: 0,
            ops: BTreeMap::new(),
            pends: Vec::new(),
            conns: HashMap::new(),
            events: BinaryHeap::new(),
            ev_seq: 0,
            storage: None,
            trace: trace.then(VecDeque::new),
            violations: Vec::new(),
            gated: HashMap::new(),
            gated_parts: Vec::new(),
            delivered: HashSet::new(),
            last_own: None,
            known_own: HashSet::new(),
            unknown_gates: Vec::new(),
            gate_ever: false,
            stop_asked: HashMap::new(),
            send_began: HashMap::new(),
            aborting: None,
            gates_forgotten: 0,
            answered: HashMap::new(),
            our_cuts: Vec::new(),
            committed_stops: HashSet::new(),
            calm: false,
            calm_at: 0,
            finished: Vec::new(),
            landed_parts: Vec::new(),
            steps: 0,
            connects: 0,
            last_stamp: 0,
            script_append: VecDeque::new(),
            script_cb: VecDeque::new(),
            connect_times: Vec::new(),
            callbacks: 0,
            always_settled: false,
            first_chunk_delay: None,
        }
    }

    /// Reads the engine.
    pub fn engine<R>(&self, f: impl FnOnce(&Engine) -> R) -> R {
        self.runner.read(f)
    }

    /// Changes the engine as the app would (its notices are carried out).
    pub fn engine_mut<R>(&mut self, f: impl FnOnce(&mut Engine) -> R) -> R {
        self.host.clear_ctx();
        self.runner.with(f)
    }

    // ----- bookkeeping --------------------------------------------------------

    pub fn log(&mut self, f: impl FnOnce() -> String) {
        if let Some(t) = &mut self.trace {
            let cap = std::env::var("SIM_TRACE")
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or(40);
            if t.len() >= cap {
                t.pop_front();
            }
            t.push_back(format!("{:>8} {}", self.now, f()));
        }
    }

    pub fn violation(&mut self, what: String) {
        if self.violations.len() < 8 {
            let w = format!("t={} {}", self.now, what);
            self.log(|| format!("VIOLATION {what}"));
            self.violations.push(w);
        }
    }

    fn at(&mut self, t: u64, ev: Ev) {
        self.ev_seq += 1;
        self.events.push(Reverse((t, self.ev_seq, ev)));
    }

    /// A point in the run: time-ordered, and distinct among things that
    /// happen in the same millisecond.
    fn stamp(&mut self) -> u64 {
        self.last_stamp = (self.last_stamp + 1).max(self.now * 1_000_000);
        self.last_stamp
    }

    fn mint(&mut self) -> String {
        let t = format!("k{}", self.token_next);
        self.token_next += 1;
        t
    }

    fn token_ok(&self, token: &str) -> bool {
        token
            .strip_prefix('k')
            .and_then(|n| n.parse::<u64>().ok())
            .is_some_and(|n| n >= self.token_min && n < self.token_next)
    }

    fn lat(&mut self) -> u64 {
        let (a, b) = self.prof.latency;
        if self.rng.pm(50) {
            self.rng.range(b, b * 4)
        } else {
            self.rng.range(a, b)
        }
    }

    fn turn_of(&self, session: usize, msg_seq: u64) -> Option<u32> {
        self.sessions
            .get(session)?
            .ins
            .get(msg_seq as usize)
            .and_then(|r| r.turn)
    }

    // ----- the server ---------------------------------------------------------

    fn schedule_agent(&mut self, s: usize, at: u64) {
        let a = &mut self.sessions[s].agent;
        a.step += 1;
        a.scheduled = true;
        let step = a.step;
        self.at(at, Ev::AgentStep { session: s, step });
    }

    fn unschedule_agent(&mut self, s: usize) {
        let a = &mut self.sessions[s].agent;
        a.step += 1;
        a.scheduled = false;
    }

    fn push_out(&mut self, s: usize, kind: OutKind, make: impl FnOnce(u64, u64) -> String) -> u64 {
        let seq = self.sessions[s].outs.len() as u64;
        let json = make(seq, self.now);
        self.sessions[s].outs.push(OutRec { seq, json, kind });
        // Waiting readers on this session hear of it soon.
        let now = self.now;
        for i in 0..self.pends.len() {
            let op = self.pends[i].op;
            if let PKind::Read { .. } = self.pends[i].kind {
                if self.conns.get(&op).is_some_and(|c| c.session == s) {
                    let d = now + self.rng.range(self.prof.wake_ms.0, self.prof.wake_ms.1);
                    if d < self.pends[i].due {
                        self.pends[i].due = d;
                    }
                }
            }
        }
        seq
    }

    fn agent_step(&mut self, s: usize) {
        self.sessions[s].agent.scheduled = false;
        if self.sessions[s].gone || self.sessions[s].closed {
            return;
        }
        if let Some(t) = self.sessions[s].agent.running {
            let turn = &self.turns[t as usize];
            if turn.written < turn.planned {
                let idx = turn.written;
                let part = format!("p{t}-{idx}");
                self.turns[t as usize].written += 1;
                self.push_out(s, OutKind::Data { turn: t, idx }, |seq, now| {
                    data_json(seq, now, t, idx, &part)
                });
                if self.rng.pm(self.prof.dup) {
                    // The agent's write was retried: the same part again.
                    self.push_out(s, OutKind::Data { turn: t, idx }, |seq, now| {
                        data_json(seq, now, t, idx, &part)
                    });
                }
                if self.rng.pm(self.prof.trim) {
                    self.push_out(s, OutKind::Trim, trim_json);
                }
                let gap = if !self.calm && self.rng.pm(self.prof.pause) {
                    let d = u64::from(self.cfg.timeout_seconds) * 1000;
                    self.rng.range(d, d * 3)
                } else {
                    self.rng.range(self.prof.tok_ms.0, self.prof.tok_ms.1)
                };
                self.schedule_agent(s, self.now + gap);
            } else {
                self.finish_turn(s);
            }
            return;
        }
        if let Some(q) = self.sessions[s].agent.queue.pop_front() {
            let id = self.turns.len() as u32;
            let rec = &self.sessions[s].ins[q as usize];
            let planned = if self.rng.pm(self.prof.long_turn) {
                self.rng.range(50, 200)
            } else {
                self.rng.range(self.prof.turn_len.0, self.prof.turn_len.1)
            } as u32;
            self.turns.push(Turn {
                session: s,
                msg_seq: q,
                origin: rec.origin,
                planned,
                written: 0,
                cut: false,
                cut_by: None,
                done: None,
            });
            self.sessions[s].ins[q as usize].turn = Some(id);
            let a = &mut self.sessions[s].agent;
            a.running = Some(id);
            a.max_consumed = Some(a.max_consumed.map_or(q, |m| m.max(q)));
            let origin = self.turns[id as usize].origin;
            self.log(|| format!("agent: turn T{id} for in {q} from {origin:?} ({planned} chunks)"));
            if std::mem::take(&mut self.sessions[s].agent.cut_next) {
                self.turns[id as usize].cut = true;
                let by = self.sessions[s].agent.cut_next_ours.take();
                self.turns[id as usize].cut_by = by.clone();
                if let Some(part) = by {
                    self.check_cut(id, &part);
                    let at = self.stamp();
                    self.our_cuts.push((part, id, at));
                }
                self.finish_turn(s);
            } else {
                let d = match self.first_chunk_delay {
                    Some(d) => d,
                    None => self.rng.range(0, 400),
                };
                self.schedule_agent(s, self.now + d);
            }
        }
    }

    /// A stop of ours (part id `stop`) cut turn `t`: the app asked for that
    /// stop (`stopGeneration`, or an abort of what owned a turn), and asked
    /// for it after the send `t` answers began: a turn-starting send waits
    /// for every stop on its way, so an older stop never cuts a newer
    /// reply.
    fn check_cut(&mut self, t: u32, stop: &str) {
        let Some(&asked) = self.stop_asked.get(stop) else {
            self.violation(format!("T{t} was cut by a stop nobody asked for ({stop})"));
            return;
        };
        let turn = &self.turns[t as usize];
        let msg = &self.sessions[turn.session].ins[turn.msg_seq as usize].part;
        if let Some(&began) = self.send_began.get(msg) {
            if asked < began {
                self.violation(format!(
                    "T{t}, the reply to a send begun at {} ms, was cut by a stop asked for before it, at {} ms",
                    began / 1_000_000,
                    asked / 1_000_000
                ));
            }
        }
    }

    /// Our committed stop cut turn `t`: if it answers a send of ours the
    /// transport knew, the transport stopped it, and no later stream may
    /// show it.
    fn cut_by_us(&mut self, t: u32, at: u64) {
        let key = (
            self.turns[t as usize].session,
            self.turns[t as usize].msg_seq,
        );
        if self.known_own.contains(&key) && !self.delivered.contains(&t) {
            self.gated.entry(key).or_insert(at);
        }
    }

    fn finish_turn(&mut self, s: usize) {
        let Some(t) = self.sessions[s].agent.running.take() else {
            return;
        };
        let in_id = self.sessions[s].in_event_id();
        let token = self.rng.pm(self.prof.tc_token).then(|| self.mint());
        let closes = self.rng.pm(self.prof.agent_close);
        let seq = self.push_out(s, OutKind::Tc { turn: t }, |seq, now| {
            tc_json(seq, now, in_id, token.as_deref(), closes)
        });
        self.turns[t as usize].done = Some((seq, self.now));
        self.log(|| format!("agent: T{t} complete at out {seq} (in-event-id {in_id:?})"));
        if closes {
            self.sessions[s].closed = true;
            self.closes += 1;
            self.mark_closed_streams();
            self.unschedule_agent(s);
            return;
        }
        if self.sessions[s].agent.queue.is_empty() {
            self.unschedule_agent(s);
        } else {
            let d = self.rng.range(0, 200);
            self.schedule_agent(s, self.now + d);
        }
    }

    fn mark_closed_streams(&mut self) {
        // Nothing to mark: the excuse is read from `self.closes`.
    }

    /// Appends to the current session's `.in`; the seq (deduped on the
    /// part id) or the refusal.
    fn append_in(&mut self, part: &str, stop: bool, origin: Origin) -> Result<u64, (u16, String)> {
        let Some(s) = self.current.filter(|&s| !self.sessions[s].gone) else {
            return Err((404, r#"{"error":"Session not found"}"#.into()));
        };
        if self.sessions[s].closed {
            return Err((
                409,
                r#"{"code":"session_closed","message":"The session is closed","closedReason":"done"}"#
                    .into(),
            ));
        }
        if let Some(&seq) = self.sessions[s].parts.get(part) {
            return Ok(seq);
        }
        let seq = self.sessions[s].ins.len() as u64;
        self.sessions[s].parts.insert(part.to_owned(), seq);
        self.sessions[s].ins.push(InRec {
            origin,
            turn: None,
            part: part.to_owned(),
        });
        if origin == Origin::Ours {
            self.landed_parts.push(part.to_owned());
        }
        self.log(|| {
            format!(
                "server: in {seq} {} from {origin:?} ({part})",
                if stop { "stop" } else { "message" }
            )
        });
        let a = &mut self.sessions[s].agent;
        if stop {
            a.max_consumed = Some(a.max_consumed.map_or(seq, |m| m.max(seq)));
            if let Some(t) = a.running {
                self.turns[t as usize].cut = true;
                if origin == Origin::Ours {
                    self.turns[t as usize].cut_by = Some(part.to_owned());
                    self.check_cut(t, part);
                    let at = self.stamp();
                    self.our_cuts.push((part.to_owned(), t, at));
                }
                self.finish_turn(s);
            } else if !a.queue.is_empty() {
                a.cut_next = true;
                if origin == Origin::Ours {
                    a.cut_next_ours = Some(part.to_owned());
                }
            }
        } else {
            a.queue.push_back(seq);
            if a.running.is_none() && !a.scheduled {
                let d = self.rng.range(0, 300);
                self.schedule_agent(s, self.now + d);
            }
        }
        Ok(seq)
    }

    fn server_append(&mut self, token: &str, part: &str, body: &str) -> (u16, String) {
        if !self.token_ok(token) {
            let status = if self.rng.pm(500) { 401 } else { 403 };
            return (status, r#"{"error":"Unauthorized"}"#.into());
        }
        let stop = body.contains(r#""kind":"stop""#);
        match self.append_in(part, stop, Origin::Ours) {
            Ok(seq) => (200, format!(r#"{{"ok":true,"seq":{seq}}}"#)),
            Err(e) => e,
        }
    }

    fn new_session(&mut self) -> usize {
        let id = self.sessions.len();
        self.sessions.push(Session::new());
        self.current = Some(id);
        id
    }

    fn server_event(&mut self, ev: Ev) {
        match ev {
            Ev::AgentStep { session, step } => {
                if self.sessions[session].agent.step == step {
                    self.agent_step(session);
                }
            }
            Ev::User => {
                if !self.calm {
                    self.user_act();
                    if self.actions_left > 0 {
                        self.actions_left -= 1;
                        let gap = self.user_gap();
                        self.at(self.now + gap, Ev::User);
                    } else {
                        let d = self.rng.range(0, 20_000);
                        self.at(self.now + d, Ev::Calm);
                    }
                }
            }
            Ev::OtherSend => {
                if self.calm {
                    return;
                }
                let part = format!("other-{}", self.rng.next() % 1_000_000);
                let stop = self.rng.pm(250);
                let r = self.append_in(&part, stop, Origin::Other);
                self.log(|| {
                    format!(
                        "other device appends ({}): {r:?}",
                        if stop { "stop" } else { "message" }
                    )
                });
                if self.prof.other_every > 0 {
                    let gap = self.rng.range(1, self.prof.other_every * 2);
                    self.at(self.now + gap, Ev::OtherSend);
                }
            }
            Ev::Expire => {
                if self.calm {
                    return;
                }
                self.token_min = self.token_next;
                self.expiries += 1;
                self.log(|| "server: every token expires".into());
                if self.prof.expire_every > 0 {
                    let gap = self.rng.range(1, self.prof.expire_every * 2);
                    self.at(self.now + gap, Ev::Expire);
                }
            }
            Ev::Gone => {
                if self.calm {
                    return;
                }
                if let Some(s) = self.current.take() {
                    self.sessions[s].gone = true;
                    self.unschedule_agent(s);
                    self.gones += 1;
                    self.log(|| format!("server: session {s} is gone"));
                    let now = self.now;
                    for (op, c) in self.conns.iter_mut() {
                        if c.session == s {
                            c.killed = true;
                            for p in self.pends.iter_mut() {
                                if p.op == *op && matches!(p.kind, PKind::Read { .. }) {
                                    p.due = p.due.min(now);
                                }
                            }
                        }
                    }
                }
            }
            Ev::CloseOutside => {
                if self.calm {
                    return;
                }
                if let Some(s) = self.current.filter(|&s| !self.sessions[s].closed) {
                    self.sessions[s].closed = true;
                    self.sessions[s].agent.running = None;
                    self.sessions[s].agent.queue.clear();
                    self.unschedule_agent(s);
                    self.closes += 1;
                    self.push_out(s, OutKind::Closed, closed_json);
                    self.log(|| format!("server: session {s} closed from outside"));
                }
            }
            Ev::Calm => self.enter_calm(),
            Ev::Offline => {
                let every = self.prof.swarm.as_ref().map_or(0, |sw| sw.offline_every);
                if self.calm || self.offline_since.is_some() || every == 0 {
                    return;
                }
                self.go_offline();
                let len = if self.rng.pm(100) {
                    self.rng
                        .range(OFFLINE_WAIT_MS + 5_000, OFFLINE_WAIT_MS + 60_000)
                } else {
                    self.rng.range(1_000, 120_000)
                };
                self.at(self.now + len, Ev::Online);
            }
            Ev::Online => {
                self.go_online();
                let every = self.prof.swarm.as_ref().map_or(0, |sw| sw.offline_every);
                if !self.calm && every > 0 {
                    let gap = self.rng.range(1, every * 2);
                    self.at(self.now + gap, Ev::Offline);
                }
            }
        }
    }

    /// The browser loses the network: connections break, requests fail at
    /// once, `navigator.onLine` is false.
    pub fn go_offline(&mut self) {
        self.log(|| "browser: offline".into());
        self.offline_since = Some(self.now);
        self.host.set_online(false);
        let now = self.now;
        for c in self.conns.values_mut() {
            c.killed = true;
        }
        for i in 0..self.pends.len() {
            let p = &mut self.pends[i];
            match &p.kind {
                PKind::Read { .. } => p.due = p.due.min(now),
                PKind::Connect { .. } => {
                    p.kind = PKind::Offline;
                    p.due = now;
                }
                PKind::Append { token, part, body } => {
                    if self.rng.pm(500) {
                        // It was on the wire: it lands.
                        let (token, part, body) = (token.clone(), part.clone(), body.clone());
                        let r = self.server_append(&token, &part, &body);
                        let op = self.pends[i].op;
                        self.log(|| {
                            format!("op{op}: the append cut by going offline lands: {r:?}")
                        });
                    }
                    let p = &mut self.pends[i];
                    p.kind = PKind::Offline;
                    p.due = now;
                }
                _ => {}
            }
        }
    }

    /// The network is back: the `online` event (waiting sends go on,
    /// streams reconnect at once).
    pub fn go_online(&mut self) {
        let Some(since) = self.offline_since.take() else {
            return;
        };
        self.log(|| "browser: online".into());
        self.offline_spans.push((since, self.now));
        self.host.set_online(true);
        let waiting: Vec<usize> = (0..self.pends.len())
            .rev()
            .filter(|&i| matches!(self.pends[i].kind, PKind::Online))
            .collect();
        for i in waiting {
            let p = self.pends.swap_remove(i);
            self.answer(p, Out::Fired);
        }
        self.run_work();
        // The browser's `online` event wakes every stream at once.
        self.host.clear_ctx();
        self.runner.wake(true);
        self.run_work();
    }

    /// How long the browser was offline since `from` (ms).
    fn offline_since_ms(&self, from: u64) -> u64 {
        let spans = self
            .offline_spans
            .iter()
            .copied()
            .chain(self.offline_since.map(|s| (s, self.now)));
        spans.map(|(a, b)| b.saturating_sub(a.max(from))).sum()
    }

    /// Since `from`, the browser was offline for a send's whole wait in
    /// one stretch.
    fn long_offline_since(&self, from: u64) -> bool {
        let spans = self
            .offline_spans
            .iter()
            .copied()
            .chain(self.offline_since.map(|s| (s, self.now)));
        spans
            .into_iter()
            .any(|(a, b)| b.saturating_sub(a.max(from)) >= OFFLINE_WAIT_MS)
    }

    // ----- effects ------------------------------------------------------------

    fn behave(&mut self) -> Behave {
        self.callbacks += 1;
        if let Some(b) = self.script_cb.pop_front() {
            return b;
        }
        if self.calm {
            return Behave::Ok;
        }
        if self.offline_since.is_some() {
            // The app's callback makes a request of its own: it fails.
            return Behave::Blip;
        }
        let blip = self.prof.swarm.as_ref().map_or(0, |sw| sw.cb_blip);
        if blip > 0 && self.rng.pm(blip) {
            return Behave::Blip;
        }
        let r = self.rng.below(1000) as u32;
        let p = &self.prof;
        if r < p.cb_throw {
            Behave::Throw
        } else if r < p.cb_throw + p.cb_hang {
            Behave::Hang
        } else if r < p.cb_throw + p.cb_hang + p.cb_bad {
            Behave::Bad
        } else {
            Behave::Ok
        }
    }

    /// What the engine asked of `op`, as the runner traced it: chunks for
    /// the app, the operation's end, or an effect (its bookkeeping here;
    /// the host calls that perform it follow).
    fn effect_seen(&mut self, op: OpId, eff: Effect) {
        match eff {
            Effect::Chunks(json) => self.got_chunks(op, &json),
            Effect::Done(r) => {
                self.log(|| format!("op{op} done: {r:?}"));
                if let Some(o) = self.ops.get_mut(&op) {
                    if o.result.is_some() {
                        let msg = format!("op{op} ended twice");
                        self.violation(msg);
                        return;
                    }
                    o.result = Some(r);
                    o.hang = false;
                }
                self.finished.push(op);
            }
            Effect::Append { headers, .. } => {
                let part = header(&headers, "X-Part-Id").unwrap_or_default();
                if part.is_empty() {
                    self.violation(format!("op{op}: an append without X-Part-Id"));
                }
                if let Some(o) = self.ops.get(&op) {
                    match o.kind {
                        OpKind::Stop => {
                            let at = o.opened_stamp;
                            self.stop_asked.entry(part.clone()).or_insert(at);
                        }
                        OpKind::Detached => {
                            if let Some(at) = o.asked {
                                self.stop_asked.entry(part.clone()).or_insert(at);
                            }
                        }
                        OpKind::Send => {
                            let at = o.opened_stamp;
                            self.send_began.entry(part.clone()).or_insert(at);
                        }
                        _ => {}
                    }
                }
                if let Some(o) = self.ops.get_mut(&op) {
                    if o.kind == OpKind::Detached {
                        self.committed_stops.insert(part.clone());
                    }
                    match &o.part {
                        Some(p) if *p != part => {
                            let msg = format!("op{op}: a retry changed its X-Part-Id");
                            self.violation(msg);
                        }
                        _ => o.part = Some(part.clone()),
                    }
                }
            }
            Effect::Connect { req, .. } => {
                self.connect_reqs.insert(op, req);
            }
            Effect::Read { stall_ms } => {
                if stall_ms != STALL_MS {
                    self.violation(format!("op{op}: read with stall {stall_ms}"));
                }
            }
            Effect::HeadStart { .. } => {
                self.violation(format!("op{op}: a head start, which no model app asks for"));
            }
            Effect::CallAccessToken { .. }
            | Effect::CallStartSession { .. }
            | Effect::Sleep { .. }
            | Effect::WaitOnline { .. }
            | Effect::Park => {}
        }
    }

    /// A host call of the runner's: a pending effect for the scheduler.
    fn call_made(&mut self, id: u64, op: OpId, call: Call) {
        if op == 0 {
            self.violation(format!("a host call outside any operation: {call:?}"));
        }
        let now = self.now;
        let hang_req = self.prof.swarm.as_ref().map_or(0, |sw| sw.hang_req);
        let (due, kind) = match &call {
            Call::Token(_) | Call::Started(_) => {
                let start = matches!(call, Call::Started(_));
                let behave = self.behave();
                let due = if behave == Behave::Hang {
                    // Never answered: the runner's deadline ends the
                    // operation (TIMEOUT), unless something else does.
                    if let Some(o) = self.ops.get_mut(&op) {
                        o.hang = true;
                        o.cb_fault = true;
                    }
                    u64::MAX
                } else {
                    now + self.rng.range(0, 300)
                };
                (due, PKind::Cb { start, behave })
            }
            Call::Fetch { .. } if self.offline_since.is_some() => {
                if let Call::Fetch {
                    endpoint: Some(Endpoint::Out),
                    ..
                } = &call
                {
                    self.connect_reqs.remove(&op);
                }
                (now + 1, PKind::Offline)
            }
            Call::Fetch {
                endpoint: Some(Endpoint::In),
                headers,
                body,
                ..
            } => {
                let token = header(headers, "Authorization")
                    .and_then(|v| v.strip_prefix("Bearer ").map(str::to_owned))
                    .unwrap_or_default();
                let part = header(headers, "X-Part-Id").unwrap_or_default();
                let body = body.clone().unwrap_or_default();
                if hang_req > 0 && !self.calm && self.rng.pm(hang_req) {
                    // Never answered; half the time it reached the server.
                    if self.rng.pm(500) {
                        let r = self.server_append(&token, &part, &body);
                        self.log(|| format!("op{op}: the unanswered append lands: {r:?}"));
                    }
                    self.count_fault(op);
                    (u64::MAX, PKind::Never)
                } else {
                    let d = self.lat();
                    (now + d, PKind::Append { token, part, body })
                }
            }
            Call::Fetch {
                endpoint: Some(Endpoint::Out),
                headers,
                ..
            } => {
                let token = header(headers, "Authorization")
                    .and_then(|v| v.strip_prefix("Bearer ").map(str::to_owned))
                    .unwrap_or_default();
                let Some(req) = self.connect_reqs.remove(&op) else {
                    self.violation(format!("op{op}: a connect with no Connect effect"));
                    return;
                };
                if hang_req > 0 && !self.calm && self.rng.pm(hang_req) {
                    self.count_fault(op);
                    (u64::MAX, PKind::Never)
                } else {
                    let d = self.lat();
                    (
                        now + d,
                        PKind::Connect {
                            token,
                            last: req.last_event_id,
                            timeout: req.timeout_seconds,
                            peek: req.peek_settled,
                        },
                    )
                }
            }
            Call::Fetch { endpoint: None, .. } => {
                self.violation(format!("op{op}: a request to the head-start route"));
                return;
            }
            Call::Read { .. } => (
                now + self.rng.range(self.prof.read_ms.0, self.prof.read_ms.1),
                PKind::Read { started: now },
            ),
            Call::Timer { ms, .. } => (now.saturating_add(*ms), PKind::Timer),
            Call::Online(slot) => {
                if self.offline_since.is_none() {
                    slot.fill(());
                    return;
                }
                (u64::MAX, PKind::Online)
            }
            Call::Pause(slot) => {
                let max = self.prof.swarm.as_ref().map_or(0, |sw| sw.slow_reader);
                if max == 0 || self.calm || !self.rng.pm(250) {
                    slot.fill(());
                    return;
                }
                (now + self.rng.range(1, max), PKind::Pause { since: now })
            }
        };
        if !matches!(
            kind,
            PKind::Read { .. } | PKind::Timer | PKind::Pause { .. }
        ) {
            self.log(|| format!("op{op} <- {kind:?}"));
        }
        self.pends.push(Pend {
            op,
            due,
            kind,
            id,
            call,
        });
    }

    /// Hands the scheduler's answer to the runner's call.
    fn answer(&mut self, p: Pend, out: Out) {
        let op = p.op;
        if !matches!(out, Out::Bytes(_) | Out::Fired) {
            self.log(|| format!("op{op} -> {}", out.short()));
        }
        let thrown = |e: Error| match e {
            Error::Callback(m) => Failure::Thrown {
                value: m.to_string(),
                message: m.into_owned(),
            },
            Error::Network(m) => Failure::Network(m.into_owned()),
            e => Failure::Protocol(e.to_string()),
        };
        let bad = |out: &Out| format!("op{op}: no answer of that kind for a call: {out:?}");
        match (p.call, out) {
            (Call::Token(slot), Out::Token(t)) => slot.fill(Ok(t)),
            (Call::Token(slot), Out::Failed(e)) => slot.fill(Err(thrown(e))),
            (Call::Token(slot), Out::Blip(m)) => slot.fill(Err(Failure::Transient {
                value: m.clone(),
                message: m,
            })),
            (Call::Started(slot), Out::Blip(m)) => slot.fill(Err(Failure::Transient {
                value: m.clone(),
                message: m,
            })),
            (Call::Started(slot), Out::Started(token)) => slot.fill(Ok(Started {
                token,
                pending_version: false,
            })),
            (Call::Started(slot), Out::Failed(e)) => slot.fill(Err(thrown(e))),
            (
                Call::Fetch { slot, .. },
                Out::Response {
                    status,
                    body,
                    reset,
                    retry_after,
                },
            ) => {
                let mut headers = Vec::new();
                if let Some(r) = reset {
                    headers.push(("x-ratelimit-reset", r));
                }
                if let Some(r) = retry_after {
                    headers.push(("retry-after", r));
                }
                slot.fill(Ok(SimResponse {
                    status,
                    headers,
                    text: body,
                    body: None,
                    op,
                }));
            }
            (Call::Fetch { slot, .. }, Out::Connected { status, settled }) => {
                let mut headers = Vec::new();
                if settled {
                    headers.push(("X-Session-Settled", "true".to_owned()));
                }
                let open = (200..300).contains(&status);
                if open {
                    self.conn_call.insert(op, p.id);
                }
                slot.fill(Ok(SimResponse {
                    status,
                    headers,
                    text: String::new(),
                    body: open.then_some(p.id),
                    op,
                }));
            }
            (Call::Fetch { slot, .. }, Out::Failed(e)) => slot.fill(Err(thrown(e))),
            (Call::Read { slot, .. }, Out::Bytes(b)) => slot.fill(Ok(Some(b))),
            (Call::Read { slot, .. }, Out::Eof) => slot.fill(Ok(None)),
            (Call::Read { slot, .. }, Out::Failed(e)) => slot.fill(Err(thrown(e))),
            (Call::Timer { slot, .. } | Call::Pause(slot) | Call::Online(slot), Out::Fired) => {
                slot.fill(())
            }
            (_, out) => {
                let msg = bad(&out);
                self.violation(msg);
            }
        }
    }

    fn count_fault(&mut self, op: OpId) {
        if let Some(o) = self.ops.get_mut(&op) {
            o.retry_faults += 1;
            o.retry_total += 1;
        }
    }

    /// Performs a pending effect that is due: its outcome, or `None` when
    /// it was re-queued (a read with nothing yet).
    fn perform(&mut self, op: OpId, kind: &PKind) -> Result<Out, u64> {
        let calm = self.calm;
        match kind {
            PKind::Cb { start, behave } => {
                let out = match behave {
                    Behave::Throw => {
                        Out::Failed(Error::Callback("the app's callback threw".into()))
                    }
                    Behave::Blip => Out::Blip("Failed to fetch".into()),
                    Behave::Bad if *start => Out::Started(None),
                    Behave::Bad => Out::Token(if self.rng.pm(500) {
                        None
                    } else {
                        Some(String::new())
                    }),
                    _ if *start => {
                        if self.current.is_none_or(|s| self.sessions[s].gone) {
                            let s = self.new_session();
                            self.log(|| format!("server: session {s} started"));
                        }
                        Out::Started(Some(self.mint()))
                    }
                    _ => Out::Token(Some(self.mint())),
                };
                if matches!(out, Out::Token(Some(_)) | Out::Started(Some(_))) {
                    let e = self.expiries;
                    if let Some(o) = self.ops.get_mut(&op) {
                        o.expiries_at_refresh = Some(e);
                    }
                }
                if *behave != Behave::Ok {
                    if let Some(o) = self.ops.get_mut(&op) {
                        o.cb_fault = true;
                    }
                }
                Ok(out)
            }
            PKind::Append { token, part, body } => {
                if let Some((status, reset)) = self.script_append.pop_front() {
                    self.count_fault(op);
                    return Ok(Out::Response {
                        status,
                        body: r#"{"error":"scripted"}"#.into(),
                        reset: reset.map(|ms| (self.now + ms).to_string()),
                        retry_after: None,
                    });
                }
                let r = if calm {
                    1000
                } else {
                    self.rng.below(1000) as u32
                };
                let (net, r429, r5xx) = (self.prof.net, self.prof.r429, self.prof.r5xx);
                if r < net / 2 {
                    self.count_fault(op);
                    return Ok(Out::Failed(Error::Network("fetch failed".into())));
                }
                if r < net / 2 + r429 {
                    self.count_fault(op);
                    let reset = self.now + self.rng.range(0, 2500);
                    let say_after = self.prof.swarm.as_ref().map_or(0, |sw| sw.retry_after);
                    if say_after > 0 && self.rng.pm(say_after) {
                        // `Retry-After` in seconds instead of a reset time.
                        let secs = self.rng.range(0, 3);
                        return Ok(Out::Response {
                            status: 429,
                            body: r#"{"error":"Too many requests"}"#.into(),
                            reset: None,
                            retry_after: Some(secs.to_string()),
                        });
                    }
                    return Ok(Out::Response {
                        status: 429,
                        body: r#"{"error":"Too many requests"}"#.into(),
                        reset: Some(reset.to_string()),
                        retry_after: None,
                    });
                }
                if r < net / 2 + r429 + r5xx {
                    self.count_fault(op);
                    if self.rng.pm(300) {
                        let _ = self.server_append(token, part, body);
                    }
                    return Ok(Out::Response {
                        status: [500, 502, 503][self.rng.below(3) as usize],
                        body: "upstream trouble".into(),
                        reset: None,
                        retry_after: None,
                    });
                }
                let too_large = self.prof.swarm.as_ref().map_or(0, |sw| sw.r413);
                if too_large > 0 && self.rng.pm(too_large) {
                    // The proxy in front refuses the body: nothing lands.
                    if let Some(o) = self.ops.get_mut(&op) {
                        o.got_413 = true;
                    }
                    return Ok(Out::Response {
                        status: 413,
                        body: "Request Entity Too Large".into(),
                        reset: None,
                        retry_after: None,
                    });
                }
                let (status, rbody) = self.server_append(token, part, body);
                if r < net + r429 + r5xx {
                    // It landed, but the answer is lost.
                    self.count_fault(op);
                    return Ok(Out::Failed(Error::Network("terminated".into())));
                }
                Ok(Out::Response {
                    status,
                    body: rbody,
                    reset: None,
                    retry_after: None,
                })
            }
            PKind::Connect {
                token,
                last,
                timeout,
                peek,
            } => {
                self.connects += 1;
                self.connect_times.push(self.now);
                let r = if calm {
                    1000
                } else {
                    self.rng.below(1000) as u32
                };
                let (net, r429, r5xx) = (self.prof.net, self.prof.r429, self.prof.r5xx);
                if r < net {
                    self.count_fault(op);
                    return Ok(Out::Failed(Error::Network("fetch failed".into())));
                }
                if r < net + r429 / 2 + r5xx {
                    self.count_fault(op);
                    let status = if r < net + r429 / 2 { 429 } else { 503 };
                    return Ok(Out::Connected {
                        status,
                        settled: false,
                    });
                }
                if !self.token_ok(token) {
                    let status = if self.rng.pm(500) { 401 } else { 403 };
                    return Ok(Out::Connected {
                        status,
                        settled: false,
                    });
                }
                let Some(s) = self.current.filter(|&s| !self.sessions[s].gone) else {
                    return Ok(Out::Connected {
                        status: 404,
                        settled: false,
                    });
                };
                let settled = (*peek || self.always_settled) && self.sessions[s].settled();
                let mut cursor = last.as_deref().and_then(|c| c.parse::<u64>().ok());
                let sw = self.prof.swarm.clone().unwrap_or_default();
                // Only a stream's first connection may be replayed from the
                // start: on a later one, a server that ignores `Last-Event-ID`
                // cannot be told from one that numbers each window afresh,
                // whose records the vendor's own 4.8.3 tests require to be
                // read as new (docs/simulation.md).
                let first = self.ops.get_mut(&op).is_none_or(|o| {
                    o.connects += 1;
                    o.connects == 1
                });
                // (No draw at all in a classic run: its draws stay as ever.)
                let replayed = sw.ignore_cursor > 0
                    && cursor.is_some()
                    && !calm
                    && self.rng.pm(sw.ignore_cursor)
                    && first;
                if replayed {
                    // This server ignores `Last-Event-ID`.
                    cursor = None;
                    if let Some(o) = self.ops.get_mut(&op) {
                        o.server_replayed = true;
                    }
                }
                let crlf = sw.crlf > 0 && self.rng.pm(sw.crlf);
                let comments = sw.comments > 0 && self.rng.pm(sw.comments);
                let cut_at = (!calm && self.rng.pm(self.prof.cut))
                    .then(|| self.rng.below(self.prof.cut_window) as usize);
                let ping_every = self.rng.range(5_000, 30_000);
                let conn = Conn {
                    session: s,
                    cursor,
                    deadline: self.now + u64::from(*timeout) * 1000,
                    buf: Vec::new(),
                    pos: 0,
                    cut_at,
                    cut_errors: self.rng.pm(500),
                    sent: 0,
                    settled,
                    silent: !calm && self.rng.pm(self.prof.silent),
                    ping_every,
                    next_ping: self.now + ping_every,
                    done_sent: false,
                    ended: false,
                    killed: false,
                    error_event: !calm && self.rng.pm(self.prof.err_event),
                    batch_max: if self.rng.pm(self.prof.small_batches) {
                        self.rng.range(1, 8) as usize
                    } else {
                        256
                    },
                    max_piece: match self.prof.max_piece {
                        Some(n) => n,
                        None => match self.rng.below(40) {
                            0 if !calm => 7,
                            1..=2 => 64,
                            3..=9 => 1024,
                            _ => 1 << 20,
                        },
                    },
                    crlf,
                    comments,
                    replayed,
                    error_sent: false,
                };
                if let Some(o) = self.ops.get_mut(&op) {
                    o.session = Some(s);
                }
                let backlog = self.sessions[s].outs.len() as u64 - cursor.map_or(0, |c| c + 1);
                self.log(|| {
                    format!("op{op}: connected from {last:?}, backlog {backlog}, cut at {cut_at:?}")
                });
                self.conns.insert(op, conn);
                Ok(Out::Connected {
                    status: 200,
                    settled,
                })
            }
            PKind::Read { started } => {
                let Some(mut conn) = self.conns.remove(&op) else {
                    self.violation(format!("op{op}: read without a connection"));
                    return Ok(Out::Failed(Error::Network("no body".into())));
                };
                let session = &self.sessions[conn.session];
                let res = conn.read(session, self.now, &mut self.rng);
                if std::mem::take(&mut conn.error_sent) {
                    self.count_fault(op);
                }
                let out = match res {
                    ReadResult::Bytes(b) => {
                        // Time the network spent handing it bytes.
                        if let Some(o) = self.ops.get_mut(&op) {
                            o.read_busy += self.now - *started;
                        }
                        Out::Bytes(b)
                    }
                    ReadResult::Eof => {
                        if conn.error_event || conn.ended && !conn.done_sent && !conn.settled {
                            self.count_fault(op);
                        }
                        if conn.replayed {
                            if let Some(o) = self.ops.get_mut(&op) {
                                o.empty_cuts += 1;
                            }
                        }
                        Out::Eof
                    }
                    ReadResult::Cut { error } => {
                        if let Some(o) = self.ops.get_mut(&op) {
                            if conn.sent == 0 || conn.replayed {
                                o.empty_cuts += 1;
                            } else {
                                o.partial_cuts += 1;
                            }
                            o.retry_faults += 1;
                            o.retry_total += 1;
                        }
                        if error {
                            Out::Failed(Error::Network("terminated".into()))
                        } else {
                            Out::Eof
                        }
                    }
                    ReadResult::Killed => {
                        self.count_fault(op);
                        Out::Failed(Error::Network("terminated".into()))
                    }
                    ReadResult::Wait(at) => {
                        // Nothing yet: the read waits (the runner's stall
                        // timer runs meanwhile).
                        self.conns.insert(op, conn);
                        return Err(at);
                    }
                };
                if matches!(out, Out::Bytes(_)) {
                    self.conns.insert(op, conn);
                }
                Ok(out)
            }
            PKind::Timer | PKind::Online => Ok(Out::Fired),
            PKind::Offline => {
                self.count_fault(op);
                Ok(Out::Failed(Error::Network("Failed to fetch".into())))
            }
            PKind::Pause { since } => {
                // Time the app spent elsewhere: the stream is slow, not stuck.
                let busy = self.now - *since;
                if let Some(o) = self.ops.get_mut(&op) {
                    o.read_busy += busy;
                }
                Ok(Out::Fired)
            }
            PKind::Never => Ok(Out::Failed(Error::Network("never answered".into()))),
        }
    }

    // ----- driving the engine ---------------------------------------------------

    fn register(&mut self, id: OpId, kind: OpKind) -> OpId {
        self.register_as(id, kind, true)
    }

    /// `supersedes`: a new stream ends the streams before it (all but the
    /// stream of a send whose turn went by before it resolved).
    fn register_as(&mut self, id: OpId, kind: OpKind, supersedes: bool) -> OpId {
        let mut info = OpInfo::new(kind, self.now);
        info.expiries_at_open = self.expiries;
        info.opened_stamp = self.stamp();
        info.gone_at_open = self.gones;
        info.closes_at_open = self.closes;
        info.session_at_open = self.current;
        info.lost_at_open = self.current.is_none_or(|s| self.sessions[s].gone);
        info.closed_at_open = self.current.is_some_and(|s| self.sessions[s].closed)
            || self.storage.as_ref().is_some_and(|st| st.closed) && self.closes > 0;
        info.had_token = self.engine(|e| {
            e.session(CHAT)
                .is_some_and(|st| !st.public_access_token.is_empty())
        });
        info.blind_gate = self.cfg.watch
            && self.storage.as_ref().is_some_and(|st| {
                st.skip_to_turn_complete
                    && st.superseded_input_seq.is_none()
                    && st.active_input_seq.is_none()
            });
        if let (OpKind::Stream { .. }, true) = (kind, supersedes) {
            for o in self.ops.values_mut() {
                if matches!(o.kind, OpKind::Stream { .. }) && !o.checked {
                    o.superseded = true;
                }
            }
        }
        self.ops.insert(id, info);
        id
    }

    /// Carries out what the runner did, in order.
    fn drain_log(&mut self) -> bool {
        let mut any = false;
        while let Some(e) = self.host.next_entry() {
            any = true;
            self.entry(e);
        }
        any
    }

    fn entry(&mut self, e: Entry) {
        match e {
            Entry::Effect(op, eff) => self.effect_seen(op, eff),
            Entry::Outcome(op, seen, short) => {
                if seen != Seen::Other || self.trace_all {
                    self.log(|| format!("op{op} => {short}"));
                }
                if matches!(seen, Seen::Stall | Seen::TimedOut) {
                    self.count_fault(op);
                }
                if let Some(o) = self.ops.get_mut(&op) {
                    if !matches!(seen, Seen::NoToken | Seen::TimedOut) {
                        // A callback that answered well ends its hang.
                        o.hang = false;
                    }
                }
            }
            Entry::Call { id, op, call } => self.call_made(id, op, call),
            Entry::Interrupt(op, cut) => {
                let what = if cut { "interrupt" } else { "wake" };
                self.log(|| format!("op{op}: {what}"));
            }
            Entry::Dropped(id) => {
                if let Some(i) = self.pends.iter().position(|p| p.id == id) {
                    let p = self.pends.swap_remove(i);
                    let op = p.op;
                    if let PKind::Append { token, part, body } = &p.kind {
                        if self.rng.pm(500) {
                            // It was on the wire: it lands.
                            let r = self.server_append(token, part, body);
                            self.log(|| format!("op{op}: the abandoned append lands: {r:?}"));
                        }
                    }
                } else if let Some(op) = self
                    .conn_call
                    .iter()
                    .find(|(_, c)| **c == id)
                    .map(|(op, _)| *op)
                {
                    // A connection answered but never taken (an interrupt
                    // in the same turn): it is let go.
                    self.conn_call.remove(&op);
                    self.conns.remove(&op);
                }
            }
            Entry::BodyDropped { op, conn } => {
                if self.conn_call.get(&op) == Some(&conn) {
                    self.conn_call.remove(&op);
                    self.conns.remove(&op);
                }
            }
            Entry::SessionChanged(stored) => {
                let before = self.storage.take();
                self.storage = stored;
                let unknown = self.storage.as_ref().is_some_and(|st| {
                    st.skip_to_turn_complete && st.superseded_input_seq.is_none()
                });
                let open = self.unknown_gates.last().is_some_and(|g| g.1.is_none());
                if unknown && !open {
                    self.unknown_gates.push((self.now, None));
                } else if !unknown && open {
                    let now = self.now;
                    if let Some(g) = self.unknown_gates.last_mut() {
                        g.1 = Some(now);
                    }
                }
                if let Some(st) = &self.storage {
                    self.gate_ever |= st.skip_to_turn_complete;
                    // A gate that opened answered its seq and all before
                    // (one forgotten with a session made again did not:
                    // the new session has no cursor yet).
                    let opened = before.as_ref().and_then(|b| {
                        b.superseded_input_seq
                            .filter(|_| b.skip_to_turn_complete && st.last_event_id.is_some())
                    });
                    if let (Some(x), false, Some(sess)) =
                        (opened, st.skip_to_turn_complete, self.current)
                    {
                        let a = self.answered.entry(sess).or_insert(x);
                        *a = (*a).max(x);
                    }
                }
                if let Some(st) = &self.storage {
                    if let (true, Some(s), Some(sess)) = (
                        st.skip_to_turn_complete,
                        st.superseded_input_seq,
                        self.current,
                    ) {
                        let stamp = self.stamp();
                        self.gated.entry((sess, s)).or_insert(stamp);
                    }
                }
            }
            Entry::Event { op: ctx, json: ev } => {
                let field = |key| string_field(&ev, key).map(|v| v.into_owned());
                if field("type").as_deref() == Some("turn-completed") {
                    let sess = ctx.and_then(|op| self.ops.get(&op)).and_then(|o| o.session);
                    if let (Some(i), Some(sess)) = (field("sessionInEventId"), sess) {
                        if let Ok(i) = i.parse::<u64>() {
                            let a = self.answered.entry(sess).or_insert(i);
                            *a = (*a).max(i);
                        }
                    }
                    if let Some(op) = ctx {
                        self.progressed(op);
                    }
                    if let (Some(op), Some(c)) = (ctx, field("lastEventId")) {
                        let c = c.parse().ok();
                        if let Some(o) = self.ops.get_mut(&op) {
                            o.last_tc = c;
                        }
                        if let (true, Some(c)) = (self.cfg.watch, c) {
                            self.watch_turn_done(op, c);
                        }
                    }
                }
            }
            Entry::Spawned(op) => {
                self.log(|| format!("op{op}: a detached stop"));
                // The transport fired a stop at whatever runs: our
                // outstanding turn is given up (the state says so).
                if let Some((s, q)) = self.last_own {
                    let done = self
                        .turn_of(s, q)
                        .is_some_and(|t| self.delivered.contains(&t));
                    if !done {
                        let stamp = self.stamp();
                        self.gated.entry((s, q)).or_insert(stamp);
                    }
                }
                self.register(op, OpKind::Detached);
                match self.aborting {
                    Some(at) => self.ops.get_mut(&op).unwrap().asked = Some(at),
                    None => self.violation(format!(
                        "op{op}: a stop fired without the abort of a send or of a stream that owns its turn"
                    )),
                }
            }
        }
    }

    /// The app's reader of operation `op`: it pulls until the operation
    /// ends (what it gets, the runner traces).
    fn start_reader(&mut self, op: OpId) {
        let runner = self.runner.clone();
        let host = self.host.clone();
        let slow = self
            .prof
            .swarm
            .as_ref()
            .is_some_and(|sw| sw.slow_reader > 0);
        let task = async move {
            while let Ok(Step::Chunks(_)) = runner.drive(op).await {
                if slow {
                    host.pause(op).await;
                }
            }
        };
        if self.pool.spawner().spawn_local(task).is_err() {
            self.violation(format!("op{op}: no reader could start"));
        }
    }

    /// Runs the transport until it waits for the scheduler, carrying out
    /// what it did; then the ends of operations and the invariants.
    pub fn run_work(&mut self) {
        loop {
            for op in std::mem::take(&mut self.to_drive) {
                self.start_reader(op);
            }
            self.pool.run_until_stalled();
            if !self.drain_log() && self.to_drive.is_empty() {
                break;
            }
        }
        let mut finished = std::mem::take(&mut self.finished);
        // Sends and stops first: what they end is then known as superseded.
        finished.sort_by_key(|op| {
            self.ops
                .get(op)
                .is_some_and(|o| matches!(o.kind, OpKind::Stream { .. }))
        });
        for op in finished {
            self.op_finished(op);
        }
        self.check_now();
    }

    // ----- the invariants ---------------------------------------------------------

    /// Records reached the op: its consecutive faults start again (the
    /// engine resets on any record; this, on chunks and turn-completes
    /// only, never resets where the engine does not).
    fn progressed(&mut self, op: OpId) {
        if let Some(o) = self.ops.get_mut(&op) {
            o.retry_faults = 0;
            o.empty_cuts = 0;
            o.partial_cuts = 0;
        }
    }

    /// The stop fired for the abort at stamp `g` cut another turn (it
    /// reached the agent while an earlier reply ran), and turn `t` ran
    /// whole: the server's conversation holds it, as a reload shows it. A
    /// gate of unknown seq cannot tell the two apart, so a watcher may
    /// show `t` (README, "Stop").
    fn stop_cut_another(&self, t: u32, g: u64) -> bool {
        if self.turns[t as usize].cut {
            return false;
        }
        let stops: Vec<&str> = self
            .ops
            .values()
            .filter(|o| o.kind == OpKind::Detached && o.asked == Some(g))
            .filter_map(|o| o.part.as_deref())
            .collect();
        self.turns.iter().enumerate().any(|(i, u)| {
            i != t as usize && u.cut_by.as_deref().is_some_and(|p| stops.contains(&p))
        })
    }

    fn got_chunks(&mut self, op: OpId, json: &str) {
        self.progressed(op);
        let list = parse_chunks(json);
        self.log(|| format!("op{op} chunks {list:?}"));
        let Some(info) = self.ops.get(&op) else {
            return;
        };
        if !matches!(info.kind, OpKind::Stream { .. }) {
            self.violation(format!("op{op}: chunks from a non-stream op"));
            return;
        }
        let mut bad = Vec::new();
        for &(t, i) in &list {
            let info = &self.ops[&op];
            let turn = &self.turns[t as usize];
            if info.chunks.contains(&(t, i)) {
                bad.push(format!("chunk T{t}I{i} delivered twice"));
            }
            let own = info.since == Some(turn.msg_seq) && info.session == Some(turn.session);
            if let Some(&g) = self.gated.get(&(turn.session, turn.msg_seq)) {
                if g <= info.opened_stamp
                    && g >= self.gates_forgotten
                    && !own
                    && !info.blind_gate
                    && !self.stop_cut_another(t, g)
                {
                    bad.push(format!(
                        "T{t} was stopped or aborted at {} ms, yet shows up in a stream opened after that, at {} ms",
                        g / 1_000_000,
                        info.opened
                    ));
                }
            }
            if self.delivered.contains(&t) {
                bad.push(format!(
                    "T{t} was already delivered whole by an earlier stream"
                ));
            }
            if let (Some(s), Some(sess), false) = (info.since, info.session, self.cfg.watch) {
                if turn.session == sess && turn.msg_seq > s {
                    bad.push(format!(
                        "T{t} answers in {} after this stream's own in {s}",
                        turn.msg_seq
                    ));
                }
            }
            // In order, one run per turn.
            match info.chunks.iter().rposition(|&(tt, _)| tt == t) {
                Some(j) => {
                    let (_, last) = info.chunks[j];
                    if j != info.chunks.len() - 1 {
                        bad.push(format!("T{t} resumes after another turn's chunks"));
                    } else if i != last + 1 {
                        bad.push(format!("T{t}: chunk {i} after {last}"));
                    }
                }
                None => {
                    if i != 0 {
                        bad.push(format!("T{t} starts at chunk {i}"));
                    }
                    if let Some(&(pt, pi)) = info.chunks.last() {
                        let prev = &self.turns[pt as usize];
                        if pi + 1 != prev.written || prev.done.is_none() {
                            bad.push(format!("T{pt} cut off at {pi} of {} by T{t}", prev.written));
                        }
                    }
                }
            }
            self.ops.get_mut(&op).unwrap().chunks.push((t, i));
        }
        if let Some(b) = bad.first() {
            self.violation(format!("op{op}: {b}"));
        }
    }

    fn excused(&self, info: &OpInfo, e: &Error) -> bool {
        let stream = matches!(info.kind, OpKind::Stream { .. });
        let budget = if stream {
            STREAM_ATTEMPTS
        } else {
            APPEND_ATTEMPTS
        };
        let retry = info.retry_faults >= budget;
        // A token refreshed for this op expired before it was used.
        let auth = info.expiries_at_refresh.is_some_and(|e| self.expiries > e);
        let gone = self.gones > info.gone_at_open;
        // The chat's session was closed while the op ran, or already when
        // it opened (the engine remembers it, even when the server forgot
        // the session since).
        let closed = self.closes > info.closes_at_open
            || info.closed_at_open
            || info
                .session_at_open
                .is_some_and(|s| self.sessions[s].closed);
        match e {
            Error::Aborted => info.aborted,
            Error::Callback(_) => info.cb_fault,
            Error::SessionClosed { .. } => closed,
            Error::Http { status, .. } => match status {
                401 | 403 => auth,
                // The session went away (the stream's own error: a send
                // would start a new one).
                404 => gone || self.current.is_none_or(|s| self.sessions[s].gone),
                409 => closed,
                413 => info.got_413,
                429 | 500..=599 => retry,
                _ => false,
            },
            // (A send waits offline at most `OFFLINE_WAIT_MS`.)
            Error::Network(_) => retry || self.long_offline_since(info.opened),
            // A request that never answered is retried; a callback that
            // never settled ends the operation.
            Error::TimedOut(_) => retry || info.cb_fault,
            // The session was made again while this stream read a reply of
            // the old one (a session the server lost, before or after the
            // stream opened: a reload may resume against one already gone).
            Error::SessionRemade => gone || info.lost_at_open,
            Error::ReconnectsExhausted(_) => {
                info.empty_cuts >= EMPTY_WINDOW_BUDGET || info.partial_cuts >= PARTIAL_WINDOW_BUDGET
            }
            _ => false,
        }
    }

    fn op_finished(&mut self, op: OpId) {
        let Some(info) = self.ops.get_mut(&op) else {
            return;
        };
        info.checked = true;
        let info = info.clone();
        let Some(result) = info.result.clone() else {
            return;
        };
        if let Err(e) = &result {
            let code = e.code();
            if ![
                "DECODE",
                "PROTOCOL",
                "HTTP",
                "NETWORK",
                "ABORTED",
                "TIMEOUT",
                "MISUSE",
                "CALLBACK",
                "session_closed",
            ]
            .contains(&code)
            {
                self.violation(format!("op{op}: undocumented code {code}"));
            }
            if !self.excused(&info, e) {
                // What the seed-wide excuses of old would have said.
                let old = match e {
                    Error::Network(_)
                    | Error::TimedOut(_)
                    | Error::Http {
                        status: 429 | 500..=599,
                        ..
                    } if info.retry_total
                        >= if matches!(info.kind, OpKind::Stream { .. }) {
                            STREAM_ATTEMPTS
                        } else {
                            APPEND_ATTEMPTS
                        } =>
                    {
                        format!(
                            " ({} faults in all: the old total count excused this)",
                            info.retry_total
                        )
                    }
                    Error::SessionClosed { .. } | Error::Http { status: 409, .. }
                        if self.closes > 0 =>
                    {
                        " (a session closed in this run: the old excuse hid this)".to_owned()
                    }
                    Error::SessionRemade if self.gones > 0 => {
                        " (a session went away in this run: the old excuse hid this)".to_owned()
                    }
                    _ => String::new(),
                };
                self.violation(format!(
                    "op{op} ({:?}) failed without an excuse: {code}: {e}{old}",
                    info.kind
                ));
            }
        }
        match (info.kind, &result) {
            (OpKind::Send, Ok(Done::Stream(sid))) => {
                let sid = *sid;
                let part = info.part.clone().unwrap_or_default();
                let since = self
                    .current
                    .and_then(|s| self.sessions[s].parts.get(&part).map(|&q| (s, q)));
                if since.is_none() {
                    self.violation(format!(
                        "op{op}: a send resolved but its append never landed"
                    ));
                }
                // A send whose turn went by before it resolved gets a
                // stream of that turn alone, beside the chat's stream.
                let answered = since.and_then(|(s, _)| self.answered.get(&s)).copied();
                let pre_answered = matches!((since, answered), (Some((_, q)), Some(a)) if q <= a);
                self.register_as(sid, OpKind::Stream { resumed: false }, !pre_answered);
                let o = self.ops.get_mut(&sid).unwrap();
                o.since = since.map(|x| x.1);
                o.session = since.map(|x| x.0);
                o.stop_on_abort = info.stop_on_abort;
                o.send_opened = Some(info.opened);
                o.pre_answered = pre_answered;
                // The latest of our sends is outstanding (two may resolve
                // out of order); one already answered is not.
                if !o.pre_answered {
                    self.last_own = match (self.last_own, since) {
                        (Some((s0, q0)), Some((s1, q1))) if s0 == s1 && q0 > q1 => Some((s0, q0)),
                        _ => since,
                    };
                }
                if let Some(k) = since {
                    self.known_own.insert(k);
                }
                self.to_drive.push(sid);
            }
            (OpKind::Stop, Ok(Done::Bool(false))) => {
                // Only what makes a send fail makes a stop fail, or having
                // no session to stop.
                let auth = info.expiries_at_refresh.is_some_and(|e| self.expiries > e);
                let gone = self.gones > info.gone_at_open || info.lost_at_open;
                let closed = self.closes > info.closes_at_open || info.closed_at_open;
                let excused = info.aborted
                    || info.got_413
                    || !info.had_token
                    || info.cb_fault
                    || info.retry_faults >= APPEND_ATTEMPTS
                    || self.long_offline_since(info.opened)
                    || auth
                    || gone
                    || closed;
                if !excused {
                    self.violation(format!(
                        "op{op}: stopGeneration said false without a reason (its stop {})",
                        if self.landed(info.part.as_deref()) {
                            "landed"
                        } else {
                            "did not land"
                        }
                    ));
                }
            }
            (OpKind::Stop, Ok(Done::Bool(true))) => {
                if !self.landed(info.part.as_deref()) {
                    self.violation(format!(
                        "op{op}: stopGeneration said true, but no stop reached the server"
                    ));
                }
                if let Some(p) = &info.part {
                    self.committed_stops.insert(p.clone());
                }
                for o in self.ops.values_mut() {
                    if matches!(o.kind, OpKind::Stream { .. }) && !o.checked {
                        o.superseded = true;
                    }
                }
                // The turn our stop cut or the engine gated is out of
                // every later stream; so is our own outstanding one.
                if let Some((s, q)) = self.last_own {
                    let done = self
                        .turn_of(s, q)
                        .is_some_and(|t| self.delivered.contains(&t));
                    if !done {
                        let stamp = self.stamp();
                        self.gated.entry((s, q)).or_insert(stamp);
                    }
                }
            }
            (OpKind::Stream { .. }, _) => self.stream_ended(op, &info, &result),
            _ => {}
        }
        if !self.to_drive.is_empty() {
            self.run_work();
        }
    }

    /// Whether an append with this part id reached a session.
    fn landed(&self, part: Option<&str>) -> bool {
        part.is_some_and(|p| self.sessions.iter().any(|s| s.parts.contains_key(p)))
    }

    fn stream_ended(&mut self, op: OpId, info: &OpInfo, result: &Result<Done, Error>) {
        // The server refused the reply for good: a reload does not try it
        // again (the engine marks it over).
        if let Err(Error::Http {
            status: 401 | 403 | 404,
            ..
        }) = result
        {
            if let (Some(s), Some(q)) = (info.session, info.since) {
                if self.last_own == Some((s, q)) {
                    self.last_own = None;
                }
            }
        }
        // A late send's stream that ended empty without an error: its turn
        // must have gone by whole in another stream. (One that failed, its
        // session gone, say, answers for its error below, as any stream;
        // one that a newer send superseded ends quietly, as any stream:
        // seed 313229933.)
        if info.pre_answered
            && !info.aborted
            && !info.superseded
            && result.is_ok()
            && info.last_tc.is_none()
            && info.chunks.is_empty()
        {
            // Its turn went by whole in another stream.
            let turn = info
                .since
                .zip(info.session)
                .and_then(|(q, s)| self.turn_of(s, q));
            let shown = turn.is_some_and(|t| {
                let want: Vec<u32> = (0..self.turns[t as usize].written).collect();
                self.ops.iter().any(|(id, o)| {
                    *id != op && {
                        let got: Vec<u32> =
                            o.chunks.iter().filter(|c| c.0 == t).map(|c| c.1).collect();
                        got == want
                    }
                })
            });
            // By design: a gate of unknown seq drops every turn before the
            // next reply's own boundary, a concurrent send's too when it
            // resolves late; only when such a gate was armed between this
            // send's start and its turn's end.
            let from = info.send_opened.unwrap_or(info.opened);
            let until = turn
                .and_then(|t| self.turns[t as usize].done)
                .map_or(self.now, |d| d.1);
            let gated = self
                .unknown_gates
                .iter()
                .any(|&(a, b)| a <= until && b.is_none_or(|b| b >= from));
            if !shown && !gated {
                let old = if self.gate_ever {
                    " (a gate was armed in this run: the old seed-wide excuse hid this)"
                } else {
                    ""
                };
                self.violation(format!(
                    "op{op}: ended at once, but its turn {turn:?} was never shown whole{old}"
                ));
            }
            return;
        }
        let quiet = info.aborted || info.superseded || result.is_err();
        let closed = self.closes > info.closes_at_open
            || info.session.is_some_and(|s| self.sessions[s].closed);
        // A watcher follows until the app leaves (or another stream takes
        // over, or the session closes, or a fake server says settled).
        // (A watcher cannot follow a server that ignores `Last-Event-ID`:
        // it ends, by design. Nor does the stream of a send that resolved
        // after its turn went by: it shows that turn, which a gate
        // skipped, and ends; the chat's watcher follows on.)
        if self.cfg.watch
            && !quiet
            && !closed
            && !self.always_settled
            && !info.server_replayed
            && !info.pre_answered
        {
            self.violation(format!(
                "op{op}: the watcher stopped following before the app left"
            ));
        }
        let Some(tc) = info.last_tc else {
            let settled =
                matches!(info.kind, OpKind::Stream { resumed: true }) && info.since.is_none();
            // A watcher ends when the app leaves, or on a settled answer.
            if !quiet && !closed && !settled && !self.cfg.watch {
                self.violation(format!("op{op}: the stream closed without its turn's end"));
            }
            if let Some(t) = info.expect_target {
                // (A watcher ends at a server that ignores `Last-Event-ID`.)
                if !quiet && !closed && !info.server_replayed {
                    self.violation(format!(
                        "op{op}: after a reload the stream ended without T{t}"
                    ));
                }
            }
            return;
        };
        if self.cfg.watch {
            // Its turns were checked one by one as they completed.
            return;
        }
        let Some(sess) = info.session else {
            return;
        };
        let Some(turn) = self.turn_completed_at(op, sess, tc) else {
            return;
        };
        let target = self.turns[turn as usize].clone();
        // A turn that closed the session ends every stream, its own or not;
        // a watcher's last turn is whichever came last.
        let closed_by = self.sessions[sess].closed || self.cfg.watch;
        if let (Some(s), false) = (info.since, closed_by) {
            if target.msg_seq != s {
                self.violation(format!(
                    "op{op}: the stream for in {s} ended with T{turn}, which answers in {}",
                    target.msg_seq
                ));
            }
        }
        if let Some(t) = info.expect_target {
            if t != turn {
                self.violation(format!(
                    "op{op}: after a reload the stream resumed T{turn}, not T{t}"
                ));
            }
        }
        let own = info.since == Some(target.msg_seq);
        if !own
            && self
                .gated
                .get(&(target.session, target.msg_seq))
                .is_some_and(|&g| g <= info.opened_stamp && g >= self.gates_forgotten)
        {
            self.violation(format!(
                "op{op}: ended with T{turn}, a turn stopped before it opened"
            ));
        }
        let got: Vec<u32> = info
            .chunks
            .iter()
            .filter(|c| c.0 == turn)
            .map(|c| c.1)
            .collect();
        let want: Vec<u32> = (0..target.written).collect();
        if got != want {
            self.violation(format!(
                "op{op}: T{turn} delivered as {} chunks, the agent wrote {} (first gap at {:?})",
                got.len(),
                want.len(),
                got.iter().zip(&want).position(|(a, b)| a != b)
            ));
        }
        self.delivered.insert(turn);
        if self.last_own == Some((sess, target.msg_seq)) {
            self.last_own = None;
        }
    }

    /// The turn whose `turn-complete` is `.out` record `tc`; a violation
    /// when that record is something else.
    fn turn_completed_at(&mut self, op: OpId, sess: usize, tc: u64) -> Option<u32> {
        match self.sessions[sess].outs.get(tc as usize).map(|r| r.kind) {
            Some(OutKind::Tc { turn }) => Some(turn),
            _ => {
                self.violation(format!(
                    "op{op}: turn-completed at out {tc}, which is no turn-complete"
                ));
                None
            }
        }
    }

    /// A watcher reported a turn's end: that turn came whole, and a
    /// resumed watcher's first one is the reply that was in flight.
    fn watch_turn_done(&mut self, op: OpId, tc: u64) {
        let Some(info) = self.ops.get(&op).cloned() else {
            return;
        };
        let Some(sess) = info.session else {
            return;
        };
        let Some(turn) = self.turn_completed_at(op, sess, tc) else {
            return;
        };
        let written = self.turns[turn as usize].written;
        let msg_seq = self.turns[turn as usize].msg_seq;
        let got: Vec<u32> = info
            .chunks
            .iter()
            .filter(|c| c.0 == turn)
            .map(|c| c.1)
            .collect();
        if got != (0..written).collect::<Vec<u32>>() && !self.delivered.contains(&turn) {
            let n = got.len();
            self.violation(format!(
                "op{op}: T{turn} delivered as {n} chunks, the agent wrote {written}"
            ));
        }
        if let Some(t) = info.expect_target {
            if t != turn {
                self.violation(format!(
                    "op{op}: after a reload the watcher resumed T{turn}, not T{t}"
                ));
            }
            if let Some(o) = self.ops.get_mut(&op) {
                o.expect_target = None;
            }
        }
        self.delivered.insert(turn);
        if self.last_own == Some((sess, msg_seq)) {
            self.last_own = None;
        }
    }

    fn check_now(&mut self) {
        let mut bad = Vec::new();
        for (id, o) in &self.ops {
            if o.result.is_some() {
                continue;
            }
            // (A reader busy elsewhere sees the end on its next pull.)
            let paused = self
                .pends
                .iter()
                .any(|p| p.op == *id && matches!(p.kind, PKind::Pause { .. }));
            if o.aborted && !paused {
                bad.push(format!("op{id} was aborted but has not ended"));
            }
            if let (OpKind::Send, Some(part), false) = (o.kind, &o.part, o.hang) {
                let turn = self
                    .sessions
                    .iter()
                    .enumerate()
                    .find_map(|(i, s)| s.parts.get(part).map(|&q| (i, q)))
                    .and_then(|(i, q)| self.turn_of(i, q));
                if let Some(t) = turn {
                    if let Some((_, at)) = self.turns[t as usize].done {
                        let away = self.offline_since_ms(o.opened);
                        if self.now > at.max(o.opened) + END_BOUND_MS + away {
                            bad.push(format!(
                                "op{id}: the send's turn T{t} ended at {at}, the send still runs"
                            ));
                        }
                    }
                }
            }
            if let (OpKind::Stream { .. }, Some(s), Some(sess), false, false) =
                (o.kind, o.since, o.session, o.hang, self.cfg.watch)
            {
                if let Some(t) = self.turn_of(sess, s) {
                    if let Some((_, at)) = self.turns[t as usize].done {
                        let away = self.offline_since_ms(o.opened);
                        if self.now > at.max(o.opened) + END_BOUND_MS + o.read_busy + away {
                            bad.push(format!(
                                "op{id}: its turn T{t} ended at {at}, the stream still runs"
                            ));
                        }
                    }
                }
            }
        }
        let persisted = self.engine(|e| e.persisted(CHAT).cloned());
        if persisted != self.storage {
            bad.push(format!(
                "the session changed without onSessionChange: {:?} vs stored {:?}",
                persisted, self.storage
            ));
        }
        for b in bad {
            self.violation(b);
        }
        if !self.our_cuts.is_empty() {
            let cuts = std::mem::take(&mut self.our_cuts);
            for (part, t, at) in cuts {
                if self.committed_stops.contains(&part) {
                    self.cut_by_us(t, at);
                } else {
                    self.our_cuts.push((part, t, at));
                }
            }
        }
        // Aborted appends that landed gate their turns from the abort on.
        if !self.gated_parts.is_empty() {
            let parts = std::mem::take(&mut self.gated_parts);
            for (part, at) in parts {
                // An aborted request lands at its abort or never.
                for (i, s) in self.sessions.iter().enumerate() {
                    if let Some(&q) = s.parts.get(&part) {
                        self.gated.entry((i, q)).or_insert(at);
                    }
                }
            }
        }
    }

    // ----- the user -------------------------------------------------------------

    fn user_gap(&mut self) -> u64 {
        match self.rng.below(10) {
            0..=2 => self.rng.range(0, 300),
            3..=7 => self.rng.range(300, 5_000),
            _ => self.rng.range(5_000, 60_000),
        }
    }

    fn live(&self, f: impl Fn(&OpInfo) -> bool) -> Vec<OpId> {
        self.ops
            .iter()
            .filter(|(_, o)| o.result.is_none() && !o.aborted && f(o))
            .map(|(id, _)| *id)
            .collect()
    }

    pub fn send(&mut self, source: Source) -> OpId {
        let n = self.rng.next() % 100_000;
        let body = format!(r#"{{"kind":"message","n":{n}}}"#);
        let id = self.engine_mut(|e| e.send(CHAT, body, source, Some(format!("m{n}")), true));
        self.log(|| format!("user: send {source:?} -> op{id}"));
        self.register(id, OpKind::Send);
        self.ops.get_mut(&id).unwrap().stop_on_abort = true;
        self.to_drive.push(id);
        self.run_work();
        id
    }

    pub fn stop_generation(&mut self) -> OpId {
        let id = self.engine_mut(|e| e.stop(CHAT));
        self.log(|| format!("user: stopGeneration -> op{id}"));
        self.register(id, OpKind::Stop);
        self.to_drive.push(id);
        self.run_work();
        id
    }

    pub fn abort(&mut self, id: OpId) {
        let Some(o) = self.ops.get_mut(&id) else {
            return;
        };
        if o.result.is_some() {
            return;
        }
        o.aborted = true;
        let info = o.clone();
        self.log(|| format!("user: abort op{id}"));
        // One stamp for the abort: what it gates and the stop it fires.
        let at = self.stamp();
        match info.kind {
            OpKind::Send => {
                if let Some(p) = &info.part {
                    self.gated_parts.push((p.clone(), at));
                }
            }
            // A stream a newer one superseded was ended by the engine then
            // (its reader, busy elsewhere, may not have seen it yet): it
            // owns no turn, and its abort stops nothing.
            OpKind::Stream { .. } if info.stop_on_abort && !info.superseded => {
                if let (Some(s), Some(sess)) = (info.since, info.session) {
                    let done = self
                        .turn_of(sess, s)
                        .is_some_and(|t| self.delivered.contains(&t));
                    // (A send the engine forgot, with `clearSupersedeGate`
                    // or partial storage, is not its to stop.)
                    let known = self.known_own.contains(&(sess, s));
                    if !done && known {
                        self.gated.entry((sess, s)).or_insert(at);
                    }
                }
            }
            _ => {}
        }
        // Aborting a turn-starting send (its append may have landed) or a
        // stream that owns its turn may fire a stop; nothing else may.
        let may_stop = match info.kind {
            OpKind::Send => true,
            OpKind::Stream { .. } => info.stop_on_abort && !info.superseded,
            _ => false,
        };
        self.aborting = may_stop.then_some(at);
        self.host.clear_ctx();
        self.runner.abort(id);
        self.drain_log();
        self.aborting = None;
        self.run_work();
    }

    /// The app reloads: the engine is disposed, a new one starts from the
    /// stored sessions and resumes what is in flight.
    pub fn reload(&mut self) -> Option<OpId> {
        self.reload_from(false)
    }

    /// A reload from what the vendor's documented persistence pattern
    /// keeps: only `publicAccessToken` and `lastEventId` (see
    /// docs/simulation.md for what the user then sees).
    pub fn reload_partial(&mut self) -> Option<OpId> {
        self.reload_from(true)
    }

    fn reload_from(&mut self, partial: bool) -> Option<OpId> {
        if partial {
            // The new page knows no gate, no reply in flight, no close:
            // the stopped turns it cannot tell apart may show again, and
            // what was in flight is whatever comes next after the cursor.
            self.gates_forgotten = self.stamp();
            self.last_own = None;
            // Nor the sends of earlier pages: a stop from this page cuts
            // their turns without a gate.
            self.known_own.clear();
        }
        let in_flight = self.last_own.and_then(|(s, q)| {
            let t = self.turn_of(s, q);
            let gated =
                self.gated.contains_key(&(s, q)) || t.is_some_and(|t| self.delivered.contains(&t));
            let dead = self.sessions[s].closed || self.sessions[s].gone;
            (!gated && !dead).then_some((s, q, t))
        });
        let stored = self.storage.clone();
        self.log(|| {
            format!("user: reload (partial {partial}, in flight: {in_flight:?}, stored {stored:?})")
        });
        self.dispose();
        self.gen += 1;
        if partial {
            self.storage = self.storage.take().map(|st| SessionState {
                public_access_token: st.public_access_token,
                last_event_id: st.last_event_id,
                ..SessionState::default()
            });
        }
        let sessions: Vec<(String, SessionState)> = self
            .storage
            .iter()
            .map(|s| (CHAT.to_owned(), s.clone()))
            .collect();
        let seed = self.rng.next();
        self.runner = Runner::new(self.host.clone(), self.cfg.clone(), sessions, seed);
        self.runner.set_offline_wait(OFFLINE_WAIT_MS);
        self.ops.clear();
        let stop_on_abort = self.rng.pm(300);
        let id = self.engine_mut(|e| e.reconnect(CHAT, stop_on_abort));
        self.drain_log();
        match id {
            Some(id) => {
                self.log(|| format!("user: reconnectToStream -> op{id}"));
                self.register(id, OpKind::Stream { resumed: true });
                let since = self.storage.as_ref().and_then(|s| s.active_input_seq);
                let o = self.ops.get_mut(&id).unwrap();
                o.since = since;
                o.session = self.current;
                o.stop_on_abort = stop_on_abort;
                // Whether a turn is in flight is unknown (partial storage,
                // or a state persisted from it since).
                o.partial_resume = self
                    .storage
                    .as_ref()
                    .is_some_and(|st| st.is_streaming.is_none());
                if let Some((_, q, t)) = in_flight {
                    o.expect_target = t;
                    if since != Some(q) {
                        let msg = format!(
                            "after a reload the resumed stream answers {since:?}, not in {q}"
                        );
                        self.violation(msg);
                    }
                }
                self.to_drive.push(id);
                self.run_work();
            }
            None => {
                if let Some((_, q, _)) = in_flight {
                    let msg = format!(
                        "a reload cannot resume the reply to in {q} in flight (stored {:?})",
                        self.storage
                    );
                    self.violation(msg);
                }
            }
        }
        id
    }

    /// `dispose()`: afterwards no effect may be pending.
    pub fn dispose(&mut self) {
        self.log(|| "user: dispose".into());
        for o in self.ops.values_mut() {
            if o.result.is_none() {
                o.aborted = true;
            }
        }
        // Sends aborted by dispose may have landed: no stop is sent, so
        // their turns are not gated (the next page cannot know them).
        self.host.clear_ctx();
        self.runner.dispose();
        self.run_work();
        // The app's readers get to their streams' ends.
        loop {
            let paused: Vec<usize> = (0..self.pends.len())
                .rev()
                .filter(|&i| matches!(self.pends[i].kind, PKind::Pause { .. }))
                .collect();
            if paused.is_empty() {
                break;
            }
            for i in paused {
                let p = self.pends.swap_remove(i);
                self.answer(p, Out::Fired);
            }
            self.run_work();
        }
        let live: Vec<_> = self.live_any();
        if !live.is_empty() {
            self.violation(format!("after dispose, ops {live:?} are still open"));
        }
        let n = self.engine(|e| e.open_ops());
        if n != 0 {
            self.violation(format!("after dispose, the engine holds {n} ops"));
        }
        let held = self.runner.open_io();
        if !held.is_empty() {
            self.violation(format!(
                "after dispose, the runner holds I/O for ops {held:?}"
            ));
        }
        if !self.pends.is_empty() {
            let p: Vec<_> = self
                .pends
                .iter()
                .map(|p| (p.op, format!("{:?}", p.kind)))
                .collect();
            self.violation(format!("after dispose, effects are pending: {p:?}"));
            self.pends.clear();
        }
        self.conns.clear();
        self.conn_call.clear();
        self.connect_reqs.clear();
    }

    fn live_any(&self) -> Vec<OpId> {
        self.ops
            .iter()
            .filter(|(_, o)| o.result.is_none())
            .map(|(id, _)| *id)
            .collect()
    }

    fn user_act(&mut self) {
        let action = match &self.prof.swarm {
            Some(sw) => {
                let w = sw.weights;
                let mut x = self.rng.below(w.iter().map(|&v| u64::from(v)).sum());
                let mut i = 0;
                while x >= u64::from(w[i]) {
                    x -= u64::from(w[i]);
                    i += 1;
                }
                i
            }
            // The classic mix, drawn as it always was.
            None => match self.rng.below(100) {
                0..=34 => 0,
                35..=46 => 1,
                47..=56 => 2,
                57..=66 => 3,
                67..=72 => 4,
                73..=82 => 5,
                83..=86 => 6,
                _ => 7,
            },
        };
        if self.prof.swarm.is_some() {
            self.log(|| format!("user: {}", USER_ACTIONS[action]));
        }
        match action {
            0 => {
                let streams = self.live(|o| matches!(o.kind, OpKind::Stream { .. } | OpKind::Send));
                if !streams.is_empty() && self.rng.pm(600) {
                    // useChat's stop before a new message.
                    for id in streams {
                        self.abort(id);
                    }
                }
                let source = if self.rng.pm(700) {
                    Source::Submit
                } else {
                    Source::Regenerate
                };
                self.send(source);
            }
            1 => {
                self.stop_generation();
            }
            2 => {
                // useChat's stop(): abort the request; the demo also calls
                // stopGeneration.
                let both = self.rng.pm(500);
                for id in self.live(|o| matches!(o.kind, OpKind::Stream { .. } | OpKind::Send)) {
                    self.abort(id);
                }
                if both {
                    self.stop_generation();
                }
            }
            3 => {
                let sends = self.live(|o| o.kind == OpKind::Send);
                if let Some(&id) = sends.get(self.rng.below(sends.len().max(1) as u64) as usize) {
                    self.abort(id);
                }
            }
            4 => {
                let streams = self.live(|o| matches!(o.kind, OpKind::Stream { .. }));
                if let Some(&id) = streams.first() {
                    self.abort(id);
                }
            }
            5 => {
                self.reload();
            }
            6 => {
                let id = self.engine_mut(|e| e.start(CHAT));
                self.log(|| format!("user: start -> op{id}"));
                self.register(id, OpKind::Start);
                self.to_drive.push(id);
                self.run_work();
            }
            8 => {
                // `reader.cancel()`: the stream ends quietly, no stop.
                let streams = self.live(|o| matches!(o.kind, OpKind::Stream { .. }));
                if let Some(&id) = streams.get(self.rng.below(streams.len().max(1) as u64) as usize)
                {
                    self.cancel(id);
                }
            }
            9 => {
                // A wake event (back online, a tab shown again).
                // Every stream at once, as the browser's listener does.
                let force = self.rng.pm(500);
                self.log(|| format!("user: wake (force {force})"));
                self.host.clear_ctx();
                self.runner.wake(force);
                self.run_work();
            }
            10 => {
                self.reload_partial();
            }
            11 => {
                // The app gives up on a stopped turn's end: the gate, and
                // what the engine knew in flight, are forgotten (the
                // stopped turns may show again, as after partial storage).
                self.log(|| "user: clearSupersedeGate".into());
                // With a gate armed, the engine forgets the gate and the
                // reply in flight; without one it forgets nothing.
                let had = self.engine(|e| {
                    e.session(CHAT).is_some_and(|st| {
                        st.skip_to_turn_complete || st.superseded_input_seq.is_some()
                    })
                });
                if had {
                    self.gates_forgotten = self.stamp();
                    self.last_own = None;
                    self.known_own.clear();
                }
                self.engine_mut(|e| e.clear_gate(CHAT));
                self.run_work();
            }
            _ => {}
        }
    }

    /// `reader.cancel()` on a stream: it ends quietly and stops nothing
    /// (its turn, if any, runs on and may be resumed).
    pub fn cancel(&mut self, id: OpId) {
        let Some(o) = self.ops.get_mut(&id) else {
            return;
        };
        if o.result.is_some() {
            return;
        }
        o.aborted = true;
        self.log(|| format!("user: reader.cancel op{id}"));
        self.host.clear_ctx();
        self.runner.cancel(id);
        self.run_work();
    }

    fn enter_calm(&mut self) {
        self.log(|| "calm: no more faults; hanging callbacks are given up on".into());
        self.calm = true;
        self.calm_at = self.now;
        self.go_online();
        // Bodies split into a few bytes a read end with the other faults: a
        // connection opened before the calm with a long backlog would
        // otherwise take longer than the calm stretch to read (seed
        // 315932830: ~1.7 MB in 7-byte pieces).
        for conn in self.conns.values_mut() {
            conn.max_piece = conn.max_piece.max(1024);
        }
        let hanging: Vec<OpId> = self
            .ops
            .iter()
            .filter(|(_, o)| o.result.is_none() && o.hang)
            .map(|(id, _)| *id)
            .collect();
        for id in hanging {
            self.abort(id);
        }
    }

    // ----- the scheduler ----------------------------------------------------------

    /// Runs the next thing due at or before `limit`; false when none is.
    pub fn step(&mut self, limit: u64) -> bool {
        let pend = self
            .pends
            .iter()
            .enumerate()
            .min_by_key(|(_, p)| (p.due, p.op))
            .map(|(i, p)| (i, p.due));
        let ev = self.events.peek().map(|Reverse((t, _, _))| *t);
        let next = match (pend, ev) {
            (Some((_, pd)), Some(et)) => pd.min(et),
            (Some((_, pd)), None) => pd,
            (None, Some(et)) => et,
            (None, None) => return false,
        };
        if next > limit || next == u64::MAX {
            return false;
        }
        self.steps += 1;
        self.now = self.now.max(next);
        self.host.set_now(self.now);
        // Ties: an effect and an event due together go in a seeded order.
        let take_pend = match (pend, ev) {
            (Some((_, pd)), Some(et)) if pd == et => self.rng.pm(500),
            (Some((_, pd)), _) => pd == next,
            _ => false,
        };
        if take_pend {
            // Among effects due at once, a seeded pick.
            let due: Vec<usize> = (0..self.pends.len())
                .filter(|&i| self.pends[i].due == next)
                .collect();
            let i = due[self.rng.below(due.len() as u64) as usize];
            let mut p = self.pends.swap_remove(i);
            match self.perform(p.op, &p.kind) {
                Ok(out) => {
                    self.answer(p, out);
                    self.run_work();
                }
                Err(due) => {
                    p.due = due;
                    self.pends.push(p);
                }
            }
        } else {
            let Reverse((_, _, e)) = self.events.pop().unwrap();
            self.server_event(e);
            self.run_work();
        }
        true
    }

    /// Token expiry at time `t` (once).
    pub fn expire_at(&mut self, t: u64) {
        self.at(t, Ev::Expire);
    }

    /// The stream a send resolved to.
    pub fn stream_of(&self, send: OpId) -> Option<OpId> {
        match self.ops.get(&send)?.result {
            Some(Ok(Done::Stream(id))) => Some(id),
            _ => None,
        }
    }

    pub fn is_done(&self, op: OpId) -> bool {
        self.ops.get(&op).is_none_or(|o| o.result.is_some())
    }

    /// Steps until `op` has ended (or `limit`).
    pub fn run_until_done(&mut self, op: OpId, limit: u64) {
        while self.violations.is_empty() && !self.is_done(op) && self.step(limit) {}
    }

    /// Steps until a send has resolved and its stream ended.
    pub fn run_reply(&mut self, send: OpId, limit: u64) -> Option<OpId> {
        self.run_until_done(send, limit);
        let stream = self.stream_of(send)?;
        self.run_until_done(stream, limit);
        Some(stream)
    }

    /// Any effect still pending (for checks after an abort or dispose).
    pub fn pending(&self) -> usize {
        self.pends.len()
    }

    pub fn run_until(&mut self, t: u64) {
        while self.violations.is_empty() && self.step(t) {}
        if self.now < t {
            self.now = t;
            self.host.set_now(t);
        }
    }

    /// Only streams are open and the agent is idle: what a watcher does
    /// while nothing happens.
    fn only_watchers_left(&self) -> bool {
        let idle = self.current.is_none_or(|s| {
            let a = &self.sessions[s].agent;
            self.sessions[s].closed || a.running.is_none() && a.queue.is_empty()
        });
        idle && self
            .ops
            .values()
            .all(|o| o.result.is_some() || matches!(o.kind, OpKind::Stream { .. }))
    }

    /// Two quiet minutes with the watchers open: no tight loop (a long
    /// poll lasts at least a second, quiet ones are spaced out), then the
    /// app leaves.
    fn watch_quietly(&mut self) {
        let from = self.connect_times.len();
        let t0 = self.now;
        self.run_until(t0 + 120_000);
        let n = self.connect_times[from..].len();
        if n > 130 {
            self.violation(format!("{n} connections in two quiet minutes"));
        }
        for id in self.live_any() {
            self.abort(id);
        }
    }

    /// The whole random run: user actions, then calm until every
    /// operation ended, then dispose.
    pub fn run(&mut self) {
        if self.prof.expire_every > 0 {
            let t = self.rng.range(1, self.prof.expire_every * 2);
            self.at(t, Ev::Expire);
        }
        if self.prof.other_every > 0 {
            let t = self.rng.range(1, self.prof.other_every * 2);
            self.at(t, Ev::OtherSend);
        }
        if self.prof.gone_at > 0 {
            self.at(self.prof.gone_at, Ev::Gone);
        }
        if self.prof.close_at > 0 {
            self.at(self.prof.close_at, Ev::CloseOutside);
        }
        let every = self.prof.swarm.as_ref().map_or(0, |sw| sw.offline_every);
        if every > 0 {
            let t = self.rng.range(1, every * 2);
            self.at(t, Ev::Offline);
        }
        let t = self.rng.range(0, 100);
        self.at(t, Ev::User);
        // The user's part, then calm.
        while self.violations.is_empty() && !self.calm {
            if !self.step(u64::MAX - 1) {
                break;
            }
        }
        if !self.calm {
            self.enter_calm();
        }
        let deadline = self.calm_at + 30 * 60_000;
        let mut left = false;
        while self.violations.is_empty() && !self.live_any().is_empty() {
            // A stream resumed from partial storage with no turn after its
            // cursor waits for the next one like a watcher (an open
            // finding, docs/simulation.md): the app leaves.
            let waiting =
                self.cfg.watch || self.live_any().iter().all(|id| self.ops[id].partial_resume);
            if waiting && !left && self.only_watchers_left() {
                // The app leaves; what leaving sets off (a stop fired on
                // the abort of a stream that owns its turn) still runs to
                // its end (seed 15234760).
                self.watch_quietly();
                left = true;
                continue;
            }
            if !self.step(deadline) {
                break;
            }
        }
        if self.violations.is_empty() {
            let live = self.live_any();
            if !live.is_empty() {
                let what: Vec<String> = live
                    .iter()
                    .map(|id| {
                        let o = &self.ops[id];
                        format!("op{id} {:?} since {:?} hang {}", o.kind, o.since, o.hang)
                    })
                    .collect();
                let agent = self.current.map(|s| {
                    let a = &self.sessions[s].agent;
                    (s, a.running, a.queue.len(), self.sessions[s].closed)
                });
                self.violation(format!(
                    "never ended: {what:?} (agent {agent:?}, left {left})"
                ));
            }
        }
        if self.violations.is_empty() {
            self.dispose();
        }
    }
}
