// Nothing here is for trigger-chat-wasm: `output: "standalone"` is the
// deployment shape under test, and the output folder is chosen by the test so
// that the Turbopack and webpack builds can sit side by side.
export default {
  output: "standalone",
  distDir: process.env.NEXT_DIST_DIR || ".next",
};
