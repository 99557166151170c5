//! HTTP requests through the app's `fetch` override or `globalThis.fetch`,
//! with `(url, init)` arguments a test double can inspect: `init.headers`
//! is a plain object and `init.body` a string.

use super::errors::{describe, is_abort, is_named, Fail};
use super::sys;
use crate::error::Error;
use crate::prelude::*;
use crate::wire::{Endpoint, Headers};
use js_sys::{Function, Object, Reflect};
use wasm_bindgen::JsValue;
use wasm_bindgen_futures::JsFuture;

/// A request to send.
pub struct Request<'a> {
    pub url: &'a str,
    pub method: Option<&'a str>,
    pub headers: &'a Headers,
    pub body: Option<&'a str>,
    pub signal: Option<&'a web_sys::AbortSignal>,
}

fn set(obj: &Object, k: &str, v: &JsValue) {
    let _ = Reflect::set(obj, &k.into(), v);
}

fn init_of(req: &Request<'_>) -> Object {
    let init = Object::new();
    if let Some(m) = req.method {
        set(&init, "method", &m.into());
    }
    let headers = Object::new();
    for (k, v) in req.headers {
        set(&headers, k, &v.into());
    }
    set(&init, "headers", &headers);
    if let Some(b) = req.body {
        set(&init, "body", &b.into());
    }
    if let Some(s) = req.signal {
        set(&init, "signal", s);
    }
    init
}

/// `{endpoint, chatId}`, the context handed to `baseURL` and `fetch`.
pub fn endpoint_ctx(endpoint: Endpoint, chat_id: &str) -> JsValue {
    let ctx = Object::new();
    set(&ctx, "endpoint", &endpoint.as_str().into());
    set(&ctx, "chatId", &chat_id.into());
    ctx.into()
}

/// Sends `req` and resolves to the `Response`. A fetch that rejects with a
/// `TypeError` is a network error, an `AbortError` is [`Error::Aborted`],
/// and anything else thrown is passed on as it is.
pub async fn send(
    override_fetch: Option<&Function>,
    ctx: Option<&JsValue>,
    req: &Request<'_>,
) -> Result<JsValue, Fail> {
    let init = init_of(req);
    let promise = match override_fetch {
        Some(f) => sys::call_promise(
            f,
            &js_sys::Array::of3(&req.url.into(), &init, ctx.unwrap_or(&JsValue::UNDEFINED)),
        ),
        None => match sys::global_fetch(req.url, &init) {
            Ok(v) => js_sys::Promise::resolve(&v),
            Err(e) => js_sys::Promise::reject(&e),
        },
    };
    match JsFuture::from(promise).await {
        Ok(resp) if resp.is_object() => Ok(resp),
        Ok(_) => {
            Err(Error::Protocol("fetch resolved to something other than a Response".into()).into())
        }
        Err(e) if is_abort(&e) => Err(Error::Aborted.into()),
        // fetch itself rejects with a TypeError when the network fails;
        // anything else was thrown by the app's own code and passes through.
        Err(e) if is_named(&e, "TypeError") => Err(Error::Network(describe(&e)).into()),
        Err(e) => Err(Fail::Js(e)),
    }
}

/// `response.status`, 0 when absent.
pub fn status(resp: &JsValue) -> u16 {
    Reflect::get(resp, &"status".into())
        .ok()
        .and_then(|v| v.as_f64())
        .filter(|n| (0.0..=999.0).contains(n))
        .map(|n| n as u16)
        .unwrap_or(0)
}

/// The body of a response as text, `""` when it cannot be read.
pub async fn text(resp: &JsValue) -> String {
    JsFuture::from(sys::response_text(resp))
        .await
        .ok()
        .and_then(|v| v.as_string())
        .unwrap_or_default()
}
