import assert from "node:assert/strict";
import { test } from "node:test";
import { assertNoError, openChat, send, transcript, waitForFunction, waitForReplies, withEnv } from "./lib/chat.mjs";

test("the page is usable on a 390 px wide phone screen", async (t) => {
  await withEnv(t, { viewport: { width: 390, height: 844 } }, async ({ browser, url }) => {
    const page = await browser.newPage();
    const first = await openChat(page, url);
    await send(page, "a reply long enough to wrap across several lines on a narrow phone screen, to check nothing spills sideways");
    await waitForReplies(page, 1);

    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert.ok(overflow <= 0, `the page scrolls sideways by ${overflow} px`);
    // The sidebar is a drawer: hidden until the menu button opens it.
    const sidebar = page.getByTestId("sidebar");
    const hiddenBox = await sidebar.boundingBox();
    assert.ok(!hiddenBox || hiddenBox.x + hiddenBox.width <= 1, "the sidebar covers the chat");
    for (const id of ["composer-input", "send", "regenerate", "status"]) {
      const box = await page.getByTestId(id).boundingBox();
      assert.ok(box && box.x >= 0 && box.x + box.width <= 390, `${id} is off screen: ${JSON.stringify(box)}`);
    }

    await page.getByTestId("toggle-sidebar").click();
    await page.getByTestId("new-chat").click();
    await waitForFunction(
      page,
      (first) => document.querySelector('[data-testid="chat"]')?.getAttribute("data-chat-id") !== first,
      first,
      "a new chat from the drawer",
    );
    await page.getByTestId("chat-empty").waitFor();
    await page.getByTestId("toggle-sidebar").click();
    await page.locator(`[data-testid="chat-item"][data-chat-id="${first}"] button.title`).click();
    await waitForReplies(page, 1);
    assert.equal((await transcript(page)).length, 2);
    await assertNoError(page);
  });
});
