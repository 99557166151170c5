// Builds the bench page, serves it on loopback, drives it in headless
// Chromium and prints every run, then a markdown table of medians: ours
// against the vendor's transport (@trigger.dev/sdk 4.5.0 and 4.8.3) and
// against the floor (floor.js: a bare JavaScript decode-and-parse loop over
// the same bytes, in the chunks/s and first-chunk rows only).
//
//   node run.mjs [--quick] [--only=cold,throughput,latency,longtask,memory]
//                [--transports=ours,floor,vendor-4.5.0,vendor-4.8.3]
//
// A/B: copy a built pkg/ aside (cp -r pkg /tmp/before), change and rebuild,
// then BENCH_B=/tmp/before node run.mjs --transports=ours,ours-b: the two
// builds run alternately, and the table's "ours ÷ ours-b" is the change.
//
// BENCH_TRACE_DIR=dir keeps the Chromium traces of the long-task runs (open
// them in DevTools' Performance panel to see what a long task did).
// BENCH_PROFILE_DIR=dir records a CPU profile of every throughput run
// (.cpuprofile, for DevTools) and prints its ten largest self times.
//
// What each figure means: docs/size-and-speed.md, "Benchmarks".
import { build } from "vite";
import { createServer } from "node:http";
import { readFile, writeFile } from "node:fs/promises";
import { loadavg, cpus } from "node:os";
import { extname, join, normalize } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";
import { CHROMIUM_ARGS, CHROMIUM_PATH } from "../support/chromium.mjs";

const SECTIONS = ["cold", "throughput", "latency", "longtask", "memory"];
const TRANSPORTS = ["ours", "floor", "vendor-4.5.0", "vendor-4.8.3"];
// Not run unless named: a second build of ours (BENCH_B, vite.config.js).
const OPTIONAL = ["ours-b"];

function parseArgs(argv) {
  const o = { quick: false, only: SECTIONS, transports: TRANSPORTS };
  for (const a of argv) {
    if (a === "--quick") o.quick = true;
    else if (a.startsWith("--only=")) o.only = a.slice(7).split(",");
    else if (a.startsWith("--transports=")) o.transports = a.slice(13).split(",");
    else if (a === "--") continue;
    else throw new Error(`unknown argument ${a} (known: --quick, --only=${SECTIONS}, --transports=${TRANSPORTS})`);
  }
  for (const s of o.only) if (!SECTIONS.includes(s)) throw new Error(`unknown section ${s} (known: ${SECTIONS})`);
  for (const t of o.transports) {
    if (!TRANSPORTS.includes(t) && !OPTIONAL.includes(t)) throw new Error(`unknown transport ${t} (known: ${[...TRANSPORTS, ...OPTIONAL]})`);
  }
  if (o.transports.includes("ours-b") && !process.env.BENCH_B) throw new Error("ours-b needs BENCH_B=<a built pkg/ folder to compare>");
  return o;
}

const opts = parseArgs(process.argv.slice(2));
const cfg = {
  runs: opts.quick ? 3 : 5, // throughput, latency and cold-start runs
  chunks: 50_000, // chunks per throughput run, at 1 and at 16 records per event
  samples: opts.quick ? 10 : 20, // first-chunk samples per run (the run's figure is their median)
  longtaskRuns: opts.quick ? 1 : 3,
  longtaskChunks: 50_000,
  longtaskPerEvent: 16,
  memoryRuns: opts.quick ? 1 : 3,
  memoryChunks: 1_000_000,
  memoryPerEvent: 16,
  memoryTurn: 1_000, // a turn-complete every 1,000 chunks (watch mode reads on)
};

const here = fileURLToPath(new URL(".", import.meta.url));
await build({ root: here, configFile: join(here, "vite.config.js") });

