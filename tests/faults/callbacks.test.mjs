// Callbacks that blip (issue 21): a rejection of the app's `accessToken` or
// `startSession` that is transient (a `TypeError`, what `fetch` throws when
// the network fails, or an error marked `retryable: true`) is retried with
// backoff, up to 5 times; any other rejection ends the operation at once
// with what the app threw. Against the emulator: the replies stay exact.
import assert from "node:assert/strict";
import { test } from "node:test";
import {
  assertExactReply,
  makeTransport,
  newChatId,
  onRequest,
  requestsOf,
  sendAndRead,
  userMessage,
  withEmulator,
  within,
} from "./lib/chat.mjs";

/** `fn` wrapped so that its first `n` calls reject with `make()` instead. */
function failingFirst(n, make, fn) {
  let left = n;
  return async (arg) => {
    if (left > 0) {
      left -= 1;
      throw make();
    }
    return fn(arg);
  };
}

function send(transport, chatId, text) {
  return transport.sendMessages({
    trigger: "submit-message",
    chatId,
    messageId: undefined,
    messages: [userMessage(text)],
    abortSignal: undefined,
  });
}

test("startSession rejecting twice with a TypeError (its fetch blipped): retried, the send goes through, the reply is exact", async () => {
  await withEmulator(async (emu) => {
    const { transport, calls } = makeTransport(emu);
    const start = async ({ chatId, clientData }) => {
      calls.startSession += 1;
      return emu.app("POST", `/app/chats/${encodeURIComponent(chatId)}/start`, { clientData });
    };
    let rejected = 0;
    transport.setStartSession(
      failingFirst(2, () => (rejected++, new TypeError("Failed to fetch")), start),
    );
    const chatId = newChatId("blip-start");
    const { chunks } = await sendAndRead(transport, chatId, "hello after a blip");
    assertExactReply(chunks, "hello after a blip");
    assert.equal(rejected, 2, "both blips were seen");
    assert.equal(calls.startSession, 1, "the third call started the session");
    assert.equal(requestsOf(chatId, "in").length, 1, "one append");
    transport.dispose();
  });
});

test("accessToken rejecting once with retryable: true while refreshing an expired token mid-reply: the stream goes on, exact", async () => {
  await withEmulator(async (emu) => {
    let blipped = 0;
    const { transport, calls } = makeTransport(emu);
    const chatId = newChatId("blip-token");
    // A clean first turn (its session started through startSession).
    assertExactReply((await sendAndRead(transport, chatId, "first")).chunks, "first");
    const real = async ({ chatId: id }) => {
      calls.accessToken += 1;
      const r = await emu.app("POST", `/app/chats/${encodeURIComponent(id)}/token`);
      return r.publicAccessToken;
    };
    transport.setAccessToken(
      failingFirst(1, () => (blipped++, Object.assign(new Error("token endpoint 503"), { retryable: true })), real),
    );
    // The first connection is cut after 40 records and every token is
    // revoked before the reconnect: `.out` answers 401, the refresh blips.
    const base = requestsOf(chatId, "out").length;
    onRequest(chatId, async ({ endpoint, index }) => {
      if (endpoint !== "out") return;
      if (index === base) await emu.fault("drop-out", { afterRecords: 40 });
      if (index === base + 1) await emu.fault("expire-tokens");
    });
    const { chunks } = await sendAndRead(transport, chatId, "/long 150");
    onRequest(chatId, null);
    assertExactReply(chunks, "/long 150");
    assert.equal(blipped, 1, "the refresh was rejected once");
    assert.equal(calls.accessToken, 1, "and then refreshed");
    const outs = requestsOf(chatId, "out").slice(base);
    assert.deepEqual(outs.slice(0, 3).map((r) => r.status), [200, 401, 200], "cut, refused, resumed with the fresh token");
    transport.dispose();
  });
});

test("a rejection that is not transient ends the send at once with what the app threw", async () => {
  await withEmulator(async (emu) => {
    const { transport } = makeTransport(emu);
    let calls = 0;
    const thrown = new Error("not signed in");
    transport.setStartSession(async () => {
      calls += 1;
      throw thrown;
    });
    const chatId = newChatId("no-blip");
    const err = await within(5_000, "the send to fail", send(transport, chatId).then(
      () => assert.fail("the send should fail"),
      (e) => e,
    ));
    assert.equal(err, thrown, "the app's own error, as it was");
    assert.equal(err.message, "not signed in");
    assert.equal(calls, 1, "never retried");
    assert.equal(requestsOf(chatId, "in").length, 0, "nothing appended");
    transport.dispose();
  });
});

test("a transient rejection that keeps coming ends the send after 5 retries with the last rejection", async () => {
  await withEmulator(async (emu) => {
    const { transport } = makeTransport(emu);
    let calls = 0;
    let last;
    transport.setStartSession(async () => {
      calls += 1;
      last = new TypeError(`Failed to fetch (${calls})`);
      throw last;
    });
    const chatId = newChatId("blips");
    // 100 + 200 + 400 + 800 + 1,600 ms of backoff at most.
    const err = await within(10_000, "the send to fail", send(transport, chatId).then(
      () => assert.fail("the send should fail"),
      (e) => e,
    ));
    assert.equal(calls, 6, "the first call and 5 retries");
    assert.equal(err, last, "the last rejection, as it was");
    assert.equal(err.message, "Failed to fetch (6)");
    assert.equal(requestsOf(chatId, "in").length, 0, "nothing appended");
    transport.dispose();
  });
});
