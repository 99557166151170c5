// Sessions closed while the transport uses them (the app server's DELETE
// /app/chats/{id} closes the session with reason "chat deleted"): the stream
// that learns it ends cleanly, and the transport takes the close as final.
import assert from "node:assert/strict";
import { test } from "node:test";
import { makeTransport, newChatId, readAll, requestsOf, sendAndRead, userMessage, withEmulator } from "./lib/chat.mjs";

const closeFromOutside = (emu, chatId) => emu.app("DELETE", `/app/chats/${encodeURIComponent(chatId)}`);

test("a session closed mid-reply ends the stream cleanly; later sends are refused without a request", async () => {
  await withEmulator(async (emu) => {
    const events = [];
    const { transport } = makeTransport(emu, { onEvent: (e) => events.push(e) });
    const chatId = newChatId("closed-live");
    let closing = null;
    const { chunks } = await sendAndRead(transport, chatId, "/long 400", {
      onChunk: (_c, all) => {
        if (all.length === 20 && !closing) closing = closeFromOutside(emu, chatId);
      },
    });
    await closing;
    assert.ok(chunks.length >= 20 && chunks.length < 400, `the reply stopped at the close (${chunks.length} chunks)`);
    assert.equal(transport.sessionStatus(chatId), "closed");
    assert.equal(transport.sessionClosedReason(chatId), "chat deleted");
    const closed = events.filter((e) => e.type === "session-closed");
    assert.deepEqual(closed.map((e) => [e.source, e.reason]), [["stream", "chat deleted"]]);
    assert.equal(transport.getSession(chatId).closed, true);

    const before = requestsOf(chatId).length;
    await assert.rejects(
      transport.sendMessages({ trigger: "submit-message", chatId, messages: [userMessage("again")] }),
      (e) => e.code === "session_closed" && e.status === 409 && e.closedReason === "chat deleted",
    );
    assert.equal(requestsOf(chatId).length, before, "no request for a closed chat");
    assert.equal(await transport.reconnectToStream({ chatId }), null);
  });
});

test("a transport that missed the close gets 409 session_closed once: no retry, no new token, no new session", async () => {
  await withEmulator(async (emu) => {
    const chatId = newChatId("closed-stale");
    const first = makeTransport(emu);
    await sendAndRead(first.transport, chatId, "hello");
    const saved = first.transport.getSession(chatId);
    await closeFromOutside(emu, chatId);

    const events = [];
    const { transport, calls } = makeTransport(emu, { sessions: { [chatId]: saved }, onEvent: (e) => events.push(e) });
    const before = requestsOf(chatId, "in").length;
    await assert.rejects(
      transport.sendMessages({ trigger: "submit-message", chatId, messages: [userMessage("still there?")] }),
      (e) => e.code === "session_closed" && e.status === 409 && e.closedReason === "chat deleted" && e.retryable === false,
    );
    assert.deepEqual(requestsOf(chatId, "in").slice(before).map((r) => r.status), [409], "one append, refused");
    assert.deepEqual(calls, { startSession: 0, accessToken: 0 }, "neither a token refresh nor a new session");
    assert.equal(transport.sessionStatus(chatId), "closed");
    assert.deepEqual(
      events.filter((e) => e.type === "session-closed").map((e) => e.source),
      ["append"],
    );
    // Also final for the other kinds of append.
    assert.equal(await transport.stopGeneration(chatId), false);
    await assert.rejects(transport.sendAction(chatId, { type: "undo" }), (e) => e.code === "session_closed");
  });
});
