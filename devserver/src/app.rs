//! The demo app server (the "customer's backend"): the endpoints the demo
//! frontend calls for its conversations (kept by `app_db`), tokens, session
//! starts and head start.

use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{FromRequest, FromRequestParts, Path, RawQuery, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Map, Value};
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::app_db::Cursor;
use crate::client::{self, Answer, ApiTarget};
use crate::util::{
    api_error, check_external_id, header_str, json_response, message_text, now_secs, random_id,
    read_body,
};
use crate::{jwt, Shared};

fn db_error(e: rusqlite::Error) -> Response {
    eprintln!("trigger-devserver: database error: {e}");
    api_error(StatusCode::SERVICE_UNAVAILABLE, "Database unavailable")
}

fn valid_chat_id(id: &str) -> Result<(), Response> {
    check_external_id(id).map_err(|why| {
        api_error(
            StatusCode::BAD_REQUEST,
            format!("Invalid chat id: it {why}"),
        )
    })
}

async fn body_json(body: Body) -> Result<Value, Response> {
    let bytes = read_body(body, 16 * 1024 * 1024).await.map_err(|big| {
        if big {
            api_error(StatusCode::PAYLOAD_TOO_LARGE, "Request body too large")
        } else {
            api_error(StatusCode::BAD_REQUEST, "Could not read the request body")
        }
    })?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(Value::Null);
    }
    serde_json::from_slice(&bytes)
        .map_err(|e| api_error(StatusCode::BAD_REQUEST, format!("Invalid JSON body: {e}")))
}

/// The `{chat_id}` of an `/app/chats/{chat_id}…` route, checked by
/// [`valid_chat_id`] (a 400 when it is not a usable chat id).
pub struct ChatId(pub String);

impl<S: Send + Sync> FromRequestParts<S> for ChatId {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Response> {
        let Path(chat_id) = Path::<String>::from_request_parts(parts, state)
            .await
            .map_err(IntoResponse::into_response)?;
        valid_chat_id(&chat_id)?;
        Ok(ChatId(chat_id))
    }
}

/// A JSON request body read by [`body_json`]: `null` when the body is empty.
pub struct JsonOrNull(pub Value);

impl<S: Send + Sync> FromRequest<S> for JsonOrNull {
    type Rejection = Response;

    async fn from_request(req: Request, _state: &S) -> Result<Self, Response> {
        body_json(req.into_body()).await.map(JsonOrNull)
    }
}

/// `GET /app/config`: the task id and the API the page talks to (this server's
/// own origin, or `--api-url`).
pub async fn config(State(st): State<Shared>, headers: HeaderMap) -> Response {
    let base = match &st.config.api_target {
        ApiTarget::Local => {
            let host = header_str(&headers, "host").unwrap_or("127.0.0.1");
            format!("http://{host}")
        }
        ApiTarget::Remote(url) => url.clone(),
    };
    json_response(
        StatusCode::OK,
        json!({ "taskId": st.config.task_id, "baseURL": base }),
    )
}

/// An API failure, passed on to the page: its status (a 5xx from the API, or no
/// answer at all, becomes a 502) and its error text.
fn api_failure(a: Result<Answer, String>) -> Response {
    match a {
        Ok(a) => {
            let msg = a
                .body
                .get("error")
                .and_then(Value::as_str)
                .unwrap_or("The API refused the request")
                .to_string();
            let status = if a.status.is_server_error() || a.status.is_success() {
                StatusCode::BAD_GATEWAY
            } else {
                a.status
            };
            api_error(status, msg)
        }
        Err(e) => api_error(StatusCode::BAD_GATEWAY, e),
    }
}

