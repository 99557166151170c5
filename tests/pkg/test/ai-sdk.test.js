// The AI SDK's own chat loop (AbstractChat, which useChat wraps) driving the
// transport against an in-memory Sessions API, for the newest AI SDK major
// (`ai`, 7.x) and for AI SDK 5 (`ai5`).
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import * as ai7 from "ai";
import * as ai5 from "ai5";
import { chat } from "./helpers/impl.js";
import { createFakeSessions, textReply, until } from "./helpers/fake-sessions.js";

const { TriggerChatTransport } = chat;

function memoryState(initial) {
    return {
        status: "ready",
        error: undefined,
        messages: [...initial],
        pushMessage(message) {
            this.messages = [...this.messages, message];
        },
        popMessage() {
            this.messages = this.messages.slice(0, -1);
        },
        replaceMessage(index, message) {
            this.messages = this.messages.map((m, i) => (i === index ? message : m));
        },
        snapshot: (value) => structuredClone(value),
    };
}

function chatClass(sdk) {
    return class MemoryChat extends sdk.AbstractChat {
        constructor({ messages = [], ...init }) {
            super({ ...init, state: memoryState(messages) });
        }
    };
}

const textOf = (message) =>
    message.parts
        .filter((p) => p.type === "text")
        .map((p) => p.text)
        .join("");

let fake;
let restoreFetch;
beforeEach(() => {
    fake = createFakeSessions();
    restoreFetch = fake.install();
});
afterEach(() => restoreFetch());

function newTransport(extra = {}) {
    return new TriggerChatTransport({
        task: "weather-agent",
        accessToken: async () => "pat-refreshed",
        startSession: async () => ({ publicAccessToken: "pat-1" }),
        ...extra,
    });
}

for (const [label, sdk] of [
    ["ai@7", ai7],
    ["ai@5", ai5],
]) {
    describe(`${label} AbstractChat`, () => {
        const MemoryChat = chatClass(sdk);

        it("sends the user message and shows the streamed assistant reply", async () => {
            const transport = newTransport();
            const c = new MemoryChat({ id: "chat-a", transport });
            fake.replyWith(textReply("asst-1", "Hello from the agent, twice split."));

            await c.sendMessage({ text: "Hi there" });

            expect(c.status).toBe("ready");
            expect(c.error).toBeUndefined();
            expect(c.messages.map((m) => m.role)).toEqual(["user", "assistant"]);
            expect(c.messages[1].id).toBe("asst-1");
            expect(textOf(c.messages[1])).toBe("Hello from the agent, twice split.");

            expect(fake.appends).toHaveLength(1);
            const wire = fake.appends[0].payload;
            expect(wire.kind).toBe("message");
            expect(wire.payload.trigger).toBe("submit-message");
            expect(wire.payload.chatId).toBe("chat-a");
            expect(wire.payload.message.parts[0].text).toBe("Hi there");
            transport.dispose();
        });

        it("runs a second turn from the first turn's cursor", async () => {
            const transport = newTransport();
            const c = new MemoryChat({ id: "chat-b", transport });
            fake.replyWith(textReply("asst-1", "First answer."));
            fake.replyWith(textReply("asst-2", "Second answer."));

            await c.sendMessage({ text: "one" });
            const boundary = fake.records("chat-b").at(-1).seq_num;
            await c.sendMessage({ text: "two" });

            expect(c.messages.map(textOf)).toEqual(["one", "First answer.", "two", "Second answer."]);
            expect(fake.outRequests).toHaveLength(2);
            expect(fake.outRequests[0].lastEventId).toBeUndefined();
            expect(fake.outRequests[1].lastEventId).toBe(String(boundary));
            // Only the newest message travels on the wire.
            expect(fake.appends[1].payload.payload.message.parts[0].text).toBe("two");
            transport.dispose();
        });

        it("stop() ends the reply early and tells the agent to stop", async () => {
            const transport = newTransport();
            const c = new MemoryChat({ id: "chat-c", transport });
            fake.onNextMessage((chatId) =>
                fake.write(chatId, textReply("asst-1", "A long answer that never ends").slice(0, 4)),
            );

            const sending = c.sendMessage({ text: "go" });
            await until(() => c.status === "streaming", "streaming");
            await c.stop();
            await sending;

            expect(c.status).toBe("ready");
            await until(() => fake.appends.some((a) => a.payload.kind === "stop"), "stop chunk");
            transport.dispose();
        });
    });
}

