//! The Trigger.dev management API (`/api/v1/...`) and `.in/append`.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde_json::{json, Map, Value};

use crate::auth::{authenticate, error, Access, Flavor, Principal};
use crate::runs::{self, Delivered};
use crate::store::{InEvent, NewSession, Session};
use crate::tokens::{mint, session_token};
use crate::util::{
    api_error, check_external_id, header_str, json_response, now_ms, parse_iso, read_body,
    rt_error, set_header,
};
use crate::{AppState, Shared};

/// Largest accepted `.in/append` body.
pub const MAX_APPEND_BYTES: usize = 1024 * 1024;
const MAX_API_BODY: usize = 2 * 1024 * 1024;

async fn json_object(
    body: Body,
    limit: usize,
    allow_empty: bool,
) -> Result<Map<String, Value>, Response> {
    let bytes = read_body(body, limit).await.map_err(|too_big| {
        if too_big {
            api_error(StatusCode::PAYLOAD_TOO_LARGE, "Request body too large")
        } else {
            api_error(StatusCode::BAD_REQUEST, "Could not read the request body")
        }
    })?;
    if allow_empty && bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(Map::new());
    }
    match serde_json::from_slice::<Value>(&bytes) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) => Err(api_error(
            StatusCode::BAD_REQUEST,
            "Request body must be a JSON object",
        )),
        Err(e) => Err(api_error(
            StatusCode::BAD_REQUEST,
            format!("Invalid JSON body: {e}"),
        )),
    }
}

fn bad(msg: impl Into<String>) -> Response {
    api_error(StatusCode::BAD_REQUEST, msg)
}

fn opt_str<'a>(m: &'a Map<String, Value>, key: &str) -> Result<Option<&'a str>, Response> {
    match m.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(bad(format!("`{key}` must be a string"))),
    }
}

fn str_array(
    v: Option<&Value>,
    key: &str,
    max_len: usize,
) -> Result<Option<Vec<String>>, Response> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(items)) => {
            if items.len() > max_len {
                return Err(bad(format!("`{key}` allows at most {max_len} items")));
            }
            let mut out = Vec::new();
            for i in items {
                match i.as_str() {
                    Some(s) if s.chars().count() <= 128 => out.push(s.to_string()),
                    _ => {
                        return Err(bad(format!(
                            "`{key}` must hold strings of at most 128 characters"
                        )))
                    }
                }
            }
            Ok(Some(out))
        }
        Some(_) => Err(bad(format!("`{key}` must be an array of strings"))),
    }
}

/// Validated `POST /api/v1/sessions` input.
struct CreateInput {
    kind: String,
    external_id: Option<String>,
    task: String,
    trigger_config: Value,
    tags: Option<Vec<String>>,
    metadata: Option<Value>,
    expires_at: Option<String>,
}

fn validate_create(m: &Map<String, Value>) -> Result<CreateInput, Response> {
    let kind = match opt_str(m, "type")? {
        Some(t) if !t.is_empty() && t.chars().count() <= 64 => t.to_string(),
        _ => return Err(bad("`type` is required (1-64 characters)")),
    };
    let external_id = match opt_str(m, "externalId")? {
        None => None,
        Some(e) => {
            check_external_id(e).map_err(|why| bad(format!("`externalId` {why}")))?;
            Some(e.to_string())
        }
    };
    let task = match opt_str(m, "taskIdentifier")? {
        Some(t) if !t.is_empty() && t.chars().count() <= 128 => t.to_string(),
        _ => return Err(bad("`taskIdentifier` is required (1-128 characters)")),
    };
    let Some(Value::Object(tc)) = m.get("triggerConfig") else {
        return Err(bad("`triggerConfig` is required and must be an object"));
    };
    let Some(Value::Object(base)) = tc.get("basePayload") else {
        return Err(bad(
            "`triggerConfig.basePayload` is required and must be an object",
        ));
    };
    match base.get("trigger") {
        None | Some(Value::Null) => {}
        // `handover-prepare`: a head-start route's session (`chat.headStart`).
        Some(Value::String(t))
            if t == "preload" || t == "submit-message" || t == "handover-prepare" => {}
        Some(_) => {
            return Err(bad(
                "`triggerConfig.basePayload.trigger` must be \"preload\", \"submit-message\" or \"handover-prepare\"",
            ))
        }
    }
    if base.get("trigger").and_then(Value::as_str) == Some("submit-message")
        && !base.get("message").map(Value::is_object).unwrap_or(false)
    {
        return Err(bad(
            "a \"submit-message\" basePayload needs a `message` object",
        ));
    }
    str_array(tc.get("tags"), "triggerConfig.tags", 5)?;
    for (key, lo, hi) in [
        ("maxAttempts", 1u64, 10u64),
        ("idleTimeoutInSeconds", 1, 3600),
        ("maxDuration", 1, u64::MAX),
    ] {
        match tc.get(key) {
            None | Some(Value::Null) => {}
            Some(v) => match v.as_u64() {
                Some(n) if n >= lo && n <= hi => {}
                _ => {
                    return Err(bad(format!(
                        "`triggerConfig.{key}` must be an integer in {lo}..={hi}"
                    )))
                }
            },
        }
    }
    for key in ["queue", "machine", "lockToVersion", "region"] {
        if let Some(v) = tc.get(key) {
            if !v.is_string() && !v.is_null() {
                return Err(bad(format!("`triggerConfig.{key}` must be a string")));
            }
        }
    }
    let tags = str_array(m.get("tags"), "tags", 10)?;
    let metadata = match m.get("metadata") {
        None => None,
        Some(v @ Value::Object(_)) => Some(v.clone()),
        Some(Value::Null) => Some(Value::Null),
        Some(_) => return Err(bad("`metadata` must be an object")),
    };
    let expires_at = match opt_str(m, "expiresAt")? {
        None => None,
        Some(s) => Some(parse_iso(s).ok_or_else(|| bad("`expiresAt` must be an ISO date"))?),
    };
    Ok(CreateInput {
        kind,
        external_id,
        task,
        trigger_config: Value::Object(tc.clone()),
        tags,
        metadata,
        expires_at,
    })
}