/// Creates (or finds) the chat's session through the API, as the app's
/// server does, with `base` as the run's base payload: the API's answer, or
/// the response to give (a closed session is a 409).
async fn create_session(
    st: &Shared,
    chat_id: &str,
    base: Map<String, Value>,
) -> Result<Value, Response> {
    let req = json!({
        "type": "chat.agent",
        "externalId": chat_id,
        "taskIdentifier": st.config.task_id,
        "triggerConfig": { "basePayload": base, "tags": [format!("chat:{}", chat_id.chars().take(120).collect::<String>())] },
    });
    match client::call(st, Method::POST, "/api/v1/sessions", Some(&req)).await {
        Ok(a) if a.status.is_success() => Ok(a.body),
        Ok(a) if a.status == StatusCode::CONFLICT => Err(api_error(
            StatusCode::CONFLICT,
            "This chat's session is closed",
        )),
        other => Err(api_failure(other)),
    }
}

/// `POST /app/chats/{chatId}/start`: creates the session server-side with the secret
/// key, through the API. A session created anew (not `isCached`) starts the chat's
/// stored cursor over: a `lastEventId` from an earlier session of the same chat
/// (say, before an emulator restart) would be ahead of the new session's records.
pub async fn start_chat(
    State(st): State<Shared>,
    ChatId(chat_id): ChatId,
    JsonOrNull(input): JsonOrNull,
) -> Response {
    let client_data = match &input {
        Value::Null => None,
        Value::Object(m) => match m.get("clientData") {
            None | Some(Value::Null) => None,
            Some(v @ Value::Object(_)) => Some(v.clone()),
            Some(_) => return api_error(StatusCode::BAD_REQUEST, "`clientData` must be an object"),
        },
        _ => return api_error(StatusCode::BAD_REQUEST, "Body must be a JSON object"),
    };
    let mut base = Map::new();
    base.insert("chatId".into(), json!(chat_id));
    base.insert("trigger".into(), json!("preload"));
    base.insert("messages".into(), json!([]));
    if let Some(cd) = client_data {
        base.insert("metadata".into(), cd);
    }
    let body = match create_session(&st, &chat_id, base).await {
        Ok(body) => body,
        Err(r) => return r,
    };
    let Some(token) = body["publicAccessToken"].as_str().map(str::to_string) else {
        return api_error(
            StatusCode::BAD_GATEWAY,
            "The API's session has no publicAccessToken",
        );
    };
    let fresh = body["isCached"] != json!(true);
    st.db.ensure_conversation(&chat_id);
    let cursor = if fresh { Cursor::Clear } else { Cursor::Keep };
    st.db.upsert_session(&chat_id, &token, cursor, Some(false));
    json_response(
        StatusCode::OK,
        json!({ "publicAccessToken": token, "sessionId": body["id"], "runId": body["runId"] }),
    )
}

/// `POST /app/chats/{chatId}/token`: a fresh session-scoped token, made the way
/// `auth.createPublicToken` makes one: the environment's claims from the API, then
/// signed here with the secret key.
pub async fn mint_token(State(st): State<Shared>, ChatId(chat_id): ChatId) -> Response {
    let answer = client::call(&st, Method::POST, "/api/v1/auth/jwt/claims", None).await;
    let base = match answer {
        Ok(a) if a.status.is_success() && a.body.is_object() => a.body,
        other => return api_failure(other),
    };
    let scopes = vec![
        format!("read:sessions:{chat_id}"),
        format!("write:sessions:{chat_id}"),
    ];
    let mut claims = jwt::claims(&scopes, st.config.token_ttl_secs, 0, now_secs());
    if let (Some(c), Some(b)) = (claims.as_object_mut(), base.as_object()) {
        for (k, v) in b {
            c.insert(k.clone(), v.clone());
        }
    }
    let token = jwt::sign(&st.config.secret_key, &claims);
    json_response(StatusCode::OK, json!({ "publicAccessToken": token }))
}

/// `GET /app/chats`
pub async fn list_chats(State(st): State<Shared>) -> Response {
    match st.db.list() {
        Ok(rows) => json_response(StatusCode::OK, Value::Array(rows)),
        Err(e) => db_error(e),
    }
}

/// `GET /app/chats/{chatId}`
pub async fn get_chat(State(st): State<Shared>, ChatId(chat_id): ChatId) -> Response {
    match st.db.load(&chat_id) {
        Ok(Some(v)) => json_response(StatusCode::OK, v),
        Ok(None) => api_error(StatusCode::NOT_FOUND, "Chat not found"),
        Err(e) => db_error(e),
    }
}

