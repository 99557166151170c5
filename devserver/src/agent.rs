//! The scripted chat agent: a deterministic stand-in for a `chat.agent` task. Each run
//! reads its `.in` [`Inbox`], streams AI SDK `UIMessageChunk`s to its `.out`
//! [`OutWriter`], writes the conversation to the demo database like a real agent's
//! hooks would, and ends when its inbox idles out. It knows nothing else of the
//! platform (no session, no store, no API).

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};
use tokio::time::Instant;

use crate::app_db::{Cursor, Db};
use crate::runs::{Gone, Inbox, OutWriter, RunIo, TaskFn, TurnEnd};
use crate::store::InEvent;
use crate::util::{message_text, random_id};

/// What a user message asks the scripted agent to do.
#[derive(Debug, Clone, PartialEq)]
pub enum Script {
    Echo(String),
    Long(u64),
    Pause(u64),
    /// `/hold`: no records until the next `.in` record arrives (bounded by
    /// [`HOLD_LIMIT`]), so a message sent meanwhile steers the turn on any machine.
    Hold,
    Reason,
    Tool,
    Ask,
    Approve,
    Error,
    Upgrade,
    Bench(u64),
    /// `/close [reason]`: answer, then close the session as the turn ends.
    Close(Option<String>),
    /// `/subagent [topic]`: a tool call whose sub-agent's stream is forwarded as
    /// `data-subagent` parts, then a final text.
    SubAgent(String),
}

/// Longest sub-agent topic kept.
pub const MAX_SUB_AGENT_TOPIC: usize = 256;

/// The data part type that carries a sub-agent's chunks (`chat.forwardSubAgent`).
pub const SUB_AGENT_DATA_TYPE: &str = "data-subagent";

/// The data part that confirms pending (steering) messages were injected into
/// the running response (`usePendingMessages` reads it).
pub const PENDING_INJECTED_DATA_TYPE: &str = "data-pending-message-injected";

/// Longest close reason kept (the close API's limit).
pub const MAX_CLOSE_REASON: usize = 256;

/// Longest a `/hold` waits for the next `.in` record.
pub const HOLD_LIMIT: Duration = Duration::from_secs(600);

/// Chooses the behaviour from the user's text.
pub fn parse_script(text: &str) -> Script {
    let t = text.trim();
    let mut words = t.split_whitespace();
    let cmd = words.next().unwrap_or("");
    let arg = words.next().and_then(|a| a.parse::<u64>().ok());
    match (cmd, arg) {
        ("/long", Some(n)) => Script::Long(n.clamp(1, 100_000)),
        ("/pause", Some(s)) => Script::Pause(s.min(3600)),
        ("/hold", _) => Script::Hold,
        ("/bench", Some(n)) => Script::Bench(n.clamp(1, 1_000_000)),
        ("/reason", _) => Script::Reason,
        ("/tool", _) => Script::Tool,
        ("/ask", _) => Script::Ask,
        ("/approve", _) => Script::Approve,
        ("/error", _) => Script::Error,
        ("/upgrade", _) => Script::Upgrade,
        ("/subagent", _) => {
            let topic = t.strip_prefix("/subagent").unwrap_or("").trim();
            let topic = if topic.is_empty() {
                "nothing in particular"
            } else {
                topic
            };
            Script::SubAgent(topic.chars().take(MAX_SUB_AGENT_TOPIC).collect())
        }
        ("/close", _) => {
            let reason = t.strip_prefix("/close").unwrap_or("").trim();
            Script::Close(
                (!reason.is_empty()).then(|| reason.chars().take(MAX_CLOSE_REASON).collect()),
            )
        }
        _ => Script::Echo(t.to_string()),
    }
}

/// The demo's `actionSchema` and `onAction`, applied to the conversation:
/// `{type:"undo"}` removes the last exchange (the last user message and what
/// follows it); `{type:"rollback", targetMessageId}` keeps the messages up to
/// and including that one; `{type:"edit", messageId, text}` replaces a user
/// message's text. Anything else (or a target not in the conversation)
/// changes nothing. Returns whether the conversation changed.
pub fn apply_action(history: &mut Vec<Value>, action: &Value) -> bool {
    let str_field = |k: &str| action.get(k).and_then(Value::as_str);
    let index_of = |id: &str| {
        history
            .iter()
            .position(|m| m.get("id").and_then(Value::as_str) == Some(id))
    };
    match str_field("type") {
        Some("undo") => {
            let Some(i) = history
                .iter()
                .rposition(|m| m.get("role").and_then(Value::as_str) == Some("user"))
            else {
                return false;
            };
            history.truncate(i);
            true
        }
        Some("rollback") => {
            let Some(i) = str_field("targetMessageId").and_then(index_of) else {
                return false;
            };
            let changed = i + 1 < history.len();
            history.truncate(i + 1);
            changed
        }
        Some("edit") => {
            let (Some(i), Some(text)) =
                (str_field("messageId").and_then(index_of), str_field("text"))
            else {
                return false;
            };
            if history[i].get("role").and_then(Value::as_str) != Some("user") {
                return false;
            }
            history[i]["parts"] = json!([{ "type": "text", "text": text }]);
            true
        }
        _ => false,
    }
}

/// What the `/subagent` script's sub-agent answers.
pub fn sub_agent_text(topic: &str) -> String {
    format!("Sub-agent researched {topic}: three sources agree.")
}

