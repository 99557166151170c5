// Watch mode (4.8.3 reference.mdx, `watch: true`): a read-only viewer of a
// chat another tab drives. The chat's "Watch" link opens `#/watch/<chatId>`,
// whose transport keeps one stream open across turn boundaries: each reply
// the other tab's messages start streams into the viewer as it is written.
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

const pairs = (msgs) => msgs.map((m) => [m.role, m.text]);

/** Waits until the page shows exactly `want` ([role, text] pairs). */
async function waitForTranscript(page, want, what) {
  await waitForFunction(
    page,
    (want) => {
      const got = [...document.querySelectorAll('[data-testid="message"]')].map((m) => [
        m.getAttribute("data-role"),
        [...m.querySelectorAll('[data-testid="text-part"]')].map((p) => p.textContent).join(""),
      ]);
      return JSON.stringify(got) === JSON.stringify(want);
    },
    want,
    what,
  );
}

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
  await withEnv(t, {}, async ({ browser, url }) => {
    const driver = await browser.newPage();
    const chatId = await openChat(driver, url);
    await send(driver, "hello");
    await waitForReplies(driver, 1);

    const href = await driver.byTestId("watch-link").attr("href");
    assert.equal(href, `#/watch/${encodeURIComponent(chatId)}`);
    assert.equal(await driver.byTestId("watch-link").attr("target"), "_blank");

    const viewer = await browser.newPage();
    await viewer.goto(`${url}/${href}`);
    await viewer.byTestId("watch").waitFor();
    await viewer.byTestId("watch-banner").waitFor();
    await waitForTranscript(viewer, [["user", "hello"], ["assistant", "Echo: hello"]], "the stored conversation in the viewer");
    assert.equal(await viewer.byTestId("composer-input").count(), 0, "the viewer has no composer");
    // The viewer has asked for the chat's stream (useChat's resume) and waits on it.
    await waitForFunction(
      viewer,
      () => document.querySelector('[data-testid="watch"]')?.getAttribute("data-status") === "streaming" ||
        document.querySelector('[data-testid="watch"]')?.getAttribute("data-status") === "submitted",
      undefined,
      "the viewer's stream to be open",
    );

    // Two more turns from the driving tab: the viewer shows each reply as it
    // streams (in pieces), and the user's messages between them.
    const growth = await recordGrowth(viewer);
    await driver.bringToFront();
    await send(driver, "/long 30");
    const long = Array.from({ length: 30 }, (_, i) => `token${i + 1}`).join(" ");
    await waitForTranscript(
      viewer,
      [["user", "hello"], ["assistant", "Echo: hello"], ["user", "/long 30"], ["assistant", long]],
      "the second turn in the viewer",
    );
    const seen = (await growth()).filter((s) => s.startsWith("token"));
    assert.ok(seen.length >= 3, `the viewer showed the reply in pieces: ${JSON.stringify(seen)}`);
    for (const s of seen) assert.ok(long.startsWith(s), `a prefix of the reply: ${s}`);

    await waitForReplies(driver, 2);
    await send(driver, "and again");
    const all = [
      ["user", "hello"],
      ["assistant", "Echo: hello"],
      ["user", "/long 30"],
      ["assistant", long],
      ["user", "and again"],
      ["assistant", "Echo: and again"],
    ];
    await waitForTranscript(viewer, all, "the third turn in the viewer");
    await waitForReplies(driver, 3);
    assert.deepEqual(pairs(await transcript(driver)), all);
    await waitForFunction(
      viewer,
      () => Number(document.querySelector('[data-testid="watch"]')?.getAttribute("data-turns")) >= 2,
      undefined,
      "the viewer to have seen two turns complete",
    );
    // Still following: the stream stays open after the turns.
    assert.equal(await viewer.byTestId("watch").attr("data-status"), "streaming");
    await assertNoError(driver);
  });
});
