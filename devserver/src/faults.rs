//! Fault injection (`--faults`): dropped streams, failing appends, revoked tokens,
//! slow responses. Token revocation is always tracked; the control routes exist only
//! with `--faults`.

use std::sync::atomic::Ordering;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use serde_json::{json, Map, Value};

use crate::util::{api_error, json_response, now_secs, read_body};
use crate::Shared;

#[derive(Default, Debug)]
struct FaultState {
    drop_out_after: Option<u64>,
    fail_appends: u64,
    fail_status: u16,
    reset_ms: u64,
    delay_ms: u64,
    /// Tokens whose `gen` claim is below this are revoked.
    generation: u64,
    /// Tokens without a `gen` claim issued at or before this second are revoked.
    revoked_before: Option<u64>,
    /// Every `.out` connection is cut after a random number of bytes in this
    /// window (inclusive); `out_cut_default` is what `--fault-out-cut-bytes` set
    /// (what `reset` goes back to).
    out_cut: Option<(u64, u64)>,
    out_cut_default: Option<(u64, u64)>,
}

#[derive(Default)]
pub struct Faults {
    inner: Mutex<FaultState>,
}

/// A failure to inject into one append.
pub struct AppendFailure {
    pub status: StatusCode,
    pub reset_ms: u64,
}

impl Faults {
    fn lock(&self) -> MutexGuard<'_, FaultState> {
        match self.inner.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        }
    }

    pub fn generation(&self) -> u64 {
        self.lock().generation
    }

    pub fn is_revoked(&self, claims: &Map<String, Value>) -> bool {
        let f = self.lock();
        if let Some(g) = claims.get("gen").and_then(Value::as_u64) {
            return g < f.generation;
        }
        match (f.revoked_before, claims.get("iat").and_then(Value::as_u64)) {
            (Some(cut), Some(iat)) => iat <= cut,
            (Some(_), None) => true,
            (None, _) => false,
        }
    }

    /// Sets the byte-cut window from the command line (also what `reset` restores).
    pub fn set_out_cut(&self, window: Option<(u64, u64)>) {
        let mut f = self.lock();
        f.out_cut = window;
        f.out_cut_default = window;
    }

    /// For a new `.out` connection: after how many bytes to cut it, drawn
    /// uniformly from the window, when the byte-cut fault is on.
    pub fn take_out_cut(&self) -> Option<u64> {
        let (lo, hi) = self.lock().out_cut?;
        let span = hi.saturating_sub(lo).saturating_add(1);
        Some(lo.saturating_add(crate::util::random_u64() % span))
    }

    /// Consumes the pending drop-out fault for the next `.out` connection.
    pub fn take_drop_out(&self) -> Option<u64> {
        self.lock().drop_out_after.take()
    }

    /// Consumes one pending append failure.
    pub fn take_append_failure(&self) -> Option<AppendFailure> {
        let mut f = self.lock();
        if f.fail_appends == 0 {
            return None;
        }
        f.fail_appends -= 1;
        Some(AppendFailure {
            status: StatusCode::from_u16(f.fail_status)
                .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            reset_ms: f.reset_ms,
        })
    }

    pub fn delay_ms(&self) -> u64 {
        self.lock().delay_ms
    }
}

pub fn routes() -> Router<Shared> {
    Router::new()
        .route("/_dev/faults/drop-out", post(drop_out))
        .route("/_dev/faults/cut-out-bytes", post(cut_out_bytes))
        .route("/_dev/faults/fail-appends", post(fail_appends))
        .route("/_dev/faults/expire-tokens", post(expire_tokens))
        .route("/_dev/faults/delay", post(delay))
        .route("/_dev/faults/reset", post(reset))
        .route("/_dev/stats", get(stats))
}

async fn json_body(body: Body) -> Result<Map<String, Value>, Response> {
    let bytes = read_body(body, 64 * 1024)
        .await
        .map_err(|_| api_error(StatusCode::BAD_REQUEST, "Could not read the body"))?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(Map::new());
    }
    match serde_json::from_slice::<Value>(&bytes) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) => Err(api_error(
            StatusCode::BAD_REQUEST,
            "Body must be a JSON object",
        )),
        Err(e) => Err(api_error(
            StatusCode::BAD_REQUEST,
            format!("Invalid JSON: {e}"),
        )),
    }
}

fn uint(m: &Map<String, Value>, key: &str, default: Option<u64>) -> Result<u64, Response> {
    match m.get(key) {
        None | Some(Value::Null) => default
            .ok_or_else(|| api_error(StatusCode::BAD_REQUEST, format!("`{key}` is required"))),
        Some(v) => v.as_u64().ok_or_else(|| {
            api_error(
                StatusCode::BAD_REQUEST,
                format!("`{key}` must be a non-negative integer"),
            )
        }),
    }
}