const types = { ".html": "text/html", ".js": "text/javascript", ".wasm": "application/wasm" };
const dist = join(here, "dist");
const server = createServer(async (req, res) => {
  const path = normalize(join(dist, new URL(req.url, "http://x").pathname.replace(/\/$/, "/index.html")));
  if (!path.startsWith(dist)) return res.writeHead(403).end();
  try {
    const body = await readFile(path);
    res
      .writeHead(200, {
        "content-type": types[extname(path)] ?? "application/octet-stream",
        "cache-control": "no-store",
        // Cross-origin isolated: performance.now() to 5 µs instead of 100 µs.
        "cross-origin-opener-policy": "same-origin",
        "cross-origin-embedder-policy": "require-corp",
      })
      .end(body);
  } catch {
    res.writeHead(404).end();
  }
});
await new Promise((r) => server.listen(0, "127.0.0.1", r));
const base = `http://127.0.0.1:${server.address().port}/`;

// results[metric][transport] = one value per run
const results = {};
const record = (metric, name, value) => ((results[metric] ??= {})[name] ??= []).push(value);
const log = (s) => console.log(s);
const load = () => loadavg().map((x) => x.toFixed(2)).join(" ");

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

async function benchPage(context) {
  const page = await context.newPage();
  page.on("pageerror", (e) => console.error(`page error: ${e.stack ?? e}`));
  await page.goto(base);
  await page.waitForFunction(() => window.__ready === true);
  return page;
}

async function jsHeap(cdp) {
  await cdp.send("HeapProfiler.collectGarbage");
  await cdp.send("HeapProfiler.collectGarbage");
  const { usedSize } = await cdp.send("Runtime.getHeapUsage");
  return usedSize;
}

// The longest task on the renderer's main thread between the page's
// `bench:start` and `bench:end` marks, from a Chromium trace: its wall time
// (what a user waits) and its main-thread CPU time (the trace's thread clock:
// the same task on an idle machine, without the time the thread was
// descheduled or waited for GC helper threads).
function longestTask(traceJson) {
  const trace = JSON.parse(traceJson);
  const events = trace.traceEvents ?? trace;
  const mains = new Set(
    events
      .filter((e) => e.ph === "M" && e.name === "thread_name" && e.args?.name === "CrRendererMain")
      .map((e) => `${e.pid}:${e.tid}`),
  );
  const start = events.find((e) => e.name === "bench:start")?.ts;
  const end = events.find((e) => e.name === "bench:end")?.ts;
  if (start === undefined || end === undefined) throw new Error("trace has no bench:start/bench:end marks");
  let wall = 0;
  let cpu = 0;
  let count = 0;
  for (const e of events) {
    if (e.ph !== "X" || e.name !== "RunTask") continue;
    if (!mains.has(`${e.pid}:${e.tid}`) || e.ts + e.dur < start || e.ts > end) continue;
    count++;
    wall = Math.max(wall, e.dur / 1000);
    cpu = Math.max(cpu, (e.tdur ?? NaN) / 1000);
  }
  if (count === 0) throw new Error("trace has no main-thread tasks in the measured window");
  return { wall, cpu };
}

async function startProfile(cdp) {
  await cdp.send("Profiler.enable");
  await cdp.send("Profiler.setSamplingInterval", { interval: 100 });
  await cdp.send("Profiler.start");
}

// Writes the profile and logs where the time went: self time per function
// (wasm functions by their name in the module's name section, when kept).
async function stopProfile(cdp, label) {
  const { profile } = await cdp.send("Profiler.stop");
  await writeFile(join(process.env.BENCH_PROFILE_DIR, `${label}.cpuprofile`), JSON.stringify(profile));
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const self = new Map();
  const dt = profile.timeDeltas;
  profile.samples.forEach((id, i) => {
    const f = byId.get(id).callFrame;
    const key = `${f.functionName || "(anonymous)"} ${f.url.split("/").pop()}:${f.lineNumber}`;
    self.set(key, (self.get(key) ?? 0) + (dt[i] ?? 0));
  });
  const total = [...self.values()].reduce((a, b) => a + b, 0);
  log(`  profile ${label}: ${(total / 1000).toFixed(0)} ms sampled`);
  for (const [k, us] of [...self].sort((a, b) => b[1] - a[1]).slice(0, 10)) {
    log(`    ${((100 * us) / total).toFixed(1).padStart(5)}%  ${k}`);
  }
}

