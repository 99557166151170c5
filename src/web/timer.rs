//! Sleeps that end early when their signal aborts.

use super::sys;
use wasm_bindgen_futures::JsFuture;

/// Waits `ms` milliseconds, or less if `signal` aborts first.
pub async fn sleep(ms: u64, signal: &web_sys::AbortSignal) {
    // The promise never rejects.
    let _ = JsFuture::from(sys::sleep(ms as f64, signal)).await;
}
