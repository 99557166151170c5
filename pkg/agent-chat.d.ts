/**
 * The server-side chat client: talk to a chat agent from your own server
 * (a route handler, a script, another task), with the environment's secret
 * key (`TRIGGER_SECRET_KEY`, or `configure()` from `@trigger.dev/sdk`) and
 * API origin (`TRIGGER_API_URL`).
 *
 * ```ts
 * import { AgentChat } from "trigger-chat-wasm";
 *
 * const chat = new AgentChat({ agent: "my-agent" });
 * const reply = await chat.sendMessage("Hello");
 * console.log(await reply.text());
 * await chat.close();
 * ```
 */
import type { ModelMessage, UIMessage, UIMessageChunk } from "ai";
import type { InferChatClientData } from "./index.js";

/** What to store to continue a conversation in a later request. */
export type ChatSession = {
    /** The `.out` cursor reached so far: a later stream starts after it. */
    lastEventId?: string;
};

type AgentChatEndpoint = "in" | "out";
type AgentChatEndpointContext = { endpoint: AgentChatEndpoint; chatId: string };
type AgentChatBaseURLResolver = (ctx: AgentChatEndpointContext) => string;
type AgentChatFetchOverride = (url: string, init: RequestInit, ctx: AgentChatEndpointContext) => Promise<Response>;
type AgentChatMachine = "micro" | "small-1x" | "small-2x" | "medium-1x" | "medium-2x" | "large-1x" | "large-2x";

/** The trigger config of the chat's session: how its runs are started. */
type AgentChatTriggerConfig = {
    /** Fields every run's payload starts from. */
    basePayload: Record<string, unknown>;
    machine?: AgentChatMachine;
    queue?: string;
    /** Named concurrency limits every run holds. */
    concurrency?: string[];
    concurrencyKey?: string;
    tags?: string[];
    maxAttempts?: number;
    /** Seconds. */
    maxDuration?: number;
    lockToVersion?: string;
    /** Pin runs to this deployment; `null` opts out. */
    externalDeploymentId?: string | null;
    region?: string;
    idleTimeoutInSeconds?: number;
    ttl?: string | number;
};

/** Options of {@link AgentChat}. */
export type AgentChatOptions<TAgent = unknown> = {
    /** The agent's task id. */
    agent: string;
    /**
     * The conversation id (the session's external id).
     * @default crypto.randomUUID()
     */
    id?: string;
    /** Client data sent with every message, typed from the agent. */
    clientData?: InferChatClientData<TAgent>;
    /** A session stored from an earlier request: continue it instead of starting one. */
    session?: ChatSession;
    /** Called once when this conversation's session (and its first run) is created. */
    onTriggered?: (event: { runId: string; chatId: string }) => void | Promise<void>;
    /** Called after each turn; store `lastEventId` to resume in a later request. */
    onTurnComplete?: (event: { chatId: string; lastEventId?: string }) => void | Promise<void>;
    /**
     * How long (seconds) the server may hold the reply stream open without data.
     * @default 120
     */
    streamTimeoutSeconds?: number;
    /** The trigger config the session is started with (its runs' machine, queue, tags, ...). */
    triggerConfig?: AgentChatTriggerConfig;
    /**
     * API origin of the chat's `.in` / `.out` endpoints, or a function picking
     * it per endpoint (session creation uses the SDK's configured origin).
     */
    baseURL?: string | AgentChatBaseURLResolver;
    /** Replaces `fetch` for the `.in` / `.out` requests. */
    fetch?: AgentChatFetchOverride;
};

/** A tool call read from a reply. */
export type ChatToolCall = {
    toolName: string;
    toolCallId: string;
    input: unknown;
};

/** A tool result read from a reply. */
export type ChatToolResult = {
    toolCallId: string;
    output: unknown;
};

/** A whole reply, read by {@link ChatStream.result}. */
export type ChatStreamResult = {
    text: string;
    toolCalls: ChatToolCall[];
    toolResults: ChatToolResult[];
};

/**
 * One turn's reply. Read it one way: `for await` over its chunks,
 * `text()`, `result()`, `messages()`, or `.stream` for AI SDK utilities.
 */
export declare class ChatStream {
    /**
     * @param stream - the reply's chunks.
     * @param onAssistantMessage - called with the finished assistant message.
     */
    constructor(stream: ReadableStream<UIMessageChunk>, onAssistantMessage?: (message: UIMessage) => void);
    /** The chunks as a ReadableStream. */
    get stream(): ReadableStream<UIMessageChunk>;
    [Symbol.asyncIterator](): AsyncIterableIterator<UIMessageChunk>;
    /**
     * The assistant message after each update (each snapshot is the whole
     * message so far: meant for short replies). Needs the `ai` package.
     */
    messages(): AsyncGenerator<UIMessage, void, unknown>;
    /** Reads the whole reply: text, tool calls and tool results. */
    result(): Promise<ChatStreamResult>;
    /** Reads the whole reply and returns its text. */
    text(): Promise<string>;
}

/** A conversation with a chat agent, from a server. */
export declare class AgentChat<TAgent = unknown> {
    constructor(options: AgentChatOptions<TAgent>);
    /** The conversation id. */
    get id(): string;
    /** What to store to continue in a later request (`options.session`). */
    get session(): ChatSession;
    /** Starts the session and its first run now (the agent's `onPreload`); idempotent. */
    preload(options?: { idleTimeoutInSeconds?: number }): Promise<ChatSession>;
    /** Sends a text message; resolves to the reply. */
    sendMessage(text: string, options?: { abortSignal?: AbortSignal }): Promise<ChatStream>;
    /** Sends UI messages as they are; resolves to the reply's chunk stream. */
    sendRaw(
        messages:
            | UIMessage[]
            | Array<{
                  id: string;
                  role: string;
                  parts?: unknown[];
                  [key: string]: unknown;
              }>,
        options?: {
            trigger?: "submit-message" | "regenerate-message";
            abortSignal?: AbortSignal;
        },
    ): Promise<ReadableStream<UIMessageChunk>>;
    /** A message for the running turn; resolves to whether it was sent. */
    steer(text: string): Promise<boolean>;
    /** Stops the current reply; the agent waits for the next message. */
    stop(): Promise<void>;
    /** For a head-start route: hands its first step over to the parked run. */
    sendHandover(args: {
        partialAssistantMessage: ModelMessage[];
        messageId?: string;
        isFinal: boolean;
    }): Promise<void>;
    /** For a head-start route: the first turn needs nothing more from the run. */
    sendHandoverSkip(): Promise<void>;
    /** Sends a custom action (the agent's `onAction`); resolves to its reply. */
    sendAction(action: unknown, options?: { abortSignal?: AbortSignal }): Promise<ChatStream>;
    /** Ends the conversation; resolves to whether that was sent. */
    close(): Promise<boolean>;
    /**
     * Resumes the reply stream of a session started earlier; `null` before
     * the session exists.
     */
    reconnect(abortSignal?: AbortSignal): Promise<ReadableStream<UIMessageChunk> | null>;
}
