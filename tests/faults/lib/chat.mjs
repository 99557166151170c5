// Drives trigger-chat-wasm from Node the way an app does, against one emulator,
// and checks replies chunk by chunk against what the scripted agent emits
// (devserver/src/agent.rs).
import assert from "node:assert/strict";
import { TriggerChatTransport } from "trigger-chat-wasm";
import { startEmulator } from "./emulator.mjs";

// ----- observing the transport's requests ---------------------------------
//
// The transport calls `globalThis.fetch` (looked up at call time). A
// pass-through wrapper records its requests to the Sessions API and can run a
// hook before each one is sent (to arm a fault for exactly that connection).
// It never changes a request or a response.

const realFetch = globalThis.fetch;
/** @type {{chatId: string, endpoint: "in"|"out", status: number|null, error: string|null, lastEventId: string|null}[]} */
export const requests = [];
/** @type {Map<string, (req: {endpoint: string, index: number}) => Promise<void>|void>} chatId → hook */
const hooks = new Map();

globalThis.fetch = async function recordingFetch(input, init) {
  const url = typeof input === "string" ? input : input instanceof URL ? input.href : input.url;
  const m = /\/realtime\/v1\/sessions\/([^/]+)\/(in|out)\b/.exec(url);
  if (!m) return realFetch(input, init);
  const chatId = decodeURIComponent(m[1]);
  const endpoint = m[2];
  const headers = init?.headers ?? {};
  const lastEventId =
    headers instanceof Headers ? headers.get("last-event-id") : (headers["Last-Event-ID"] ?? headers["last-event-id"] ?? null);
  const partId = headers instanceof Headers ? headers.get("x-part-id") : (headers["X-Part-Id"] ?? headers["x-part-id"] ?? null);
  const auth = headers instanceof Headers ? headers.get("authorization") : (headers["Authorization"] ?? headers["authorization"] ?? null);
  const rec = { chatId, endpoint, status: null, error: null, lastEventId, partId, auth, at: Date.now() };
  const index = requests.filter((r) => r.chatId === chatId && r.endpoint === endpoint).length;
  requests.push(rec);
  const hook = hooks.get(chatId);
  if (hook) await hook({ endpoint, index });
  try {
    const res = await realFetch(input, init);
    rec.status = res.status;
    return res;
  } catch (e) {
    rec.error = String(e?.message ?? e);
    throw e;
  }
};

/** Starts an emulator for one test and always stops it; its output is added to a failure. */
export async function withEmulator(fn, args = []) {
  const emu = await startEmulator(args);
  try {
    return await fn(emu);
  } catch (e) {
    if (e && typeof e === "object") e.message = `${e.message}\n${emu.logs()}`;
    throw e;
  } finally {
    await emu.stop();
  }
}

/** Runs `fn({endpoint, index})` before each of this chat's Sessions requests is sent. */
export function onRequest(chatId, fn) {
  hooks.set(chatId, fn);
}

export function requestsOf(chatId, endpoint) {
  return requests.filter((r) => r.chatId === chatId && (!endpoint || r.endpoint === endpoint));
}

// ----- the app side -------------------------------------------------------

let chatSeq = 0;
export function newChatId(label) {
  chatSeq += 1;
  return `faults-${label}-${process.pid}-${chatSeq}`;
}

let msgSeq = 0;
export function userMessage(text) {
  msgSeq += 1;
  return { id: `u_${process.pid}_${msgSeq}`, role: "user", parts: [{ type: "text", text }] };
}

/**
 * A transport wired like an app's: session start and token refresh go to the
 * emulator's demo app server. Counts the callback calls.
 */
export function makeTransport(emu, extra = {}) {
  const calls = { startSession: 0, accessToken: 0 };
  const transport = new TriggerChatTransport({
    task: "ai-chat",
    baseURL: emu.url,
    accessToken: async ({ chatId }) => {
      calls.accessToken += 1;
      const r = await emu.app("POST", `/app/chats/${encodeURIComponent(chatId)}/token`);
      return r.publicAccessToken;
    },
    startSession: async ({ chatId, clientData }) => {
      calls.startSession += 1;
      return emu.app("POST", `/app/chats/${encodeURIComponent(chatId)}/start`, { clientData });
    },
    ...extra,
  });
  return { transport, calls };
}