/// The outcome of a create-or-return.
pub enum Created {
    Fresh(Value),
    Cached(Value),
    Closed,
}

/// Creates (or returns) a session and starts its first run.
pub fn create_or_return(state: &Shared, m: &Map<String, Value>) -> Result<Created, Response> {
    let input = validate_create(m)?;
    let created = state.store.create_or_get(NewSession {
        external_id: input.external_id.clone(),
        kind: input.kind.clone(),
        task_identifier: input.task.clone(),
        trigger_config: input.trigger_config.clone(),
        tags: input.tags.clone().unwrap_or_default(),
        metadata: input.metadata.clone().unwrap_or(Value::Null),
        expires_at: input.expires_at.clone(),
    });
    let Ok((session, fresh)) = created else {
        return Err(limit_error(
            Flavor::Api,
            format!(
                "Too many sessions: the limit of {} is reached and none is idle",
                state.store.limits.max_sessions
            ),
        ));
    };
    if fresh {
        let base = input
            .trigger_config
            .get("basePayload")
            .cloned()
            .unwrap_or_else(|| json!({}));
        let run_id = runs::start_first(state, &session, base);
        let inner = session.lock();
        let mut body = inner.to_json();
        body["runId"] = json!(run_id);
        body["publicAccessToken"] = json!(session_token(state, inner.scope_id(), None));
        body["isCached"] = json!(false);
        return Ok(Created::Fresh(body));
    }
    let mut inner = session.lock();
    if inner.closed_at.is_some() {
        return Ok(Created::Closed);
    }
    // Write-through of the mutable fields on the cached path.
    if let Some(t) = input.tags {
        inner.tags = t;
    }
    if let Some(md) = input.metadata {
        inner.metadata = md;
    }
    if input.expires_at.is_some() {
        inner.expires_at = input.expires_at;
    }
    inner.trigger_config = input.trigger_config;
    inner.touch();
    let mut body = inner.to_json();
    body["runId"] = json!(inner.current_run_id.clone().unwrap_or_default());
    body["publicAccessToken"] = json!(session_token(state, inner.scope_id(), None));
    body["isCached"] = json!(true);
    Ok(Created::Cached(body))
}

/// A `429` for a limit of the emulator: `{"error", "code": "limit_exceeded"}`
/// (`"ok": false` too on the realtime routes).
pub fn limit_error(flavor: Flavor, msg: String) -> Response {
    let mut body = json!({ "error": msg, "code": "limit_exceeded" });
    if let Flavor::Realtime = flavor {
        body["ok"] = json!(false);
    }
    json_response(StatusCode::TOO_MANY_REQUESTS, body)
}

