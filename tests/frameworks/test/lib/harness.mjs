// What every framework test shares: the emulator, a same-origin proxy in
// front of the app (so the page reaches the emulator's /api/, /realtime/ and
// /app/ routes without CORS), a static file server, app server processes,
// headless Chromium (the system's, never a downloaded one) and size figures.
import { spawn } from "node:child_process";
import { createReadStream, existsSync, readFileSync, statSync } from "node:fs";
import http from "node:http";
import net from "node:net";
import { extname, join, normalize } from "node:path";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";
import { chromium } from "playwright-core";
import { CHROMIUM_ARGS, CHROMIUM_PATH } from "../../../support/chromium.mjs";
export { startEmulator } from "../../../support/emulator.mjs";

export const HERE = fileURLToPath(new URL("../..", import.meta.url)); // tests/frameworks/
export const at = (...parts) => join(HERE, ...parts);

const EMULATOR_PREFIXES = ["/api/", "/realtime/", "/app/"];

function forward(req, res, target) {
  const url = new URL(req.url, target);
  const upstream = http.request(
    url,
    // The Host header stays the proxy's: the emulator's /app/ routes answer
    // only pages of their own origin (Origin must match Host).
    { method: req.method, headers: req.headers },
    (answer) => {
      res.writeHead(answer.statusCode, answer.headers);
      answer.pipe(res);
    },
  );
  upstream.on("error", (e) => {
    if (!res.headersSent) res.writeHead(502, { "content-type": "text/plain" });
    res.end(`proxy: ${e.message}`);
  });
  req.on("aborted", () => upstream.destroy());
  res.on("close", () => upstream.destroy());
  req.pipe(upstream);
}

function listen(server) {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address();
      resolve({
        url: `http://127.0.0.1:${port}`,
        close: () =>
          new Promise((r) => {
            server.closeAllConnections?.();
            server.close(() => r());
          }),
      });
    });
  });
}

/** Passes a WebSocket upgrade (the dev servers' hot reload) through as raw bytes. */
function tunnel(req, socket, head, target) {
  const { hostname, port } = new URL(target);
  const upstream = net.connect(Number(port), hostname, () => {
    const lines = [`${req.method} ${req.url} HTTP/1.1`];
    for (let i = 0; i < req.rawHeaders.length; i += 2) lines.push(`${req.rawHeaders[i]}: ${req.rawHeaders[i + 1]}`);
    upstream.write(`${lines.join("\r\n")}\r\n\r\n`);
    upstream.write(head);
    socket.pipe(upstream).pipe(socket);
  });
  const end = () => {
    upstream.destroy();
    socket.destroy();
  };
  upstream.on("error", end);
  socket.on("error", end);
}

/** One origin: the emulator's routes go to `emulator`, everything else to `app`. */
export function startProxy({ emulator, app }) {
  const pick = (url) => (EMULATOR_PREFIXES.some((p) => url.startsWith(p)) ? emulator : app);
  const server = http.createServer((req, res) => forward(req, res, pick(req.url)));
  server.on("upgrade", (req, socket, head) => tunnel(req, socket, head, pick(req.url)));
  return listen(server);
}

const TYPES = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript",
  ".mjs": "text/javascript",
  ".css": "text/css",
  ".json": "application/json",
  ".wasm": "application/wasm",
};

/** Serves `root` as files, and the emulator's routes from `emulator`. */
export function startStatic(root, emulator) {
  return listen(
    http.createServer((req, res) => {
      const path = decodeURIComponent(new URL(req.url, "http://x").pathname);
      if (EMULATOR_PREFIXES.some((p) => path.startsWith(p))) return forward(req, res, emulator);
      let file = normalize(join(root, path));
      if (!file.startsWith(root)) return res.writeHead(403).end();
      if (existsSync(file) && statSync(file).isDirectory()) file = join(file, "index.html");
      if (!existsSync(file)) return res.writeHead(404).end("not found");
      res.writeHead(200, { "content-type": TYPES[extname(file)] ?? "application/octet-stream" });
      createReadStream(file).pipe(res);
    }),
  );
}

export function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

/** Runs a command to its end; rejects with its output when it fails. Resolves to { ms, output }. */
export function runCommand(cmd, args, { cwd = HERE, env = {}, timeoutMs = 600_000 } = {}) {
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd, env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
    let output = "";
    const keep = (d) => (output = (output + d).slice(-200_000));
    child.stdout.on("data", keep);
    child.stderr.on("data", keep);
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    child.once("error", reject);
    child.once("exit", (code, signal) => {
      clearTimeout(timer);
      if (code === 0) resolve({ ms: Date.now() - started, output });
      else reject(new Error(`${cmd} ${args.join(" ")} failed (${code ?? signal})\n${output}`));
    });
  });
}

/**
 * Starts a long-running server process and waits until `url` answers (any
 * status). Resolves to { output(), stop() }.
 */
