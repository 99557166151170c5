//! Test harness: an in-process server on a loopback port and a small HTTP/SSE client.
#![allow(dead_code)]

use std::time::Duration;

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::header::HeaderMap;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::{json, Value};
use trigger_devserver::{start, Config, Running, DEFAULT_SECRET_KEY};

pub const KEY: &str = DEFAULT_SECRET_KEY;

/// Upper bound for any single wait in the tests (a hang guard, not an assertion).
pub const GUARD: Duration = Duration::from_secs(20);

pub struct Srv {
    pub base: String,
    pub running: Running,
    client: Client<HttpConnector, Full<Bytes>>,
}

pub struct Resp {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: String,
}

impl Resp {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }
    pub fn header(&self, name: &str) -> Option<String> {
        header_value(&self.headers, name)
    }
}

/// A response header as text.
fn header_value(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

pub fn test_config() -> Config {
    Config {
        port: 0,
        db: None,
        faults: true,
        chunk_delay_ms: 1,
        ping_interval: Duration::from_millis(200),
        ..Config::default()
    }
}

impl Srv {
    pub async fn start() -> Srv {
        Srv::start_with(|_| {}).await
    }

    pub async fn start_with(f: impl FnOnce(&mut Config)) -> Srv {
        let mut c = test_config();
        f(&mut c);
        let running = start(c).await.expect("server starts");
        let base = format!("http://{}", running.addr);
        let client = Client::builder(TokioExecutor::new()).build_http();
        Srv {
            base,
            running,
            client,
        }
    }

    async fn send(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<Vec<u8>>,
    ) -> hyper::Response<Incoming> {
        let mut b = hyper::Request::builder()
            .method(method)
            .uri(format!("{}{}", self.base, path));
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        let req = b
            .body(Full::new(Bytes::from(body.unwrap_or_default())))
            .expect("request");
        tokio::time::timeout(GUARD, self.client.request(req))
            .await
            .expect("response in time")
            .expect("request succeeds")
    }

    pub async fn req(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<&str>,
    ) -> Resp {
        let body = body.map(|b| b.as_bytes().to_vec());
        let resp = self.send(method, path, headers, body).await;
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let bytes = tokio::time::timeout(GUARD, resp.into_body().collect())
            .await
            .expect("body in time")
            .map(|c| c.to_bytes())
            .unwrap_or_default();
        Resp {
            status,
            headers,
            body: String::from_utf8_lossy(&bytes).into_owned(),
        }
    }

    /// JSON request with a bearer token.
    pub async fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Resp {
        let auth = token.map(|t| format!("Bearer {t}"));
        let mut h: Vec<(&str, &str)> = vec![("content-type", "application/json")];
        if let Some(a) = auth.as_deref() {
            h.push(("authorization", a));
        }
        let text = body.map(|b| b.to_string());
        self.req(method, path, &h, text.as_deref()).await
    }

    /// `GET` with no headers.
    pub async fn get(&self, path: &str) -> Resp {
        self.req("GET", path, &[], None).await
    }

    /// `POST /api/v1/sessions` with this token and the body of [`create_body`].
    pub async fn create_as(&self, token: Option<&str>, chat_id: &str, first: Option<&str>) -> Resp {
        let body = create_body(chat_id, first);
        self.call("POST", "/api/v1/sessions", token, Some(body))
            .await
    }

    /// `GET /api/v1/sessions/{id}` with this token (or none).
    pub async fn retrieve(&self, id: &str, token: Option<&str>) -> Resp {
        self.call("GET", &format!("/api/v1/sessions/{id}"), token, None)
            .await
    }

    /// `POST /_dev/faults/{name}` with this JSON body (or none).
    pub async fn fault(&self, name: &str, body: Option<Value>) -> Resp {
        self.call("POST", &format!("/_dev/faults/{name}"), None, body)
            .await
    }

    /// Creates a chat session with the secret key (`first` = None means preload)
    /// and returns its public access token.
    pub async fn create_token(&self, chat_id: &str, first: Option<&str>) -> String {
        token_in(&self.create(chat_id, first).await)
    }

    /// Creates a chat session with the secret key (`first` = None means preload)
    /// and returns the response body and its public access token.
    pub async fn create_with_token(&self, chat_id: &str, first: Option<&str>) -> (Value, String) {
        let b = self.create(chat_id, first).await;
        let token = token_in(&b);
        (b, token)
    }

    /// Creates a chat session with the secret key (`first` = None means preload).
    pub async fn create(&self, chat_id: &str, first: Option<&str>) -> Value {
        let r = self.create_as(Some(KEY), chat_id, first).await;
        assert!(
            r.status == 201 || r.status == 200,
            "create: {} {}",
            r.status,
            r.body
        );
        r.json()
    }

    /// Appends a user message.
    pub async fn say(&self, chat_id: &str, token: &str, id: &str, text: &str) -> Resp {
        self.call(
            "POST",
            &format!("/realtime/v1/sessions/{chat_id}/in/append"),
            Some(token),
            Some(user_chunk(chat_id, id, text)),
        )
        .await
    }

    pub async fn append(&self, chat_id: &str, token: &str, chunk: Value) -> Resp {
        self.call(
            "POST",
            &format!("/realtime/v1/sessions/{chat_id}/in/append"),
            Some(token),
            Some(chunk),
        )
        .await
    }

    /// `POST .in/append` with this raw body, this token and any extra headers (no
    /// content type unless given).
    pub async fn append_raw(
        &self,
        chat_id: &str,
        token: &str,
        extra: &[(&str, &str)],
        body: &str,
    ) -> Resp {
        let auth = format!("Bearer {token}");
        let mut h = vec![("authorization", auth.as_str())];
        h.extend_from_slice(extra);
        let path = format!("/realtime/v1/sessions/{chat_id}/in/append");
        self.req("POST", &path, &h, Some(body)).await
    }

    /// Closes a session with the secret key.
    pub async fn close(&self, id: &str, reason: Option<&str>) -> Resp {
        let body = reason.map(|r| json!({ "reason": r }));
        let path = format!("/api/v1/sessions/{id}/close");
        self.call("POST", &path, Some(KEY), body).await
    }

    pub async fn sse(&self, path: &str, headers: &[(&str, &str)]) -> Sse {
        let resp = self.send("GET", path, headers, None).await;
        Sse {
            status: resp.status().as_u16(),
            headers: resp.headers().clone(),
            body: resp.into_body(),
            buf: String::new(),
            ended: false,
            held: Vec::new(),
        }
    }

    /// Opens `.out` with a token; extra headers may be added.
    pub async fn out(&self, chat_id: &str, token: &str, extra: &[(&str, &str)]) -> Sse {
        let auth = format!("Bearer {token}");
        let mut h = vec![
            ("authorization", auth.as_str()),
            ("accept", "text/event-stream"),
        ];
        h.extend_from_slice(extra);
        let s = self
            .sse(&format!("/realtime/v1/sessions/{chat_id}/out"), &h)
            .await;
        assert_eq!(s.status, 200, "out status");
        s
    }

    /// Opens `.out` like [`Srv::out`], resuming after `last_event_id` when given.
    pub async fn out_after(
        &self,
        chat_id: &str,
        token: &str,
        last_event_id: Option<u64>,
        extra: &[(&str, &str)],
    ) -> Sse {
        let lei = last_event_id.map(|n| n.to_string());
        let mut h = extra.to_vec();
        if let Some(l) = lei.as_deref() {
            h.push(("last-event-id", l));
        }
        self.out(chat_id, token, &h).await
    }

    /// `GET .out` with this token (or none) and `accept: text/event-stream`, read as a
    /// plain response (for the refusals); extra headers may be added.
    pub async fn out_response(
        &self,
        chat_id: &str,
        token: Option<&str>,
        extra: &[(&str, &str)],
    ) -> Resp {
        let auth = token.map(|t| format!("Bearer {t}"));
        let mut h = vec![("accept", "text/event-stream")];
        if let Some(a) = auth.as_deref() {
            h.push(("authorization", a));
        }
        h.extend_from_slice(extra);
        let path = format!("/realtime/v1/sessions/{chat_id}/out");
        self.req("GET", &path, &h, None).await
    }

    /// Reads one whole turn (from the given cursor) and returns its records.
    pub async fn turn(&self, chat_id: &str, token: &str, last_event_id: Option<u64>) -> Vec<Rec> {
        let extra = [("timeout-seconds", "30")];
        let mut s = self.out_after(chat_id, token, last_event_id, &extra).await;
        s.until_turn_complete().await
    }

    pub async fn stats(&self) -> Value {
        self.req("GET", "/_dev/stats", &[], None).await.json()
    }
}

pub fn create_body(chat_id: &str, first: Option<&str>) -> Value {
    let base = match first {
        None => json!({ "chatId": chat_id, "trigger": "preload" }),
        Some(text) => json!({
            "chatId": chat_id,
            "trigger": "submit-message",
            "message": { "id": "u0", "role": "user", "parts": [{ "type": "text", "text": text }] },
        }),
    };
    json!({ "type": "chat.agent", "externalId": chat_id, "taskIdentifier": "ai-chat", "triggerConfig": { "basePayload": base } })
}

/// The `publicAccessToken` of a response body.
pub fn token_in(body: &Value) -> String {
    body["publicAccessToken"]
        .as_str()
        .unwrap_or_else(|| panic!("no publicAccessToken in {body}"))
        .to_string()
}

pub fn user_chunk(chat_id: &str, id: &str, text: &str) -> Value {
    json!({
        "kind": "message",
        "payload": {
            "chatId": chat_id,
            "trigger": "submit-message",
            "message": { "id": id, "role": "user", "parts": [{ "type": "text", "text": text }] },
            "metadata": { "userId": "test" },
        }
    })
}

/// One SSE event.
#[derive(Debug, Clone)]
pub struct Event {
    pub id: Option<String>,
    pub event: Option<String>,
    pub data: String,
}

/// One record from a batch.
#[derive(Debug, Clone)]
pub struct Rec {
    pub seq: u64,
    pub timestamp: u64,
    pub body: String,
    pub headers: Vec<(String, String)>,
}

impl Rec {
    pub fn control(&self) -> Option<&str> {
        self.header("trigger-control")
    }
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
    pub fn is_command(&self) -> bool {
        self.headers
            .first()
            .map(|(n, _)| n.is_empty())
            .unwrap_or(false)
    }
    /// The UIMessageChunk of a data record.
    pub fn chunk(&self) -> Option<Value> {
        if self.body.is_empty() || self.is_command() {
            return None;
        }
        let v: Value = serde_json::from_str(&self.body).ok()?;
        v.get("data").cloned()
    }
    pub fn ty(&self) -> String {
        self.chunk()
            .and_then(|c| c.get("type").and_then(Value::as_str).map(str::to_string))
            .unwrap_or_default()
    }
}

pub fn parse_batch(data: &str) -> Vec<Rec> {
    let v: Value = serde_json::from_str(data).expect("batch JSON");
    assert!(v["tail"]["seq_num"].is_u64(), "tail.seq_num");
    assert!(v["tail"]["timestamp"].is_u64(), "tail.timestamp");
    v["records"]
        .as_array()
        .expect("records")
        .iter()
        .map(|r| Rec {
            seq: r["seq_num"].as_u64().expect("seq_num"),
            timestamp: r["timestamp"].as_u64().expect("timestamp"),
            body: r["body"].as_str().expect("body string").to_string(),
            headers: r["headers"]
                .as_array()
                .map(|hs| {
                    hs.iter()
                        .map(|h| {
                            (
                                h[0].as_str().unwrap_or("").to_string(),
                                h[1].as_str().unwrap_or("").to_string(),
                            )
                        })
                        .collect()
                })
                .unwrap_or_default(),
        })
        .collect()
}

pub struct Sse {
    pub status: u16,
    pub headers: HeaderMap,
    body: Incoming,
    buf: String,
    pub ended: bool,
    /// The records of a batch after the control record a read stopped at:
    /// the next read starts with them (a lagging server puts a turn's end
    /// and the next turn's start in one batch).
    held: Vec<Rec>,
}

/// What reading the next event produced.
#[derive(Debug)]
pub enum Next {
    Event(Event),
    /// The body ended cleanly.
    End,
    /// The connection broke (no clean end of the body).
    Broken(String),
}

impl Sse {
    pub fn header(&self, name: &str) -> Option<String> {
        header_value(&self.headers, name)
    }

    pub async fn next(&mut self) -> Next {
        loop {
            if let Some(pos) = self.buf.find("\n\n") {
                let raw: String = self.buf[..pos].to_string();
                self.buf.drain(..pos + 2);
                let mut ev = Event {
                    id: None,
                    event: None,
                    data: String::new(),
                };
                let mut data_lines = Vec::new();
                for line in raw.lines() {
                    if let Some(v) = line.strip_prefix("id:") {
                        ev.id = Some(v.trim().to_string());
                    } else if let Some(v) = line.strip_prefix("event:") {
                        ev.event = Some(v.trim().to_string());
                    } else if let Some(v) = line.strip_prefix("data:") {
                        data_lines.push(v.trim_start().to_string());
                    }
                }
                ev.data = data_lines.join("\n");
                return Next::Event(ev);
            }
            if self.ended {
                return Next::End;
            }
            match tokio::time::timeout(GUARD, self.body.frame()).await {
                Err(_) => panic!("SSE stalled past the guard"),
                Ok(None) => {
                    self.ended = true;
                    if self.buf.trim().is_empty() {
                        return Next::End;
                    }
                }
                Ok(Some(Err(e))) => return Next::Broken(e.to_string()),
                Ok(Some(Ok(frame))) => {
                    if let Ok(d) = frame.into_data() {
                        self.buf.push_str(&String::from_utf8_lossy(&d));
                    }
                }
            }
        }
    }

    /// The records held from the last batch, or else the next batch's; the
    /// end of the stream (clean or broken) when it comes first.
    async fn read_batch(&mut self) -> Result<Vec<Rec>, Next> {
        if !self.held.is_empty() {
            return Ok(std::mem::take(&mut self.held));
        }
        for _ in 0..100_000 {
            match self.next().await {
                Next::Event(e) if e.event.as_deref() == Some("batch") => {
                    return Ok(parse_batch(&e.data))
                }
                Next::Event(_) => {}
                other => return Err(other),
            }
        }
        panic!("100,000 events without a batch");
    }

    /// Reads the next batch and returns its records; panics, naming
    /// `awaited` and the records read so far (`seen`), when the stream ends first.
    async fn next_batch(&mut self, awaited: &str, seen: &[Rec]) -> Vec<Rec> {
        match self.read_batch().await {
            Ok(batch) => batch,
            Err(end) => panic!("stream ended before {awaited}: {end:?}; got {seen:?}"),
        }
    }

    /// Moves the batch's records into `out` up to a control record of
    /// this subtype, holds the rest for the next read, and says whether it came.
    fn take_through(&mut self, batch: Vec<Rec>, control: &str, out: &mut Vec<Rec>) -> bool {
        let mut batch = batch.into_iter();
        while let Some(r) = batch.next() {
            let done = r.control() == Some(control);
            out.push(r);
            if done {
                self.held = batch.collect();
                return true;
            }
        }
        false
    }

    /// Reads batches until a control record of this subtype, or the end of
    /// the stream (a server may end a long poll early: the reader reconnects
    /// from the last record it read). Every record seen, and whether the
    /// control record came.
    pub async fn until_control_or_end(&mut self, control: &str, out: &mut Vec<Rec>) -> bool {
        while let Ok(batch) = self.read_batch().await {
            if self.take_through(batch, control, out) {
                return true;
            }
        }
        false
    }

    /// Reads batches until a turn-complete record; returns every record seen.
    pub async fn until_turn_complete(&mut self) -> Vec<Rec> {
        self.until_control("turn-complete").await
    }

    /// Reads batches until a control record of this subtype; returns every record seen.
    pub async fn until_control(&mut self, control: &str) -> Vec<Rec> {
        let mut out = Vec::new();
        loop {
            let batch = self.next_batch(control, &out).await;
            if self.take_through(batch, control, &mut out) {
                return out;
            }
        }
    }

    /// Reads batches until one holds a data chunk of this type (a turn under way);
    /// returns every record of the batches read.
    pub async fn until_chunk(&mut self, ty: &str) -> Vec<Rec> {
        let mut out = Vec::new();
        loop {
            let batch = self.next_batch(ty, &out).await;
            let found = batch.iter().any(|r| r.ty() == ty);
            out.extend(batch);
            if found {
                return out;
            }
        }
    }

    /// Reads a stream that ends without waiting: batches, then `[DONE]` with no ping
    /// before it, then the end of the body. Returns the records.
    pub async fn drain_now(&mut self) -> Vec<Rec> {
        let mut out = std::mem::take(&mut self.held);
        loop {
            match self.next().await {
                Next::Event(e) if e.event.as_deref() == Some("batch") => {
                    out.extend(parse_batch(&e.data))
                }
                Next::Event(e) if e.data == "[DONE]" => break,
                other => panic!("expected batches then [DONE], got {other:?}; after {out:?}"),
            }
        }
        assert!(matches!(self.next().await, Next::End), "the body ends");
        out
    }

    /// Reads the raw bytes until the body ends: (bytes, broken), `broken` when the
    /// connection failed instead of ending the body cleanly.
    pub async fn raw(mut self) -> (Vec<u8>, bool) {
        let mut out = self.buf.clone().into_bytes();
        loop {
            match tokio::time::timeout(GUARD, self.body.frame()).await {
                Err(_) => panic!("SSE stalled past the guard"),
                Ok(None) => return (out, false),
                Ok(Some(Err(_))) => return (out, true),
                Ok(Some(Ok(frame))) => {
                    if let Ok(d) = frame.into_data() {
                        out.extend_from_slice(&d);
                    }
                }
            }
        }
    }

    /// Reads everything until the stream ends; returns (records, saw_done, broken).
    pub async fn drain(&mut self) -> (Vec<Rec>, bool, bool) {
        let mut out = std::mem::take(&mut self.held);
        let mut done = false;
        for _ in 0..100_000 {
            match self.next().await {
                Next::Event(e) if e.event.as_deref() == Some("batch") => {
                    out.extend(parse_batch(&e.data))
                }
                Next::Event(e) if e.data == "[DONE]" => done = true,
                Next::Event(_) => {}
                Next::End => return (out, done, false),
                Next::Broken(_) => return (out, done, true),
            }
        }
        panic!("stream did not end");
    }
}

/// Asserts an append was refused because the session is closed, with this reason.
pub fn assert_session_closed(r: &Resp, reason: Option<&str>) {
    assert_eq!(r.status, 409, "{}", r.body);
    let b = r.json();
    assert_eq!(b["ok"], false);
    assert_eq!(b["code"], "session_closed");
    assert_eq!(b["closedReason"], json!(reason));
}

/// The seq of the last record read (a turn's turn-complete): the cursor to resume after.
pub fn last_seq(recs: &[Rec]) -> u64 {
    recs.last().expect("records").seq
}

/// Concatenated text deltas of a turn.
pub fn text_of(recs: &[Rec]) -> String {
    recs.iter()
        .filter_map(Rec::chunk)
        .filter(|c| c["type"] == "text-delta")
        .map(|c| c["delta"].as_str().unwrap_or("").to_string())
        .collect()
}

/// Types of the data chunks of a turn, in order.
pub fn types_of(recs: &[Rec]) -> Vec<String> {
    recs.iter()
        .filter(|r| r.chunk().is_some())
        .map(Rec::ty)
        .collect()
}

/// Decodes a JWT's payload without checking it.
pub fn jwt_payload(token: &str) -> Value {
    use base64::Engine;
    let p = token.split('.').nth(1).expect("jwt payload");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(p)
        .expect("base64");
    serde_json::from_slice(&bytes).expect("json")
}

/// Polls `/_dev/stats` until `pred` holds, for at most [`GUARD`].
pub async fn wait_stats(srv: &Srv, pred: impl Fn(&Value) -> bool) -> Value {
    let deadline = tokio::time::Instant::now() + GUARD;
    loop {
        let s = srv.stats().await;
        if pred(&s) {
            return s;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "stats condition never held within {GUARD:?}: {s}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
