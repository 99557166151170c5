import assert from "node:assert/strict";
import { test } from "node:test";
import { assertNoError, openChat, send, transcript, waitForFunction, waitForReplies, withEnv } from "./lib/chat.mjs";

test("tokens that expire every 2 s are refreshed over a five-turn chat without an error", async (t) => {
  await withEnv(t, { args: ["--token-ttl-seconds", "2", "--chunk-delay-ms", "40"] }, async ({ browser, url }) => {
    const page = await browser.newPage();
    await openChat(page, url);
    const prompts = ["turn one", "/long 60", "turn three", "/long 60", "turn five"];
    for (const [i, prompt] of prompts.entries()) {
      if (i > 0) {
        // The user reads the previous reply for longer than a token lives.
        // (Setup, not an assertion: it only makes sure the token has expired.)
        await new Promise((r) => setTimeout(r, 2_300));
      }
      await send(page, prompt);
      await waitForReplies(page, i + 1, 30_000);
      await assertNoError(page);
    }
    const msgs = await transcript(page);
    assert.equal(msgs.length, 10);
    assert.equal(msgs[0].text, "turn one");
    assert.equal(msgs[1].text, "Echo: turn one");
    assert.equal(msgs[5].text, "Echo: turn three");
    assert.equal(msgs[9].text, "Echo: turn five");
    assert.ok(msgs[3].text.length > 0 && msgs[7].text.length > 0);

    const refreshes = Number(await page.getByTestId("status").getAttribute("data-token-refreshes"));
    assert.ok(refreshes >= 1, "no token was ever refreshed, so the test proved nothing");
    await waitForFunction(
      page,
      () => !document.querySelector('[data-testid="chat-error"]'),
      undefined,
      "no error banner",
    );
  });
});
