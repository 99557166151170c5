import assert from "node:assert/strict";
import {
  assertNoError,
  assistantTexts,
  eventually,
  openChat,
  send,
  test,
  waitForReplies,
  withEnv,
} from "./lib/chat.mjs";

// `/close <reason>` makes the scripted agent close the session as its turn
// ends (`chat.close()`): the page says so, takes no more messages, and still
// knows after a reload.
test("a chat the agent closes says so, takes no more messages, and stays closed after a reload", async (t) => {
  await withEnv(t, {}, async ({ browser, url, emu }) => {
    const page = await browser.newPage();
    const chatId = await openChat(page, url);
    await send(page, "/close all done");
    await waitForReplies(page, 1);
    assert.deepEqual(await assistantTexts(page), ["Closing this chat: all done"]);

    const closedUi = async () => {
      const banner = page.byTestId("closed-banner");
      await banner.waitFor();
      assert.match(await banner.innerText(), /closed: all done/);
      assert.equal(await page.byTestId("composer-input").isDisabled(), true, "the input is disabled");
    };
    await closedUi();

    // The app server stored what onSessionChange reported.
    await eventually(async () => {
      const chat = await emu.app("GET", `/app/chats/${encodeURIComponent(chatId)}`);
      return chat.session?.closed === true && chat.session.closedReason === "all done";
    }, "the closed state to be stored");

    await page.reload();
    await page.byTestId("chat").waitFor();
    await closedUi();
    assert.deepEqual(await assistantTexts(page), ["Closing this chat: all done"]);
    await assertNoError(page);
  });
});
