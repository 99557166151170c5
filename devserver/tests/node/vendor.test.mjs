// The vendor's own clients (@trigger.dev/sdk 4.5.0) against trigger-devserver:
// auth.createPublicToken, chat.createStartSessionAction and TriggerChatTransport.
//
// The server is started from the workspace with `cargo run` (or from the binary
// named by DEVSERVER_BIN) on a free port; its first stdout line gives the URL.

import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import path from "node:path";

const here = path.dirname(fileURLToPath(import.meta.url));
const workspace = path.resolve(here, "..", "..", "..");
const SECRET = "tr_dev_node_vendor_check_key";

let server;
let baseURL;
let sdk;
let chatApi;
let TriggerChatTransport;

function startServer() {
  const args = ["--port", "0", "--db", ":memory:", "--chunk-delay-ms", "0", "--secret-key", SECRET];
  const child = process.env.DEVSERVER_BIN
    ? spawn(process.env.DEVSERVER_BIN, args, { stdio: ["ignore", "pipe", "inherit"] })
    : spawn("cargo", ["run", "-q", "-p", "trigger-devserver", "--", ...args], {
        cwd: workspace,
        stdio: ["ignore", "pipe", "inherit"],
      });
  return new Promise((resolve, reject) => {
    let buf = "";
    const onData = (d) => {
      buf += d.toString();
      const m = buf.match(/^trigger-devserver listening on (http:\/\/[^\s]+)/m);
      if (m) {
        child.stdout.off("data", onData);
        child.stdout.resume();
        resolve({ child, url: m[1] });
      }
    };
    child.stdout.on("data", onData);
    child.once("exit", (code) => reject(new Error(`devserver exited early (${code})`)));
    child.once("error", reject);
  });
}

before(async () => {
  const started = await startServer();
  server = started.child;
  baseURL = started.url;
  process.env.TRIGGER_API_URL = baseURL;
  process.env.TRIGGER_SECRET_KEY = SECRET;
  sdk = await import("@trigger.dev/sdk");
  ({ chat: chatApi } = await import("@trigger.dev/sdk/ai"));
  ({ TriggerChatTransport } = await import("@trigger.dev/sdk/chat"));
});

after(() => {
  server?.kill("SIGINT");
});

const mintToken = (chatId) =>
  sdk.auth.createPublicToken({
    scopes: { read: { sessions: chatId }, write: { sessions: chatId } },
    expirationTime: "1h",
  });

function userMessage(id, text) {
  return { id, role: "user", parts: [{ type: "text", text }] };
}

/** Reads a chunk stream to its end; returns the chunks. */
async function readAll(stream) {
  const chunks = [];
  const reader = stream.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) return chunks;
    chunks.push(value);
  }
}

const textOf = (chunks) =>
  chunks.filter((c) => c.type === "text-delta").map((c) => c.delta).join("");

function newTransport(extra = {}) {
  const startSession = chatApi.createStartSessionAction("ai-chat");
  return new TriggerChatTransport({
    task: "ai-chat",
    baseURL,
    accessToken: ({ chatId }) => mintToken(chatId),
    startSession: ({ chatId, clientData }) => startSession({ chatId, clientData }),
    ...extra,
  });
}

test("auth.createPublicToken mints a token the server accepts", async () => {
  const chatId = `node-auth-${Date.now()}`;
  const created = await sdk.sessions.start({
    type: "chat.agent",
    externalId: chatId,
    taskIdentifier: "ai-chat",
    triggerConfig: { basePayload: { chatId, trigger: "preload" } },
  });
  assert.equal(created.isCached, false);
  assert.match(created.id, /^session_/);
  const token = await mintToken(chatId);
  const ok = await fetch(`${baseURL}/api/v1/sessions/${chatId}`, {
    headers: { Authorization: `Bearer ${token}` },
  });
  assert.equal(ok.status, 200);
  assert.equal((await ok.json()).id, created.id);
  const other = await mintToken("someone-else");
  const denied = await fetch(`${baseURL}/api/v1/sessions/${chatId}`, {
    headers: { Authorization: `Bearer ${other}` },
  });
  assert.equal(denied.status, 403);
});

