// Node entry (server-side rendering, tests): load the wasm module from disk,
// synchronously.
import { readFileSync } from "node:fs";
import { initSync } from "./wasm/trigger_chat_wasm.js";

initSync({ module: readFileSync(new URL("./wasm/trigger_chat_wasm_bg.wasm", import.meta.url)) });

export { TriggerChatTransport, createChatTransport } from "./transport.js";
