//! The model server (the Sessions API's `.in` and `.out`), the model agent
//! and the model `.out` connections of the simulator. Pure data and seeded
//! decisions; the driver (`driver.rs`) owns the clock and the engine.

use std::collections::{HashMap, VecDeque};

/// splitmix64: one seeded stream of decisions for the whole run.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed ^ 0x5DEE_CE66_D1CE_5EED)
    }

    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            0
        } else {
            self.next() % n
        }
    }

    /// A number in `lo..=hi`.
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.below(hi.saturating_sub(lo) + 1)
    }

    /// True `per_mille` times in a thousand.
    pub fn pm(&mut self, per_mille: u32) -> bool {
        self.below(1000) < u64::from(per_mille)
    }
}

/// Who appended an `.in` record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// The transport under test.
    Ours,
    /// Another device on the same session.
    Other,
}

/// One agent turn: the ground truth the invariants are checked against.
#[derive(Debug, Clone)]
pub struct Turn {
    pub session: usize,
    /// The `.in` seq of the message it answers.
    pub msg_seq: u64,
    pub origin: Origin,
    /// Chunks planned; `written` were written before it ended.
    pub planned: u32,
    pub written: u32,
    /// Cut short by a stop.
    pub cut: bool,
    /// The stop that cut it: our append's part id, or `None` for another
    /// device's.
    pub cut_by: Option<String>,
    /// Its turn-complete: `.out` seq and time.
    pub done: Option<(u64, u64)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutKind {
    Data { turn: u32, idx: u32 },
    Tc { turn: u32 },
    Closed,
    Trim,
}

#[derive(Debug, Clone)]
pub struct OutRec {
    pub seq: u64,
    pub json: String,
    pub kind: OutKind,
}

#[derive(Debug, Clone)]
pub struct InRec {
    pub origin: Origin,
    pub turn: Option<u32>,
    /// The append's `X-Part-Id`.
    pub part: String,
}

#[derive(Debug, Default, Clone)]
pub struct Agent {
    /// Messages waiting (their `.in` seqs), in order.
    pub queue: VecDeque<u64>,
    pub running: Option<u32>,
    /// The next turn to start is cut at once (a stop came while none ran).
    pub cut_next: bool,
    /// Our stop behind `cut_next`, by part id.
    pub cut_next_ours: Option<String>,
    pub max_consumed: Option<u64>,
    /// Id of the scheduled step; older steps are stale.
    pub step: u64,
    pub scheduled: bool,
}

#[derive(Debug, Clone)]
pub struct Session {
    pub ins: Vec<InRec>,
    pub outs: Vec<OutRec>,
    pub closed: bool,
    pub gone: bool,
    /// `X-Part-Id` -> the seq it was given.
    pub parts: HashMap<String, u64>,
    pub agent: Agent,
}

impl Session {
    pub fn new() -> Session {
        Session {
            ins: Vec::new(),
            outs: Vec::new(),
            closed: false,
            gone: false,
            parts: HashMap::new(),
            agent: Agent::default(),
        }
    }

    /// Whether the last record (past trims) is a turn-complete: what
    /// `X-Peek-Settled` looks at.
    pub fn settled(&self) -> bool {
        self.outs
            .iter()
            .rev()
            .find(|r| r.kind != OutKind::Trim)
            .is_some_and(|r| matches!(r.kind, OutKind::Tc { .. } | OutKind::Closed))
    }

    /// The agent's committed `.in` cursor: the last consumed seq, held
    /// back behind any message still waiting.
    pub fn in_event_id(&self) -> Option<u64> {
        let mut id = self.agent.max_consumed?;
        if let Some(&w) = self.agent.queue.iter().min() {
            if w <= id {
                id = w.checked_sub(1)?;
            }
        }
        Some(id)
    }
}

fn esc(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"")
}

pub fn data_json(seq: u64, t: u64, turn: u32, idx: u32, part: &str) -> String {
    let body = format!(
        r#"{{"data":{{"type":"text-delta","id":"m","delta":"T{turn}I{idx}"}},"id":"{part}"}}"#
    );
    format!(
        r#"{{"seq_num":{seq},"timestamp":{t},"body":"{}","headers":[]}}"#,
        esc(&body)
    )
}