/// `GET /app/chats/{chatId}/transcript[?limit=N][&before=<messageId>]`: the
/// conversation as the agent's transcript storage has it (the platform snapshot
/// its runs checkpoint, not this app's own copy), with the `.out` cursor of the
/// last turn-complete, as `chat.createLoadTranscriptAction(defaultStorage)`
/// answers: `{messages, state, cursors: {lastOutEventId?, lastInEventId?}, nextCursor?}`.
/// Only with the emulator's own API (a remote API's snapshot is not readable here).
pub async fn get_transcript(
    State(st): State<Shared>,
    ChatId(chat_id): ChatId,
    RawQuery(query): RawQuery,
) -> Response {
    if !matches!(st.config.api_target, ApiTarget::Local) {
        return api_error(
            StatusCode::NOT_IMPLEMENTED,
            "Transcript reads need the emulator's own API",
        );
    }
    let mut limit = None;
    let mut before = None;
    for pair in query.as_deref().unwrap_or("").split('&') {
        match pair.split_once('=') {
            Some(("limit", v)) => match v.parse::<usize>() {
                Ok(n) if n > 0 => limit = Some(n),
                _ => {
                    return api_error(
                        StatusCode::BAD_REQUEST,
                        "`limit` must be a positive integer",
                    )
                }
            },
            Some(("before", v)) if !v.is_empty() => before = Some(v.to_string()),
            _ => {}
        }
    }
    let Some(session) = st.store.get(&chat_id) else {
        return api_error(StatusCode::NOT_FOUND, "Chat not found");
    };
    let (messages, last_out, in_count) = {
        let inner = session.lock();
        (
            inner.snapshot.clone(),
            inner.last_turn_complete_seq,
            inner.in_count,
        )
    };
    let (page, next) = transcript_page(&messages, limit, before.as_deref());
    let mut cursors = Map::new();
    if let Some(seq) = last_out {
        cursors.insert("lastOutEventId".into(), json!(seq.to_string()));
    }
    if let Some(last_in) = in_count.checked_sub(1) {
        cursors.insert("lastInEventId".into(), json!(last_in.to_string()));
    }
    let mut body = json!({ "messages": page, "state": null, "cursors": cursors });
    if let Some(n) = next {
        body["nextCursor"] = json!(n);
    }
    json_response(StatusCode::OK, body)
}

/// One page of a transcript: the messages before `before` (all of them when it is
/// absent or unknown), the last `limit` of those, and the id to pass as `before`
/// for the page before this one when there is one.
pub fn transcript_page(
    messages: &[Value],
    limit: Option<usize>,
    before: Option<&str>,
) -> (Vec<Value>, Option<String>) {
    let end = before
        .and_then(|id| {
            messages
                .iter()
                .position(|m| m.get("id").and_then(Value::as_str) == Some(id))
        })
        .unwrap_or(messages.len());
    let start = limit.map_or(0, |n| end.saturating_sub(n));
    let page = messages[start..end].to_vec();
    let next = (start > 0)
        .then(|| {
            page.first()
                .and_then(|m| m.get("id"))
                .and_then(Value::as_str)
        })
        .flatten()
        .map(str::to_string);
    (page, next)
}

/// How long the head-start route waits for the agent's turn-complete after the
/// handover (then it ends its stream without the session's cursor).
const HEAD_START_HANDOVER_WAIT: Duration = Duration::from_secs(30);

/// The chunks the head-start route streams for a first message: the scripted
/// model's "step 1" for a plain message, `Echo: <text>`, as one text part.
fn head_start_chunks(message_id: &str, text: &str) -> Vec<Value> {
    let text_id = format!("txt_{}", random_id(10));
    let mut out = vec![
        json!({ "type": "start", "messageId": message_id }),
        json!({ "type": "start-step" }),
        json!({ "type": "text-start", "id": text_id }),
    ];
    for tok in crate::agent::tokens(&format!("Echo: {text}")) {
        out.push(json!({ "type": "text-delta", "id": text_id, "delta": tok }));
    }
    out.push(json!({ "type": "text-end", "id": text_id }));
    out.push(json!({ "type": "finish-step" }));
    out.push(json!({ "type": "finish" }));
    out
}