async fn drop_out(State(st): State<Shared>, body: Body) -> Response {
    let m = match json_body(body).await {
        Ok(m) => m,
        Err(r) => return r,
    };
    let k = match uint(&m, "afterRecords", Some(0)) {
        Ok(k) => k,
        Err(r) => return r,
    };
    st.faults.lock().drop_out_after = Some(k);
    json_response(StatusCode::OK, json!({ "ok": true, "afterRecords": k }))
}

/// `{maxBytes, minBytes?}`: every `.out` connection from now on is cut after a
/// uniformly random number of bytes in `minBytes..=maxBytes` (`minBytes` defaults
/// to 1). `{maxBytes: null}` (or `0`) turns it off.
async fn cut_out_bytes(State(st): State<Shared>, body: Body) -> Response {
    let m = match json_body(body).await {
        Ok(m) => m,
        Err(r) => return r,
    };
    let (max, min) = match (uint(&m, "maxBytes", Some(0)), uint(&m, "minBytes", Some(1))) {
        (Ok(a), Ok(b)) => (a, b),
        (Err(r), _) | (_, Err(r)) => return r,
    };
    let window = match check_cut_window(min, max) {
        Ok(w) => w,
        Err(msg) => return api_error(StatusCode::BAD_REQUEST, msg),
    };
    st.faults.lock().out_cut = window;
    json_response(
        StatusCode::OK,
        json!({
            "ok": true,
            "minBytes": window.map(|w| w.0),
            "maxBytes": window.map(|w| w.1),
        }),
    )
}

/// `max == 0` is "off"; otherwise `1 <= min <= max` (bytes).
pub fn check_cut_window(min: u64, max: u64) -> Result<Option<(u64, u64)>, &'static str> {
    if max == 0 {
        return Ok(None);
    }
    if min == 0 || min > max {
        return Err("the window needs 1 <= minBytes <= maxBytes");
    }
    Ok(Some((min, max)))
}

async fn fail_appends(State(st): State<Shared>, body: Body) -> Response {
    let m = match json_body(body).await {
        Ok(m) => m,
        Err(r) => return r,
    };
    let (count, status, reset) = match (
        uint(&m, "count", Some(1)),
        uint(&m, "status", Some(500)),
        uint(&m, "resetMs", Some(1000)),
    ) {
        (Ok(c), Ok(s), Ok(r)) => (c, s, r),
        (Err(r), _, _) | (_, Err(r), _) | (_, _, Err(r)) => return r,
    };
    if reset > 86_400_000 {
        return api_error(
            StatusCode::BAD_REQUEST,
            "`resetMs` must be at most 86400000 (a day)",
        );
    }
    if status != 500 && status != 429 {
        return api_error(StatusCode::BAD_REQUEST, "`status` must be 500 or 429");
    }
    let mut f = st.faults.lock();
    f.fail_appends = count;
    f.fail_status = status as u16;
    f.reset_ms = reset;
    json_response(
        StatusCode::OK,
        json!({ "ok": true, "count": count, "status": status }),
    )
}

async fn expire_tokens(State(st): State<Shared>) -> Response {
    let mut f = st.faults.lock();
    f.generation += 1;
    f.revoked_before = Some(now_secs());
    json_response(
        StatusCode::OK,
        json!({ "ok": true, "generation": f.generation }),
    )
}

async fn delay(State(st): State<Shared>, body: Body) -> Response {
    let m = match json_body(body).await {
        Ok(m) => m,
        Err(r) => return r,
    };
    match uint(&m, "ms", None) {
        Ok(ms) if ms <= 60_000 => {
            st.faults.lock().delay_ms = ms;
            json_response(StatusCode::OK, json!({ "ok": true, "ms": ms }))
        }
        Ok(_) => api_error(StatusCode::BAD_REQUEST, "`ms` must be at most 60000"),
        Err(r) => r,
    }
}

/// Clears every pending fault. Revoked tokens stay revoked; the byte-cut window
/// goes back to what `--fault-out-cut-bytes` set (off without it).
async fn reset(State(st): State<Shared>) -> Response {
    let mut f = st.faults.lock();
    f.drop_out_after = None;
    f.fail_appends = 0;
    f.delay_ms = 0;
    f.out_cut = f.out_cut_default;
    json_response(StatusCode::OK, json!({ "ok": true }))
}

async fn stats(State(st): State<Shared>) -> Response {
    json_response(
        StatusCode::OK,
        json!({
            "openOutConnections": st.open_out.load(Ordering::Relaxed),
            "appends": st.appends.load(Ordering::Relaxed),
            "appendRequests": st.append_requests.load(Ordering::Relaxed),
            "liveRuns": st.live_runs.load(Ordering::Relaxed),
        }),
    )
}

/// Delays every response except the fault-control routes when a delay is set.
pub async fn delay_layer(State(st): State<Shared>, req: Request, next: Next) -> Response {
    let ms = st.faults.delay_ms();
    if ms > 0 && !req.uri().path().starts_with("/_dev/") {
        tokio::time::sleep(Duration::from_millis(ms)).await;
    }
    next.run(req).await
}
