// The bench page. It runs nothing by itself (except in cold-start mode):
// run.mjs drives it through `window.__bench`, one measurement per call, so
// the runs of each transport can be interleaved and the browser-side
// measurements (GC, heap, tracing) done from outside between the steps.
//
// Every transport is loaded with a dynamic import, so a cold-start page
// fetches only the one it measures. Every transport reads the same bytes
// from the same fetch double: an in-memory `.out` body of SSE `batch`
// events, cut into 64 KiB pieces (mid-event, as a network would).

export const TRANSPORTS = {
  ours: () => import("trigger-chat-wasm"),
  "ours-b": () => import("trigger-chat-wasm-b"),
  floor: () => import("./floor.js"),
  "vendor-4.5.0": () => import("@trigger.dev/sdk/chat"),
  "vendor-4.8.3": () => import("trigger-sdk-483/chat"),
};

// ---- wasm memory: every WebAssembly.Memory an instance exports or imports.
// Installed before any transport module is imported; works whatever way the
// glue instantiates (instantiate, instantiateStreaming, new Instance).
const memories = new Set();
function noteInstance(instance) {
  for (const v of Object.values(instance?.exports ?? {})) if (v instanceof WebAssembly.Memory) memories.add(v);
  return instance;
}
function noteImports(imports) {
  for (const ns of Object.values(imports ?? {}))
    for (const v of Object.values(ns ?? {})) if (v instanceof WebAssembly.Memory) memories.add(v);
}
{
  const W = WebAssembly;
  const instantiate = W.instantiate;
  W.instantiate = async function (source, imports) {
    noteImports(imports);
    const r = await instantiate.call(W, source, imports);
    noteInstance(r instanceof W.Instance ? r : r.instance);
    return r;
  };
  const streaming = W.instantiateStreaming;
  if (streaming) {
    W.instantiateStreaming = async function (source, imports) {
      noteImports(imports);
      const r = await streaming.call(W, source, imports);
      noteInstance(r.instance);
      return r;
    };
  }
  const Instance = W.Instance;
  W.Instance = new Proxy(Instance, {
    construct(target, args, newTarget) {
      noteImports(args[1]);
      return noteInstance(Reflect.construct(target, args, newTarget === W.Instance ? target : newTarget));
    },
  });
}
const wasmBytes = () => [...memories].reduce((s, m) => s + m.buffer.byteLength, 0);

// ---- main-thread long tasks (over 50 ms), as the page itself sees them.
const longTasks = [];
try {
  new PerformanceObserver((list) => {
    for (const e of list.getEntries()) longTasks.push({ start: e.startTime, ms: e.duration });
  }).observe({ type: "longtask", buffered: true });
} catch {
  // no longtask support: the trace still gives the answer
}

// ---- the bytes of a `.out` stream
const enc = new TextEncoder();
const PIECE = 64 * 1024;

// One data record; `k` numbers the chunk (its delta is `token<k> `).
const dataRecord = (seq, k) =>
  `{"seq_num":${seq},"timestamp":${1700000000000 + seq},"body":"{\\"data\\":{\\"type\\":\\"text-delta\\",\\"id\\":\\"txt-1\\",\\"delta\\":\\"token${k} \\"},\\"id\\":\\"part-${k}\\"}","headers":[]}`;
const turnComplete = (seq) => `{"seq_num":${seq},"timestamp":${1700000000000 + seq},"body":"","headers":[["trigger-control","turn-complete"]]}`;
const event = (records, last) =>
  `id: ${last},${last + 1},${last * 100}\nevent: batch\ndata: {"records":[${records.join(",")}],"tail":{"seq_num":${last},"timestamp":1}}\n\n`;

// The SSE events of `chunks` text-delta chunks, `perEvent` records to an
// event, a turn-complete after every `turn` chunks and after the last one;
// each as [text, chunks in it].
function* sseEvents(chunks, perEvent, turn = chunks) {
  let seq = 0;
  let k = 0;
  while (k < chunks) {
    const end = Math.min(chunks, k + turn);
    while (k < end) {
      const recs = [];
      for (let j = 0; j < perEvent && k < end; j++) recs.push(dataRecord(++seq, ++k));
      yield [event(recs, seq), recs.length];
    }
    yield [event([turnComplete(++seq)], seq), 0];
  }
}

// The whole body at once, in 64 KiB pieces.
function prebuilt(chunks, perEvent) {
  const bytes = enc.encode(Array.from(sseEvents(chunks, perEvent), ([text]) => text).join(""));
  const out = [];
  for (let i = 0; i < bytes.length; i += PIECE) out.push(bytes.subarray(i, i + PIECE));
  return out;
}

// The body made as it is read (for streams too large to hold), in pieces of
// about 64 KiB, each with the number of chunks before it; a piece also ends
// at each of `stops` (chunk counts).
function* lazyPieces(chunks, perEvent, turn, stops) {
  let text = "";
  let before = 0;
  let through = 0;
  for (const [e, n] of sseEvents(chunks, perEvent, turn)) {
    text += e;
    through += n;
    if (text.length >= PIECE || (n > 0 && stops.includes(through))) {
      yield { bytes: enc.encode(text), before };
      text = "";
      before = through;
    }
  }
  if (text) yield { bytes: enc.encode(text), before };
}

