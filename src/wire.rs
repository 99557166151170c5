//! What the transport sends: request bodies, URLs and headers as plain data.
//! How they are sent is the web layer's business.

use crate::json;
use crate::prelude::*;
use crate::text::decimal;
use alloc::borrow::Cow;

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

/// A JSON object under construction, with JavaScript's spread semantics: a
/// key set again keeps its place and takes the new value. Values are JSON
/// text, kept as they came (from `JSON.stringify` in the web layer), so
/// nothing is parsed into a tree or printed back.
#[derive(Debug, Default)]
pub struct Object {
    entries: Vec<(String, String)>,
}

impl Object {
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets `key` to the JSON text `value`.
    pub fn set_raw(&mut self, key: &str, value: &str) {
        match self.entries.iter_mut().find(|(k, _)| k == key) {
            Some(e) => e.1 = value.to_owned(),
            None => self.entries.push((key.to_owned(), value.to_owned())),
        }
    }

    /// Sets `key` to a string.
    pub fn set_str(&mut self, key: &str, value: &str) {
        self.set_raw(key, &json::quote(value));
    }

    pub fn remove(&mut self, key: &str) {
        self.entries.retain(|(k, _)| k != key);
    }

    /// `{...this, ...json}` for the JSON text of an object; text that is
    /// not an object adds nothing, as a spread of a non-object would.
    pub fn spread(&mut self, json: &str) {
        for (k, v) in json::object_entries(json).unwrap_or_default() {
            self.set_raw(&k, v);
        }
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The JSON text.
    pub fn finish(&self) -> String {
        let mut out = String::from("{");
        for (i, (k, v)) in self.entries.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str(&json::quote(k));
            out.push(':');
            out.push_str(v);
        }
        out.push('}');
        out
    }
}

/// `{ ...clientData, ...metadata }` as JSON text, or nothing when neither
/// is given. Both are JSON text; `null` counts as not given.
pub fn merge_metadata(client_data: Option<&str>, metadata: Option<&str>) -> Option<String> {
    let given: Vec<&str> = [client_data, metadata]
        .into_iter()
        .flatten()
        .filter(|j| j.trim() != "null")
        .collect();
    if given.is_empty() {
        return None;
    }
    let mut merged = Object::new();
    for j in given {
        merged.spread(j);
    }
    Some(merged.finish())
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

/// The fields of an object (JSON text) named in `keys`, as raw text;
/// `None` when the text is not one object.
fn fields<'a, const N: usize>(text: &'a str, keys: [&str; N]) -> Option<[Option<&'a str>; N]> {
    let mut out = [None; N];
    let mut r = json::Reader::new(text);
    if r.peek() != Some(b'{') {
        return None;
    }
    r.object(|r, k| {
        let v = r.value()?;
        if let Some(i) = keys.iter().position(|key| *key == k) {
            out[i].get_or_insert(v);
        }
        Ok(())
    })
    .ok()?;
    r.end().ok()?;
    Some(out)
}

/// The string a raw JSON value holds, if it is a string.
fn as_str(raw: Option<&str>) -> Option<Cow<'_, str>> {
    let raw = raw?;
    if !raw.starts_with('"') {
        return None;
    }
    json::Reader::new(raw).string().ok()
}

/// The elements of a raw JSON array.
fn elements(raw: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut r = json::Reader::new(raw);
    let _ = r.array(|r| {
        out.push(r.value()?);
        Ok(())
    });
    out
}