/// Splits text into word tokens whose concatenation is the text (words after the
/// first carry their leading space).
pub fn tokens(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for (i, w) in text.split(' ').filter(|w| !w.is_empty()).enumerate() {
        out.push(if i == 0 {
            w.to_string()
        } else {
            format!(" {w}")
        });
    }
    out
}

/// Builds the assistant `UIMessage` the way `useChat` reduces the chunks.
#[derive(Default, Clone)]
pub struct MessageBuilder {
    pub id: String,
    pub parts: Vec<Value>,
    text_idx: HashMap<String, usize>,
    reasoning_idx: HashMap<String, usize>,
    tool_idx: HashMap<String, usize>,
}

impl MessageBuilder {
    pub fn new(id: String) -> Self {
        MessageBuilder {
            id,
            ..Default::default()
        }
    }

    /// Continues an existing assistant message.
    pub fn from_message(msg: &Value) -> Self {
        let mut b = MessageBuilder::new(
            msg.get("id")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string(),
        );
        if let Some(parts) = msg.get("parts").and_then(Value::as_array) {
            for p in parts {
                if let Some(c) = p.get("toolCallId").and_then(Value::as_str) {
                    b.tool_idx.insert(c.to_string(), b.parts.len());
                }
                b.parts.push(p.clone());
            }
        }
        b
    }

    pub fn apply(&mut self, chunk: &Value) {
        let ty = chunk.get("type").and_then(Value::as_str).unwrap_or("");
        let id = chunk
            .get("id")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        let call = chunk
            .get("toolCallId")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        match ty {
            "start" => {
                if let Some(m) = chunk.get("messageId").and_then(Value::as_str) {
                    self.id = m.to_string();
                }
            }
            "start-step" => self.parts.push(json!({ "type": "step-start" })),
            "text-start" | "reasoning-start" => {
                let kind = if ty == "text-start" {
                    "text"
                } else {
                    "reasoning"
                };
                let map = if kind == "text" {
                    &mut self.text_idx
                } else {
                    &mut self.reasoning_idx
                };
                map.insert(id, self.parts.len());
                self.parts
                    .push(json!({ "type": kind, "text": "", "state": "streaming" }));
            }
            "text-delta" | "reasoning-delta" => {
                let map = if ty == "text-delta" {
                    &self.text_idx
                } else {
                    &self.reasoning_idx
                };
                if let Some(&i) = map.get(&id) {
                    let delta = chunk.get("delta").and_then(Value::as_str).unwrap_or("");
                    let cur = self.parts[i]["text"].as_str().unwrap_or("").to_string();
                    self.parts[i]["text"] = json!(cur + delta);
                }
            }
            "text-end" | "reasoning-end" => {
                let map = if ty == "text-end" {
                    &self.text_idx
                } else {
                    &self.reasoning_idx
                };
                if let Some(&i) = map.get(&id) {
                    self.parts[i]["state"] = json!("done");
                }
            }
            "tool-input-start" | "tool-input-available" => {
                let name = chunk
                    .get("toolName")
                    .and_then(Value::as_str)
                    .unwrap_or("tool");
                let i = match self.tool_idx.get(&call) {
                    Some(&i) => i,
                    None => {
                        self.tool_idx.insert(call.clone(), self.parts.len());
                        self.parts
                            .push(json!({ "type": format!("tool-{name}"), "toolCallId": call }));
                        self.parts.len() - 1
                    }
                };
                if ty == "tool-input-start" {
                    self.parts[i]["state"] = json!("input-streaming");
                } else {
                    self.parts[i]["state"] = json!("input-available");
                    self.parts[i]["input"] = chunk.get("input").cloned().unwrap_or(Value::Null);
                }
            }
            "tool-approval-request" => {
                if let Some(&i) = self.tool_idx.get(&call) {
                    self.parts[i]["state"] = json!("approval-requested");
                    self.parts[i]["approval"] =
                        json!({ "id": chunk.get("approvalId").cloned().unwrap_or(Value::Null) });
                }
            }
            "tool-output-available" => {
                if let Some(&i) = self.tool_idx.get(&call) {
                    self.parts[i]["state"] = json!("output-available");
                    self.parts[i]["output"] = chunk.get("output").cloned().unwrap_or(Value::Null);
                }
            }
            "tool-output-denied" => {
                if let Some(&i) = self.tool_idx.get(&call) {
                    self.parts[i]["state"] = json!("output-denied");
                }
            }
            // Transient data parts reach `onData` only, never the message.
            t if t.starts_with("data-") && chunk.get("transient") == Some(&Value::Bool(true)) => {}
            t if t.starts_with("data-") => {
                let mut p =
                    json!({ "type": t, "data": chunk.get("data").cloned().unwrap_or(Value::Null) });
                if !id.is_empty() {
                    p["id"] = json!(id);
                }
                self.parts.push(p);
            }
            _ => {}
        }
    }

    pub fn build(&self) -> Value {
        json!({ "id": self.id, "role": "assistant", "parts": self.parts })
    }

    pub fn has_content(&self) -> bool {
        self.parts
            .iter()
            .any(|p| p.get("type").and_then(Value::as_str) != Some("step-start"))
    }
}

/// What the agent needs besides its run's `.in` and `.out`.
#[derive(Clone, Copy, Debug)]
pub struct AgentConfig {
    /// Pause before each streamed token.
    pub chunk_delay_ms: u64,
    /// How long a run takes to boot before it reads its first record (a cold
    /// start: dequeue, process boot, hooks). 0 by default.
    pub run_boot_ms: u64,
}

