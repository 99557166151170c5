// The test proxy (lib/proxy.mjs) on its own, against a small upstream server
// in this process: no browser and no emulator, so it runs once, not per engine.
import assert from "node:assert/strict";
import http from "node:http";
import { after, before, test } from "node:test";
import { startProxy } from "./lib/proxy.mjs";
import { eventually } from "../support/eventually.mjs";

const WAIT = 10_000;
let upstream;
let upstreamUrl;
const received = [];
const streams = new Set(); // open /stream responses, written to by the test

before(async () => {
  upstream = http.createServer((req, res) => {
    let body = "";
    req.on("data", (c) => (body += c));
    req.on("end", () => {
      received.push(`${req.method} ${req.url} ${body}`);
      if (req.url === "/") {
        res.writeHead(200, { "content-type": "text/html" });
        res.end("<!doctype html><html><head><title>t</title></head><body></body></html>");
      } else if (req.url === "/stream") {
        res.writeHead(200, { "content-type": "text/event-stream" });
        res.flushHeaders();
        streams.add(res);
        res.on("close", () => streams.delete(res));
      } else if (req.url === "/host") {
        res.end(req.headers.host);
      } else {
        res.writeHead(200, { "content-type": "application/json" });
        res.end(JSON.stringify({ echo: body }));
      }
    });
  });
  await new Promise((r) => upstream.listen(0, "127.0.0.1", r));
  upstreamUrl = `http://127.0.0.1:${upstream.address().port}`;
});

after(async () => {
  for (const s of streams) s.destroy();
  upstream.closeAllConnections();
  await new Promise((r) => upstream.close(r));
});

async function withProxy(body) {
  const proxy = await startProxy(upstreamUrl);
  try {
    await body(proxy);
  } finally {
    await proxy.stop();
  }
}

/** Reads a streamed response's chunks as they arrive. */
function reader(res) {
  const r = res.body.getReader();
  const dec = new TextDecoder();
  let text = "";
  return {
    text: () => text,
    async until(needle) {
      while (!text.includes(needle)) {
        const { value, done } = await r.read();
        if (done) throw new Error(`the stream ended before ${JSON.stringify(needle)}: ${JSON.stringify(text)}`);
        text += dec.decode(value, { stream: true });
      }
    },
    async end() {
      for (;;) {
        const { value, done } = await r.read();
        if (done) return text;
        text += dec.decode(value, { stream: true });
      }
    },
  };
}

test("a stream passes through chunk by chunk, and the Host header is the proxy's", async () => {
  await withProxy(async (proxy) => {
    assert.equal(await (await fetch(`${proxy.url}/host`)).text(), new URL(proxy.url).host);
    const res = await fetch(`${proxy.url}/stream`);
    assert.equal(res.headers.get("content-type"), "text/event-stream");
    await eventually(() => streams.size === 1, "the upstream stream to open", WAIT);
    const [up] = streams;
    const r = reader(res);
    // Each event reaches the client while the upstream response is still open.
    up.write("data: one\n\n");
    await r.until("data: one");
    up.write("data: two\n\n");
    await r.until("data: two");
    up.end();
    assert.equal(await r.end(), "data: one\n\ndata: two\n\n");
  });
});

test("a stream the upstream cuts is cut for the client too", async () => {
  await withProxy(async (proxy) => {
    const res = await fetch(`${proxy.url}/stream`);
    await eventually(() => streams.size === 1, "the upstream stream to open", WAIT);
    const [up] = streams;
    const r = reader(res);
    up.write("data: one\n\n");
    await r.until("data: one");
    up.socket.destroy();
    await assert.rejects(r.end(), "a cut stream ended cleanly");
  });
});

test("the HTML document gets the console hook at the top of <head>", async () => {
  await withProxy(async (proxy) => {
    const html = await (await fetch(`${proxy.url}/`, { headers: { accept: "text/html" } })).text();
    assert.match(html, /^<!doctype html><html><head><script>[\s\S]*__e2e_console[\s\S]*<\/script><title>t<\/title>/);
  });
});

test("drop cuts matching requests before they reach the upstream; hold keeps one until released", async () => {
  await withProxy(async (proxy) => {
    received.length = 0;
    const drop = proxy.drop((r) => r.method === "PUT");
    await assert.rejects(fetch(`${proxy.url}/save`, { method: "PUT", body: "x" }));
    assert.equal(drop.count, 1);
    drop.stop();
    assert.equal((await (await fetch(`${proxy.url}/save`, { method: "PUT", body: "y" })).json()).echo, "y");
    assert.deepEqual(received, ["PUT /save y"]);

    const hold = proxy.hold((r) => r.json?.kind === "stop");
    const seen = proxy.waitForRequest((r) => r.path === "/append", "the append", WAIT);
    const answer = fetch(`${proxy.url}/append`, { method: "POST", body: JSON.stringify({ kind: "stop" }) });
    const held = await hold.next("the held append", WAIT);
    assert.equal((await seen).json.kind, "stop");
    assert.equal(held.request.path, "/append");
    // Other requests go by while it is held.
    assert.equal((await (await fetch(`${proxy.url}/other`, { method: "POST", body: "z" })).json()).echo, "z");
    assert.ok(!received.some((l) => l.startsWith("POST /append")), "the held request reached the upstream");
    held.release();
    assert.equal((await (await answer).json()).echo, JSON.stringify({ kind: "stop" }));
    assert.ok(received.some((l) => l.startsWith("POST /append")));
    hold.stop();
    await assert.rejects(proxy.waitForRequest(() => true, "nothing", 50), /timed out after 50 ms waiting for nothing/);
  });
});

test("the network goes down (open streams cut, new requests refused) and comes back up", async () => {
  await withProxy(async (proxy) => {
    const res = await fetch(`${proxy.url}/stream`);
    await eventually(() => streams.size === 1, "the upstream stream to open", WAIT);
    const r = reader(res);
    proxy.setOnline(false);
    await assert.rejects(r.end(), "the open stream survived the network going down");
    await assert.rejects(fetch(`${proxy.url}/x`, { method: "POST", body: "down" }));
    await eventually(() => streams.size === 0, "the upstream stream to be closed", WAIT);
    proxy.setOnline(true);
    assert.equal((await (await fetch(`${proxy.url}/x`, { method: "POST", body: "up" })).json()).echo, "up");
  });
});