/// Slims the message (JSON text) that a `submit-message` carries.
///
/// An assistant message that carries resolved tool parts (a human answered
/// a tool, or approved or denied one) is cut down to those parts, each with
/// only the fields the agent overlays: its resolution. Everything else (text,
/// reasoning, tool inputs) the agent already has. Other messages pass
/// through untouched.
pub fn slim_message(message: &str) -> Cow<'_, str> {
    let Some([id, role, parts]) = fields(message, ["id", "role", "parts"]) else {
        return Cow::Borrowed(message);
    };
    if as_str(role).as_deref() != Some("assistant") {
        return Cow::Borrowed(message);
    }
    let mut slim_parts = Vec::new();
    for raw in parts.map(elements).unwrap_or_default() {
        let keys = [
            "type",
            "state",
            "toolCallId",
            "toolName",
            "output",
            "errorText",
            "approval",
        ];
        let Some([kind, state, call_id, tool_name, output, error_text, approval]) =
            fields(raw, keys)
        else {
            continue;
        };
        let (kind, state) = (
            as_str(kind).unwrap_or_default(),
            as_str(state).unwrap_or_default(),
        );
        if !is_tool_part(&kind) || !is_advanced_tool_state(&state) {
            continue;
        }
        let mut s = Object::new();
        s.set_str("type", &kind);
        if let Some(v) = call_id {
            s.set_raw("toolCallId", v);
        }
        s.set_str("state", &state);
        if kind == "dynamic-tool" {
            if let Some(v) = tool_name.filter(|v| v.starts_with('"')) {
                s.set_raw("toolName", v);
            }
        }
        let keep = match state.as_ref() {
            "output-available" => [("output", output), ("approval", approval)],
            "output-error" => [("errorText", error_text), ("approval", approval)],
            _ => [("approval", approval), ("", None)],
        };
        for (key, v) in keep {
            if let Some(v) = v {
                s.set_raw(key, v);
            }
        }
        slim_parts.push(s.finish());
    }
    if slim_parts.is_empty() {
        return Cow::Borrowed(message);
    }
    let mut out = Object::new();
    if let Some(id) = id {
        out.set_raw("id", id);
    }
    out.set_str("role", "assistant");
    out.set_raw("parts", &cat!("[", slim_parts.join(","), "]"));
    Cow::Owned(out.finish())
}

fn message_chunk(payload: &Object) -> String {
    cat!(r#"{"kind":"message","payload":"#, payload.finish(), "}")
}

/// What `sendMessages` appends to `.in`. Values are JSON text.
#[derive(Debug, Clone, Default)]
pub struct SendPayload<'a> {
    pub chat_id: &'a str,
    pub message_id: Option<&'a str>,
    /// The newest message, for `submit-message`.
    pub last_message: Option<&'a str>,
    /// Extra fields from the request's `body`, spread first.
    pub body: Option<&'a str>,
    pub metadata: Option<&'a str>,
}

/// `{kind:"message", payload:{...body, message?, chatId, trigger, messageId?, metadata?}}`.
/// Only the newest message travels, slimmed; `regenerate-message` carries none.
pub fn send_chunk(trigger: Trigger, p: SendPayload<'_>) -> String {
    let mut payload = Object::new();
    if let Some(b) = p.body {
        payload.spread(b);
    }
    if trigger == Trigger::SubmitMessage {
        if let Some(m) = p.last_message {
            payload.set_raw("message", &slim_message(m));
        }
    }
    payload.set_str("chatId", p.chat_id);
    payload.set_str("trigger", trigger.as_str());
    match p.message_id {
        Some(id) => payload.set_str("messageId", id),
        None => payload.remove("messageId"),
    }
    match p.metadata {
        Some(m) => payload.set_raw("metadata", m),
        None => payload.remove("metadata"),
    }
    message_chunk(&payload)
}

/// A steering message sent while a reply streams; not slimmed.
pub fn pending_chunk(chat_id: &str, message: &str, metadata: Option<&str>) -> String {
    let mut payload = Object::new();
    payload.set_raw("message", message);
    payload.set_str("chatId", chat_id);
    payload.set_str("trigger", "submit-message");
    if let Some(m) = metadata {
        payload.set_raw("metadata", m);
    }
    message_chunk(&payload)
}

