// The reply checker itself: it must reject a lost, doubled or swapped chunk,
// or the suite would prove nothing.
import assert from "node:assert/strict";
import { test } from "node:test";
import { assertExactReply, expectedDeltas } from "./lib/chat.mjs";

function reply(text) {
  const id = "txt_x";
  return [
    { type: "start", messageId: "msg_x" },
    { type: "start-step" },
    { type: "text-start", id },
    ...expectedDeltas(text).map((delta) => ({ type: "text-delta", id, delta })),
    { type: "text-end", id },
    { type: "finish-step" },
    { type: "finish" },
  ];
}

test("the checker accepts an exact reply and knows the agent's tokens", () => {
  assert.deepEqual(expectedDeltas("/long 3"), ["token1", " token2", " token3"]);
  assert.deepEqual(expectedDeltas("hi  there"), ["Echo:", " hi", " there"]);
  assert.deepEqual(assertExactReply(reply("/long 5"), "/long 5"), { messageId: "msg_x", text: "token1 token2 token3 token4 token5" });
});

test("the checker rejects a lost, doubled or reordered delta, and a duplicated or missing frame chunk", () => {
  const good = reply("/long 6");
  const lost = good.filter((_, i) => i !== 5);
  const doubled = [...good.slice(0, 6), good[5], ...good.slice(6)];
  const swapped = [...good];
  [swapped[4], swapped[5]] = [swapped[5], swapped[4]];
  const twoStarts = [good[0], ...good];
  const noTextStart = good.filter((c) => c.type !== "text-start");
  const noFinish = good.slice(0, -1);
  for (const [name, chunks] of Object.entries({ lost, doubled, swapped, twoStarts, noTextStart, noFinish })) {
    assert.throws(() => assertExactReply(chunks, "/long 6"), assert.AssertionError, name);
  }
});
