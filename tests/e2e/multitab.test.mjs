import assert from "node:assert/strict";
import {
  assertNoError,
  openChat,
  send,
  test,
  transcript,
  waitForAssistantText,
  waitForFunction,
  waitForReplies,
  withEnv,
} from "./lib/chat.mjs";

const readOnly = (page) => page.byTestId("chat").attr("data-readonly");

test("a second tab on the same chat is read-only until the first tab's reply finishes", async (t) => {
  await withEnv(t, { args: ["--chunk-delay-ms", "40"] }, async ({ browser, url }) => {
    const tab1 = await browser.newPage();
    const chatId = await openChat(tab1, url);
    await send(tab1, "hello");
    await waitForReplies(tab1, 1);

    const tab2 = await browser.newPage();
    await openChat(tab2, url, chatId);
    await waitForReplies(tab2, 1);
    assert.equal(await readOnly(tab2), "false");

    await tab1.bringToFront();
    await send(tab1, "/long 80");
    // While tab 1 streams, tab 2 is read-only and follows along.
    await waitForFunction(
      tab2,
      () => document.querySelector('[data-testid="chat"]')?.getAttribute("data-readonly") === "true",
      undefined,
      "tab 2 to turn read-only",
    );
    await tab2.byTestId("readonly-banner").waitFor();
    assert.equal(await tab2.byTestId("composer-input").isDisabled(), true);
    assert.equal(await readOnly(tab1), "false");

    await waitForReplies(tab1, 2, 30_000);
    const final = await transcript(tab1);

    // Released: tab 2 can type again and shows the same conversation.
    await waitForFunction(
      tab2,
      () => document.querySelector('[data-testid="chat"]')?.getAttribute("data-readonly") === "false",
      undefined,
      "tab 2 to become writable again",
    );
    await waitForAssistantText(tab2, { includes: final[3].text }, "tab 2 to show the finished reply");
    assert.deepEqual(
      (await transcript(tab2)).map((m) => [m.role, m.text]),
      final.map((m) => [m.role, m.text]),
    );
    assert.equal(await tab2.byTestId("readonly-banner").count(), 0);

    // And tab 2 can now hold the conversation itself.
    await tab2.bringToFront();
    await send(tab2, "from tab two");
    await waitForReplies(tab2, 3, 30_000);
    assert.equal((await transcript(tab2)).at(-1).text, "Echo: from tab two");
    await assertNoError(tab1);
    await assertNoError(tab2);
  });
});
