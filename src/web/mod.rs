//! The browser layer (wasm32, feature `web`): the [`crate::runner`]'s host
//! over `fetch`, timers, abort controllers and the app's callbacks
//! (`host`), the options and arguments the app hands in (`options`), and
//! the module's only exports (`bindings`).

mod bindings;
mod host;
mod js;
mod options;
mod sys;

pub use bindings::{ChunkSource, Transport};
