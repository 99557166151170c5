// Builds the bench page, serves it on loopback, runs it in headless Chromium
// and prints chunks/s for our transport and the vendor's.
import { build } from "vite";
import { createServer } from "node:http";
import { readFile } from "node:fs/promises";
import { extname, join, normalize } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";
import { CHROMIUM_ARGS, CHROMIUM_PATH } from "../support/chromium.mjs";

const here = fileURLToPath(new URL(".", import.meta.url));
await build({ root: here, configFile: join(here, "vite.config.js") });

const types = { ".html": "text/html", ".js": "text/javascript", ".wasm": "application/wasm" };
const dist = join(here, "dist");
const server = createServer(async (req, res) => {
  const path = normalize(join(dist, new URL(req.url, "http://x").pathname.replace(/\/$/, "/index.html")));
  if (!path.startsWith(dist)) return res.writeHead(403).end();
  try {
    const body = await readFile(path);
    res.writeHead(200, { "content-type": types[extname(path)] ?? "application/octet-stream" }).end(body);
  } catch {
    res.writeHead(404).end();
  }
});
await new Promise((r) => server.listen(0, "127.0.0.1", r));
const url = `http://127.0.0.1:${server.address().port}/?n=${process.env.BENCH_N ?? 100000}`;

const browser = await chromium.launch({ executablePath: CHROMIUM_PATH, args: CHROMIUM_ARGS });
try {
  const page = await browser.newPage();
  await page.goto(url);
  await page.waitForFunction(() => window.__result !== undefined, null, { timeout: 300_000 });
  const result = await page.evaluate(() => window.__result);
  console.log(JSON.stringify(result, null, 2));
  if (result.error) process.exitCode = 1;
} finally {
  await browser.close();
  server.close();
}
