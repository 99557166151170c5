// The default webpack 5 production setup, two entries: the chat, and the same
// page without the transport (for sizes). Nothing here is for trigger-chat-wasm.
import { fileURLToPath } from "node:url";

export default {
  mode: "production",
  context: fileURLToPath(new URL(".", import.meta.url)),
  entry: { main: "./main.js", baseline: "./baseline.js" },
  output: { path: fileURLToPath(new URL("./dist", import.meta.url)), filename: "[name].js", clean: true },
};