/// The task the emulator's runs execute: the scripted agent, whose persistence
/// hooks write `db` (the demo's database, as a real agent's hooks write the
/// customer's).
pub fn task(db: Arc<Db>, config: AgentConfig) -> TaskFn {
    Arc::new(move |io: RunIo| {
        let agent = Agent::new(io, db.clone(), config);
        Box::pin(agent.run())
    })
}

/// Which `.in` records a run has consumed: `session-in-event-id` is the highest
/// seq up to which all have been (a stop may be consumed ahead of messages still
/// queued), so it never goes backwards and never claims a record not handled.
#[derive(Default, Debug)]
pub struct InCursor {
    /// The first seq not consumed yet (set by the first record the run receives).
    next: Option<u64>,
    ahead: BTreeSet<u64>,
}

impl InCursor {
    /// A record was received (records arrive in seq order).
    pub fn received(&mut self, seq: u64) {
        if self.next.is_none() {
            self.next = Some(seq);
        }
    }

    /// A record was handled.
    pub fn consume(&mut self, seq: u64) {
        let Some(next) = self.next.as_mut() else {
            return;
        };
        if seq == *next {
            *next = next.saturating_add(1);
            while self.ahead.remove(next) {
                *next = next.saturating_add(1);
            }
        } else if seq > *next {
            self.ahead.insert(seq);
        }
    }

    /// The highest seq up to which every received record was handled.
    pub fn watermark(&self) -> Option<u64> {
        self.next.and_then(|n| n.checked_sub(1))
    }
}

fn seq_of(ev: &InEvent) -> u64 {
    match ev {
        InEvent::Message { in_seq, .. } | InEvent::Stop { in_seq } => *in_seq,
    }
}

fn is_user_submit(ev: &InEvent) -> bool {
    match ev {
        InEvent::Message { payload, .. } => {
            payload
                .get("trigger")
                .and_then(Value::as_str)
                .unwrap_or("submit-message")
                == "submit-message"
                && payload.pointer("/message/role").and_then(Value::as_str) == Some("user")
        }
        InEvent::Stop { .. } => false,
    }
}

struct Agent {
    db: Arc<Db>,
    config: AgentConfig,
    inbox: Inbox,
    out: OutWriter,
    payload: Option<Value>,
    /// Received `.in` records not handled yet, in seq order; `true` for those that
    /// arrived during the current turn (a user message among them may steer it).
    pending: VecDeque<(InEvent, bool)>,
    cursor: InCursor,
    /// The conversation (checkpointed for the next run).
    history: Vec<Value>,
    chat_id: String,
    msg: MessageBuilder,
    open_text: Option<String>,
    stopped: bool,
    /// Set by `/close`: close the session, with this reason, as the turn ends.
    closing: Option<Option<String>>,
}

impl Agent {
    fn new(io: RunIo, db: Arc<Db>, config: AgentConfig) -> Agent {
        Agent {
            db,
            config,
            inbox: io.inbox,
            out: io.out,
            payload: io.payload,
            pending: VecDeque::new(),
            cursor: InCursor::default(),
            history: io.snapshot,
            chat_id: io.chat_id,
            msg: MessageBuilder::default(),
            open_text: None,
            stopped: false,
            closing: None,
        }
    }

    async fn run(mut self) {
        if self.config.run_boot_ms > 0 {
            tokio::time::sleep(Duration::from_millis(self.config.run_boot_ms)).await;
        }
        if self.out.next_seq().is_none() {
            return; // closed before the run got going: no hooks for it
        }
        if let Some(b) = self.payload.take() {
            match b.get("trigger").and_then(Value::as_str) {
                Some("submit-message") => self.handle(b).await,
                Some("handover-prepare") => self.on_handover_prepare(&b),
                _ => self.on_preload(),
            }
        }
        loop {
            // A closed session's run is over, whatever is still queued.
            if self.out.next_seq().is_none() {
                return;
            }
            let ev = match self.pending.pop_front() {
                Some((e, _)) => e,
                None => match self.inbox.next().await {
                    Some(e) => {
                        self.cursor.received(seq_of(&e));
                        e
                    }
                    None => return,
                },
            };
            match ev {
                InEvent::Stop { in_seq } => self.cursor.consume(in_seq),
                InEvent::Message { payload, in_seq } => {
                    self.cursor.consume(in_seq);
                    if payload.get("trigger").and_then(Value::as_str) == Some("close") {
                        self.inbox.detach();
                        return;
                    }
                    self.handle(payload).await;
                }
            }
        }
    }

    /// A head-start chat's first run: the app's route answers step 1 while this
    /// run boots. The conversation so far comes as `headStartMessages` (the only
    /// payload whose messages seed the agent); the turn is ended by the route's
    /// handover (see `handover-skip`).
    fn on_handover_prepare(&mut self, payload: &Value) {
        if self.history.is_empty() {
            if let Some(msgs) = payload.get("headStartMessages").and_then(Value::as_array) {
                self.history = msgs.iter().filter(|m| m.is_object()).cloned().collect();
            }
        }
        self.on_preload();
        self.persist();
    }

    fn on_preload(&self) {
        let token = self.out.mint_token();
        self.db.ensure_conversation(&self.chat_id);
        self.db
            .upsert_session(&self.chat_id, &token, Cursor::Keep, Some(false));
    }