export async function startServer(cmd, args, { cwd = HERE, env = {}, url, timeoutMs = 180_000 }) {
  const child = spawn(cmd, args, {
    cwd,
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "pipe"],
    detached: true, // its own process group, stopped as a whole
  });
  let output = "";
  const keep = (d) => (output = (output + d).slice(-200_000));
  child.stdout.on("data", keep);
  child.stderr.on("data", keep);
  let exited = false;
  const exit = new Promise((r) => child.once("exit", () => r((exited = true))));
  const stop = async () => {
    if (exited) return;
    try {
      process.kill(-child.pid, "SIGTERM");
    } catch {}
    const t = setTimeout(() => {
      try {
        process.kill(-child.pid, "SIGKILL");
      } catch {}
    }, 5_000);
    await exit;
    clearTimeout(t);
  };
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (exited) throw new Error(`${cmd} ${args.join(" ")} exited before answering\n${output}`);
    try {
      await fetch(url, { signal: AbortSignal.timeout(60_000) });
      break;
    } catch {}
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`${cmd} ${args.join(" ")}: ${url} did not answer in ${timeoutMs} ms\n${output}`);
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  return { output: () => output, stop };
}

export function launchChromium() {
  return chromium.launch({ executablePath: CHROMIUM_PATH, args: CHROMIUM_ARGS });
}

const gz = (bytes) => gzipSync(bytes, { level: 9 }).length;

/**
 * Opens `url`, collects every script and wasm response the page loads, and
 * returns { page, problems, assets(), close() }.
 */
export async function openPage(browser, url) {
  const page = await browser.newPage();
  const problems = [];
  const bodies = [];
  page.on("pageerror", (e) => problems.push(`pageerror: ${e.message}`));
  page.on("console", (m) => {
    if (m.type() === "error") problems.push(`console: ${m.text()}`);
  });
  page.on("requestfailed", (r) => {
    // A reply stream the page leaves open is aborted when the page closes.
    if (!r.url().includes("/realtime/")) problems.push(`requestfailed: ${r.url()} ${r.failure()?.errorText}`);
  });
  page.on("response", (r) => {
    if (r.status() >= 400) problems.push(`HTTP ${r.status()}: ${r.url()}`);
    const type = r.request().resourceType();
    const path = new URL(r.url()).pathname;
    if (type === "script" || path.endsWith(".wasm") || path.endsWith(".js")) {
      bodies.push(
        r.body().then(
          (b) => ({ path, raw: b.length, gzip: gz(b), wasm: path.endsWith(".wasm") }),
          () => null,
        ),
      );
    }
  });
  await page.goto(url, { waitUntil: "load" });
  return {
    page,
    problems,
    /** Every script and wasm file loaded so far, with raw and gzip sizes. */
    assets: async () => {
      const seen = new Map();
      for (const a of await Promise.all(bodies)) if (a && !seen.has(a.path)) seen.set(a.path, a);
      return [...seen.values()];
    },
    close: () => page.close(),
  };
}

/**
 * On a rendered chat page: waits for hydration, sends `text`, and waits for
 * the emulator's scripted reply (`Echo: <text>`) to stream into the list.
 */
export async function chatRoundTrip(page, text, problems = []) {
  await page.waitForSelector('main[data-hydrated="yes"]', { timeout: 120_000 });
  await page.fill("#text", text);
  await page.click("#send");
  const expected = `Echo: ${text}`;
  try {
    await page.waitForFunction(
      (want) => [...document.querySelectorAll('#messages li[data-role="assistant"]')].some((li) => li.textContent === want),
      expected,
      { timeout: 60_000 },
    );
  } catch (e) {
    const shown = await page.evaluate(() => document.querySelector("main")?.outerHTML).catch(() => "?");
    throw new Error(`no reply "${expected}": ${e.message}\npage: ${shown}\n${problems.join("\n")}`);
  }
  return {
    user: await page.$$eval('#messages li[data-role="user"]', (l) => l.map((e) => e.textContent)),
    assistant: await page.$$eval('#messages li[data-role="assistant"]', (l) => l.map((e) => e.textContent)),
  };
}

export const sum = (assets, key) => assets.reduce((n, a) => n + a[key], 0);

/** The transport's share: what the chat page loads beyond the same page without it. */
export function sizeReport(name, chatAssets, baselineAssets) {
  const row = {
    framework: name,
    pageGzip: sum(chatAssets, "gzip"),
    baselineGzip: sum(baselineAssets, "gzip"),
    wasmGzip: sum(chatAssets.filter((a) => a.wasm), "gzip"),
  };
  row.transportGzip = row.pageGzip - row.baselineGzip;
  return row;
}

export function record(row) {
  const kb = (n) => `${(n / 1024).toFixed(1)} KiB`;
  const parts = Object.entries(row).map(([k, v]) => `${k}=${typeof v === "number" && /Gzip$/.test(k) ? kb(v) : v}`);
  console.log(`# size ${parts.join(" ")}`);
}

export const readJson = (p) => JSON.parse(readFileSync(p, "utf8"));
