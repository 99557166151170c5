// @vitest-environment jsdom
// The React bindings: useTriggerChatTransport, usePendingMessages and
// useMultiTabChat, plus the AI SDK's own useChat (AI SDK 7 and 5) driving the
// transport the hook returns.
import { act, render, renderHook, screen, waitFor } from "@testing-library/react";
import { useChat } from "@ai-sdk/react";
import { useChat as useChat5 } from "@ai-sdk/react2";
import { StrictMode, useState } from "react";
import { describe, expect, it, vi } from "vitest";
import { loadReact } from "./helpers/impl.js";
import { textReply, until } from "./helpers/fake-sessions.js";
import { baseOptions, fakeSessionsPerTest } from "./helpers/react-env.js";

const { useTriggerChatTransport, usePendingMessages, useMultiTabChat } = await loadReact();

const env = fakeSessionsPerTest();

describe("useTriggerChatTransport", () => {
    it("returns one transport for the component's lifetime", () => {
        const { result, rerender } = renderHook((props) => useTriggerChatTransport({ ...baseOptions, ...props }), {
            initialProps: { clientData: { userId: "a" } },
        });
        const first = result.current;
        expect(typeof first.sendMessages).toBe("function");
        rerender({ clientData: { userId: "b" } });
        rerender({ clientData: { userId: "c" }, onSessionChange: () => {} });
        expect(result.current).toBe(first);
    });

    it("calls the newest onSessionChange without recreating the transport", () => {
        const older = vi.fn();
        const newer = vi.fn();
        const { result, rerender } = renderHook((props) => useTriggerChatTransport({ ...baseOptions, ...props }), {
            initialProps: { onSessionChange: older },
        });
        const transport = result.current;
        rerender({ onSessionChange: newer });
        expect(result.current).toBe(transport);

        act(() => transport.setSession("chat-1", { publicAccessToken: "pat-x" }));
        expect(newer).toHaveBeenCalledWith("chat-1", expect.objectContaining({ publicAccessToken: "pat-x" }));
        expect(older).not.toHaveBeenCalled();
    });

    it("uses the newest clientData for startSession and per-turn metadata", async () => {
        const startSession = vi.fn(async () => ({ publicAccessToken: "pat-1" }));
        const { result, rerender } = renderHook(
            (props) => useTriggerChatTransport({ ...baseOptions, startSession, ...props }),
            { initialProps: { clientData: { userId: "first" } } },
        );
        const transport = result.current;
        rerender({ clientData: { userId: "second" } });
        expect(result.current).toBe(transport);

        env.fake.replyWith(textReply("a1", "ok"));
        const stream = await transport.sendMessages({
            trigger: "submit-message",
            chatId: "chat-cd",
            messageId: undefined,
            messages: [{ id: "u1", role: "user", parts: [{ type: "text", text: "hi" }] }],
            abortSignal: undefined,
            metadata: { model: "m" },
        });
        await stream.pipeTo(new WritableStream());

        expect(startSession).toHaveBeenCalledWith(
            expect.objectContaining({ chatId: "chat-cd", taskId: "my-chat", clientData: { userId: "second" } }),
        );
        expect(env.fake.appends[0].payload.payload.metadata).toEqual({ userId: "second", model: "m" });
    });
});

function ChatPage({ useChatHook, chatId }) {
    const transport = useTriggerChatTransport(baseOptions);
    const { messages, sendMessage, status } = useChatHook({ id: chatId, transport });
    return (
        <div>
            <button onClick={() => sendMessage({ text: "What's up?" })}>send</button>
            <span data-testid="status">{status}</span>
            <ul>
                {messages.map((m) => (
                    <li key={m.id} data-testid={`msg-${m.role}`}>
                        {m.parts.map((p) => (p.type === "text" ? p.text : "")).join("")}
                    </li>
                ))}
            </ul>
        </div>
    );
}

for (const [label, hook] of [
    ["@ai-sdk/react 4 (ai@7)", useChat],
    ["@ai-sdk/react 2 (ai@5)", useChat5],
]) {
    it(`useChat from ${label} shows the agent's reply`, async () => {
        env.fake.replyWith(textReply("a1", "All good over here, thanks for asking."));
        render(<ChatPage useChatHook={hook} chatId={`chat-${label}`} />);
        await act(async () => screen.getByText("send").click());
        await waitFor(() => expect(screen.getByTestId("status").textContent).toBe("ready"));
        await waitFor(() =>
            expect(screen.getByTestId("msg-assistant").textContent).toBe("All good over here, thanks for asking."),
        );
        expect(screen.getByTestId("msg-user").textContent).toBe("What's up?");
        expect(env.fake.appends[0].payload.payload.message.parts[0].text).toBe("What's up?");
    });
}

