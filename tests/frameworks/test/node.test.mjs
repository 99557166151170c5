// Node 20+ without a bundler, ESM (`import`) and CommonJS (`require`), and
// Jest with its default CommonJS setup, trigger-chat-wasm installed from its
// tarball: each builds a transport, renders the React hook on the server with
// the app's own React, and streams a reply from the emulator.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { at, runCommand, startEmulator } from "./lib/harness.mjs";

let emulator;
before(async () => {
  emulator = await startEmulator();
});
after(async () => {
  await emulator?.stop();
});

const lastJsonLine = (output) => JSON.parse(output.trim().split("\n").at(-1));

describe("Node and Jest", () => {
  test("Node ESM: import", async () => {
    const { output } = await runCommand(process.execPath, [at("node/esm.mjs"), emulator.url]);
    const out = lastJsonLine(output);
    assert.match(out.entry, /\/node_modules\/trigger-chat-wasm\/node\.js$/);
    assert.deepEqual(out, { ...out, html: "<p>function</p>", hookSharesClass: true, reply: "Echo: hello from node esm" });
  });

  test("Node CommonJS: require", async () => {
    const { output } = await runCommand(process.execPath, [at("node/cjs.cjs"), emulator.url]);
    const out = lastJsonLine(output);
    assert.match(out.entry, /\/node_modules\/trigger-chat-wasm\/wasm\/node\.cjs$/);
    assert.deepEqual(out, { ...out, html: "<p>function</p>", hookSharesClass: true, reply: "Echo: hello from node cjs" });
  });

  test("Jest, default configuration", async () => {
    const { ms, output } = await runCommand(at("node_modules/.bin/jest"), ["--rootDir", at("jest"), "--ci"], {
      env: { EMULATOR_URL: emulator.url },
    });
    console.log(`# jest ${(ms / 1000).toFixed(1)} s`);
    assert.match(output, /Tests:\s+3 passed, 3 total/, output);
  });
});
