// Browser entry: instantiate the wasm module once, before any transport is
// built, so the constructor stays synchronous. The exports are this
// module's own bindings, so bundlers that honour `sideEffects: false` keep
// the instantiation with them.
import init from "./wasm/trigger_chat_wasm.js";
import { TriggerChatTransport as Transport } from "./transport.js";

const isWasm = (b) => b.length > 4 && b[0] === 0 && b[1] === 0x61 && b[2] === 0x73 && b[3] === 0x6d;

async function wasmBytes() {
  try {
    const res = await fetch(new URL("./wasm/trigger_chat_wasm_bg.wasm", import.meta.url));
    const bytes = new Uint8Array(await res.arrayBuffer());
    if (res.ok && isWasm(bytes)) return bytes;
  } catch {
    // Fall through to the embedded copy.
  }
  // A bundler moved this module away from its .wasm file (Vite's dev-time
  // dependency pre-bundling does): take the copy embedded in a lazily
  // loaded chunk, which production builds never fetch.
  const { wasmBase64 } = await import("./wasm/inline.js");
  const text = atob(wasmBase64);
  const bytes = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) bytes[i] = text.charCodeAt(i);
  return bytes;
}

await init({ module_or_path: await wasmBytes() });

export const TriggerChatTransport = Transport;

export function createChatTransport(options) {
  return new TriggerChatTransport(options);
}
