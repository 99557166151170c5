// A reload in the middle of a reply: a second transport, hydrated with the
// first one's `getSession(chatId)` through the `sessions` option, resumes with
// `reconnectToStream`. The cursor was saved at the previous turn boundary, so
// the resumed stream replays the turn from its start: the whole reply, once.
import assert from "node:assert/strict";
import { test } from "node:test";
import {
  assertDeltas,
  assertExactReply,
  expectedDeltas,
  makeTransport,
  newChatId,
  onRequest,
  readAll,
  requestsOf,
  sendAndRead,
  storedConversation,
  userMessage,
  withEmulator,
  within,
} from "./lib/chat.mjs";

// Long enough (about 1 ms a token) to still be streaming when the page reloads.
const LONG = "/long 800";

/**
 * Starts `text` on transport A, reads `readDeltas` deltas, then "reloads":
 * takes A's session state and drops A's stream (the page goes away).
 * Returns what A showed and the saved state.
 */
async function startThenReload(emu, transportA, chatId, text, readDeltas) {
  const message = userMessage(text);
  const stream = await within(20_000, "sendMessages", transportA.sendMessages({
    trigger: "submit-message",
    chatId,
    messageId: undefined,
    messages: [message],
    abortSignal: undefined,
  }));
  const reader = stream.getReader();
  const shown = [];
  await within(20_000, `the first ${readDeltas} deltas`, (async () => {
    while (shown.filter((c) => c.type === "text-delta").length < readDeltas) {
      const { done, value } = await reader.read();
      assert.equal(done, false, "A's stream ended before the reload");
      shown.push(value);
    }
  })());
  const saved = transportA.getSession(chatId);
  await reader.cancel(); // the page is gone
  return { message, shown, saved };
}

/** A second page (B) hydrated with `saved` resumes the reply and reads it to the end. */
async function resumeElsewhere(emu, chatId, saved) {
  const b = makeTransport(emu, { sessions: { [chatId]: saved } });
  const resumed = await b.transport.reconnectToStream({ chatId });
  assert.ok(resumed, "reconnectToStream returned a stream");
  const chunks = await readAll(resumed, { what: "the resumed reply" });
  return { b, chunks };
}

function textOf(chunks) {
  return chunks.filter((c) => c.type === "text-delta").map((c) => c.delta).join("");
}

/** The reply is still streaming: the agent has stored the user message but not the answer. */
async function assertStillStreaming(emu, chatId, turns) {
  const { messages } = await storedConversation(emu, chatId);
  assert.equal(messages.length, 2 * turns - 1, `precondition: the reply is still streaming at the reload (stored: ${messages.map((m) => m.role)})`);
}

/** A transport that records what it reports through onSessionChange (what an app persists). */
function persistingTransport(emu) {
  const persisted = {};
  const t = makeTransport(emu, {
    onSessionChange: (id, state) => {
      persisted[id] = state && { ...state };
    },
  });
  return { ...t, persisted };
}

test("reload mid-reply, hydrated with getSession(chatId): the resumed stream replays the turn from its start, the full reply exactly once", async () => {
  await withEmulator(async (emu) => {
    const a = makeTransport(emu);
    const chatId = newChatId("reload");
    assertExactReply((await sendAndRead(a.transport, chatId, "warm up")).chunks, "warm up");
    const boundary = a.transport.getSession(chatId).lastEventId;
    assert.match(String(boundary), /^\d+$/, "a cursor is saved at the end of the first turn");

    const { shown, saved } = await startThenReload(emu, a.transport, chatId, LONG, 60);
    assert.equal(saved.isStreaming, true, "the saved state says a reply is streaming");
    await assertStillStreaming(emu, chatId, 2);

    const outBefore = requestsOf(chatId, "out").length;
    const { b, chunks } = await resumeElsewhere(emu, chatId, saved);
    assert.equal(b.calls.startSession, 0, "the hydrated transport does not start a new session");

    // Nothing lost or doubled across the reload, whichever way it resumed:
    // what A showed, then what B streamed (minus a replayed prefix), is the
    // reply once.
    const aDeltas = shown.filter((c) => c.type === "text-delta").map((c) => c.delta);
    const bDeltas = chunks.filter((c) => c.type === "text-delta").map((c) => c.delta);
    const replayed = chunks[0]?.type === "start";
    assertDeltas(replayed ? bDeltas : [...aDeltas, ...bDeltas], expectedDeltas(LONG), `A's ${aDeltas.length} deltas then B's ${bDeltas.length} (${replayed ? "a replay" : "a continuation"})`);
    assert.deepEqual(chunks.slice(-3).map((c) => c.type), ["text-end", "finish-step", "finish"], "B's stream ends the turn");
    // The replay contract (resumeStreamIsReplay = true): the whole turn, from
    // its start chunk, exactly once.
    const sent = requestsOf(chatId, "out")[outBefore].lastEventId;
    const { messageId, text } = assertExactReply(
      chunks,
      LONG,
      `resumed reply (getSession() mid-reply gave lastEventId ${saved.lastEventId}; the previous turn boundary is ${boundary}; B connected with Last-Event-ID ${sent})`,
    );
    assert.equal(messageId, shown[0].messageId, "the replay is the same assistant message A was showing");
    assert.ok(text.startsWith(textOf(shown)), "what A showed is a prefix of the replay");
  });
});

