// React app written against @trigger.dev/sdk/chat/react, with the task type
// imported from the server code.
import { useState } from "react";
import { useChat } from "@ai-sdk/react";
import {
    useMultiTabChat,
    usePendingMessages,
    useTriggerChatTransport,
    type InferChatUIMessage,
    type InjectedMessage,
    type PendingMessage,
    type UsePendingMessagesOptions,
    type UsePendingMessagesReturn,
    type UseTriggerChatTransportOptions,
} from "@trigger.dev/sdk/chat/react";
import type { TriggerChatTransport, ChatSessionPersistedState } from "@trigger.dev/sdk/chat";
import type { myChat, plainChat } from "../trigger/chat";

type Msg = InferChatUIMessage<typeof myChat>;

declare function mintChatAccessToken(chatId: string): Promise<string>;
declare function startChatSession(input: {
    chatId: string;
    clientData: { userId: string; model?: string };
}): Promise<{ publicAccessToken: string }>;

export const typedOptions: UseTriggerChatTransportOptions<typeof myChat> = {
    task: "my-chat",
    accessToken: ({ chatId }) => mintChatAccessToken(chatId),
    clientData: { userId: "u1" },
};

export function ChatView({ chatId, userId, saved }: { chatId: string; userId: string; saved: Record<string, ChatSessionPersistedState> }) {
    const [model, setModel] = useState<string | undefined>(undefined);
    const transport: TriggerChatTransport = useTriggerChatTransport<typeof myChat>({
        task: "my-chat",
        accessToken: ({ chatId }) => mintChatAccessToken(chatId),
        startSession: ({ chatId, clientData }) => startChatSession({ chatId, clientData }),
        clientData: { userId, model },
        sessions: saved,
        onSessionChange: (id, session) => {
            if (!session) delete saved[id];
        },
        multiTab: true,
    });

    const { messages, setMessages, sendMessage, status, stop } = useChat<Msg>({ id: chatId, transport, resume: true });
    const { isReadOnly } = useMultiTabChat(transport, chatId, messages, setMessages);
    const pendingOptions: UsePendingMessagesOptions<Msg> = {
        transport,
        chatId,
        status,
        messages,
        setMessages,
        sendMessage,
        metadata: { model },
    };
    const steering: UsePendingMessagesReturn = usePendingMessages(pendingOptions);
    const list: PendingMessage[] = steering.pending;

    return (
        <div>
            {messages.map((m) =>
                m.parts.map((part, i) => {
                    if (steering.isInjectionPoint(part)) {
                        const ids: string[] = steering.getInjectedMessageIds(part);
                        const injected: InjectedMessage[] = steering.getInjectedMessages(part);
                        return <span key={i}>{ids.length + injected.length}</span>;
                    }
                    return part.type === "text" ? <p key={i}>{part.text}</p> : null;
                }),
            )}
            {list.map((p) => (
                <em key={p.id}>
                    {p.text} {p.mode === "steering" ? "steering" : "queued"} {p.injected ? "injected" : ""}
                </em>
            ))}
            <button disabled={isReadOnly} onClick={() => steering.steer("faster please")}>steer</button>
            <button onClick={() => steering.queue("next question")}>queue</button>
            <button onClick={() => list[0] && steering.promoteToSteering(list[0].id)}>promote</button>
            <button onClick={() => { void stop(); void transport.stopGeneration(chatId); }}>stop</button>
            <button onClick={() => setModel("gpt-5")}>model</button>
        </div>
    );
}

export function UntypedChat() {
    // No type argument: any task id, any record of client data.
    const transport = useTriggerChatTransport({
        task: "whatever",
        accessToken: () => "token",
        clientData: { anything: [1, 2, 3] },
        startSession: async ({ clientData }) => ({ publicAccessToken: String(clientData.anything) }),
    });
    // @ts-expect-error client data must be an object
    useTriggerChatTransport({ task: "whatever", accessToken: () => "token", clientData: "text" });
    const { messages } = useChat({ transport });
    return <div>{messages.length}</div>;
}

export function PlainChat() {
    const transport = useTriggerChatTransport<typeof plainChat>({
        task: "plain-chat",
        accessToken: () => "token",
    });
    return <div>{String(transport.isReadOnly("x"))}</div>;
}

export function WrongTyped() {
    useTriggerChatTransport<typeof myChat>({
        // @ts-expect-error the task id is checked against the task type
        task: "not-my-chat",
        accessToken: () => "token",
    });
    useTriggerChatTransport<typeof myChat>({
        task: "my-chat",
        accessToken: () => "token",
        // @ts-expect-error client data is checked against the schema
        clientData: { userId: 42 },
    });
    return null;
}
