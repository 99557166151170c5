import assert from "node:assert/strict";
import {
  assertNoError,
  eventually,
  openChat,
  send,
  test,
  transcript,
  waitForFunction,
  waitForReplies,
  withEnv,
} from "./lib/chat.mjs";

/**
 * Waits until every token minted so far for the chat is refused. A token
 * minted now is the last to expire (they all live equally long, from the
 * whole second they were minted in), so this waits until the server refuses
 * that one.
 */
async function untilTokensSoFarExpire(emu, chatId) {
  const id = encodeURIComponent(chatId);
  const { publicAccessToken: latest } = await emu.app("POST", `/app/chats/${id}/token`);
  await eventually(async () => {
    const res = await fetch(`${emu.url}/api/v1/sessions/${id}`, { headers: { authorization: `Bearer ${latest}` } });
    await res.body?.cancel();
    if (res.status !== 200 && res.status !== 401) throw new Error(`GET /api/v1/sessions/${id}: ${res.status}`);
    return res.status === 401;
  }, "the tokens minted so far to expire");
}

test("tokens that expire every 2 s are refreshed over a five-turn chat without an error", async (t) => {
  await withEnv(t, { args: ["--token-ttl-seconds", "2", "--chunk-delay-ms", "40"] }, async ({ browser, url, emu }) => {
    const page = await browser.newPage();
    const chatId = await openChat(page, url);
    const prompts = ["turn one", "/long 60", "turn three", "/long 60", "turn five"];
    for (const [i, prompt] of prompts.entries()) {
      if (i > 0) {
        // The user reads the previous reply for longer than a token lives:
        // every token the page holds has expired before the next send.
        await untilTokensSoFarExpire(emu, chatId);
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

    const refreshes = Number(await page.byTestId("status").attr("data-token-refreshes"));
    assert.ok(refreshes >= 1, "no token was ever refreshed, so the test proved nothing");
    await waitForFunction(
      page,
      () => !document.querySelector('[data-testid="chat-error"]'),
      undefined,
      "no error banner",
    );
  });
});