const browser = await chromium.launch({ executablePath: CHROMIUM_PATH, args: CHROMIUM_ARGS });
const names = opts.transports;
// The floor (floor.js) runs only where it means something: chunks/s and
// first-chunk latency.
const transports = names.filter((n) => n !== "floor");
const startedAt = new Date().toISOString();
const loadBefore = load();
log(`bench: ${names.join(", ")}; ${opts.quick ? "quick" : "full"}; ${cpus().length} cores; load average ${loadBefore}`);
try {
  if (opts.only.includes("cold")) {
    log(`\n## cold start: dynamic import (module fetch, wasm fetch + instantiate) to a constructed transport, fresh browser context each run`);
    for (let r = 1; r <= cfg.runs; r++) {
      for (const name of transports) {
        const context = await browser.newContext();
        const page = await context.newPage();
        await page.goto(`${base}?mode=cold&t=${name}`);
        await page.waitForFunction(() => window.__cold !== undefined, null, { timeout: 60_000 });
        const cold = await page.evaluate(() => window.__cold);
        await context.close();
        if (cold.error) throw new Error(`${name} cold start: ${cold.error}`);
        record("cold", name, cold.ms);
        log(`run ${r}/${cfg.runs} ${name}: ${cold.ms.toFixed(1)} ms`);
      }
    }
  }

  const context = await browser.newContext();
  if (opts.only.includes("throughput") || opts.only.includes("latency")) {
    const page = await benchPage(context);
    const cdp = await context.newCDPSession(page);
    await cdp.send("Performance.enable");
    // CPU seconds of the renderer's main thread so far: under load, wall time
    // includes time the thread waited for a core; this does not.
    const threadTime = async () => (await cdp.send("Performance.getMetrics")).metrics.find((m) => m.name === "ThreadTime").value;
    if (!(await page.evaluate(() => crossOriginIsolated))) log("note: the page is not cross-origin isolated, timers are coarse (100 µs)");
    for (const name of names) await page.evaluate((n) => window.__bench.warm(n), name);
    for (const perEvent of [1, 16]) await page.evaluate(([c, p]) => window.__bench.prepare(c, p), [cfg.chunks, perEvent]);

    if (opts.only.includes("throughput")) {
      for (const perEvent of [1, 16]) {
        log(`\n## throughput: ${cfg.chunks} chunks through sendMessages, ${perEvent} record(s) per SSE event`);
        for (let r = 1; r <= cfg.runs; r++) {
          for (const name of names) {
            // Each run starts on an idle page: what the previous run left
            // (a transport's timers, its stream's last reads) runs first,
            // then its garbage goes.
            await page.evaluate(() => new Promise((r) => setTimeout(r, 100)));
            await cdp.send("HeapProfiler.collectGarbage");
            if (process.env.BENCH_PROFILE_DIR) await startProfile(cdp);
            const cpu0 = await threadTime();
            const res = await page.evaluate(([n, c, p]) => window.__bench.throughput(n, c, p), [name, cfg.chunks, perEvent]);
            const cpu = (await threadTime()) - cpu0;
            if (process.env.BENCH_PROFILE_DIR) await stopProfile(cdp, `throughput${perEvent}-${name}-${r}`);
            record(`tput${perEvent}`, name, res.chunksPerSecond);
            record(`tputCpu${perEvent}`, name, cfg.chunks / cpu);
            log(
              `run ${r}/${cfg.runs} ${name}: ${Math.round(res.chunksPerSecond)} chunks/s (${res.ms.toFixed(0)} ms); ` +
                `${Math.round(cfg.chunks / cpu)} chunks per main-thread CPU second (${(cpu * 1000).toFixed(0)} ms)`,
            );
          }
        }
      }
    }

    if (opts.only.includes("latency")) {
      log(`\n## first chunk: bytes offered to an idle transport -> first chunk read; and sendMessages called -> first chunk (median of ${cfg.samples} per run)`);
      for (let r = 1; r <= cfg.runs; r++) {
        for (const name of names) {
          const res = await page.evaluate(([n, s]) => window.__bench.firstChunk(n, s), [name, cfg.samples]);
          record("first", name, res.ms);
          record("firstFromSend", name, res.fromSendMs);
          log(
            `run ${r}/${cfg.runs} ${name}: ${res.ms.toFixed(2)} ms (samples ${Math.min(...res.samples).toFixed(2)}–${Math.max(...res.samples).toFixed(2)}); ` +
              `from sendMessages ${res.fromSendMs.toFixed(2)} ms`,
          );
        }
      }
    }

    await cdp.detach();
    await page.close();
  }

  if (opts.only.includes("longtask")) {
    log(`\n## longest main-thread task: ${cfg.longtaskChunks} chunks, ${cfg.longtaskPerEvent} records per event, each 64 KiB read in its own task; a fresh page each run`);
    for (let r = 1; r <= cfg.longtaskRuns; r++) {
      for (const name of transports) {
        const page = await benchPage(context);
        const cdp = await context.newCDPSession(page);
        await page.evaluate((n) => window.__bench.warm(n), name);
        await page.evaluate(([c, p]) => window.__bench.prepare(c, p), [cfg.longtaskChunks, cfg.longtaskPerEvent]);
        await cdp.send("HeapProfiler.collectGarbage");
        await browser.startTracing(page, { categories: ["toplevel", "blink.user_timing", "disabled-by-default-devtools.timeline"] });
        let res;
        let trace;
        try {
          res = await page.evaluate(([n, c, p]) => window.__bench.paced(n, c, p), [name, cfg.longtaskChunks, cfg.longtaskPerEvent]);
        } finally {
          trace = await browser.stopTracing();
        }
        await cdp.detach();
        await page.close();
        if (process.env.BENCH_TRACE_DIR) await writeFile(join(process.env.BENCH_TRACE_DIR, `longtask-${name}-${r}.json`), trace);
        const { wall, cpu } = longestTask(trace.toString());
        record("longtask", name, wall);
        record("longtaskCpu", name, cpu);
        record("longtaskCount", name, res.longTasks.length);
        log(
          `run ${r}/${cfg.longtaskRuns} ${name}: longest task ${wall.toFixed(1)} ms wall, ${cpu.toFixed(1)} ms CPU (longest by CPU); ` +
            `${res.longTasks.length} long task(s) over 50 ms; ${res.ms.toFixed(0)} ms in all`,
        );
      }
    }
  }

  if (opts.only.includes("memory")) {
    log(
      `\n## memory: a ${cfg.memoryChunks}-chunk watch-mode stream (${cfg.memoryPerEvent} records per event, a turn every ${cfg.memoryTurn}); ` +
        "JS heap after forced GC, wasm = WebAssembly.Memory bytes",
    );
    const mb = (b) => (b / 2 ** 20).toFixed(2);
    for (let r = 1; r <= cfg.memoryRuns; r++) {
      for (const name of transports) {
        const page = await benchPage(context);
        const cdp = await context.newCDPSession(page);
        const snap = async (step) => ({ ...(await step), heap: await jsHeap(cdp) });
        const before = await snap(page.evaluate(([n, c, p, t, s]) => window.__bench.memSetup(n, c, p, t, s), [name, cfg.memoryChunks, cfg.memoryPerEvent, cfg.memoryTurn, [cfg.memoryChunks / 10, cfg.memoryChunks]]));
        const tenth = await snap(page.evaluate((n) => window.__bench.memRead(n), cfg.memoryChunks / 10));
        const t0 = Date.now();
        const full = await snap(page.evaluate((n) => window.__bench.memRead(n), cfg.memoryChunks));
        const secs = (Date.now() - t0) / 1000;
        const after = await snap(page.evaluate(() => window.__bench.memClose()));
        await cdp.detach();
        await page.close();
        record("heapBefore", name, before.heap);
        record("heapFull", name, full.heap);
        record("heapGrowth", name, full.heap - before.heap);
        record("heapGrowthLate", name, full.heap - tenth.heap);
        record("heapClosed", name, after.heap);
        record("wasmBefore", name, before.wasmBytes);
        record("wasmFull", name, full.wasmBytes);
        record("wasmGrowth", name, full.wasmBytes - before.wasmBytes);
        record("wasmGrowthLate", name, full.wasmBytes - tenth.wasmBytes);
        log(
          `run ${r}/${cfg.memoryRuns} ${name}: JS heap ${mb(before.heap)} -> ${mb(tenth.heap)} (${cfg.memoryChunks / 10}) -> ${mb(full.heap)} MB (${cfg.memoryChunks}) -> ${mb(after.heap)} MB closed; ` +
            `wasm ${mb(before.wasmBytes)} -> ${mb(tenth.wasmBytes)} -> ${mb(full.wasmBytes)} MB; ${full.outFetches} .out connection(s); last 90% read in ${secs.toFixed(1)} s`,
        );
      }
    }
  }
  await context.close();
} finally {
  await browser.close();
  server.close();
}

