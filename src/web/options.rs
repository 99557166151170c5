//! The transport's options and the arguments of its methods, read and
//! checked: a wrong one is a `TypeError` that names it.

use core::cell::RefCell;

use wasm_bindgen::prelude::*;

use super::host::{Callbacks, State};
use super::js::{absent, arg_name, is_object, is_plain_object, must_be, option_name, prop};
use super::sys;
use crate::engine::EngineConfig;
use crate::prelude::*;
use crate::session::SessionState;
use crate::text::decimal;

/// `streamTimeoutSeconds` when the app gives none.
pub const DEFAULT_STREAM_TIMEOUT_SECONDS: u32 = 120;

/// `offlineSendTimeoutMs` when the app gives none: how long a send waits
/// for the browser to come back online.
pub const DEFAULT_OFFLINE_SEND_TIMEOUT_MS: u64 = 180_000;

/// Everything the constructor learns from its options.
pub struct Options {
    pub cfg: EngineConfig,
    pub sessions: Vec<(String, SessionState)>,
    pub state: State,
    pub multi_tab: bool,
    pub head_start: Option<String>,
    /// `offlineSendTimeoutMs`.
    pub offline_wait_ms: u64,
}

/// A whole, non-negative number that a u64 holds exactly.
fn whole_number(v: &JsValue) -> Option<u64> {
    let n = v.as_f64()?;
    ((0.0..9e15).contains(&n) && n == (n as u64) as f64).then_some(n as u64)
}

/// What `typed` checks a value against.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Type {
    String,
    Boolean,
    Function,
    Whole,
}

impl Type {
    fn name(self) -> &'static str {
        match self {
            Type::String => "a string",
            Type::Boolean => "a boolean",
            Type::Function => "a function",
            Type::Whole => "a whole number",
        }
    }

    fn fits(self, v: &JsValue) -> bool {
        match self {
            Type::String => v.is_string(),
            Type::Boolean => v.as_bool().is_some(),
            Type::Function => v.is_function(),
            Type::Whole => whole_number(v).is_some(),
        }
    }
}

/// `obj[key]` when it is absent (then `None`) or of type `t`; anything
/// else is misuse, named `name`.
fn typed(obj: &JsValue, key: &str, t: Type, name: &str) -> Result<Option<JsValue>, JsValue> {
    let v = prop(obj, key);
    if absent(&v) {
        return Ok(None);
    }
    if !t.fits(&v) {
        return Err(must_be(name, t.name()));
    }
    Ok(Some(v))
}

fn option(o: &JsValue, key: &str, t: Type) -> Result<Option<JsValue>, JsValue> {
    typed(o, key, t, &option_name(key))
}

/// One persisted session (from `sessions` or `setSession`), checked;
/// `what` names it in errors.
pub fn session_from(v: &JsValue, what: &str) -> Result<SessionState, JsValue> {
    if !is_plain_object(v) {
        return Err(must_be(what, "an object with a publicAccessToken"));
    }
    let field = |key: &str, t: Type| typed(v, key, t, &cat!(what, ".", key));
    let Some(token) = field("publicAccessToken", Type::String)?.and_then(|t| t.as_string()) else {
        return Err(must_be(&cat!(what, ".publicAccessToken"), "a string"));
    };
    // The cursor may also be given as a whole number; it is kept as a
    // string.
    let last = match whole_number(&prop(v, "lastEventId")) {
        Some(n) => Some(decimal(n)),
        None => field("lastEventId", Type::String)?.and_then(|s| s.as_string()),
    };
    let flag = |key: &str| -> Result<Option<bool>, JsValue> {
        Ok(field(key, Type::Boolean)?.and_then(|b| b.as_bool()))
    };
    let seq = |key: &str| -> Result<Option<u64>, JsValue> {
        Ok(field(key, Type::Whole)?.and_then(|n| whole_number(&n)))
    };
    let is_streaming = flag("isStreaming")?;
    let skip_to_turn_complete = flag("skipToTurnComplete")?.unwrap_or(false);
    let superseded_input_seq = seq("supersededInputSeq")?;
    let active_input_seq = seq("activeInputSeq")?;
    let gate_after_active = flag("gateAfterActiveSend")?.unwrap_or(false);
    let closed = flag("closed")?.unwrap_or(false);
    let closed_reason = field("closedReason", Type::String)?.and_then(|s| s.as_string());
    Ok(SessionState {
        public_access_token: token,
        last_event_id: last,
        is_streaming,
        skip_to_turn_complete,
        superseded_input_seq,
        active_input_seq,
        gate_after_active,
        closed,
        closed_reason,
    })
}

