//! Small helpers over JavaScript values: reading the app's objects without
//! trusting them (a getter may throw, a value may be anything), building
//! plain objects, calling the app's functions, and the errors the app sees.

use js_sys::{Array, Object, Promise};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;

use super::sys;
use crate::error::Error;
use crate::prelude::*;

/// `undefined` or `null`.
pub fn absent(v: &JsValue) -> bool {
    v.is_undefined() || v.is_null()
}

/// `typeof v === "object" && v !== null`.
pub fn is_object(v: &JsValue) -> bool {
    v.is_object()
}

/// An object that is not an array.
pub fn is_plain_object(v: &JsValue) -> bool {
    v.is_object() && !sys::is_array(v)
}

/// `obj[key]`, or `undefined` when `obj` has no properties to read or the
/// read throws.
pub fn prop(obj: &JsValue, key: &str) -> JsValue {
    if !obj.is_object() && !obj.is_function() {
        return JsValue::UNDEFINED;
    }
    sys::get(obj, key).unwrap_or(JsValue::UNDEFINED)
}

/// `obj[key]` if it is a string.
pub fn prop_str(obj: &JsValue, key: &str) -> Option<String> {
    prop(obj, key).as_string()
}

/// Whether `v` is an object whose `name` is `name`.
pub fn named(v: &JsValue, name: &str) -> bool {
    is_object(v) && prop(v, "name").as_string().as_deref() == Some(name)
}

/// A short description of a thrown value, for error messages.
pub fn describe(v: &JsValue) -> String {
    if v.is_instance_of::<js_sys::Error>() {
        return sys::string(&prop(v, "message")).unwrap_or_default();
    }
    v.as_string().unwrap_or_else(|| "unknown error".into())
}

/// `o[key] = value` on an object of ours.
pub fn set(o: &JsValue, key: &str, value: &JsValue) {
    let _ = sys::set(o, key, value);
}

/// A fresh `{}`.
pub fn object() -> JsValue {
    Object::new().into()
}

/// `String(v)`, `""` if that throws.
pub fn string(v: &JsValue) -> String {
    sys::string(v).unwrap_or_default()
}

/// Calls `f(...args)` with `this` undefined.
pub fn call(f: &JsValue, args: &[&JsValue]) -> Result<JsValue, JsValue> {
    let a = Array::new();
    for v in args {
        a.push(v);
    }
    sys::apply(f, &JsValue::UNDEFINED, &a)
}

/// Calls `f(...args)`; whatever happens (a value, a promise, a throw)
/// becomes a promise.
pub fn call_promise(f: &JsValue, args: &[&JsValue]) -> Promise {
    match call(f, args) {
        Ok(v) => js_sys::Promise::resolve(&v),
        Err(e) => Promise::reject(&e),
    }
}

/// The JSON text of `v`; `None` when JSON has nothing for it.
pub fn stringify(v: &JsValue) -> Result<Option<String>, JsValue> {
    sys::json_stringify(v).map(|s| s.as_string())
}

/// The error the app sees, with the shape the vendor's callers look for:
/// `code`, `retryable`, and for HTTP failures `status` and the name
/// `TriggerApiError`; a `TypeError` for API misuse.
pub fn make_error(
    code: &str,
    message: &str,
    retryable: bool,
    status: Option<JsValue>,
    closed_reason: Option<JsValue>,
) -> JsValue {
    let err: JsValue = if code == "MISUSE" {
        js_sys::TypeError::new(message).into()
    } else {
        js_sys::Error::new(message).into()
    };
    set(&err, "code", &code.into());
    set(&err, "retryable", &retryable.into());
    if let Some(r) = closed_reason {
        set(&err, "closedReason", &r);
    }
    if let Some(s) = status {
        set(&err, "status", &s);
        set(&err, "name", &"TriggerApiError".into());
    } else if code == "ABORTED" {
        set(&err, "name", &"AbortError".into());
    }
    err
}

/// A core error as the app sees it: built from its JSON (what events
/// carry), so that one path builds every error.
pub fn error(e: &Error) -> JsValue {
    error_from(&sys::json_parse(&e.json()).unwrap_or(JsValue::UNDEFINED))
}

/// An error described by the engine's JSON object (`{code, message,
/// retryable, status?, closedReason?}`), as the app sees it.
pub fn error_from(o: &JsValue) -> JsValue {
    let present = |k: &str| Some(prop(o, k)).filter(|v| !v.is_undefined());
    make_error(
        &prop_str(o, "code").unwrap_or_default(),
        &prop_str(o, "message").unwrap_or_default(),
        prop(o, "retryable").as_bool().unwrap_or(false),
        present("status"),
        present("closedReason"),
    )
}

/// API misuse: a `TypeError` saying "`name` must be `what`".
pub fn must_be(name: &str, what: &str) -> JsValue {
    misuse(&cat!(name, " must be ", what))
}

pub fn misuse(message: &str) -> JsValue {
    make_error("MISUSE", message, false, None, None)
}

/// `TriggerChatTransport: option \`key\``.
pub fn option_name(key: &str) -> String {
    cat!("TriggerChatTransport: option `", key, "`")
}

/// `arg` (an argument, or the start of what is wrong) in a call of
/// `method`.
pub fn arg_name(method: &str, arg: &str) -> String {
    cat!("TriggerChatTransport.", method, ": ", arg)
}

/// `v` as a function, if it is one.
pub fn function(v: &JsValue) -> Option<js_sys::Function> {
    v.clone().dyn_into().ok()
}

/// The last element of an array (`undefined` when it is empty).
pub fn last_of(a: &JsValue) -> JsValue {
    let n = prop(a, "length").as_f64().unwrap_or(0.0);
    if n < 1.0 {
        return JsValue::UNDEFINED;
    }
    sys::get(a, &crate::text::decimal(n as u64 - 1)).unwrap_or(JsValue::UNDEFINED)
}
