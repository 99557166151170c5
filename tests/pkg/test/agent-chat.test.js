// AgentChat and ChatStream against the local Trigger.dev emulator
// (DEVSERVER_BIN, else `cargo run`), with the environment's secret key from
// TRIGGER_SECRET_KEY and the API origin from TRIGGER_API_URL, as a server app
// configures the vendor's client.
import { AgentChat, ChatStream } from "trigger-chat-wasm";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startEmulator } from "../../support/emulator.mjs";

const SECRET = "tr_dev_devserver_local_secret_key";
const AGENT = "ai-chat";

let emu;
const saved = {};

beforeAll(async () => {
    emu = await startEmulator();
    for (const k of ["TRIGGER_SECRET_KEY", "TRIGGER_API_URL", "TRIGGER_ACCESS_TOKEN"]) saved[k] = process.env[k];
    process.env.TRIGGER_SECRET_KEY = SECRET;
    process.env.TRIGGER_API_URL = emu.url;
    delete process.env.TRIGGER_ACCESS_TOKEN;
}, 240_000);

afterAll(async () => {
    for (const [k, v] of Object.entries(saved)) {
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
    }
    await emu?.stop();
});

async function getSession(id) {
    const res = await fetch(`${emu.url}/api/v1/sessions/${encodeURIComponent(id)}`, {
        headers: { Authorization: `Bearer ${SECRET}` },
    });
    expect(res.status).toBe(200);
    return res.json();
}

// Records every request the chat makes through its fetch override.
function recorder() {
    const calls = [];
    const fetchOverride = (url, init, ctx) => {
        calls.push({ url, init, ctx });
        return fetch(url, init);
    };
    return { calls, fetchOverride };
}

const uniqueId = (name) => `${name}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 7)}`;

