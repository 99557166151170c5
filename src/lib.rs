//! trigger-chat-wasm: the browser chat transport for Trigger.dev chat agents.
//!
//! The protocol core (SSE framing, records, wire payloads, session state,
//! retry policy, the whole transport as one engine) is pure Rust and builds
//! and tests natively, and so does `runner`, the effect runner that drives
//! the engine over a host trait. The browser host and the module's exports
//! (`web`, a `#[wasm_bindgen]` transport) exist only on wasm32 with the
//! `web` feature.
//!
//! The crate uses `core` and `alloc` only. Built for wasm32 without the
//! `std` feature (the module as shipped) it is `no_std`: a panic traps,
//! and none of the standard library's message formatting is linked in.

#![cfg_attr(all(target_arch = "wasm32", not(feature = "std")), no_std)]

extern crate alloc;

/// What the standard prelude would bring, for the `no_std` build.
mod prelude {
    // Not every item is used in every build (`Box` only by the web layer).
    #![allow(unused_imports)]
    pub use alloc::borrow::ToOwned;
    pub use alloc::boxed::Box;
    pub use alloc::string::{String, ToString};
    pub use alloc::vec;
    pub use alloc::vec::Vec;
}

#[cfg(all(target_arch = "wasm32", not(feature = "std")))]
#[panic_handler]
fn panic(_: &core::panic::PanicInfo<'_>) -> ! {
    core::arch::wasm32::unreachable()
}

#[macro_use]
extern crate trigger_chat_codec;
/// Coverage marks (native builds only: nothing of them is in the module).
#[cfg(not(target_arch = "wasm32"))]
pub use trigger_chat_codec::marks;
pub use trigger_chat_codec::{error, json, records, retry, seen, session, sse, text, wire};

pub mod engine;
pub mod runner;

#[cfg(all(target_arch = "wasm32", feature = "web"))]
pub mod web;

/// A free list (first fit by address, neighbours merged on free) instead of
/// the standard library's dlmalloc: the transport keeps few blocks alive, so
/// the list stays short; 0.5 KB gzip smaller than talc and as fast in the
/// benchmarks (README, Decisions).
#[cfg(all(target_arch = "wasm32", not(target_feature = "atomics")))]
#[global_allocator]
// SAFETY: the module is single-threaded (no `atomics` target feature, the
// condition above), which is all `AssumeSingleThreaded` asks.
static ALLOC: lol_alloc::AssumeSingleThreaded<lol_alloc::FreeListAllocator> =
    unsafe { lol_alloc::AssumeSingleThreaded::new(lol_alloc::FreeListAllocator::new()) };

pub use error::Error;
pub use records::{decode_batch, decode_ui_stream_event, Control, Record, UiStreamEvent};
pub use retry::Backoff;
pub use session::{Action, SessionEvent, SessionState, Subscription, SubscriptionConfig};
pub use sse::{SseDecoder, SseEvent};
pub use wire::{Endpoint, OutRequest};
