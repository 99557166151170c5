//! trigger-chat-wasm
