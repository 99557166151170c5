//! In-memory sessions: the session rows, their `.out` record logs and their live runs.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use serde_json::{json, Value};
use tokio::sync::{mpsc, watch};

use crate::util::{iso_from_ms, now_ms, random_id};

/// One record on a session's `.out` stream.
#[derive(Clone, Debug)]
pub struct Record {
    pub seq: u64,
    pub ts: u64,
    pub body: String,
    pub headers: Vec<(String, String)>,
}

impl Record {
    /// S2 command records carry a single header with an empty name.
    pub fn is_command(&self) -> bool {
        self.headers
            .first()
            .map(|(n, _)| n.is_empty())
            .unwrap_or(false)
    }

    pub fn control(&self) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == "trigger-control")
            .map(|(_, v)| v.as_str())
    }

    pub fn to_json(&self) -> Value {
        let headers: Vec<Value> = self.headers.iter().map(|(n, v)| json!([n, v])).collect();
        json!({ "seq_num": self.seq, "timestamp": self.ts, "body": self.body, "headers": headers })
    }
}

/// The last place handed out by [`next_touch`].
static LAST_TOUCH: AtomicU64 = AtomicU64::new(0);

/// The next place in the order of session uses: strictly increasing, so of two
/// uses the later one has the larger number, whatever the clock says (two uses in
/// one millisecond tie on the clock, not here). A single atomic's modifications
/// follow happens-before, so `Relaxed` keeps that order.
fn next_touch() -> u64 {
    LAST_TOUCH.fetch_add(1, Ordering::Relaxed) + 1
}

/// What a run receives from `.in`.
#[derive(Debug)]
pub enum InEvent {
    Message { payload: Value, in_seq: u64 },
    Stop { in_seq: u64 },
}

pub struct SessionInner {
    pub id: String,
    pub external_id: Option<String>,
    pub kind: String,
    pub task_identifier: String,
    pub trigger_config: Value,
    pub tags: Vec<String>,
    pub metadata: Value,
    pub closed_at: Option<u64>,
    pub closed_reason: Option<String>,
    pub expires_at: Option<String>,
    pub created_at: u64,
    pub updated_at: u64,
    /// When the session was last used, as a place in the order of all uses
    /// ([`SessionInner::touch`]): unlike `updated_at` it never ties, so it is what
    /// eviction goes by.
    pub touched: u64,
    pub current_run_id: Option<String>,
    /// Surviving `.out` records (trims drop older ones).
    pub records: VecDeque<Record>,
    pub next_seq: u64,
    pub last_ts: u64,
    /// The live run's inbox, when a run is alive.
    pub run_tx: Option<mpsc::UnboundedSender<InEvent>>,
    /// Counts installed runs (tells a run's inbox whether it is still the live one).
    pub run_generation: u64,
    /// `X-Part-Id` of recent `.in` appends, with the `.in` seq each got (at most
    /// `Limits::max_part_ids`, oldest forgotten first: `part_order`).
    pub part_ids: HashMap<String, u64>,
    pub part_order: VecDeque<String>,
    /// Number of records appended to `.in` so far.
    pub in_count: u64,
    /// What the task's runs checkpoint between runs (the agent's conversation),
    /// opaque to the platform.
    pub snapshot: Vec<Value>,
    pub last_turn_complete_seq: Option<u64>,
    /// Most records kept on `.out` (older ones are trimmed, as S2 trims).
    pub max_records: usize,
    /// `Limits::trim_turns`.
    pub trim_turns: bool,
    /// The store's wall clock (Unix ms), for the timestamps above.
    clock: fn() -> u64,
}

impl SessionInner {
    /// The id tokens are scoped to: the externalId when there is one.
    pub fn scope_id(&self) -> &str {
        self.external_id.as_deref().unwrap_or(&self.id)
    }

    pub fn chat_id(&self) -> String {
        self.trigger_config
            .pointer("/basePayload/chatId")
            .and_then(Value::as_str)
            .map(str::to_string)
            .unwrap_or_else(|| self.scope_id().to_string())
    }

    pub fn to_json(&self) -> Value {
        json!({
            "id": self.id,
            "externalId": self.external_id,
            "type": self.kind,
            "taskIdentifier": self.task_identifier,
            "triggerConfig": self.trigger_config,
            "currentRunId": self.current_run_id,
            "tags": self.tags,
            "metadata": self.metadata,
            "closedAt": self.closed_at.map(iso_from_ms),
            "closedReason": self.closed_reason,
            "expiresAt": self.expires_at,
            "createdAt": iso_from_ms(self.created_at),
            "updatedAt": iso_from_ms(self.updated_at),
        })
    }

