//! Failures in the web layer, and the one place that turns them into
//! JavaScript errors.

use crate::error::Error;
use crate::prelude::*;
use js_sys::Reflect;
use wasm_bindgen::{JsCast, JsValue};

/// A failure: the core's, or one thrown by the app's own code (a callback
/// or a fetch override), which is passed on untouched.
#[derive(Debug, Clone)]
pub enum Fail {
    Core(Error),
    Js(JsValue),
}

impl From<Error> for Fail {
    fn from(e: Error) -> Self {
        Fail::Core(e)
    }
}

impl Fail {
    pub fn into_js(self) -> JsValue {
        match self {
            Fail::Core(e) => to_js_error(&e),
            Fail::Js(v) => v,
        }
    }
}

/// Whether a thrown value is an `AbortError` (the fetch or read was aborted).
pub fn is_abort(v: &JsValue) -> bool {
    is_named(v, "AbortError")
}

/// Whether a thrown value's `name` is `name` (no `instanceof`: errors from
/// another realm count too).
pub fn is_named(v: &JsValue, name: &str) -> bool {
    Reflect::get(v, &"name".into())
        .ok()
        .and_then(|n| n.as_string())
        .is_some_and(|n| n == name)
}

/// A short description of a thrown value, for network error messages.
pub fn describe(v: &JsValue) -> String {
    if let Some(e) = v.dyn_ref::<js_sys::Error>() {
        return String::from(e.message());
    }
    v.as_string().unwrap_or_else(|| "unknown error".into())
}

/// The JS form of a core error: an `Error` (a `TypeError` for API misuse)
/// with `code`, `retryable` and, for HTTP failures, `status` and the name
/// `TriggerApiError`, the shape the vendor's callers look for.
pub fn to_js_error(e: &Error) -> JsValue {
    let msg = e.message();
    let err: js_sys::Error = match e {
        Error::Misuse(_) => js_sys::TypeError::new(&msg).unchecked_into(),
        _ => js_sys::Error::new(&msg),
    };
    let obj: &JsValue = err.as_ref();
    let set = |k: &str, v: JsValue| {
        let _ = Reflect::set(obj, &k.into(), &v);
    };
    set("code", e.code().into());
    set("retryable", e.is_retryable().into());
    if let Error::SessionClosed {
        reason: Some(r), ..
    } = e
    {
        set("closedReason", r.as_str().into());
    }
    if let Some(status) = e.status() {
        set("status", status.into());
        err.set_name("TriggerApiError");
    } else if matches!(e, Error::Aborted) {
        err.set_name("AbortError");
    }
    err.into()
}

/// A `TypeError` naming the offending option or argument.
pub fn type_error(msg: &str) -> JsValue {
    to_js_error(&Error::Misuse(msg.to_owned()))
}
