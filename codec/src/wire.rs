//! What the transport sends: request bodies, URLs and headers as plain data.
//! How they are sent is the web layer's business.

use crate::json;
use crate::prelude::*;
use crate::text::decimal;
use alloc::borrow::Cow;

/// The two session channels a request goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    In,
    Out,
}

impl Endpoint {
    pub fn as_str(self) -> &'static str {
        match self {
            Endpoint::In => "in",
            Endpoint::Out => "out",
        }
    }
}

/// `{kind:"stop"}`.
pub fn stop_chunk() -> String {
    r#"{"kind":"stop"}"#.to_owned()
}

/// The `.in` seq in an `.in/append` success body (`{"ok":true,"seq":7}`).
pub fn appended_seq(body: &str) -> Option<u64> {
    json::u64_field(body, "seq")
}

/// Whether an `.in/append` success body says the run that will read the
/// record is parked until its deployment lands (`"pendingVersion": true`).
pub fn pending_version(body: &str) -> bool {
    json::true_field(body, "pendingVersion")
}

/// Reads an `.in/append` refusal body: `Some(reason)` when it says the
/// session is closed (`{"code":"session_closed","closedReason":...}`). The
/// code is what counts, not the message.
pub fn closed_refusal(body: &str) -> Option<Option<String>> {
    if json::string_field(body, "code").as_deref() != Some("session_closed") {
        return None;
    }
    Some(json::string_field(body, "closedReason").map(Cow::into_owned))
}

/// Percent-encodes like JavaScript's `encodeURIComponent`.
pub fn encode_uri_component(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        let keep = b.is_ascii_alphanumeric()
            || matches!(
                b,
                b'-' | b'_' | b'.' | b'!' | b'~' | b'*' | b'\'' | b'(' | b')'
            );
        if keep {
            out.push(b as char);
        } else {
            out.push('%');
            out.push(char::from(b"0123456789ABCDEF"[usize::from(b >> 4)]));
            out.push(char::from(b"0123456789ABCDEF"[usize::from(b & 15)]));
        }
    }
    out
}

/// `{base}/realtime/v1/sessions/{chatId}/{in/append | out}`, with one
/// trailing slash of `base` dropped.
pub fn session_url(base: &str, chat_id: &str, endpoint: Endpoint) -> String {
    let base = base.strip_suffix('/').unwrap_or(base);
    let tail = match endpoint {
        Endpoint::In => "in/append",
        Endpoint::Out => "out",
    };
    cat!(
        base,
        "/realtime/v1/sessions/",
        encode_uri_component(chat_id),
        "/",
        tail
    )
}

/// Request headers as the JSON text of an object, name to value: the app's
/// extra headers, minus any the transport sets itself (compared without
/// regard to case), then `fixed`, which win. The runner hands the object
/// to `fetch` as it is.
pub fn headers_json(extra: &[(String, String)], fixed: &[(&str, &str)]) -> String {
    let mut out = String::from("{");
    let mut add = |name: &str, value: &str| {
        if out.len() > 1 {
            out.push(',');
        }
        out.push_str(&json::quote(name));
        out.push(':');
        out.push_str(&json::quote(value));
    };
    for (name, value) in extra {
        if !fixed.iter().any(|(f, _)| f.eq_ignore_ascii_case(name)) {
            add(name, value);
        }
    }
    for (name, value) in fixed {
        add(name, value);
    }
    out.push('}');
    out
}

/// Headers of an `.in/append`.
pub fn append_headers(extra: &[(String, String)], token: &str, part_id: &str) -> String {
    headers_json(
        extra,
        &[
            ("Content-Type", "application/json"),
            ("Authorization", &cat!("Bearer ", token)),
            ("x-trigger-source", "sdk"),
            ("X-Part-Id", part_id),
        ],
    )
}

/// What an `.out` subscription needs to open a connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutRequest {
    pub last_event_id: Option<String>,
    pub timeout_seconds: u32,
    pub peek_settled: bool,
}

/// Headers of an `.out` subscription.
pub fn out_headers(extra: &[(String, String)], token: &str, req: &OutRequest) -> String {
    let bearer = cat!("Bearer ", token);
    let timeout = decimal(u64::from(req.timeout_seconds));
    let mut fixed = vec![
        ("Accept", "text/event-stream"),
        ("Authorization", bearer.as_str()),
        ("Timeout-Seconds", timeout.as_str()),
    ];
    if let Some(id) = &req.last_event_id {
        fixed.push(("Last-Event-ID", id));
    }
    if req.peek_settled {
        fixed.push(("X-Peek-Settled", "1"));
    }
    headers_json(extra, &fixed)
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    fn parse(s: &str) -> Value {
        serde_json::from_str(s).unwrap()
    }

    #[test]
    fn a_closed_session_refusal_is_known_by_its_code() {
        let body = r#"{"ok":false,"error":"Cannot append to a closed session","code":"session_closed","closedReason":"done"}"#;
        assert_eq!(closed_refusal(body), Some(Some("done".into())));
        let body = r#"{"ok":false,"error":"x","code":"session_closed","closedReason":null}"#;
        assert_eq!(closed_refusal(body), Some(None));
        assert_eq!(
            closed_refusal(r#"{"error":"Cannot append to a closed session"}"#),
            None
        );
        assert_eq!(closed_refusal("not json"), None);
    }

    #[test]
    fn the_stop_chunk() {
        assert_eq!(parse(&stop_chunk()), json!({"kind":"stop"}));
    }

    #[test]
    fn urls_encode_the_chat_id_and_trim_one_slash() {
        assert_eq!(
            session_url("https://x.dev/", "a b/c?", Endpoint::In),
            "https://x.dev/realtime/v1/sessions/a%20b%2Fc%3F/in/append"
        );
        assert_eq!(
            session_url("http://h", "id-1_é", Endpoint::Out),
            "http://h/realtime/v1/sessions/id-1_%C3%A9/out"
        );
        assert_eq!(encode_uri_component("!~*'()"), "!~*'()");
    }

    #[test]
    fn fixed_headers_win_regardless_of_case() {
        let extra = vec![
            ("x-part-id".to_string(), "STATIC".to_string()),
            ("X-App".to_string(), "1".to_string()),
        ];
        let h = parse(&append_headers(&extra, "tok", "p1"));
        assert_eq!(
            h,
            json!({
                "X-App": "1",
                "Content-Type": "application/json",
                "Authorization": "Bearer tok",
                "x-trigger-source": "sdk",
                "X-Part-Id": "p1",
            })
        );
        let req = OutRequest {
            last_event_id: Some("9".into()),
            timeout_seconds: 120,
            peek_settled: true,
        };
        let h = parse(&out_headers(&[], "t", &req));
        assert_eq!(h["Last-Event-ID"], "9");
        assert_eq!(h["X-Peek-Settled"], "1");
        assert_eq!(h["Timeout-Seconds"], "120");
        assert_eq!(h["Authorization"], "Bearer t");
        let req = OutRequest {
            last_event_id: None,
            timeout_seconds: 60,
            peek_settled: false,
        };
        let h = parse(&out_headers(&[("Accept".into(), "x".into())], "t", &req));
        assert_eq!(h["Accept"], "text/event-stream");
        assert!(h.get("Last-Event-ID").is_none() && h.get("X-Peek-Settled").is_none());
    }
}
