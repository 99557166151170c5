//! Runs: the platform side of a session's task. Starts the first run, delivers
//! `.in` records to the live run (or starts a continuation run), detaches a run
//! that idles out, and hands the task exactly two ends: an [`Inbox`] (`.in`) and
//! an [`OutWriter`] (`.out`).
//!
//! Who calls whom: `api` calls [`start_first`] and [`deliver`]; this module calls
//! the task (a [`TaskFn`] set by `lib.rs`, the scripted agent in the emulator)
//! without knowing what it is; the task calls only its `Inbox` and `OutWriter`.
//!
//! Ordering: a `.in` record's seq is assigned and the record handed to a run in
//! one critical section of the session lock, and a continuation run's inbox is
//! installed in that same section, so runs receive `.in` strictly in seq order
//! whatever the concurrency of the appends.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use tokio::sync::mpsc;

use crate::store::{InEvent, Session};
use crate::util::random_id;
use crate::{tokens, Shared};

/// What a run is started with.
pub struct RunIo {
    pub run_id: String,
    /// The chat id (`basePayload.chatId`, else the session's externalId).
    pub chat_id: String,
    /// `triggerConfig.basePayload` for the session's first run; `None` for a
    /// continuation (whose work arrives on the inbox).
    pub payload: Option<Value>,
    /// What the previous run checkpointed with [`OutWriter::checkpoint`].
    pub snapshot: Vec<Value>,
    pub inbox: Inbox,
    pub out: OutWriter,
}

/// The task a run executes.
pub type TaskFn = Arc<dyn Fn(RunIo) -> Pin<Box<dyn Future<Output = ()> + Send>> + Send + Sync>;

/// A run's `.in`: records in seq order.
pub struct Inbox {
    session: Arc<Session>,
    /// Which installed run this is (`SessionInner::run_generation`): an upgrade
    /// changes the run id, not the inbox.
    generation: u64,
    rx: mpsc::UnboundedReceiver<InEvent>,
    idle: Duration,
}

/// The inbox has no sender any more: the session closed (or the run detached).
#[derive(Debug, PartialEq, Eq)]
pub struct Gone;

impl Inbox {
    /// The next record, waiting at most the idle timeout. `None` means the run is
    /// over: it idled out (then it is detached, atomically with respect to
    /// appends, so a later append starts a continuation), or the session closed.
    pub async fn next(&mut self) -> Option<InEvent> {
        if self.session.lock().closed_at.is_some() {
            return None;
        }
        match tokio::time::timeout(self.idle, self.rx.recv()).await {
            Ok(e) => e,
            Err(_) => {
                let mut inner = self.session.lock();
                match self.rx.try_recv() {
                    Ok(e) => Some(e),
                    Err(_) => {
                        if inner.run_generation == self.generation {
                            inner.run_tx = None;
                        }
                        None
                    }
                }
            }
        }
    }

    /// The next record with no idle limit; `None` once the session closed.
    pub async fn recv(&mut self) -> Option<InEvent> {
        self.rx.recv().await
    }

    /// A record if one is queued now.
    pub fn try_next(&mut self) -> Result<Option<InEvent>, Gone> {
        match self.rx.try_recv() {
            Ok(e) => Ok(Some(e)),
            Err(mpsc::error::TryRecvError::Empty) => Ok(None),
            Err(mpsc::error::TryRecvError::Disconnected) => Err(Gone),
        }
    }

    /// Ends this run's claim on the session (a `close` trigger): the next append
    /// starts a continuation.
    pub fn detach(&self) {
        let mut inner = self.session.lock();
        if inner.run_generation == self.generation {
            inner.run_tx = None;
        }
    }
}

/// A run's `.out`: appends records; nothing is written once the session is closed.
pub struct OutWriter {
    st: Shared,
    session: Arc<Session>,
    run_id: String,
}

/// How a turn ends on `.out`.
pub struct TurnEnd {
    /// The seq the turn-complete record must get ([`OutWriter::next_seq`] read
    /// before the task's own writes); anything else means another writer came
    /// first (a close), and nothing is written.
    pub expect_seq: u64,
    pub headers: Vec<(String, String)>,
    /// Close the session with the record (`Some(reason)`), like `chat.close()`.
    pub close: Option<Option<String>>,
}

impl OutWriter {
    /// Appends a record; its seq, or `None` when the session is closed.
    pub fn write(&self, body: String, headers: Vec<(String, String)>) -> Option<u64> {
        self.session.push(body, headers)
    }

    /// The seq the next record will get, `None` when the session is closed.
    pub fn next_seq(&self) -> Option<u64> {
        let inner = self.session.lock();
        inner.closed_at.is_none().then_some(inner.next_seq)
    }

    /// Appends the turn-complete control record, then an S2 `trim` back to the
    /// previous turn-complete, and closes the session when asked, in one step.
    /// False (and nothing written) when the session closed or `expect_seq` is stale.
    pub fn end_turn(&self, end: TurnEnd) -> bool {
        let mut inner = self.session.lock();
        if inner.closed_at.is_some() || inner.next_seq != end.expect_seq {
            return false;
        }
        let previous = inner.last_turn_complete_seq.replace(end.expect_seq);
        self.session
            .push_locked(&mut inner, String::new(), end.headers);
        self.session.trim_locked(&mut inner, previous.unwrap_or(0));
        if let Some(reason) = end.close {
            self.session.close_locked(&mut inner, reason);
        }
        true
    }

