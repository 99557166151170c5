// Node entry (server-side rendering, tests): load the wasm module from disk,
// synchronously. Exports are this module's own bindings (see index.js).
import { readFileSync } from "node:fs";
import { initSync } from "./wasm/trigger_chat_wasm.js";
import { TriggerChatTransport as Transport } from "./transport.js";

initSync({ module: readFileSync(new URL("./wasm/trigger_chat_wasm_bg.wasm", import.meta.url)) });

export const TriggerChatTransport = Transport;

export function createChatTransport(options) {
  return new TriggerChatTransport(options);
}

export { AgentChat, ChatStream, SUB_AGENT_DATA_TYPE, createSubAgentMessages } from "./chat-extras.js";