it("under <StrictMode>, useChat (ai@7) with useTriggerChatTransport shows the reply once", async () => {
    env.fake.replyWith(textReply("a1", "Strictly once."));
    render(
        <StrictMode>
            <ChatPage useChatHook={useChat} chatId="chat-strict" />
        </StrictMode>,
    );
    await act(async () => screen.getByText("send").click());
    await waitFor(() => expect(screen.getByTestId("status").textContent).toBe("ready"));
    await waitFor(() => expect(screen.getByTestId("msg-assistant").textContent).toBe("Strictly once."));
    expect(screen.getAllByTestId("msg-assistant")).toHaveLength(1);
    expect(env.fake.appends).toHaveLength(1);
});

describe("usePendingMessages", () => {
    function setup(initial) {
        const sendMessage = vi.fn();
        const setMessages = vi.fn();
        const transportHook = renderHook(() => useTriggerChatTransport(baseOptions));
        const transport = transportHook.result.current;
        transport.setSession("chat-p", { publicAccessToken: "pat-p" });
        const hook = renderHook(
            (props) =>
                usePendingMessages({
                    transport,
                    chatId: "chat-p",
                    setMessages,
                    sendMessage,
                    metadata: { model: "fast" },
                    ...props,
                }),
            { initialProps: initial },
        );
        return { ...hook, sendMessage, transport };
    }
    const pendingAppends = () => env.fake.appends.filter((a) => a.payload.kind === "message");

    it("steers, queues, promotes, tracks injection and sends the rest as the next turn", async () => {
        const { result, rerender, sendMessage } = setup({ status: "streaming", messages: [] });

        act(() => result.current.steer("use metric units"));
        await until(() => pendingAppends().length === 1, "steering append");
        expect(pendingAppends()[0].payload.payload).toMatchObject({
            trigger: "submit-message",
            chatId: "chat-p",
            metadata: { model: "fast" },
            message: { role: "user", parts: [{ type: "text", text: "use metric units" }] },
        });
        act(() => result.current.queue("and tomorrow?"));
        expect(result.current.pending.map(({ text, mode, injected }) => ({ text, mode, injected }))).toEqual([
            { text: "use metric units", mode: "steering", injected: false },
            { text: "and tomorrow?", mode: "queued", injected: false },
        ]);
        expect(pendingAppends()).toHaveLength(1);

        const [steered, queued] = result.current.pending;
        act(() => result.current.promoteToSteering(queued.id));
        act(() => result.current.promoteToSteering(queued.id));
        await until(() => pendingAppends().length === 2, "promoted append");
        expect(pendingAppends()[1].payload.payload.message.id).toBe(queued.id);
        expect(result.current.pending[1].mode).toBe("steering");

        // The agent reports the first message as injected.
        const marker = {
            type: "data-pending-message-injected",
            data: { messageIds: [steered.id], messages: [{ id: steered.id, text: "use metric units" }] },
        };
        const messages = [
            { id: "u1", role: "user", parts: [{ type: "text", text: "weather?" }] },
            { id: "a1", role: "assistant", parts: [{ type: "text", text: "Sunny" }, marker] },
        ];
        rerender({ status: "streaming", messages });
        expect(result.current.pending.map((p) => p.id)).toEqual([queued.id]);
        expect(result.current.isInjectionPoint(marker)).toBe(true);
        expect(result.current.isInjectionPoint(messages[1].parts[0])).toBe(false);
        expect(result.current.isInjectionPoint(null)).toBe(false);
        expect(result.current.getInjectedMessageIds(marker)).toEqual([steered.id]);
        expect(result.current.getInjectedMessages(marker)).toEqual([{ id: steered.id, text: "use metric units" }]);
        expect(result.current.getInjectedMessageIds({ type: "text" })).toEqual([]);

        // The turn ends: what was not injected goes out as the next turn.
        expect(sendMessage).not.toHaveBeenCalled();
        rerender({ status: "ready", messages });
        expect(sendMessage).toHaveBeenCalledTimes(1);
        expect(sendMessage).toHaveBeenCalledWith({ text: "and tomorrow?" }, { metadata: { model: "fast" } });
        expect(result.current.pending).toEqual([]);
    });

    it("sends normally when nothing is streaming", () => {
        const { result, sendMessage } = setup({ status: "ready", messages: [] });
        act(() => result.current.steer("hello"));
        act(() => result.current.queue("again"));
        expect(sendMessage.mock.calls).toEqual([
            [{ text: "hello" }, { metadata: { model: "fast" } }],
            [{ text: "again" }, { metadata: { model: "fast" } }],
        ]);
        expect(result.current.pending).toEqual([]);
        expect(pendingAppends()).toHaveLength(0);
    });
});

