//! The protocol core of trigger-chat-wasm below the engine: everything a
//! byte of `.out` goes through before it is a chunk for the app. SSE
//! framing ([`sse`]), a JSON reader that lends out raw text ([`json`]), S2
//! `batch` and record decoding ([`records`]), the filter of replayed part
//! ids ([`seen`]), one stream's state machine ([`session`]: reconnects,
//! cursor, the stop gate), request headers and refusals ([`wire`]), retry
//! policy ([`retry`]) and the one error type ([`error`]).
//!
//! It is its own crate so that the read path can be built for speed
//! (`opt-level = 3`) while the engine above it is built for size. `core`
//! and `alloc` only; pure, so it builds and tests natively.

#![no_std]

extern crate alloc;
#[cfg(test)]
#[macro_use]
extern crate std;

/// What the standard prelude would bring, for `no_std`.
mod prelude {
    #![allow(unused_imports)]
    pub use alloc::borrow::ToOwned;
    pub use alloc::boxed::Box;
    pub use alloc::string::{String, ToString};
    pub use alloc::vec;
    pub use alloc::vec::Vec;
}

/// A coverage mark (see [`marks`]): counted in native builds, nothing on
/// wasm32.
#[macro_export]
macro_rules! mark {
    ($name:literal) => {{
        #[cfg(not(target_arch = "wasm32"))]
        $crate::marks::hit($name);
    }};
}

#[cfg(not(target_arch = "wasm32"))]
pub mod marks;
#[macro_use]
pub mod text;
pub mod error;
pub mod json;
pub mod records;
pub mod retry;
pub mod seen;
pub mod session;
pub mod sse;
pub mod wire;

pub use error::Error;
