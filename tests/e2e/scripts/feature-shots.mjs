// Takes the README's per-feature screenshots (the "What the demo shows"
// table): docs/demo-pending.png, demo-actions.png, demo-watch.png,
// demo-transcript.png and demo-faststart.png. Each is headless Chromium
// (through chromedriver, lib/browser.mjs) at 1100x720 against a fresh
// emulator, driven along its end-to-end test's path (pending, actions,
// watch, transcript, faststart .test.mjs) to the moment that shows the
// feature. Run after `npm run pretest`.
//
//   node scripts/feature-shots.mjs [pending actions ...]   only these shots
import path from "node:path";
import { launchBrowser } from "../lib/browser.mjs";
import {
  openChat,
  sayFromAnotherDevice,
  send,
  waitForFunction,
  waitForReplies,
} from "../lib/chat.mjs";
import { startEmulator } from "../lib/emulator.mjs";
import { ROOT } from "../lib/paths.mjs";

const VIEWPORT = { width: 1100, height: 720 };

/** A fresh emulator (with `args`) and a fresh Chromium; `body(page, emu)` drives it; writes docs/demo-<name>.png. */
async function shot(name, args, body) {
  const emu = await startEmulator(args);
  const browser = await launchBrowser({ engine: "chromium", viewport: VIEWPORT });
  try {
    const page = await browser.newPage();
    await body(page, emu);
    const out = path.join(ROOT, "docs", `demo-${name}.png`);
    await page.screenshot(out);
    console.log(`wrote ${path.relative(ROOT, out)}`);
  } finally {
    await browser.close();
    await emu.stop();
  }
}

/** Waits until the last assistant message has at least `n` tokens of a `/long` reply. */
async function waitForTokens(page, n, what) {
  await waitForFunction(
    page,
    (n) => {
      const all = document.querySelectorAll('[data-testid="message"][data-role="assistant"]');
      const last = all[all.length - 1];
      const text = last ? [...last.querySelectorAll('[data-testid="text-part"]')].map((p) => p.textContent).join("") : "";
      return (text.match(/token\d+/g) ?? []).length >= n;
    },
    n,
    what,
  );
}

const isStreaming = () => document.querySelector('[data-testid="chat"]')?.getAttribute("data-status") === "streaming";

/** Types into the composer while the reply streams and clicks `button` ("steer" or "queue"). */
async function typeDuringReply(page, text, button) {
  await waitForFunction(page, isStreaming, undefined, "the reply to be streaming");
  await page.byTestId("composer-input").fill(text);
  await page.byTestId(button).click();
}

