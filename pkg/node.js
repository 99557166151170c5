// Server entry (Node, and every server-side bundle: Next.js server components
// and SSR, React Router, Vite SSR, webpack's node target): instantiate the wasm
// module synchronously, so that a transport can be built while rendering.
// The module's bytes come inlined in a generated JavaScript file rather than
// read from disk: bundlers rewrite a file read next to `import.meta.url` into
// an asset URL, and a bundled or traced server (Next.js `output: "standalone"`)
// carries JavaScript it imports but not files it reads. Exports are this
// module's own bindings (see index.js).
import { initSync } from "./wasm/trigger_chat_wasm.js";
import { wasmBytes } from "./wasm/inline.js";
import { TriggerChatTransport as Transport } from "./transport.js";

initSync({ module: wasmBytes() });

export const TriggerChatTransport = Transport;

export function createChatTransport(options) {
  return new TriggerChatTransport(options);
}

export { AgentChat, ChatStream, SUB_AGENT_DATA_TYPE, createSubAgentMessages } from "./chat-extras.js";
