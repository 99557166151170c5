//! The browser side: fetch, response bodies, timers, and the loop that
//! drives the core's state machines. Exists only on wasm32.

pub(crate) mod body;
pub(crate) mod errors;
pub(crate) mod fetch;
pub(crate) mod options;
pub(crate) mod runner;
pub(crate) mod sys;
