// @vitest-environment jsdom
// Tabs of one app during a migration: one still on @trigger.dev/sdk's
// transport, one already on ours. Both use the same BroadcastChannel
// messages, so each sees the other's claim and shared messages.
import { TriggerChatTransport as Theirs } from "@trigger.dev/sdk/chat";
import { TriggerChatTransport as Ours } from "trigger-chat-wasm";
import { afterEach, beforeEach, expect, it } from "vitest";
import { createFakeSessions, textReply, until } from "./helpers/fake-sessions.js";

let fake;
let restore;
beforeEach(() => {
    fake = createFakeSessions();
    restore = fake.install();
});
afterEach(() => restore());

const options = {
    task: "my-chat",
    accessToken: async () => "pat",
    multiTab: true,
    sessions: { shared: { publicAccessToken: "pat" } },
};

const send = (transport) =>
    transport.sendMessages({
        trigger: "submit-message",
        chatId: "shared",
        messageId: undefined,
        messages: [{ id: "u1", role: "user", parts: [{ type: "text", text: "hi" }] }],
        abortSignal: undefined,
    });

it("a vendor tab and one of ours see each other's claims and messages", async () => {
    expect(typeof BroadcastChannel).toBe("function");
    const ours = new Ours(options);
    const theirs = new Theirs(options);
    try {
        // Ours sends: the vendor's tab turns read-only until the reply ends.
        fake.onNextMessage(() => {}); // the reply is written below
        const stream = await send(ours);
        await until(() => theirs.isReadOnly("shared"), "the vendor tab to see our claim");
        fake.write("shared", textReply("a1", "ok"), { turnComplete: true });
        await stream.pipeTo(new WritableStream());
        await until(() => !theirs.isReadOnly("shared"), "the vendor tab to see our release");

        // Messages shared by ours reach the vendor tab's listeners.
        const got = [];
        theirs.addMessagesListener((chatId, messages) => got.push([chatId, messages.length]));
        ours.broadcastMessages("shared", [{ id: "u1" }, { id: "a1" }]);
        await until(() => got.length === 1, "the vendor tab to get our messages");
        expect(got).toEqual([["shared", 2]]);

        // The vendor tab sends: ours turns read-only until that reply ends.
        fake.onNextMessage(() => {});
        const theirStream = await send(theirs);
        await until(() => ours.isReadOnly("shared"), "our tab to see the vendor's claim");
        fake.write("shared", textReply("a2", "ok again"), { turnComplete: true });
        await theirStream.pipeTo(new WritableStream());
        await until(() => !ours.isReadOnly("shared"), "our tab to see the vendor's release");
    } finally {
        ours.dispose();
        theirs.dispose();
    }
});