    /// Marks the session as used now (re-created, appended to or closed).
    pub fn touch(&mut self) {
        self.updated_at = (self.clock)();
        self.touched = next_touch();
    }

    /// Remembers the `.in` seq of an `X-Part-Id`, forgetting the oldest beyond `max`.
    pub fn remember_part_id(&mut self, part_id: String, in_seq: u64, max: usize) {
        if self.part_ids.insert(part_id.clone(), in_seq).is_none() {
            self.part_order.push_back(part_id);
        }
        while self.part_order.len() > max.max(1) {
            if let Some(old) = self.part_order.pop_front() {
                self.part_ids.remove(&old);
            }
        }
    }

    /// Whether the session may be dropped to make room: no live run and no open
    /// `.out` reader (`readers`).
    fn evictable(&self, readers: usize) -> bool {
        self.run_tx.is_none() && (readers == 0 || self.closed_at.is_some())
    }

    /// The last record that is not an S2 command record.
    pub fn last_non_command(&self) -> Option<&Record> {
        self.records.iter().rev().find(|r| !r.is_command())
    }
}

pub struct Session {
    inner: Mutex<SessionInner>,
    /// Carries `next_seq`; bumped whenever a record is appended.
    pub notify: watch::Sender<u64>,
}

impl Session {
    pub fn lock(&self) -> MutexGuard<'_, SessionInner> {
        match self.inner.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    /// Appends a record; returns its seq_num. `None` once the session is closed: its
    /// `session-closed` record stays the last one on `.out`.
    pub fn push_locked(
        &self,
        inner: &mut SessionInner,
        body: String,
        headers: Vec<(String, String)>,
    ) -> Option<u64> {
        if inner.closed_at.is_some() {
            return None;
        }
        let seq = inner.next_seq;
        let ts = now_ms().max(inner.last_ts);
        inner.next_seq += 1;
        inner.last_ts = ts;
        let rec = Record {
            seq,
            ts,
            body,
            headers,
        };
        inner.records.push_back(rec);
        while inner.records.len() > inner.max_records.max(1) {
            inner.records.pop_front();
        }
        let _ = self.notify.send(inner.next_seq);
        Some(seq)
    }

    pub fn push(&self, body: String, headers: Vec<(String, String)>) -> Option<u64> {
        let mut inner = self.lock();
        self.push_locked(&mut inner, body, headers)
    }

    /// Appends an S2 `trim` command record and drops records older than `earliest`.
    /// Nothing with `Limits::trim_turns` off.
    pub fn trim_locked(&self, inner: &mut SessionInner, earliest: u64) {
        if !inner.trim_turns {
            return;
        }
        let body = format!("trim:{earliest}");
        if self
            .push_locked(inner, body, vec![(String::new(), "trim".to_string())])
            .is_none()
        {
            return;
        }
        while inner
            .records
            .front()
            .map(|r| r.seq < earliest)
            .unwrap_or(false)
        {
            inner.records.pop_front();
        }
    }

    /// Closes the session unless it is closed already (then false): appends the
    /// terminal `session-closed` control record (with `session-closed-reason` when
    /// there is a reason), marks the row closed and detaches the live run.
    pub fn close_locked(&self, inner: &mut SessionInner, reason: Option<String>) -> bool {
        let mut headers = vec![("trigger-control".to_string(), "session-closed".to_string())];
        if let Some(r) = &reason {
            headers.push(("session-closed-reason".to_string(), r.clone()));
        }
        if self.push_locked(inner, String::new(), headers).is_none() {
            return false;
        }
        inner.touch();
        inner.closed_at = Some(inner.updated_at);
        inner.closed_reason = reason;
        inner.run_tx = None;
        true
    }
}

/// Bounds on what the store keeps.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Sessions kept; at the cap an idle one (no live run, no reader) is evicted,
    /// a closed one first, else the least recently used (`touched`), and when none
    /// is idle creation fails.
    pub max_sessions: usize,
    /// `.out` records kept per session.
    pub max_records: usize,
    /// `X-Part-Id`s remembered per session for de-duplication.
    pub max_part_ids: usize,
    /// Messages the agent keeps in its per-session snapshot.
    pub max_history: usize,
    /// A turn's end trims `.out` back to the previous turn-complete, as the
    /// cloud does (default). A reader more than a turn behind then misses
    /// what was trimmed; tests that check every record of many quick turns,
    /// whatever the machine's load, turn it off.
    pub trim_turns: bool,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_sessions: 1000,
            max_records: 10_000,
            max_part_ids: 1000,
            max_history: 500,
            trim_turns: true,
        }
    }
}

