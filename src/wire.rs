//! What the transport sends: request bodies, URLs and headers as plain data.
//! How they are sent is the web layer's business.

use serde_json::{Map, Value};

/// `submit-message` or `regenerate-message`, as `useChat` passes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trigger {
    SubmitMessage,
    RegenerateMessage,
}

impl Trigger {
    pub fn parse(s: &str) -> Option<Trigger> {
        match s {
            "submit-message" => Some(Trigger::SubmitMessage),
            "regenerate-message" => Some(Trigger::RegenerateMessage),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Trigger::SubmitMessage => "submit-message",
            Trigger::RegenerateMessage => "regenerate-message",
        }
    }
}

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

/// `{ ...clientData, ...metadata }`, or nothing when neither is given.
/// Non-object values contribute no keys, as an object spread would.
pub fn merge_metadata(client_data: Option<&Value>, metadata: Option<&Value>) -> Option<Value> {
    if client_data.is_none() && metadata.is_none() {
        return None;
    }
    let mut merged = Map::new();
    for v in [client_data, metadata].into_iter().flatten() {
        if let Value::Object(m) = v {
            for (k, v) in m {
                merged.insert(k.clone(), v.clone());
            }
        }
    }
    Some(Value::Object(merged))
}

/// Tool-part states the client advances and ships back to the agent.
fn is_advanced_tool_state(state: &str) -> bool {
    matches!(
        state,
        "output-available" | "output-error" | "approval-responded" | "output-denied"
    )
}

fn is_tool_part(kind: &str) -> bool {
    kind.starts_with("tool-") || kind == "dynamic-tool"
}

/// Slims the message that a `submit-message` carries.
///
/// An assistant message that carries resolved tool parts (a human answered
/// a tool, or approved or denied one) is cut down to those parts, each with
/// only the fields the agent overlays: its resolution. Everything else (text,
/// reasoning, tool inputs) the agent already has. Other messages pass
/// through untouched.
pub fn slim_message(message: Value) -> Value {
    let Value::Object(msg) = &message else {
        return message;
    };
    if msg.get("role").and_then(Value::as_str) != Some("assistant") {
        return message;
    }
    let Some(Value::Array(parts)) = msg.get("parts") else {
        return message;
    };
    let mut slim_parts = Vec::new();
    for part in parts {
        let Value::Object(p) = part else { continue };
        let kind = p.get("type").and_then(Value::as_str).unwrap_or("");
        let state = p.get("state").and_then(Value::as_str).unwrap_or("");
        if !is_tool_part(kind) || !is_advanced_tool_state(state) {
            continue;
        }
        let mut s = Map::new();
        for key in ["type", "toolCallId", "state"] {
            if let Some(v) = p.get(key) {
                s.insert(key.into(), v.clone());
            }
        }
        if kind == "dynamic-tool" {
            if let Some(v @ Value::String(_)) = p.get("toolName") {
                s.insert("toolName".into(), v.clone());
            }
        }
        let keep: &[&str] = match state {
            "output-available" => &["output", "approval"],
            "output-error" => &["errorText", "approval"],
            _ => &["approval"],
        };
        for key in keep {
            if let Some(v) = p.get(*key) {
                s.insert((*key).into(), v.clone());
            }
        }
        slim_parts.push(Value::Object(s));
    }
    if slim_parts.is_empty() {
        return message;
    }
    let mut out = Map::new();
    for key in ["id", "role"] {
        if let Some(v) = msg.get(key) {
            out.insert(key.into(), v.clone());
        }
    }
    out.insert("parts".into(), Value::Array(slim_parts));
    Value::Object(out)
}

fn message_chunk(payload: Map<String, Value>) -> String {
    let mut chunk = Map::new();
    chunk.insert("kind".into(), Value::String("message".into()));
    chunk.insert("payload".into(), Value::Object(payload));
    Value::Object(chunk).to_string()
}

/// What `sendMessages` appends to `.in`.
#[derive(Debug, Clone, Default)]
pub struct SendPayload<'a> {
    pub chat_id: &'a str,
    pub message_id: Option<&'a str>,
    /// The newest message, for `submit-message`.
    pub last_message: Option<Value>,
    /// Extra fields from the request's `body`, spread first.
    pub body: Option<Value>,
    pub metadata: Option<Value>,
}

/// `{kind:"message", payload:{...body, message?, chatId, trigger, messageId?, metadata?}}`.
/// Only the newest message travels, slimmed; `regenerate-message` carries none.
pub fn send_chunk(trigger: Trigger, p: SendPayload<'_>) -> String {
    let mut payload = match p.body {
        Some(Value::Object(m)) => m,
        _ => Map::new(),
    };
    if trigger == Trigger::SubmitMessage {
        if let Some(m) = p.last_message {
            payload.insert("message".into(), slim_message(m));
        }
    }
    payload.insert("chatId".into(), Value::String(p.chat_id.into()));
    payload.insert("trigger".into(), Value::String(trigger.as_str().into()));
    match p.message_id {
        Some(id) => payload.insert("messageId".into(), Value::String(id.into())),
        None => payload.remove("messageId"),
    };
    match p.metadata {
        Some(m) => payload.insert("metadata".into(), m),
        None => payload.remove("metadata"),
    };
    message_chunk(payload)
}

