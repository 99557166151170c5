// Every `.out` connection cut at a uniformly random byte offset within its
// first 3,000 bytes (often inside an SSE event) while long replies stream:
// each reply arrives exact, once, in order (issue 8, scenario 1). The
// transport reconnects quickly after a connection that delivered records, so
// the backlog it resumes from stays smaller than the window.
import assert from "node:assert/strict";
import { test } from "node:test";
import { assertExactReply, makeTransport, newChatId, requestsOf, sendAndRead, withEmulator } from "./lib/chat.mjs";

// LONG=2000 runs the full scenario (ten 2,000-token replies at the
// agent's 20 ms per token: about seven minutes); the suite runs 300 tokens.
const TOKENS = Number(process.env.LONG ?? 300);

test("connections cut at random byte offsets in a 3,000-byte window: ten long replies, each exact", async () => {
  await withEmulator(
    async (emu) => {
      const { transport } = makeTransport(emu);
      const chatId = newChatId("cuts");
      for (let i = 1; i <= 10; i++) {
        const text = `/long ${TOKENS}`;
        // 20 ms a token, and room for a loaded machine.
        const { chunks } = await sendAndRead(transport, chatId, text, { timeoutMs: 20_000 + TOKENS * 60 });
        assertExactReply(chunks, text, `reply ${i}`);
      }
      const outs = requestsOf(chatId, "out").length;
      assert.ok(outs > 20, `the connections were really cut (${outs} of them for ten replies)`);
    },
    // At the agent's own pace (20 ms per token). Much faster tokens make the
    // backlog behind a cut outgrow the window before any client can
    // reconnect: the emulator, like S2, sends it as one event of up to 256
    // records, and no connection then completes an event.
    ["--fault-out-cut-bytes", "3000"],
  );
});