/// Creation refused: the store is full of sessions that are in use.
#[derive(Debug)]
pub struct Full;

/// Looks sessions up by their `session_*` id or their externalId.
pub struct Store {
    by_id: Mutex<HashMap<String, Arc<Session>>>,
    by_external: Mutex<HashMap<String, String>>,
    pub limits: Limits,
    /// Wall clock (Unix ms) of the sessions' timestamps.
    clock: fn() -> u64,
}

impl Default for Store {
    fn default() -> Self {
        Store::new(Limits::default())
    }
}

pub struct NewSession {
    pub external_id: Option<String>,
    pub kind: String,
    pub task_identifier: String,
    pub trigger_config: Value,
    pub tags: Vec<String>,
    pub metadata: Value,
    pub expires_at: Option<String>,
}

impl Store {
    pub fn new(limits: Limits) -> Store {
        Store::with_clock(limits, now_ms)
    }

    /// A store whose sessions' timestamps come from `clock` (Unix ms).
    pub fn with_clock(limits: Limits, clock: fn() -> u64) -> Store {
        Store {
            by_id: Mutex::new(HashMap::new()),
            by_external: Mutex::new(HashMap::new()),
            limits,
            clock,
        }
    }

    fn ids(&self) -> MutexGuard<'_, HashMap<String, Arc<Session>>> {
        match self.by_id.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        }
    }

    fn exts(&self) -> MutexGuard<'_, HashMap<String, String>> {
        match self.by_external.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        }
    }

    /// Number of sessions kept.
    pub fn len(&self) -> usize {
        self.ids().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Resolves either URL form.
    pub fn get(&self, id_or_external: &str) -> Option<Arc<Session>> {
        if id_or_external.starts_with("session_") {
            return self.ids().get(id_or_external).cloned();
        }
        let id = self.exts().get(id_or_external).cloned()?;
        self.ids().get(&id).cloned()
    }

    /// Creates a session unless one with the same externalId exists. Returns
    /// (session, created), or `Full` when the cap is reached and no session is idle.
    pub fn create_or_get(&self, new: NewSession) -> Result<(Arc<Session>, bool), Full> {
        let mut exts = self.exts();
        if let Some(ext) = &new.external_id {
            if let Some(id) = exts.get(ext) {
                if let Some(s) = self.ids().get(id).cloned() {
                    return Ok((s, false));
                }
            }
        }
        let mut ids = self.ids();
        if ids.len() >= self.limits.max_sessions.max(1) {
            // Evict an idle session: a closed one first, else the least recently
            // used. `touched` is unique, so the choice never depends on a tie.
            let victim = ids
                .iter()
                .filter_map(|(id, s)| {
                    let readers = s.notify.receiver_count();
                    let inner = s.lock();
                    inner.evictable(readers).then(|| {
                        (
                            (inner.closed_at.is_none(), inner.touched),
                            id.clone(),
                            inner.external_id.clone(),
                        )
                    })
                })
                .min_by_key(|(order, _, _)| *order);
            let Some((_, id, ext)) = victim else {
                return Err(Full);
            };
            ids.remove(&id);
            if let Some(e) = ext {
                exts.remove(&e);
            }
        }
        let id = format!("session_{}", random_id(25));
        let now = (self.clock)();
        let inner = SessionInner {
            id: id.clone(),
            external_id: new.external_id.clone(),
            kind: new.kind,
            task_identifier: new.task_identifier,
            trigger_config: new.trigger_config,
            tags: new.tags,
            metadata: new.metadata,
            closed_at: None,
            closed_reason: None,
            expires_at: new.expires_at,
            created_at: now,
            updated_at: now,
            touched: next_touch(),
            current_run_id: None,
            records: VecDeque::new(),
            next_seq: 0,
            last_ts: 0,
            run_tx: None,
            run_generation: 0,
            part_ids: HashMap::new(),
            part_order: VecDeque::new(),
            in_count: 0,
            snapshot: Vec::new(),
            last_turn_complete_seq: None,
            max_records: self.limits.max_records,
            trim_turns: self.limits.trim_turns,
            clock: self.clock,
        };
        let (notify, _) = watch::channel(0);
        let s = Arc::new(Session {
            inner: Mutex::new(inner),
            notify,
        });
        if let Some(ext) = new.external_id {
            exts.insert(ext, id.clone());
        }
        ids.insert(id, s.clone());
        Ok((s, true))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn new_session(ext: &str) -> NewSession {
        NewSession {
            external_id: Some(ext.into()),
            kind: "chat.agent".into(),
            task_identifier: "t".into(),
            trigger_config: json!({}),
            tags: vec![],
            metadata: Value::Null,
            expires_at: None,
        }
    }

    #[test]
    fn full_store_evicts_idle_sessions_only() {
        let store = Store::new(Limits {
            max_sessions: 2,
            ..Limits::default()
        });
        let (a, _) = store.create_or_get(new_session("a")).unwrap();
        let (b, _) = store.create_or_get(new_session("b")).unwrap();
        // `a` has a live run, `b` a reader: nothing can go.
        a.lock().run_tx = Some(mpsc::unbounded_channel().0);
        let reader = b.notify.subscribe();
        assert!(store.create_or_get(new_session("c")).is_err());
        drop(reader);
        // Now `b` is idle: it makes room for `c`.
        let (_, fresh) = store.create_or_get(new_session("c")).unwrap();
        assert!(fresh);
        assert!(store.get("b").is_none());
        assert!(store.get("a").is_some());
        assert_eq!(store.len(), 2);
    }

    /// A clock stuck in one millisecond: every timestamp ties.
    fn frozen() -> u64 {
        1_700_000_000_000
    }

    #[test]
    fn eviction_follows_the_order_of_last_use_within_one_tick() {
        let store = Store::with_clock(
            Limits {
                max_sessions: 8,
                ..Limits::default()
            },
            frozen,
        );
        let names: Vec<String> = (0..8).map(|i| format!("s{i}")).collect();
        for n in &names {
            store.create_or_get(new_session(n)).unwrap();
        }
        // Used again after they were all created: s5, then s0; s6 closed.
        store.get("s5").unwrap().lock().touch();
        store.get("s0").unwrap().lock().touch();
        let s6 = store.get("s6").unwrap();
        assert!(s6.close_locked(&mut s6.lock(), None));
        assert!(names
            .iter()
            .all(|n| store.get(n).unwrap().lock().updated_at == frozen()));
        // Each new session makes room by evicting one: the closed one first, then
        // the least recently used.
        let mut evicted: Vec<&str> = Vec::new();
        for i in 0..8 {
            let (_, fresh) = store.create_or_get(new_session(&format!("n{i}"))).unwrap();
            assert!(fresh);
            assert_eq!(store.len(), 8);
            let gone: Vec<&str> = names
                .iter()
                .map(String::as_str)
                .filter(|n| store.get(n).is_none() && !evicted.contains(n))
                .collect();
            let kept: Vec<String> = (0..8)
                .flat_map(|j| [format!("s{j}"), format!("n{j}")])
                .filter(|n| store.get(n).is_some())
                .collect();
            assert_eq!(gone.len(), 1, "after n{i}: evicted {gone:?}, kept {kept:?}");
            evicted.push(gone[0]);
        }
        assert_eq!(evicted, ["s6", "s1", "s2", "s3", "s4", "s7", "s5", "s0"]);
    }

    #[test]
    fn a_trim_drops_older_records_unless_turned_off() {
        for trim_turns in [true, false] {
            let store = Store::new(Limits {
                trim_turns,
                ..Limits::default()
            });
            let (s, _) = store.create_or_get(new_session("a")).unwrap();
            for i in 0..5 {
                s.push(format!("{i}"), vec![]);
            }
            let inner = &mut *s.lock();
            s.trim_locked(inner, 3);
            let seqs: Vec<u64> = inner.records.iter().map(|r| r.seq).collect();
            if trim_turns {
                // The trim's own record (seq 5) follows what is kept.
                assert_eq!(seqs, vec![3, 4, 5]);
            } else {
                assert_eq!(seqs, vec![0, 1, 2, 3, 4]);
            }
        }
    }

    #[test]
    fn records_and_part_ids_are_capped() {
        let store = Store::new(Limits {
            max_records: 3,
            ..Limits::default()
        });
        let (s, _) = store.create_or_get(new_session("a")).unwrap();
        for i in 0..10 {
            s.push(format!("{i}"), vec![]);
        }
        let inner = &mut *s.lock();
        let seqs: Vec<u64> = inner.records.iter().map(|r| r.seq).collect();
        assert_eq!(seqs, vec![7, 8, 9]);
        for i in 0..10 {
            inner.remember_part_id(format!("p{i}"), i, 4);
        }
        inner.remember_part_id("p9".into(), 9, 4);
        assert_eq!(inner.part_ids.len(), 4);
        assert!(inner.part_ids.contains_key("p6") && !inner.part_ids.contains_key("p5"));
    }
}
