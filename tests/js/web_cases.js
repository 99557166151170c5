// Cases for the web layer, run in real browsers by tests/web.rs. Each case
// gets `make(options)`, which builds the Rust transport (the class the
// package wraps), and throws on failure. `globalThis.fetch` is replaced by a double
// per case.

const enc = new TextEncoder();

function check(cond, what) {
  if (!cond) throw new Error(`check failed: ${what}`);
}

// JSON text with object keys sorted, so key order does not matter.
function canon(v) {
  return JSON.stringify(v, (_k, x) =>
    x && typeof x === "object" && !Array.isArray(x)
      ? Object.fromEntries(Object.keys(x).sort().map((k) => [k, x[k]]))
      : x,
  );
}

function eq(a, b, what) {
  const x = canon(a);
  const y = canon(b);
  if (x !== y) throw new Error(`${what}: expected ${y}, got ${x}`);
}

// S2 batch SSE text: one event per record, seq from `first`.
function batch(items, first = 1) {
  let seq = first;
  let out = "";
  for (const it of items) {
    let rec;
    if (it && it.headers) {
      rec = { seq_num: seq, timestamp: 1, body: "", headers: it.headers };
    } else if (it === "turn-complete" || (it && it.turnComplete)) {
      const headers = [["trigger-control", "turn-complete"]];
      if (it.token) headers.push(["public-access-token", it.token]);
      rec = { seq_num: seq, timestamp: 1, body: "", headers };
    } else {
      rec = { seq_num: seq, timestamp: 1, body: JSON.stringify({ data: it, id: `part-${seq}` }), headers: [] };
    }
    out += `id: ${seq},${seq},0\nevent: batch\ndata: ${JSON.stringify({ records: [rec] })}\n\n`;
    seq++;
  }
  return out;
}

const delta = (d) => ({ type: "text-delta", id: "t", delta: d });

// A body that yields `pieces` (strings or Uint8Arrays) one read at a
// time, then ends or errors.
function body(pieces, { error } = {}) {
  const queue = [...pieces];
  return new ReadableStream({
    pull(c) {
      if (queue.length > 0) {
        const p = queue.shift();
        c.enqueue(typeof p === "string" ? enc.encode(p) : p);
      } else if (error) c.error(error);
      else c.close();
    },
  });
}

function sse(text, init = {}) {
  return new Response(typeof text === "string" ? body([text]) : text, {
    status: 200,
    headers: { "content-type": "text/event-stream", ...(init.headers || {}) },
  });
}

const ok = () => new Response('{"ok":true}', { status: 200 });

// Installs a fetch double: `route(url, init, n)` answers the n-th call.
function fakeFetch(route) {
  const calls = [];
  globalThis.fetch = async (url, init = {}) => {
    calls.push({ url, init, headers: { ...(init.headers || {}) } });
    return route(url, init, calls.length);
  };
  return calls;
}

const isAppend = (u) => u.endsWith("/in/append");
const isOut = (u) => u.endsWith("/out");

async function drain(source) {
  const all = [];
  for (;;) {
    const batch = await source.next();
    if (batch === null) return all;
    all.push(...batch);
  }
}

const userMsg = (text) => ({ id: `u-${text}`, role: "user", parts: [{ type: "text", text }] });
const send = (t, chatId, extra = {}) =>
  t.sendMessages({ trigger: "submit-message", chatId, messageId: undefined, messages: [userMsg("hi")], ...extra });

async function rejects(promise, re, what) {
  try {
    await promise;
  } catch (e) {
    check(re.test(String(e && e.message)), `${what}: message ${e && e.message}`);
    return e;
  }
  throw new Error(`${what}: expected a rejection`);
}