describe("AgentChat against the emulator", () => {
    it("sends messages and reads the replies: text(), one run, onTriggered once, onTurnComplete per turn", async () => {
        const triggered = [];
        const turns = [];
        const chat = new AgentChat({
            agent: AGENT,
            id: uniqueId("basic"),
            clientData: { userId: "u1" },
            onTriggered: (e) => triggered.push(e),
            onTurnComplete: (e) => turns.push(e),
        });
        const first = await chat.sendMessage("hello there");
        expect(first).toBeInstanceOf(ChatStream);
        expect(await first.text()).toBe("Echo: hello there");
        const second = await chat.sendMessage("and again");
        expect(await second.text()).toBe("Echo: and again");

        expect(triggered).toHaveLength(1);
        expect(triggered[0].chatId).toBe(chat.id);
        expect(typeof triggered[0].runId).toBe("string");
        expect(triggered[0].runId.length).toBeGreaterThan(0);

        await expect.poll(() => turns.length).toBe(2);
        expect(turns.every((t) => t.chatId === chat.id && typeof t.lastEventId === "string")).toBe(true);
        expect(Number(turns[1].lastEventId)).toBeGreaterThan(Number(turns[0].lastEventId));
        expect(chat.session).toEqual({ lastEventId: turns[1].lastEventId });

        const row = await getSession(chat.id);
        expect(row.externalId ?? row.id).toBeTruthy();
    });

    it("result() collects tool calls and results; iteration and messages() read the chunks", async () => {
        const chat = new AgentChat({ agent: AGENT, id: uniqueId("tools") });
        const reply = await chat.sendMessage("/tool");
        const result = await reply.result();
        expect(result.toolCalls).toEqual([
            { toolName: "getWeather", toolCallId: expect.any(String), input: { city: "Paris" } },
        ]);
        expect(result.toolResults).toEqual([{ toolCallId: result.toolCalls[0].toolCallId, output: { tempC: 21 } }]);
        expect(result.text).toBe("It is 21°C in Paris.");
        // result() is memoised: a second call answers the same.
        expect(await reply.result()).toBe(result);

        const iterated = await chat.sendMessage("count these words");
        const types = [];
        let text = "";
        for await (const chunk of iterated) {
            types.push(chunk.type);
            if (chunk.type === "text-delta") text += chunk.delta;
        }
        expect(types[0]).toBe("start");
        expect(types.at(-1)).toBe("finish");
        expect(text).toBe("Echo: count these words");

        const snapshots = [];
        for await (const message of (await chat.sendMessage("snap shots")).messages()) snapshots.push(message);
        expect(snapshots.length).toBeGreaterThan(1);
        const last = snapshots.at(-1);
        expect(last.role).toBe("assistant");
        expect(last.parts.filter((p) => p.type === "text").map((p) => p.text).join("")).toBe("Echo: snap shots");
    });

    it("sends an action and reads its reply", async () => {
        const chat = new AgentChat({ agent: AGENT, id: uniqueId("action") });
        await chat.preload();
        const reply = await chat.sendAction({ type: "undo" });
        expect(reply).toBeInstanceOf(ChatStream);
        expect(await reply.text()).toBe("Action: undo");
    });

    it("preload starts the session once; close ends the run, a second close sends nothing, the next message starts a new run", async () => {
        const triggered = [];
        const chat = new AgentChat({ agent: AGENT, id: uniqueId("preload"), onTriggered: (e) => triggered.push(e) });
        expect(await chat.close()).toBe(false); // nothing started yet
        expect(await chat.reconnect()).toBeNull();
        expect(await chat.steer("too early")).toBe(false);
        const session = await chat.preload();
        expect(session).toEqual({ lastEventId: undefined });
        await chat.preload();
        expect(triggered).toHaveLength(1);
        expect(await (await chat.sendMessage("after preload")).text()).toBe("Echo: after preload");
        const runBefore = (await getSession(chat.id)).currentRunId;
        expect(typeof runBefore).toBe("string");
        // close() ends the agent's run (not the session): a second close has
        // nothing to close, and the next message starts a continuation run.
        expect(await chat.close()).toBe(true);
        expect(await chat.close()).toBe(false);
        expect(await (await chat.sendMessage("after close")).text()).toBe("Echo: after close");
        const runAfter = (await getSession(chat.id)).currentRunId;
        expect(typeof runAfter).toBe("string");
        expect(runAfter).not.toBe(runBefore);
    });

    it("a later request continues the conversation from the stored session, without onTriggered", async () => {
        const id = uniqueId("stateless");
        let stored;
        const first = new AgentChat({ agent: AGENT, id, onTurnComplete: (e) => (stored = e.lastEventId) });
        expect(await (await first.sendMessage("request one")).text()).toBe("Echo: request one");
        await expect.poll(() => stored).toBeDefined();

        const triggered = [];
        const second = new AgentChat({
            agent: AGENT,
            id,
            session: { lastEventId: stored },
            onTriggered: (e) => triggered.push(e),
        });
        expect(second.session).toEqual({ lastEventId: stored });
        // Only this turn's reply: the first request's is before the cursor.
        expect(await (await second.sendMessage("request two")).text()).toBe("Echo: request two");
        expect(triggered).toHaveLength(0);
        // A restored session can be resumed: nothing is in flight, so the stream ends.
        const resumed = await second.reconnect();
        const chunks = [];
        for await (const c of resumed) chunks.push(c);
        expect(chunks).toEqual([]);
    });

    it("stop() ends a long reply; the chat takes the next message", async () => {
        const chat = new AgentChat({ agent: AGENT, id: uniqueId("stop") });
        const reply = await chat.sendMessage("/long 2000");
        const reader = reply.stream.getReader();
        const first = await reader.read();
        expect(first.done).toBe(false);
        await chat.stop();
        let tokens = 0;
        for (;;) {
            const { done, value } = await reader.read();
            if (done) break;
            if (value.type === "text-delta") tokens++;
        }
        expect(tokens).toBeLessThan(2000);
        expect(await (await chat.sendMessage("still here")).text()).toBe("Echo: still here");
    });

    it("steer() reaches the running turn's session", async () => {
        const chat = new AgentChat({ agent: AGENT, id: uniqueId("steer") });
        const reply = await chat.sendMessage("/pause 2");
        expect(await chat.steer("focus on security")).toBe(true);
        // The scripted agent notes a steering message inside the running reply.
        const text = await reply.text();
        expect(text).toContain("noted: focus on security");
        expect(text).toContain("Back after the pause.");
    });

    it("routes .in and .out through baseURL and fetch; the key travels only in Authorization", async () => {
        const { calls, fetchOverride } = recorder();
        const endpoints = [];
        const chat = new AgentChat({
            agent: AGENT,
            id: uniqueId("routing"),
            baseURL: (ctx) => {
                endpoints.push(ctx.endpoint);
                return `${emu.url}/`;
            },
            fetch: fetchOverride,
        });
        expect(await (await chat.sendMessage("routed")).text()).toBe("Echo: routed");
        expect(await chat.close()).toBe(true);
        expect(endpoints).toContain("in");
        expect(endpoints).toContain("out");
        const kinds = calls.map((c) => c.ctx.endpoint);
        expect(kinds).toContain("in");
        expect(kinds).toContain("out");
        for (const c of calls) {
            expect(c.url.startsWith(`${emu.url}/realtime/v1/sessions/`)).toBe(true);
            expect(c.url).not.toContain(SECRET);
            const auth = new Headers(c.init.headers).get("authorization");
            expect(auth).toMatch(/^Bearer /);
        }
        // The close record carries an idempotency key.
        const close = calls.filter((c) => c.ctx.endpoint === "in").at(-1);
        expect(new Headers(close.init.headers).get("x-part-id")).toMatch(/^[0-9a-f-]{36}$/);
        expect(JSON.parse(close.init.body)).toEqual({ kind: "message", payload: { chatId: chat.id, trigger: "close" } });
    });

    it("without a secret key it says what is missing, before any request", async () => {
        const key = process.env.TRIGGER_SECRET_KEY;
        delete process.env.TRIGGER_SECRET_KEY;
        try {
            const chat = new AgentChat({ agent: AGENT });
            await expect(chat.sendMessage("hi")).rejects.toThrow(/TRIGGER_SECRET_KEY/);
        } finally {
            process.env.TRIGGER_SECRET_KEY = key;
        }
        expect(() => new AgentChat({})).toThrow(TypeError);
    });

    it("a session start the API refuses rejects with the vendor's error shape, without the key", async () => {
        const key = process.env.TRIGGER_SECRET_KEY;
        process.env.TRIGGER_SECRET_KEY = "tr_dev_not_the_key";
        try {
            const chat = new AgentChat({ agent: AGENT });
            const error = await chat.preload().catch((e) => e);
            expect(error).toBeInstanceOf(Error);
            expect(error.name).toBe("TriggerApiError");
            expect(error.status).toBe(401);
            expect(String(error.message)).not.toContain("tr_dev_not_the_key");
        } finally {
            process.env.TRIGGER_SECRET_KEY = key;
        }
    });
});

describe("ChatStream on its own", () => {
    const chunks = [
        { type: "start", messageId: "a1" },
        { type: "text-start", id: "t" },
        { type: "text-delta", id: "t", delta: "Hi" },
        { type: "text-delta", id: "t", delta: " there" },
        { type: "text-end", id: "t" },
        { type: "finish" },
    ];
    const streamOf = (list) =>
        new ReadableStream({
            start(c) {
                for (const x of list) c.enqueue(x);
                c.close();
            },
        });

    it("text() and result() read the same stream once", async () => {
        const s = new ChatStream(streamOf(chunks));
        expect(await s.text()).toBe("Hi there");
        expect(await s.result()).toEqual({ text: "Hi there", toolCalls: [], toolResults: [] });
    });

    it("hands the finished assistant message to onAssistantMessage once, while the reader reads", async () => {
        const seen = [];
        const s = new ChatStream(streamOf(chunks), (m) => seen.push(m));
        expect(await s.text()).toBe("Hi there");
        await expect.poll(() => seen.length).toBe(1);
        expect(seen[0].id).toBe("a1");
        expect(seen[0].parts.filter((p) => p.type === "text")[0].text).toBe("Hi there");
    });
});
