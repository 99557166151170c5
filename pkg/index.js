// Browser entry: instantiate the wasm module once, before any transport is
// built, so the constructor stays synchronous. The exports are this
// module's own bindings, so bundlers that honour `sideEffects: false` keep
// the instantiation with them.
import { instantiate } from "./core.js";
import { TriggerChatTransport as Transport } from "./transport.js";

async function fetchWasm(url) {
  try {
    const res = await fetch(url);
    const b = new Uint8Array(await res.arrayBuffer());
    // A dev server that does not know the file answers with its index page.
    return res.ok && b[0] === 0 && b[1] === 0x61 && b[2] === 0x73 && b[3] === 0x6d ? b : null;
  } catch {
    return null;
  }
}

async function wasmBytes() {
  // A string literal, so that bundlers see the asset and emit it.
  const beside = new URL("./wasm/trigger_chat_wasm_bg.wasm", import.meta.url);
  const found = await fetchWasm(beside);
  if (found) return found;
  // Vite's dev server pre-bundles dependencies into a cache folder under
  // node_modules (node_modules/.vite/deps/ by default), away from the .wasm
  // file; the package itself is still served where it is installed.
  const here = import.meta.url;
  const at = here.indexOf("/node_modules/");
  if (at >= 0) {
    const installed = `${here.slice(0, at)}/node_modules/trigger-chat-wasm/wasm/trigger_chat_wasm_bg.wasm`;
    const bytes = await fetchWasm(installed);
    if (bytes) return bytes;
  }
  throw new Error(
    `trigger-chat-wasm: could not load its WebAssembly module from ${beside}; ` +
      "serve the package's wasm/ folder beside its JavaScript",
  );
}

await instantiate(await wasmBytes());

export const TriggerChatTransport = Transport;

export function createChatTransport(options) {
  return new TriggerChatTransport(options);
}

export { AgentChat, ChatStream, SUB_AGENT_DATA_TYPE, createSubAgentMessages } from "./chat-extras.js";
