// Fast starts (4.5.0 fast-starts.mdx): a new chat's first turn, three ways,
// picked in the empty chat. "Plain" starts the session with the first
// message; "Preload" (`transport.preload`) starts it, and the agent's run, as
// the chat opens; "Head start" (the transport's `headStart` option) posts the
// first message to the app's head-start route, which answers it while the
// run boots, hands the turn over to the agent, and gives the session's token
// back so the next turns go to the session directly. The emulator's runs take
// `--run-boot-ms` to boot here, as a cold start would. Each path's time to
// first chunk (from Send, as the page shows it) is printed as a diagnostic;
// it is not asserted.
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
  withEnv,
} from "./lib/chat.mjs";

const BOOT_MS = 800;
const isStart = (r) => r.method === "POST" && /^\/app\/chats\/[^/]+\/start(\?|$)/.test(r.path);
const isHeadStart = (r) => r.method === "POST" && /^\/app\/head-start(\?|$)/.test(r.path);
const isAppend = (r) => r.method === "POST" && /\/in\/append(\?|$)/.test(r.path);

/** Opens a new chat and picks how its first turn starts. */
async function newChat(page, url, mode) {
  const chatId = await openChat(page, url);
  await pick(page, mode);
  assert.equal(await page.byTestId("chat").attr("data-chat-id"), chatId, "the same new chat");
  return chatId;
}

/** Picks how the open (new) chat's first turn starts. */
async function pick(page, mode) {
  await page.locator(`[data-testid="fast-start-option"][data-mode="${mode}"]`).click();
  await waitForFunction(
    page,
    (mode) =>
      document.querySelector(`[data-testid="fast-start-option"][data-mode="${mode}"]`)?.getAttribute("aria-pressed") ===
      "true",
    mode,
    `the ${mode} option to be picked`,
  );
}

/** The page's session starts and `.in` appends so far, from the proxy's log. */
function sessionRequests(proxy) {
  return proxy
    .logs()
    .split("\n")
    .filter((l) => /→ POST (\/app\/chats\/[^/ ]+\/start|\S+\/in\/append)/.test(l))
    .map((l) => l.replace(/^.*→ /, ""));
}

async function readTtfc(page, path) {
  await waitForFunction(
    page,
    (path) => document.querySelector('[data-testid="ttfc"]')?.getAttribute("data-path") === path,
    path,
    `the time to first chunk (${path})`,
  );
  return Number(await page.byTestId("ttfc").attr("data-ms"));
}

test("head start: the first message is answered by the app's route while the run boots, the next one goes to the session", async (t) => {
  await withEnv(t, { args: ["--run-boot-ms", String(BOOT_MS)] }, async ({ browser, url, proxy, emu }) => {
    const page = await browser.newPage();
    const chatId = await newChat(page, url, "head-start");

    const headStart = proxy.waitForRequest(isHeadStart, "the first message posted to the head-start route");
    await send(page, "hello");
    const posted = await headStart;
    assert.equal(posted.json?.chatId, chatId);
    assert.deepEqual(
      posted.json?.headStartMessages?.map((m) => m.parts?.[0]?.text),
      ["hello"],
      "the route gets the conversation so far",
    );
    await waitForReplies(page, 1);
    assert.deepEqual(pairs(await transcript(page)), [["user", "hello"], ["assistant", "Echo: hello"]]);
    const ms = await readTtfc(page, "head-start");
    t.diagnostic(`time to first chunk, head start, run boot ${BOOT_MS} ms: ${ms} ms`);
    assert.deepEqual(sessionRequests(proxy), [], "no session start and no append for the first message");

    // The agent stored the turn the route answered (the handover).
    const stored = async () => pairs(await storedTranscript(emu, chatId));
    assert.deepEqual(await stored(), [["user", "hello"], ["assistant", "Echo: hello"]]);

    // The next turn goes straight to the session.
    const append = proxy.waitForRequest(isAppend, "the second message appended to the session");
    await send(page, "and again");
    await append;
    await waitForReplies(page, 2);
    const all = [
      ["user", "hello"],
      ["assistant", "Echo: hello"],
      ["user", "and again"],
      ["assistant", "Echo: and again"],
    ];
    assert.deepEqual(pairs(await transcript(page)), all);
    assert.equal(await page.byTestId("ttfc").attr("data-path"), "session");
    assert.deepEqual(await stored(), all);
    await page.reload();
    await waitForReplies(page, 2);
    assert.deepEqual(pairs(await transcript(page)), all);
    await assertNoError(page);
  });
});

