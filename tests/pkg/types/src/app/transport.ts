// Framework-free use of the transport: every option, every method, and the
// exported types, written against @trigger.dev/sdk/chat.
import {
    TriggerChatTransport,
    createChatTransport,
    type AccessTokenParams,
    type ChatBaseURLResolver,
    type ChatFetchOverride,
    type ChatSessionPersistedState,
    type ChatTransportEndpoint,
    type ChatTransportEndpointContext,
    type StartSessionParams,
    type StartSessionResult,
    type TriggerChatTransportOptions,
} from "@trigger.dev/sdk/chat";
import type { ChatTransport, UIMessage, UIMessageChunk } from "ai";

const endpoints: ChatTransportEndpoint[] = ["in", "out"];

const baseURL: ChatBaseURLResolver = ({ endpoint, chatId }: ChatTransportEndpointContext) =>
    endpoint === "out" ? `https://stream.example.com/${chatId}` : "https://api.example.com";

const tracingFetch: ChatFetchOverride = async (url, init, ctx) => {
    const headers = new Headers(init.headers);
    headers.set("x-endpoint", ctx.endpoint);
    return fetch(url, { ...init, headers });
};

async function mintToken(params: AccessTokenParams): Promise<string> {
    return `token-for-${params.chatId}`;
}

async function startChat(params: StartSessionParams<{ userId: string }>): Promise<StartSessionResult> {
    return { publicAccessToken: `${params.taskId}:${params.chatId}:${params.clientData.userId}` };
}

const saved: Record<string, ChatSessionPersistedState> = {
    "chat-1": { publicAccessToken: "pat", lastEventId: "42", isStreaming: true },
    "chat-2": { publicAccessToken: "pat-2" },
};

export const options: TriggerChatTransportOptions<{ userId: string }> = {
    task: "my-chat",
    accessToken: mintToken,
    startSession: startChat,
    baseURL,
    streamBaseURL: "https://stream.example.com",
    fetch: tracingFetch,
    headers: { "x-app": "types" },
    streamTimeoutSeconds: 60,
    clientData: { userId: "u1" },
    sessions: saved,
    onSessionChange: (chatId: string, session: ChatSessionPersistedState | null) => {
        if (session === null) delete saved[chatId];
        else saved[chatId] = session;
    },
    multiTab: true,
    watch: false,
    headStart: "/api/chat",
};

// The class takes untyped-client-data options...
export const transport = new TriggerChatTransport({
    task: "my-chat",
    accessToken: ({ chatId }) => `token-${chatId}`,
    startSession: async ({ chatId, taskId, clientData }) => ({
        publicAccessToken: `${taskId}/${chatId}/${String(clientData.anything)}`,
    }),
    baseURL: "https://api.example.com",
    clientData: { anything: 1 },
});
export const created: TriggerChatTransport = createChatTransport({ task: "t", accessToken: () => "x" });

// ...and is an AI SDK ChatTransport.
export const asAiTransport: ChatTransport<UIMessage> = transport;

// @ts-expect-error `task` is required
new TriggerChatTransport({ accessToken: () => "x" });
// @ts-expect-error `accessToken` must return a string
new TriggerChatTransport({ task: "t", accessToken: () => 42 });
// @ts-expect-error typed client data is checked
export const wrongClientData: TriggerChatTransportOptions<{ userId: string }> = { task: "t", accessToken: () => "x", clientData: { userId: 1 } };

export async function everyMethod(signal: AbortSignal) {
    const session: ChatSessionPersistedState = await transport.start("chat-1");
    const nothing: void = await transport.preload("chat-1");
    const stream: ReadableStream<UIMessageChunk> = await transport.sendMessages({
        trigger: "submit-message",
        chatId: "chat-1",
        messageId: undefined,
        messages: [{ id: "m1", role: "user", parts: [{ type: "text", text: "hi" }] }],
        abortSignal: signal,
        metadata: { model: "gpt" },
        body: { extra: true },
        headers: { "x-one": "1" },
    });
    const regenerated = await transport.sendMessages({
        trigger: "regenerate-message",
        chatId: "chat-1",
        messageId: "m1",
        messages: [],
        abortSignal: undefined,
    });
    const sent: boolean = await transport.sendPendingMessage(
        "chat-1",
        { id: "m2", role: "user", parts: [{ type: "text", text: "also" }] },
        { model: "x" },
    );
    const resumed: ReadableStream<UIMessageChunk> | null = await transport.reconnectToStream({ chatId: "chat-1" });
    const resumedWithSignal = await transport.reconnectToStream({ chatId: "chat-1", abortSignal: signal });
    const stopped: boolean = await transport.stopGeneration("chat-1");
    const actionStream: ReadableStream<UIMessageChunk> = await transport.sendAction("chat-1", { type: "undo" });
    const current: ChatSessionPersistedState | undefined = transport.getSession("chat-1");
    transport.setSession("chat-1", { publicAccessToken: "pat" });
    transport.setOnSessionChange((chatId, state) => void [chatId, state?.lastEventId]);
    transport.setOnSessionChange(undefined);
    transport.setClientData({ userId: "u2" });
    transport.setClientData(undefined);
    const readOnly: boolean = transport.isReadOnly("chat-1");
    const claimed: boolean = transport.hasClaim("chat-1");
    const onReadOnly = (chatId: string, isReadOnly: boolean) => void [chatId, isReadOnly];
    transport.addReadOnlyListener(onReadOnly);
    transport.removeReadOnlyListener(onReadOnly);
    transport.broadcastMessages("chat-1", [{ any: "thing" }]);
    const onMessages = (chatId: string, messages: unknown[]) => void [chatId, messages.length];
    transport.addMessagesListener(onMessages);
    transport.removeMessagesListener(onMessages);
    transport.dispose();
    return { session, nothing, stream, regenerated, sent, resumed, resumedWithSignal, stopped, actionStream, current, readOnly, claimed, endpoints };
}
