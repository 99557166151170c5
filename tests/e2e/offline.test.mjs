// A message typed while the browser is offline (issue 21): the send waits
// for the `online` event instead of failing, and once the network is back
// the message is appended once and its reply arrives once, exact. A reply
// whose stream loses the network waits the same way and goes on.
//
// Going offline: the proxy takes the network down (every request of the
// page fails, as `fetch` does offline), and the browser goes offline. In
// Chromium that is the browser's own switch (ChromeDriver's network
// conditions: `navigator.onLine` false, `offline` fired, requests fail);
// geckodriver and WebKitWebDriver have none, so there the page's
// `navigator.onLine` is made false and `offline` is dispatched. Coming back,
// the network goes up, the browser is online again and `online` fires.
import assert from "node:assert/strict";
import { Command } from "selenium-webdriver/lib/command.js";
import {
  assertNoError,
  assertOneWholeLongReply,
  eventually,
  openChat,
  send,
  storedTranscript,
  test,
  transcript,
  waitForAssistantText,
  waitForFunction,
  waitForReplies,
  withEnv,
} from "./lib/chat.mjs";

/**
 * Runs `code` in the page's own realm (a script element): Firefox runs
 * WebDriver scripts in a sandbox whose changes to `navigator` or `fetch`
 * the page's own code does not see. What it reports goes through the DOM.
 */
function inPage(page, code) {
  return page.evaluate((code) => {
    const s = document.createElement("script");
    s.textContent = code;
    document.documentElement.appendChild(s);
    s.remove();
  }, code);
}

/** ChromeDriver's network emulation (the DevTools "Offline" switch). */
async function chromiumOffline(browser, offline) {
  const d = browser.driver;
  d.getExecutor().defineCommand("e2eNetworkConditions", "POST", "/session/:sessionId/chromium/network_conditions");
  const conditions = offline
    ? { offline: true, latency: 0, download_throughput: 0, upload_throughput: 0 }
    : { offline: false, latency: 0, download_throughput: -1, upload_throughput: -1 };
  await d.execute(new Command("e2eNetworkConditions").setParameter("network_conditions", conditions));
}

/** The browser offline or back online; the page's `navigator.onLine` after it. */
async function setPageOnline(browser, page, up) {
  if (browser.engine === "chromium") {
    await chromiumOffline(browser, !up);
    return page.evaluate(() => String(navigator.onLine));
  }
  await inPage(
    page,
    `(() => {
      if (!("__e2eOnline" in window)) {
        Object.defineProperty(Navigator.prototype, "onLine", { configurable: true, get: () => window.__e2eOnline });
      }
      window.__e2eOnline = ${up};
      document.documentElement.dataset.e2eOnline = String(navigator.onLine);
      window.dispatchEvent(new Event(${up} ? "online" : "offline"));
    })()`,
  );
  return page.evaluate(() => document.documentElement.dataset.e2eOnline);
}

/** Counts the `…/in/append` requests the page makes from now on. */
function countAppends(page) {
  return inPage(
    page,
    `(() => {
      const root = document.documentElement;
      root.dataset.e2eAppends = "0";
      const real = window.fetch;
      window.fetch = function (input, init) {
        const url = typeof input === "string" ? input : input instanceof URL ? input.href : input.url;
        if (String(url).includes("/in/append")) root.dataset.e2eAppends = String(Number(root.dataset.e2eAppends) + 1);
        return real.call(window, input, init);
      };
    })()`,
  );
}

const appends = (page) => page.evaluate(() => Number(document.documentElement.dataset.e2eAppends));

test("a message typed offline is sent once the browser is back online, and its reply arrives once, exact", async (t) => {
  await withEnv(t, {}, async ({ browser, url, emu, proxy }) => {
    const page = await browser.newPage();
    const chatId = await openChat(page, url);
    await countAppends(page);
    await send(page, "first");
    await waitForReplies(page, 1);
    assert.equal(await appends(page), 1);

    // Offline: the network down for the page, and the browser says so.
    proxy.setOnline(false);
    assert.equal(await setPageOnline(browser, page, false), "false");
    await send(page, "typed while offline");
    // The transport holds the message (its onEvent `send-queued-offline`,
    // shown by the demo's status line) instead of failing the send.
    await waitForFunction(
      page,
      () => document.querySelector('[data-testid="status"]')?.getAttribute("data-queued") === "1",
      undefined,
      "the message to wait for the network",
    );
    assert.equal(await appends(page), 1, "nothing was sent while offline");
    const waiting = await transcript(page);
    assert.deepEqual(
      waiting.map((m) => [m.role, m.text]),
      [
        ["user", "first"],
        ["assistant", "Echo: first"],
        ["user", "typed while offline"],
      ],
    );
    assert.notEqual(
      await page.byTestId("chat").attr("data-status"),
      "error",
      "the send did not fail",
    );

    // Back online: the message goes out, once, and its reply streams in.
    proxy.setOnline(true);
    assert.equal(await setPageOnline(browser, page, true), "true");
    await waitForReplies(page, 2);
    await waitForFunction(
      page,
      () => document.querySelector('[data-testid="chat"]')?.getAttribute("data-status") === "ready",
      undefined,
      "the chat to be ready after the reply",
    );
    const msgs = await transcript(page);
    assert.deepEqual(
      msgs.map((m) => [m.role, m.text]),
      [
        ["user", "first"],
        ["assistant", "Echo: first"],
        ["user", "typed while offline"],
        ["assistant", "Echo: typed while offline"],
      ],
    );
    assert.equal(await appends(page), 2, "the message was appended once");
    assert.equal(await page.byTestId("status").attr("data-queued"), "0");
    const stored = await eventually(async () => {
      const s = await storedTranscript(emu, chatId);
      return s.length === 4 && s;
    }, "the stored transcript");
    assert.deepEqual(
      stored.map((m) => [m.role, m.text]),
      msgs.map((m) => [m.role, m.text]),
    );
    await assertNoError(page);
  });
});

test("a reply whose stream loses the network goes on once the browser is back online, once, exact", async (t) => {
  await withEnv(t, { args: ["--chunk-delay-ms", "40"] }, async ({ browser, url, emu, proxy }) => {
    const page = await browser.newPage();
    const chatId = await openChat(page, url);
    await send(page, "/long 200");
    await waitForAssistantText(page, { minLength: 30 }, "the reply to start");

    // Offline mid-reply: the stream's connection is cut, and its
    // reconnects fail for as long as the network is down. The agent goes on
    // writing the reply meanwhile. 40 s is longer than the longest the
    // retry budget lasts (12 tries, 36.3 s of backoff at most): a stream
    // that spent its tries offline would have failed by then.
    proxy.setOnline(false);
    assert.equal(await setPageOnline(browser, page, false), "false");
    await new Promise((r) => setTimeout(r, 40_000));
    assert.notEqual(
      await page.byTestId("chat").attr("data-status"),
      "error",
      "the reply did not fail while offline",
    );

    // Back online: the stream reconnects from its cursor and the reply
    // ends whole, each token once.
    proxy.setOnline(true);
    assert.equal(await setPageOnline(browser, page, true), "true");
    await waitForReplies(page, 1, 60_000);
    await assertOneWholeLongReply(page, emu, chatId, 200);
  });
});