test("chat.createStartSessionAction creates and re-returns the session", async () => {
  const chatId = `node-start-${Date.now()}`;
  const start = chatApi.createStartSessionAction("ai-chat");
  const first = await start({ chatId, clientData: { userId: "u1" } });
  assert.match(first.sessionId, /^session_/);
  assert.match(first.runId, /^run_/);
  assert.ok(first.publicAccessToken);
  const again = await start({ chatId });
  assert.equal(again.sessionId, first.sessionId);
  assert.equal(again.runId, first.runId);
  const s = await sdk.sessions.retrieve(chatId);
  assert.equal(s.triggerConfig.basePayload.trigger, "preload");
});

test("TriggerChatTransport: three turns, a stop, and a resume after reload", async () => {
  const chatId = `node-chat-${Date.now()}`;
  const changes = [];
  const transport = newTransport({ onSessionChange: (id, s) => changes.push(s) });
  const messages = [];
  const send = async (id, text, abortSignal) => {
    messages.push(userMessage(id, text));
    return transport.sendMessages({
      trigger: "submit-message",
      chatId,
      messageId: undefined,
      messages: [...messages],
      abortSignal,
    });
  };

  // Three turns.
  for (const [i, text] of ["hello", "how are you", "third turn"].entries()) {
    const chunks = await readAll(await send(`u${i}`, text));
    assert.equal(textOf(chunks), `Echo: ${text}`);
    assert.equal(chunks[0].type, "start");
    assert.equal(chunks.at(-1).type, "finish");
    assert.ok(!chunks.some((c) => String(c.type).startsWith("trigger:")));
    messages.push({ id: chunks[0].messageId, role: "assistant", parts: [{ type: "text", text: textOf(chunks) }] });
  }
  const settled = transport.getSession(chatId);
  assert.equal(settled.isStreaming, false);
  assert.match(settled.lastEventId, /^\d+$/);
  assert.ok(changes.length >= 3);

  // A stop mid-turn ends the stream; the next turn is unaffected.
  const long = await send("u-stop", "/pause 30");
  const reader = long.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    assert.ok(!done, "stream ended before any text");
    if (value.type === "text-delta") break;
  }
  assert.equal(await transport.stopGeneration(chatId), true);
  for (;;) {
    const { done } = await reader.read();
    if (done) break;
  }
  assert.equal(transport.getSession(chatId).isStreaming, false);
  transport.dispose();
  // Not checked with this client: a turn right after the stop on the same
  // transport. 4.5.0 sometimes keeps its stop's skip-to-turn-complete past
  // the stopped turn's end and then eats the next turn's, waiting forever
  // (1 run in ~4 here; our transport arms that gate only while a turn is
  // outstanding, and our suites check the next turn after a stop). This
  // file checks the emulator, so the reload below runs on a chat of its own.
  const chatId2 = `${chatId}-reload`;
  const second = newTransport();
  const messages2 = [];
  const send2 = async (id, text) => {
    messages2.push(userMessage(id, text));
    return second.sendMessages({ trigger: "submit-message", chatId: chatId2, messageId: undefined, messages: [...messages2] });
  };
  const first = await readAll(await send2("v0", "before the reload"));
  assert.equal(textOf(first), "Echo: before the reload");
  messages2.push({ id: first[0].messageId, role: "assistant", parts: [{ type: "text", text: textOf(first) }] });

  // Reload mid-turn: a new transport hydrated from the saved session resumes.
  const resumeReader = (await send2("u-reload", "/pause 1")).getReader();
  const seen = [];
  for (;;) {
    const { done, value } = await resumeReader.read();
    assert.ok(!done);
    seen.push(value);
    if (value.type === "text-delta") break;
  }
  const saved = second.getSession(chatId2);
  assert.equal(saved.isStreaming, true);
  second.dispose();

  const reloaded = newTransport({ sessions: { [chatId2]: saved } });
  const resumed = await reloaded.reconnectToStream({ chatId: chatId2 });
  assert.ok(resumed, "reconnectToStream returns a stream");
  const rest = await readAll(resumed);
  const full = textOf(seen) + textOf(rest);
  // Two text parts: the half before the pause and the half after it.
  assert.equal(full, "Pausing for 1 seconds.Back after the pause.");
  assert.equal(rest.at(-1).type, "finish");

  // Once settled, a reconnect closes at once with nothing to replay.
  const idle = newTransport({ sessions: { [chatId2]: { ...reloaded.getSession(chatId2), isStreaming: true } } });
  const nothing = await idle.reconnectToStream({ chatId: chatId2 });
  const leftovers = nothing ? await readAll(nothing) : [];
  assert.equal(textOf(leftovers), "");
  reloaded.dispose();
  idle.dispose();
});