/// `POST /app/head-start`: the app's `chat.headStart` route. The transport posts
/// a new chat's first message here (`headStartMessages`, `chatId`). The route
/// creates the chat's session, whose first run boots with `trigger:
/// "handover-prepare"` and the messages, and meanwhile answers step 1 itself
/// (the scripted model's echo, streamed at once as an AI SDK UI message
/// stream). A pure-text step ends in a handover-skip: the route appends
/// `trigger: "handover-skip"` with the finished assistant message to `.in`, the
/// agent stores the turn and writes its `turn-complete`, and the route ends its
/// stream with `trigger:session-state` (that record's seq as the cursor) and
/// `trigger:turn-complete`. The session's token goes back in
/// `X-Trigger-Chat-Access-Token`, so later turns go to the session directly.
pub async fn head_start(State(st): State<Shared>, body: Body) -> Response {
    let input = match body_json(body).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let Some(chat_id) = input
        .get("chatId")
        .and_then(Value::as_str)
        .map(str::to_string)
    else {
        return api_error(StatusCode::BAD_REQUEST, "`chatId` must be a string");
    };
    if let Err(r) = valid_chat_id(&chat_id) {
        return r;
    }
    let Some(messages) = input
        .get("headStartMessages")
        .and_then(Value::as_array)
        .cloned()
    else {
        return api_error(
            StatusCode::BAD_REQUEST,
            "`headStartMessages` must be an array",
        );
    };
    let Some(user) = messages
        .iter()
        .rev()
        .find(|m| m.get("role").and_then(Value::as_str) == Some("user"))
    else {
        return api_error(
            StatusCode::BAD_REQUEST,
            "`headStartMessages` has no user message",
        );
    };
    let text = message_text(user);
    let mut base = Map::new();
    base.insert("chatId".into(), json!(chat_id));
    base.insert("trigger".into(), json!("handover-prepare"));
    base.insert("messages".into(), json!([]));
    base.insert("headStartMessages".into(), Value::Array(messages));
    if let Some(md) = input.get("metadata").filter(|m| m.is_object()) {
        base.insert("metadata".into(), md.clone());
    }
    let created = match create_session(&st, &chat_id, base).await {
        Ok(body) => body,
        Err(r) => return r,
    };
    if created["isCached"] == json!(true) {
        // Head start is for a chat's first turn only.
        return api_error(StatusCode::CONFLICT, "This chat already has a session");
    }
    let Some(token) = created["publicAccessToken"].as_str().map(str::to_string) else {
        return api_error(
            StatusCode::BAD_GATEWAY,
            "The API's session has no publicAccessToken",
        );
    };
    let Ok(token_header) = HeaderValue::from_str(&token) else {
        return api_error(
            StatusCode::BAD_GATEWAY,
            "The session's token is not a header value",
        );
    };
    st.db.ensure_conversation(&chat_id);
    st.db
        .upsert_session(&chat_id, &token, Cursor::Clear, Some(true));

    let (tx, rx) = mpsc::channel::<Result<Bytes, std::io::Error>>(64);
    tokio::spawn(stream_head_start(st.clone(), chat_id, text, tx));
    let mut resp = crate::sse::event_stream(Body::from_stream(ChannelBody(rx)));
    resp.headers_mut()
        .insert("x-trigger-chat-access-token", token_header);
    resp
}

/// Adapts a channel receiver to a streaming body.
struct ChannelBody(mpsc::Receiver<Result<Bytes, std::io::Error>>);

impl futures_core::Stream for ChannelBody {
    type Item = Result<Bytes, std::io::Error>;
    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        self.0.poll_recv(cx)
    }
}