    async fn handle(&mut self, payload: Value) {
        if let Some(c) = payload.get("chatId").and_then(Value::as_str) {
            self.chat_id = c.to_string();
        }
        let trigger = payload
            .get("trigger")
            .and_then(Value::as_str)
            .unwrap_or("submit-message")
            .to_string();
        match trigger.as_str() {
            "submit-message" => {
                let Some(message) = payload.get("message").filter(|m| m.is_object()).cloned()
                else {
                    // Nothing to answer: an empty turn.
                    self.msg = MessageBuilder::new(String::new());
                    self.complete_turn(false).await;
                    return;
                };
                if message.get("role").and_then(Value::as_str) == Some("assistant") {
                    self.continue_tools(message).await;
                } else {
                    let text = message_text(&message);
                    self.add_user_message(message);
                    self.persist();
                    self.respond(&text).await;
                }
            }
            "regenerate-message" => {
                while self
                    .history
                    .last()
                    .map(|m| m.get("role").and_then(Value::as_str) == Some("assistant"))
                    .unwrap_or(false)
                {
                    self.history.pop();
                }
                let last_user = self.history.last().cloned();
                self.persist();
                match last_user {
                    Some(u) => self.respond(&message_text(&u)).await,
                    None => self.respond_text("Nothing to regenerate.", true).await,
                }
            }
            "action" => {
                let action = payload.get("action").cloned().unwrap_or(Value::Null);
                let name = action
                    .get("type")
                    .and_then(Value::as_str)
                    .map(str::to_string)
                    .unwrap_or_else(|| action.to_string());
                // `onAction`: change the conversation, then answer with a short
                // confirmation that is not part of it (an action is not a turn).
                if apply_action(&mut self.history, &action) {
                    self.persist();
                }
                self.respond_text(&format!("Action: {name}"), false).await;
            }
            "preload" => self.on_preload(),
            "handover-skip" => {
                // The head-start route answered the whole first turn (pure text):
                // store its message and end the turn, with no model call here.
                match payload.get("message").filter(|m| m.is_object()) {
                    Some(m) => {
                        self.msg = MessageBuilder::from_message(m);
                        self.stopped = false;
                        self.open_text = None;
                        self.complete_turn(true).await;
                    }
                    None => {
                        self.msg = MessageBuilder::new(String::new());
                        self.complete_turn(false).await;
                    }
                }
            }
            _ => {
                self.msg = MessageBuilder::new(String::new());
                self.complete_turn(false).await;
            }
        }
    }

    /// Checkpoints the conversation and saves it to the database (no lock held).
    fn persist(&self) {
        self.out.checkpoint(self.history.clone());
        self.db.save_messages(&self.chat_id, &self.history);
    }

    fn add_user_message(&mut self, message: Value) {
        let id = message.get("id").cloned();
        match self
            .history
            .iter()
            .position(|m| id.is_some() && m.get("id") == id.as_ref())
        {
            Some(i) => self.history[i] = message,
            None => self.history.push(message),
        }
    }

    // ----- emitting -------------------------------------------------------

    fn emit(&mut self, chunk: Value) {
        self.msg.apply(&chunk);
        let body = json!({ "data": chunk, "id": format!("p_{}", random_id(16)) }).to_string();
        self.out.write(body, Vec::new());
    }

    /// Waits `ms` while watching `.in`. Returns false when the turn was stopped, or
    /// the inbox is gone (the session was closed).
    async fn pace(&mut self, ms: u64) -> bool {
        let deadline = Instant::now() + Duration::from_millis(ms);
        loop {
            loop {
                match self.inbox.try_next() {
                    Ok(Some(ev)) => {
                        if self.classify(ev) {
                            return false;
                        }
                    }
                    Ok(None) => break,
                    Err(Gone) => {
                        self.stopped = true;
                        return false;
                    }
                }
            }
            if ms == 0 || Instant::now() >= deadline {
                return true;
            }
            tokio::select! {
                ev = self.inbox.recv() => match ev {
                    Some(ev) => if self.classify(ev) { return false; },
                    None => { self.stopped = true; return false; }
                },
                _ = tokio::time::sleep_until(deadline) => return true,
            }
        }
    }

    /// Waits (at most [`HOLD_LIMIT`]) until a record has arrived during this turn.
    /// False when the turn was stopped, or the session closed.
    async fn hold(&mut self) -> bool {
        let deadline = Instant::now() + HOLD_LIMIT;
        while !self.pending.iter().any(|(_, fresh)| *fresh) {
            tokio::select! {
                ev = self.inbox.recv() => match ev {
                    Some(ev) => if self.classify(ev) { return false; },
                    None => { self.stopped = true; return false; }
                },
                _ = tokio::time::sleep_until(deadline) => return true,
            }
        }
        true
    }

    /// Takes in a record that arrived mid-turn: a stop is handled at once (true);
    /// anything else waits its turn in `pending`.
    fn classify(&mut self, ev: InEvent) -> bool {
        self.cursor.received(seq_of(&ev));
        match ev {
            InEvent::Stop { in_seq } => {
                self.cursor.consume(in_seq);
                self.stopped = true;
                true
            }
            ev => {
                self.pending.push_back((ev, true));
                false
            }
        }
    }

    /// Whether the next record in order is a user message that came during this turn.
    fn can_steer(&self) -> bool {
        self.pending
            .front()
            .map(|(e, fresh)| *fresh && is_user_submit(e))
            .unwrap_or(false)
    }

    fn delay(&self) -> u64 {
        self.config.chunk_delay_ms
    }

