// Throughput of sendMessages: chunks per second from an in-memory .out body
// (one record per SSE `batch` event, read in 64 KiB pieces) to the consumer
// of the returned ReadableStream. Same fetch double for both transports.
import { TriggerChatTransport as Ours } from "trigger-chat-wasm";
import { TriggerChatTransport as Vendor } from "@trigger.dev/sdk/chat";

const enc = new TextEncoder();

function buildBody(n) {
  let text = "";
  for (let i = 1; i <= n; i++) {
    const chunk = { type: "text-delta", id: "txt-1", delta: `token${i} ` };
    const rec = { seq_num: i, timestamp: 1700000000000 + i, body: JSON.stringify({ data: chunk, id: `part-${i}` }), headers: [] };
    text += `id: ${i},${i + 1},${i * 100}\nevent: batch\ndata: ${JSON.stringify({ records: [rec], tail: { seq_num: i, timestamp: 1 } })}\n\n`;
  }
  const tc = { seq_num: n + 1, timestamp: 1, body: "", headers: [["trigger-control", "turn-complete"]] };
  text += `event: batch\ndata: ${JSON.stringify({ records: [tc] })}\n\n`;
  return enc.encode(text);
}

function pieces(bytes, size) {
  const out = [];
  for (let i = 0; i < bytes.length; i += size) out.push(bytes.subarray(i, i + size));
  return out;
}

async function runOnce(Transport, parts) {
  globalThis.fetch = async (url) => {
    if (url.endsWith("/in/append")) return new Response('{"ok":true}', { status: 200 });
    let i = 0;
    const body = new ReadableStream({
      pull(c) {
        if (i < parts.length) c.enqueue(parts[i++]);
        else c.close();
      },
    });
    return new Response(body, { status: 200, headers: { "content-type": "text/event-stream", "X-Stream-Version": "v2" } });
  };
  const t = new Transport({ task: "bench", accessToken: () => "tok", sessions: { c: { publicAccessToken: "tok" } } });
  const t0 = performance.now();
  const stream = await t.sendMessages({
    trigger: "submit-message",
    chatId: "c",
    messageId: undefined,
    messages: [{ id: "u", role: "user", parts: [{ type: "text", text: "go" }] }],
    abortSignal: undefined,
  });
  const reader = stream.getReader();
  let n = 0;
  let last;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    n++;
    last = value;
  }
  const ms = performance.now() - t0;
  t.dispose?.();
  return { n, ms, last };
}

async function main() {
  const N = Number(new URLSearchParams(location.search).get("n") ?? 100000);
  const parts = pieces(buildBody(N), 64 * 1024);
  const results = {};
  for (const [name, T] of [["trigger-chat-wasm", Ours], ["@trigger.dev/sdk 4.5.0", Vendor]]) {
    await runOnce(T, pieces(buildBody(1000), 64 * 1024)); // warm up
    const runs = [];
    for (let r = 0; r < 5; r++) {
      const { n, ms, last } = await runOnce(T, parts);
      if (n !== N || last?.delta !== `token${N} `) throw new Error(`${name}: got ${n} chunks, last ${JSON.stringify(last)}`);
      runs.push(N / (ms / 1000));
    }
    runs.sort((a, b) => a - b);
    results[name] = { chunksPerSecond: Math.round(runs[2]), runs: runs.map(Math.round) };
  }
  results.speedup = +(results["trigger-chat-wasm"].chunksPerSecond / results["@trigger.dev/sdk 4.5.0"].chunksPerSecond).toFixed(2);
  document.getElementById("out").textContent = JSON.stringify(results, null, 2);
  window.__result = results;
}

main().catch((e) => {
  document.getElementById("out").textContent = `error: ${e.stack || e}`;
  window.__result = { error: String(e.stack || e) };
});