test("reload mid-reply, hydrated with the state last reported through onSessionChange: the full reply exactly once", async () => {
  await withEmulator(async (emu) => {
    const a = persistingTransport(emu);
    const chatId = newChatId("reloadpersist");
    assertExactReply((await sendAndRead(a.transport, chatId, "warm up")).chunks, "warm up");
    const boundary = a.persisted[chatId].lastEventId;
    assert.match(String(boundary), /^\d+$/, "a cursor is reported at the end of the first turn");

    const { shown } = await startThenReload(emu, a.transport, chatId, LONG, 60);
    const saved = { ...a.persisted[chatId] };
    assert.deepEqual(
      { lastEventId: saved.lastEventId, isStreaming: saved.isStreaming },
      { lastEventId: boundary, isStreaming: true },
      "what the app persisted: the previous turn boundary, streaming",
    );
    await assertStillStreaming(emu, chatId, 2);

    const outBefore = requestsOf(chatId, "out").length;
    const { b, chunks } = await resumeElsewhere(emu, chatId, saved);
    const { messageId, text } = assertExactReply(chunks, LONG, "resumed reply");
    assert.equal(messageId, shown[0].messageId, "the replay is the same assistant message A was showing");
    assert.ok(text.startsWith(textOf(shown)), "what A showed is a prefix of the replay");
    assert.equal(requestsOf(chatId, "out")[outBefore].lastEventId, boundary, "B resumed from the saved cursor");
    assert.equal(b.calls.startSession, 0, "the hydrated transport does not start a new session");

    // The next turn on the reloaded page is clean, and nothing was stored twice.
    assertExactReply((await sendAndRead(b.transport, chatId, "after the reload")).chunks, "after the reload");
    const { messages } = await storedConversation(emu, chatId);
    assert.deepEqual(messages.map((m) => [m.role, m.text]), [
      ["user", "warm up"],
      ["assistant", "Echo: warm up"],
      ["user", LONG],
      ["assistant", text],
      ["user", "after the reload"],
      ["assistant", "Echo: after the reload"],
    ]);
  });
});

test("reload mid-reply on the first turn of a new chat (no cursor yet, persisted state): the replay is the full reply once", async () => {
  await withEmulator(async (emu) => {
    const a = persistingTransport(emu);
    const chatId = newChatId("reload1st");
    const { shown } = await startThenReload(emu, a.transport, chatId, LONG, 40);
    const saved = { ...a.persisted[chatId] };
    assert.equal(saved.isStreaming, true, "the persisted state says a reply is streaming");
    assert.equal(saved.lastEventId, undefined, "no cursor yet on a new chat");
    await assertStillStreaming(emu, chatId, 1);

    const { b, chunks } = await resumeElsewhere(emu, chatId, saved);
    const { messageId, text } = assertExactReply(chunks, LONG, "resumed first reply");
    assert.equal(messageId, shown[0].messageId);
    assert.ok(text.startsWith(textOf(shown)));
    assertExactReply((await sendAndRead(b.transport, chatId, "next")).chunks, "next");
  });
});

test("reload mid-reply (persisted state) with faults on the resume: revoked token, then two cut connections — still the full reply once", async () => {
  await withEmulator(async (emu) => {
    const a = persistingTransport(emu);
    const chatId = newChatId("reloadfaults");
    assertExactReply((await sendAndRead(a.transport, chatId, "warm up")).chunks, "warm up");
    const { shown } = await startThenReload(emu, a.transport, chatId, LONG, 30);
    const saved = { ...a.persisted[chatId] };
    await assertStillStreaming(emu, chatId, 2);

    // The saved token no longer works; the replay connections are cut twice.
    await emu.fault("expire-tokens");
    const outBefore = requestsOf(chatId, "out").length;
    const cuts = [null, 25, 90]; // #0 is refused (401); #1 and #2 are cut
    onRequest(chatId, async ({ endpoint, index }) => {
      const k = cuts[index - outBefore];
      if (endpoint === "out" && k != null) await emu.fault("drop-out", { afterRecords: k });
    });
    const { b, chunks } = await resumeElsewhere(emu, chatId, saved);
    onRequest(chatId, null);
    const { messageId } = assertExactReply(chunks, LONG, "resumed reply under faults");
    assert.equal(messageId, shown[0].messageId);
    const outs = requestsOf(chatId, "out").slice(outBefore);
    assert.deepEqual(outs.slice(0, 4).map((r) => r.status), [401, 200, 200, 200], "refused, refreshed, then cut twice");
    assert.equal(b.calls.accessToken, 1, "one refresh through accessToken");
  });
});