    /// Streams `text` as one text part (split by steering injections). The part
    /// opens with its first token, so an injection before any token leaves no
    /// empty part behind. False if stopped.
    async fn stream_text(&mut self, text: &str, delay: u64) -> bool {
        let mut open: Option<String> = None;
        for (i, tok) in tokens(text).into_iter().enumerate() {
            if !self.pace(delay).await {
                return false;
            }
            if delay == 0 && i % 64 == 63 {
                tokio::task::yield_now().await;
            }
            if self.can_steer() {
                if let Some(id) = open.take() {
                    self.emit(json!({ "type": "text-end", "id": id }));
                    self.open_text = None;
                }
                self.inject_steering();
            }
            let id = match &open {
                Some(id) => id.clone(),
                None => {
                    let id = format!("txt_{}", random_id(10));
                    self.emit(json!({ "type": "text-start", "id": id }));
                    self.open_text = Some(id.clone());
                    open = Some(id.clone());
                    id
                }
            };
            self.emit(json!({ "type": "text-delta", "id": id, "delta": tok }));
        }
        if let Some(id) = open {
            self.emit(json!({ "type": "text-end", "id": id }));
        }
        self.open_text = None;
        true
    }

    /// Injects pending steering messages at a step boundary, as a real agent's
    /// `prepareStep` does: the step ends, a `data-pending-message-injected` part
    /// lists the batch (ids and texts; the frontend's confirmation), and the next
    /// step opens with the scripted model's acknowledgement, a text part
    /// `(noted: …)` per message.
    fn inject_steering(&mut self) {
        self.emit(json!({ "type": "finish-step" }));
        self.emit(json!({ "type": "start-step" }));
        let mut batch: Vec<(Value, String)> = Vec::new();
        while self.can_steer() {
            let Some((InEvent::Message { payload, in_seq }, _)) = self.pending.pop_front() else {
                break;
            };
            self.cursor.consume(in_seq);
            let message = payload.get("message").cloned().unwrap_or(Value::Null);
            let id = message.get("id").cloned().unwrap_or(Value::Null);
            batch.push((id, message_text(&message)));
        }
        if batch.is_empty() {
            return;
        }
        let ids: Vec<Value> = batch.iter().map(|(id, _)| id.clone()).collect();
        let listed: Vec<Value> = batch
            .iter()
            .map(|(id, text)| json!({ "id": id, "text": text }))
            .collect();
        self.emit(json!({
            "type": PENDING_INJECTED_DATA_TYPE,
            "id": format!("inj_{}", random_id(12)),
            "data": { "messageIds": ids, "messages": listed },
        }));
        for (_, text) in batch {
            let id = format!("txt_{}", random_id(10));
            self.emit(json!({ "type": "text-start", "id": id }));
            self.emit(
                json!({ "type": "text-delta", "id": id, "delta": format!("(noted: {text})") }),
            );
            self.emit(json!({ "type": "text-end", "id": id }));
        }
    }

    fn begin(&mut self, message_id: String) {
        self.msg = MessageBuilder::new(message_id.clone());
        self.stopped = false;
        self.open_text = None;
        self.emit(json!({ "type": "start", "messageId": message_id }));
    }

    /// Streams a plain reply; `stored`: it joins the conversation (an
    /// action's answer does not).
    async fn respond_text(&mut self, text: &str, stored: bool) {
        self.begin(format!("msg_{}", random_id(20)));
        self.emit(json!({ "type": "start-step" }));
        let delay = self.delay();
        if self.stream_text(text, delay).await {
            self.emit(json!({ "type": "finish-step" }));
            self.emit(json!({ "type": "finish" }));
        }
        self.complete_turn(stored).await;
    }

    /// Answers a new user message.
    async fn respond(&mut self, text: &str) {
        let script = parse_script(text);
        self.begin(format!("msg_{}", random_id(20)));
        if script == Script::Error {
            self.emit(json!({ "type": "error", "errorText": "Scripted failure" }));
            self.msg = MessageBuilder::new(String::new());
            self.complete_turn(false).await;
            return;
        }
        self.emit(json!({ "type": "start-step" }));
        let done = self.run_script(script).await;
        if done {
            self.emit(json!({ "type": "finish-step" }));
            self.emit(json!({ "type": "finish" }));
        }
        self.complete_turn(true).await;
    }