/// Streams step 1, hands the turn over to the agent (a handover-skip) and
/// ends with the session's cursor. Stops early when the page goes away.
async fn stream_head_start(
    st: Shared,
    chat_id: String,
    text: String,
    tx: mpsc::Sender<Result<Bytes, std::io::Error>>,
) {
    let event = |v: &Value| Ok(Bytes::from(format!("data: {v}\n\n")));
    let message_id = format!("msg_{}", random_id(20));
    let chunks = head_start_chunks(&message_id, &text);
    let mut built = crate::agent::MessageBuilder::new(message_id.clone());
    for (i, c) in chunks.iter().enumerate() {
        if i > 0 && c["type"] == "text-delta" {
            tokio::time::sleep(Duration::from_millis(st.config.chunk_delay_ms)).await;
        }
        built.apply(c);
        if tx.send(event(c)).await.is_err() {
            // The page went away: the agent still gets what was said, and ends the turn.
            break;
        }
    }
    // Pure text: nothing for the agent to run. It stores the turn and ends it.
    let path = format!("/realtime/v1/sessions/{}/in/append", encode_path(&chat_id));
    let skip = json!({ "kind": "message", "payload": {
        "chatId": chat_id, "trigger": "handover-skip", "message": built.build(),
    } });
    let local = matches!(st.config.api_target, ApiTarget::Local);
    let before = turn_complete_seq(&st, &chat_id);
    let appended = client::call(&st, Method::POST, &path, Some(&skip)).await;
    if !matches!(&appended, Ok(a) if a.status.is_success()) {
        let _ = tx
            .send(event(
                &json!({ "type": "error", "errorText": "The handover to the agent failed" }),
            ))
            .await;
        return;
    }
    // The cursor is read from the emulator's own store (a remote API's is not
    // readable here: the stream then ends without it).
    let deadline = Instant::now() + HEAD_START_HANDOVER_WAIT;
    let mut seq = None;
    while local && Instant::now() < deadline {
        let now = turn_complete_seq(&st, &chat_id);
        if now.is_some() && now != before {
            seq = now;
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    if let Some(seq) = seq {
        let _ = tx
            .send(event(
                &json!({ "type": "trigger:session-state", "lastEventId": seq.to_string() }),
            ))
            .await;
    }
    let _ = tx
        .send(event(&json!({ "type": "trigger:turn-complete" })))
        .await;
}

/// The `.out` seq of the session's last turn-complete (emulator's own API only).
fn turn_complete_seq(st: &Shared, chat_id: &str) -> Option<u64> {
    st.store
        .get(chat_id)
        .and_then(|s| s.lock().last_turn_complete_seq)
}

/// `PUT /app/chats/{chatId}/session` with `{publicAccessToken, lastEventId?, isStreaming?,
/// closed?, closedReason?}` or `null`. Closed is one-way: `closed: false` does not reopen.
pub async fn put_session(
    State(st): State<Shared>,
    ChatId(chat_id): ChatId,
    JsonOrNull(v): JsonOrNull,
) -> Response {
    match v {
        Value::Null => match st.db.delete_session(&chat_id) {
            Ok(()) => json_response(StatusCode::OK, json!({ "ok": true })),
            Err(e) => db_error(e),
        },
        Value::Object(m) => {
            let Some(token) = m.get("publicAccessToken").and_then(Value::as_str) else {
                return api_error(
                    StatusCode::BAD_REQUEST,
                    "`publicAccessToken` must be a string",
                );
            };
            let last = match m.get("lastEventId") {
                None => None,
                Some(Value::Null) => Some(None),
                Some(Value::String(s)) => Some(Some(s.clone())),
                Some(Value::Number(n)) => Some(Some(n.to_string())),
                Some(_) => {
                    return api_error(StatusCode::BAD_REQUEST, "`lastEventId` must be a string")
                }
            };
            let streaming = match m.get("isStreaming") {
                None | Some(Value::Null) => None,
                Some(Value::Bool(b)) => Some(*b),
                Some(_) => {
                    return api_error(StatusCode::BAD_REQUEST, "`isStreaming` must be a boolean")
                }
            };
            let closed = match m.get("closed") {
                None | Some(Value::Null) => false,
                Some(Value::Bool(b)) => *b,
                Some(_) => return api_error(StatusCode::BAD_REQUEST, "`closed` must be a boolean"),
            };
            let reason = match m.get("closedReason") {
                None | Some(Value::Null) => None,
                Some(Value::String(s)) => Some(s.as_str()),
                Some(_) => {
                    return api_error(StatusCode::BAD_REQUEST, "`closedReason` must be a string")
                }
            };
            st.db.ensure_conversation(&chat_id);
            let cursor = match &last {
                None => Cursor::Keep,
                Some(None) => Cursor::Clear,
                Some(Some(v)) => Cursor::Set(v),
            };
            st.db.upsert_session(&chat_id, token, cursor, streaming);
            if closed {
                st.db.close_session(&chat_id, reason);
            }
            json_response(StatusCode::OK, json!({ "ok": true }))
        }
        _ => api_error(StatusCode::BAD_REQUEST, "Body must be an object or null"),
    }
}

/// `PUT /app/chats/{chatId}/messages` with `{messages: [UIMessage]}`.
pub async fn put_messages(
    State(st): State<Shared>,
    ChatId(chat_id): ChatId,
    JsonOrNull(v): JsonOrNull,
) -> Response {
    let Some(Value::Array(msgs)) = v.get("messages") else {
        return api_error(StatusCode::BAD_REQUEST, "`messages` must be an array");
    };
    if msgs.iter().any(|m| !m.is_object()) {
        return api_error(StatusCode::BAD_REQUEST, "every message must be an object");
    }
    st.db.save_messages(&chat_id, msgs);
    json_response(StatusCode::OK, json!({ "ok": true }))
}

/// `DELETE /app/chats/{chatId}`: deletes the rows and closes the session (through
/// the API; a chat whose session the API does not know has nothing to close).
pub async fn delete_chat(State(st): State<Shared>, ChatId(chat_id): ChatId) -> Response {
    // Close first, so the agent's hooks stop writing this chat's rows.
    let path = format!("/api/v1/sessions/{}/close", encode_path(&chat_id));
    let reason = json!({ "reason": "chat deleted" });
    let closed = match client::call(&st, Method::POST, &path, Some(&reason)).await {
        Ok(a) if a.status.is_success() => true,
        Ok(a) if a.status == StatusCode::NOT_FOUND => false,
        other => return api_failure(other),
    };
    let deleted = match st.db.delete(&chat_id) {
        Ok(d) => d,
        Err(e) => return db_error(e),
    };
    json_response(
        StatusCode::OK,
        json!({ "ok": true, "deleted": deleted, "sessionClosed": closed }),
    )
}

/// Percent-encodes a path segment (everything but unreserved characters).
pub fn encode_path(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transcript_pages_go_backwards_from_the_end() {
        let msgs: Vec<Value> = (1..=5).map(|i| json!({ "id": format!("m{i}") })).collect();
        let ids = |v: &[Value]| {
            v.iter()
                .map(|m| m["id"].as_str().unwrap().to_string())
                .collect::<Vec<_>>()
        };
        let (all, next) = transcript_page(&msgs, None, None);
        assert_eq!(all.len(), 5);
        assert_eq!(next, None);
        let (last2, next) = transcript_page(&msgs, Some(2), None);
        assert_eq!(ids(&last2), ["m4", "m5"]);
        assert_eq!(next.as_deref(), Some("m4"));
        let (prev, next) = transcript_page(&msgs, Some(2), Some("m4"));
        assert_eq!(ids(&prev), ["m2", "m3"]);
        assert_eq!(next.as_deref(), Some("m2"));
        let (first, next) = transcript_page(&msgs, Some(2), Some("m2"));
        assert_eq!(ids(&first), ["m1"]);
        assert_eq!(next, None);
        let (unknown, _) = transcript_page(&msgs, Some(10), Some("nope"));
        assert_eq!(unknown.len(), 5);
        assert_eq!(transcript_page(&[], Some(3), None), (vec![], None));
    }
}