/// A custom action for the agent's `onAction` hook.
pub fn action_chunk(chat_id: &str, action: &str, metadata: Option<&str>) -> String {
    let mut payload = Object::new();
    payload.set_str("chatId", chat_id);
    payload.set_str("trigger", "action");
    payload.set_raw("action", action);
    if let Some(m) = metadata {
        payload.set_raw("metadata", m);
    }
    message_chunk(&payload)
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

/// The head-start route's body: the whole history, no single `message`.
pub fn head_start_body(
    trigger: Trigger,
    chat_id: &str,
    message_id: Option<&str>,
    messages: &str,
    body: Option<&str>,
    metadata: Option<&str>,
) -> String {
    let mut payload = Object::new();
    if let Some(b) = body {
        payload.spread(b);
    }
    payload.set_raw("headStartMessages", messages);
    payload.set_str("chatId", chat_id);
    payload.set_str("trigger", trigger.as_str());
    if let Some(id) = message_id {
        payload.set_str("messageId", id);
    }
    if let Some(m) = metadata {
        payload.set_raw("metadata", m);
    }
    payload.finish()
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
            ("Authorization".into(), cat!("Bearer ", token)),
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
        ("Authorization".into(), cat!("Bearer ", token)),
        (
            "Timeout-Seconds".into(),
            decimal(u64::from(req.timeout_seconds)),
        ),
    ];
    if let Some(id) = &req.last_event_id {
        fixed.push(("Last-Event-ID".into(), id.clone()));
    }
    if req.peek_settled {
        fixed.push(("X-Peek-Settled".into(), "1".into()));
    }
    merge_headers(extra, fixed)
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    fn parse(s: &str) -> Value {
        serde_json::from_str(s).unwrap()
    }

    fn text(v: Value) -> String {
        v.to_string()
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
    fn submit_carries_only_the_newest_message_and_fixed_fields_win() {
        let s = send_chunk(
            Trigger::SubmitMessage,
            SendPayload {
                chat_id: "c1",
                message_id: Some("m1"),
                last_message: Some(
                    r#"{"id":"u3","role":"user","parts":[{"type":"text","text":"third"}]}"#,
                ),
                body: Some(r#"{"extra": 1, "chatId": "spoofed", "trigger": "x"}"#),
                metadata: Some(r#"{"userId":"u"}"#),
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
                last_message: Some(r#"{"id":"x","role":"user","parts":[]}"#),
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
        assert_eq!(merge_metadata(Some("null"), None), None);
        assert_eq!(
            merge_metadata(
                Some(r#"{"userId":"u1","scope":"default"}"#),
                Some(r#"{"scope":"request","n":1.5e3}"#)
            )
            .as_deref(),
            Some(r#"{"userId":"u1","scope":"request","n":1.5e3}"#),
            "keys keep their first place, values are kept as written"
        );
        assert_eq!(
            merge_metadata(Some(r#"{"a":1}"#), None).as_deref(),
            Some(r#"{"a":1}"#)
        );
        assert_eq!(
            merge_metadata(Some(r#""str""#), None).as_deref(),
            Some("{}")
        );
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
            parse(&slim_message(&text(msg))),
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
        let user = text(json!({"id":"u","role":"user","parts":[{"type":"text","text":"hi"}]}));
        assert_eq!(slim_message(&user), user);
        let asst = text(
            json!({"id":"a","role":"assistant","parts":[{"type":"tool-x","state":"input-available"}]}),
        );
        assert_eq!(slim_message(&asst), asst);
        assert_eq!(slim_message("null"), "null");
    }

    #[test]
    fn other_chunks() {
        assert_eq!(parse(&stop_chunk()), json!({"kind":"stop"}));
        assert_eq!(
            parse(&action_chunk("c", r#"{"type":"undo"}"#, None)),
            json!({"kind":"message","payload":{"chatId":"c","trigger":"action","action":{"type":"undo"}}})
        );
        let m = json!({"id":"u","role":"user","parts":[]});
        assert_eq!(
            parse(&pending_chunk("c", &text(m.clone()), Some(r#"{"a":1}"#))),
            json!({"kind":"message","payload":{"chatId":"c","trigger":"submit-message","message":m,"metadata":{"a":1}}})
        );
        assert_eq!(
            parse(&head_start_body(
                Trigger::SubmitMessage,
                "c",
                Some("m"),
                &text(json!([m.clone()])),
                None,
                None
            )),
            json!({"headStartMessages":[m],"chatId":"c","trigger":"submit-message","messageId":"m"})
        );
    }

    #[test]
    fn strings_are_escaped_as_json() {
        let mut o = Object::new();
        o.set_str("k\"", "a\"b\\c\n\u{1}é");
        assert_eq!(parse(&o.finish()), json!({"k\"": "a\"b\\c\n\u{1}é"}));
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
