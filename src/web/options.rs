//! The transport's options, read once from the JS object and checked.
//! A wrong option is a `TypeError` that names it.

use crate::prelude::*;
use crate::session::SessionState;
use crate::text::decimal;
use core::cell::RefCell;
use js_sys::{Function, Object, Reflect};
use wasm_bindgen::{JsCast, JsValue};

/// `baseURL`: a fixed string or a function of `{endpoint, chatId}`.
pub enum BaseUrl {
    Fixed(String),
    Resolver(Function),
}

/// The transport's options, read and checked. The app's callbacks sit in
/// cells: `setAccessToken`, `setStartSession`, `setFetch` and `setOnEvent`
/// replace them on a live transport, and every use reads the current one.
pub struct Options {
    pub task: String,
    pub access_token: RefCell<Function>,
    pub start_session: RefCell<Option<Function>>,
    pub base_url: BaseUrl,
    pub stream_base_url: Option<String>,
    pub fetch: RefCell<Option<Function>>,
    pub headers: Vec<(String, String)>,
    pub stream_timeout_seconds: u32,
    pub client_data: JsValue,
    pub sessions: Vec<(String, SessionState)>,
    pub on_session_change: Option<Function>,
    pub on_event: RefCell<Option<Function>>,
    pub multi_tab: bool,
    pub watch: bool,
    pub head_start: Option<String>,
}

pub const DEFAULT_BASE_URL: &str = "https://api.trigger.dev";

pub fn get(obj: &JsValue, key: &str) -> JsValue {
    Reflect::get(obj, &key.into()).unwrap_or(JsValue::UNDEFINED)
}

fn absent(v: &JsValue) -> bool {
    v.is_undefined() || v.is_null()
}

/// `obj[key]`, absent (`undefined` or `null`), or read by `read` as `kind`;
/// the error names the field with `name(key)`.
fn typed<T>(
    obj: &JsValue,
    key: &str,
    read: fn(&JsValue) -> Option<T>,
    kind: &str,
    name: &dyn Fn(&str) -> String,
) -> Result<Option<T>, String> {
    let v = get(obj, key);
    if absent(&v) {
        return Ok(None);
    }
    read(&v)
        .map(Some)
        .ok_or_else(|| cat!(name(key), " must be ", kind))
}

fn option_name(key: &str) -> String {
    cat!("TriggerChatTransport: option `", key, "`")
}

fn as_function(v: &JsValue) -> Option<Function> {
    v.dyn_ref::<Function>().cloned()
}

/// A whole, non-negative number that a `u64` holds exactly.
fn whole_number(v: &JsValue) -> Option<u64> {
    v.as_f64()
        .filter(|&n| (0.0..9.0e15).contains(&n) && n == (n as u64) as f64)
        .map(|n| n as u64)
}

fn opt_string(obj: &JsValue, key: &str) -> Result<Option<String>, String> {
    typed(obj, key, JsValue::as_string, "a string", &option_name)
}

fn opt_function(obj: &JsValue, key: &str) -> Result<Option<Function>, String> {
    typed(obj, key, as_function, "a function", &option_name)
}

fn opt_bool(obj: &JsValue, key: &str) -> Result<bool, String> {
    Ok(typed(obj, key, JsValue::as_bool, "a boolean", &option_name)?.unwrap_or(false))
}

/// `Object.entries(obj)`, keys as strings.
fn entries(obj: &JsValue) -> impl Iterator<Item = (Option<String>, JsValue)> {
    Object::entries(obj.unchecked_ref())
        .into_iter()
        .map(|entry| {
            let pair: js_sys::Array = entry.unchecked_into();
            (pair.get(0).as_string(), pair.get(1))
        })
}

fn is_plain_object(v: &JsValue) -> bool {
    v.is_object() && !js_sys::Array::is_array(v) && !v.is_function()
}

