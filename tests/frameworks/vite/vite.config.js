import { resolve } from "node:path";
import { defineConfig } from "vite";

// Two pages: the chat, and the same page without the transport (for sizes).
// Nothing here is for trigger-chat-wasm.
export default defineConfig({
  build: {
    rollupOptions: { input: { main: resolve(import.meta.dirname, "index.html"), baseline: resolve(import.meta.dirname, "baseline.html") } },
  },
});
