//! The codec of trigger-chat-wasm: everything a byte of `.out` goes through
//! before it is a chunk for the app, and nothing else. SSE framing
//! ([`sse`]), a JSON reader that lends out raw text ([`json`]), S2 `batch`
//! and record decoding ([`records`]), the filter of replayed part ids
//! ([`seen`]), and the one error type ([`error`]).
//!
//! It is its own crate so that it can be built for speed (`opt-level = 3`)
//! while the rest of the module is built for size. `core` and `alloc` only.

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

#[macro_use]
pub mod text;
pub mod error;
pub mod json;
pub mod records;
pub mod seen;
pub mod sse;

pub use error::Error;
