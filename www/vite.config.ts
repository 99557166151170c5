import { defineConfig } from "vite";
import react from "@vitejs/plugin-react";

// The demo imports the transport from `trigger-chat-wasm`. Building with
// CHAT_TRANSPORT=vendor points those imports at the reference SDK instead,
// so the same page (and the same end-to-end tests) can run against both.
const useVendor = process.env.CHAT_TRANSPORT === "vendor";

const backend = process.env.DEVSERVER_URL ?? "http://127.0.0.1:8787";

export default defineConfig({
  plugins: [react()],
  resolve: {
    // `trigger-chat-wasm` is linked from ../pkg; its bare imports (react, ai,
    // and its own name) must resolve from this app's node_modules.
    dedupe: ["react", "react-dom", "ai", "@ai-sdk/react", "trigger-chat-wasm"],
    alias: useVendor
      ? [
          { find: /^trigger-chat-wasm\/react$/, replacement: "@trigger.dev/sdk/chat/react" },
          { find: /^trigger-chat-wasm$/, replacement: "@trigger.dev/sdk/chat" },
        ]
      : [],
  },
  define: {
    __TRANSPORT_IMPL__: JSON.stringify(useVendor ? "vendor" : "wasm"),
  },
  server: {
    // The linked package (and its .wasm) lives outside this folder.
    fs: { allow: [".", "../pkg"] },
    proxy: {
      "/app": backend,
      "/api": backend,
      "/realtime": { target: backend, ws: false },
    },
  },
  build: {
    outDir: "dist",
    emptyOutDir: true,
    target: "es2022",
  },
});
