// A multi-turn conversation with faults chosen by a seeded generator, injected
// between turns and during them. Deterministic: the same seed gives the same
// faults at the same points (FAULTS_SEED overrides it to explore others).
import assert from "node:assert/strict";
import { test } from "node:test";
import {
  assertExactReply,
  makeTransport,
  newChatId,
  onRequest,
  requestsOf,
  rng,
  sendAndRead,
  storedConversation,
  withEmulator,
} from "./lib/chat.mjs";

const SEED = Number(process.env.FAULTS_SEED ?? 20261126);
const TURNS = 8;

/** The plan for every turn, drawn up front from the seed. */
function plan(seed) {
  const r = rng(seed);
  const int = (lo, hi) => lo + Math.floor(r() * (hi - lo + 1));
  const turns = [];
  for (let t = 0; t < TURNS; t++) {
    const text = r() < 0.7 ? `/long ${int(40, 220)}` : `message ${t + 1} with ${int(2, 9)} words in it`;
    const before = [];
    if (r() < 0.35) before.push({ fault: "fail-appends", body: { count: int(1, 2), status: 500 } });
    else if (r() < 0.3) before.push({ fault: "fail-appends", body: { count: 1, status: 429, resetMs: int(50, 250) } });
    if (r() < 0.35) before.push({ fault: "expire-tokens" });
    if (r() < 0.2) before.push({ fault: "delay", body: { ms: int(20, 120) } });
    // During the turn: per .out connection, maybe a cut after k records;
    // and maybe a revocation after the d-th delta was read.
    const cuts = [];
    for (let i = 0; i < 4; i++) cuts.push(r() < 0.5 ? int(0, 60) : null);
    const expireAtDelta = r() < 0.35 ? int(1, 30) : null;
    turns.push({ text, before, cuts, expireAtDelta });
  }
  return turns;
}

test(`${TURNS} turns with seeded random faults between and during turns (seed ${SEED}): every reply exact`, async () => {
  await withEmulator(async (emu) => {
    const { transport, calls } = makeTransport(emu);
    const chatId = newChatId("chaos");
    const turns = plan(SEED);
    const log = [];
    const s0 = await emu.stats();

    for (const [n, turn] of turns.entries()) {
      const label = `seed ${SEED}, turn ${n + 1} ${JSON.stringify(turn)}`;
      for (const f of turn.before) await emu.fault(f.fault, f.body ?? {});
      const outBase = requestsOf(chatId, "out").length;
      let cutsTaken = 0;
      onRequest(chatId, async ({ endpoint, index }) => {
        if (endpoint !== "out") return;
        const k = turn.cuts[index - outBase];
        if (k != null) {
          cutsTaken += 1;
          await emu.fault("drop-out", { afterRecords: k });
        }
      });
      let deltas = 0;
      let expired = false;
      const { chunks } = await sendAndRead(transport, chatId, turn.text, {
        timeoutMs: 30_000,
        onChunk: async (c) => {
          if (c.type === "text-delta" && ++deltas === turn.expireAtDelta) {
            expired = true;
            await emu.fault("expire-tokens");
          }
        },
      });
      onRequest(chatId, null);
      // A delay or an unconsumed fault must not leak into the next turn's plan.
      await emu.fault("reset");
      assertExactReply(chunks, turn.text, label);
      const outs = requestsOf(chatId, "out").slice(outBase);
      log.push({ turn: n + 1, text: turn.text, before: turn.before.map((f) => f.fault), cutsTaken, expired, outStatuses: outs.map((r) => r.status) });
    }

    const { messages } = await storedConversation(emu, chatId);
    assert.deepEqual(
      messages.map((m) => m.role),
      turns.flatMap(() => ["user", "assistant"]),
      `the agent stored every turn once\n${JSON.stringify(log, null, 1)}`,
    );
    assert.deepEqual(messages.filter((m) => m.role === "user").map((m) => m.text), turns.map((t) => t.text));
    const s1 = await emu.stats();
    assert.equal(s1.appends - s0.appends, TURNS, "one .in record per turn");
    assert.equal(calls.startSession, 1);
    // The plan really exercised the faults it was meant to.
    assert.ok(log.some((l) => l.cutsTaken > 0), "some connection was cut");
    assert.ok(log.some((l) => l.before.includes("expire-tokens") || l.expired), "some token was revoked");
    assert.ok(log.some((l) => l.before.includes("fail-appends")), "some append failed");
  });
});
