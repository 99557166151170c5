import assert from "node:assert/strict";
import { test } from "node:test";
import {
  assertNoError,
  assistantTexts,
  eventually,
  openChat,
  send,
  storedTranscript,
  transcript,
  waitForAssistantText,
  waitForFunction,
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

test("Stop works on a reply that was resumed after a reload", async (t) => {
  await withEnv(t, { args: ["--chunk-delay-ms", "40"] }, async ({ browser, url, emu }) => {
    const page = await browser.newPage();
    const chatId = await openChat(page, url);
    await send(page, "/long 300");
    await waitForAssistantText(page, { minLength: 30 }, "the long reply to be underway");
    await page.reload();
    await page.getByTestId("chat").waitFor();
    await waitForAssistantText(page, { minLength: 200 }, "the resumed reply to grow");
    await page.getByTestId("stop").click();
    await waitForFunction(
      page,
      () => document.querySelector('[data-testid="chat"]')?.getAttribute("data-status") === "ready",
      undefined,
      "the chat to be ready after Stop",
    );
    const [stopped] = await assistantTexts(page);
    assert.ok(!stopped.endsWith("token300"), "the reply ran to its end");

    // The agent really stopped: the next turn is answered right away and the
    // stored conversation has the new turn after the stopped one.
    await send(page, "next");
    await waitForReplies(page, 2);
    const texts = await assistantTexts(page);
    assert.equal(texts[1], "Echo: next");
    const stored = await eventually(async () => {
      const s = await storedTranscript(emu, chatId);
      return s.at(-1)?.text === "Echo: next" && s;
    }, "the next turn to be stored");
    assert.ok(!stored.some((m) => m.text.endsWith("token300")), "the stopped reply was finished in the background");
    await assertNoError(page);
  });
});

test("a reload during the very first reply of a chat resumes it once", async (t) => {
  await withEnv(t, { args: ["--chunk-delay-ms", "40"] }, async ({ browser, url, emu }) => {
    const page = await browser.newPage();
    const chatId = await openChat(page, url);
    await send(page, "/long 80");
    await waitForAssistantText(page, { minLength: 30 }, "the first reply to be underway");
    await page.reload();
    await page.getByTestId("chat").waitFor();
    await waitForReplies(page, 1, 60_000);
    const expected = Array.from({ length: 80 }, (_, i) => `token${i + 1}`).join(" ");
    assert.deepEqual(
      (await transcript(page)).map((m) => [m.role, m.text]),
      [
        ["user", "/long 80"],
        ["assistant", expected],
      ],
    );
    const stored = await eventually(async () => {
      const s = await storedTranscript(emu, chatId);
      return s.length === 2 && s;
    }, "the turn to be stored");
    assert.equal(stored[1].text, expected);
    await assertNoError(page);
  });
});