    /// Streams the body of a scripted reply. False when stopped.
    async fn run_script(&mut self, script: Script) -> bool {
        let d = self.delay();
        match script {
            Script::Echo(t) => self.stream_text(&format!("Echo: {t}"), d).await,
            Script::Long(n) => {
                let text: Vec<String> = (1..=n).map(|i| format!("token{i}")).collect();
                self.stream_text(&text.join(" "), d).await
            }
            Script::Bench(n) => {
                let id = format!("txt_{}", random_id(10));
                self.emit(json!({ "type": "text-start", "id": id }));
                self.open_text = Some(id.clone());
                for i in 0..n {
                    if i % 64 == 0 {
                        if !self.pace(0).await {
                            return false;
                        }
                        tokio::task::yield_now().await;
                    }
                    self.emit(json!({ "type": "text-delta", "id": id, "delta": format!("t{i} ") }));
                }
                self.emit(json!({ "type": "text-end", "id": id }));
                self.open_text = None;
                true
            }
            Script::Pause(s) => {
                if !self
                    .stream_text(&format!("Pausing for {s} seconds."), d)
                    .await
                {
                    return false;
                }
                if !self.pace(s * 1000).await {
                    return false;
                }
                self.stream_text("Back after the pause.", d).await
            }
            Script::Hold => {
                if !self.stream_text("Holding until the next message.", d).await {
                    return false;
                }
                if !self.hold().await {
                    return false;
                }
                self.stream_text("Back after the hold.", d).await
            }
            Script::Upgrade => {
                if !self.stream_text("Upgrading mid-reply.", d).await {
                    return false;
                }
                // The run hands over to a fresh run on the same session.
                self.out.upgrade();
                self.stream_text("Now running on the new version.", d).await
            }
            Script::Reason => {
                let id = format!("rsn_{}", random_id(10));
                self.emit(json!({ "type": "reasoning-start", "id": id }));
                for tok in tokens("Let me think about this step by step.") {
                    if !self.pace(d).await {
                        return false;
                    }
                    self.emit(json!({ "type": "reasoning-delta", "id": id, "delta": tok }));
                }
                self.emit(json!({ "type": "reasoning-end", "id": id }));
                self.stream_text("Here is my answer after thinking.", d)
                    .await
            }
            Script::Tool => {
                let call = format!("call_{}", random_id(12));
                self.emit(json!({ "type": "tool-input-start", "toolCallId": call, "toolName": "getWeather" }));
                for delta in ["{\"city\":", "\"Paris\"}"] {
                    if !self.pace(d).await {
                        return false;
                    }
                    self.emit(json!({ "type": "tool-input-delta", "toolCallId": call, "inputTextDelta": delta }));
                }
                self.emit(json!({ "type": "tool-input-available", "toolCallId": call, "toolName": "getWeather", "input": { "city": "Paris" } }));
                if !self.pace(d).await {
                    return false;
                }
                self.emit(json!({ "type": "tool-output-available", "toolCallId": call, "output": { "tempC": 21 } }));
                self.emit(json!({ "type": "finish-step" }));
                self.emit(json!({ "type": "start-step" }));
                self.stream_text("It is 21°C in Paris.", d).await
            }
            Script::Ask => {
                let call = format!("call_{}", random_id(12));
                self.emit(json!({ "type": "tool-input-start", "toolCallId": call, "toolName": "askUser" }));
                if !self.pace(d).await {
                    return false;
                }
                self.emit(json!({ "type": "tool-input-available", "toolCallId": call, "toolName": "askUser",
                    "input": { "question": "Pick a color", "options": ["red", "green", "blue"] } }));
                true
            }
            Script::Approve => {
                let call = format!("call_{}", random_id(12));
                self.emit(json!({ "type": "tool-input-start", "toolCallId": call, "toolName": "sendEmail" }));
                if !self.pace(d).await {
                    return false;
                }
                self.emit(json!({ "type": "tool-input-available", "toolCallId": call, "toolName": "sendEmail",
                    "input": { "to": "user@example.com", "subject": "Hello", "body": "Hi from the scripted agent." } }));
                let approval = format!("appr_{}", random_id(12));
                self.emit(json!({ "type": "tool-approval-request", "approvalId": approval, "toolCallId": call }));
                true
            }
            Script::Close(reason) => {
                let text = match &reason {
                    Some(r) => format!("Closing this chat: {r}"),
                    None => "Closing this chat.".to_string(),
                };
                self.closing = Some(reason);
                self.stream_text(&text, d).await
            }
            Script::SubAgent(topic) => self.run_sub_agent(&topic, d).await,
            Script::Error => true,
        }
    }

    /// `/subagent`: a `research` tool call that runs a scripted sub-agent, whose
    /// reply is forwarded as it streams (one `data-subagent` batch per step, `seq`
    /// from 0), like `chat.forwardSubAgent`. The tool's output is the sub-agent's
    /// finished message; a final text follows in a new step. False when stopped.
    async fn run_sub_agent(&mut self, topic: &str, d: u64) -> bool {
        let call = format!("call_{}", random_id(12));
        self.emit(
            json!({ "type": "tool-input-start", "toolCallId": call, "toolName": "research" }),
        );
        self.emit(json!({ "type": "tool-input-available", "toolCallId": call, "toolName": "research", "input": { "topic": topic } }));
        let sub_id = format!("msg_{}", random_id(20));
        let text_id = format!("txt_{}", random_id(10));
        let text = sub_agent_text(topic);
        let mut batches = vec![vec![
            json!({ "type": "start", "messageId": sub_id }),
            json!({ "type": "start-step" }),
            json!({ "type": "text-start", "id": text_id }),
        ]];
        for tok in tokens(&text) {
            batches.push(vec![
                json!({ "type": "text-delta", "id": text_id, "delta": tok }),
            ]);
        }
        batches.push(vec![
            json!({ "type": "text-end", "id": text_id }),
            json!({ "type": "finish-step" }),
            json!({ "type": "finish" }),
        ]);
        for (seq, chunks) in batches.into_iter().enumerate() {
            if !self.pace(d).await {
                return false;
            }
            self.emit(json!({
                "type": SUB_AGENT_DATA_TYPE,
                "transient": true,
                "data": { "toolCallId": call, "seq": seq, "chunks": chunks },
            }));
        }
        let output = json!({
            "id": sub_id,
            "role": "assistant",
            "parts": [{ "type": "step-start" }, { "type": "text", "text": text, "state": "done" }],
        });
        self.emit(json!({ "type": "tool-output-available", "toolCallId": call, "output": output }));
        self.emit(json!({ "type": "finish-step" }));
        self.emit(json!({ "type": "start-step" }));
        self.stream_text("The sub-agent has finished its research.", d)
            .await
    }