// A live producer: the body of a watch-mode stream that never gets more than
// `ahead` chunks ahead of what the app has read (a server streams tokens as
// they are made; a transport that reads ahead without backpressure cannot
// pile the whole stream up in memory here), sends nothing past the chunk the
// app is told to read up to (so at a measuring point nothing is in flight),
// and stays open at its end.
function liveBody(iter, ahead) {
  return new ReadableStream({
    async pull(c) {
      const { done, value } = iter.next();
      if (done) return never;
      const m = window.__mem;
      while (value.before - m.read > ahead || value.before >= m.limit) await new Promise((r) => (m.wake = r));
      c.enqueue(value.bytes);
    },
  });
}

const never = new Promise(() => {});
let channel;
const nextTask = () =>
  new Promise((resolve) => {
    channel ??= new MessageChannel();
    channel.port1.onmessage = () => resolve();
    channel.port2.postMessage(0);
  });

// A ReadableStream over an iterator of pieces. `paced`: each piece arrives in
// its own task (as network reads do). `hold`: after the last piece the body
// stays open (a watch-mode connection waiting for the next turn) instead of
// ending.
function bodyOf(iter, { paced = false, hold = false } = {}) {
  return new ReadableStream({
    async pull(c) {
      if (paced) await nextTask();
      const { done, value } = iter.next();
      if (!done) c.enqueue(value);
      else if (hold) return never;
      else c.close();
    },
  });
}

const stats = { outFetches: 0 };
// The page's own fetch, for a transport's module files (a transport loaded
// after another one's run still fetches its .wasm for real).
const pageFetch = globalThis.fetch;
function installFetch(nextBody) {
  globalThis.fetch = async (input) => {
    const url = typeof input === "string" ? input : (input?.url ?? String(input));
    if (url.endsWith(".wasm")) return pageFetch(input);
    if (url.endsWith("/in/append")) return new Response('{"ok":true}', { status: 200, headers: { "content-type": "application/json" } });
    stats.outFetches++;
    return new Response(nextBody(), {
      status: 200,
      headers: { "content-type": "text/event-stream", "X-Stream-Version": "v2" },
    });
  };
}

const loaded = {};
async function load(name) {
  const mod = (loaded[name] ??= await TRANSPORTS[name]());
  return mod.TriggerChatTransport;
}

const options = (extra) => ({ task: "bench", accessToken: () => "tok", sessions: { c: { publicAccessToken: "tok" } }, ...extra });

async function open(T, extra) {
  return send(new T(options(extra)));
}

async function send(t) {
  const stream = await t.sendMessages({
    trigger: "submit-message",
    chatId: "c",
    messageId: undefined,
    messages: [{ id: "u", role: "user", parts: [{ type: "text", text: "go" }] }],
    abortSignal: undefined,
  });
  return { t, reader: stream.getReader() };
}

function close(t, reader) {
  reader.cancel().catch(() => {});
  t.dispose?.();
}

// Reads every chunk; checks the count and the last one.
async function drain(name, reader, expect) {
  let n = 0;
  let last;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    n++;
    last = value;
  }
  if (n !== expect || last?.delta !== `token${expect} `) throw new Error(`${name}: got ${n} chunks, last ${JSON.stringify(last)}`);
}

const bodies = new Map();
function cachedBody(chunks, perEvent) {
  const key = `${chunks}/${perEvent}`;
  if (!bodies.has(key)) bodies.set(key, prebuilt(chunks, perEvent));
  return bodies.get(key);
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};