const SHOTS = {
  // A steered message shown injected in a streaming reply, and a queued one waiting.
  pending: () =>
    shot("pending", ["--chunk-delay-ms", "70"], async (page, emu) => {
      await openChat(page, emu.url);
      await send(page, "What's the weather in Lisbon?");
      await waitForReplies(page, 1);
      await send(page, "/long 160");
      await waitForTokens(page, 12, "the long reply to be under way");
      await typeDuringReply(page, "use metric units", "steer");
      await waitForFunction(
        page,
        () => {
          const all = document.querySelectorAll('[data-testid="message"][data-role="assistant"]');
          return !!all[all.length - 1]?.querySelector('[data-testid="injected-message"]');
        },
        undefined,
        "the steered message injected in the reply",
      );
      await typeDuringReply(page, "then summarise it", "queue");
      await page.byTestId("pending-message").waitFor();
      await waitForFunction(
        page,
        () => {
          const all = document.querySelectorAll('[data-testid="message"][data-role="assistant"]');
          const parts = all[all.length - 1]?.querySelectorAll('[data-testid="text-part"]') ?? [];
          return (parts[parts.length - 1]?.textContent.match(/token\d+/g) ?? []).length >= 12;
        },
        undefined,
        "the reply to go on after the injection",
      );
      await waitForFunction(page, isStreaming, undefined, "the reply to be still streaming");
    }),

  // The conversation after an Undo and an Edit, with the action's onSettled status.
  actions: () =>
    shot("actions", ["--chunk-delay-ms", "5"], async (page, emu) => {
      await openChat(page, emu.url);
      for (const [i, text] of ["Hello!", "What's the weather?", "And tomorrow?"].entries()) {
        await send(page, text);
        await waitForReplies(page, i + 1);
      }
      await page.byTestId("undo").click();
      await waitForSettled(page, "undo");
      await waitForFunction(
        page,
        () => document.querySelectorAll('[data-testid="message"]').length === 4,
        undefined,
        "the last exchange to be gone",
      );
      await page.locator('[data-testid="message"]:nth-child(3) [data-testid="edit"]').click();
      await page.byTestId("edit-input").fill("What's the weather in Lisbon?");
      await page.byTestId("edit-save").click();
      await waitForSettled(page, "edit");
      await waitForFunction(
        page,
        () =>
          [...document.querySelectorAll('[data-testid="message"][data-role="user"]')].some((m) =>
            m.textContent.includes("in Lisbon?"),
          ),
        undefined,
        "the edited message",
      );
    }),

  // The watch viewer following a reply another device's message started.
  watch: () =>
    shot("watch", ["--chunk-delay-ms", "70"], async (page, emu) => {
      const url = emu.url;
      const chatId = await openChat(page, url);
      await send(page, "Hello from the phone");
      await waitForReplies(page, 1);
      const href = await page.byTestId("watch-link").attr("href");
      await page.goto(`${url}/${href}`);
      await page.byTestId("watch").waitFor();
      await page.byTestId("watch-banner").waitFor();
      await waitForFunction(
        page,
        () => ["submitted", "streaming"].includes(document.querySelector('[data-testid="watch"]')?.getAttribute("data-status")),
        undefined,
        "the viewer's stream to be open",
      );
      await sayFromAnotherDevice(emu, chatId, "/long 160");
      await waitForTokens(page, 40, "the viewer to show the live reply");
    }),

  // A chat reopened from the agent's transcript, without the app's own copy.
  transcript: () =>
    shot("transcript", ["--chunk-delay-ms", "5"], async (page, emu) => {
      const chatId = await openChat(page, emu.url);
      await send(page, "Hello!");
      await waitForReplies(page, 1);
      await send(page, "/long 24");
      await waitForReplies(page, 2);
      await emu.app("PUT", `/app/chats/${encodeURIComponent(chatId)}/messages`, { messages: [] });
      await page.byTestId("transcript-link").click();
      await waitForFunction(
        page,
        () => document.querySelector('[data-testid="chat"]')?.getAttribute("data-source") === "transcript",
        undefined,
        "the chat reopened from the transcript",
      );
      await page.byTestId("transcript-banner").waitFor();
      await waitForReplies(page, 2);
      await send(page, "And after the transcript?");
      await waitForReplies(page, 3);
    }),

  // Plain, then preload, then head start, on runs that take 800 ms to boot:
  // the head-start chat with its time to first chunk.
  faststart: () =>
    shot("faststart", ["--run-boot-ms", "800", "--chunk-delay-ms", "5"], async (page, emu) => {
      await openChat(page, emu.url);
      const paths = [
        ["none", "Hello (plain)"],
        ["preload", "Hello (preloaded)"],
        ["head-start", "Hello (head start)"],
      ];
      for (const [i, [mode, text]] of paths.entries()) {
        if (i > 0) {
          // The page keeps the mode for the next new chat, and a new chat in
          // preload mode is started as it opens (no longer new: no picker).
          // So the page is loaded again (a full load: the mode is read from
          // localStorage) on a new chat in plain mode, then the mode picked.
          await page.evaluate(() => localStorage.setItem("demo.fastStart", "none"));
          await page.goto(`${emu.url}/`);
          await page.byTestId("fast-start").waitFor();
        }
        await page.locator(`[data-testid="fast-start-option"][data-mode="${mode}"]`).click();
        await waitForFunction(
          page,
          (mode) =>
            document.querySelector(`[data-testid="fast-start-option"][data-mode="${mode}"]`)?.getAttribute("aria-pressed") ===
            "true",
          mode,
          `the ${mode} option to be picked`,
        );
        await send(page, text);
        await waitForReplies(page, 1);
        await waitForFunction(
          page,
          (mode) => document.querySelector('[data-testid="ttfc"]')?.getAttribute("data-path") === mode,
          mode,
          `the time to first chunk (${mode})`,
        );
        console.log(`  ${mode}: first chunk in ${await page.byTestId("ttfc").attr("data-ms")} ms`);
      }
    }),
};

/** Waits for the action's status line to leave `running` for `type`; fails unless it settled. */
async function waitForSettled(page, type) {
  await waitForFunction(
    page,
    (type) => {
      const el = document.querySelector('[data-testid="action-status"]');
      return el?.getAttribute("data-action") === type && el.getAttribute("data-state") !== "running";
    },
    type,
    `the ${type} action to settle`,
  );
  const state = await page.byTestId("action-status").attr("data-state");
  if (state !== "settled") throw new Error(`the ${type} action failed: ${await page.byTestId("action-status").innerText()}`);
}

const wanted = process.argv.slice(2);
for (const name of wanted.length ? wanted : Object.keys(SHOTS)) {
  if (!SHOTS[name]) throw new Error(`no shot named ${name} (have: ${Object.keys(SHOTS).join(", ")})`);
  await SHOTS[name]();
}
