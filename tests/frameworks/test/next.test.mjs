// Next.js 16, App Router, with trigger-chat-wasm installed from its tarball
// and no configuration for it: `next build` under Turbopack (served by the
// `output: "standalone"` server, copied away from node_modules) and under
// webpack (served by `next start`), and `next dev`. Each serves a prerendered
// page and a dynamic one, both with a server component that builds a
// transport and a client component with useTriggerChatTransport + useChat;
// in Chromium a message reaches the emulator and its reply streams in.
import assert from "node:assert/strict";
import { cpSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
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

const APP = at("next");
const NEXT = at("node_modules/.bin/next");
const env = (dist) => ({ NEXT_TELEMETRY_DISABLED: "1", NEXT_DIST_DIR: dist });

let browser;
const scratch = mkdtempSync(join(tmpdir(), "trigger-chat-wasm-next-"));
before(async () => {
  browser = await launchChromium();
});
after(async () => {
  await browser?.close();
  rmSync(scratch, { recursive: true, force: true });
});

/**
 * What a built (or dev) Next app must do, served at `appUrl`. Each variant
 * gets its own emulator: the page's chat ids are fixed, and a chat the
 * emulator already knows would resume its earlier turn.
 */
async function exercise(name, appUrl) {
  const emulator = await startEmulator();
  const proxy = await startProxy({ emulator: emulator.url, app: appUrl });
  try {
    for (const path of ["/", "/dynamic"]) {
      const res = await fetch(proxy.url + path);
      const html = await res.text();
      assert.equal(res.status, 200, `${name} ${path}: ${res.status}\n${html.slice(0, 2000)}`);
      assert.match(html, /server transport ready/, `${name} ${path}: the server component's transport`);
      assert.match(html, /trigger-chat-wasm on Next\.js/, `${name} ${path}: the client component's server-side render`);
    }
    const chat = await openPage(browser, `${proxy.url}/dynamic`);
    try {
      const text = `hello from ${name}`;
      const turn = await chatRoundTrip(chat.page, text, chat.problems);
      assert.deepEqual(turn, { user: [text], assistant: [`Echo: ${text}`] });
      assert.equal(await chat.page.textContent("#shared-class"), "true", "the hook's transport is the entry's class");
      assert.deepEqual(chat.problems, []);
      const baseline = await openPage(browser, `${proxy.url}/baseline`);
      await baseline.page.waitForSelector("main[data-status]");
      const row = sizeReport(name, await chat.assets(), await baseline.assets());
      assert.ok(row.wasmGzip > 0, `${name}: the page loads the .wasm file`);
      record(row);
      await baseline.close();
    } finally {
      await chat.close();
    }
  } finally {
    await proxy.close();
    await emulator.stop();
  }
}

/** Next's own notices about the machine, not about the app: with `CI` set
 *  and no `.next/cache` (every fresh clone on CI) it advises a build cache. */
const MACHINE_NOTICES = [/No build cache found/];

/** The lines of a build's output that warn, fail or name the package. */
function suspectLines(output) {
  return output
    .split("\n")
    .filter((l) => /trigger-chat-wasm|\.wasm|import\.meta|⚠|warn|error/i.test(l))
    .filter((l) => !MACHINE_NOTICES.some((notice) => notice.test(l)));
}

describe("Next.js 16", () => {
  test("next build (Turbopack), output: standalone, served from a copy", async () => {
    const dist = ".next-turbopack";
    rmSync(join(APP, dist), { recursive: true, force: true });
    const { ms, output } = await runCommand(NEXT, ["build", "--turbopack"], { cwd: APP, env: env(dist) });
    console.log(`# build next-turbopack ${(ms / 1000).toFixed(1)} s`);
    assert.deepEqual(suspectLines(output), []);
    const prerendered = readFileSync(join(APP, dist, "server/app/index.html"), "utf8");
    assert.match(prerendered, /server transport ready/);
    assert.match(prerendered, /trigger-chat-wasm on Next\.js/);

    // The standalone folder alone (plus the static files, as Next's docs say
    // to copy), moved where the repository's node_modules are out of reach:
    // everything the server needs must be in its file trace.
    const copy = join(scratch, "turbopack");
    cpSync(join(APP, dist, "standalone"), copy, { recursive: true });
    cpSync(join(APP, dist, "static"), join(copy, "next", dist, "static"), { recursive: true });
    const port = await freePort();
    const server = await startServer(process.execPath, ["server.js"], {
      cwd: join(copy, "next"),
      env: { ...env(dist), PORT: String(port), HOSTNAME: "127.0.0.1" },
      url: `http://127.0.0.1:${port}/`,
    });
    try {
      await exercise("next-turbopack-standalone", `http://127.0.0.1:${port}`);
    } finally {
      await server.stop();
    }
    assert.doesNotMatch(server.output(), /error/i, server.output());
  });

  test("next build --webpack, next start", async () => {
    const dist = ".next-webpack";
    rmSync(join(APP, dist), { recursive: true, force: true });
    const { ms, output } = await runCommand(NEXT, ["build", "--webpack"], { cwd: APP, env: env(dist) });
    console.log(`# build next-webpack ${(ms / 1000).toFixed(1)} s`);
    // webpack's warning for the browser entry's top-level await (Next's
    // client target is ['web', 'es6']) is the one expected line; see README.
    const unexpected = suspectLines(output).filter(
      (l) =>
        !/Compiled with warnings|^\.\.\/node_modules\/trigger-chat-wasm\/index\.js$|topLevelAwait|may cause runtime errors/.test(
          l.trim(),
        ),
    );
    assert.deepEqual(unexpected, [], output);
    const port = await freePort();
    const server = await startServer(NEXT, ["start", "--port", String(port), "--hostname", "127.0.0.1"], {
      cwd: APP,
      env: env(dist),
      url: `http://127.0.0.1:${port}/`,
    });
    try {
      await exercise("next-webpack", `http://127.0.0.1:${port}`);
    } finally {
      await server.stop();
    }
    assert.doesNotMatch(server.output(), /error/i, server.output());
  });

  test("next dev (Turbopack)", async () => {
    const dist = ".next-dev";
    rmSync(join(APP, dist), { recursive: true, force: true });
    const port = await freePort();
    const server = await startServer(NEXT, ["dev", "--port", String(port), "--hostname", "127.0.0.1"], {
      cwd: APP,
      env: env(dist),
      url: `http://127.0.0.1:${port}/baseline`,
    });
    try {
      await exercise("next-dev", `http://127.0.0.1:${port}`);
    } finally {
      await server.stop();
    }
    assert.doesNotMatch(server.output(), /error|⨯/i, server.output());
  });
});
