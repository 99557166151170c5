// @vitest-environment jsdom
// Hooks of the vendor's newer releases (4.8.x) that 4.5.0 does not have:
// useChatActions, useLoadTranscript and seedTranscriptCursor, and the
// callback setters the hook keeps fresh. Ours only: the installed reference
// package is 4.5.0.
import { act, render, renderHook, screen, waitFor } from "@testing-library/react";
import { useChat } from "@ai-sdk/react";
import { describe, expect, it, vi } from "vitest";
import { textReply, until } from "./helpers/fake-sessions.js";
import { baseOptions, fakeSessionsPerTest } from "./helpers/react-env.js";

const { useTriggerChatTransport, useChatActions, useLoadTranscript, seedTranscriptCursor } = await import(
    "trigger-chat-wasm/react"
);

const env = fakeSessionsPerTest();

function ActionPage({ chatId }) {
    const transport = useTriggerChatTransport(baseOptions);
    const { messages, sendMessage, status } = useChat({ id: chatId, transport });
    const { sendAction } = useChatActions({ sendMessage });
    return (
        <div>
            <button onClick={() => sendAction({ type: "summarize" })}>act</button>
            <span data-testid="status">{status}</span>
            {messages.map((m) => (
                <p key={m.id} data-testid={`msg-${m.role}`}>
                    {m.parts.map((p) => (p.type === "text" ? p.text : "")).join("")}
                </p>
            ))}
        </div>
    );
}

describe("useChatActions", () => {
    it("sends an action through useChat, which renders its reply", async () => {
        render(<ActionPage chatId="chat-act" />);
        await act(async () => screen.getByText("act").click());
        await until(() => env.fake.appends.length === 1, "the action's append");
        const { payload } = env.fake.appends[0].payload;
        expect(payload.trigger).toBe("action");
        expect(payload.action).toEqual({ type: "summarize" });
        expect(payload.message).toBeUndefined();
        act(() => env.fake.write("chat-act", textReply("a1", "Here is the summary."), { turnComplete: true }));
        await waitFor(() => expect(screen.getByTestId("msg-assistant").textContent).toBe("Here is the summary."));
        await waitFor(() => expect(screen.getByTestId("status").textContent).toBe("ready"));
        expect(screen.queryByTestId("msg-user")).toBeNull();
    });
});

describe("useLoadTranscript and seedTranscriptCursor", () => {
    it("loads the history, seeds the cursor, and the first stream starts after it", async () => {
        const transport = renderHook(() => useTriggerChatTransport(baseOptions)).result.current;
        const history = [{ id: "u0", role: "user", parts: [{ type: "text", text: "earlier" }] }];
        const load = vi.fn(async ({ chatId }) => ({
            messages: chatId === "chat-h" ? history : [],
            cursors: { lastOutEventId: "41" },
            nextCursor: "older",
        }));
        const { result, rerender } = renderHook(({ id }) => useLoadTranscript(id, load, { transport, limit: 20 }), {
            initialProps: { id: "chat-h" },
        });
        expect(result.current.isLoading).toBe(true);
        await waitFor(() => expect(result.current.isLoading).toBe(false));
        expect(result.current.messages).toEqual(history);
        expect(result.current.nextCursor).toBe("older");
        expect(load).toHaveBeenCalledWith({ chatId: "chat-h", limit: 20 });

        // The history's turn on the stream: 40 chunks and its end at seq 41.
        const old = Array.from({ length: 40 }, (_, i) => ({ type: "text-delta", id: "old", delta: `${i}` }));
        env.fake.write("chat-h", old, { turnComplete: true });
        env.fake.replyWith(textReply("a1", "ok"));
        const stream = await transport.sendMessages({
            trigger: "submit-message",
            chatId: "chat-h",
            messageId: undefined,
            messages: [...history, { id: "u1", role: "user", parts: [{ type: "text", text: "now" }] }],
            abortSignal: undefined,
        });
        const chunks = [];
        await stream.pipeTo(new WritableStream({ write: (c) => void chunks.push(c) }));
        expect(env.fake.outRequests[0].lastEventId).toBe("41");
        expect(chunks).toEqual(textReply("a1", "ok"));

        rerender({ id: undefined });
        expect(result.current).toEqual({ messages: [], isLoading: false, error: undefined, nextCursor: undefined });
    });

    it("reports a failed load as an error", async () => {
        const { result } = renderHook(() => useLoadTranscript("chat-x", async () => Promise.reject("nope")));
        await waitFor(() => expect(result.current.isLoading).toBe(false));
        expect(result.current.error).toBeInstanceOf(Error);
        expect(result.current.error.message).toBe("nope");
    });

    it("seeds nothing without a cursor", () => {
        const transport = { seedResumeCursor: vi.fn() };
        expect(seedTranscriptCursor(transport, "c", undefined)).toBe(false);
        expect(seedTranscriptCursor(transport, "c", { lastOutEventId: "" })).toBe(false);
        expect(seedTranscriptCursor(transport, "c", { lastOutEventId: "9" })).toBe(true);
        expect(transport.seedResumeCursor).toHaveBeenCalledWith("c", "9");
    });
});

describe("useTriggerChatTransport keeps the newest callbacks", () => {
    it("uses the newest accessToken and onEvent without recreating the transport", async () => {
        const older = vi.fn(async () => "pat-old");
        const newer = vi.fn(async () => "pat-new");
        const events = [];
        const { result, rerender } = renderHook((props) => useTriggerChatTransport({ ...baseOptions, ...props }), {
            initialProps: { accessToken: older, startSession: undefined },
        });
        const transport = result.current;
        rerender({ accessToken: newer, startSession: undefined, onEvent: (e) => events.push(e.type) });
        expect(result.current).toBe(transport);
        env.fake.replyWith(textReply("a1", "ok"));
        const stream = await transport.sendMessages({
            trigger: "submit-message",
            chatId: "chat-cb",
            messageId: undefined,
            messages: [{ id: "u1", role: "user", parts: [{ type: "text", text: "hi" }] }],
            abortSignal: undefined,
        });
        await stream.pipeTo(new WritableStream());
        expect(newer).toHaveBeenCalled();
        expect(older).not.toHaveBeenCalled();
        expect(env.fake.appends[0].headers.Authorization).toBe("Bearer pat-new");
        expect(events).toContain("message-sent");
    });
});
