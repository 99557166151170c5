// Page helpers for the demo. Every wait is a DOM condition with a bound.
import assert from "node:assert/strict";
import { mkdir } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { test as nodeTest } from "node:test";
import { ENGINES, launchBrowser } from "./browser.mjs";
import { startEmulator } from "./emulator.mjs";
import { startProxy } from "./proxy.mjs";
import { eventually as poll } from "../../support/eventually.mjs";

export const TIMEOUT = Number(process.env.E2E_WAIT_MS ?? 20_000);

const engineOf = new WeakMap();

/**
 * node:test's `test`, once per engine in E2E_BROWSERS: the test's name ends
 * with the engine in brackets, and `withEnv` starts that engine. `todo`
 * names engines where the case is a known open failure (engine → why): it
 * still runs there, and its result is reported as todo.
 */
export function test(name, fn, { todo = {} } = {}) {
  for (const engine of ENGINES) {
    const options = todo[engine] ? { todo: todo[engine] } : {};
    nodeTest(`${name} [${engine}]`, options, (t) => {
      engineOf.set(t, engine);
      return fn(t);
    });
  }
}

/**
 * Runs `body` with a fresh emulator, a proxy in front of it (lib/proxy.mjs:
 * the page is loaded from `url`, the proxy's, so every request it makes can
 * be held or dropped) and a fresh browser of the test's engine, and always
 * cleans up. On failure the page state, the browser console, the proxy's
 * and the emulator's output and screenshot paths are added to the error.
 */
export async function withEnv(t, { args = [], viewport } = {}, body) {
  const engine = engineOf.get(t) ?? ENGINES[0];
  const emu = await startEmulator(args);
  let proxy = null;
  let browser = null;
  try {
    proxy = await startProxy(emu.url);
    browser = await launchBrowser({ engine, viewport });
    await body({ emu, browser, proxy, url: proxy.url });
  } catch (e) {
    const dir = path.join(os.tmpdir(), "trigger-chat-e2e");
    await mkdir(dir, { recursive: true });
    const shots = browser ? await browser.screenshots(dir, t.name.replace(/[^a-z0-9]+/gi, "-")) : [];
    const extra = [
      `engine: ${engine} ${browser?.version ?? ""}`,
      `screenshots: ${shots.join(", ") || "none"}`,
      `--- browser ---\n${browser ? await browser.logs() : ""}`,
      `--- proxy ---\n${proxy?.logs() ?? ""}`,
      emu.logs().slice(-6_000),
    ].join("\n");
    if (e instanceof Error) {
      const stack = e.stack; // V8 formats the stack lazily: read it before changing the message
      e.message = `${e.message}\n${extra}`;
      e.stack = `${stack ?? e.message}\n${extra}`;
      throw e;
    }
    throw new Error(`${String(e)}\n${extra}`);
  } finally {
    await browser?.close();
    await proxy?.stop();
    await emu.stop();
  }
}

/** Opens the demo (a new chat, or `chatId`) and waits until it can be typed into. */
export async function openChat(page, url, chatId) {
  await page.goto(chatId ? `${url}/#/c/${encodeURIComponent(chatId)}` : `${url}/`);
  await page.byTestId("chat").waitFor();
  return page.byTestId("chat").attr("data-chat-id");
}

export async function send(page, text) {
  const input = page.byTestId("composer-input");
  await waitForFunction(
    page,
    () => {
      const el = document.querySelector('[data-testid="composer-input"]');
      const chat = document.querySelector('[data-testid="chat"]');
      const status = chat?.getAttribute("data-status");
      return el && !el.disabled && (status === "ready" || status === "error");
    },
    undefined,
    "the composer to accept input",
  );
  await input.fill(text);
  await page.byTestId("send").click();
}

/** role + visible text of every message, in order. */
export function transcript(page) {
  return page.evaluate(() =>
    [...document.querySelectorAll('[data-testid="message"]')].map((m) => ({
      id: m.getAttribute("data-message-id"),
      role: m.getAttribute("data-role"),
      text: [...m.querySelectorAll('[data-testid="text-part"]')].map((p) => p.textContent).join(""),
    })),
  );
}

/** The transcript's messages as [role, text] pairs. */
export const pairs = (msgs) => msgs.map((m) => [m.role, m.text]);