describe("useMultiTabChat", () => {
    it("makes the other tab read-only and mirrors the owner's messages into it", async () => {
        function Tab({ name, onReady }) {
            const transport = useTriggerChatTransport({ ...baseOptions, multiTab: true });
            const [messages, setMessages] = useState([]);
            const { isReadOnly } = useMultiTabChat(transport, "shared", messages, setMessages);
            onReady(transport, setMessages);
            return (
                <div data-testid={name}>
                    {isReadOnly ? "read-only" : "writable"}:{messages.map((m) => m.id).join(",")}
                </div>
            );
        }
        const tabs = {};
        render(
            <>
                <Tab name="a" onReady={(t, set) => (tabs.a = { t, set })} />
                <Tab name="b" onReady={(t, set) => (tabs.b = { t, set })} />
            </>,
        );
        expect(screen.getByTestId("b").textContent).toBe("writable:");

        // Tab A starts a turn (and so claims the chat) that stays open.
        env.fake.onNextMessage((chatId) => env.fake.write(chatId, textReply("a1", "thinking...").slice(0, 3)));
        let stream;
        await act(async () => {
            stream = await tabs.a.t.sendMessages({
                trigger: "submit-message",
                chatId: "shared",
                messageId: undefined,
                messages: [{ id: "u1", role: "user", parts: [{ type: "text", text: "hi" }] }],
                abortSignal: undefined,
            });
        });
        await waitFor(() => expect(screen.getByTestId("b").textContent).toMatch(/^read-only/));
        expect(tabs.a.t.hasClaim("shared")).toBe(true);
        expect(tabs.b.t.isReadOnly("shared")).toBe(true);

        // The owner's messages reach the read-only tab.
        act(() => tabs.a.set([{ id: "u1" }, { id: "a1" }]));
        await waitFor(() => expect(screen.getByTestId("b").textContent).toBe("read-only:u1,a1"));

        await stream.cancel();
        tabs.a.t.dispose();
        tabs.b.t.dispose();
    });
});

describe("under vitest's jsdom environment", () => {
    it("reads response bodies whose chunks are Uint8Arrays of another realm (jsdom's TextEncoder)", async () => {
        const bytes = new TextEncoder().encode("x");
        // The premise: these bytes do not pass `instanceof Uint8Array` here.
        expect(bytes instanceof Uint8Array).toBe(false);

        env.replace({ foreignBytes: true });
        const { result } = renderHook(() => useTriggerChatTransport(baseOptions));
        env.fake.replyWith(textReply("a1", "Bytes from elsewhere."));
        const stream = await result.current.sendMessages({
            trigger: "submit-message",
            chatId: "chat-realm",
            messageId: undefined,
            messages: [{ id: "u1", role: "user", parts: [{ type: "text", text: "hi" }] }],
            abortSignal: undefined,
        });
        const chunks = [];
        const reader = stream.getReader();
        for (;;) {
            const next = await Promise.race([
                reader.read(),
                until(() => env.fake.outRequests.length > 3, "a reconnect loop", 4000).then(() => "reconnecting"),
            ]);
            if (next === "reconnecting") throw new Error(`the transport reconnected ${env.fake.outRequests.length} times instead of reading the body`);
            if (next.done) break;
            chunks.push(next.value);
        }
        const text = chunks.filter((c) => c.type === "text-delta").map((c) => c.delta).join("");
        expect(text).toBe("Bytes from elsewhere.");
        expect(env.fake.outRequests).toHaveLength(1);
    });
});