    /// Continues an assistant message after a human-in-the-loop answer or an approval.
    async fn continue_tools(&mut self, incoming: Value) {
        let id = incoming
            .get("id")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let mut base = self
            .history
            .iter()
            .find(|m| m.get("id").and_then(Value::as_str) == Some(id.as_str()))
            .cloned()
            .unwrap_or_else(|| json!({ "id": id, "role": "assistant", "parts": [] }));
        // Overlay the advanced tool states onto the stored message.
        let mut advanced: Vec<Value> = Vec::new();
        for p in incoming
            .get("parts")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
        {
            let Some(call) = p.get("toolCallId").and_then(Value::as_str) else {
                continue;
            };
            let parts = base["parts"].as_array_mut();
            let Some(parts) = parts else { continue };
            let slot = parts
                .iter_mut()
                .find(|q| q.get("toolCallId").and_then(Value::as_str) == Some(call));
            let merged = match slot {
                Some(q) => {
                    for k in ["state", "output", "errorText", "approval"] {
                        if let Some(v) = p.get(k) {
                            q[k] = v.clone();
                        }
                    }
                    q.clone()
                }
                None => {
                    parts.push(p.clone());
                    p.clone()
                }
            };
            advanced.push(merged);
        }
        match self
            .history
            .iter()
            .position(|m| m.get("id").and_then(Value::as_str) == Some(id.as_str()))
        {
            Some(i) => self.history[i] = base.clone(),
            None => self.history.push(base.clone()),
        }
        self.persist();

        self.msg = MessageBuilder::from_message(&base);
        self.stopped = false;
        self.open_text = None;
        self.emit(json!({ "type": "start", "messageId": id }));
        self.emit(json!({ "type": "start-step" }));
        let d = self.delay();
        let mut reply = String::from("Continuing.");
        for p in &advanced {
            let ty = p.get("type").and_then(Value::as_str).unwrap_or("");
            let state = p.get("state").and_then(Value::as_str).unwrap_or("");
            let call = p.get("toolCallId").cloned().unwrap_or(Value::Null);
            match (ty, state) {
                ("tool-askUser", "output-available") => {
                    let out = p.get("output").cloned().unwrap_or(Value::Null);
                    let shown = match &out {
                        Value::String(s) => s.clone(),
                        other => other.to_string(),
                    };
                    reply = format!("You picked {shown}.");
                }
                ("tool-sendEmail", "approval-responded") => {
                    let approved = p
                        .pointer("/approval/approved")
                        .and_then(Value::as_bool)
                        .unwrap_or(false);
                    if approved {
                        self.emit(json!({ "type": "tool-output-available", "toolCallId": call, "output": { "sent": true } }));
                        reply = "Email sent.".into();
                    } else {
                        self.emit(json!({ "type": "tool-output-denied", "toolCallId": call }));
                        reply = "Email not sent.".into();
                    }
                    self.emit(json!({ "type": "finish-step" }));
                    self.emit(json!({ "type": "start-step" }));
                }
                _ => {}
            }
        }
        if self.stream_text(&reply, d).await {
            self.emit(json!({ "type": "finish-step" }));
            self.emit(json!({ "type": "finish" }));
        }
        self.complete_turn(true).await;
    }

