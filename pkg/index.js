// Browser entry: instantiate the wasm module once, before any transport is
// built, so the constructor stays synchronous.
import init from "./wasm/trigger_chat_wasm.js";

await init({ module_or_path: new URL("./wasm/trigger_chat_wasm_bg.wasm", import.meta.url) });

export { TriggerChatTransport, createChatTransport } from "./transport.js";
