// Actions (4.5.0 actions.mdx, 4.8.3 reference.mdx `sendAction` / `onSettled`):
// undo, rollback and edit change the conversation the agent stores, without a
// turn of their own. The page sends each with `transport.sendAction`, waits
// for `onSettled` (the agent's turn-complete for the action's `.in` record),
// then shows the conversation as the app server has it.
import assert from "node:assert/strict";
import {
  assertNoError,
  openChat,
  pairs,
  send,
  storedTranscript,
  test,
  transcript,
  waitForFunction,
  waitForReplies,
  waitForTranscript,
  withEnv,
} from "./lib/chat.mjs";

/** Waits for the action's status line to say `settled` and returns its text. */
async function waitForSettled(page, type) {
  await waitForFunction(
    page,
    (type) => {
      const el = document.querySelector('[data-testid="action-status"]');
      return el?.getAttribute("data-action") === type && el.getAttribute("data-state") !== "running";
    },
    type,
    `the ${type} action to settle`,
  );
  const status = page.byTestId("action-status");
  assert.equal(await status.attr("data-state"), "settled", `the ${type} action failed: ${await status.innerText()}`);
  const text = await status.innerText();
  assert.match(text, /settled at \.in seq \d+/, "onSettled reported the action's .in seq");
  return text;
}

async function threeExchanges(page) {
  for (const [i, text] of ["one", "two", "three"].entries()) {
    await send(page, text);
    await waitForReplies(page, i + 1);
  }
  return [
    ["user", "one"],
    ["assistant", "Echo: one"],
    ["user", "two"],
    ["assistant", "Echo: two"],
    ["user", "three"],
    ["assistant", "Echo: three"],
  ];
}

test("undo removes the last exchange and rollback returns to a message, in the page, the agent's store and after a reload", async (t) => {
  await withEnv(t, {}, async ({ browser, url, emu }) => {
    const page = await browser.newPage();
    const chatId = await openChat(page, url);
    const all = await threeExchanges(page);
    assert.deepEqual(pairs(await transcript(page)), all);

    await page.byTestId("undo").click();
    await waitForSettled(page, "undo");
    await waitForTranscript(page, all.slice(0, 4), "the last exchange to be gone");
    assert.deepEqual(pairs(await storedTranscript(emu, chatId)), all.slice(0, 4), "the agent's stored conversation");

    // Roll back to the first reply: everything after it goes.
    await page.locator('[data-testid="message"]:nth-child(2) [data-testid="rollback"]').click();
    await waitForSettled(page, "rollback");
    await waitForTranscript(page, all.slice(0, 2), "the conversation rolled back to the first reply");
    assert.deepEqual(pairs(await storedTranscript(emu, chatId)), all.slice(0, 2));

    // The agent answers the next message from the changed conversation, and
    // a reload shows the same.
    await send(page, "four");
    await waitForReplies(page, 2);
    const after = [...all.slice(0, 2), ["user", "four"], ["assistant", "Echo: four"]];
    await waitForTranscript(page, after, "the next exchange after the rollback");
    assert.deepEqual(pairs(await storedTranscript(emu, chatId)), after);
    await page.reload();
    await waitForReplies(page, 2);
    assert.deepEqual(pairs(await transcript(page)), after);
    await assertNoError(page);
  });
});

test("edit replaces a user message's text in the stored conversation; Regenerate then answers the edited text", async (t) => {
  await withEnv(t, {}, async ({ browser, url, emu }) => {
    const page = await browser.newPage();
    const chatId = await openChat(page, url);
    await send(page, "hello");
    await waitForReplies(page, 1);

    await page.locator('[data-testid="message"][data-role="user"] [data-testid="edit"]').click();
    await page.byTestId("edit-input").fill("good evening");
    await page.byTestId("edit-save").click();
    await waitForSettled(page, "edit");
    const edited = [
      ["user", "good evening"],
      ["assistant", "Echo: hello"],
    ];
    await waitForTranscript(page, edited, "the edited message");
    const stored = await storedTranscript(emu, chatId);
    assert.deepEqual(pairs(stored), edited, "the agent stored the edit");
    assert.equal(stored[0].id, (await transcript(page))[0].id, "same message id, new text");

    await page.byTestId("regenerate").click();
    await waitForTranscript(
      page,
      [
        ["user", "good evening"],
        ["assistant", "Echo: good evening"],
      ],
      "the regenerated reply to the edited text",
    );
    await waitForReplies(page, 1);
    await assertNoError(page);
  });
});
