// Browser apps without a server framework, trigger-chat-wasm installed from its
// tarball and no configuration for it: a Vite 7 production build, a webpack 5
// production build (default settings), the Vite dev server, and a plain page
// that imports the package's index.js as the server has it. In Chromium a
// message reaches the emulator and its reply streams in (into useChat where
// there is React).
import assert from "node:assert/strict";
import { copyFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { after, afterEach, before, beforeEach, describe, test } from "node:test";
import {
  at,
  chatRoundTrip,
  launchChromium,
  openPage,
  record,
  sizeReport,
  startEmulator,
  startProxy,
  startStatic,
} from "./lib/harness.mjs";

let emulator;
let browser;
before(async () => {
  browser = await launchChromium();
});
after(async () => {
  await browser?.close();
});
// Each test gets its own emulator: the apps' chat ids are fixed, and a chat
// the emulator already knows would resume its earlier turn.
beforeEach(async () => {
  emulator = await startEmulator();
});
afterEach(async () => {
  await emulator?.stop();
});

async function exercise(name, origin, { chatPath = "/", baselinePath = "/baseline.html" } = {}) {
  const chat = await openPage(browser, origin + chatPath);
  try {
    const text = `hello from ${name}`;
    assert.deepEqual(await chatRoundTrip(chat.page, text, chat.problems), { user: [text], assistant: [`Echo: ${text}`] });
    assert.deepEqual(chat.problems, []);
    if (!baselinePath) return null;
    assert.equal(await chat.page.textContent("#shared-class"), "true", "the hook's transport is the entry's class");
    const baseline = await openPage(browser, origin + baselinePath);
    await baseline.page.waitForSelector("main[data-status]");
    const row = sizeReport(name, await chat.assets(), await baseline.assets());
    await baseline.close();
    assert.ok(row.wasmGzip > 0, `${name}: the page loads the .wasm file`);
    record(row);
    return row;
  } finally {
    await chat.close();
  }
}

/**
 * Whether a Rollup warning is about this package: its module is under
 * `node_modules/trigger-chat-wasm/`, or its message names the package. Paths
 * are read relative to the checkout, whose own folder is often named
 * trigger-chat-wasm too (a plain `git clone`): a dependency's warning must not
 * count as ours for the folder it was built in.
 */
function fromThisPackage(w) {
  const checkout = new URL("../../../", import.meta.url).pathname;
  const rel = (s) => String(s ?? "").replaceAll("\\", "/").split(checkout).join("");
  return /(^|\/)node_modules\/trigger-chat-wasm\//.test(rel(w.id)) || /trigger-chat-wasm/.test(rel(w.message));
}

describe("browser bundlers", () => {
  test("Vite 7 production build", async () => {
    const { build } = await import("vite");
    const root = at("vite");
    const outDir = join(root, "dist");
    const warnings = [];
    const started = Date.now();
    await build({
      root,
      logLevel: "silent",
      build: {
        outDir,
        emptyOutDir: true,
        rollupOptions: {
          // Warnings about this package (the AI SDK's dependencies have their
          // own), except the one Vite itself hides by default: React's
          // "use client" directive, meant for server-component bundlers.
          onwarn: (w) => {
            const directive = w.code === "MODULE_LEVEL_DIRECTIVE" && /"use client"/.test(w.message);
            if (!directive && fromThisPackage(w)) warnings.push(String(w.message));
          },
        },
      },
    });
    console.log(`# build vite ${((Date.now() - started) / 1000).toFixed(1)} s`);
    assert.deepEqual(warnings, []);
    const server = await startStatic(outDir, emulator.url);
    try {
      await exercise("vite", server.url);
    } finally {
      await server.close();
    }
  });

  test("Vite 7 dev server", async () => {
    const { createServer } = await import("vite");
    const server = await createServer({
      root: at("vite"),
      logLevel: "error",
      cacheDir: at("node_modules/.vite-frameworks-dev"),
      server: { host: "127.0.0.1", port: 0, strictPort: false, proxy: Object.fromEntries(["/api", "/realtime", "/app"].map((p) => [p, { target: emulator.url }])) },
    });
    await server.listen();
    try {
      await exercise("vite-dev", server.resolvedUrls.local[0].replace(/\/$/, ""), { baselinePath: null });
    } finally {
      await server.close();
    }
  });

  test("webpack 5 production build (default settings)", async () => {
    const { default: webpack } = await import("webpack");
    const { default: config } = await import(at("webpack/webpack.config.js"));
    const started = Date.now();
    const stats = await new Promise((resolve, reject) =>
      webpack(config, (error, result) => (error ? reject(error) : resolve(result))),
    );
    console.log(`# build webpack ${((Date.now() - started) / 1000).toFixed(1)} s`);
    assert.equal(stats.hasErrors(), false, stats.toString("errors-only"));
    // The app's own size hints aside (the AI SDK and React are most of it),
    // no warning may concern this package.
    const ours = stats
      .toJson({ all: false, warnings: true })
      .warnings.filter((w) => /trigger-chat-wasm|topLevelAwait|async\/await/.test(`${w.moduleName} ${w.message}`));
    assert.deepEqual(ours, [], stats.toString("errors-warnings"));
    const outDir = at("webpack/dist");
    copyFileSync(at("webpack/index.html"), join(outDir, "index.html"));
    copyFileSync(at("webpack/baseline.html"), join(outDir, "baseline.html"));
    const server = await startStatic(outDir, emulator.url);
    try {
      await exercise("webpack", server.url);
    } finally {
      await server.close();
    }
  });

  test("a plain <script type=module> page importing node_modules/trigger-chat-wasm/index.js", async () => {
    const server = await startStatic(at("."), emulator.url);
    try {
      await exercise("plain", server.url, { chatPath: "/plain/index.html", baselinePath: null });
    } finally {
      await server.close();
    }
  });
});
