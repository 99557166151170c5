// A reply that goes silent for longer than the server's long poll: the
// server ends the `.out` connection with `data: [DONE]` mid-turn, and the
// transport connects again from its cursor until the turn completes.
import assert from "node:assert/strict";
import { test } from "node:test";
import { agentTokens, makeTransport, newChatId, requestsOf, sendAndRead, withEmulator } from "./lib/chat.mjs";

test("a pause longer than the long poll: the transport reconnects mid-turn and the reply arrives whole, once", async () => {
  // The emulator caps every long poll at 1 s; the agent pauses for 3 s.
  await withEmulator(
    async (emu) => {
      const { transport } = makeTransport(emu);
      const chatId = newChatId("pause");
      const { chunks } = await sendAndRead(transport, chatId, "/pause 3", { timeoutMs: 30_000 });
      const text = chunks
        .filter((c) => c.type === "text-delta")
        .map((c) => c.delta)
        .join("");
      const want = [...agentTokens("Pausing for 3 seconds."), ...agentTokens("Back after the pause.")].join("");
      assert.equal(text, want, "the whole reply, once, in order");
      assert.equal(chunks.filter((c) => c.type === "start").length, 1, "one start");
      assert.equal(chunks.filter((c) => c.type === "finish").length, 1, "one finish");
      const outs = requestsOf(chatId, "out");
      assert.ok(outs.length >= 3, `reconnected across the silence (${outs.length} .out connections)`);
      const cursors = outs.slice(1).map((r) => r.lastEventId);
      assert.ok(cursors.every((c) => typeof c === "string" && c.length > 0), `each reconnect resumes from a cursor: ${JSON.stringify(cursors)}`);
    },
    ["--max-stream-seconds", "1"],
  );
});
