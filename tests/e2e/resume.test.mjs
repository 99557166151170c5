import assert from "node:assert/strict";
import { test } from "node:test";
import {
  assertNoError,
  eventually,
  openChat,
  send,
  storedTranscript,
  transcript,
  waitForAssistantText,
  waitForReplies,
  withEnv,
} from "./lib/chat.mjs";

test("a reload in the middle of a reply resumes it with the agent's text, once", async (t) => {
  await withEnv(t, { args: ["--chunk-delay-ms", "40"] }, async ({ browser, url, emu }) => {
    const page = await browser.newPage();
    const chatId = await openChat(page, url);
    // An earlier finished turn, so the session has a cursor to resume from.
    await send(page, "warm up");
    await waitForReplies(page, 1);

    await send(page, "/long 120");
    await waitForAssistantText(page, { minLength: 40 }, "the long reply to be underway");
    const beforeReload = (await transcript(page)).at(-1).text;
    await page.reload();
    await page.getByTestId("chat").waitFor();

    // The page comes back on the same chat and finishes the reply.
    assert.equal(await page.getByTestId("chat").getAttribute("data-chat-id"), chatId);
    await waitForReplies(page, 2, 60_000);

    const stored = await eventually(async () => {
      const s = await storedTranscript(emu, chatId);
      return s.length === 4 && s;
    }, "the finished turn to be stored");
    const agentText = stored[3].text;
    assert.ok(agentText.startsWith(beforeReload), "the stored reply does not start with what was shown before the reload");
    assert.ok(agentText.length > beforeReload.length);

    const msgs = await transcript(page);
    assert.deepEqual(msgs.map((m) => m.role), ["user", "assistant", "user", "assistant"]);
    assert.equal(msgs[3].text, agentText, "the resumed reply differs from the agent's");
    await assertNoError(page);
  });
});
