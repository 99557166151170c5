//! Small helpers: clocks, identifiers, ISO dates and JSON error responses.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Seconds since the Unix epoch.
pub fn now_secs() -> u64 {
    now_ms() / 1000
}

static COUNTER: AtomicU64 = AtomicU64::new(1);

/// A random 64-bit value (SipHash of a per-process random key and a counter).
/// Good enough for identifiers in a development server.
pub fn random_u64() -> u64 {
    let mut h = RandomState::new().build_hasher();
    h.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    h.write_u64(now_ms());
    h.finish()
}

const ALPHABET: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyz";

/// A random lowercase alphanumeric string of `len` characters.
pub fn random_id(len: usize) -> String {
    let mut out = String::with_capacity(len);
    let mut bits = random_u64();
    let mut left = 12;
    for _ in 0..len {
        if left == 0 {
            bits = random_u64();
            left = 12;
        }
        out.push(ALPHABET[(bits % 36) as usize] as char);
        bits /= 36;
        left -= 1;
    }
    out
}

/// Formats Unix milliseconds as an ISO-8601 UTC timestamp with millisecond precision.
pub fn iso_from_ms(ms: u64) -> String {
    let secs = ms / 1000;
    let millis = ms % 1000;
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{millis:03}Z",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60
    )
}

/// Converts days since 1970-01-01 to a (year, month, day) civil date.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// Parses an ISO-8601 date (`YYYY-MM-DD` optionally followed by `THH:MM:SS(.fff)Z`).
/// Returns `None` when it is not recognisable.
pub fn parse_iso(s: &str) -> Option<String> {
    let b = s.as_bytes();
    if b.len() < 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| s.get(r).and_then(|t| t.parse::<u32>().ok());
    let (y, m, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) || y < 1970 {
        return None;
    }
    Some(s.to_string())
}

/// A JSON error response body `{ "error": msg }` with the given status.
pub fn api_error(status: StatusCode, msg: impl Into<String>) -> Response {
    json_response(status, json!({ "error": msg.into() }))
}

/// A JSON error response for the realtime routes: `{ "ok": false, "error": msg }`.
pub fn rt_error(status: StatusCode, msg: impl Into<String>) -> Response {
    json_response(status, json!({ "ok": false, "error": msg.into() }))
}

/// A JSON response with a status.
pub fn json_response(status: StatusCode, v: Value) -> Response {
    let mut resp = (status, v.to_string()).into_response();
    resp.headers_mut().insert(
        axum::http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    resp
}

/// Reads a header as a trimmed UTF-8 string.
pub fn header_str<'a>(h: &'a HeaderMap, name: &str) -> Option<&'a str> {
    h.get(name).and_then(|v| v.to_str().ok()).map(str::trim)
}

/// Sets a header on a response, ignoring values that are not valid header values.
pub fn set_header(resp: &mut Response, name: &'static str, value: &str) {
    if let Ok(v) = HeaderValue::from_str(value) {
        resp.headers_mut().insert(name, v);
    }
}

/// Collects a request body up to `limit` bytes. `Err(true)` when it is too large,
/// `Err(false)` when the body could not be read.
///
/// A body over the limit is still read to its end (and dropped), up to
/// [`DRAIN_CAP`] bytes past the limit: answering while the client is still writing makes
/// it fail with a broken pipe instead of seeing the 413.
pub async fn read_body(body: axum::body::Body, limit: usize) -> Result<axum::body::Bytes, bool> {
    use futures_core::Stream;
    let mut stream = body.into_data_stream();
    let mut kept = Vec::new();
    let mut total = 0usize;
    while let Some(chunk) =
        std::future::poll_fn(|cx| std::pin::Pin::new(&mut stream).poll_next(cx)).await
    {
        let Ok(chunk) = chunk else {
            return Err(total > limit);
        };
        total = total.saturating_add(chunk.len());
        if total > limit.saturating_add(DRAIN_CAP) {
            return Err(true);
        }
        if total <= limit {
            kept.extend_from_slice(&chunk);
        }
    }
    if total > limit {
        Err(true)
    } else {
        Ok(kept.into())
    }
}

/// How much more than the limit an oversized body may send (read and dropped)
/// before the server gives up on it.
pub const DRAIN_CAP: usize = 8 * 1024 * 1024;

/// Checks an externalId / chat id, the same way on every route: 1-256 characters,
/// no surrounding whitespace, no control characters, not the reserved `session_`
/// prefix. (A trimmed copy would be a different id from the one in token scopes and
/// URLs, so nothing is trimmed: such an id is refused.)
pub fn check_external_id(id: &str) -> Result<(), &'static str> {
    let n = id.chars().count();
    if n == 0 || n > 256 {
        return Err("must be 1-256 characters");
    }
    if id.trim() != id {
        return Err("must not start or end with whitespace");
    }
    if id.chars().any(char::is_control) {
        return Err("must not contain control characters");
    }
    if id.starts_with("session_") {
        return Err("cannot start with 'session_' (reserved prefix)");
    }
    Ok(())
}

/// Truncates a string to at most `max` characters, adding an ellipsis when cut.
pub fn truncate_chars(s: &str, max: usize) -> String {
    let mut out: String = s.chars().take(max).collect();
    if s.chars().count() > max {
        out.push('…');
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
    fn iso_formats_known_instants() {
        assert_eq!(iso_from_ms(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(iso_from_ms(1_712_150_400_123), "2024-04-03T13:20:00.123Z");
        assert_eq!(iso_from_ms(951_782_400_000), "2000-02-29T00:00:00.000Z");
    }

    #[test]
    fn random_ids_have_requested_length_and_differ() {
        let a = random_id(25);
        let b = random_id(25);
        assert_eq!(a.len(), 25);
        assert!(a.chars().all(|c| c.is_ascii_alphanumeric()));
        assert_ne!(a, b);
    }

    #[test]
    fn external_ids_are_checked_not_trimmed() {
        assert!(check_external_id("chat-1").is_ok());
        assert!(check_external_id("é".repeat(256).as_str()).is_ok());
        for bad in ["", " chat", "chat ", "a\nb", "session_x"] {
            assert!(check_external_id(bad).is_err(), "{bad:?}");
        }
        assert!(check_external_id(&"x".repeat(257)).is_err());
    }

    #[test]
    fn title_is_first_user_text() {
        let msgs = vec![
            json!({"id":"a","role":"assistant","parts":[{"type":"text","text":"x"}]}),
            json!({"id":"u","role":"user","parts":[{"type":"text","text":"Hello there"}]}),
        ];
        assert_eq!(title_of(&msgs), "Hello there");
    }

    #[test]
    fn parse_iso_rejects_garbage() {
        assert!(parse_iso("2026-04-24T09:00:00.000Z").is_some());
        assert!(parse_iso("tomorrow").is_none());
        assert!(parse_iso("2026-13-01").is_none());
    }
}