pub async fn create_session(State(st): State<Shared>, headers: HeaderMap, body: Body) -> Response {
    let principal = match authenticate(&st, &headers, Flavor::Api) {
        Ok(p) => p,
        Err(r) => return r,
    };
    let m = match json_object(body, MAX_API_BODY, false).await {
        Ok(m) => m,
        Err(r) => return r,
    };
    let task = m
        .get("taskIdentifier")
        .and_then(Value::as_str)
        .unwrap_or("");
    if !principal.may_create(task) {
        return api_error(
            StatusCode::FORBIDDEN,
            "Token lacks write:sessions and tasks:{taskIdentifier} scopes",
        );
    }
    match create_or_return(&st, &m) {
        Err(r) => r,
        Ok(Created::Closed) => api_error(
            StatusCode::CONFLICT,
            "Session is closed; use a different externalId",
        ),
        Ok(Created::Cached(b)) => json_response(StatusCode::OK, b),
        Ok(Created::Fresh(b)) => {
            let run_id = b["runId"].as_str().unwrap_or("").to_string();
            let scopes = vec![
                format!("read:runs:{run_id}"),
                format!("write:inputStreams:{run_id}"),
            ];
            let run_jwt = mint(&st, &scopes);
            let mut resp = json_response(StatusCode::CREATED, b);
            set_header(&mut resp, "x-trigger-jwt", &run_jwt);
            set_header(
                &mut resp,
                "x-trigger-jwt-claims",
                &json!({ "sub": crate::ENV_ID, "scopes": scopes }).to_string(),
            );
            resp
        }
    }
}

/// Resolves a session for a caller, answering 404 / 403 in the route's flavor.
pub fn resolve(
    st: &AppState,
    principal: &Principal,
    id: &str,
    access: Access,
    flavor: Flavor,
) -> Result<Arc<Session>, Response> {
    match st.store.get(id) {
        Some(s) => {
            let (sid, ext) = {
                let i = s.lock();
                (i.id.clone(), i.external_id.clone())
            };
            let mut ids = vec![sid.as_str()];
            if let Some(e) = ext.as_deref() {
                ids.push(e);
            }
            if principal.allows_session(access, &ids) {
                Ok(s)
            } else {
                Err(error(
                    flavor,
                    StatusCode::FORBIDDEN,
                    "Token lacks the scope for this session",
                ))
            }
        }
        None => {
            if principal.allows_session(access, &[id]) {
                Err(error(flavor, StatusCode::NOT_FOUND, "Session not found"))
            } else {
                Err(error(
                    flavor,
                    StatusCode::FORBIDDEN,
                    "Token lacks the scope for this session",
                ))
            }
        }
    }
}

pub async fn get_session(
    State(st): State<Shared>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let principal = match authenticate(&st, &headers, Flavor::Api) {
        Ok(p) => p,
        Err(r) => return r,
    };
    match resolve(&st, &principal, &id, Access::Read, Flavor::Api) {
        Ok(s) => json_response(StatusCode::OK, s.lock().to_json()),
        Err(r) => r,
    }
}

/// Closes a session (idempotent): stops its live run and ends `.out` with a
/// `session-closed` record. Returns the row.
pub fn close(session: &Session, reason: Option<String>) -> Value {
    let mut inner = session.lock();
    session.close_locked(&mut inner, reason);
    inner.to_json()
}

pub async fn close_session(
    State(st): State<Shared>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let principal = match authenticate(&st, &headers, Flavor::Api) {
        Ok(p) => p,
        Err(r) => return r,
    };
    let m = match json_object(body, 64 * 1024, true).await {
        Ok(m) => m,
        Err(r) => return r,
    };
    let reason = match opt_str(&m, "reason") {
        Ok(r) => r.map(str::to_string),
        Err(r) => return r,
    };
    if reason
        .as_ref()
        .map(|r| r.chars().count() > 256)
        .unwrap_or(false)
    {
        return bad("`reason` must be at most 256 characters");
    }
    match resolve(&st, &principal, &id, Access::Admin, Flavor::Api) {
        Ok(s) => json_response(StatusCode::OK, close(&s, reason)),
        Err(r) => r,
    }
}

/// The claims the SDK's `auth.createPublicToken` signs with the secret key.
pub async fn jwt_claims(State(st): State<Shared>, headers: HeaderMap) -> Response {
    match authenticate(&st, &headers, Flavor::Api) {
        Ok(Principal::Secret) => json_response(
            StatusCode::OK,
            json!({ "sub": crate::ENV_ID, "pub": true, "gen": st.faults.generation() }),
        ),
        Ok(_) => api_error(
            StatusCode::FORBIDDEN,
            "This endpoint needs the secret API key",
        ),
        Err(r) => r,
    }
}

