/**
 * trigger-chat-wasm: a browser chat transport for Trigger.dev chat agents,
 * implemented in Rust and compiled to WebAssembly.
 *
 * The public surface mirrors `@trigger.dev/sdk/chat` (4.5.0): swap the import
 * specifier and existing code keeps compiling and behaving the same way.
 *
 * ```ts
 * import { TriggerChatTransport } from "trigger-chat-wasm";
 *
 * const transport = new TriggerChatTransport({
 *   task: "my-chat",
 *   accessToken: ({ chatId }) => getToken(chatId),
 *   startSession: ({ chatId, taskId, clientData }) => startChat({ chatId, taskId, clientData }),
 * });
 * ```
 */
import type { ChatRequestOptions, ChatTransport, ModelMessage, UIMessage, UIMessageChunk } from "ai";

/**
 * What one `.in` record carries for a message, a regeneration, an action, a
 * preload or a close (the `payload` of a `kind: "message"` chunk). At most
 * one message travels per record: the agent rebuilds earlier history itself.
 *
 * @typeParam TMessage - the chat's UI message type.
 * @typeParam TMetadata - the client data (`metadata`) type.
 */
export type ChatTaskWirePayload<TMessage extends UIMessage = UIMessage, TMetadata = unknown> = {
    /** The message this record delivers (`submit-message` only). */
    message?: TMessage;
    /** The whole history, only on a head-start route's `handover-prepare`. */
    headStartMessages?: TMessage[];
    chatId: string;
    trigger: "submit-message" | "regenerate-message" | "preload" | "close" | "action" | "handover-prepare";
    messageId?: string;
    metadata?: TMetadata;
    /** The action, when `trigger` is `"action"`. */
    action?: unknown;
    /** Where an action came from. */
    actionSource?: "client" | "webhook" | "channel";
    /** A turn delivered from a channel (webhook ingress), instead of `message`. */
    channelEvent?: {
        connectorId: string;
        event: unknown;
        source: string;
        headers: Record<string, string>;
        deliveryId: string;
        externalDeliveryId?: string;
    };
    /** Set when this run continues a chat whose previous run ended. */
    continuation?: boolean;
    /** The previous run's id, with `continuation`. */
    previousRunId?: string;
    /** Idle timeout for this run, in seconds. */
    idleTimeoutInSeconds?: number;
    /** The id of the session behind the chat. */
    sessionId?: string;
};

/**
 * One record of a chat's `.in` channel; `kind` tells which: a message (or
 * regeneration, action, close), a stop, or a head-start handover.
 */
export type ChatInputChunk<TMessage extends UIMessage = UIMessage, TMetadata = unknown> =
    | {
          kind: "message";
          payload: ChatTaskWirePayload<TMessage, TMetadata>;
      }
    | {
          kind: "stop";
          /** Why, in words, if given. */
          message?: string;
      }
    | {
          kind: "handover";
          /** The head-start route's first step, as model messages. */
          partialAssistantMessage: ModelMessage[];
          /** The UI message id the first step used, so the reply continues it. */
          messageId?: string;
          /** Whether the first step was the whole reply. */
          isFinal: boolean;
      }
    | {
          kind: "handover-skip";
      };

/**
 * Which realtime endpoint a request targets:
 * `"in"` is `POST /realtime/v1/sessions/{chatId}/in/append` (messages, stops,
 * actions) and `"out"` is `GET /realtime/v1/sessions/{chatId}/out` (the SSE
 * stream of response chunks).
 */
export type ChatTransportEndpoint = "in" | "out";

/** What the `baseURL` resolver and the `fetch` override are told about a request. */
export type ChatTransportEndpointContext = {
    endpoint: ChatTransportEndpoint;
    chatId: string;
};

/** A function form of `baseURL`: picks the API origin per endpoint and chat. */
export type ChatBaseURLResolver = (ctx: ChatTransportEndpointContext) => string;

/**
 * Replaces `fetch` for the transport's requests. It gets the final URL, the
 * `RequestInit` the transport prepared and the endpoint context, and must
 * resolve to a `Response` equivalent to what `fetch(url, init)` would give.
 */