pub fn tc_json(seq: u64, t: u64, in_id: Option<u64>, token: Option<&str>, closes: bool) -> String {
    let mut h = String::from(r#"[["trigger-control","turn-complete"]"#);
    if let Some(i) = in_id {
        h.push_str(&format!(r#",["session-in-event-id","{i}"]"#));
    }
    if let Some(tok) = token {
        h.push_str(&format!(r#",["public-access-token","{tok}"]"#));
    }
    if closes {
        h.push_str(r#",["session-closed","true"],["session-closed-reason","agent"]"#);
    }
    h.push(']');
    format!(r#"{{"seq_num":{seq},"timestamp":{t},"body":"","headers":{h}}}"#)
}

pub fn closed_json(seq: u64, t: u64) -> String {
    format!(
        r#"{{"seq_num":{seq},"timestamp":{t},"body":"","headers":[["trigger-control","session-closed"],["session-closed-reason","outside"]]}}"#
    )
}

pub fn trim_json(seq: u64, t: u64) -> String {
    format!(r#"{{"seq_num":{seq},"timestamp":{t},"body":"x","headers":[["","trim"]]}}"#)
}

/// The `(turn, idx)` of every chunk in a JSON array the engine handed out.
pub fn parse_chunks(json: &str) -> Vec<(u32, u32)> {
    let mut out = Vec::new();
    let pat = "\"delta\":\"T";
    let mut rest = json;
    while let Some(i) = rest.find(pat) {
        rest = &rest[i + pat.len()..];
        let end = rest.find('"').unwrap_or(rest.len());
        let tok = &rest[..end];
        if let Some((t, i)) = tok.split_once('I') {
            if let (Ok(t), Ok(i)) = (t.parse(), i.parse()) {
                out.push((t, i));
            }
        }
        rest = &rest[end..];
    }
    out
}

/// One open `.out` response body.
#[derive(Debug, Clone)]
pub struct Conn {
    pub session: usize,
    /// The last seq put on the wire.
    pub cursor: Option<u64>,
    pub deadline: u64,
    pub buf: Vec<u8>,
    pub pos: usize,
    /// Cut after this many bytes.
    pub cut_at: Option<usize>,
    /// A cut ends with a network error (else a plain end of body).
    pub cut_errors: bool,
    pub sent: usize,
    pub settled: bool,
    /// Never sends anything (not even pings) until the client gives up.
    pub silent: bool,
    pub ping_every: u64,
    pub next_ping: u64,
    pub done_sent: bool,
    pub ended: bool,
    /// Killed (the session went away): the next read fails.
    pub killed: bool,
    /// Send an `event: error` instead of the next batch.
    pub error_event: bool,
    /// Most records per `batch` event.
    pub batch_max: usize,
    pub max_piece: usize,
    /// Lines end in CRLF.
    pub crlf: bool,
    /// A comment line (`: ...`) before every event.
    pub comments: bool,
    /// It ignored the client's `Last-Event-ID` (replays from the start).
    pub replayed: bool,
    /// The `event: error` was just put on the wire (a fault to count: the
    /// client stops reading at it, so no end of body follows).
    pub error_sent: bool,
}

/// What a read on a connection came to.
#[derive(Debug)]
pub enum ReadResult {
    Bytes(Vec<u8>),
    Eof,
    Cut {
        error: bool,
    },
    Killed,
    /// Nothing yet: ask again at this time (or earlier when records come).
    Wait(u64),
}

impl Conn {
    /// Puts one SSE event (`\n` line ends) on the wire, in this
    /// connection's dialect.
    fn put(&mut self, ev: &str) {
        let mut ev = std::borrow::Cow::Borrowed(ev);
        if self.comments {
            ev = format!(": keep-alive\n{ev}").into();
        }
        if self.crlf {
            ev = ev.replace('\n', "\r\n").into();
        }
        self.buf.extend_from_slice(ev.as_bytes());
    }

    /// Fills the buffer from the session when it is drained.
    fn refill(&mut self, s: &Session, now: u64) -> Option<u64> {
        if self.silent {
            return Some(u64::MAX);
        }
        let start = match self.cursor {
            Some(c) => s.outs.partition_point(|r| r.seq <= c),
            None => 0,
        };
        if start < s.outs.len() {
            if self.error_event {
                self.error_event = false;
                self.put("event: error\ndata: the stream backend restarted\n\n");
                self.error_sent = true;
                self.ended = true;
                return None;
            }
            for group in s.outs[start..].chunks(self.batch_max.max(1)) {
                let first = group[0].seq;
                let last = group[group.len() - 1].seq;
                let mut ev = format!("id: {first},{last},0\nevent: batch\ndata: {{\"records\":[");
                for (i, r) in group.iter().enumerate() {
                    if i > 0 {
                        ev.push(',');
                    }
                    ev.push_str(&r.json);
                }
                ev.push_str("]}\n\n");
                self.put(&ev);
                self.cursor = Some(last);
            }
            return None;
        }
        if self.settled || self.done_sent {
            self.ended = true;
            return None;
        }
        if now >= self.deadline {
            self.put("data: [DONE]\n\n");
            self.done_sent = true;
            return None;
        }
        if now >= self.next_ping {
            self.put(&format!("event: ping\ndata: {{\"timestamp\":{now}}}\n\n"));
            self.next_ping = now + self.ping_every;
            return None;
        }
        Some(self.deadline.min(self.next_ping))
    }

    pub fn read(&mut self, s: &Session, now: u64, rng: &mut Rng) -> ReadResult {
        if self.killed {
            return ReadResult::Killed;
        }
        if self.pos >= self.buf.len() {
            self.buf.clear();
            self.pos = 0;
            if self.ended {
                return ReadResult::Eof;
            }
            if let Some(at) = self.refill(s, now) {
                if self.cut_at.is_some_and(|c| c <= self.sent) {
                    return ReadResult::Cut {
                        error: self.cut_errors,
                    };
                }
                return ReadResult::Wait(at);
            }
            if self.buf.is_empty() {
                return ReadResult::Eof;
            }
        }
        let avail = self.buf.len() - self.pos;
        let most = avail.min(self.max_piece);
        let mut n = if rng.pm(700) {
            most
        } else {
            rng.range(1, most as u64) as usize
        };
        if let Some(c) = self.cut_at {
            if self.sent >= c {
                return ReadResult::Cut {
                    error: self.cut_errors,
                };
            }
            n = n.min(c - self.sent);
        }
        let piece = self.buf[self.pos..self.pos + n].to_vec();
        self.pos += n;
        self.sent += n;
        ReadResult::Bytes(piece)
    }
}