/// A steering message sent while a reply streams; not slimmed.
pub fn pending_chunk(chat_id: &str, message: Value, metadata: Option<Value>) -> String {
    let mut payload = Map::new();
    payload.insert("message".into(), message);
    payload.insert("chatId".into(), Value::String(chat_id.into()));
    payload.insert("trigger".into(), Value::String("submit-message".into()));
    if let Some(m) = metadata {
        payload.insert("metadata".into(), m);
    }
    message_chunk(payload)
}

/// A custom action for the agent's `onAction` hook.
pub fn action_chunk(chat_id: &str, action: Value, metadata: Option<Value>) -> String {
    let mut payload = Map::new();
    payload.insert("chatId".into(), Value::String(chat_id.into()));
    payload.insert("trigger".into(), Value::String("action".into()));
    payload.insert("action".into(), action);
    if let Some(m) = metadata {
        payload.insert("metadata".into(), m);
    }
    message_chunk(payload)
}

/// `{kind:"stop"}`.
pub fn stop_chunk() -> String {
    r#"{"kind":"stop"}"#.to_owned()
}

/// The head-start route's body: the whole history, no single `message`.
pub fn head_start_body(
    trigger: Trigger,
    chat_id: &str,
    message_id: Option<&str>,
    messages: Value,
    body: Option<Value>,
    metadata: Option<Value>,
) -> String {
    let mut payload = match body {
        Some(Value::Object(m)) => m,
        _ => Map::new(),
    };
    payload.insert("headStartMessages".into(), messages);
    payload.insert("chatId".into(), Value::String(chat_id.into()));
    payload.insert("trigger".into(), Value::String(trigger.as_str().into()));
    if let Some(id) = message_id {
        payload.insert("messageId".into(), Value::String(id.into()));
    }
    if let Some(m) = metadata {
        payload.insert("metadata".into(), m);
    }
    Value::Object(payload).to_string()
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
    format!(
        "{base}/realtime/v1/sessions/{}/{tail}",
        encode_uri_component(chat_id)
    )
}

/// Request headers as ordered name/value pairs.
pub type Headers = Vec<(String, String)>;

/// The app's extra headers, minus any the transport sets itself (compared
/// without regard to case), followed by `fixed`: the fixed headers win.
pub fn merge_headers(extra: &[(String, String)], fixed: Headers) -> Headers {
    let mut out: Headers = extra
        .iter()
        .filter(|(name, _)| !fixed.iter().any(|(f, _)| f.eq_ignore_ascii_case(name)))
        .cloned()
        .collect();
    out.extend(fixed);
    out
}

