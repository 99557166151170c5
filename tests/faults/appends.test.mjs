// Appends to `.in` that fail (the emulator's fail-appends fault, 500 and 429):
// the transport retries with the same X-Part-Id, the agent gets the message
// exactly once, and the reply streams whole.
import assert from "node:assert/strict";
import { test } from "node:test";
import {
  assertExactReply,
  makeTransport,
  newChatId,
  onRequest,
  requestsOf,
  sendAndRead,
  storedConversation,
  userMessage,
  withEmulator,
  within,
} from "./lib/chat.mjs";

/** The user messages the agent stored for the chat, by id. */
async function storedUserIds(emu, chatId) {
  const { messages } = await storedConversation(emu, chatId);
  return messages.filter((m) => m.role === "user").map((m) => m.id);
}

/** Asserts a turn's append requests: `n` tries, one X-Part-Id, statuses as given. */
function assertAppendTries(appends, statuses, label) {
  assert.deepEqual(appends.map((r) => r.status), statuses, `${label}: append statuses`);
  const parts = new Set(appends.map((r) => r.partId));
  assert.equal(parts.size, 1, `${label}: every retry reuses the first X-Part-Id (saw ${[...parts].join(", ")})`);
  assert.ok(appends[0].partId, `${label}: appends carry an X-Part-Id`);
}

test("appends failing with 500 twice: delivered once, the reply streams", async () => {
  await withEmulator(async (emu) => {
    const { transport } = makeTransport(emu);
    const chatId = newChatId("a500");
    assertExactReply((await sendAndRead(transport, chatId, "warm up")).chunks, "warm up");
    const s0 = await emu.stats();
    const inBefore = requestsOf(chatId, "in").length;

    await emu.fault("fail-appends", { count: 2, status: 500 });
    const { message, chunks } = await sendAndRead(transport, chatId, "/long 80");
    assertExactReply(chunks, "/long 80");

    assertAppendTries(requestsOf(chatId, "in").slice(inBefore), [500, 500, 200], "500 × 2");
    const s1 = await emu.stats();
    assert.equal(s1.appendRequests - s0.appendRequests, 3, "three append requests reached the server");
    assert.equal(s1.appends - s0.appends, 1, "exactly one record stored on .in");
    const users = await storedUserIds(emu, chatId);
    assert.equal(users.filter((id) => id === message.id).length, 1, `the user message is stored once: ${users}`);
    assert.equal(users.length, 2);
  });
});

test("appends rate-limited with 429: the retry waits for x-ratelimit-reset, delivered once", async () => {
  await withEmulator(async (emu) => {
    const { transport } = makeTransport(emu);
    const chatId = newChatId("a429");
    assertExactReply((await sendAndRead(transport, chatId, "warm up")).chunks, "warm up");
    const s0 = await emu.stats();
    const inBefore = requestsOf(chatId, "in").length;

    const resetMs = 400;
    await emu.fault("fail-appends", { count: 2, status: 429, resetMs });
    const { message, chunks } = await sendAndRead(transport, chatId, "/long 50");
    assertExactReply(chunks, "/long 50");

    const tries = requestsOf(chatId, "in").slice(inBefore);
    assertAppendTries(tries, [429, 429, 200], "429 × 2");
    // Each retry went out no earlier than the reset the server named (a little
    // slack for the two clocks' rounding), not on the 100 ms backoff.
    for (let i = 1; i < tries.length; i++) {
      const gap = tries[i].at - tries[i - 1].at;
      assert.ok(gap >= resetMs - 50, `retry #${i} went out ${gap} ms after the 429, before the ${resetMs} ms reset`);
    }
    const s1 = await emu.stats();
    assert.equal(s1.appends - s0.appends, 1, "exactly one record stored on .in");
    const users = await storedUserIds(emu, chatId);
    assert.equal(users.filter((id) => id === message.id).length, 1, `the user message is stored once: ${users}`);
  });
});

test("appends failing until the fault is reset mid-retry: delivered once, on the first turn of a new chat", async () => {
  await withEmulator(async (emu) => {
    const { transport } = makeTransport(emu);
    const chatId = newChatId("areset");
    // Far more failures than the transport would ever try; the fault is
    // cleared (POST /_dev/faults/reset) just before the third try goes out.
    await emu.fault("fail-appends", { count: 1000, status: 500 });
    onRequest(chatId, async ({ endpoint, index }) => {
      if (endpoint === "in" && index === 2) await emu.fault("reset");
    });
    const { message, chunks } = await sendAndRead(transport, chatId, "/long 40");
    onRequest(chatId, null);
    assertExactReply(chunks, "/long 40");
    assertAppendTries(requestsOf(chatId, "in"), [500, 500, 200], "reset mid-retry");
    const stats = await emu.stats();
    assert.equal(stats.appends, 1, "exactly one record stored on .in");
    assert.deepEqual(await storedUserIds(emu, chatId), [message.id]);
  });
});

test("appends failing past the retry budget reject sendMessages (retryable 500); nothing stored; sending again delivers once", async () => {
  await withEmulator(async (emu) => {
    const { transport } = makeTransport(emu);
    const chatId = newChatId("abudget");
    assertExactReply((await sendAndRead(transport, chatId, "warm up")).chunks, "warm up");
    const s0 = await emu.stats();
    await emu.fault("fail-appends", { count: 50, status: 500 });
    const message = userMessage("/long 30");
    const send = () =>
      transport.sendMessages({ trigger: "submit-message", chatId, messageId: undefined, messages: [message], abortSignal: undefined });
    await assert.rejects(within(15_000, "sendMessages to give up", send()), (err) => {
      assert.equal(err.name, "TriggerApiError", `error name: ${err.name} (${err.message})`);
      assert.equal(err.status, 500);
      assert.equal(err.retryable, true);
      return true;
    });
    const s1 = await emu.stats();
    assert.equal(s1.appends - s0.appends, 0, "a failed send stores nothing");
    assert.ok(s1.appendRequests - s0.appendRequests >= 2, "the transport retried before giving up");

    await emu.fault("reset");
    // The app sends the same message again (as useChat's retry would).
    const { chunks } = await sendAndRead(transport, chatId, "/long 30", { message });
    assertExactReply(chunks, "/long 30");
    const s2 = await emu.stats();
    assert.equal(s2.appends - s0.appends, 1, "exactly one record stored on .in");
    const users = await storedUserIds(emu, chatId);
    assert.equal(users.filter((id) => id === message.id).length, 1, `the user message is stored once: ${users}`);
  });
});
