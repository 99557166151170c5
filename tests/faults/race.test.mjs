// Another send's turn ending on `.out` while this send waits for its own
// (4.8.3 correlation: the append answers the record's `.in` seq, and each
// turn-complete says which `.in` seq it answered).
import assert from "node:assert/strict";
import { test } from "node:test";
import { assertExactReply, makeTransport, newChatId, readAll, sendAndRead, withEmulator } from "./lib/chat.mjs";

test("a turn another device started, ending first on .out, does not end this send's stream", async () => {
  await withEmulator(async (emu) => {
    const chatId = newChatId("race");
    const a = makeTransport(emu).transport;
    await sendAndRead(a, chatId, "hello");

    // A second device on the same chat runs an action to its end; device A's
    // stored cursor is still at the end of "hello".
    const b = makeTransport(emu, { sessions: { [chatId]: a.getSession(chatId) } }).transport;
    await readAll(await b.sendAction(chatId, { type: "undo" }), { what: "the action's reply" });

    // A's next send reads from its cursor: the action's turn first, then its
    // own. Its own turn is a long one: the agent trims `.out` back to the
    // previous turn's end when a turn ends, so a short turn could end (and
    // trim the action's records) before A's stream has connected.
    const { chunks } = await sendAndRead(a, chatId, "/long 40");
    const text = chunks.filter((c) => c.type === "text-delta").map((c) => c.delta).join("");
    assert.match(text, /^Action: undo/, "the action's turn was on the way");
    const own = chunks.slice(chunks.findLastIndex((c) => c.type === "start"));
    assertExactReply(own, "/long 40", "the message's own turn, after the action's");
    assert.equal(a.getSession(chatId).isStreaming, false, "the turn is complete");
  });
});