/// Headers of an `.in/append`.
pub fn append_headers(extra: &[(String, String)], token: &str, part_id: &str) -> Headers {
    merge_headers(
        extra,
        vec![
            ("Content-Type".into(), "application/json".into()),
            ("Authorization".into(), format!("Bearer {token}")),
            ("x-trigger-source".into(), "sdk".into()),
            ("X-Part-Id".into(), part_id.into()),
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
pub fn out_headers(extra: &[(String, String)], token: &str, req: &OutRequest) -> Headers {
    let mut fixed: Headers = vec![
        ("Accept".into(), "text/event-stream".into()),
        ("Authorization".into(), format!("Bearer {token}")),
        ("Timeout-Seconds".into(), req.timeout_seconds.to_string()),
    ];
    if let Some(id) = &req.last_event_id {
        fixed.push(("Last-Event-ID".into(), id.clone()));
    }
    if req.peek_settled {
        fixed.push(("X-Peek-Settled".into(), "1".into()));
    }
    merge_headers(extra, fixed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(s: &str) -> Value {
        serde_json::from_str(s).unwrap()
    }

    #[test]
    fn submit_carries_only_the_newest_message_and_fixed_fields_win() {
        let s = send_chunk(
            Trigger::SubmitMessage,
            SendPayload {
                chat_id: "c1",
                message_id: Some("m1"),
                last_message: Some(
                    json!({"id":"u3","role":"user","parts":[{"type":"text","text":"third"}]}),
                ),
                body: Some(json!({"extra": 1, "chatId": "spoofed", "trigger": "x"})),
                metadata: Some(json!({"userId":"u"})),
            },
        );
        assert_eq!(
            parse(&s),
            json!({"kind":"message","payload":{"extra":1,"chatId":"c1","trigger":"submit-message","messageId":"m1",
                "metadata":{"userId":"u"},"message":{"id":"u3","role":"user","parts":[{"type":"text","text":"third"}]}}})
        );
    }

    #[test]
    fn regenerate_carries_no_message_and_absent_fields_are_left_out() {
        let s = send_chunk(
            Trigger::RegenerateMessage,
            SendPayload {
                chat_id: "c",
                last_message: Some(json!({"id":"x","role":"user","parts":[]})),
                ..Default::default()
            },
        );
        assert_eq!(
            parse(&s),
            json!({"kind":"message","payload":{"chatId":"c","trigger":"regenerate-message"}})
        );
    }

    #[test]
    fn metadata_merge_call_wins() {
        assert_eq!(merge_metadata(None, None), None);
        assert_eq!(
            merge_metadata(
                Some(&json!({"userId":"u1","scope":"default"})),
                Some(&json!({"scope":"request"}))
            ),
            Some(json!({"userId":"u1","scope":"request"}))
        );
        assert_eq!(
            merge_metadata(Some(&json!({"a":1})), None),
            Some(json!({"a":1}))
        );
        assert_eq!(merge_metadata(Some(&json!("str")), None), Some(json!({})));
    }

    #[test]
    fn assistant_with_resolved_tools_is_slimmed_to_their_resolution() {
        let msg = json!({"id":"a1","role":"assistant","metadata":{"x":1},"parts":[
            {"type":"reasoning","text":"long thoughts"},
            {"type":"text","text":"hello"},
            {"type":"tool-askUser","toolCallId":"c1","state":"output-available","input":{"q":"?"},"output":"red"},
            {"type":"tool-sendEmail","toolCallId":"c2","state":"approval-responded","input":{},"approval":{"id":"ap","approved":true}},
            {"type":"tool-other","toolCallId":"c3","state":"input-available","input":{}},
            {"type":"tool-fail","toolCallId":"c4","state":"output-error","errorText":"bad","input":{}},
            {"type":"dynamic-tool","toolName":"dyn","toolCallId":"c5","state":"output-denied","approval":{"id":"d","approved":false}}
        ]});
        assert_eq!(
            slim_message(msg),
            json!({"id":"a1","role":"assistant","parts":[
                {"type":"tool-askUser","toolCallId":"c1","state":"output-available","output":"red"},
                {"type":"tool-sendEmail","toolCallId":"c2","state":"approval-responded","approval":{"id":"ap","approved":true}},
                {"type":"tool-fail","toolCallId":"c4","state":"output-error","errorText":"bad"},
                {"type":"dynamic-tool","toolCallId":"c5","state":"output-denied","toolName":"dyn","approval":{"id":"d","approved":false}}
            ]})
        );
    }

    #[test]
    fn messages_without_resolved_tools_pass_through() {
        let user = json!({"id":"u","role":"user","parts":[{"type":"text","text":"hi"}]});
        assert_eq!(slim_message(user.clone()), user);
        let asst = json!({"id":"a","role":"assistant","parts":[{"type":"tool-x","state":"input-available"}]});
        assert_eq!(slim_message(asst.clone()), asst);
        assert_eq!(slim_message(json!(null)), json!(null));
    }

    #[test]
    fn other_chunks() {
        assert_eq!(parse(&stop_chunk()), json!({"kind":"stop"}));
        assert_eq!(
            parse(&action_chunk("c", json!({"type":"undo"}), None)),
            json!({"kind":"message","payload":{"chatId":"c","trigger":"action","action":{"type":"undo"}}})
        );
        let m = json!({"id":"u","role":"user","parts":[]});
        assert_eq!(
            parse(&pending_chunk("c", m.clone(), Some(json!({"a":1})))),
            json!({"kind":"message","payload":{"chatId":"c","trigger":"submit-message","message":m,"metadata":{"a":1}}})
        );
        assert_eq!(
            parse(&head_start_body(
                Trigger::SubmitMessage,
                "c",
                Some("m"),
                json!([m.clone()]),
                None,
                None
            )),
            json!({"headStartMessages":[m],"chatId":"c","trigger":"submit-message","messageId":"m"})
        );
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
        let h = append_headers(&extra, "tok", "p1");
        assert!(h.contains(&("X-App".into(), "1".into())));
        assert!(h.contains(&("X-Part-Id".into(), "p1".into())));
        assert!(!h.iter().any(|(_, v)| v == "STATIC"));
        assert!(h.contains(&("Authorization".into(), "Bearer tok".into())));
        let req = OutRequest {
            last_event_id: Some("9".into()),
            timeout_seconds: 120,
            peek_settled: true,
        };
        let h = out_headers(&[], "t", &req);
        assert!(h.contains(&("Last-Event-ID".into(), "9".into())));
        assert!(h.contains(&("X-Peek-Settled".into(), "1".into())));
        assert!(h.contains(&("Timeout-Seconds".into(), "120".into())));
        let req = OutRequest {
            last_event_id: None,
            timeout_seconds: 60,
            peek_settled: false,
        };
        let h = out_headers(&[], "t", &req);
        assert!(!h
            .iter()
            .any(|(n, _)| n == "Last-Event-ID" || n == "X-Peek-Settled"));
    }
}
