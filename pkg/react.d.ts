/**
 * React hooks for trigger-chat-wasm, matching `@trigger.dev/sdk/chat/react`.
 */
import type { ChatRequestOptions, UIMessage } from "ai";
import type {
    InferChatClientData,
    InferChatUIMessage,
    TriggerChatTransport,
    TriggerChatTransportOptions,
} from "./index.js";

/**
 * Anything shaped like a Trigger.dev task: an object with a string `id`.
 * `typeof myChatAgent` fits without importing `@trigger.dev/sdk` here.
 */
export type AnyChatTaskLike = {
    id: string;
    trigger: (payload: any, ...rest: any[]) => any;
};

/** The task id type of a task-like type (`string` when it has none). */
export type ChatTaskIdentifier<TTask> = TTask extends { id: infer TId extends string } ? TId : string;

/**
 * Options of {@link useTriggerChatTransport}. With a task type argument
 * (`useTriggerChatTransport<typeof myChat>(...)`) the `task` id and the
 * `clientData` shape are checked against the task.
 */
export type UseTriggerChatTransportOptions<TTask extends { id: string } = AnyChatTaskLike> = Omit<
    TriggerChatTransportOptions<InferChatClientData<TTask>>,
    "task"
> & {
    /** The chat task's id. */
    task: ChatTaskIdentifier<TTask>;
};

export type { InferChatUIMessage };
export type { ChatTransportEvent, ChatTransportSendSource } from "./index.js";

/**
 * Returns one {@link TriggerChatTransport} per component instance, created on
 * the first render. Later renders keep the instance and pass the current
 * `onSessionChange` and `clientData` on to it.
 */
export declare function useTriggerChatTransport<TTask extends { id: string } = AnyChatTaskLike>(
    options: UseTriggerChatTransportOptions<TTask>,
): TriggerChatTransport;

/**
 * Shares a chat's messages between browser tabs (transport created with
 * `multiTab: true`) and reports whether another tab owns the chat.
 */
export declare function useMultiTabChat<T = unknown>(
    transport: TriggerChatTransport,
    chatId: string,
    messages: T[],
    setMessages: (messages: T[]) => void,
): {
    isReadOnly: boolean;
};

/** One message tracked by {@link usePendingMessages}. */
export type PendingMessage = {
    id: string;
    text: string;
    /** `"steering"`: already sent to the running turn; `"queued"`: waits for the next turn. */
    mode: "steering" | "queued";
    /** Whether the agent reported it as injected into the running response. */
    injected: boolean;
};

/** Options of {@link usePendingMessages}. */
export type UsePendingMessagesOptions<TUIMessage extends UIMessage = UIMessage> = {
    /** The chat's transport. */
    transport: TriggerChatTransport;
    /** The chat id. */
    chatId: string;
    /** `status` from `useChat`. */
    status: string;
    /** `messages` from `useChat`. */
    messages: TUIMessage[];
    /** `setMessages` from `useChat`. */
    setMessages: (fn: TUIMessage[] | ((prev: TUIMessage[]) => TUIMessage[])) => void;
    /** `sendMessage` from `useChat`. */
    sendMessage: (message: { text: string }, options?: ChatRequestOptions) => void;
    /** Metadata sent along with every message (e.g. `{ model }`). */
    metadata?: Record<string, unknown>;
};

/** A message listed in an injection-point part. */
export type InjectedMessage = {
    id: string;
    text: string;
};

/** What {@link usePendingMessages} returns. */
export type UsePendingMessagesReturn = {
    /** The messages typed during the current response, with their state. */
    pending: PendingMessage[];
    /** While streaming: send to the running turn now; otherwise send as a normal message. */
    steer: (text: string) => void;
    /** While streaming: hold for the next turn; otherwise send as a normal message. */
    queue: (text: string) => void;
    /** Turn a queued message into a steering one, sending it now. */
    promoteToSteering: (id: string) => void;
    /** Whether a message part marks where pending messages were injected. */
    isInjectionPoint: (part: unknown) => boolean;
    /** The ids of the messages an injection-point part lists. */
    getInjectedMessageIds: (part: unknown) => string[];
    /** The messages (id and text) an injection-point part lists. */
    getInjectedMessages: (part: unknown) => InjectedMessage[];
};

/**
 * Handles messages typed while a response is streaming (steering and
 * queueing) and sends the ones the agent did not inject as the next turn.
 */
export declare function usePendingMessages<TUIMessage extends UIMessage = UIMessage>(
    options: UsePendingMessagesOptions<TUIMessage>,
): UsePendingMessagesReturn;

/** Where a loaded transcript ends on the chat's streams. */
export type TranscriptCursors = { lastOutEventId?: string };

/** What a transcript loader (for example a server action) resolves to. */
export type LoadTranscriptResult<TUIMessage extends UIMessage = UIMessage> = {
    messages: TUIMessage[];
    cursors?: TranscriptCursors;
    nextCursor?: string;
};

/**
 * Seeds the transport's resume cursor from a loaded transcript, so the live
 * stream opens just past the history already shown. Returns whether there
 * was a cursor.
 */
export declare function seedTranscriptCursor(
    transport: Pick<TriggerChatTransport, "seedResumeCursor">,
    chatId: string,
    cursors: TranscriptCursors | undefined,
): boolean;

/**
 * Loads a chat's history before it connects (again when `chatId` changes;
 * nothing for `undefined`), seeding `options.transport`'s resume cursor.
 */
export declare function useLoadTranscript<TUIMessage extends UIMessage = UIMessage>(
    chatId: string | undefined,
    load: (args: { chatId: string; limit?: number }) => Promise<LoadTranscriptResult<TUIMessage>>,
    options?: { transport?: TriggerChatTransport; limit?: number },
): { messages: TUIMessage[]; isLoading: boolean; error: Error | undefined; nextCursor: string | undefined };

/**
 * Sends custom actions through `useChat`'s `sendMessage` (as `body.action`),
 * so `useChat` renders the reply and `stop` works.
 */
export declare function useChatActions(options: {
    sendMessage: (message: undefined, options: { body: { action: unknown } }) => unknown;
}): { sendAction: (action: unknown) => Promise<void> };
