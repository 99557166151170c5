// onEvent as 4.8.3 reports it: a send without a messageId (what useChat's
// submit does) is attributed to the last message it sent, and so are the
// reply's events; a failed send's `error` is an Error; setAccessToken
// accepts undefined.
import { TriggerChatTransport } from "trigger-chat-wasm";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createFakeSessions, textReply, until, userMessage } from "./helpers/fake-sessions.js";

let fake;
let restoreFetch;
beforeEach(() => {
    fake = createFakeSessions();
    restoreFetch = fake.install();
});
afterEach(() => restoreFetch());

const drain = async (stream) => {
    const reader = stream.getReader();
    while (!(await reader.read()).done) {}
};

describe("onEvent, as 4.8.3", () => {
    it("attributes a send without messageId, and its reply's events, to the last message sent", async () => {
        const events = [];
        const transport = new TriggerChatTransport({
            task: "t",
            accessToken: async () => "pat",
            startSession: async () => ({ publicAccessToken: "pat-1" }),
            onEvent: (e) => events.push(e),
        });
        fake.replyWith(textReply("asst-1", "Hello there friend."));
        const stream = await transport.sendMessages({
            trigger: "submit-message",
            chatId: "c1",
            messageId: undefined,
            messages: [userMessage("u-7", "hi")],
            abortSignal: undefined,
        });
        await drain(stream);
        await until(() => events.some((e) => e.type === "turn-completed"), "turn-completed");
        const sent = events.find((e) => e.type === "message-sent" && e.source === "submit-message");
        expect(sent.messageId).toBe("u-7");
        for (const type of ["stream-connected", "first-chunk", "turn-completed"]) {
            const e = events.find((x) => x.type === type);
            expect(e, type).toBeDefined();
            expect(e.messageId, type).toBe("u-7");
        }
        transport.dispose();
    });

    it("a messageId given by the caller wins; setOnEvent gets the same treatment", async () => {
        const events = [];
        const transport = new TriggerChatTransport({
            task: "t",
            accessToken: async () => "pat",
            startSession: async () => ({ publicAccessToken: "pat-1" }),
        });
        transport.setOnEvent((e) => events.push(e));
        fake.replyWith(textReply("asst-2", "Again."));
        await drain(
            await transport.sendMessages({
                trigger: "submit-message",
                chatId: "c2",
                messageId: "given-1",
                messages: [userMessage("u-1", "hi")],
                abortSignal: undefined,
            }),
        );
        await until(() => events.some((e) => e.type === "turn-completed"), "turn-completed");
        expect(events.find((e) => e.type === "message-sent").messageId).toBe("given-1");
        expect(events.find((e) => e.type === "turn-completed").messageId).toBe("given-1");
        transport.dispose();
    });

    it("a failed send's error is an Error, also when what failed threw something else", async () => {
        const events = [];
        const transport = new TriggerChatTransport({
            task: "t",
            accessToken: async () => "pat",
            sessions: { c3: { publicAccessToken: "pat-1" } },
            // The app's fetch override rejects with a string.
            fetch: async () => {
                throw "offline";
            },
            onEvent: (e) => events.push(e),
        });
        await expect(
            transport.sendMessages({
                trigger: "submit-message",
                chatId: "c3",
                messageId: undefined,
                messages: [userMessage("u-3", "hi")],
                abortSignal: undefined,
            }),
        ).rejects.toBeDefined();
        const failed = events.filter((x) => x.type === "message-send-failed");
        expect(failed.length).toBeGreaterThan(0);
        for (const e of failed) {
            expect(e.error).toBeInstanceOf(Error);
            expect(e.messageId).toBe("u-3");
        }
        transport.dispose();
    });

    it("setAccessToken(undefined) is accepted and keeps the current callback", async () => {
        let calls = 0;
        const transport = new TriggerChatTransport({
            task: "t",
            accessToken: async () => {
                calls++;
                return "pat";
            },
        });
        expect(() => transport.setAccessToken(undefined)).not.toThrow();
        fake.replyWith(textReply("asst-4", "Token kept."));
        await drain(
            await transport.sendMessages({
                trigger: "submit-message",
                chatId: "c4",
                messageId: undefined,
                messages: [userMessage("u-4", "hi")],
                abortSignal: undefined,
            }),
        );
        // No startSession: the first token comes from accessToken.
        expect(calls).toBeGreaterThan(0);
        transport.dispose();
    });
});
