//! trigger-chat-wasm: the browser chat transport for Trigger.dev chat agents.
//!
//! The protocol core (SSE framing, records, wire payloads, session state,
//! retry policy) is pure Rust and builds and tests natively. The web layer
//! (`web/`) and the JavaScript facade (`bindings`) exist only on wasm32.

pub mod error;
pub mod json;
pub mod records;
pub mod retry;
pub mod session;
pub mod sse;
pub mod wire;

#[cfg(target_arch = "wasm32")]
pub mod bindings;
#[cfg(target_arch = "wasm32")]
mod web;

pub use error::Error;
pub use records::{decode_batch, decode_ui_stream_event, Control, Record, UiStreamEvent};
pub use retry::Backoff;
pub use session::{Action, SessionEvent, SessionState, Subscription, SubscriptionConfig};
pub use sse::{SseDecoder, SseEvent};
pub use wire::{Endpoint, OutRequest, Trigger};
