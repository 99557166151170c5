// `.out` connections cut mid-reply (the emulator's drop-out fault): the
// transport reconnects with Last-Event-ID and the reply arrives whole, once,
// in order.
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
  withEmulator,
} from "./lib/chat.mjs";

/** Asserts every reconnect of a turn resumed after what was already seen. */
function assertResumedForward(outs, label) {
  for (let i = 1; i < outs.length; i++) {
    assert.match(String(outs[i].lastEventId), /^\d+$/, `${label}: reconnect #${i} carries a numeric Last-Event-ID`);
    if (outs[i - 1].lastEventId !== null) {
      assert.ok(
        Number(outs[i].lastEventId) >= Number(outs[i - 1].lastEventId),
        `${label}: Last-Event-ID went backwards (${outs[i - 1].lastEventId} → ${outs[i].lastEventId})`,
      );
    }
  }
}

test("three drops in one /long 200 reply: the full reply exactly once, in order", async () => {
  await withEmulator(async (emu) => {
    const { transport } = makeTransport(emu);
    const chatId = newChatId("drop3");
    // A finished turn first, so the long reply is a later turn with a cursor.
    assertExactReply((await sendAndRead(transport, chatId, "warm up")).chunks, "warm up");
    const before = requestsOf(chatId, "out").length;

    // Re-arm the fault before each of the first three connections of the
    // turn: cut after 17, then 41, then 63 records.
    const cuts = [17, 41, 63];
    onRequest(chatId, async ({ endpoint, index }) => {
      const n = index - before;
      if (endpoint === "out" && n >= 0 && n < cuts.length) await emu.fault("drop-out", { afterRecords: cuts[n] });
    });
    const { chunks } = await sendAndRead(transport, chatId, "/long 200");
    onRequest(chatId, null);
    assertExactReply(chunks, "/long 200");

    const outs = requestsOf(chatId, "out").slice(before);
    assert.ok(outs.length >= 4, `expected at least 4 .out connections for the turn (3 cut), saw ${outs.length}`);
    assertResumedForward(outs, "/long 200");

    // And the agent's own record of the turn agrees.
    const { messages } = await storedConversation(emu, chatId);
    assert.deepEqual(messages.map((m) => m.role), ["user", "assistant", "user", "assistant"]);
    assert.equal(messages[3].text, chunks.filter((c) => c.type === "text-delta").map((c) => c.delta).join(""));
    assert.equal(messages[3].id, chunks[0].messageId);
  });
});

test("drops on the first turn of a new chat and after every few records of a reply", async () => {
  await withEmulator(async (emu) => {
    const { transport } = makeTransport(emu);
    const chatId = newChatId("dropmany");
    // First turn of a new chat (no cursor yet): cut every connection after
    // 5 records until 8 cuts have happened.
    let armed = 0;
    onRequest(chatId, async ({ endpoint }) => {
      if (endpoint === "out" && armed < 8) {
        armed += 1;
        await emu.fault("drop-out", { afterRecords: 5 });
      }
    });
    const { chunks } = await sendAndRead(transport, chatId, "/long 60");
    onRequest(chatId, null);
    assertExactReply(chunks, "/long 60");
    assert.equal(armed, 8, "every armed cut was taken by a connection");
    const outs = requestsOf(chatId, "out");
    assert.ok(outs.length >= 9, `expected at least 9 .out connections, saw ${outs.length}`);
    assertResumedForward(outs, "/long 60");

    // The next turn on the same transport is clean.
    assertExactReply((await sendAndRead(transport, chatId, "after the drops")).chunks, "after the drops");
  });
});

test("connections cut before any record (no progress) back off and still deliver everything once", async () => {
  await withEmulator(async (emu) => {
    const { transport } = makeTransport(emu);
    const chatId = newChatId("drop0");
    assertExactReply((await sendAndRead(transport, chatId, "warm up")).chunks, "warm up");
    const before = requestsOf(chatId, "out").length;
    // The turn's first connection gets 20 records, the next two none at all,
    // the fourth 30 more.
    const cuts = [20, 0, 0, 30];
    onRequest(chatId, async ({ endpoint, index }) => {
      const n = index - before;
      if (endpoint === "out" && n >= 0 && n < cuts.length) await emu.fault("drop-out", { afterRecords: cuts[n] });
    });
    const { chunks } = await sendAndRead(transport, chatId, "/long 120");
    onRequest(chatId, null);
    assertExactReply(chunks, "/long 120");
    const outs = requestsOf(chatId, "out").slice(before);
    assert.ok(outs.length >= 5, `expected at least 5 .out connections, saw ${outs.length}`);
    assertResumedForward(outs, "/long 120");
  });
});