    /// A fresh session-scoped token that can also read this run (what a task's
    /// SDK asks the API for at a turn's end).
    pub fn mint_token(&self) -> String {
        let scope = self.session.lock().scope_id().to_string();
        tokens::session_token(&self.st, &scope, Some(&self.run_id))
    }

    /// Hands the session to a new run of a newer version mid-reply: the session's
    /// current run changes and an `upgrade-required` control record is appended.
    /// This writer (and the task) go on as the new run.
    pub fn upgrade(&mut self) -> String {
        let new_run = new_run_id();
        let mut inner = self.session.lock();
        inner.current_run_id = Some(new_run.clone());
        self.session.push_locked(
            &mut inner,
            String::new(),
            vec![("trigger-control".into(), "upgrade-required".into())],
        );
        self.run_id = new_run.clone();
        new_run
    }

    /// Keeps `snapshot` for the session's next run (the last `max_history` items).
    pub fn checkpoint(&self, mut snapshot: Vec<Value>) {
        let max = self.st.store.limits.max_history.max(1);
        if snapshot.len() > max {
            snapshot.drain(..snapshot.len() - max);
        }
        self.session.lock().snapshot = snapshot;
    }
}

fn new_run_id() -> String {
    format!("run_{}", random_id(24))
}

/// A run made ready under the session lock, spawned once the lock is released.
struct Pending {
    io: RunIo,
}

/// Installs a new run on the session (under its lock): a fresh inbox, with `first`
/// already in it. `None` when the session is closed.
fn install(
    st: &Shared,
    session: &Arc<Session>,
    inner: &mut crate::store::SessionInner,
    payload: Option<Value>,
    first: Option<InEvent>,
) -> Option<Pending> {
    if inner.closed_at.is_some() {
        return None;
    }
    let (tx, rx) = mpsc::unbounded_channel();
    if let Some(ev) = first {
        let _ = tx.send(ev);
    }
    let run_id = new_run_id();
    inner.current_run_id = Some(run_id.clone());
    inner.run_tx = Some(tx);
    inner.run_generation = inner.run_generation.wrapping_add(1);
    let idle = inner
        .trigger_config
        .get("idleTimeoutInSeconds")
        .or_else(|| {
            inner
                .trigger_config
                .pointer("/basePayload/idleTimeoutInSeconds")
        })
        .and_then(Value::as_u64)
        .unwrap_or(st.config.idle_timeout_secs)
        .clamp(1, 3600);
    Some(Pending {
        io: RunIo {
            run_id: run_id.clone(),
            chat_id: inner.chat_id(),
            payload,
            snapshot: inner.snapshot.clone(),
            inbox: Inbox {
                session: session.clone(),
                generation: inner.run_generation,
                rx,
                idle: Duration::from_secs(idle),
            },
            out: OutWriter {
                st: st.clone(),
                session: session.clone(),
                run_id,
            },
        },
    })
}

/// Spawns an installed run (outside any lock).
fn spawn(st: &Shared, pending: Pending) {
    let task = st.task.clone();
    st.live_runs.fetch_add(1, Ordering::Relaxed);
    let guard = LiveRun(st.clone());
    tokio::spawn(async move {
        let _guard = guard;
        task(pending.io).await;
    });
}

/// Counts a live run for `/_dev/stats`.
struct LiveRun(Shared);

impl Drop for LiveRun {
    fn drop(&mut self) {
        self.0.live_runs.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Starts a new session's first run with its `basePayload`. Returns the run id.
pub fn start_first(st: &Shared, session: &Arc<Session>, payload: Value) -> String {
    let (pending, run_id) = {
        let mut inner = session.lock();
        let p = install(st, session, &mut inner, Some(payload), None);
        (p, inner.current_run_id.clone().unwrap_or_default())
    };
    if let Some(p) = pending {
        spawn(st, p);
    }
    run_id
}

/// The outcome of [`deliver`].
pub enum Delivered {
    /// Stored with this `.in` seq.
    Stored(u64),
    /// A repeated `X-Part-Id`: the first append's seq, nothing stored.
    Duplicate(u64),
}

/// Records an `.in` chunk and hands it to the live run, or starts a continuation
/// run with it (a stop with no run has nothing to stop). All in one critical
/// section: the order runs see is the seq order.
pub fn deliver(
    st: &Shared,
    session: &Arc<Session>,
    make: impl FnOnce(u64) -> InEvent,
    part_id: Option<String>,
) -> Delivered {
    let (pending, in_seq) = {
        let mut inner = session.lock();
        if let Some(first) = part_id.as_ref().and_then(|p| inner.part_ids.get(p)) {
            return Delivered::Duplicate(*first);
        }
        let in_seq = inner.in_count;
        inner.in_count = in_seq.saturating_add(1);
        if let Some(p) = part_id {
            inner.remember_part_id(p, in_seq, st.store.limits.max_part_ids);
        }
        inner.touch();
        let event = make(in_seq);
        let unsent = match &inner.run_tx {
            Some(tx) => match tx.send(event) {
                Ok(()) => None,
                Err(e) => Some(e.0),
            },
            None => Some(event),
        };
        let pending = match unsent {
            Some(ev @ InEvent::Message { .. }) => install(st, session, &mut inner, None, Some(ev)),
            _ => None,
        };
        (pending, in_seq)
    };
    if let Some(p) = pending {
        spawn(st, p);
    }
    Delivered::Stored(in_seq)
}