export const cases = {
  async fetch_is_looked_up_at_call_time(make) {
    const t = make({ task: "t", accessToken: () => "p", sessions: { c: { publicAccessToken: "tok" } } });
    const calls = fakeFetch((u) => (isAppend(u) ? ok() : sse(batch([delta("x"), "turn-complete"]))));
    const chunks = await drain(await send(t, "c"));
    eq(chunks, [delta("x")], "chunks");
    eq(calls.length, 2, "calls through the replaced fetch");
  },

  async append_request_shape(make) {
    const t = make({
      task: "t",
      accessToken: () => "p",
      baseURL: "https://api.example/",
      headers: { "X-App": "1", authorization: "nope" },
      sessions: { "a b/c": { publicAccessToken: "tok" } },
    });
    const calls = fakeFetch((u) => (isAppend(u) ? ok() : sse(batch(["turn-complete"]))));
    await drain(await send(t, "a b/c", { messageId: "m1", metadata: { k: 1 }, body: { extra: true } }));
    const a = calls[0];
    eq(a.url, "https://api.example/realtime/v1/sessions/a%20b%2Fc/in/append", "append url");
    eq(a.init.method, "POST", "method");
    check(typeof a.init.body === "string", "body is a string");
    const b = JSON.parse(a.init.body);
    eq(b.kind, "message", "kind");
    eq(b.payload.trigger, "submit-message", "trigger");
    eq(b.payload.messageId, "m1", "messageId");
    eq(b.payload.metadata, { k: 1 }, "metadata");
    eq(b.payload.extra, true, "body spread");
    eq(b.payload.message.parts[0].text, "hi", "message");
    check(!Array.isArray(a.init.headers) && !(a.init.headers instanceof Headers), "headers are a plain object");
    eq(a.headers.Authorization, "Bearer tok", "auth header");
    eq(a.headers["Content-Type"], "application/json", "content type");
    eq(a.headers["X-App"], "1", "extra header");
    check(!("authorization" in a.headers), "fixed headers win over extra ones");
    check(/^[0-9a-f-]{36}$/.test(a.headers["X-Part-Id"]), "X-Part-Id is a UUID");
  },

  async payloads_carry_the_newest_message_and_merged_metadata(make) {
    const t = make({
      task: "t",
      accessToken: () => "p",
      clientData: { userId: "u1", scope: "default" },
      sessions: { c: { publicAccessToken: "tok" } },
    });
    let seq = 1;
    const calls = fakeFetch((u) => (isAppend(u) ? ok() : sse(batch(["turn-complete"], seq++))));
    const appended = () => calls.filter((c) => isAppend(c.url)).at(-1).init.body;
    // Fixed fields win over the body's, in the body's key order; only the
    // newest message travels; the call's metadata wins over clientData.
    const history = [userMsg("first"), userMsg("second")];
    await drain(
      await t.sendMessages({
        chatId: "c",
        trigger: "submit-message",
        messages: history,
        messageId: "m1",
        metadata: { scope: "request", n: 2 },
        body: { extra: 1, chatId: "spoofed", trigger: "x" },
      }),
    );
    eq(
      appended(),
      JSON.stringify({
        kind: "message",
        payload: {
          extra: 1,
          chatId: "c",
          trigger: "submit-message",
          message: userMsg("second"),
          messageId: "m1",
          metadata: { userId: "u1", scope: "request", n: 2 },
        },
      }),
      "submit payload",
    );
    // Regenerate carries no message; absent fields are left out; a null
    // metadata counts as not given, clientData alone is kept.
    t.setClientData(null);
    await drain(await t.sendMessages({ chatId: "c", trigger: "regenerate-message", messages: history, metadata: null }));
    eq(appended(), '{"kind":"message","payload":{"chatId":"c","trigger":"regenerate-message"}}', "regenerate payload");
    // Metadata that is not an object merges to an empty object.
    await drain(await t.sendMessages({ chatId: "c", trigger: "submit-message", messages: history, metadata: "str" }));
    eq(JSON.parse(appended()).payload.metadata, {}, "non-object metadata");
    // An assistant message with resolved tool parts travels as their
    // resolutions only.
    const assistant = {
      id: "a1",
      role: "assistant",
      metadata: { x: 1 },
      parts: [
        { type: "reasoning", text: "long thoughts" },
        { type: "text", text: "hello" },
        { type: "tool-askUser", toolCallId: "c1", state: "output-available", input: { q: "?" }, output: "red" },
        { type: "tool-sendEmail", toolCallId: "c2", state: "approval-responded", input: {}, approval: { id: "ap", approved: true } },
        { type: "tool-other", toolCallId: "c3", state: "input-available", input: {} },
        { type: "tool-fail", toolCallId: "c4", state: "output-error", errorText: "bad", input: {} },
        { type: "dynamic-tool", toolName: "dyn", toolCallId: "c5", state: "output-denied", approval: { id: "d", approved: false } },
      ],
    };
    await drain(await t.sendMessages({ chatId: "c", trigger: "submit-message", messages: [assistant] }));
    eq(
      JSON.stringify(JSON.parse(appended()).payload.message),
      JSON.stringify({
        id: "a1",
        role: "assistant",
        parts: [
          { type: "tool-askUser", toolCallId: "c1", state: "output-available", output: "red" },
          { type: "tool-sendEmail", toolCallId: "c2", state: "approval-responded", approval: { id: "ap", approved: true } },
          { type: "tool-fail", toolCallId: "c4", state: "output-error", errorText: "bad" },
          { type: "dynamic-tool", toolCallId: "c5", state: "output-denied", toolName: "dyn", approval: { id: "d", approved: false } },
        ],
      }),
      "slimmed assistant message",
    );
    // Without resolved tools an assistant message passes as it is.
    const plain = { id: "a2", role: "assistant", parts: [{ type: "text", text: "hi" }] };
    await drain(await t.sendMessages({ chatId: "c", trigger: "submit-message", messages: [plain] }));
    eq(JSON.stringify(JSON.parse(appended()).payload.message), JSON.stringify(plain), "plain assistant message");
    // A steering message and an action.
    await t.sendPendingMessage("c", userMsg("steer"), { k: 1 });
    eq(
      appended(),
      JSON.stringify({ kind: "message", payload: { message: userMsg("steer"), chatId: "c", trigger: "submit-message", metadata: { k: 1 } } }),
      "pending payload",
    );
    await drain(await t.sendAction("c", { type: "undo" }));
    eq(appended(), '{"kind":"message","payload":{"chatId":"c","trigger":"action","action":{"type":"undo"}}}', "action payload");
  },

  async out_request_shape(make) {
    const t = make({
      task: "t",
      accessToken: () => "p",
      baseURL: "https://api.example",
      streamBaseURL: "https://stream.example/",
      streamTimeoutSeconds: 30,
      headers: { "X-App": "2" },
      sessions: { c: { publicAccessToken: "tok", lastEventId: "41" } },
    });
    const calls = fakeFetch((u) => (isAppend(u) ? ok() : sse(batch(["turn-complete"], 42))));
    await drain(await send(t, "c"));
    const o = calls[1];
    eq(o.url, "https://stream.example/realtime/v1/sessions/c/out", "out url uses streamBaseURL");
    eq(o.headers.Accept, "text/event-stream", "accept");
    eq(o.headers.Authorization, "Bearer tok", "auth");
    eq(o.headers["Timeout-Seconds"], "30", "timeout");
    eq(o.headers["Last-Event-ID"], "41", "resume cursor");
    eq(o.headers["X-App"], "2", "extra header");
    check(!("X-Peek-Settled" in o.headers), "no settled peek on a send");
    check(o.init.signal instanceof AbortSignal, "a signal to cancel with");
    eq(t.getSession("c").lastEventId, "42", "cursor advanced");
  },

  async base_url_function_and_fetch_override(make) {
    const seen = [];
    const override = async (url, init, ctx) => {
      seen.push([ctx.endpoint, ctx.chatId, url]);
      return isAppend(url) ? ok() : sse(batch(["turn-complete"]));
    };
    globalThis.fetch = async () => {
      throw new Error("global fetch must not be used");
    };
    const t = make({
      task: "t",
      accessToken: () => "p",
      fetch: override,
      baseURL: ({ endpoint }) => (endpoint === "in" ? "https://in.example" : "https://out.example"),
      sessions: { c: { publicAccessToken: "tok" } },
    });
    await drain(await send(t, "c"));
    eq(seen, [
      ["in", "c", "https://in.example/realtime/v1/sessions/c/in/append"],
      ["out", "c", "https://out.example/realtime/v1/sessions/c/out"],
    ], "override calls");
  },

  async start_session_once_under_concurrent_sends(make) {
    let starts = 0;
    let release;
    const gate = new Promise((r) => (release = r));
    const t = make({
      task: "task-1",
      accessToken: () => {
        throw new Error("accessToken must not be called");
      },
      startSession: async (p) => {
        starts++;
        eq(p, { taskId: "task-1", chatId: "c", clientData: { u: 1 } }, "startSession args");
        await gate;
        return { publicAccessToken: "started" };
      },
      clientData: { u: 1 },
    });
    const calls = fakeFetch((u) => (isAppend(u) ? ok() : sse(batch(["turn-complete"]))));
    const a = send(t, "c");
    const b = t.start("c");
    release();
    const [sa] = await Promise.all([a, b]);
    await drain(sa);
    eq(starts, 1, "startSession calls");
    eq(calls[0].headers.Authorization, "Bearer started", "token from startSession");
  },

  async access_token_when_there_is_no_start_session(make) {
    const asked = [];
    const t = make({ task: "t", accessToken: async (p) => (asked.push(p), "minted") });
    const calls = fakeFetch((u) => (isAppend(u) ? ok() : sse(batch(["turn-complete"]))));
    await drain(await send(t, "c"));
    eq(asked, [{ chatId: "c" }], "accessToken args");
    eq(calls[0].headers.Authorization, "Bearer minted", "token");
  },

  async refresh_on_401_keeps_the_part_id(make) {
    const changes = [];
    const t = make({
      task: "t",
      accessToken: () => "fresh",
      sessions: { c: { publicAccessToken: "stale" } },
      onSessionChange: (id, s) => changes.push(s && s.publicAccessToken),
    });
    const calls = fakeFetch((u, _i, n) => {
      if (isAppend(u)) return n === 1 ? new Response("expired", { status: 401 }) : ok();
      return sse(batch(["turn-complete"]));
    });
    await drain(await send(t, "c"));
    eq(calls[0].headers.Authorization, "Bearer stale", "first try");
    eq(calls[1].headers.Authorization, "Bearer fresh", "retry");
    eq(calls[1].headers["X-Part-Id"], calls[0].headers["X-Part-Id"], "same part id on the retry");
    check(changes.includes("fresh"), "the fresh token was reported");
  },

  async not_found_recreates_the_session(make) {
    let starts = 0;
    const t = make({
      task: "t",
      accessToken: () => "p",
      startSession: async () => ({ publicAccessToken: `new-${++starts}` }),
      sessions: { c: { publicAccessToken: "old", lastEventId: "99" } },
    });
    const calls = fakeFetch((u, _i, n) => {
      if (isAppend(u)) return n === 1 ? new Response("no such session", { status: 404 }) : ok();
      return sse(batch(["turn-complete"]));
    });
    await drain(await send(t, "c"));
    eq(starts, 1, "recreated once");
    eq(calls[1].headers.Authorization, "Bearer new-1", "retried on the new session");
    check(!("Last-Event-ID" in calls[2].headers), "the stale cursor is dropped");

    const t2 = make({ task: "t", accessToken: () => "p", sessions: { c: { publicAccessToken: "old" } } });
    fakeFetch(() => new Response("gone", { status: 404 }));
    await rejects(send(t2, "c"), /startSession/, "404 without startSession");
  },

  async append_errors_have_the_api_error_shape(make) {
    const t = make({ task: "t", accessToken: () => "p", sessions: { c: { publicAccessToken: "tok" } } });
    fakeFetch(() => new Response('{"ok":false,"error":"Cannot append to a closed session"}', { status: 409 }));
    const e = await rejects(send(t, "c"), /409/, "closed session");
    check(e instanceof Error, "an Error");
    eq(e.name, "TriggerApiError", "name");
    eq(e.status, 409, "status");
    eq(e.code, "HTTP", "code");
    eq(e.retryable, false, "retryable");
    check(/closed session/.test(e.message), "server message quoted");
    check(!/tok/.test(e.message), "no token in the message");
  },

  async server_errors_on_append_are_retried(make) {
    const t = make({ task: "t", accessToken: () => "p", sessions: { c: { publicAccessToken: "tok" } } });
    const calls = fakeFetch((u, _i, n) => {
      if (isAppend(u)) return n === 1 ? new Response("busy", { status: 503 }) : ok();
      return sse(batch(["turn-complete"]));
    });
    await drain(await send(t, "c"));
    eq(calls.filter((c) => isAppend(c.url)).length, 2, "appends");
  },

  async reconnect_to_stream_returns_null_when_nothing_to_resume(make) {
    const t = make({
      task: "t",
      accessToken: () => "p",
      sessions: { idle: { publicAccessToken: "a", isStreaming: false }, live: { publicAccessToken: "b", isStreaming: true } },
    });
    const calls = fakeFetch(() => sse(batch([delta("r"), "turn-complete"])));
    eq(await t.reconnectToStream({ chatId: "none" }), null, "no session");
    eq(await t.reconnectToStream({ chatId: "idle" }), null, "not streaming");
    const s = await t.reconnectToStream({ chatId: "live" });
    check(s !== null, "a stream for a live chat");
    eq(await t.reconnectToStream({ chatId: "live" }), null, "one stream per chat at a time");
    eq(await drain(s), [delta("r")], "resumed chunks");
    eq(calls[0].headers["X-Peek-Settled"], "1", "settled peek on reconnect");
  },

  async session_changes_are_reported(make) {
    const changes = [];
    const t = make({
      task: "t",
      accessToken: () => "p",
      sessions: { c: { publicAccessToken: "tok" } },
      onSessionChange: (id, s) => changes.push([id, s]),
    });
    fakeFetch((u) => (isAppend(u) ? ok() : sse(batch([delta("a"), { turnComplete: true, token: "rolled" }], 7))));
    await drain(await send(t, "c"));
    eq(changes, [
      ["c", { publicAccessToken: "tok", isStreaming: true }],
      ["c", { publicAccessToken: "rolled", lastEventId: "8", isStreaming: false }],
    ], "changes");
    eq(t.getSession("c"), { publicAccessToken: "rolled", lastEventId: "8", isStreaming: false }, "getSession");
    t.setSession("d", { publicAccessToken: "x", lastEventId: "3" });
    eq(changes.at(-1), ["d", { publicAccessToken: "x", lastEventId: "3" }], "setSession reported");
    // The gate and the send in flight round-trip, ours included (the gate
    // armed after that send began).
    const gated = {
      publicAccessToken: "g",
      lastEventId: "5",
      isStreaming: true,
      activeInputSeq: 4,
      skipToTurnComplete: true,
      gateAfterActiveSend: true,
    };
    t.setSession("g", gated);
    eq(t.getSession("g"), gated, "a gated session round-trips");
    let threw = null;
    try {
      t.setSession("b", { publicAccessToken: "k", gateAfterActiveSend: "yes" });
    } catch (e) {
      threw = e;
    }
    check(threw instanceof TypeError && /gateAfterActiveSend/.test(threw.message), `bad gateAfterActiveSend: ${threw}`);
  },

  async abort_posts_stop_and_ends_the_stream_cleanly(make) {
    const t = make({ task: "t", accessToken: () => "p", sessions: { c: { publicAccessToken: "tok" } } });
    let outSignal;
    const calls = fakeFetch((u, init) => {
      if (isAppend(u)) return ok();
      outSignal = init.signal;
      // A body that never ends on its own.
      return sse(new ReadableStream({ start(c) { c.enqueue(enc.encode(batch([delta("a")]))); } }));
    });
    const ac = new AbortController();
    const source = await send(t, "c", { abortSignal: ac.signal });
    eq(await source.next(), [delta("a")], "first chunk");
    const rest = source.next();
    ac.abort();
    eq(await rest, null, "ends cleanly");
    await new Promise((r) => setTimeout(r, 20));
    const stop = calls.find((c) => isAppend(c.url) && JSON.parse(c.init.body).kind === "stop");
    check(stop !== undefined, "a stop was posted");
    eq(JSON.parse(stop.init.body), { kind: "stop" }, "stop body");
    check(outSignal.aborted, "the connection was aborted");
  },

  async a_new_send_supersedes_the_running_stream(make) {
    const t = make({ task: "t", accessToken: () => "p", sessions: { c: { publicAccessToken: "tok" } } });
    let n = 0;
    fakeFetch((u) => {
      if (isAppend(u)) return ok();
      n++;
      if (n === 1) return sse(new ReadableStream({ start(c) { c.enqueue(enc.encode(batch([delta("old")]))); } }));
      return sse(batch([delta("new"), "turn-complete"], 5));
    });
    const first = await send(t, "c");
    eq(await first.next(), [delta("old")], "first stream starts");
    const pendingOld = first.next();
    const second = await send(t, "c");
    eq(await pendingOld, null, "the old stream ends");
    eq(await drain(second), [delta("new")], "the new stream reads");
  },

  async pending_message_does_not_cancel_the_live_stream(make) {
    const t = make({ task: "t", accessToken: () => "p", sessions: { c: { publicAccessToken: "tok" } }, clientData: { u: 1 } });
    let push;
    const calls = fakeFetch((u) => {
      if (isAppend(u)) return ok();
      return sse(new ReadableStream({ start(c) { push = c; c.enqueue(enc.encode(batch([delta("a")]))); } }));
    });
    const source = await send(t, "c");
    eq(await source.next(), [delta("a")], "streaming");
    eq(await t.sendPendingMessage("c", userMsg("steer"), { m: 2 }), true, "sent");
    const steer = JSON.parse(calls.at(-1).init.body);
    eq(steer.payload.message.parts[0].text, "steer", "steering message");
    eq(steer.payload.metadata, { u: 1, m: 2 }, "merged metadata");
    push.enqueue(enc.encode(batch([delta("b"), "turn-complete"], 2)));
    push.close();
    eq(await drain(source), [delta("b")], "the same stream goes on");
    eq(await t.sendPendingMessage("unknown", userMsg("x")), false, "no session: false");
  },

  async stop_generation_ends_the_stream_and_skips_the_stopped_turn(make) {
    const t = make({ task: "t", accessToken: () => "p", sessions: { c: { publicAccessToken: "tok" } } });
    let n = 0;
    fakeFetch((u) => {
      if (isAppend(u)) return ok();
      n++;
      if (n === 1) return sse(new ReadableStream({ start(c) { c.enqueue(enc.encode(batch([delta("a")]))); } }));
      // The rest of the stopped turn, then the next turn.
      return sse(batch([delta("stale"), "turn-complete", delta("next"), "turn-complete"], 2));
    });
    const s1 = await send(t, "c");
    eq(await s1.next(), [delta("a")], "streaming");
    const ended = s1.next();
    eq(await t.stopGeneration("c"), true, "stopped");
    eq(await ended, null, "stream closed");
    eq(t.getSession("c").isStreaming, false, "not streaming");
    eq(await drain(await send(t, "c")), [delta("next")], "the stopped turn's tail is skipped");
  },

  async a_dropped_body_reconnects_from_the_cursor(make) {
    const t = make({ task: "t", accessToken: () => "p", sessions: { c: { publicAccessToken: "tok" } } });
    let n = 0;
    const calls = fakeFetch((u) => {
      if (isAppend(u)) return ok();
      n++;
      if (n === 1) return sse(body([batch([delta("a"), delta("b")])], { error: new TypeError("network reset") }));
      return sse(batch([delta("c"), "turn-complete"], 3));
    });
    eq(await drain(await send(t, "c")), [delta("a"), delta("b"), delta("c")], "all chunks once");
    eq(calls[2].headers["Last-Event-ID"], "2", "resumed from the cursor");
  },

  async split_bytes_decode_the_same(make) {
    const t = make({ task: "t", accessToken: () => "p", sessions: { c: { publicAccessToken: "tok" } } });
    const text = enc.encode(batch([delta("é✓"), delta("b"), "turn-complete"]));
    const pieces = [];
    for (let i = 0; i < text.length; i += 3) pieces.push(text.slice(i, i + 3));
    fakeFetch((u) => (isAppend(u) ? ok() : sse(body(pieces))));
    eq(await drain(await send(t, "c")), [delta("é✓"), delta("b")], "chunks");
  },

  async a_backlog_in_one_network_chunk_is_read_in_slices(make) {
    const t = make({ task: "t", accessToken: () => "p", sessions: { c: { publicAccessToken: "tok" } } });
    // 3,000 records (~400 KB) in one network chunk: read 64 KiB at a time,
    // cut inside events, every chunk delivered once and in order.
    const deltas = Array.from({ length: 3000 }, (_, i) => delta(`token ${i} `.repeat(3)));
    const text = enc.encode(batch([...deltas, "turn-complete"]));
    check(text.length > 4 * 64 * 1024, "the chunk spans several reads");
    fakeFetch((u) => (isAppend(u) ? ok() : sse(body([text]))));
    const source = await send(t, "c");
    let reads = 0;
    const all = [];
    for (;;) {
      const b = await source.next();
      if (b === null) break;
      reads++;
      all.push(...b);
    }
    eq(all, deltas, "chunks");
    check(reads > 4, `delivered over several reads (${reads})`);
  },

  async a_malformed_stream_errors_with_what_was_wrong(make) {
    const t = make({ task: "t", accessToken: () => "p", sessions: { c: { publicAccessToken: "tok" } } });
    fakeFetch((u) => (isAppend(u) ? ok() : sse("event: batch\ndata: {\"records\":[{\"seq_num\":1,\"body\":\"{broken\"}]}\n\n")));
    const source = await send(t, "c");
    const e = await rejects(drain(source), /record 1/, "malformed record");
    eq(e.code, "DECODE", "code");
  },

  async coming_back_online_reconnects_at_once_from_the_cursor(make) {
    const t = make({ task: "t", accessToken: () => "p", sessions: { c: { publicAccessToken: "tok" } } });
    let n = 0;
    const calls = fakeFetch((u) => {
      if (isAppend(u)) return ok();
      n++;
      // The first connection goes silent, like a socket the OS killed.
      if (n === 1) return sse(new ReadableStream({ start(c) { c.enqueue(enc.encode(batch([delta("a")]))); } }));
      return sse(batch([delta("b"), "turn-complete"], 2));
    });
    const source = await send(t, "c");
    eq(await source.next(), [delta("a")], "first chunk");
    const rest = source.next();
    globalThis.dispatchEvent(new Event("online"));
    eq(await rest, [delta("b")], "read on a new connection");
    eq(await source.next(), null, "then the turn completes");
    const outs = calls.filter((c) => isOut(c.url));
    eq(outs.length, 2, "one reconnect");
    eq(outs[1].headers["Last-Event-ID"], "1", "from the cursor");
  },

  async transient_callback_rejections_are_retried_others_fail_at_once(make) {
    // A TypeError (fetch's network failure), then `retryable: true`: retried.
    const answers = [new TypeError("Failed to fetch"), Object.assign(new Error("503"), { retryable: true }), "minted"];
    let asked = 0;
    const t = make({
      task: "t",
      accessToken: async () => {
        const a = answers[asked++];
        if (a instanceof Error) throw a;
        return a;
      },
    });
    const calls = fakeFetch((u) => (isAppend(u) ? ok() : sse(batch(["turn-complete"]))));
    await drain(await send(t, "c"));
    eq(asked, 3, "called again after each transient rejection");
    eq(calls[0].headers.Authorization, "Bearer minted", "the token of the call that worked");

    // Anything else ends the send at once with what was thrown.
    const thrown = Object.assign(new Error("not signed in"), { retryable: false });
    let tries = 0;
    const u = make({ task: "t", accessToken: async () => (tries++, Promise.reject(thrown)) });
    const e = await rejects(send(u, "d"), /not signed in/, "a non-transient rejection");
    check(e === thrown, "the app's own error");
    eq(tries, 1, "never retried");
  },

  async a_send_while_offline_waits_for_the_online_event(make) {
    const proto = Object.getPrototypeOf(navigator);
    const original = Object.getOwnPropertyDescriptor(proto, "onLine");
    let online = false;
    Object.defineProperty(proto, "onLine", { configurable: true, get: () => online });
    try {
      const events = [];
      let queued;
      const nextQueued = () => new Promise((r) => (queued = r));
      const isQueued = nextQueued();
      const t = make({
        task: "t",
        accessToken: () => "p",
        sessions: { c: { publicAccessToken: "tok" } },
        onEvent: (e) => {
          events.push(e);
          if (e.type === "send-queued-offline") queued();
        },
      });
      const calls = fakeFetch((u) => (isAppend(u) ? ok() : sse(batch(["turn-complete"]))));
      const sent = send(t, "c");
      await isQueued;
      eq(calls.length, 0, "nothing sent while offline");
      online = true;
      globalThis.dispatchEvent(new Event("online"));
      await drain(await sent);
      eq(calls.filter((c) => isAppend(c.url)).length, 1, "appended once");
      const types = events.map((e) => e.type);
      check(types.indexOf("send-queued-offline") < types.indexOf("send-resumed-online"), `events in order: ${types}`);
      const resumed = events.find((e) => e.type === "send-resumed-online");
      check(typeof resumed.waitedMs === "number" && resumed.waitedMs >= 0, "waitedMs");
      eq(resumed.partId, calls[0].headers["X-Part-Id"], "the part id it kept");

      // An abort ends a send that waits at once.
      online = false;
      const ac = new AbortController();
      const queuedAgain = nextQueued();
      const waiting = send(t, "c", { abortSignal: ac.signal });
      await queuedAgain;
      ac.abort();
      await rejects(waiting, /abort/i, "aborted while offline");
      eq(calls.filter((c) => isAppend(c.url)).length, 1, "nothing more was sent");
    } finally {
      if (original) Object.defineProperty(proto, "onLine", original);
      else delete proto.onLine;
    }
  },

  async the_stored_cursor_moves_only_at_turn_boundaries(make) {
    const t = make({ task: "t", accessToken: () => "p", sessions: { c: { publicAccessToken: "tok", lastEventId: "9" } } });
    let push;
    fakeFetch((u) => {
      if (isAppend(u)) return ok();
      return sse(new ReadableStream({ start(c) { push = c; c.enqueue(enc.encode(batch([delta("a"), delta("b")], 10))); } }));
    });
    const source = await send(t, "c");
    eq(await source.next(), [delta("a"), delta("b")], "mid-turn");
    // A reload now must replay this turn from its start: the stored cursor
    // is still the previous turn's end.
    eq(t.getSession("c").lastEventId, "9", "cursor mid-turn");
    push.enqueue(enc.encode(batch(["turn-complete"], 12)));
    push.close();
    eq(await source.next(), null, "turn complete");
    eq(t.getSession("c").lastEventId, "12", "cursor after the turn");
  },

  async lifecycle_events_reach_on_event(make) {
    const events = [];
    const t = make({
      task: "t",
      accessToken: () => "p",
      sessions: { c: { publicAccessToken: "tok" }, r: { publicAccessToken: "tok", isStreaming: true, lastEventId: "4" } },
      onEvent: (e) => {
        events.push(e);
        throw new Error("a failing metrics pipeline must not break the chat");
      },
    });
    let appends = 0;
    fakeFetch((u) => {
      if (isAppend(u)) return ++appends === 2 ? new Response("closed", { status: 409 }) : ok();
      return sse(batch([delta("a"), delta("b"), "turn-complete"], 5));
    });
    eq(await drain(await send(t, "c", { messageId: "m1" })), [delta("a"), delta("b")], "chunks despite a throwing onEvent");
    eq(events.map((e) => e.type), ["message-sent", "stream-connected", "first-chunk", "turn-completed"], "event order");
    const [sent, connected, first, done] = events;
    check(events.every((e) => e.chatId === "c" && typeof e.timestamp === "number"), "chatId and timestamp on all");
    eq([sent.source, sent.messageId], ["submit-message", "m1"], "sent source and message");
    check(typeof sent.durationMs === "number" && sent.bodyBytes > 0 && /^[0-9a-f-]{36}$/.test(sent.partId), "sent details");
    eq([connected.resumed, connected.messageId], [false, "m1"], "connected after a send");
    eq([first.chunkType, first.messageId], ["text-delta", "m1"], "first chunk");
    // The cursor as of the read that brought the first chunk: a seq of this turn.
    check(["5", "6", "7"].includes(first.lastEventId), `first-chunk cursor ${first.lastEventId}`);
    check(typeof first.sinceSendMs === "number" && first.sinceSendMs >= 0, "time to first chunk");
    eq([done.lastEventId, done.messageId], ["7", "m1"], "turn completed");
    check(typeof done.sinceSendMs === "number", "turn latency");

    events.length = 0;
    await rejects(send(t, "c"), /409/, "a refused send");
    eq(events.map((e) => [e.type, e.source, e.status]), [["message-send-failed", "submit-message", 409]], "send failure");
    check(events[0].error instanceof Error, "the error is attached");

    events.length = 0;
    await drain(await t.reconnectToStream({ chatId: "r" }));
    eq(events[0].type, "stream-connected", "reconnect connects");
    eq([events[0].resumed, events[0].lastEventId], [true, "4"], "a resume from the stored cursor");

    events.length = 0;
    fakeFetch((u) => (isAppend(u) ? ok() : new Response("gone", { status: 404 })));
    await rejects(drain(await send(t, "c")), /404/, "a stream that cannot open");
    const err = events.find((e) => e.type === "stream-error");
    check(err !== undefined && err.status === 404 && err.error instanceof Error, "stream-error with status and error");

    // The head-start route's POST is a send too.
    const hs = [];
    const t2 = make({ task: "t", accessToken: () => "p", headStart: "https://app.example/chat", onEvent: (e) => hs.push(e) });
    fakeFetch(() =>
      new Response(body([`data: ${JSON.stringify(delta("h"))}\n\n`]), {
        status: 200,
        headers: { "X-Trigger-Chat-Access-Token": "hs-tok" },
      }),
    );
    eq(await drain(await send(t2, "new-chat", { messageId: "m9" })), [delta("h")], "head-start reply");
    eq([hs[0].type, hs[0].source, hs[0].messageId], ["message-sent", "head-start", "m9"], "head-start send reported");
  },

  async events_go_under_the_newest_message_when_the_send_names_none(make) {
    const events = [];
    const t = make({
      task: "t",
      accessToken: () => "p",
      sessions: { c: { publicAccessToken: "tok" } },
      onEvent: (e) => events.push(e),
    });
    // Each connection of `.out` brings the next turn (fresh seqs).
    let turns = 0;
    fakeFetch((u) => (isAppend(u) ? ok() : sse(batch([delta("a"), "turn-complete"], 5 + 10 * turns++))));
    // No `messageId`: the newest message's id, as 4.8.3 attributes it.
    await drain(await send(t, "c", { messages: [userMsg("first"), userMsg("second")] }));
    eq(
      events.map((e) => [e.type, e.messageId]),
      [
        ["message-sent", "u-second"],
        ["stream-connected", "u-second"],
        ["first-chunk", "u-second"],
        ["turn-completed", "u-second"],
      ],
      "a send's events",
    );
    // An action has no message of its own: its send names none, and its
    // reply goes under the message before it.
    events.length = 0;
    await drain(await t.sendAction("c", { type: "undo" }));
    eq(
      events.map((e) => [e.type, e.source ?? null, e.messageId ?? null]),
      [
        ["message-sent", "action", null],
        ["stream-connected", null, "u-second"],
        ["first-chunk", null, "u-second"],
        ["turn-completed", null, "u-second"],
      ],
      "an action's events",
    );
    // A named `messageId` wins over the newest message's.
    events.length = 0;
    await drain(await send(t, "c", { messageId: "m9" }));
    eq([...new Set(events.map((e) => e.messageId))], ["m9"], "a named id on every event");
    t.dispose();
  },

  async closed_sessions_are_final(make) {
    const events = [];
    const changes = [];
    let tokenCalls = 0;
    const t = make({
      task: "t",
      accessToken: () => {
        tokenCalls++;
        return "p";
      },
      sessions: {
        c: { publicAccessToken: "tok" },
        d: { publicAccessToken: "tok" },
        e: { publicAccessToken: "tok" },
        h: { publicAccessToken: "tok", closed: true, closedReason: "old" },
      },
      onEvent: (e) => events.push(e),
      onSessionChange: (id, s) => changes.push([id, s]),
    });
    const closing = { headers: [["trigger-control", "turn-complete"], ["session-closed", "true"], ["session-closed-reason", "done"]] };
    let calls = fakeFetch((u) => (isAppend(u) ? ok() : sse(batch([delta("a"), closing, delta("late")], 3))));
    eq(await drain(await send(t, "c")), [delta("a")], "the closing turn's reply");
    eq(events.map((e) => e.type).slice(-2), ["turn-completed", "session-closed"], "completed, then closed");
    eq([events.at(-1).reason, events.at(-1).source], ["done", "stream"], "closed event");
    eq(t.getSession("c"), { publicAccessToken: "tok", lastEventId: "4", isStreaming: false, closed: true, closedReason: "done" }, "persisted");
    eq(changes.at(-1), ["c", t.getSession("c")], "reported through onSessionChange");
    eq([t.sessionStatus("c"), t.sessionClosedReason("c")], ["closed", "done"], "status");
    eq(t.sessionStatus("nope"), "open", "an unknown chat is open");

    // Closed is final: no request, a 409-shaped error apps can key on.
    const before = calls.length;
    const err = await rejects(send(t, "c"), /Chat session c is closed: done/, "a send on a closed chat");
    eq([err.name, err.status, err.code, err.closedReason, err.retryable], ["TriggerApiError", 409, "session_closed", "done", false], "error shape");
    eq(await t.reconnectToStream({ chatId: "c" }), null, "nothing to resume");
    eq(calls.length, before, "no request for a closed chat");

    // The server refuses: terminal, no retry, no token refresh.
    events.length = 0;
    calls = fakeFetch((u) =>
      isAppend(u)
        ? new Response(JSON.stringify({ ok: false, error: "Cannot append to a closed session", code: "session_closed", closedReason: "by admin" }), { status: 409 })
        : sse(batch(["turn-complete"])),
    );
    const refused = await rejects(send(t, "d"), /Chat session d is closed: by admin/, "a refused send");
    eq([refused.code, refused.status], ["session_closed", 409], "refusal shape");
    eq(calls.length, 1, "one append, not retried");
    eq(tokenCalls, 0, "no token refresh for a closed session");
    eq(events.map((e) => [e.type, e.source]), [["session-closed", "append"], ["message-send-failed", "submit-message"]], "events");
    eq(t.getSession("d").closed, true, "marked closed");

    // A session-closed record ends a stream cleanly, even mid-turn.
    const closedRec = { headers: [["trigger-control", "session-closed"]] };
    fakeFetch((u) => (isAppend(u) ? ok() : sse(batch([delta("x"), closedRec, delta("y")]))));
    eq(await drain(await send(t, "e")), [delta("x")], "ended at the close");
    eq([t.sessionStatus("e"), t.sessionClosedReason("e")], ["closed", undefined], "closed without a reason");

    // Hydrated closed state is kept; a bad one is named.
    eq([t.sessionStatus("h"), t.sessionClosedReason("h")], ["closed", "old"], "hydrated");
    let threw = null;
    try {
      make({ task: "t", accessToken: () => "", sessions: { x: { publicAccessToken: "k", closed: "yes" } } });
    } catch (e) {
      threw = e;
    }
    check(threw instanceof TypeError && /closed/.test(threw.message), `bad closed: ${threw}`);
  },

  async callbacks_can_be_replaced_on_a_live_transport(make) {
    const t = make({ task: "t", accessToken: () => "old", sessions: { c: { publicAccessToken: "expired" } } });
    let n = 0;
    // Each turn's end is a later `.out` record, as on a real stream (a
    // record at or before the asked cursor is a replay and is dropped).
    let at = 0;
    const calls = fakeFetch((u) => {
      if (isAppend(u)) return ++n === 1 ? new Response("no", { status: 401 }) : ok();
      return sse(batch(["turn-complete"], ++at));
    });
    t.setCallback("AccessToken", () => "new");
    await drain(await send(t, "c"));
    eq(calls[1].headers.Authorization, "Bearer new", "the replaced accessToken gave the token");

    // fetch: the override takes over, and removing it goes back to globalThis.fetch.
    const seen = [];
    t.setCallback("Fetch", (url, init, ctx) => {
      seen.push(ctx.endpoint);
      return globalThis.fetch(url, init);
    });
    await drain(await send(t, "c"));
    eq(seen, ["in", "out"], "the override saw both endpoints");
    t.setCallback("Fetch", undefined);
    await drain(await send(t, "c"));
    eq(seen.length, 2, "removed");

    // onEvent: added later, then removed.
    const events = [];
    t.setCallback("OnEvent", (e) => events.push(e.type));
    await drain(await send(t, "c"));
    check(events.includes("message-sent") && events.includes("turn-completed"), `events ${events}`);
    t.setCallback("OnEvent", null);
    const before = events.length;
    await drain(await send(t, "c"));
    eq(events.length, before, "no events once removed");

    // startSession: set on a transport created without one.
    let starts = 0;
    t.setCallback("StartSession", async () => ({ publicAccessToken: `s${++starts}` }));
    await drain(await send(t, "fresh"));
    eq(starts, 1, "the added startSession started the new chat");

    // `setAccessToken(undefined)` is accepted, as 4.8.3 does, and keeps the
    // callback the transport has (it cannot work without one).
    t.setCallback("AccessToken", undefined);
    let n2 = 0;
    fakeFetch((u) => {
      if (isAppend(u)) return ++n2 === 1 ? new Response("no", { status: 401 }) : ok();
      return sse(batch(["turn-complete"], ++at));
    });
    await drain(await send(t, "c"));
    eq(t.getSession("c").publicAccessToken, "new", "the kept accessToken still refreshes");
    for (const [which, v] of [["AccessToken", 5], ["StartSession", "nope"], ["Fetch", 1], ["Nope", () => {}]]) {
      let threw = null;
      try {
        t.setCallback(which, v);
      } catch (e) {
        threw = e;
      }
      check(threw instanceof TypeError && threw.message.includes(`set${which}`), `${which}: ${threw}`);
    }
  },

  async seeded_cursors_and_the_supersede_gate(make) {
    const t = make({
      task: "t",
      accessToken: () => "p",
      startSession: async () => ({ publicAccessToken: "s" }),
      sessions: { c: { publicAccessToken: "tok", lastEventId: "10" } },
    });
    const calls = fakeFetch((u) => (isAppend(u) ? ok() : sse(batch(["turn-complete"], 30))));
    // No session yet: held until it is created, then the first stream starts there.
    t.seedResumeCursor("new", "20");
    eq(t.getSession("new"), undefined, "no session made up");
    await drain(await send(t, "new"));
    eq(calls[1].headers["Last-Event-ID"], "20", "the first subscription starts after the seeded history");
    // A session that has a cursor keeps it (as 4.8.3 does): the
    // transcript's cursor only seeds a session that has none.
    t.seedResumeCursor("c", "4");
    eq(t.getSession("c").lastEventId, "10", "not moved back");
    t.seedResumeCursor("c", "12");
    eq(t.getSession("c").lastEventId, "10", "not moved either way");
    t.setSession("d", { publicAccessToken: "tok" });
    t.seedResumeCursor("d", "12");
    eq(t.getSession("d").lastEventId, "12", "a session with no cursor takes it");

    // A stop arms the gate; clearing it lets the next turn through from the start.
    t.setSession("g", { publicAccessToken: "tok" });
    // The reply, then (to a reconnect) only a later turn's end.
    let outs = 0;
    fakeFetch((u) => {
      if (isAppend(u)) return ok();
      return sse(++outs === 1 ? batch([delta("fresh"), "turn-complete"]) : batch(["turn-complete"], 3));
    });
    await t.stopGeneration("g");
    t.clearSupersedeGate("g");
    eq(await drain(await send(t, "g")), [delta("fresh")], "nothing skipped after clearing the gate");
  },

  async an_actions_metadata_is_merged_over_client_data(make) {
    const t = make({ task: "t", accessToken: () => "p", clientData: { user: "u", plan: "free" }, sessions: { c: { publicAccessToken: "tok" } } });
    // Each turn's end is a later `.out` record, as on a real stream.
    let at = 0;
    const calls = fakeFetch((u) => (isAppend(u) ? ok() : sse(batch(["turn-complete"], ++at))));
    await drain(await t.sendAction("c", { type: "undo" }, { metadata: { plan: "pro" } }));
    const b = JSON.parse(calls[0].init.body);
    eq(b.payload.metadata, { user: "u", plan: "pro" }, "merged");
    await drain(await t.sendAction("c", { type: "undo" }));
    eq(JSON.parse(calls[2].init.body).payload.metadata, { user: "u", plan: "free" }, "clientData alone");

    // Through useChat: `body.action` makes sendMessages send the action, not a message.
    await drain(await send(t, "c", { body: { action: { type: "redo" } }, metadata: { plan: "team" } }));
    const viaChat = JSON.parse(calls[4].init.body).payload;
    eq([viaChat.trigger, viaChat.action, viaChat.metadata, viaChat.message], ["action", { type: "redo" }, { user: "u", plan: "team" }, undefined], "an action through sendMessages");
  },

  async a_turn_complete_for_an_earlier_send_does_not_end_the_stream(make) {
    const t = make({ task: "t", accessToken: () => "p", sessions: { c: { publicAccessToken: "tok" } } });
    const tc = (inSeq) => ({ headers: [["trigger-control", "turn-complete"], ["session-in-event-id", String(inSeq)]] });
    // Our append is `.in` record 7; an action's turn (6) ends first on `.out`.
    fakeFetch((u) =>
      isAppend(u)
        ? new Response('{"ok":true,"seq":7}', { status: 200 })
        : sse(batch([delta("theirs"), tc(6), delta("mine"), tc(7), delta("later")])),
    );
    const reply = await send(t, "c");
    eq(t.getSession("c").activeInputSeq, 7, "the send in flight is persisted");
    eq(await drain(reply), [delta("theirs"), delta("mine")], "read on to this send's turn");
    eq(t.getSession("c").lastEventId, "4", "the cursor is this turn's end");
    eq(t.getSession("c").activeInputSeq, undefined, "nothing in flight after the turn");
    // Without a seq from the server, the first turn-complete ends the stream.
    fakeFetch((u) => (isAppend(u) ? ok() : sse(batch([delta("a"), tc(6), delta("b"), tc(7)], 10))));
    eq(await drain(await send(t, "c")), [delta("a")], "no correlation without a seq");

    // After a reload, the persisted send in flight still picks the right turn.
    t.setSession("r", { publicAccessToken: "tok", isStreaming: true, lastEventId: "2", activeInputSeq: 9 });
    const calls = fakeFetch(() => sse(batch([delta("x"), tc(8), delta("y"), tc(9)], 3)));
    eq(await drain(await t.reconnectToStream({ chatId: "r" })), [delta("x"), delta("y")], "resumed to its own turn");
    eq(calls[0].headers["X-Peek-Settled"], undefined, "no settled peek while a send is in flight");
    let threw = null;
    try {
      t.setSession("r", { publicAccessToken: "tok", activeInputSeq: 1.5 });
    } catch (e) {
      threw = e;
    }
    check(threw instanceof TypeError && /activeInputSeq/.test(threw.message), `bad activeInputSeq: ${threw}`);
  },

  async a_run_waiting_for_its_deployment_is_reported(make) {
    const events = [];
    const t = make({
      task: "t",
      accessToken: () => "p",
      startSession: async () => ({ publicAccessToken: "s", pendingVersion: true }),
      onEvent: (e) => events.push(e),
    });
    const pending = { headers: [["trigger-control", "pending-version"]] };
    const tc = { headers: [["trigger-control", "turn-complete"], ["session-in-event-id", "3"]] };
    fakeFetch((u) =>
      isAppend(u)
        ? new Response('{"ok":true,"seq":3,"pendingVersion":true}', { status: 200 })
        : sse(batch([pending, delta("late but here"), tc])),
    );
    eq(await drain(await send(t, "c")), [delta("late but here")], "the reply still comes");
    const parked = events.filter((e) => e.type === "run-pending-version");
    eq(parked.map((e) => [e.source, e.chatId]), [["start", "c"], ["send", "c"], ["upgrade", "c"]], "each way it was learned");
    eq(events.find((e) => e.type === "turn-completed").sessionInEventId, "3", "the turn says which send it answered");

    const hs = [];
    const t2 = make({ task: "t", accessToken: () => "p", headStart: "https://app.example/chat", onEvent: (e) => hs.push(e) });
    fakeFetch(() =>
      new Response(body([`data: ${JSON.stringify(delta("h"))}\n\n`]), {
        status: 200,
        headers: { "X-Trigger-Chat-Access-Token": "hs-tok", "X-Trigger-Chat-Pending-Version": "1" },
      }),
    );
    await drain(await send(t2, "new-chat"));
    eq(hs.filter((e) => e.type === "run-pending-version").map((e) => e.source), ["head-start"], "from the head-start route");
  },

  async dispose_ends_open_streams(make) {
    const t = make({ task: "t", accessToken: () => "p", sessions: { c: { publicAccessToken: "tok" } } });
    fakeFetch((u) => {
      if (isAppend(u)) return ok();
      return sse(new ReadableStream({ start(c) { c.enqueue(enc.encode(batch([delta("a")]))); } }));
    });
    const source = await send(t, "c");
    eq(await source.next(), [delta("a")], "streaming");
    const rest = source.next();
    t.dispose();
    eq(await rest, null, "ended cleanly");
  },

  async invalid_options_throw_type_errors_naming_them(make) {
    const bad = [
      [undefined, /options/],
      [{}, /task/],
      [{ task: "t" }, /accessToken/],
      [{ task: "t", accessToken: "x" }, /accessToken/],
      [{ task: "t", accessToken: () => "", baseURL: 5 }, /baseURL/],
      [{ task: "t", accessToken: () => "", streamTimeoutSeconds: 0 }, /streamTimeoutSeconds/],
      [{ task: "t", accessToken: () => "", headers: { a: 1 } }, /headers/],
      [{ task: "t", accessToken: () => "", sessions: { c: {} } }, /publicAccessToken/],
      [{ task: "t", accessToken: () => "", startSession: 1 }, /startSession/],
      [{ task: "t", accessToken: () => "", multiTab: "yes" }, /multiTab/],
      [{ task: "t", accessToken: () => "", offlineSendTimeoutMs: -1 }, /offlineSendTimeoutMs/],
      [{ task: "t", accessToken: () => "", offlineSendTimeoutMs: "60000" }, /offlineSendTimeoutMs/],
    ];
    for (const [opts, re] of bad) {
      let threw = null;
      try {
        make(opts);
      } catch (e) {
        threw = e;
      }
      check(threw instanceof TypeError, `TypeError for ${JSON.stringify(opts)}`);
      check(re.test(threw.message), `${re} in "${threw.message}"`);
    }
    const t = make({ task: "t", accessToken: () => "p" });
    await rejects(t.sendMessages({ trigger: "nope", chatId: "c", messages: [] }), /trigger/, "bad trigger");
    await rejects(t.sendMessages({ trigger: "submit-message", chatId: "c", messages: [] }), /at least one message/, "no message");
  },
};
