// The examples of the 4.8.3 frontend.mdx and reference.mdx (transport,
// hooks, events, actions, sub-agents, multi-tab), as components.
import { useChat } from "@ai-sdk/react";
import {
    useChatActions,
    useMultiTabChat,
    useSubAgentMessages,
    useTriggerChatTransport,
    type InferChatUIMessage,
} from "@trigger.dev/sdk/chat/react";
import type { AccessTokenParams, ChatTransportEvent, StartSessionParams } from "@trigger.dev/sdk/chat";
import { useCallback } from "react";
import type { myChat } from "../trigger/chat";
import { deleteSession, loadedSessions, metrics, mintChatAccessToken, startChatSession } from "./actions";

type Msg = InferChatUIMessage<typeof myChat>;

export function TypedChat({ currentUser }: { currentUser: { id: string } }) {
    const transport = useTriggerChatTransport<typeof myChat>({
        task: "my-chat",
        accessToken: ({ chatId }) => mintChatAccessToken(chatId),
        startSession: ({ chatId, clientData }) => startChatSession({ chatId, clientData }),
        clientData: { userId: currentUser.id, locale: "en" },
        sessions: loadedSessions,
        onSessionChange: (chatId, session) => {
            if (!session) {
                void deleteSession(chatId);
            }
        },
    });
    const { messages, sendMessage, status } = useChat<Msg>({ transport });
    const send = () => sendMessage({ text: "Hello" }, { metadata: { model: "gpt-4o", priority: "high" } });
    return (
        <button type="button" disabled={status === "streaming"} onClick={() => void send()}>
            {messages.length}
        </button>
    );
}

export function FetchCallbacks() {
    const transport = useTriggerChatTransport({
        task: "my-chat",
        accessToken: async ({ chatId }: AccessTokenParams) => {
            const res = await fetch(`/api/chat/${chatId}/access-token`, { method: "POST" });
            return res.text();
        },
        startSession: async ({ chatId, taskId, clientData }: StartSessionParams) => {
            const res = await fetch(`/api/chat/${chatId}/start`, {
                method: "POST",
                body: JSON.stringify({ taskId, clientData }),
            });
            return res.json();
        },
        baseURL: ({ endpoint }) => (endpoint === "out" ? "https://api.trigger.dev" : "https://chat-proxy.example.com"),
    });
    return <span>{String(Boolean(transport))}</span>;
}

export function StopButton({ chatId }: { chatId: string }) {
    const transport = useTriggerChatTransport({
        task: "my-chat",
        accessToken: ({ chatId }) => mintChatAccessToken(chatId),
        startSession: ({ chatId, clientData }) => startChatSession({ chatId, clientData }),
        baseURL: "https://your-trigger-instance.com",
    });
    const { status, stop: aiStop } = useChat({ transport });
    const stop = useCallback(() => {
        aiStop();
        void transport.stopGeneration(chatId);
    }, [transport, chatId, aiStop]);
    return status === "streaming" ? (
        <button type="button" onClick={stop}>
            Stop
        </button>
    ) : (
        <button type="button" onClick={() => transport.sendAction(chatId, { type: "undo" })}>
            Undo
        </button>
    );
}

export function ChatControls({ chatId }: { chatId: string }) {
    const transport = useTriggerChatTransport({
        task: "my-chat",
        accessToken: ({ chatId }) => mintChatAccessToken(chatId),
        startSession: ({ chatId, clientData }) => startChatSession({ chatId, clientData }),
    });
    const { sendMessage, regenerate, setMessages } = useChat({ id: chatId, transport });
    const { sendAction } = useChatActions({ sendMessage });
    return (
        <div>
            <button
                type="button"
                onClick={() => {
                    setMessages((prev) => prev.slice(0, -2));
                    void sendAction({ type: "undo" });
                }}
            >
                Undo last exchange
            </button>
            <button type="button" onClick={() => regenerate({ body: { action: { type: "regenerate" } } })}>
                Regenerate
            </button>
        </div>
    );
}

export function SubAgents({ toolCallId, output }: { toolCallId: string; output: unknown }) {
    const transport = useTriggerChatTransport({ task: "my-chat", accessToken: ({ chatId }) => mintChatAccessToken(chatId) });
    const subAgents = useSubAgentMessages();
    const { messages } = useChat({ transport, onData: subAgents.onData });
    const message = subAgents.get(toolCallId) ?? output;
    return <pre>{JSON.stringify([messages.length, message])}</pre>;
}

export function MultiTab({ chatId }: { chatId: string }) {
    const transport = useTriggerChatTransport({
        task: "my-chat",
        accessToken: ({ chatId }) => mintChatAccessToken(chatId),
        startSession: ({ chatId, clientData }) => startChatSession({ chatId, clientData }),
        multiTab: true,
    });
    const { messages, setMessages } = useChat({ id: chatId, transport });
    const { isReadOnly } = useMultiTabChat(transport, chatId, messages, setMessages);
    return <input disabled={isReadOnly} placeholder={isReadOnly ? "Active in another tab" : "Type a message..."} />;
}

const pending = new Map<string, ReturnType<typeof setTimeout>>();

export function Observed() {
    const onEvent = (event: ChatTransportEvent) => {
        switch (event.type) {
            case "message-sent":
                metrics.increment("chat.message_sent");
                metrics.timing("chat.send_duration_ms", event.durationMs);
                if (event.source === "submit-message") {
                    pending.set(
                        event.chatId,
                        setTimeout(() => metrics.increment("chat.sent_but_unanswered"), 30_000),
                    );
                }
                break;
            case "message-send-failed":
                metrics.increment("chat.message_send_failed", { status: event.status, message: event.error.message });
                break;
            case "first-chunk":
            case "turn-completed":
            case "stream-error":
                clearTimeout(pending.get(event.chatId));
                pending.delete(event.chatId);
                break;
        }
    };
    const transport = useTriggerChatTransport({
        task: "my-chat",
        accessToken: ({ chatId }) => mintChatAccessToken(chatId),
        onEvent,
    });
    return <span>{String(transport.sessionStatus("c"))}</span>;
}