window.__bench = {
  transports: Object.keys(TRANSPORTS),

  /** Loads a transport and pushes a small stream through it (JIT warm-up). */
  async warm(name) {
    const T = await load(name);
    const parts = cachedBody(2000, 4);
    installFetch(() => bodyOf(parts.values()));
    const { t, reader } = await open(T);
    await drain(name, reader, 2000);
    t.dispose?.();
    return true;
  },

  /** Builds a body ahead of the run that reads it. */
  prepare(chunks, perEvent) {
    cachedBody(chunks, perEvent);
    return true;
  },

  /** Chunks/s from the first byte offered to the last chunk read. */
  async throughput(name, chunks, perEvent) {
    const T = await load(name);
    const parts = cachedBody(chunks, perEvent);
    installFetch(() => bodyOf(parts.values()));
    const t0 = performance.now();
    const { t, reader } = await open(T);
    await drain(name, reader, chunks);
    const ms = performance.now() - t0;
    t.dispose?.();
    return { chunksPerSecond: chunks / (ms / 1000), ms };
  },

  /**
   * Time from the first bytes of the body becoming readable to the first
   * chunk in the reader's hands, `samples` times (a new transport each); the
   * transport is idle, waiting on its read, when the bytes arrive.
   */
  async firstChunk(name, samples) {
    const T = await load(name);
    const first = enc.encode(event([dataRecord(1, 1)], 1));
    const rest = enc.encode(event([turnComplete(2)], 2));
    const out = [];
    for (let i = 0; i < samples; i++) {
      let ctrl;
      let pulled;
      const waiting = new Promise((r) => (pulled = r));
      installFetch(
        () =>
          new ReadableStream({
            start(c) {
              ctrl = c;
            },
            pull() {
              pulled();
              return never;
            },
          }),
      );
      const { t, reader } = await open(T);
      const read = reader.read();
      await waiting;
      await new Promise((r) => setTimeout(r, 5));
      const t0 = performance.now();
      ctrl.enqueue(first);
      const { value } = await read;
      out.push(performance.now() - t0);
      if (value?.delta !== "token1 ") throw new Error(`${name}: first chunk ${JSON.stringify(value)}`);
      ctrl.enqueue(rest);
      ctrl.close();
      while (!(await reader.read()).done);
      t.dispose?.();
    }
    // The same first event, ready before the transport asks for it: the time
    // from calling sendMessages (append, then connect) to the first chunk.
    const fromSend = [];
    for (let i = 0; i < samples; i++) {
      installFetch(
        () =>
          new ReadableStream({
            start(c) {
              c.enqueue(first);
              c.enqueue(rest);
              c.close();
            },
          }),
      );
      const t = new T(options());
      const t0 = performance.now();
      const { reader } = await send(t);
      const { value } = await reader.read();
      fromSend.push(performance.now() - t0);
      if (value?.delta !== "token1 ") throw new Error(`${name}: first chunk ${JSON.stringify(value)}`);
      while (!(await reader.read()).done);
      t.dispose?.();
    }
    return { ms: median(out), samples: out, fromSendMs: median(fromSend) };
  },

  /**
   * `chunks` chunks at `perEvent` records to an event, each 64 KiB piece in
   * its own task; returns the long tasks the page saw meanwhile.
   */
  async paced(name, chunks, perEvent) {
    const T = await load(name);
    const parts = cachedBody(chunks, perEvent);
    installFetch(() => bodyOf(parts.values(), { paced: true }));
    await nextTask();
    const from = performance.now();
    performance.mark("bench:start");
    const { t, reader } = await open(T);
    await drain(name, reader, chunks);
    performance.mark("bench:end");
    const to = performance.now();
    t.dispose?.();
    await new Promise((r) => setTimeout(r, 50)); // let the observer deliver
    const seen = longTasks.filter((e) => e.start + e.ms >= from && e.start <= to).map((e) => e.ms);
    return { ms: to - from, longTasks: seen };
  },

  // ---- memory over a long watch-mode stream, in steps driven by run.mjs
  // (which forces GC and reads the JS heap between them).
  async memSetup(name, chunks, perEvent, turn, stops) {
    const T = await load(name);
    stats.outFetches = 0;
    installFetch(() => (stats.outFetches === 1 ? liveBody(lazyPieces(chunks, perEvent, turn, stops), 4096) : bodyOf([].values(), { hold: true })));
    window.__mem = { name, read: 0, limit: 0, t: new T(options({ watch: true })) };
    return { wasmBytes: wasmBytes() };
  },
  async memRead(upTo) {
    const m = window.__mem;
    m.limit = upTo;
    m.wake?.();
    m.wake = undefined;
    m.reader ??= (await send(m.t)).reader;
    let last;
    while (m.read < upTo) {
      const { done, value } = await m.reader.read();
      if (done) throw new Error(`${m.name}: watch stream ended after ${m.read} chunks`);
      m.read++;
      last = value;
      if (m.wake && (m.read & 255) === 0) {
        m.wake();
        m.wake = undefined;
      }
    }
    if (last?.delta !== `token${upTo} `) throw new Error(`${m.name}: chunk ${upTo} is ${JSON.stringify(last)}`);
    return { wasmBytes: wasmBytes(), outFetches: stats.outFetches };
  },
  async memClose() {
    const m = window.__mem;
    close(m.t, m.reader);
    window.__mem = undefined;
    await new Promise((r) => setTimeout(r, 10));
    return { wasmBytes: wasmBytes() };
  },
};

// Cold start: `?mode=cold&t=<name>` times the module fetch (dynamic import,
// and for ours the wasm fetch and instantiation) up to a constructed
// transport, in a page that has loaded nothing else.
const params = new URLSearchParams(location.search);
if (params.get("mode") === "cold") {
  const name = params.get("t");
  (async () => {
    const t0 = performance.now();
    const { TriggerChatTransport: T } = await TRANSPORTS[name]();
    const t = new T(options());
    const t1 = performance.now();
    t.dispose?.();
    window.__cold = { ms: t1 - t0, sinceNavigation: t1 };
  })().catch((e) => (window.__cold = { error: String(e?.stack ?? e) }));
}
window.__ready = true;
