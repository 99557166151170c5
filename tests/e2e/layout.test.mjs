import assert from "node:assert/strict";
import {
  assertNoError,
  openChat,
  send,
  test,
  transcript,
  waitForFunction,
  waitForReplies,
  withEnv,
} from "./lib/chat.mjs";

test("the page is usable on a 390 px wide phone screen", async (t) => {
  await withEnv(t, { viewport: { width: 390, height: 844 } }, async ({ browser, url }) => {
    const page = await browser.newPage();
    const first = await openChat(page, url);
    await send(page, "a reply long enough to wrap across several lines on a narrow phone screen, to check nothing spills sideways");
    await waitForReplies(page, 1);

    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert.ok(overflow <= 0, `the page scrolls sideways by ${overflow} px`);
    // The sidebar is a drawer: hidden until the menu button opens it.
    const sidebar = page.byTestId("sidebar");
    const hiddenBox = await sidebar.box();
    assert.ok(!hiddenBox || hiddenBox.x + hiddenBox.width <= 1, "the sidebar covers the chat");
    for (const id of ["composer-input", "send", "regenerate", "status"]) {
      const box = await page.byTestId(id).box();
      assert.ok(box && box.x >= 0 && box.x + box.width <= 390, `${id} is off screen: ${JSON.stringify(box)}`);
    }

    await page.byTestId("toggle-sidebar").click();
    await page.byTestId("new-chat").click();
    await waitForFunction(
      page,
      (first) => document.querySelector('[data-testid="chat"]')?.getAttribute("data-chat-id") !== first,
      first,
      "a new chat from the drawer",
    );
    await page.byTestId("chat-empty").waitFor();
    await page.byTestId("toggle-sidebar").click();
    await page.locator(`[data-testid="chat-item"][data-chat-id="${first}"] button.title`).click();
    await waitForReplies(page, 1);
    assert.equal((await transcript(page)).length, 2);
    await assertNoError(page);
  });
});
