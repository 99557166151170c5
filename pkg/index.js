// Browser entry: instantiate the wasm module once, before any transport is
// built, so the constructor stays synchronous. The exports are this
// module's own bindings, so bundlers that honour `sideEffects: false` keep
// the instantiation with them.
import init from "./wasm/trigger_chat_wasm.js";
import { TriggerChatTransport as Transport } from "./transport.js";

async function wasmBytes() {
  // A string literal, so that bundlers see the asset and emit it.
  const beside = new URL("./wasm/trigger_chat_wasm_bg.wasm", import.meta.url);
  const urls = [beside];
  // Vite's dev server pre-bundles dependencies into a cache folder under
  // node_modules (node_modules/.vite/deps/ by default), away from the .wasm
  // file; the package itself is still served where it is installed. (Not
  // gated on `import.meta.env.DEV`: with that gate, the pre-bundled copy in
  // the Vite dev server test skipped this and found no module.)
  const here = import.meta.url;
  const at = here.indexOf("/node_modules/");
  if (at >= 0) urls.push(`${here.slice(0, at)}/node_modules/trigger-chat-wasm/wasm/trigger_chat_wasm_bg.wasm`);
  for (const url of urls) {
    try {
      const res = await fetch(url);
      const bytes = new Uint8Array(await res.arrayBuffer());
      // A dev server that does not know the file answers with its index page.
      if (res.ok && String.fromCharCode(...bytes.subarray(0, 4)) === "\0asm") return bytes;
    } catch {
      // Not there: the next place, if any.
    }
  }
  throw new Error(
    `trigger-chat-wasm: could not load its WebAssembly module from ${beside}; ` +
      "serve the package's wasm/ folder beside its JavaScript",
  );
}

await init({ module_or_path: await wasmBytes() });

export const TriggerChatTransport = Transport;

export function createChatTransport(options) {
  return new TriggerChatTransport(options);
}

export { AgentChat, ChatStream, SUB_AGENT_DATA_TYPE, createSubAgentMessages } from "./chat-extras.js";
