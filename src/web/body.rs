//! Response bodies as byte streams.

use super::sys;
use crate::prelude::*;
use js_sys::Uint8Array;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;

/// One read from a body.
pub enum Read {
    /// These bytes were copied into the caller's buffer.
    Bytes,
    /// The body ended.
    Eof,
    /// Nothing arrived in time.
    Stall,
    /// The stream was aborted while waiting.
    Aborted,
}

/// A body being read; cancels the body when dropped.
pub struct Body {
    reader: JsValue,
}

impl Body {
    /// The body of `response`, or `None` when it has none.
    pub fn of(response: &JsValue) -> Option<Body> {
        let reader = sys::get_reader(response);
        (!reader.is_undefined()).then_some(Body { reader })
    }

    /// Reads the next piece into `buf` (replacing its contents), waiting at
    /// most `stall_ms`, and giving up when `signal` aborts. A read that
    /// fails gives the JS error.
    pub async fn read(
        &mut self,
        buf: &mut Vec<u8>,
        stall_ms: u64,
        signal: &web_sys::AbortSignal,
    ) -> Result<Read, JsValue> {
        let v = JsFuture::from(sys::read_or_stall(&self.reader, stall_ms as f64, signal)).await?;
        if v.is_undefined() {
            return Ok(Read::Eof);
        }
        if v.is_null() {
            return Ok(Read::Stall);
        }
        if v.as_bool() == Some(false) {
            return Ok(Read::Aborted);
        }
        // `read_or_stall` resolves to a Uint8Array of this realm here.
        let arr: &Uint8Array = v.unchecked_ref();
        let n = arr.length() as usize;
        buf.clear();
        buf.resize(n, 0);
        arr.copy_to(buf);
        Ok(Read::Bytes)
    }
}

impl Drop for Body {
    fn drop(&mut self) {
        sys::cancel_reader(&self.reader);
    }
}
