// What every loading check runs in the page: build transports, send a message
// through a fetch double and read the reply. Returns a JSON-able summary.
import { createFakeSessions, textReply } from "../../test/helpers/fake-sessions.js";

export async function runChecks({ TriggerChatTransport, createChatTransport }) {
    const fake = createFakeSessions();
    const restore = fake.install();
    try {
        const options = {
            task: "loading-check",
            accessToken: async () => "pat-refreshed",
            startSession: async () => ({ publicAccessToken: "pat-1" }),
        };
        const transport = new TriggerChatTransport(options);
        const created = createChatTransport(options);
        fake.replyWith(textReply("a1", "Loaded and streaming."));
        const stream = await transport.sendMessages({
            trigger: "submit-message",
            chatId: "loading",
            messageId: undefined,
            messages: [{ id: "u1", role: "user", parts: [{ type: "text", text: "hi" }] }],
            abortSignal: undefined,
        });
        let text = "";
        const reader = stream.getReader();
        for (;;) {
            const { done, value } = await reader.read();
            if (done) break;
            if (value.type === "text-delta") text += value.delta;
        }
        const result = {
            sendMessages: typeof transport.sendMessages,
            createdIsInstance: created instanceof TriggerChatTransport,
            resumeStreamIsReplay: transport.resumeStreamIsReplay,
            text,
            appended: fake.appends.length,
            session: transport.getSession("loading") ?? null,
        };
        transport.dispose();
        created.dispose();
        return result;
    } finally {
        restore();
    }
}

export function publish(promise) {
    promise.then(
        (result) => {
            window.__result = result;
            document.body.textContent = JSON.stringify(result);
        },
        (error) => {
            window.__result = { error: String((error && error.stack) || error) };
            document.body.textContent = window.__result.error;
        },
    );
}
