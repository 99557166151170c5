// Watch mode (4.8.3 reference.mdx, `watch: true`): a read-only viewer of a
// chat another device drives. The chat's "Watch" link opens `#/watch/<chatId>`,
// whose transport keeps one stream open across turn boundaries: each reply
// the other device's messages start streams into the viewer as it is written.
// The other device here is the test itself, appending to the chat's session
// over HTTP as any client of the Sessions API would (one browser window: in
// Firefox a page in a second window can wait ~20 s before it opens its
// stream, issue 21, which is not what this test is about).
import assert from "node:assert/strict";
import {
  openChat,
  pairs,
  sayFromAnotherDevice,
  send,
  storedTranscript,
  test,
  waitForFunction,
  waitForReplies,
  waitForTranscript,
  withEnv,
} from "./lib/chat.mjs";

/** Every distinct text the viewer's last assistant message takes from now on. */
async function recordGrowth(page) {
  await page.evaluate(() => {
    const seen = [];
    window.__watchGrowth = seen;
    const read = () => {
      const all = document.querySelectorAll('[data-testid="message"][data-role="assistant"]');
      const last = all[all.length - 1];
      const text = last ? [...last.querySelectorAll('[data-testid="text-part"]')].map((p) => p.textContent).join("") : "";
      if (seen[seen.length - 1] !== text) seen.push(text);
    };
    new MutationObserver(read).observe(document.body, { subtree: true, childList: true, characterData: true });
  });
  return () => page.evaluate(() => window.__watchGrowth.slice());
}

test("the Watch link opens a read-only viewer that follows every later turn of the chat live", async (t) => {
  await withEnv(t, {}, async ({ browser, url, proxy, emu }) => {
    const page = await browser.newPage();
    const chatId = await openChat(page, url);
    await send(page, "hello");
    await waitForReplies(page, 1);

    const href = await page.byTestId("watch-link").attr("href");
    assert.equal(href, `#/watch/${encodeURIComponent(chatId)}`);
    assert.equal(await page.byTestId("watch-link").attr("target"), "_blank");

    // The viewer's stream is open before the other device says anything, so
    // the reply reaches it as it streams rather than as a backlog.
    const viewerStream = proxy.waitForRequest(
      (r) => r.method === "GET" && /\/sessions\/[^/]+\/out(\?|$)/.test(r.path),
      "the viewer to open the chat's stream",
    );
    await page.goto(`${url}/${href}`);
    await page.byTestId("watch").waitFor();
    await page.byTestId("watch-banner").waitFor();
    await waitForTranscript(page, [["user", "hello"], ["assistant", "Echo: hello"]], "the stored conversation in the viewer");
    assert.equal(await page.byTestId("composer-input").count(), 0, "the viewer has no composer");
    // The viewer has asked for the chat's stream (useChat's resume) and waits on it.
    await viewerStream;
    await waitForFunction(
      page,
      () => ["submitted", "streaming"].includes(document.querySelector('[data-testid="watch"]')?.getAttribute("data-status")),
      undefined,
      "the viewer's stream to be open",
    );
    const appendsBefore = proxy.logs().split("\n").filter((l) => /→ POST \S+\/in\/append/.test(l)).length;

    // Two turns from another device: the viewer shows each reply as it
    // streams (in pieces), and the user's messages between them.
    const growth = await recordGrowth(page);
    await sayFromAnotherDevice(emu, chatId, "/long 30");
    const long = Array.from({ length: 30 }, (_, i) => `token${i + 1}`).join(" ");
    await waitForTranscript(
      page,
      [["user", "hello"], ["assistant", "Echo: hello"], ["user", "/long 30"], ["assistant", long]],
      "the second turn in the viewer",
    );
    const seen = (await growth()).filter((s) => s.startsWith("token"));
    assert.ok(seen.length >= 3, `the viewer showed the reply in pieces: ${JSON.stringify(seen)}`);
    for (const s of seen) assert.ok(long.startsWith(s), `a prefix of the reply: ${s}`);

    await waitForFunction(
      page,
      () => Number(document.querySelector('[data-testid="watch"]')?.getAttribute("data-turns")) >= 1,
      undefined,
      "the viewer to see the turn complete",
    );
    await sayFromAnotherDevice(emu, chatId, "and again");
    const all = [
      ["user", "hello"],
      ["assistant", "Echo: hello"],
      ["user", "/long 30"],
      ["assistant", long],
      ["user", "and again"],
      ["assistant", "Echo: and again"],
    ];
    await waitForTranscript(page, all, "the third turn in the viewer");
    await waitForFunction(
      page,
      () => Number(document.querySelector('[data-testid="watch"]')?.getAttribute("data-turns")) >= 2,
      undefined,
      "the viewer to have seen two turns complete",
    );
    assert.deepEqual(pairs(await storedTranscript(emu, chatId)), all, "what the agent stored");
    // Still following (the stream stays open after the turns), and read-only:
    // the viewer appended nothing.
    assert.equal(await page.byTestId("watch").attr("data-status"), "streaming");
    const appendsAfter = proxy.logs().split("\n").filter((l) => /→ POST \S+\/in\/append/.test(l)).length;
    assert.equal(appendsAfter, appendsBefore, "the viewer sent nothing to the session");
  });
});