/// One persisted session, from `sessions` or `setSession`.
pub fn session_from_js(v: &JsValue, what: &str) -> Result<SessionState, String> {
    if !is_plain_object(v) {
        return Err(cat!(what, " must be an object with a publicAccessToken"));
    }
    let token = get(v, "publicAccessToken")
        .as_string()
        .ok_or_else(|| cat!(what, ".publicAccessToken must be a string"))?;
    let last = get(v, "lastEventId");
    let last_event_id = if absent(&last) {
        None
    } else if let Some(s) = last.as_string() {
        Some(s)
    } else if let Some(n) = whole_number(&last) {
        // A cursor stored as a number: a whole seq_num.
        Some(decimal(n))
    } else {
        return Err(cat!(what, ".lastEventId must be a string"));
    };
    let name = |key: &str| cat!(what, ".", key);
    Ok(SessionState {
        public_access_token: token,
        last_event_id,
        is_streaming: typed(v, "isStreaming", JsValue::as_bool, "a boolean", &name)?,
        skip_to_turn_complete: typed(
            v,
            "skipToTurnComplete",
            JsValue::as_bool,
            "a boolean",
            &name,
        )?
        .unwrap_or(false),
        superseded_input_seq: typed(
            v,
            "supersededInputSeq",
            whole_number,
            "a whole number",
            &name,
        )?,
        active_input_seq: typed(v, "activeInputSeq", whole_number, "a whole number", &name)?,
        closed: typed(v, "closed", JsValue::as_bool, "a boolean", &name)?.unwrap_or(false),
        closed_reason: typed(v, "closedReason", JsValue::as_string, "a string", &name)?,
    })
}

/// Reads and checks the options object.
pub fn parse(o: &JsValue) -> Result<Options, String> {
    if !is_plain_object(o) {
        return Err("TriggerChatTransport: options must be an object".into());
    }
    let task =
        match get(o, "task").as_string() {
            Some(t) if !t.is_empty() => t,
            _ => return Err(
                "TriggerChatTransport: option `task` is required and must be a non-empty string"
                    .into(),
            ),
        };
    let access_token = opt_function(o, "accessToken")?
        .ok_or("TriggerChatTransport: option `accessToken` is required and must be a function")?;
    let base = get(o, "baseURL");
    let base_url = if absent(&base) {
        BaseUrl::Fixed(DEFAULT_BASE_URL.into())
    } else if let Some(s) = base.as_string() {
        BaseUrl::Fixed(s)
    } else if let Some(f) = base.dyn_ref::<Function>() {
        BaseUrl::Resolver(f.clone())
    } else {
        return Err("TriggerChatTransport: option `baseURL` must be a string or a function".into());
    };
    let h = get(o, "headers");
    let mut headers = Vec::new();
    if !absent(&h) {
        if !is_plain_object(&h) {
            return Err(
                "TriggerChatTransport: option `headers` must be an object of strings".into(),
            );
        }
        for (k, v) in entries(&h) {
            match (k, v.as_string()) {
                (Some(k), Some(v)) => headers.push((k, v)),
                (Some(k), None) => {
                    return Err(cat!(
                        "TriggerChatTransport: option `headers.",
                        k,
                        "` must be a string"
                    ))
                }
                _ => {}
            }
        }
    }
    let t = get(o, "streamTimeoutSeconds");
    let stream_timeout_seconds = if absent(&t) {
        crate::session::DEFAULT_TIMEOUT_SECONDS
    } else {
        match t.as_f64() {
            // Rounded to the nearest second (`f64::round` is not in `core`).
            Some(n) if (1.0..=600.0).contains(&n) => (n + 0.5) as u32,
            _ => {
                return Err(
                    "TriggerChatTransport: option `streamTimeoutSeconds` must be a number from 1 to 600".into(),
                )
            }
        }
    };
    let client_data = get(o, "clientData");
    if !absent(&client_data) && !is_plain_object(&client_data) {
        return Err("TriggerChatTransport: option `clientData` must be an object".into());
    }
    let s = get(o, "sessions");
    let mut sessions = Vec::new();
    if !absent(&s) {
        if !is_plain_object(&s) {
            return Err(
                "TriggerChatTransport: option `sessions` must be an object keyed by chat id".into(),
            );
        }
        for (chat_id, v) in entries(&s) {
            let Some(chat_id) = chat_id else { continue };
            let what = cat!("TriggerChatTransport: option `sessions[\"", chat_id, "\"]`");
            sessions.push((chat_id, session_from_js(&v, &what)?));
        }
    }
    Ok(Options {
        task,
        access_token: RefCell::new(access_token),
        start_session: RefCell::new(opt_function(o, "startSession")?),
        base_url,
        stream_base_url: opt_string(o, "streamBaseURL")?,
        fetch: RefCell::new(opt_function(o, "fetch")?),
        headers,
        stream_timeout_seconds,
        client_data: if absent(&client_data) {
            JsValue::UNDEFINED
        } else {
            client_data
        },
        sessions,
        on_session_change: opt_function(o, "onSessionChange")?,
        on_event: RefCell::new(opt_function(o, "onEvent")?),
        multi_tab: opt_bool(o, "multiTab")?,
        watch: opt_bool(o, "watch")?,
        head_start: opt_string(o, "headStart")?,
    })
}
