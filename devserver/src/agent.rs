//! The scripted chat agent: a deterministic stand-in for a `chat.agent` task. Each run
//! reads `.in`, streams AI SDK `UIMessageChunk`s to `.out`, writes the conversation to
//! the demo database like a real agent's hooks would, and exits when idle.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::api::session_token;
use crate::store::{InEvent, Session};
use crate::util::{random_id, truncate_chars};
use crate::Shared;

/// What a user message asks the scripted agent to do.
#[derive(Debug, Clone, PartialEq)]
pub enum Script {
    Echo(String),
    Long(u64),
    Pause(u64),
    Reason,
    Tool,
    Ask,
    Approve,
    Error,
    Upgrade,
    Bench(u64),
    /// `/close [reason]`: answer, then close the session as the turn ends.
    Close(Option<String>),
}

/// Longest close reason kept (the close API's limit).
pub const MAX_CLOSE_REASON: usize = 256;

/// Chooses the behaviour from the user's text.
pub fn parse_script(text: &str) -> Script {
    let t = text.trim();
    let mut words = t.split_whitespace();
    let cmd = words.next().unwrap_or("");
    let arg = words.next().and_then(|a| a.parse::<u64>().ok());
    match (cmd, arg) {
        ("/long", Some(n)) => Script::Long(n.clamp(1, 100_000)),
        ("/pause", Some(s)) => Script::Pause(s.min(3600)),
        ("/bench", Some(n)) => Script::Bench(n.clamp(1, 1_000_000)),
        ("/reason", _) => Script::Reason,
        ("/tool", _) => Script::Tool,
        ("/ask", _) => Script::Ask,
        ("/approve", _) => Script::Approve,
        ("/error", _) => Script::Error,
        ("/upgrade", _) => Script::Upgrade,
        ("/close", _) => {
            let reason = t.strip_prefix("/close").unwrap_or("").trim();
            Script::Close(
                (!reason.is_empty()).then(|| reason.chars().take(MAX_CLOSE_REASON).collect()),
            )
        }
        _ => Script::Echo(t.to_string()),
    }
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

/// The text of a UI message's text parts.
pub fn message_text(msg: &Value) -> String {
    msg.get("parts")
        .and_then(Value::as_array)
        .map(|parts| {
            parts
                .iter()
                .filter(|p| p.get("type").and_then(Value::as_str) == Some("text"))
                .filter_map(|p| p.get("text").and_then(Value::as_str))
                .collect::<Vec<_>>()
                .join("")
        })
        .unwrap_or_default()
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

/// Starts a run on `session` (the first run, or a continuation). If a run is already
/// alive, `first` is handed to it instead. Returns the live run id.
pub fn start_run(
    st: &Shared,
    session: &Arc<Session>,
    base: Option<Value>,
    first: Option<InEvent>,
) -> String {
    let (tx, rx) = mpsc::unbounded_channel();
    let (run_id, previous, idle, chat_id, scope_id) = {
        let mut inner = session.lock();
        let mut first = first;
        if let Some(live) = &inner.run_tx {
            if let Some(ev) = first.take() {
                match live.send(ev) {
                    Ok(()) => return inner.current_run_id.clone().unwrap_or_default(),
                    Err(e) => first = Some(e.0),
                }
            }
        }
        if inner.closed_at.is_some() {
            return inner.current_run_id.clone().unwrap_or_default();
        }
        let run_id = format!("run_{}", random_id(24));
        let previous = inner.current_run_id.replace(run_id.clone());
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
            .max(1);
        if let Some(ev) = first {
            let _ = tx.send(ev);
        }
        inner.run_tx = Some(tx);
        (
            run_id,
            previous,
            idle,
            inner.chat_id(),
            inner.scope_id().to_string(),
        )
    };
    let agent = Agent {
        st: st.clone(),
        session: session.clone(),
        run_id: run_id.clone(),
        rx,
        idle: Duration::from_secs(idle),
        backlog: VecDeque::new(),
        steer: VecDeque::new(),
        last_in_seq: None,
        chat_id,
        scope_id,
        msg: MessageBuilder::default(),
        open_text: None,
        stopped: false,
        closing: None,
        continuation: previous.is_some(),
    };
    st.live_runs.fetch_add(1, Ordering::Relaxed);
    let guard = LiveRun(st.clone());
    tokio::spawn(async move {
        let _guard = guard;
        agent.run(base).await;
    });
    run_id
}

/// Counts a live run for `/_dev/stats`.
struct LiveRun(Shared);

impl Drop for LiveRun {
    fn drop(&mut self) {
        self.0.live_runs.fetch_sub(1, Ordering::Relaxed);
    }
}

struct Agent {
    st: Shared,
    session: Arc<Session>,
    run_id: String,
    rx: mpsc::UnboundedReceiver<InEvent>,
    idle: Duration,
    backlog: VecDeque<InEvent>,
    /// Steering messages received mid-turn: (text, original event).
    steer: VecDeque<(String, InEvent)>,
    last_in_seq: Option<u64>,
    chat_id: String,
    scope_id: String,
    msg: MessageBuilder,
    open_text: Option<String>,
    stopped: bool,
    /// Set by `/close`: close the session, with this reason, as the turn ends.
    closing: Option<Option<String>>,
    #[allow(dead_code)]
    continuation: bool,
}

enum Next {
    Event(InEvent),
    Exit,
}

impl Agent {
    async fn run(mut self, base: Option<Value>) {
        if let Some(b) = base {
            if b.get("trigger").and_then(Value::as_str) == Some("submit-message") {
                self.handle(b).await;
            } else {
                self.on_preload();
            }
        }
        loop {
            match self.next_event().await {
                Next::Exit => return,
                Next::Event(InEvent::Stop { in_seq }) => self.last_in_seq = Some(in_seq),
                Next::Event(InEvent::Message { payload, in_seq }) => {
                    self.last_in_seq = Some(in_seq);
                    if payload.get("trigger").and_then(Value::as_str) == Some("close") {
                        self.release_run();
                        return;
                    }
                    self.handle(payload).await;
                }
            }
        }
    }

    /// Detaches this run from the session if it is still the live one.
    fn release_run(&self) {
        let mut inner = self.session.lock();
        if inner.current_run_id.as_deref() == Some(self.run_id.as_str()) {
            inner.run_tx = None;
        }
    }

    async fn next_event(&mut self) -> Next {
        // A closed session's run is over, whatever is still queued.
        if self.session.lock().closed_at.is_some() {
            return Next::Exit;
        }
        if let Some(e) = self.backlog.pop_front() {
            return Next::Event(e);
        }
        match tokio::time::timeout(self.idle, self.rx.recv()).await {
            Ok(Some(e)) => Next::Event(e),
            Ok(None) => Next::Exit,
            Err(_) => {
                // Idle: exit unless something slipped in; decided under the session
                // lock so an append either reaches us or starts a continuation.
                let mut inner = self.session.lock();
                match self.rx.try_recv() {
                    Ok(e) => Next::Event(e),
                    Err(_) => {
                        if inner.current_run_id.as_deref() == Some(self.run_id.as_str()) {
                            inner.run_tx = None;
                        }
                        Next::Exit
                    }
                }
            }
        }
    }

    fn on_preload(&self) {
        let token = session_token(&self.st, &self.scope_id, Some(&self.run_id));
        self.st.db.ensure_conversation(&self.chat_id);
        self.st
            .db
            .upsert_session(&self.chat_id, &token, None, Some(false));
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
                    self.st.db.save_messages(&self.chat_id, &self.history());
                    self.respond(&text).await;
                }
            }
            "regenerate-message" => {
                let last_user = {
                    let mut inner = self.session.lock();
                    while inner
                        .history
                        .last()
                        .map(|m| m.get("role").and_then(Value::as_str) == Some("assistant"))
                        .unwrap_or(false)
                    {
                        inner.history.pop();
                    }
                    inner.history.last().cloned()
                };
                self.st.db.save_messages(&self.chat_id, &self.history());
                match last_user {
                    Some(u) => self.respond(&message_text(&u)).await,
                    None => self.respond_plain("Nothing to regenerate.").await,
                }
            }
            "action" => {
                let action = payload.get("action").cloned().unwrap_or(Value::Null);
                let name = action
                    .get("type")
                    .and_then(Value::as_str)
                    .map(str::to_string)
                    .unwrap_or_else(|| action.to_string());
                self.respond_plain(&format!("Action: {name}")).await;
            }
            "preload" => self.on_preload(),
            _ => {
                self.msg = MessageBuilder::new(String::new());
                self.complete_turn(false).await;
            }
        }
    }

    fn history(&self) -> Vec<Value> {
        self.session.lock().history.clone()
    }

    fn add_user_message(&self, message: Value) {
        let mut inner = self.session.lock();
        let id = message.get("id").cloned();
        match inner
            .history
            .iter()
            .position(|m| id.is_some() && m.get("id") == id.as_ref())
        {
            Some(i) => inner.history[i] = message,
            None => inner.history.push(message),
        }
    }

    // ----- emitting -------------------------------------------------------

    fn emit(&mut self, chunk: Value) {
        self.msg.apply(&chunk);
        let body = json!({ "data": chunk, "id": format!("p_{}", random_id(16)) }).to_string();
        self.session.push(body, Vec::new());
    }

    /// Waits `ms` while watching `.in`. Returns false when the turn was stopped, or
    /// the inbox is gone (the session was closed).
    async fn pace(&mut self, ms: u64) -> bool {
        let deadline = Instant::now() + Duration::from_millis(ms);
        loop {
            loop {
                match self.rx.try_recv() {
                    Ok(ev) => {
                        if self.classify(ev) {
                            return false;
                        }
                    }
                    Err(mpsc::error::TryRecvError::Empty) => break,
                    Err(mpsc::error::TryRecvError::Disconnected) => {
                        self.stopped = true;
                        return false;
                    }
                }
            }
            if ms == 0 || Instant::now() >= deadline {
                return true;
            }
            tokio::select! {
                ev = self.rx.recv() => match ev {
                    Some(ev) => if self.classify(ev) { return false; },
                    None => { self.stopped = true; return false; }
                },
                _ = tokio::time::sleep_until(deadline) => return true,
            }
        }
    }

    /// Sorts an event that arrived mid-turn. Returns true for a stop.
    fn classify(&mut self, ev: InEvent) -> bool {
        match ev {
            InEvent::Stop { in_seq } => {
                self.last_in_seq = Some(in_seq);
                self.stopped = true;
                true
            }
            InEvent::Message { ref payload, .. } => {
                let is_user_submit = payload
                    .get("trigger")
                    .and_then(Value::as_str)
                    .unwrap_or("submit-message")
                    == "submit-message"
                    && payload.pointer("/message/role").and_then(Value::as_str) == Some("user");
                if is_user_submit {
                    let text = payload.get("message").map(message_text).unwrap_or_default();
                    self.steer.push_back((text, ev));
                } else {
                    self.backlog.push_back(ev);
                }
                false
            }
        }
    }

    fn delay(&self) -> u64 {
        self.st.config.chunk_delay_ms
    }

    /// Streams `text` as one text part (split by steering injections). False if stopped.
    async fn stream_text(&mut self, text: &str, delay: u64) -> bool {
        let mut id = format!("txt_{}", random_id(10));
        self.emit(json!({ "type": "text-start", "id": id }));
        self.open_text = Some(id.clone());
        for (i, tok) in tokens(text).into_iter().enumerate() {
            if !self.pace(delay).await {
                return false;
            }
            if delay == 0 && i % 64 == 63 {
                tokio::task::yield_now().await;
            }
            if !self.steer.is_empty() {
                self.emit(json!({ "type": "text-end", "id": id }));
                self.inject_steering();
                id = format!("txt_{}", random_id(10));
                self.emit(json!({ "type": "text-start", "id": id }));
                self.open_text = Some(id.clone());
            }
            self.emit(json!({ "type": "text-delta", "id": id, "delta": tok }));
        }
        self.emit(json!({ "type": "text-end", "id": id }));
        self.open_text = None;
        true
    }

    /// Injects pending steering messages at a step boundary, as a text part each.
    fn inject_steering(&mut self) {
        self.emit(json!({ "type": "finish-step" }));
        self.emit(json!({ "type": "start-step" }));
        while let Some((text, ev)) = self.steer.pop_front() {
            if let InEvent::Message { in_seq, .. } = ev {
                self.last_in_seq = Some(in_seq);
            }
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

    async fn respond_plain(&mut self, text: &str) {
        self.begin(format!("msg_{}", random_id(20)));
        self.emit(json!({ "type": "start-step" }));
        let delay = self.delay();
        if self.stream_text(text, delay).await {
            self.emit(json!({ "type": "finish-step" }));
            self.emit(json!({ "type": "finish" }));
        }
        self.complete_turn(true).await;
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
            Script::Upgrade => {
                if !self.stream_text("Upgrading mid-reply.", d).await {
                    return false;
                }
                // The run hands over to a fresh run on the same session.
                let new_run = format!("run_{}", random_id(24));
                {
                    let mut inner = self.session.lock();
                    inner.current_run_id = Some(new_run.clone());
                    self.session.push_locked(
                        &mut inner,
                        String::new(),
                        vec![("trigger-control".into(), "upgrade-required".into())],
                    );
                }
                self.run_id = new_run;
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
            Script::Error => true,
        }
    }

    /// Continues an assistant message after a human-in-the-loop answer or an approval.
    async fn continue_tools(&mut self, incoming: Value) {
        let id = incoming
            .get("id")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let mut base = {
            let inner = self.session.lock();
            inner
                .history
                .iter()
                .find(|m| m.get("id").and_then(Value::as_str) == Some(id.as_str()))
                .cloned()
                .unwrap_or_else(|| json!({ "id": id, "role": "assistant", "parts": [] }))
        };
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
        {
            let mut inner = self.session.lock();
            match inner
                .history
                .iter()
                .position(|m| m.get("id").and_then(Value::as_str) == Some(id.as_str()))
            {
                Some(i) => inner.history[i] = base.clone(),
                None => inner.history.push(base.clone()),
            }
        }
        self.st.db.save_messages(&self.chat_id, &self.history());

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
            let mut inner = self.session.lock();
            match inner
                .history
                .iter()
                .position(|m| m.get("id") == built.get("id"))
            {
                Some(i) => inner.history[i] = built,
                None => inner.history.push(built),
            }
        }
        let token = session_token(&self.st, &self.scope_id, Some(&self.run_id));
        let in_seq = self
            .last_in_seq
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
        {
            let mut inner = self.session.lock();
            if inner.closed_at.is_some() {
                return;
            }
            let seq = inner.next_seq;
            let messages = inner.history.clone();
            self.st
                .db
                .turn_complete(&self.chat_id, &messages, &token, &seq.to_string());
            let previous = inner.last_turn_complete_seq.replace(seq);
            self.session.push_locked(&mut inner, String::new(), headers);
            self.session.trim_locked(&mut inner, previous.unwrap_or(0));
            if let Some(reason) = closing {
                self.session.close_locked(&mut inner, reason);
            }
        }
        self.stopped = false;
        self.open_text = None;
        // Steering messages that missed this turn become the next turns.
        while let Some((_, ev)) = self.steer.pop_front() {
            self.backlog.push_back(ev);
        }
    }
}

/// Title for a conversation: the first user message's text, shortened.
pub fn title_of(messages: &[Value]) -> String {
    messages
        .iter()
        .find(|m| m.get("role").and_then(Value::as_str) == Some("user"))
        .map(message_text)
        .map(|t| truncate_chars(t.trim(), 40))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scripts_are_chosen_by_text() {
        assert_eq!(parse_script("/long 5"), Script::Long(5));
        assert_eq!(parse_script("/pause 2"), Script::Pause(2));
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
        let long = format!("/close {}", "é".repeat(300));
        assert_eq!(
            parse_script(&long),
            Script::Close(Some("é".repeat(MAX_CLOSE_REASON)))
        );
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
    fn title_is_first_user_text() {
        let msgs = vec![
            json!({"id":"a","role":"assistant","parts":[{"type":"text","text":"x"}]}),
            json!({"id":"u","role":"user","parts":[{"type":"text","text":"Hello there"}]}),
        ];
        assert_eq!(title_of(&msgs), "Hello there");
    }
}