export type ChatFetchOverride = (
    url: string,
    init: RequestInit,
    ctx: ChatTransportEndpointContext,
) => Promise<Response>;

/** Argument of the `accessToken` callback. */
export type AccessTokenParams = {
    /** The conversation id used with `useChat` / `sendMessage`. */
    chatId: string;
};

/**
 * Argument of the `startSession` callback, called when a chat has no
 * session yet (on `start`, `preload`, or lazily on the first send).
 *
 * @typeParam TClientData - the transport's client data type.
 */
export type StartSessionParams<TClientData = unknown> = {
    /** The task id the transport was created for. */
    taskId: string;
    /** The conversation id. */
    chatId: string;
    /** The transport's current `clientData` value. */
    clientData: TClientData;
};

/** What `startSession` resolves to. */
export type StartSessionResult = {
    /** The session-scoped public access token the transport will use. */
    publicAccessToken: string;
    /** The session's run waits for its deployment to land (version skew protection). */
    pendingVersion?: boolean;
};

/**
 * The per-chat state worth persisting (e.g. in `localStorage`) so a reload
 * can resume the conversation's stream.
 */
export type ChatSessionPersistedState = {
    publicAccessToken: string;
    lastEventId?: string;
    isStreaming?: boolean;
    /** The `.in` seq of the send whose reply is in flight, when the server gave one. */
    activeInputSeq?: number;
    /** The session was closed (by the agent's `chat.close()` or the app's server): sends are refused. */
    closed?: boolean;
    /** Why it was closed, when a reason was given. */
    closedReason?: string;
    /**
     * A Stop armed the gate: the next stream skips the stopped turn's tail
     * up to its `turn-complete` (as the vendor's transport keeps it).
     */
    skipToTurnComplete?: boolean;
    /** The `.in` seq of the stopped send the gate waits for, when known. */
    supersededInputSeq?: number;
    /**
     * Ours: the gate was armed after the send now in flight began, so a
     * resume does not take that send's own boundary as the stopped turn's
     * end. Absent otherwise; keep it with the rest when you persist.
     */
    gateAfterActiveSend?: boolean;
};

/** Whether a chat's session can still take messages. */
export type ChatSessionStatus = "open" | "closed";

/** Client data as the options see it: an object type, or a generic record. */
type ClientDataOf<TClientData> = TClientData extends Record<string, unknown>
    ? TClientData
    : Record<string, unknown>;

/** Which `.in` boundary settled one `sendAction` call. */
export type ChatActionSettlement = {
    /** The `.in` seq of this action's append. */
    inputSeq: number;
    /** The agent's committed `.in` cursor from the turn-complete record (at or after `inputSeq`). */
    sessionInEventId: string;
    /** The `.out` cursor of that turn-complete record. */
    lastEventId?: string;
};

/** Options of one {@link TriggerChatTransport.sendAction} call. */
export type ChatActionOptions = {
    /** Ends the action's stream (and stops its turn). */
    abortSignal?: AbortSignal;
    /** Metadata for this action, merged over the transport's `clientData`. */
    metadata?: Record<string, unknown>;
    /**
     * Called at most once, when a turn-complete record shows the agent
     * processed this action's input, before the stream ends. Not called after
     * a cancel, an error, or when the stream ends without such a record; an
     * action may have been processed without it. What it throws is ignored.
     */
    onSettled?: (settlement: ChatActionSettlement) => void;
};

/** Which kind of send an event is about. */
export type ChatTransportSendSource =
    | "submit-message"
    | "regenerate-message"
    | "steer"
    | "action"
    | "stop"
    | "head-start";

type ChatTransportEventBase = { chatId: string; timestamp: number };

/** What every event about one send carries. */
type ChatTransportSendEventBase = ChatTransportEventBase & {
    messageId?: string;
    source: ChatTransportSendSource;
    durationMs: number;
    partId?: string;
    bodyBytes?: number;
};

