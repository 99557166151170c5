import assert from "node:assert/strict";
import {
  assertNoError,
  assistantTexts,
  eventually,
  openChat,
  recordAssistantTextGrowth,
  send,
  storedTranscript,
  test,
  transcript,
  waitForAssistantText,
  waitForFunction,
  waitForReplies,
  withEnv,
} from "./lib/chat.mjs";

test("a reply streams in and is rendered as text", async (t) => {
  await withEnv(t, { args: ["--chunk-delay-ms", "20"] }, async ({ browser, url, emu }) => {
    const page = await browser.newPage();
    const chatId = await openChat(page, url);
    await page.byTestId("chat-empty").waitFor();

    // Markup in the prompt must come back as literal text, never as HTML.
    const prompt = "hello <b>bold</b> & <img src=x onerror=alert(1)>";
    await send(page, prompt);
    await waitForReplies(page, 1);

    const msgs = await transcript(page);
    assert.deepEqual(
      msgs.map((m) => [m.role, m.text]),
      [
        ["user", prompt],
        ["assistant", `Echo: ${prompt}`],
      ],
    );
    assert.equal(await page.locator('[data-testid="messages"] b, [data-testid="messages"] img').count(), 0);

    // The agent stored the turn; the sidebar lists the chat.
    const stored = await eventually(async () => {
      const s = await storedTranscript(emu, chatId);
      return s.length === 2 && s;
    }, "the stored transcript");
    assert.equal(stored[1].text, `Echo: ${prompt}`);
    await page.locator(`[data-testid="chat-item"][data-chat-id="${chatId}"]`).waitFor();

    // A reply is shown as it streams: the agent's first sentence is on the
    // page during the 2 s it sends nothing, before the rest exists. (Every
    // text the reply showed is recorded, so this needs no timing: the page
    // only has to render once in those 2 s.)
    const growth = await recordAssistantTextGrowth(page);
    await send(page, "/pause 2");
    await waitForReplies(page, 2);
    const full = "Pausing for 2 seconds.Back after the pause.";
    assert.equal((await assistantTexts(page))[1], full);
    // (The recorder follows the last reply, so it starts on the first one's text.)
    const steps = (await growth()).filter((s) => s !== `Echo: ${prompt}`);
    assert.ok(steps.includes("Pausing for 2 seconds."), `the reply was not shown before its end: ${JSON.stringify(steps)}`);
    for (const s of steps) assert.ok(full.startsWith(s), `"${s}" is not a prefix of the reply`);
    await assertNoError(page);
    assert.equal(await page.byTestId("status").attr("data-state"), "connected");
  });
});

test("Stop ends a reply midway and the chat carries on", async (t) => {
  await withEnv(t, { args: ["--chunk-delay-ms", "40"] }, async ({ browser, url }) => {
    const page = await browser.newPage();
    await openChat(page, url);
    await send(page, "/long 200");
    await waitForAssistantText(page, { minLength: 20 }, "the long reply to start");
    await page.byTestId("stop").click();
    await waitForFunction(
      page,
      () => document.querySelector('[data-testid="chat"]')?.getAttribute("data-status") === "ready",
      undefined,
      "the chat to be ready after Stop",
    );
    const [stopped] = await assistantTexts(page);
    assert.ok(stopped.length > 0, "part of the reply is kept");

    // The next turn works and the stopped reply does not grow any more.
    await send(page, "after stop");
    await waitForReplies(page, 2);
    const texts = await assistantTexts(page);
    assert.equal(texts.length, 2);
    assert.equal(texts[1], "Echo: after stop");
    assert.equal(texts[0], stopped, "the stopped reply changed after Stop");

    await assertNoError(page);
  });
});

test("Regenerate replaces the last reply", async (t) => {
  await withEnv(t, {}, async ({ browser, url, emu }) => {
    const page = await browser.newPage();
    const chatId = await openChat(page, url);
    await send(page, "first");
    await waitForReplies(page, 1);
    await send(page, "second");
    await waitForReplies(page, 2);
    const before = await transcript(page);
    const oldId = before[3].id;

    await page.byTestId("regenerate").click();
    await waitForFunction(
      page,
      (oldId) => {
        const chat = document.querySelector('[data-testid="chat"]');
        const msgs = [...document.querySelectorAll('[data-testid="message"]')];
        const last = msgs[msgs.length - 1];
        return (
          chat?.getAttribute("data-status") === "ready" &&
          last?.getAttribute("data-role") === "assistant" &&
          last.getAttribute("data-message-id") !== oldId
        );
      },
      oldId,
      "a regenerated reply",
    );
    const after = await transcript(page);
    assert.deepEqual(
      after.map((m) => [m.role, m.text]),
      [
        ["user", "first"],
        ["assistant", "Echo: first"],
        ["user", "second"],
        ["assistant", "Echo: second"],
      ],
    );
    const stored = await eventually(async () => {
      const s = await storedTranscript(emu, chatId);
      return s.length === 4 && s[3].id !== oldId && s;
    }, "the regenerated turn to be stored");
    assert.deepEqual(stored.map((m) => m.role), ["user", "assistant", "user", "assistant"]);
    await assertNoError(page);
  });
});

test("the sidebar creates, switches between and deletes chats", async (t) => {
  await withEnv(t, {}, async ({ browser, url }) => {
    const page = await browser.newPage();
    const first = await openChat(page, url);
    await send(page, "one");
    await waitForReplies(page, 1);

    await page.byTestId("new-chat").click();
    await waitForFunction(
      page,
      (first) => {
        const chat = document.querySelector('[data-testid="chat"]');
        return chat && chat.getAttribute("data-chat-id") !== first && document.querySelector('[data-testid="chat-empty"]');
      },
      first,
      "a new empty chat",
    );
    const second = await page.byTestId("chat").attr("data-chat-id");
    await send(page, "two");
    await waitForReplies(page, 1);
    await page.locator(`[data-testid="chat-item"][data-chat-id="${second}"]`).waitFor();

    // Switch back: the first chat's messages come from the app server.
    await page.locator(`[data-testid="chat-item"][data-chat-id="${first}"] button.title`).click();
    await waitForFunction(
      page,
      (first) => document.querySelector('[data-testid="chat"]')?.getAttribute("data-chat-id") === first,
      first,
      "the first chat to open",
    );
    await waitForReplies(page, 1);
    assert.deepEqual((await transcript(page)).map((m) => m.text), ["one", "Echo: one"]);

    // Delete the open chat: it leaves the list and a fresh chat opens.
    await page.locator(`[data-testid="chat-item"][data-chat-id="${first}"] [data-testid="delete-chat"]`).click();
    await page.locator(`[data-testid="chat-item"][data-chat-id="${first}"]`).waitFor({ state: "detached" });
    await page.byTestId("chat-empty").waitFor();
    assert.equal(await page.locator('[data-testid="chat-item"]').count(), 1);
    await assertNoError(page);
  });
});