/** Rejects after `ms` with a message naming what was awaited. */
export function within(ms, what, promise) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/**
 * Reads a chunk stream to its end. `onChunk(chunk, all)` runs after each chunk
 * (it may await, e.g. to inject a fault mid-reply).
 */
export async function readAll(stream, { onChunk, timeoutMs = 20_000, what = "the reply stream to end" } = {}) {
  const chunks = [];
  const reader = stream.getReader();
  const loop = (async () => {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return chunks;
      chunks.push(value);
      if (onChunk) await onChunk(value, chunks);
    }
  })();
  try {
    return await within(timeoutMs, `${what} (${chunks.length} chunks so far)`, loop);
  } catch (e) {
    reader.cancel().catch(() => {});
    throw e;
  }
}

/** Sends one user message and reads its reply to the end. */
export async function sendAndRead(transport, chatId, text, opts = {}) {
  const message = opts.message ?? userMessage(text);
  const stream = await within(opts.sendTimeoutMs ?? 20_000, `sendMessages(${JSON.stringify(text)})`, transport.sendMessages({
    trigger: "submit-message",
    chatId,
    messageId: undefined,
    messages: [...(opts.history ?? []), message],
    abortSignal: undefined,
  }));
  const chunks = await readAll(stream, { ...opts, what: `the reply to ${JSON.stringify(text)}` });
  return { message, chunks };
}

// ----- what the scripted agent answers ---------------------------------------

/** The agent's word tokens: the first word bare, later words with a leading space. */
export function agentTokens(text) {
  return text
    .split(" ")
    .filter((w) => w !== "")
    .map((w, i) => (i === 0 ? w : ` ${w}`));
}

/** The exact deltas of the reply to `text` (`/long N` or an echo). */
export function expectedDeltas(text) {
  const m = /^\/long (\d+)$/.exec(text.trim());
  if (m) {
    const n = Number(m[1]);
    return Array.from({ length: n }, (_, i) => (i === 0 ? "token1" : ` token${i + 1}`));
  }
  return agentTokens(`Echo: ${text.trim()}`);
}

/** Asserts two delta lists are equal, naming the first difference (lists can be long). */
export function assertDeltas(got, want, label) {
  const firstBad = got.findIndex((d, i) => d !== want[i]);
  assert.equal(
    got.length === want.length && firstBad === -1,
    true,
    `${label}: ${got.length} deltas for ${want.length} expected` +
      (firstBad === -1 ? "" : `; first difference at delta #${firstBad}: got ${JSON.stringify(got[firstBad])}, expected ${JSON.stringify(want[firstBad])}; around it: ${JSON.stringify(got.slice(Math.max(0, firstBad - 3), firstBad + 4))}`),
  );
}

/**
 * Asserts the chunks are exactly one reply: start, start-step, text-start,
 * every delta once and in order, text-end, finish-step, finish, and nothing
 * else (no duplicate, no gap, no reordering). Returns the assistant message
 * id and the text.
 */
export function assertExactReply(chunks, text, label = text) {
  const deltas = expectedDeltas(text);
  const types = chunks.map((c) => c?.type);
  const want = ["start", "start-step", "text-start", ...deltas.map(() => "text-delta"), "text-end", "finish-step", "finish"];
  const got = chunks.filter((c) => c?.type === "text-delta").map((c) => c.delta);
  // The text first: the most readable failure when something is lost or doubled.
  assertDeltas(got, deltas, label);
  assert.deepEqual(types, want, `${label}: chunk types in order`);
  const textId = chunks[2].id;
  assert.ok(typeof textId === "string" && textId.length > 0, `${label}: text-start has an id`);
  for (const c of chunks.slice(2, -2)) assert.equal(c.id, textId, `${label}: every text chunk belongs to one text part`);
  const messageId = chunks[0].messageId;
  assert.ok(typeof messageId === "string" && messageId.startsWith("msg_"), `${label}: start carries the agent's messageId`);
  return { messageId, text: got.join("") };
}

/** The stored conversation (GET /app/chats/{id}), as [role, text, id]. */
export async function storedConversation(emu, chatId) {
  const chat = await emu.app("GET", `/app/chats/${encodeURIComponent(chatId)}`);
  return {
    chat,
    messages: chat.messages.map((m) => ({
      id: m.id,
      role: m.role,
      text: (m.parts ?? []).filter((p) => p.type === "text").map((p) => p.text).join(""),
    })),
  };
}


/** A small seeded PRNG (mulberry32), so "random" faults are the same every run. */
export function rng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