/** A lifecycle event handed to the `onEvent` option. */
export type ChatTransportEvent =
    | (ChatTransportSendEventBase & { type: "message-sent" })
    | (ChatTransportSendEventBase & { type: "message-send-failed"; error: Error; status?: number })
    | (ChatTransportSendEventBase & {
          /** A send waits for the browser to come back online (`offlineSendTimeoutMs`). */
          type: "send-queued-offline";
      })
    | (ChatTransportSendEventBase & {
          /** The browser is back online: the send that waited goes on. */
          type: "send-resumed-online";
          /** How long it waited. */
          waitedMs: number;
      })
    | (ChatTransportEventBase & { type: "stream-connected"; resumed: boolean; lastEventId?: string; messageId?: string })
    | (ChatTransportEventBase & {
          type: "first-chunk";
          chunkType?: string;
          lastEventId?: string;
          messageId?: string;
          sinceSendMs?: number;
      })
    | (ChatTransportEventBase & {
          type: "turn-completed";
          lastEventId?: string;
          sessionInEventId?: string;
          messageId?: string;
          sinceSendMs?: number;
      })
    | (ChatTransportEventBase & { type: "stream-error"; error: Error; status?: number })
    | (ChatTransportEventBase & {
          type: "run-pending-version";
          /**
           * How the transport learned that the run answering this chat waits
           * for its deployment: starting the session, a send, the head-start
           * route, or a version handover on the stream.
           */
          source: "start" | "send" | "head-start" | "upgrade";
      })
    | (ChatTransportEventBase & {
          type: "session-closed";
          reason?: string;
          /** Where the transport learned it: a refused send, or the stream. */
          source: "append" | "stream";
      });

/**
 * Options of {@link TriggerChatTransport}.
 *
 * @typeParam TClientData - the shape of `clientData`, which is merged into
 * the `metadata` of every message sent. Anything that is not an object type
 * falls back to `Record<string, unknown>`.
 */
export type TriggerChatTransportOptions<TClientData = unknown> = {
    /** Id of the Trigger.dev chat task (agent) this transport talks to. */
    task: string;
    /**
     * Returns a fresh session token for an existing chat. Called when a
     * request is rejected with 401/403 (then the request is retried once), and
     * for the first token of a chat when there is no `startSession`.
     *
     * A rejection with a `TypeError` (what `fetch` throws when the network
     * fails) or with an object whose `retryable` is `true` is transient: the
     * call is made again after 100, 200, 400, 800 and 1,600 ms (up to half
     * of each taken off at random), at most 5 times; then the operation
     * fails with the last rejection. Any other rejection ends the operation
     * at once with what was thrown. The same holds for `startSession`.
     */
    accessToken: (params: AccessTokenParams) => string | Promise<string>;
    /**
     * Creates the chat's session (or returns the existing one) and resolves to
     * its token. Called by `start` / `preload` and before the first send of a
     * chat that has no token yet; concurrent calls for one chat share a single
     * invocation. A transient rejection (a `TypeError`, or `retryable: true`)
     * is retried as for `accessToken`.
     */
    startSession?: (params: StartSessionParams<ClientDataOf<TClientData>>) => Promise<StartSessionResult>;
    /**
     * API origin, or a function choosing it per endpoint and chat.
     * @default "https://api.trigger.dev"
     */
    baseURL?: string | ChatBaseURLResolver;
    /**
     * Origin used for the SSE (`out`) endpoint only; wins over `baseURL` there.
     * @deprecated Use a `baseURL` function that checks `endpoint === "out"`.
     */
    streamBaseURL?: string;
    /** Used instead of `globalThis.fetch` for every request the transport makes. */
    fetch?: ChatFetchOverride;
    /** Extra headers sent with every request. */
    headers?: Record<string, string>;
    /**
     * How long (seconds) the server may hold the SSE stream open without data.
     * @default 120
     */
    streamTimeoutSeconds?: number;
    /**
     * Data merged into the `metadata` of every message; a call's own
     * `metadata` takes precedence.
     */
    clientData?: ClientDataOf<TClientData>;
    /**
     * Session state restored from storage, keyed by chat id. A restored chat
     * uses its token directly instead of starting a session.
     */
    sessions?: Record<string, ChatSessionPersistedState>;
    /**
     * Told about every change of a chat's session state; `null` when the
     * session is removed. Persist the state here to resume after a reload.
     */
    onSessionChange?: (chatId: string, session: ChatSessionPersistedState | null) => void;
    /**
     * Lifecycle events for metrics and watchdogs: sends acknowledged or
     * failed, stream connected, first chunk of a turn, turn completed,
     * stream failed. Whatever the callback throws is ignored.
     */
    onEvent?: (event: ChatTransportEvent) => void;
    /**
     * How long (ms) a send waits for the browser to come back online. While
     * `navigator.onLine` is false (or an append failed with a network error
     * and the browser then reports offline), a send waits for the `online`
     * event instead of failing, keeping its `X-Part-Id` (nothing is sent
     * twice); `onEvent` gets `send-queued-offline`, then
     * `send-resumed-online` with `waitedMs`. An abort or `dispose()` still
     * ends it at once. Past this it fails with the usual network error
     * (`code: "NETWORK"`). `0`: no waiting (it fails as when online).
     * @default 180000
     */
    offlineSendTimeoutMs?: number;
    /**
     * Coordinate browser tabs so only one tab sends to a chat at a time; the
     * others become read-only. Does nothing without `BroadcastChannel`.
     * @default false
     */
    multiTab?: boolean;
    /**
     * Observer mode: keep the SSE subscription open across turn boundaries so
     * a viewer sees every following turn on one stream.
     * @default false
     */
    watch?: boolean;
    /**
     * URL of a `chat.handover` route in your own server that answers the very
     * first turn of a new chat while the agent boots. Later turns go straight
     * to the session.
     */
    headStart?: string;
};

