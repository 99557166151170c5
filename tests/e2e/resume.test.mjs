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

    const expected = Array.from({ length: 120 }, (_, i) => `token${i + 1}`).join(" ");
    assert.equal(agentText, expected, "the agent's stored reply");

    const msgs = await transcript(page);
    assert.deepEqual(msgs.map((m) => m.role), ["user", "assistant", "user", "assistant"]);
    assert.equal(msgs[3].text, expected, "the resumed reply differs from the agent's");
    assert.equal(msgs[3].id, stored[3].id, "the resumed reply is not the agent's message");
    await assertNoError(page);

    // Another reload after the turn: the same transcript, nothing replayed twice.
    await page.reload();
    await page.getByTestId("chat").waitFor();
    await waitForReplies(page, 2);
    assert.deepEqual(
      (await transcript(page)).map((m) => [m.role, m.text]),
      msgs.map((m) => [m.role, m.text]),
    );
    await assertNoError(page);
  });
});

test("a reply cut off by the network resumes without duplicated text and the status line says so", async (t) => {
  await withEnv(t, { args: ["--chunk-delay-ms", "30"] }, async ({ browser, url, emu }) => {
    const page = await browser.newPage();
    await openChat(page, url);
    // Record every state the status line goes through.
    await page.evaluate(() => {
      const seen = [];
      window.__connStates = seen;
      const el = () => document.querySelector('[data-testid="status"]');
      const read = () => {
        const s = el()?.getAttribute("data-state");
        if (s && seen[seen.length - 1] !== s) seen.push(s);
      };
      read();
      new MutationObserver(read).observe(document.body, { subtree: true, attributes: true, attributeFilter: ["data-state"] });
    });
    await emu.dev("/_dev/faults/drop-out", { afterRecords: 12 });
    await send(page, "/long 60");
    await waitForReplies(page, 1, 40_000);
    const expected = Array.from({ length: 60 }, (_, i) => `token${i + 1}`).join(" ");
    const msgs = await transcript(page);
    assert.deepEqual(msgs.map((m) => [m.role, m.text]), [
      ["user", "/long 60"],
      ["assistant", expected],
    ]);
    const states = await page.evaluate(() => window.__connStates);
    assert.ok(states.includes("reconnecting"), `the status line never showed reconnecting: ${states.join(" → ")}`);
    assert.equal(states.at(-1), "connected", `the status line ends on ${states.at(-1)}`);
    await assertNoError(page);
  });
});
