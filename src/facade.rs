//! [`Core`]: the engine behind a handful of methods that take and return
//! numbers and strings, what the module exports (through `src/abi.rs`).
//!
//! Everything that touches JavaScript objects (fetch, timers, abort
//! signals, the app's callbacks, errors) lives in the shim's effect runner
//! (`pkg/runner.js`): it polls an operation for its next effect, performs
//! it and hands the outcome back. Effects, results and notices cross as
//! short tagged strings (a letter, then a number, a chat id or JSON text),
//! so the module needs no per-type glue.

use crate::engine::{Done, Effect, Engine, EngineConfig, Notice, OpId, Outcome, Source};
use crate::error::Error;
use crate::json::quote;
use crate::prelude::*;
use crate::session::SessionState;
use crate::text::decimal;

/// One transport's engine.
pub struct Core {
    engine: Engine,
}

fn num(n: u64) -> String {
    decimal(n)
}

/// `"key":value` pairs into `out`, comma-separated.
fn field(out: &mut String, key: &str, value: &str) {
    if out.len() > 1 {
        out.push(',');
    }
    out.push_str(&quote(key));
    out.push(':');
    out.push_str(value);
}

/// A session as JSON with the persisted names (`publicAccessToken`, ...).
fn session_json(s: &SessionState) -> String {
    let mut o = String::from("{");
    field(&mut o, "publicAccessToken", &quote(&s.public_access_token));
    if let Some(id) = &s.last_event_id {
        field(&mut o, "lastEventId", &quote(id));
    }
    if let Some(b) = s.is_streaming {
        field(&mut o, "isStreaming", if b { "true" } else { "false" });
    }
    if let Some(seq) = s.active_input_seq {
        field(&mut o, "activeInputSeq", &num(seq));
    }
    if s.skip_to_turn_complete {
        field(&mut o, "skipToTurnComplete", "true");
    }
    if let Some(seq) = s.superseded_input_seq {
        field(&mut o, "supersededInputSeq", &num(seq));
    }
    if s.closed {
        field(&mut o, "closed", "true");
        if let Some(r) = &s.closed_reason {
            field(&mut o, "closedReason", &quote(r));
        }
    }
    o.push('}');
    o
}

fn effect_json(chat_id: &str, url: Option<&str>, headers: &str, body: Option<&str>) -> String {
    let mut o = String::from("{");
    field(&mut o, "c", &quote(chat_id));
    if let Some(u) = url {
        field(&mut o, "u", &quote(u));
    }
    field(&mut o, "h", headers);
    if let Some(b) = body {
        field(&mut o, "b", &quote(b));
    }
    o.push('}');
    o
}

impl Core {
    /// `seed` and `noise` are mixed into the seed of part ids.
    pub fn new(
        watch: bool,
        timeout_seconds: u32,
        has_start_session: bool,
        wants_events: bool,
        seed: f64,
        noise: f64,
    ) -> Core {
        let cfg = EngineConfig {
            watch,
            timeout_seconds,
            headers: Vec::new(),
            has_start_session,
            wants_events,
        };
        let mut engine = Engine::new(cfg, Vec::new(), (seed as u64) ^ (noise as u64));
        engine.set_now(seed as u64);
        Core { engine }
    }

    /// One of the app's extra headers, sent on every request.
    pub fn header(&mut self, name: String, value: String) {
        self.engine.config_mut().headers.push((name, value));
    }

    /// Which of the app's callbacks exist now.
    pub fn callbacks(&mut self, has_start_session: bool, wants_events: bool) {
        let c = self.engine.config_mut();
        c.has_start_session = has_start_session;
        c.wants_events = wants_events;
    }

    /// The clock, in milliseconds, before anything that may use it.
    pub fn now(&mut self, ms: f64) {
        self.engine.set_now(ms as u64);
    }

    /// The chat's session as JSON (`getSession`), if it has one.
    pub fn session(&self, chat_id: &str) -> Option<String> {
        self.engine.session(chat_id).map(session_json)
    }