test("plain starts the session with the first message; preload starts it as the chat opens; each shows its time to first chunk", async (t) => {
  await withEnv(t, { args: ["--run-boot-ms", String(BOOT_MS)] }, async ({ browser, url, proxy }) => {
    const page = await browser.newPage();

    // Plain (the default): nothing is started until the first message.
    const plain = await newChat(page, url, "none");
    assert.deepEqual(sessionRequests(proxy), [], "nothing started before the first message");
    const startedWithSend = proxy.waitForRequest(isStart, "the session start with the first message");
    await send(page, "hello");
    assert.ok((await startedWithSend).path.includes(encodeURIComponent(plain)));
    await waitForReplies(page, 1);
    assert.deepEqual(pairs(await transcript(page)), [["user", "hello"], ["assistant", "Echo: hello"]]);
    const plainMs = await readTtfc(page, "none");

    // Preload: the session (and the run) start before anything is sent.
    await page.byTestId("new-chat").click();
    await waitForFunction(
      page,
      (prev) => {
        const chat = document.querySelector('[data-testid="chat"]');
        return chat && chat.getAttribute("data-chat-id") !== prev && document.querySelector('[data-testid="fast-start"]');
      },
      plain,
      "a new chat",
    );
    const started = proxy.waitForRequest(isStart, "the preload's session start");
    await pick(page, "preload");
    const start = await started;
    const chatId = await page.byTestId("chat").attr("data-chat-id");
    assert.ok(start.path.includes(encodeURIComponent(chatId)), `the preload is for this chat: ${start.path}`);
    await send(page, "hello");
    await waitForReplies(page, 1);
    assert.deepEqual(pairs(await transcript(page)), [["user", "hello"], ["assistant", "Echo: hello"]]);
    const preloadMs = await readTtfc(page, "preload");
    t.diagnostic(`time to first chunk, run boot ${BOOT_MS} ms: plain ${plainMs} ms, preload ${preloadMs} ms`);

    // The picker of the next new chat shows both measurements.
    await page.byTestId("new-chat").click();
    await waitForFunction(
      page,
      () =>
        /ms/.test(document.querySelector('[data-testid="fast-start-option"][data-mode="preload"]')?.textContent ?? "") &&
        /ms/.test(document.querySelector('[data-testid="fast-start-option"][data-mode="none"]')?.textContent ?? ""),
      undefined,
      "the picker to show the measured times",
    );
    await assertNoError(page);
  });
});

test("another way picked on a chat that preloaded as it opened starts a new chat that way", async (t) => {
  await withEnv(t, { args: ["--run-boot-ms", String(BOOT_MS)] }, async ({ browser, url, proxy }) => {
    const page = await browser.newPage();
    const started = proxy.waitForRequest(isStart, "the preload's session start");
    const preloaded = await newChat(page, url, "preload");
    await started;
    // The preloaded chat has its session: the picker's choice is for a new chat.
    await page.locator('[data-testid="fast-start-option"][data-mode="head-start"]').click();
    await waitForFunction(
      page,
      (prev) => {
        const chat = document.querySelector('[data-testid="chat"]');
        const option = document.querySelector('[data-testid="fast-start-option"][data-mode="head-start"]');
        return chat && chat.getAttribute("data-chat-id") !== prev && option?.getAttribute("aria-pressed") === "true";
      },
      preloaded,
      "a new chat with head start picked",
    );
    const headStart = proxy.waitForRequest(isHeadStart, "the first message posted to the head-start route");
    await send(page, "hello");
    const posted = await headStart;
    assert.notEqual(posted.json?.chatId, preloaded, "the first message went to the new chat");
    await waitForReplies(page, 1);
    await assertNoError(page);
  });
});