    /// Ends the turn: closes a stopped message, stores it, writes the conversation and
    /// the session row in one transaction, appends `turn-complete` and a `trim`. After
    /// `/close` the turn-complete says so and the session is closed with it, atomically.
    /// A session closed from outside mid-turn gets nothing more.
    async fn complete_turn(&mut self, keep_message: bool) {
        if self.stopped {
            if let Some(id) = self.open_text.take() {
                self.emit(json!({ "type": "text-end", "id": id }));
            }
            self.emit(json!({ "type": "finish" }));
        }
        if keep_message && self.msg.has_content() && !self.msg.id.is_empty() {
            let built = self.msg.build();
            match self
                .history
                .iter()
                .position(|m| m.get("id") == built.get("id"))
            {
                Some(i) => self.history[i] = built,
                None => self.history.push(built),
            }
        }
        let token = self.out.mint_token();
        let in_seq = self
            .cursor
            .watermark()
            .map(|n| n.to_string())
            .unwrap_or_else(|| "0".into());
        let closing = self.closing.take();
        let mut headers = vec![
            ("trigger-control".into(), "turn-complete".into()),
            ("public-access-token".into(), token.clone()),
            ("session-in-event-id".into(), in_seq),
        ];
        if let Some(reason) = &closing {
            headers.push(("session-closed".into(), "true".into()));
            if let Some(r) = reason {
                headers.push(("session-closed-reason".into(), r.clone()));
            }
        }
        // The hooks' database write names the turn-complete's seq and happens
        // before the record is visible; the write to `.out` then checks that seq is
        // still the next one (only a close could have come between).
        let Some(seq) = self.out.next_seq() else {
            return;
        };
        self.out.checkpoint(self.history.clone());
        self.db
            .turn_complete(&self.chat_id, &self.history, &token, &seq.to_string());
        if !self.out.end_turn(TurnEnd {
            expect_seq: seq,
            headers,
            close: closing,
        }) {
            return;
        }
        self.stopped = false;
        self.open_text = None;
        // Messages that came too late for this turn become the next turns.
        for (_, fresh) in self.pending.iter_mut() {
            *fresh = false;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scripts_are_chosen_by_text() {
        assert_eq!(parse_script("/long 5"), Script::Long(5));
        assert_eq!(parse_script("/pause 2"), Script::Pause(2));
        assert_eq!(parse_script("/hold"), Script::Hold);
        assert_eq!(parse_script("/bench 10"), Script::Bench(10));
        assert_eq!(parse_script("/tool"), Script::Tool);
        assert_eq!(parse_script("/long x"), Script::Echo("/long x".into()));
        assert_eq!(parse_script(" hi "), Script::Echo("hi".into()));
        assert_eq!(parse_script("/close"), Script::Close(None));
        assert_eq!(
            parse_script(" /close  some reason text "),
            Script::Close(Some("some reason text".into()))
        );
        assert_eq!(parse_script("/closed"), Script::Echo("/closed".into()));
        assert_eq!(
            parse_script("/subagent  the tides "),
            Script::SubAgent("the tides".into())
        );
        assert_eq!(
            parse_script("/subagent"),
            Script::SubAgent("nothing in particular".into())
        );
        let long = format!("/close {}", "é".repeat(300));
        assert_eq!(
            parse_script(&long),
            Script::Close(Some("é".repeat(MAX_CLOSE_REASON)))
        );
    }

    #[test]
    fn actions_change_the_conversation() {
        let msg = |id: &str, role: &str, text: &str| json!({ "id": id, "role": role, "parts": [{ "type": "text", "text": text }] });
        let base = vec![
            msg("u1", "user", "one"),
            msg("a1", "assistant", "Echo: one"),
            msg("u2", "user", "two"),
            msg("a2", "assistant", "Echo: two"),
        ];
        let ids = |h: &[Value]| {
            h.iter()
                .map(|m| m["id"].as_str().unwrap().to_string())
                .collect::<Vec<_>>()
        };

        let mut h = base.clone();
        assert!(apply_action(&mut h, &json!({ "type": "undo" })));
        assert_eq!(ids(&h), ["u1", "a1"]);
        assert!(apply_action(&mut h, &json!({ "type": "undo" })));
        assert!(h.is_empty());
        assert!(!apply_action(&mut h, &json!({ "type": "undo" })));

        let mut h = base.clone();
        assert!(apply_action(
            &mut h,
            &json!({ "type": "rollback", "targetMessageId": "a1" })
        ));
        assert_eq!(ids(&h), ["u1", "a1"]);
        assert!(!apply_action(
            &mut h,
            &json!({ "type": "rollback", "targetMessageId": "a1" })
        ));
        assert!(!apply_action(
            &mut h,
            &json!({ "type": "rollback", "targetMessageId": "nope" })
        ));
        assert!(!apply_action(&mut h, &json!({ "type": "rollback" })));

        let mut h = base.clone();
        assert!(apply_action(
            &mut h,
            &json!({ "type": "edit", "messageId": "u2", "text": "deux" })
        ));
        assert_eq!(message_text(&h[2]), "deux");
        assert_eq!(ids(&h), ids(&base));
        // Only user messages can be edited; a missing text or id changes nothing.
        assert!(!apply_action(
            &mut h,
            &json!({ "type": "edit", "messageId": "a2", "text": "x" })
        ));
        assert!(!apply_action(
            &mut h,
            &json!({ "type": "edit", "messageId": "u2" })
        ));
        assert!(!apply_action(
            &mut h,
            &json!({ "type": "edit", "text": "x" })
        ));
        assert!(!apply_action(&mut h, &json!({ "type": "teleport" })));
        assert!(!apply_action(&mut h, &json!("undo")));
        assert_eq!(message_text(&h[3]), "Echo: two");
    }

    #[test]
    fn tokens_concatenate_to_text() {
        let t = tokens("Echo: hello world");
        assert_eq!(t, vec!["Echo:", " hello", " world"]);
        assert_eq!(t.concat(), "Echo: hello world");
    }

    #[test]
    fn builder_reduces_chunks() {
        let mut b = MessageBuilder::new("m".into());
        for c in [
            json!({"type":"start","messageId":"m1"}),
            json!({"type":"start-step"}),
            json!({"type":"text-start","id":"t"}),
            json!({"type":"text-delta","id":"t","delta":"a"}),
            json!({"type":"text-delta","id":"t","delta":"b"}),
            json!({"type":"text-end","id":"t"}),
            // Transient: not a part of the message.
            json!({"type":"data-subagent","transient":true,"data":{"seq":0}}),
            json!({"type":"tool-input-start","toolCallId":"c","toolName":"x"}),
            json!({"type":"tool-input-available","toolCallId":"c","toolName":"x","input":{"k":1}}),
            json!({"type":"tool-output-available","toolCallId":"c","output":2}),
        ] {
            b.apply(&c);
        }
        let m = b.build();
        assert_eq!(m["id"], "m1");
        assert_eq!(m["parts"][1]["text"], "ab");
        assert_eq!(m["parts"][1]["state"], "done");
        assert_eq!(m["parts"][2]["type"], "tool-x");
        assert_eq!(m["parts"][2]["state"], "output-available");
        assert_eq!(m["parts"][2]["output"], 2);
    }

    #[test]
    fn in_cursor_watermark_is_contiguous_and_monotonic() {
        let mut c = InCursor::default();
        assert_eq!(c.watermark(), None);
        c.received(5);
        c.received(6);
        c.received(7);
        // A stop (7) is handled ahead of the message (6) queued before it.
        c.consume(5);
        assert_eq!(c.watermark(), Some(5));
        c.consume(7);
        assert_eq!(c.watermark(), Some(5));
        c.consume(6);
        assert_eq!(c.watermark(), Some(7));
        c.consume(3); // older than the window: ignored
        assert_eq!(c.watermark(), Some(7));
    }
}
