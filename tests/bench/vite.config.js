import { resolve } from "node:path";
import { defineConfig } from "vite";

// BENCH_B=<a built pkg/ folder>: a second build of ours, "ours-b", for A/B
// runs (see run.mjs). Without it the name stands for ours itself.
const b = process.env.BENCH_B;
export default defineConfig({
  build: { target: "es2022", outDir: "dist", emptyOutDir: true },
  resolve: { alias: { "trigger-chat-wasm-b": b ? resolve(b, "index.js") : "trigger-chat-wasm" } },
  logLevel: "warn",
});
