//! Raw bindings to what the web layer calls by name. Globals are looked up
//! at call time (`js_namespace = globalThis`), so a `fetch` or timer that
//! the app or a test installs later is the one used. The calls that may
//! throw on values the app handed in are `catch`: a throw is an `Err`,
//! never a panic.

use js_sys::Array;

use crate::prelude::*;
use wasm_bindgen::prelude::*;

#[wasm_bindgen]
extern "C" {
    #[wasm_bindgen(js_namespace = globalThis, js_name = fetch, catch)]
    pub fn fetch(url: &str, init: &JsValue) -> Result<JsValue, JsValue>;
    #[wasm_bindgen(js_namespace = globalThis, js_name = setTimeout)]
    pub fn set_timeout(f: &JsValue, ms: f64) -> JsValue;
    #[wasm_bindgen(js_namespace = globalThis, js_name = clearTimeout)]
    pub fn clear_timeout(id: &JsValue);

    #[wasm_bindgen(js_namespace = Reflect, js_name = get, catch)]
    pub fn get(target: &JsValue, key: &str) -> Result<JsValue, JsValue>;
    #[wasm_bindgen(js_namespace = Reflect, js_name = set, catch)]
    pub fn set(target: &JsValue, key: &str, value: &JsValue) -> Result<JsValue, JsValue>;
    #[wasm_bindgen(js_namespace = Reflect, js_name = apply, catch)]
    pub fn apply(f: &JsValue, this: &JsValue, args: &Array) -> Result<JsValue, JsValue>;

    #[wasm_bindgen(js_namespace = JSON, js_name = parse, catch)]
    pub fn json_parse(text: &str) -> Result<JsValue, JsValue>;
    /// A string, or `undefined` when JSON has nothing for the value.
    #[wasm_bindgen(js_namespace = JSON, js_name = stringify, catch)]
    pub fn json_stringify(value: &JsValue) -> Result<JsValue, JsValue>;

    #[wasm_bindgen(js_namespace = Object, js_name = assign)]
    pub fn assign(target: &JsValue, source: &JsValue) -> JsValue;
    #[wasm_bindgen(js_namespace = Object, js_name = entries, catch)]
    pub fn entries(object: &JsValue) -> Result<Array, JsValue>;
    #[wasm_bindgen(js_namespace = Object, js_name = hasOwn, catch)]
    pub fn has_own(object: &JsValue, key: &str) -> Result<bool, JsValue>;
    #[wasm_bindgen(js_namespace = Array, js_name = isArray)]
    pub fn is_array(value: &JsValue) -> bool;
    #[wasm_bindgen(js_namespace = ArrayBuffer, js_name = isView)]
    pub fn is_view(value: &JsValue) -> bool;
    #[wasm_bindgen(js_namespace = Date, js_name = now)]
    pub fn now() -> f64;
    #[wasm_bindgen(js_namespace = Math, js_name = random)]
    pub fn random() -> f64;
    /// A copy target: `new Uint8Array(buffer, offset, length)`.
    #[wasm_bindgen(js_name = Uint8Array)]
    pub type View;
    /// Throws (an `Err`) on a detached or too short buffer.
    #[wasm_bindgen(constructor, js_class = "Uint8Array", catch)]
    pub fn new(buffer: &JsValue, offset: f64, length: f64) -> Result<View, JsValue>;

    /// `String(value)`.
    #[wasm_bindgen(js_name = String, catch)]
    pub fn string(value: &JsValue) -> Result<String, JsValue>;
}