/// Option `key`: absent, or a plain object whose entries `read` checks;
/// its `(key, checked value)` pairs.
fn object_option<T>(
    o: &JsValue,
    key: &str,
    kind: &str,
    mut read: impl FnMut(&str, &JsValue) -> Result<T, JsValue>,
) -> Result<Vec<(String, T)>, JsValue> {
    let v = prop(o, key);
    if absent(&v) {
        return Ok(Vec::new());
    }
    if !is_plain_object(&v) {
        return Err(must_be(&option_name(key), kind));
    }
    let mut out = Vec::new();
    for e in sys::entries(&v)?.iter() {
        let k = prop(&e, "0").as_string().unwrap_or_default();
        let x = read(&k, &prop(&e, "1"))?;
        out.push((k, x));
    }
    Ok(out)
}

/// The transport's options, read and checked.
pub fn read(o: &JsValue) -> Result<Options, JsValue> {
    if !is_plain_object(o) {
        return Err(must_be("TriggerChatTransport: options", "an object"));
    }
    let task = prop(o, "task").as_string().filter(|t| !t.is_empty());
    let Some(task) = task else {
        return Err(must_be(
            &cat!(option_name("task"), " is required and"),
            "a non-empty string",
        ));
    };
    let Some(access_token) = option(o, "accessToken", Type::Function)? else {
        return Err(must_be(
            &cat!(option_name("accessToken"), " is required and"),
            "a function",
        ));
    };
    let base_url = prop(o, "baseURL");
    if !absent(&base_url) && !base_url.is_string() && !base_url.is_function() {
        return Err(must_be(&option_name("baseURL"), "a string or a function"));
    }
    let headers = object_option(o, "headers", "an object of strings", |k, v| {
        v.as_string()
            .ok_or_else(|| must_be(&option_name(&cat!("headers.", k)), "a string"))
    })?;
    let t = prop(o, "streamTimeoutSeconds");
    let timeout_seconds = if absent(&t) {
        DEFAULT_STREAM_TIMEOUT_SECONDS
    } else {
        match t.as_f64() {
            Some(t) if (1.0..=600.0).contains(&t) => (t + 0.5) as u32,
            _ => {
                return Err(must_be(
                    &option_name("streamTimeoutSeconds"),
                    "a number from 1 to 600",
                ))
            }
        }
    };
    let client_data = prop(o, "clientData");
    if !absent(&client_data) && !is_plain_object(&client_data) {
        return Err(must_be(&option_name("clientData"), "an object"));
    }
    let sessions = object_option(o, "sessions", "an object keyed by chat id", |chat_id, v| {
        session_from(v, &option_name(&cat!("sessions[\"", chat_id, "\"]")))
    })?;
    let start_session = option(o, "startSession", Type::Function)?;
    let stream_base_url = option(o, "streamBaseURL", Type::String)?.and_then(|s| s.as_string());
    let fetch = option(o, "fetch", Type::Function)?;
    let on_change = option(o, "onSessionChange", Type::Function)?;
    let on_event = option(o, "onEvent", Type::Function)?;
    let multi_tab = option(o, "multiTab", Type::Boolean)?.is_some_and(|b| b.is_truthy());
    let watch = option(o, "watch", Type::Boolean)?.is_some_and(|b| b.is_truthy());
    let head_start = option(o, "headStart", Type::String)?.and_then(|s| s.as_string());
    let offline_wait_ms = option(o, "offlineSendTimeoutMs", Type::Whole)?
        .and_then(|n| whole_number(&n))
        .unwrap_or(DEFAULT_OFFLINE_SEND_TIMEOUT_MS);
    let cfg = EngineConfig {
        watch,
        timeout_seconds,
        headers,
        has_start_session: start_session.is_some(),
        wants_events: on_event.is_some(),
    };
    let state = State {
        task,
        base_url,
        stream_base_url,
        callbacks: RefCell::new(Callbacks {
            access_token,
            start_session,
            fetch,
            on_event,
            on_change,
            client_data: if absent(&client_data) {
                JsValue::UNDEFINED
            } else {
                client_data
            },
        }),
        settled_by: RefCell::new(Vec::new()),
    };
    Ok(Options {
        cfg,
        sessions,
        state,
        multi_tab: multi_tab && !watch,
        head_start,
        offline_wait_ms,
    })
}

/// A chat id argument of `method`.
pub fn chat_id_arg(v: &JsValue, method: &str) -> Result<String, JsValue> {
    match v.as_string() {
        Some(s) if !s.is_empty() => Ok(s),
        _ => Err(must_be(&arg_name(method, "`chatId`"), "a non-empty string")),
    }
}

/// An abort signal argument of `method` (absent: none).
pub fn signal_arg(v: &JsValue, method: &str) -> Result<Option<JsValue>, JsValue> {
    if absent(v) {
        return Ok(None);
    }
    if !is_object(v) || prop(v, "aborted").as_bool().is_none() {
        return Err(must_be(
            &arg_name(method, "`abortSignal`"),
            "an AbortSignal",
        ));
    }
    Ok(Some(v.clone()))
}
