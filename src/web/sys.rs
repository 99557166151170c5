//! Raw bindings to what the browser (or Node) provides. Everything is looked
//! up at call time, so tests can replace `globalThis.fetch`.

use crate::prelude::*;
use js_sys::{Object, Promise};
use wasm_bindgen::prelude::*;

#[wasm_bindgen]
extern "C" {
    /// `globalThis.fetch(url, init)`. Throws (caught) when there is none.
    #[wasm_bindgen(catch, js_namespace = globalThis, js_name = fetch)]
    pub fn global_fetch(url: &str, init: &Object) -> Result<JsValue, JsValue>;
}

// Small combinators that would take many more bytes of glue in Rust.
#[wasm_bindgen(inline_js = r#"
export function sleep(ms, signal) {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const done = () => { clearTimeout(t); signal.removeEventListener("abort", done); resolve(); };
    const t = setTimeout(done, ms);
    signal.addEventListener("abort", done);
  });
}
export function read_or_stall(q, ms, signal) {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return resolve(false);
    const take = () => {
      if (q.chunks.length > 0) {
        const cs = q.chunks;
        q.chunks = [];
        if (cs.length === 1) return resolve(cs[0]);
        let n = 0;
        for (const c of cs) n += c.byteLength;
        const all = new Uint8Array(n);
        n = 0;
        for (const c of cs) { all.set(c, n); n += c.byteLength; }
        return resolve(all);
      }
      if (q.err !== null) return reject(q.err);
      if (q.done) return resolve(undefined);
      return null;
    };
    if (take() !== null) return;
    const done = () => { clearTimeout(t); signal.removeEventListener("abort", onAbort); q.wake = null; };
    const onAbort = () => { done(); cancel_reader(q); resolve(false); };
    const t = setTimeout(() => { done(); resolve(null); }, ms);
    signal.addEventListener("abort", onAbort);
    q.wake = () => { done(); take(); };
  });
}
export function random_uuid() {
  const c = globalThis.crypto;
  if (c && typeof c.randomUUID === "function") return c.randomUUID();
  const b = new Uint8Array(16);
  if (c && typeof c.getRandomValues === "function") c.getRandomValues(b);
  else for (let i = 0; i < 16; i++) b[i] = Math.floor(Math.random() * 256);
  b[6] = (b[6] & 15) | 64; b[8] = (b[8] & 63) | 128;
  const h = Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}
export function header_of(response, name) {
  try { const v = response.headers.get(name); return v == null ? undefined : String(v); }
  catch { return undefined; }
}
export function call_promise(f, args) {
  try { return Promise.resolve(f(...args)); }
  catch (e) { return Promise.reject(e); }
}
export function get_reader(response) {
  const body = response && response.body;
  if (!body || typeof body.getReader !== "function") return undefined;
  // The body is drained as fast as it arrives, whatever the app's pace:
  // a stream that errors (a cut connection) drops what it still holds, so
  // bytes that arrived before the cut are taken out first.
  const r = body.getReader();
  const q = { r, chunks: [], done: false, err: null, wake: null, cancelled: false };
  const poke = () => { if (q.wake) q.wake(); };
  const pump = () => r.read().then((x) => {
    if (x.done) q.done = true;
    else {
      // Checked without instanceof: bytes from another realm (an iframe,
      // jsdom) are still bytes.
      const v = x.value;
      if (v instanceof Uint8Array) q.chunks.push(v);
      else if (ArrayBuffer.isView(v)) q.chunks.push(new Uint8Array(v.buffer, v.byteOffset, v.byteLength));
      else q.err = new TypeError("the response body yielded something other than bytes");
    }
    poke();
    if (!x.done && q.err === null && !q.cancelled) pump();
  }, (e) => { if (!q.cancelled) q.err = e; poke(); });
  pump();
  return q;
}
export function cancel_reader(q) {
  q.cancelled = true;
  q.chunks = [];
  try { q.r.cancel().catch(() => {}); } catch {}
}
export function response_text(response) {
  try { return Promise.resolve(response.text()).catch(() => ""); } catch { return Promise.resolve(""); }
}
export function now_ms() { return Date.now(); }
export function settle(p, signal) {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve({ a: 1 });
    const onAbort = () => resolve({ a: 1 });
    signal.addEventListener("abort", onAbort);
    p.then(
      (v) => { signal.removeEventListener("abort", onAbort); resolve({ v }); },
      (e) => { signal.removeEventListener("abort", onAbort); resolve({ e, f: 1 }); },
    );
  });
}
export function deferred() {
  let resolve;
  const promise = new Promise((r) => { resolve = r; });
  return { promise, resolve };
}
export function watch_wake(callback) {
  const g = globalThis;
  const doc = g.document;
  if (typeof g.addEventListener !== "function" || !doc) return () => {};
  let hiddenSince = 0;
  const onVisibility = () => {
    if (doc.visibilityState === "hidden") { hiddenSince = Date.now(); return; }
    const away = hiddenSince ? Date.now() - hiddenSince : 0;
    hiddenSince = 0;
    callback(away >= 30000);
  };
  const onOnline = () => callback(true);
  const onPageShow = (e) => { if (e.persisted) callback(true); };
  doc.addEventListener("visibilitychange", onVisibility);
  g.addEventListener("online", onOnline);
  g.addEventListener("pageshow", onPageShow);
  return () => {
    doc.removeEventListener("visibilitychange", onVisibility);
    g.removeEventListener("online", onOnline);
    g.removeEventListener("pageshow", onPageShow);
  };
}
"#)]
extern "C" {
    /// Resolves after `ms`, or as soon as `signal` aborts.
    pub fn sleep(ms: f64, signal: &web_sys::AbortSignal) -> Promise;
    /// Resolves to the bytes that arrived since the last read (a
    /// `Uint8Array`, several network chunks joined), `undefined` at the end,
    /// `null` when nothing arrived within `ms`, or `false` when `signal`
    /// aborted (the body is cancelled then); rejects with the body's error
    /// once every byte before it was taken.
    pub fn read_or_stall(reader: &JsValue, ms: f64, signal: &web_sys::AbortSignal) -> Promise;
    pub fn random_uuid() -> String;
    /// A response header, or `undefined`; never throws.
    pub fn header_of(response: &JsValue, name: &str) -> Option<String>;
    /// Calls `f` and turns whatever happens (a value, a promise, a throw)
    /// into a promise.
    pub fn call_promise(f: &JsValue, args: &js_sys::Array) -> Promise;
    /// A reader that drains `response.body` as fast as it arrives, or
    /// `undefined` when there is no body.
    pub fn get_reader(response: &JsValue) -> JsValue;
    pub fn cancel_reader(reader: &JsValue);
    /// `response.text()`, or `""` when it fails.
    pub fn response_text(response: &JsValue) -> Promise;
    pub fn now_ms() -> f64;
    /// Resolves to `{v}` when `p` resolves, `{e, f: 1}` when it rejects,
    /// `{a: 1}` as soon as `signal` aborts; never rejects.
    pub fn settle(p: &Promise, signal: &web_sys::AbortSignal) -> Promise;
    /// `{promise, resolve}`: a promise resolved from elsewhere.
    pub fn deferred() -> JsValue;
    /// Calls `callback(force)` on browser wake events: `true` when the
    /// connection is likely dead (back online, shown after 30 s hidden,
    /// restored from the back-forward cache), `false` for a cheap wake (a
    /// tab shown again). Returns a function that removes the listeners.
    pub fn watch_wake(callback: &JsValue) -> js_sys::Function;
}