    /// Stores a session (`sessions`, `setSession`). With `quiet` (the
    /// transport's own options) no change is reported.
    #[allow(clippy::too_many_arguments)]
    pub fn set_session(
        &mut self,
        chat_id: &str,
        token: String,
        last_event_id: Option<String>,
        is_streaming: Option<bool>,
        skip_to_turn_complete: bool,
        superseded_input_seq: Option<f64>,
        active_input_seq: Option<f64>,
        closed: bool,
        closed_reason: Option<String>,
        quiet: bool,
    ) {
        let state = SessionState {
            public_access_token: token,
            last_event_id,
            is_streaming,
            skip_to_turn_complete,
            superseded_input_seq: superseded_input_seq.map(|n| n as u64),
            active_input_seq: active_input_seq.map(|n| n as u64),
            closed,
            closed_reason,
        };
        self.engine.set_session(chat_id, state);
        if quiet {
            while self.engine.poll_notice().is_some() {}
        }
    }

    /// A chat's cursor and gate: `kind` 0 seeds the resume cursor
    /// (`seedResumeCursor`), 1 adopts a cursor from another tab unless ours
    /// is ahead, 2 clears the gate of a stopped turn (`text` unused).
    pub fn chat(&mut self, kind: u32, chat_id: &str, text: &str) {
        match kind {
            0 => self.engine.seed_cursor(chat_id, text),
            1 => self.engine.adopt_cursor(chat_id, text),
            _ => self.engine.clear_gate(chat_id),
        }
    }

    /// An operation on the chat's `.in`: `source` 0 submit, 1 regenerate,
    /// 2 action, 3 steer (`payload` the `ChatInputChunk`'s JSON text), 4 a
    /// stop (`stopGeneration`), 5 a start (`start()`; no payload).
    pub fn send(
        &mut self,
        chat_id: &str,
        payload: String,
        source: u32,
        message_id: Option<String>,
        stop_on_abort: bool,
    ) -> OpId {
        let source = match source {
            1 => Source::Regenerate,
            2 => Source::Action,
            3 => Source::Steer,
            4 => return self.engine.stop(chat_id),
            5 => return self.engine.start(chat_id),
            _ => Source::Submit,
        };
        self.engine
            .send(chat_id, payload, source, message_id, stop_on_abort)
    }

    /// The first turn through the app's head-start route: `payload` posted
    /// to `url`.
    pub fn head_start(
        &mut self,
        chat_id: &str,
        url: String,
        payload: String,
        message_id: Option<String>,
    ) -> OpId {
        self.engine.head_start(chat_id, url, payload, message_id)
    }

    /// `reconnectToStream`: the stream of the reply in flight, if any.
    pub fn reconnect(&mut self, chat_id: &str, stop_on_abort: bool) -> Option<OpId> {
        self.engine.reconnect(chat_id, stop_on_abort)
    }

    /// The app's hands on operation `op`: `kind` 0 abort, 1 cancel (a
    /// stream ends quietly), 2 a browser wake event (`flag`: the connection
    /// is likely dead), 3 dispose every operation (`op` unused).
    pub fn op(&mut self, kind: u32, op: OpId, flag: bool) {
        match kind {
            0 => self.engine.abort(op),
            1 => self.engine.cancel(op),
            2 => self.engine.wake(op, flag),
            _ => self.engine.dispose(),
        }
    }

