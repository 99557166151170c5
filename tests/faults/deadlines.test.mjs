// Requests and callbacks that never answer (issue 19): the transport gives up
// on them by itself after its documented deadline (README, "Deadlines": 30 s
// for an append or a `.out` connect, 60 s for `accessToken` / `startSession`)
// instead of waiting forever. A request it gave up on is retried (an append
// with the same X-Part-Id, so the message is stored once); a callback that
// never settles ends the operation with code TIMEOUT.
//
// The network "never answers" through the recording fetch's hook (lib/chat.mjs):
// the request is held until the transport aborts it, as a dead connection is.
// These tests wait out the real deadlines (30-60 s each); they assert what
// happens after them, never how long it took.
import assert from "node:assert/strict";
import { test } from "node:test";
import {
  assertExactReply,
  makeTransport,
  newChatId,
  readAll,
  requestsOf,
  sendAndRead,
  userMessage,
  withEmulator,
  within,
} from "./lib/chat.mjs";

/** A request held until its signal aborts, then failed as fetch fails on an abort. */
function hang(signal) {
  return new Promise((_, reject) => {
    const abort = () => reject(Object.assign(new Error("The operation was aborted."), { name: "AbortError" }));
    if (!signal) return;
    if (signal.aborted) abort();
    else signal.addEventListener("abort", abort, { once: true });
  });
}

/** A request header, from a plain object or a `Headers`. */
function header(init, name) {
  const h = init?.headers ?? {};
  if (typeof h.get === "function") return h.get(name);
  const key = Object.keys(h).find((k) => k.toLowerCase() === name.toLowerCase());
  return key === undefined ? null : h[key];
}

/**
 * A fetch for the transport's `fetch` option. The chat's `which`-th request to
 * `endpoint` (0-based) never answers: with `reaches: false` it is held before
 * it is sent, with `reaches: true` it is sent (the server acts on it) and its
 * answer is dropped. Either way it fails only when the transport aborts it.
 * Every other request goes on to the recording fetch. `held` gets the held
 * request's X-Part-Id.
 */
function fetchThatHangs(chatId, endpoint, which, { reaches = false } = {}) {
  let seen = 0;
  const held = [];
  const fetch = async (input, init) => {
    const url = typeof input === "string" ? input : input.url;
    const mine = url.includes(`/sessions/${encodeURIComponent(chatId)}/${endpoint}`);
    if (mine && seen++ === which) {
      held.push(header(init, "X-Part-Id"));
      if (reaches) await globalThis.fetch(input, { ...init, signal: undefined }).then((r) => r.text());
      return hang(init?.signal);
    }
    return globalThis.fetch(input, init);
  };
  return { fetch, held };
}

for (const reaches of [false, true]) {
  const how = reaches ? "reached the server but whose answer never came" : "never reached the server";
  test(`an append that ${how} is given up on and retried with its X-Part-Id: stored once, the reply whole`, async () => {
    await withEmulator(async (emu) => {
      const chatId = newChatId(reaches ? "late-in" : "hang-in");
      // The first append of the chat's second turn never answers.
      const hanging = fetchThatHangs(chatId, "in", 1, { reaches });
      const { transport } = makeTransport(emu, { fetch: hanging.fetch });
      assertExactReply((await sendAndRead(transport, chatId, "warm up")).chunks, "warm up");
      const s0 = await emu.stats();
      const inBefore = requestsOf(chatId, "in").length;

      const { chunks } = await sendAndRead(transport, chatId, "/long 40", { sendTimeoutMs: 120_000 });
      assertExactReply(chunks, "/long 40");

      const tries = requestsOf(chatId, "in").slice(inBefore);
      // (A held try that reached the server went through the recording fetch too.)
      const retry = tries.at(-1);
      assert.equal(retry.status, 200, JSON.stringify(tries));
      assert.equal(hanging.held.length, 1);
      assert.equal(retry.partId, hanging.held[0], "the retry kept the held try's X-Part-Id");
      const s1 = await emu.stats();
      assert.equal(s1.appends - s0.appends, 1, "exactly one record stored on .in");
    });
  });
}

test("a `.out` connect that never answers is given up on: the stream reconnects and the reply arrives whole", async () => {
  await withEmulator(async (emu) => {
    const chatId = newChatId("hang-out");
    // The chat's first `.out` connect never answers.
    const hanging = fetchThatHangs(chatId, "out", 0);
    const { transport } = makeTransport(emu, { fetch: hanging.fetch });
    const { chunks } = await sendAndRead(transport, chatId, "/long 40", { timeoutMs: 120_000 });
    assertExactReply(chunks, "/long 40");
    assert.equal(hanging.held.length, 1, "the first connect was held");
    assert.ok(requestsOf(chatId, "out").length >= 1, "the stream connected again after the held connect");
  });
});

test("an `accessToken` callback that never settles ends the send with TIMEOUT", async () => {
  await withEmulator(async (emu) => {
    const chatId = newChatId("hang-token");
    let hangNow = false;
    const { transport, calls } = makeTransport(emu, {
      accessToken: async ({ chatId: id }) => {
        calls.accessToken += 1;
        if (hangNow) return new Promise(() => {});
        const r = await emu.app("POST", `/app/chats/${encodeURIComponent(id)}/token`);
        return r.publicAccessToken;
      },
    });
    assertExactReply((await sendAndRead(transport, chatId, "warm up")).chunks, "warm up");
    // Every token is revoked; the refresh the next append needs never settles.
    await emu.fault("expire-tokens");
    hangNow = true;
    const send = transport.sendMessages({
      trigger: "submit-message",
      chatId,
      messageId: undefined,
      messages: [userMessage("after the revocation")],
      abortSignal: undefined,
    });
    const outcome = await within(120_000, "the send to end", send.then(
      async (stream) => ({ stream: await readAll(stream, { timeoutMs: 120_000 }) }),
      (error) => ({ error }),
    ));
    assert.ok(outcome.error, `the send failed instead of resolving: ${JSON.stringify(outcome.stream?.slice?.(0, 3))}`);
    assert.equal(outcome.error.code, "TIMEOUT", String(outcome.error));
    assert.match(String(outcome.error.message), /accessToken/);
  });
});