/**
 * An AI SDK `ChatTransport` that runs chats on Trigger.dev chat agents
 * through the Sessions realtime API. Pass it to `useChat({ transport })` or
 * to a `Chat` instance.
 */
export declare class TriggerChatTransport implements ChatTransport<UIMessage> {
    constructor(options: TriggerChatTransportOptions);
    /**
     * AI SDK 7: a resume started from a cursor saved at a turn boundary
     * replays the current turn from its `start` chunk, so the SDK resets the
     * partial message before applying it.
     */
    readonly resumeStreamIsReplay: true;
    /** Creates (or reuses) the chat's session ahead of the first message. */
    start(chatId: string): Promise<ChatSessionPersistedState>;
    /** Same as {@link start}, without a result; the AI SDK's preload hook. */
    preload(chatId: string): Promise<void>;
    /**
     * Appends the newest message (or a regenerate request) to the chat's
     * session and resolves to the stream of response chunks.
     */
    sendMessages: (options: {
        trigger: "submit-message" | "regenerate-message";
        chatId: string;
        messageId: string | undefined;
        messages: UIMessage[];
        abortSignal: AbortSignal | undefined;
    } & ChatRequestOptions) => Promise<ReadableStream<UIMessageChunk>>;
    /**
     * Sends a message while a response is streaming, without interrupting
     * it; the agent decides whether to inject it or keep it for the next
     * turn. Resolves to whether it was sent.
     */
    sendPendingMessage: (chatId: string, message: UIMessage, metadata?: Record<string, unknown>) => Promise<boolean>;
    /**
     * Resumes the chat's stream (after a reload, for instance). Resolves to
     * `null` when there is nothing to resume.
     */
    reconnectToStream: (options: {
        chatId: string;
        abortSignal?: AbortSignal | undefined;
        /** Whether aborting the resumed stream also stops the agent's turn. */
        stopOnAbort?: boolean;
    } & ChatRequestOptions) => Promise<ReadableStream<UIMessageChunk> | null>;
    /** Asks the agent to stop the current response. Resolves to whether it was sent. */
    stopGeneration: (chatId: string) => Promise<boolean>;
    /** Sends a custom action to the agent and resolves to its response stream. */
    sendAction: (chatId: string, action: unknown, options?: ChatActionOptions) => Promise<ReadableStream<UIMessageChunk>>;
    /** The chat's current session state, if any. */
    getSession: (chatId: string) => ChatSessionPersistedState | undefined;
    /**
     * `"closed"` once the chat's session was closed, by the agent
     * (`chat.close()`) or the app's server. Closed is final: sends reject with
     * an error whose `code` is `"session_closed"` (status 409), and nothing is
     * resumed; the transcript stays readable.
     */
    sessionStatus: (chatId: string) => ChatSessionStatus;
    /** Why the chat's session was closed, when a reason was given. */
    sessionClosedReason: (chatId: string) => string | undefined;
    /** Replaces the chat's session state. */
    setSession(chatId: string, session: ChatSessionPersistedState): void;
    /** Replaces the `onSessionChange` callback (or removes it). */
    setOnSessionChange(callback: ((chatId: string, session: ChatSessionPersistedState | null) => void) | undefined): void;
    /** Replaces `onEvent` (or removes it). */
    setOnEvent(callback: ((event: ChatTransportEvent) => void) | undefined): void;
    /** Replaces `accessToken`; the next token request calls the new one. */
    setAccessToken(accessToken: (params: AccessTokenParams) => string | Promise<string>): void;
    /** Replaces `startSession` (or removes it). */
    setStartSession(
        startSession: ((params: StartSessionParams<Record<string, unknown>>) => Promise<StartSessionResult>) | undefined,
    ): void;
    /** Replaces the `fetch` override (or removes it). */
    setFetch(fetchOverride: ChatFetchOverride | undefined): void;
    /**
     * Seeds the chat's resume cursor from a stored transcript: applied now
     * when the chat has a session (never moving its cursor back), else when
     * its session is created, so the first stream starts after that history.
     */
    seedResumeCursor: (chatId: string, lastEventId: string) => void;
    /**
     * Forgets the "skip the rest of the stopped turn" mark a stop sets; for a
     * stopped turn that ended without its `turn-complete`.
     */
    clearSupersedeGate: (chatId: string) => void;
    /** Replaces `clientData`; the next send and session start see the new value. */
    setClientData(clientData: Record<string, unknown> | undefined): void;
    /** With `multiTab`: whether another tab currently owns the chat. */
    isReadOnly(chatId: string): boolean;
    /** With `multiTab`: whether this tab currently owns the chat. */
    hasClaim(chatId: string): boolean;
    addReadOnlyListener(fn: (chatId: string, isReadOnly: boolean) => void): void;
    removeReadOnlyListener(fn: (chatId: string, isReadOnly: boolean) => void): void;
    /** With `multiTab`: shares the chat's messages with the other tabs. */
    broadcastMessages(chatId: string, messages: unknown[]): void;
    addMessagesListener(fn: (chatId: string, messages: unknown[]) => void): void;
    removeMessagesListener(fn: (chatId: string, messages: unknown[]) => void): void;
    /** Releases streams, tab coordination and listeners. */
    dispose(): void;
    /** AI SDK 7's name for {@link dispose}. */
    close(): void;
}