/// Validates a `ChatInputChunk`.
fn parse_input_chunk(bytes: &[u8]) -> Result<Value, String> {
    let v: Value = serde_json::from_slice(bytes).map_err(|e| format!("Invalid JSON body: {e}"))?;
    let Value::Object(m) = &v else {
        return Err("Body must be a JSON object (a ChatInputChunk)".into());
    };
    match m.get("kind").and_then(Value::as_str) {
        Some("message") => match m.get("payload") {
            Some(Value::Object(p)) => {
                if let Some(t) = p.get("trigger") {
                    if !t.is_string() {
                        return Err("`payload.trigger` must be a string".into());
                    }
                }
                if let Some(msg) = p.get("message") {
                    if !msg.is_object() && !msg.is_null() {
                        return Err("`payload.message` must be an object".into());
                    }
                }
                Ok(v)
            }
            _ => Err("`payload` must be an object when kind is \"message\"".into()),
        },
        Some("stop") => match m.get("message") {
            None | Some(Value::Null) | Some(Value::String(_)) => Ok(v),
            Some(_) => Err("`message` must be a string".into()),
        },
        _ => Err("`kind` must be \"message\" or \"stop\"".into()),
    }
}

pub async fn append(
    State(st): State<Shared>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    AppState::bump(&st.append_requests);
    let too_long = header_str(&headers, "content-length")
        .and_then(|l| l.parse::<u64>().ok())
        .map(|l| l > MAX_APPEND_BYTES as u64)
        .unwrap_or(false);
    if too_long {
        // Read (and drop) what the client sends before answering.
        let _ = read_body(body, 0).await;
        return rt_error(StatusCode::PAYLOAD_TOO_LARGE, "Request body exceeds 1 MiB");
    }
    let principal = match authenticate(&st, &headers, Flavor::Realtime) {
        Ok(p) => p,
        Err(r) => return r,
    };
    let session = match resolve(&st, &principal, &id, Access::Write, Flavor::Realtime) {
        Ok(s) => s,
        Err(r) => return r,
    };
    if let Some(f) = st.faults.take_append_failure() {
        let mut resp = rt_error(
            f.status,
            if f.status == StatusCode::TOO_MANY_REQUESTS {
                "Rate limit exceeded"
            } else {
                "Injected failure: the durable stream is unavailable"
            },
        );
        if f.status == StatusCode::TOO_MANY_REQUESTS {
            set_header(&mut resp, "x-ratelimit-limit", "1000");
            set_header(&mut resp, "x-ratelimit-remaining", "0");
            set_header(
                &mut resp,
                "x-ratelimit-reset",
                &now_ms().saturating_add(f.reset_ms).to_string(),
            );
        }
        return resp;
    }
    let bytes = match read_body(body, MAX_APPEND_BYTES).await {
        Ok(b) => b,
        Err(true) => return rt_error(StatusCode::PAYLOAD_TOO_LARGE, "Request body exceeds 1 MiB"),
        Err(false) => return rt_error(StatusCode::BAD_REQUEST, "Could not read the request body"),
    };
    let part_id = match header_str(&headers, "x-part-id") {
        None | Some("") => None,
        Some(p) if p.len() <= 256 => Some(p.to_string()),
        Some(_) => return rt_error(StatusCode::BAD_REQUEST, "X-Part-Id is too long"),
    };
    if headers.contains_key("x-part-id") && header_str(&headers, "x-part-id").is_none() {
        return rt_error(StatusCode::BAD_REQUEST, "X-Part-Id must be ASCII");
    }
    let closed = {
        let inner = session.lock();
        inner.closed_at.map(|_| inner.closed_reason.clone())
    };
    if let Some(reason) = closed {
        return json_response(
            StatusCode::CONFLICT,
            json!({
                "ok": false,
                "error": "Cannot append to a closed session",
                "code": "session_closed",
                "closedReason": reason,
            }),
        );
    }
    let chunk = match parse_input_chunk(&bytes) {
        Ok(c) => c,
        Err(e) => return rt_error(StatusCode::BAD_REQUEST, e),
    };
    let is_stop = chunk.get("kind").and_then(Value::as_str) == Some("stop");
    let payload = chunk.get("payload").cloned().unwrap_or_else(|| json!({}));
    let make = move |in_seq| {
        if is_stop {
            InEvent::Stop { in_seq }
        } else {
            InEvent::Message { payload, in_seq }
        }
    };
    let seq = match runs::deliver(&st, &session, make, part_id) {
        Delivered::Stored(seq) => {
            AppState::bump(&st.appends);
            seq
        }
        Delivered::Duplicate(seq) => seq,
    };
    json_response(StatusCode::OK, json!({ "ok": true, "seq": seq }))
}