    /// What operation `op` needs next: chunks as a JSON array (its `[`
    /// tells it apart, so the text is handed over without a copy), or an
    /// effect tagged by its first letter: `R` read (stall ms), `Z` sleep
    /// (ms), `P` park, `T` accessToken / `S` startSession (chat id), `A`
    /// append / `O` connect / `H` head start (JSON `{c, u?, h, b?}`), `D`
    /// done: `Dc` closed, `Dt`/`Df` a boolean, `Ds` a session, `Do` a
    /// stream op, `De` an error.
    pub fn poll(&mut self, op: OpId) -> String {
        match self.engine.poll(op) {
            Effect::Chunks(json) => json,
            Effect::Read { stall_ms } => cat!("R", num(stall_ms)),
            Effect::Sleep { ms } => cat!("Z", num(ms)),
            Effect::Park => "P".into(),
            Effect::CallAccessToken { chat_id } => cat!("T", chat_id),
            Effect::CallStartSession { chat_id } => cat!("S", chat_id),
            Effect::Append {
                chat_id,
                headers,
                body,
            } => cat!("A", effect_json(&chat_id, None, &headers, Some(&body))),
            Effect::Connect {
                chat_id, headers, ..
            } => cat!("O", effect_json(&chat_id, None, &headers, None)),
            Effect::HeadStart {
                chat_id,
                url,
                headers,
                body,
            } => cat!(
                "H",
                effect_json(&chat_id, Some(&url), &headers, Some(&body))
            ),
            Effect::Done(r) => match r {
                Ok(Done::Closed) => "Dc".into(),
                Ok(Done::Bool(b)) => if b { "Dt" } else { "Df" }.into(),
                Ok(Done::Session(s)) => cat!("Ds", session_json(&s)),
                Ok(Done::Stream(s)) => cat!("Do", num(u64::from(s))),
                Err(e) => cat!("De", e.json()),
            },
        }
    }

    /// The outcome of the effect `op` was given. `kind`: 0 token (`a`), 1
    /// started (`a` token, `flag` pending version), 2 response (`status`,
    /// `a` body, `b` x-ratelimit-reset, `c` retry-after), 3 connected
    /// (`status`, `flag` settled), 4 head started (`status`, `a` token,
    /// `flag` pending, `b` error body), 5 end of body, 6 stall, 7
    /// interrupted, 8 slept, 9 woken; failures: 10 network, 11 callback,
    /// 12 protocol, 13 misuse (`a` the message).
    #[allow(clippy::too_many_arguments)]
    pub fn outcome(
        &mut self,
        op: OpId,
        kind: u32,
        status: u16,
        a: Option<String>,
        b: Option<String>,
        c: Option<String>,
        flag: bool,
    ) {
        let msg = || a.clone().unwrap_or_default();
        let outcome = match kind {
            0 => Outcome::Token(a.as_deref()),
            1 => Outcome::Started {
                token: a.as_deref(),
                pending_version: flag,
            },
            2 => Outcome::Response {
                status,
                body: a.as_deref().unwrap_or_default(),
                ratelimit_reset: b.as_deref(),
                retry_after: c.as_deref(),
            },
            3 => Outcome::Connected {
                status,
                settled: flag,
            },
            4 => Outcome::HeadStarted {
                status,
                token: a.as_deref(),
                pending_version: flag,
                error_body: b.as_deref().unwrap_or_default(),
            },
            5 => Outcome::Eof,
            6 => Outcome::Stall,
            7 => Outcome::Interrupted,
            8 => Outcome::Slept,
            9 => Outcome::Woken,
            10 => Outcome::Failed(Error::Network(msg())),
            11 => Outcome::Failed(Error::Callback(msg())),
            12 => Outcome::Failed(Error::Protocol(msg())),
            _ => Outcome::Failed(Error::Misuse(msg())),
        };
        self.engine.handle(op, outcome);
    }

    /// Bytes read from the open body of stream `op`.
    pub fn bytes(&mut self, op: OpId, bytes: &[u8]) {
        self.engine.handle(op, Outcome::Bytes(bytes));
    }

    /// The next notice, tagged: `s` the chat's session changed (chat id),
    /// `e` a lifecycle event (JSON; an error field is `{"$error": {...},
    /// "$op": n}`), `i` interrupt, `w` wake, `n` spawn (an op number).
    pub fn notice(&mut self) -> Option<String> {
        Some(match self.engine.poll_notice()? {
            Notice::SessionChanged(chat) => cat!("s", chat),
            Notice::Event(json) => cat!("e", json),
            Notice::Interrupt(op) => cat!("i", num(u64::from(op))),
            Notice::Wake(op) => cat!("w", num(u64::from(op))),
            Notice::Spawn(op) => cat!("n", num(u64::from(op))),
        })
    }
}
