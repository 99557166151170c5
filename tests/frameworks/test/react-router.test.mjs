// React Router 7 in framework mode with server-side rendering, trigger-chat-wasm
// installed from its tarball and no configuration for it: `react-router build`,
// served by `react-router-serve`. The route's loader builds a transport on the
// server; the page renders the chat on the server (200) and hydrates, and in
// Chromium a message reaches the emulator and its reply streams into useChat.
import assert from "node:assert/strict";
import { rmSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import {
  at,
  chatRoundTrip,
  freePort,
  launchChromium,
  openPage,
  record,
  runCommand,
  sizeReport,
  startEmulator,
  startProxy,
  startServer,
} from "./lib/harness.mjs";

const APP = at("react-router");

let emulator;
let browser;
before(async () => {
  [emulator, browser] = await Promise.all([startEmulator(), launchChromium()]);
});
after(async () => {
  await browser?.close();
  await emulator?.stop();
});

describe("React Router 7 (framework mode, SSR)", () => {
  test("react-router build, react-router-serve", async () => {
    rmSync(join(APP, "build"), { recursive: true, force: true });
    const { ms, output } = await runCommand(at("node_modules/.bin/react-router"), ["build"], { cwd: APP });
    console.log(`# build react-router ${(ms / 1000).toFixed(1)} s`);
    assert.deepEqual(
      output.split("\n").filter((l) => /trigger-chat-wasm|import\.meta|topLevelAwait/.test(l)),
      [],
      output,
    );
    const port = await freePort();
    const server = await startServer(at("node_modules/.bin/react-router-serve"), ["./build/server/index.js"], {
      cwd: APP,
      env: { PORT: String(port), HOST: "127.0.0.1", NODE_ENV: "production" },
      url: `http://127.0.0.1:${port}/baseline`,
    });
    const proxy = await startProxy({ emulator: emulator.url, app: `http://127.0.0.1:${port}` });
    try {
      const res = await fetch(`${proxy.url}/`);
      const html = await res.text();
      assert.equal(res.status, 200, html.slice(0, 2000));
      assert.match(html, /server transport ready/, "the loader's transport");
      assert.match(html, /trigger-chat-wasm on React Router/, "the chat's server-side render");

      const chat = await openPage(browser, `${proxy.url}/`);
      try {
        const text = "hello from react-router";
        assert.deepEqual(await chatRoundTrip(chat.page, text, chat.problems), { user: [text], assistant: [`Echo: ${text}`] });
        assert.equal(await chat.page.textContent("#shared-class"), "true");
        assert.deepEqual(chat.problems, []);
        const baseline = await openPage(browser, `${proxy.url}/baseline`);
        await baseline.page.waitForSelector("main[data-status]");
        const row = sizeReport("react-router", await chat.assets(), await baseline.assets());
        await baseline.close();
        assert.ok(row.wasmGzip > 0);
        record(row);
      } finally {
        await chat.close();
      }
    } finally {
      await proxy.close();
      await server.stop();
    }
    assert.doesNotMatch(server.output(), /error/i, server.output());
  });
});
