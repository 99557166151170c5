// Browser entry: instantiate the wasm module once, before any transport is
// built, so the constructor stays synchronous. The exports are this
// module's own bindings, so bundlers that honour `sideEffects: false` keep
// the instantiation with them.
import init from "./wasm/trigger_chat_wasm.js";
import { TriggerChatTransport as Transport } from "./transport.js";

await init({ module_or_path: new URL("./wasm/trigger_chat_wasm_bg.wasm", import.meta.url) });

export const TriggerChatTransport = Transport;

export function createChatTransport(options) {
  return new TriggerChatTransport(options);
}
