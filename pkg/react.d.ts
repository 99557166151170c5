/**
 * React hooks for trigger-chat-wasm, matching `@trigger.dev/sdk/chat/react`.
 */
import type { ChatRequestOptions, UIMessage } from "ai";
import type { ChatTaskWirePayload, TriggerChatTransport, TriggerChatTransportOptions } from "./index.js";
import type { SubAgentMessages, SubAgentMessagesOptions } from "./sub-agent.js";

/**
 * Anything shaped like a Trigger.dev task: an object with a string `id`.
 * `typeof myChatAgent` fits without importing `@trigger.dev/sdk` here.
 */
export type AnyChatTaskLike = {
    id: string;
    trigger: (payload: any, ...rest: any[]) => any;
};

/** The task id type of a task-like type. */
export type ChatTaskIdentifier<TTask> = TTask extends { id: infer TId extends string } ? TId : never;

/**
 * The `clientData` type of a chat task, read from its payload's `metadata`
 * (`unknown` when the type carries none).
 */
type InferChatClientData<TTask> = TTask extends {
    trigger: (payload: ChatTaskWirePayload<any, infer TMetadata>, ...rest: any[]) => any;
}
    ? TMetadata
    : unknown;

/** The UI message type of a chat task (its payload's `message`), `UIMessage` when it cannot be read. */
export type InferChatUIMessage<TTask> = TTask extends {
    trigger: (payload: ChatTaskWirePayload<infer TMessage extends UIMessage, any>, ...rest: any[]) => any;
}
    ? TMessage
    : UIMessage;

/**
 * Options of {@link useTriggerChatTransport}. With a task type argument
 * (`useTriggerChatTransport<typeof myChat>(...)`) the `task` id and the
 * `clientData` shape are checked against the task.
 */
export type UseTriggerChatTransportOptions<TTask extends AnyChatTaskLike = AnyChatTaskLike> = Omit<
    TriggerChatTransportOptions<InferChatClientData<TTask>>,
    "task"
> & {
    /** The chat task's id. */
    task: ChatTaskIdentifier<TTask>;
};

export type { ChatTransportEvent, ChatTransportSendSource } from "./index.js";

/**
 * Returns one {@link TriggerChatTransport} per component instance, created on
 * the first render. Later renders keep the instance and pass the current
 * `onSessionChange` and `clientData` on to it.
 */
export declare function useTriggerChatTransport<TTask extends AnyChatTaskLike = AnyChatTaskLike>(
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

/** What a transcript loader (for example a server action) resolves to. */
export type LoadTranscriptResult<TUIMessage extends UIMessage = UIMessage> = {
    messages: TUIMessage[];
    /** Where the loaded history ends on the chat's `.out` and `.in` channels. */
    cursors?: {
        lastOutEventId?: string;
        lastInEventId?: string;
    };
    /** Pass back to load the page before this one. */
    nextCursor?: string;
};

/** Options of {@link useLoadTranscript}. */
export type UseLoadTranscriptOptions = {
    /** Its resume cursor is seeded from the loaded transcript. */
    transport?: TriggerChatTransport;
    /** How many messages to load. */
    limit?: number;
};

/**
 * Seeds the transport's resume cursor from a loaded transcript, so the live
 * stream opens just past the history already shown. Returns whether there
 * was a cursor.
 */
export declare function seedTranscriptCursor(
    transport: Pick<TriggerChatTransport, "seedResumeCursor">,
    chatId: string,
    cursors: { lastOutEventId?: string } | undefined,
): boolean;

/**
 * Loads a chat's history before it connects (again when `chatId` changes;
 * nothing for `undefined`), seeding `options.transport`'s resume cursor.
 */
export declare function useLoadTranscript<TUIMessage extends UIMessage = UIMessage>(
    chatId: string | undefined,
    load: (args: { chatId: string; limit?: number }) => Promise<LoadTranscriptResult<TUIMessage>>,
    options?: UseLoadTranscriptOptions,
): { messages: TUIMessage[]; isLoading: boolean; error: Error | undefined; nextCursor: string | undefined };

/**
 * Sends custom actions through `useChat`'s `sendMessage` (as `body.action`),
 * so `useChat` renders the reply and `stop` works.
 */
export declare function useChatActions(options: {
    /** `useChat`'s `sendMessage`. */
    sendMessage: (
        message: undefined,
        options?: {
            body?: object;
            headers?: Record<string, string> | Headers;
        },
    ) => Promise<void> | void;
}): {
    /** Sends an action; resolves when `useChat` has finished the request. */
    sendAction: (action: unknown) => Promise<void>;
};

/**
 * Shows sub-agents (forwarded by the server's `chat.forwardSubAgent`) while
 * they run: pass `onData` to `useChat`, read a message with
 * `get(toolCallId)` and fall back to the tool part's `output`. Rebuilt at
 * most once per `throttleMs`.
 */
export declare function useSubAgentMessages<TUIMessage extends UIMessage = UIMessage>(
    options?: Pick<SubAgentMessagesOptions, "throttleMs">,
): Pick<SubAgentMessages<TUIMessage>, "onData" | "get">;
