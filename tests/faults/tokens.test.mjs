// Tokens revoked (the emulator's expire-tokens fault) between turns and in the
// middle of replies: the transport gets a fresh one through `accessToken`,
// and every reply is complete, once, in order.
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
  within,
} from "./lib/chat.mjs";

/**
 * Arms per-connection actions for the next turn: `plan[i]` runs just before
 * the turn's i-th request of that endpoint goes out (`{drop: k}` cuts that
 * connection after k records, `"expire"` revokes every token issued so far,
 * `{wait: promise}` holds the request until the promise settles).
 */
function armTurn(emu, chatId, { out = [], in: inPlan = [] }) {
  const base = { out: requestsOf(chatId, "out").length, in: requestsOf(chatId, "in").length };
  onRequest(chatId, async ({ endpoint, index }) => {
    const step = (endpoint === "out" ? out : inPlan)[index - base[endpoint]];
    if (!step) return;
    if (step === "expire") await emu.fault("expire-tokens");
    else if (step.drop !== undefined) await emu.fault("drop-out", { afterRecords: step.drop });
    else if (step.wait) await within(10_000, "the mid-reply revocation", step.wait);
  });
  return { base };
}

test("tokens expired between turns and mid-reply over six turns: refreshed through accessToken, every reply exact", async () => {
  await withEmulator(async (emu) => {
    const { transport, calls } = makeTransport(emu);
    const chatId = newChatId("tokens");
    const texts = [];
    const turn = async (text, opts) => {
      texts.push(text);
      const { chunks } = await sendAndRead(transport, chatId, text, opts);
      onRequest(chatId, null);
      return assertExactReply(chunks, text, `turn ${texts.length} (${text})`);
    };

    // 1. A clean first turn.
    await turn("hello there");
    assert.equal(calls.accessToken, 0, "no refresh without a fault");

    // 2. Revoked between turns: the append is refused, refreshed, retried.
    await emu.fault("expire-tokens");
    let { base } = armTurn(emu, chatId, {});
    await turn("/long 60");
    let ins = requestsOf(chatId, "in").slice(base.in);
    assert.deepEqual(ins.map((r) => r.status), [401, 200], "turn 2: the append is refused once, then accepted");
    assert.notEqual(ins[0].auth, ins[1].auth, "turn 2: the retry carries the fresh token");
    assert.equal(ins[0].partId, ins[1].partId, "turn 2: the retry keeps its X-Part-Id");
    assert.equal(calls.accessToken, 1);

    // 3. Revoked mid-reply: the first connection is cut after 40 records and
    //    the tokens are revoked before the reconnect.
    ({ base } = armTurn(emu, chatId, { out: [{ drop: 40 }, "expire"] }));
    await turn("/long 150");
    let outs = requestsOf(chatId, "out").slice(base.out);
    assert.deepEqual(outs.slice(0, 3).map((r) => r.status), [200, 401, 200], "turn 3: cut, refused, resumed");
    assert.match(String(outs[2].lastEventId), /^\d+$/, "turn 3: the resumed connection carries Last-Event-ID");
    assert.equal(calls.accessToken, 2);

    // 4. Both: revoked before the turn, and again while the reply is being
    //    read (after the 20th delta) with the connection cut after 50 records.
    await emu.fault("expire-tokens");
    //    The reconnect waits (bounded) until the revocation has happened, so
    //    the order does not depend on timing.
    let expired;
    const expiredP = new Promise((r) => (expired = r));
    ({ base } = armTurn(emu, chatId, { out: [{ drop: 50 }, { wait: expiredP }] }));
    let deltas = 0;
    await turn("/long 120", {
      onChunk: async (c) => {
        if (c.type === "text-delta" && ++deltas === 20) {
          await emu.fault("expire-tokens");
          expired();
        }
      },
    });
    ins = requestsOf(chatId, "in").slice(base.in);
    assert.deepEqual(ins.map((r) => r.status), [401, 200], "turn 4: the append is refused once, then accepted");
    outs = requestsOf(chatId, "out").slice(base.out);
    assert.ok(outs.some((r) => r.status === 401), `turn 4: a reconnect was refused (${outs.map((r) => r.status)})`);
    assert.equal(calls.accessToken, 4);

    // 5. Revoked twice within one reply.
    ({ base } = armTurn(emu, chatId, { out: [{ drop: 30 }, "expire", { drop: 30 }, "expire"] }));
    await turn("/long 100");
    outs = requestsOf(chatId, "out").slice(base.out);
    assert.deepEqual(outs.slice(0, 5).map((r) => r.status), [200, 401, 200, 401, 200], "turn 5: two refusals, each refreshed");
    assert.equal(calls.accessToken, 6);

    // 6. And a clean turn after all that.
    await turn("still here");

    const { messages } = await storedConversation(emu, chatId);
    assert.deepEqual(
      messages.map((m) => m.role),
      texts.flatMap(() => ["user", "assistant"]),
      "the agent stored each turn once",
    );
    assert.deepEqual(messages.filter((m) => m.role === "user").map((m) => m.text), texts);
    assert.equal(calls.startSession, 1, "the session was started once");
  });
});