describe("ai@7 transport extensions", () => {
    const MemoryChat = chatClass(ai7);

    it("declares resumeStreamIsReplay = true", () => {
        const transport = newTransport();
        expect(transport.resumeStreamIsReplay).toBe(true);
        transport.dispose();
    });

    it("close() ends an open reply stream and releases the connection", async () => {
        const transport = newTransport();
        const c = new MemoryChat({ id: "chat-close", transport });
        fake.onNextMessage((chatId) => fake.write(chatId, textReply("asst-1", "Partial reply text").slice(0, 4)));

        const sending = c.sendMessage({ text: "hello" });
        await until(() => c.messages.length === 2 && textOf(c.messages[1]).length > 0, "partial reply");
        expect(typeof transport.close).toBe("function");
        transport.close();
        await sending;

        expect(c.status).toBe("ready");
        expect(textOf(c.messages[1])).toBe(textOf(textReplyMessage("Partial reply text", 1)));
        // The SSE request's signal was aborted: nothing keeps reading.
        const signal = fake.outRequests[0].signal;
        expect(signal === undefined || signal.aborted).toBe(true);
    });

    it("a reload mid-reply, with the partial assistant message restored, shows the reply exactly once", async () => {
        const chatId = "chat-reload";
        const persisted = {};
        const before = newTransport({
            onSessionChange: (id, state) => {
                persisted[id] = state && { ...state };
            },
        });
        const first = new MemoryChat({ id: chatId, transport: before });

        // Turn 1 completes normally: its turn-complete record is the boundary.
        fake.replyWith(textReply("asst-1", "Hello! Ask me about the weather."));
        await first.sendMessage({ text: "hi" });
        const boundary = fake.records(chatId).at(-1).seq_num;
        expect(persisted[chatId]).toMatchObject({ lastEventId: String(boundary), isStreaming: false });

        // Turn 2 streams halfway: text, then a provider-executed tool call
        // that is still running when the page goes away.
        const head = [
            { type: "start", messageId: "asst-2" },
            { type: "start-step" },
            { type: "text-start", id: "t1" },
            { type: "text-delta", id: "t1", delta: "Checking the forecast for Paris." },
            { type: "text-end", id: "t1" },
            { type: "tool-input-start", toolCallId: "call-1", toolName: "weather", providerExecuted: true },
            {
                type: "tool-input-available",
                toolCallId: "call-1",
                toolName: "weather",
                input: { city: "Paris" },
                providerExecuted: true,
            },
        ];
        const tail = [
            { type: "tool-output-available", toolCallId: "call-1", output: { sky: "sunny" }, providerExecuted: true },
            { type: "text-start", id: "t2" },
            { type: "text-delta", id: "t2", delta: " It is sunny, 21 degrees." },
            { type: "text-end", id: "t2" },
            { type: "finish-step" },
            { type: "finish" },
        ];
        fake.onNextMessage((id) => fake.write(id, head));
        const sending = first.sendMessage({ text: "weather in Paris?" });
        await until(
            () =>
                first.messages.length === 4 &&
                first.messages[3].parts.some((p) => p.type === "tool-weather" && p.state === "input-available"),
            "partial reply with a running tool call",
        );

        // What the app saved before the reload.
        const savedMessages = structuredClone(first.messages);
        const savedSession = { ...persisted[chatId] };
        expect(savedSession.isStreaming).toBe(true);
        expect(savedSession.lastEventId).toBe(String(boundary));

        // The page goes away; the agent finishes the turn meanwhile.
        before.close();
        await sending;
        fake.write(chatId, tail, { turnComplete: true });

        // The reloaded page: restored messages, restored session, resume.
        const after = newTransport({ sessions: { [chatId]: savedSession } });
        const second = new MemoryChat({ id: chatId, transport: after, messages: savedMessages });
        await second.resumeStream();

        expect(fake.outRequests.at(-1).lastEventId).toBe(String(boundary));
        expect(second.status).toBe("ready");
        expect(second.messages.map((m) => m.id).slice(2)).toEqual([savedMessages[2].id, "asst-2"]);
        const reply = second.messages[3];
        expect(textOf(reply)).toBe("Checking the forecast for Paris. It is sunny, 21 degrees.");
        const tools = reply.parts.filter((p) => p.type === "tool-weather");
        expect(tools).toHaveLength(1);
        expect(tools[0]).toMatchObject({ state: "output-available", output: { sky: "sunny" } });
        after.dispose();
    });
});

function textReplyMessage(text, deltas) {
    const chunks = textReply("x", text).filter((c) => c.type === "text-delta");
    return { parts: [{ type: "text", text: chunks.slice(0, deltas).map((c) => c.delta).join("") }] };
}