/** Waits until the page shows exactly `want` ([role, text] pairs). */
export async function waitForTranscript(page, want, what) {
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

/** Another device: appends a user message to the chat's session with a token from the app server. */
export async function sayFromAnotherDevice(emu, chatId, text) {
  const { publicAccessToken } = await emu.app("POST", `/app/chats/${encodeURIComponent(chatId)}/token`);
  const res = await fetch(`${emu.url}/realtime/v1/sessions/${encodeURIComponent(chatId)}/in/append`, {
    method: "POST",
    headers: { authorization: `Bearer ${publicAccessToken}`, "content-type": "application/json" },
    body: JSON.stringify({
      kind: "message",
      payload: {
        chatId,
        trigger: "submit-message",
        message: { id: `other-${Math.random().toString(36).slice(2, 12)}`, role: "user", parts: [{ type: "text", text }] },
      },
    }),
  });
  assert.equal(res.status, 200, `the other device's append: ${await res.text()}`);
}

export async function assistantTexts(page) {
  return (await transcript(page)).filter((m) => m.role === "assistant").map((m) => m.text);
}

/** page.waitForFunction with a bound and a readable failure. */
export async function waitForFunction(page, fn, arg, what, timeout = TIMEOUT) {
  try {
    return await page.waitForFunction(fn, arg, { timeout, what });
  } catch (e) {
    const state = await page
      .evaluate(() => ({
        status: document.querySelector('[data-testid="chat"]')?.getAttribute("data-status"),
        conn: document.querySelector('[data-testid="status"]')?.textContent,
        error: document.querySelector('[data-testid="chat-error"]')?.textContent ?? null,
      }))
      .catch(() => ({}));
    const msgs = await transcript(page).catch(() => []);
    throw new Error(
      `timed out after ${timeout} ms waiting for ${what}\n  page: ${JSON.stringify(state)}\n  messages: ${JSON.stringify(msgs)}\n  (${e.message.split("\n")[0]})`,
    );
  }
}

/** Waits until `n` assistant messages exist and no reply is in flight. */
export async function waitForReplies(page, n, timeout = TIMEOUT) {
  await waitForFunction(
    page,
    (want) => {
      const chat = document.querySelector('[data-testid="chat"]');
      const assistants = document.querySelectorAll('[data-testid="message"][data-role="assistant"]').length;
      return chat?.getAttribute("data-status") === "ready" && assistants >= want;
    },
    n,
    `${n} finished assistant message(s)`,
    timeout,
  );
}

/** Waits until the last assistant message's text satisfies `pred` (a string: includes). */
export async function waitForAssistantText(page, needle, what, timeout = TIMEOUT) {
  await waitForFunction(
    page,
    (needle) => {
      const all = document.querySelectorAll('[data-testid="message"][data-role="assistant"]');
      const last = all[all.length - 1];
      if (!last) return false;
      const text = [...last.querySelectorAll('[data-testid="text-part"]')].map((p) => p.textContent).join("");
      return needle.minLength !== undefined ? text.length >= needle.minLength : text.includes(needle.includes);
    },
    needle,
    what,
    timeout,
  );
}

/**
 * The chat holds exactly one exchange: `/long n` and its whole reply
 * (`token1` … `tokenN`, each once), on the page and in the agent's store,
 * and no error.
 */
export async function assertOneWholeLongReply(page, emu, chatId, n) {
  const expected = Array.from({ length: n }, (_, i) => `token${i + 1}`).join(" ");
  assert.deepEqual(pairs(await transcript(page)), [
    ["user", `/long ${n}`],
    ["assistant", expected],
  ]);
  const stored = await eventually(async () => {
    const s = await storedTranscript(emu, chatId);
    return s.length === 2 && s;
  }, "the turn to be stored");
  assert.equal(stored[1].text, expected);
  await assertNoError(page);
}

export async function chatStatus(page) {
  return page.byTestId("chat").attr("data-status");
}

export async function assertNoError(page) {
  const errors = await page.byTestId("chat-error").count();
  const conn = await page.byTestId("status").attr("data-state");
  assert.equal(errors, 0, `an error banner is shown: ${await page.byTestId("chat-error").texts()}`);
  assert.notEqual(conn, "error", "the status line shows an error");
}

/**
 * Records every distinct value the last assistant message's text takes, so a
 * test can check that a reply arrived in pieces rather than all at once.
 */
export async function recordAssistantTextGrowth(page) {
  await page.evaluate(() => {
    const seen = [];
    window.__textGrowth = seen;
    const read = () => {
      const all = document.querySelectorAll('[data-testid="message"][data-role="assistant"]');
      const last = all[all.length - 1];
      if (!last) return;
      const text = [...last.querySelectorAll('[data-testid="text-part"]')].map((p) => p.textContent).join("");
      if (seen[seen.length - 1] !== text) seen.push(text);
    };
    new MutationObserver(read).observe(document.body, { subtree: true, childList: true, characterData: true });
  });
  return () => page.evaluate(() => window.__textGrowth.slice());
}

/** The chat as the app server stored it: [{role, text}] per message. */
export async function storedTranscript(emu, chatId) {
  const chat = await emu.app("GET", `/app/chats/${encodeURIComponent(chatId)}`);
  return chat.messages.map((m) => ({
    id: m.id,
    role: m.role,
    text: m.parts.filter((p) => p.type === "text").map((p) => p.text).join(""),
  }));
}

/** The chat as the app server stored it (`GET /app/chats/{id}`): messages and session. */
export function storedChat(emu, chatId) {
  return emu.app("GET", `/app/chats/${encodeURIComponent(chatId)}`);
}

/** `PUT /app/chats/{id}/session`: the page's save of the transport's session (`onSessionChange`). */
export const isSessionSave = (r) => r.method === "PUT" && /^\/app\/chats\/[^/]+\/session(\?|$)/.test(r.path);

/**
 * Keeps the page's saves of the transport's session from reaching the app
 * server until `stop()`: the proxy cuts each one's connection, so it fails
 * in the browser (the page logs a warning and goes on) and the app server
 * keeps the session it had, as when a reload comes before the page's save
 * lands. `count` is how many saves were dropped. (Holding the requests
 * instead does not pin this: a request still held when the page reloads
 * can reach the app server after all.)
 */
export function dropSessionSaves(proxy) {
  return proxy.drop(isSessionSave);
}

/** Polls `fn` (async, in Node) until it returns a truthy value. */
export const eventually = (fn, what, timeout = TIMEOUT) => poll(fn, what, timeout, 100);