/** Shorthand for `new TriggerChatTransport(options)`. */
export declare function createChatTransport(options: TriggerChatTransportOptions): TriggerChatTransport;

/**
 * The `clientData` (metadata) type of a chat task, read structurally from the
 * task's payload type (no `@trigger.dev/sdk` import needed);
 * `Record<string, unknown>` when the task declares none.
 */
export type InferChatClientData<T> = T extends {
    trigger: (payload: ChatTaskWirePayload<any, infer TMetadata>, ...rest: any[]) => any;
}
    ? unknown extends TMetadata
        ? Record<string, unknown>
        : TMetadata
    : Record<string, unknown>;

/**
 * The UI message type of a chat task (the type of its payload's `message`),
 * `UIMessage` when it cannot be read.
 */
export type InferChatUIMessage<T> = T extends {
    trigger: (payload: ChatTaskWirePayload<infer TUIMessage, any>, ...rest: any[]) => any;
}
    ? TUIMessage
    : UIMessage;

export {
    SUB_AGENT_DATA_TYPE,
    createSubAgentMessages,
    type SubAgentChunkBatch,
    type SubAgentDataChunk,
    type SubAgentMessages,
    type SubAgentMessagesOptions,
} from "./sub-agent.js";
export {
    AgentChat,
    ChatStream,
    type AgentChatOptions,
    type ChatSession,
    type ChatStreamResult,
    type ChatToolCall,
    type ChatToolResult,
} from "./agent-chat.js";