// ---- the table
const kilo = (x) => `${(x / 1000).toFixed(0)} k`;
const ms1 = (x) => `${x.toFixed(1)} ms`;
const ms2 = (x) => `${x.toFixed(2)} ms`;
const mib = (x) => `${(x / 2 ** 20).toFixed(2)} MB`;
const signedKib = (x) => `${x >= 0 ? "+" : "−"}${(Math.abs(x) / 1024).toFixed(0)} KB`;
const int = (x) => `${x}`;
const rows = [
  ["cold start: import → constructed transport", "cold", ms1, "lower"],
  [`chunks/s, 1 record per event (${cfg.chunks / 1000} k chunks)`, "tput1", kilo, "higher"],
  [`chunks/s, 16 records per event (${cfg.chunks / 1000} k chunks)`, "tput16", kilo, "higher"],
  ["chunks per main-thread CPU second, 1 record per event", "tputCpu1", kilo, "higher"],
  ["chunks per main-thread CPU second, 16 records per event", "tputCpu16", kilo, "higher"],
  ["first-chunk latency: first bytes → first chunk", "first", ms2, "lower"],
  ["first chunk from calling sendMessages (bytes ready)", "firstFromSend", ms2, "lower"],
  [`longest main-thread task, wall (${cfg.longtaskChunks / 1000} k chunks)`, "longtask", ms1, "lower"],
  [`longest main-thread task, CPU (${cfg.longtaskChunks / 1000} k chunks)`, "longtaskCpu", ms1, "lower"],
  ["tasks over 50 ms wall (PerformanceObserver)", "longtaskCount", int, null],
  ["JS heap before the watch stream", "heapBefore", mib, null],
  [`JS heap after ${cfg.memoryChunks / 1e6} M chunks (stream open)`, "heapFull", mib, null],
  [`JS heap growth over ${cfg.memoryChunks / 1e6} M chunks`, "heapGrowth", signedKib, null],
  [`JS heap growth, last 90% of the chunks`, "heapGrowthLate", signedKib, null],
  ["JS heap after closing the stream", "heapClosed", mib, null],
  ["wasm memory before", "wasmBefore", mib, null],
  [`wasm memory after ${cfg.memoryChunks / 1e6} M chunks`, "wasmFull", mib, null],
  [`wasm memory growth over ${cfg.memoryChunks / 1e6} M chunks`, "wasmGrowth", signedKib, null],
  [`wasm memory growth, last 90% of the chunks`, "wasmGrowthLate", signedKib, null],
];
const vendors = names.includes("ours") ? names.filter((n) => n !== "ours") : [];
const head = ["", ...names, ...vendors.map((v) => `ours ÷ ${v.replace("vendor-", "")}`)];
const lines = [`| ${head.join(" | ")} |`, `|${head.map(() => " --- ").join("|")}|`];
for (const [label, key, fmt, better] of rows) {
  if (!results[key]) continue;
  const cells = names.map((n) => {
    const xs = results[key][n];
    if (!xs) return "—";
    const [m, lo, hi] = [median(xs), Math.min(...xs), Math.max(...xs)].map(fmt);
    return lo === hi ? m : `${m} (${lo}–${hi})`;
  });
  const ratios = vendors.map((v) => {
    const a = results[key].ours;
    const b = results[key][v];
    if (!better || !a || !b) return "";
    return `${(median(a) / median(b)).toFixed(2)}×`;
  });
  lines.push(`| ${label} | ${[...cells, ...ratios].join(" | ")} |`);
}
const summary = lines.join("\n");
log(`\n## medians (min–max over runs); load average before ${loadBefore}, after ${load()}\n\n${summary}\n`);
await writeFile(
  join(here, "last-run.json"),
  JSON.stringify({ startedAt, quick: opts.quick, config: cfg, loadBefore, loadAfter: load(), results, table: summary }, null, 2),
);
