// AgentChat and ChatStream: the server-side chat client of
// `@trigger.dev/sdk/chat`, over the same engine as the browser transport.
//
// An AgentChat is one conversation. It creates (or re-pins) the chat's
// session with the environment's secret key (`POST /api/v1/sessions`), then
// drives a private TriggerChatTransport whose token is that key: messages,
// steering, stops and actions go to `.in`, replies are read from `.out`, with
// the engine's reconnects, de-duplication and turn correlation.
//
// Credentials and API origin come from where the vendor's SDK reads them:
// `configure()` from `@trigger.dev/sdk` when the app called it (its global
// registry), else TRIGGER_SECRET_KEY / TRIGGER_ACCESS_TOKEN and
// TRIGGER_API_URL; TRIGGER_PREVIEW_BRANCH (or VERCEL_GIT_COMMIT_REF) selects a
// preview branch. The key only ever travels in Authorization headers.

import { TriggerChatTransport } from "./transport.js";

const DEFAULT_API = "https://api.trigger.dev";
const MAX_TAGS = 10;
const MAX_TAG_LENGTH = 128;

// ---------------------------------------------------------------------------
// Configuration

function envVar(name) {
    const env = globalThis.process?.env;
    const value = env?.[name];
    return typeof value === "string" && value !== "" ? value : undefined;
}

// What `configure()` of @trigger.dev/sdk registered, if the app loaded it.
function sdkConfig() {
    try {
        const registry = globalThis[Symbol.for("dev.trigger.ts.api")];
        const manager = registry?.["api-client"];
        return manager && typeof manager === "object" ? manager : undefined;
    } catch {
        return undefined;
    }
}

function apiOrigin() {
    return sdkConfig()?.baseURL ?? envVar("TRIGGER_API_URL") ?? DEFAULT_API;
}

function secretKey() {
    const config = sdkConfig();
    const key =
        config?.secretKey ?? config?.accessToken ?? envVar("TRIGGER_SECRET_KEY") ?? envVar("TRIGGER_ACCESS_TOKEN");
    if (typeof key !== "string" || key === "") {
        throw new Error(
            "AgentChat needs the environment's secret key: set TRIGGER_SECRET_KEY " +
                "(or call configure() from @trigger.dev/sdk) on the server",
        );
    }
    return key;
}

function previewBranch() {
    const value =
        sdkConfig()?.previewBranch ?? envVar("TRIGGER_PREVIEW_BRANCH") ?? envVar("VERCEL_GIT_COMMIT_REF");
    return value || undefined;
}

const trimSlash = (url) => String(url).replace(/\/+$/, "");

function randomId() {
    if (typeof globalThis.crypto?.randomUUID === "function") return globalThis.crypto.randomUUID();
    const hex = () => Math.floor(Math.random() * 0x10000).toString(16).padStart(4, "0");
    return `${hex()}${hex()}-${hex()}-4${hex().slice(1)}-a${hex().slice(1)}-${hex()}${hex()}${hex()}`;
}

function apiError(what, status, text) {
    const err = new Error(`${what} failed: ${status}${text ? ` ${text}` : ""}`);
    err.name = "TriggerApiError";
    err.status = status;
    return err;
}

// The session's trigger config, as `sessions.start` sends it.
function triggerConfigBody(chatId, clientData, config, idleTimeoutInSeconds) {
    const chatTag = `chat:${chatId}`;
    const userTags = Array.isArray(config?.tags) ? config.tags : [];
    const tags = (chatTag.length <= MAX_TAG_LENGTH ? [chatTag, ...userTags] : [...userTags]).slice(0, MAX_TAGS);
    const body = {
        basePayload: {
            trigger: "preload",
            ...(config?.basePayload ?? {}),
            chatId,
            ...(clientData ? { metadata: clientData } : {}),
        },
        tags,
    };
    if (config?.machine) body.machine = config.machine;
    if (config?.queue) body.queue = config.queue;
    if (config?.concurrency !== undefined) {
        body.concurrency = Array.isArray(config.concurrency) ? config.concurrency : [config.concurrency];
    }
    for (const key of ["concurrencyKey", "maxAttempts", "maxDuration", "ttl", "externalDeploymentId"]) {
        if (config?.[key] !== undefined) body[key] = config[key];
    }
    if (config?.region) body.region = config.region;
    if (config?.lockToVersion) body.lockToVersion = config.lockToVersion;
    if (idleTimeoutInSeconds !== undefined) body.idleTimeoutInSeconds = idleTimeoutInSeconds;
    return body;
}

// ---------------------------------------------------------------------------
// ChatStream

async function readMessages(stream) {
    let ai;
    try {
        ai = await import("ai");
    } catch (cause) {
        throw new Error("ChatStream.messages() needs the `ai` package (the AI SDK) installed", { cause });
    }
    return ai.readUIMessageStream({ stream });
}

/**
 * One turn's reply. Read it one way: iterate its chunks, `text()`,
 * `result()`, `messages()`, or hand `.stream` to AI SDK utilities.
 */
export class ChatStream {
    #stream;
    #collector;
    #result;
    #onAssistantMessage;

    constructor(stream, onAssistantMessage) {
        this.#onAssistantMessage = onAssistantMessage;
        if (typeof onAssistantMessage === "function") {
            // One branch for the reader, one to build the assistant message.
            const [mine, collected] = stream.tee();
            this.#stream = mine;
            this.#collector = (async () => {
                let last;
                for await (const message of await readMessages(collected)) last = message;
                if (last) onAssistantMessage(last);
            })();
            this.#collector.catch(() => {});
        } else {
            this.#stream = stream;
        }
    }

    /** The chunks as a ReadableStream. */
    get stream() {
        return this.#stream;
    }

    async *[Symbol.asyncIterator]() {
        const reader = this.#stream.getReader();
        try {
            for (;;) {
                const { done, value } = await reader.read();
                if (done) return;
                yield value;
            }
        } finally {
            reader.releaseLock();
        }
    }

    /** The assistant message as it grows, one snapshot per update. */
    async *messages() {
        let last;
        for await (const message of await readMessages(this.#stream)) {
            last = message;
            yield message;
        }
        // With a collector, the collector reports the message (once).
        if (last && this.#onAssistantMessage && !this.#collector) this.#onAssistantMessage(last);
    }

    /** Reads the whole reply: its text, tool calls and tool results. */
    result() {
        this.#result ??= this.#consume();
        return this.#result;
    }

    /** Reads the whole reply and returns its text. */
    async text() {
        return (await this.result()).text;
    }

    async #consume() {
        let text = "";
        const toolCalls = [];
        const toolResults = [];
        for await (const chunk of this) {
            switch (chunk?.type) {
                case "text-delta":
                    text += chunk.delta;
                    break;
                case "tool-input-available":
                    toolCalls.push({ toolName: chunk.toolName, toolCallId: chunk.toolCallId, input: chunk.input });
                    break;
                case "tool-output-available":
                    toolResults.push({ toolCallId: chunk.toolCallId, output: chunk.output });
                    break;
                default:
            }
        }
        return { text, toolCalls, toolResults };
    }
}

// ---------------------------------------------------------------------------
// AgentChat

const emptyStream = () =>
    new ReadableStream({
        start(controller) {
            controller.close();
        },
    });

/** A conversation with a chat agent, from a server. */
export class AgentChat {
    #task;
    #chatId;
    #clientData;
    #triggerConfig;
    #onTriggered;
    #onTurnComplete;
    #baseURL;
    #fetch;
    #streamTimeoutSeconds;
    #transport = null;
    #started;
    #pinned;
    #starting = null;
    #seedLastEventId;

    constructor(options) {
        if (!options || typeof options !== "object") throw new TypeError("AgentChat: options are required");
        if (typeof options.agent !== "string" || options.agent === "") {
            throw new TypeError("AgentChat: `agent` (the agent's task id) must be a non-empty string");
        }
        if (options.id !== undefined && (typeof options.id !== "string" || options.id === "")) {
            throw new TypeError("AgentChat: `id` must be a non-empty string");
        }
        if (options.baseURL !== undefined && typeof options.baseURL !== "string" && typeof options.baseURL !== "function") {
            throw new TypeError("AgentChat: `baseURL` must be a string or a function");
        }
        if (options.fetch !== undefined && typeof options.fetch !== "function") {
            throw new TypeError("AgentChat: `fetch` must be a function");
        }
        this.#task = options.agent;
        this.#chatId = options.id ?? randomId();
        this.#clientData = options.clientData;
        this.#triggerConfig = options.triggerConfig;
        this.#onTriggered = options.onTriggered;
        this.#onTurnComplete = options.onTurnComplete;
        this.#baseURL = options.baseURL;
        this.#fetch = options.fetch;
        this.#streamTimeoutSeconds = options.streamTimeoutSeconds ?? 120;
        // A restored session exists already: no `onTriggered` for it, but the
        // first send still re-pins its trigger config.
        this.#started = !!options.session;
        this.#pinned = !options.session;
        this.#seedLastEventId = options.session?.lastEventId;
    }

    /** The conversation id. */
    get id() {
        return this.#chatId;
    }

    /** What to store to pick this conversation up in a later request. */
    get session() {
        const lastEventId = this.#transport?.getSession(this.#chatId)?.lastEventId ?? this.#seedLastEventId;
        return { lastEventId };
    }

    /** Starts the session (and its first run) now; idempotent. */
    async preload(options) {
        await this.#ensureStarted(options?.idleTimeoutInSeconds);
        return this.session;
    }

    /** Sends a text message; resolves to the reply's stream. */
    async sendMessage(text, options) {
        const message = {
            id: `msg-${Date.now()}-${Math.random().toString(36).slice(2, 8)}`,
            role: "user",
            parts: [{ type: "text", text }],
        };
        return new ChatStream(await this.sendRaw([message], { abortSignal: options?.abortSignal }));
    }

    /** Sends UI messages as they are (the last one goes on the wire). */
    async sendRaw(messages, options) {
        const trigger = options?.trigger ?? "submit-message";
        if (!Array.isArray(messages)) throw new TypeError("AgentChat.sendRaw: `messages` must be an array");
        await this.#ensureStarted();
        if (trigger === "submit-message" && messages.length === 0) {
            throw new Error("AgentChat.sendRaw: 'submit-message' trigger requires at least one message");
        }
        return this.#engine().sendMessages({
            trigger,
            chatId: this.#chatId,
            messageId: undefined,
            messages,
            abortSignal: options?.abortSignal,
        });
    }

    /** A message for the running turn (the agent may inject it). */
    async steer(text) {
        if (!this.#started) return false;
        const message = { id: `steer-${Date.now()}`, role: "user", parts: [{ type: "text", text }] };
        try {
            return await this.#engine().sendPendingMessage(this.#chatId, message);
        } catch {
            return false;
        }
    }

    /** Stops the current reply; the agent waits for the next message. */
    async stop() {
        if (!this.#started) return;
        try {
            await this.#engine().stopGeneration(this.#chatId);
        } catch {
            // A stop that cannot be delivered changes nothing.
        }
    }

    /** Hands a head-start route's first step over to the parked agent run. */
    async sendHandover(args) {
        await this.#append({
            kind: "handover",
            partialAssistantMessage: args.partialAssistantMessage,
            messageId: args.messageId,
            isFinal: args.isFinal,
        });
    }

    /** Tells a parked head-start run that the first turn needs nothing more. */
    async sendHandoverSkip() {
        await this.#append({ kind: "handover-skip" });
    }

    /** Sends a custom action (the agent's `onAction`); resolves to its reply's stream. */
    async sendAction(action, options) {
        await this.#ensureStarted();
        let stream;
        try {
            stream = await this.#engine().sendAction(this.#chatId, action, { abortSignal: options?.abortSignal });
        } catch (cause) {
            throw new Error("Failed to send action. The session may have ended.", { cause });
        }
        return new ChatStream(stream);
    }

    /** Ends the conversation: the agent leaves its loop. Resolves to whether that was sent. */
    async close() {
        if (!this.#started) return false;
        try {
            await this.#append({ kind: "message", payload: { chatId: this.#chatId, trigger: "close" } });
        } catch {
            return false;
        }
        this.#started = false;
        return true;
    }

    /**
     * Resumes the reply stream of a session started earlier (after a
     * disconnect, or in a later request). `null` before the session exists;
     * a stream that ends at once when there is no turn to resume.
     */
    async reconnect(abortSignal) {
        if (!this.#started) return null;
        const stream = await this.#engine().reconnectToStream({ chatId: this.#chatId, abortSignal });
        return stream ?? emptyStream();
    }

    // -- internals ----------------------------------------------------------

    #origin(endpoint) {
        const base =
            typeof this.#baseURL === "function"
                ? this.#baseURL({ endpoint, chatId: this.#chatId })
                : this.#baseURL ?? apiOrigin();
        return trimSlash(base);
    }

    #branchHeaders() {
        const branch = previewBranch();
        return branch ? { "x-trigger-branch": branch } : {};
    }

    // The private transport: created on first use, with the secret key as
    // its token and this conversation's options.
    #engine() {
        if (this.#transport) return this.#transport;
        const key = secretKey();
        const headers = this.#branchHeaders();
        this.#transport = new TriggerChatTransport({
            task: this.#task,
            accessToken: () => secretKey(),
            startSession: async () => {
                await this.#ensureStarted();
                return { publicAccessToken: secretKey() };
            },
            baseURL: ({ endpoint }) => this.#origin(endpoint),
            ...(this.#fetch ? { fetch: this.#fetch } : {}),
            ...(Object.keys(headers).length ? { headers } : {}),
            streamTimeoutSeconds: this.#streamTimeoutSeconds,
            ...(this.#clientData ? { clientData: this.#clientData } : {}),
            sessions: this.#started
                ? {
                      [this.#chatId]: {
                          publicAccessToken: key,
                          ...(this.#seedLastEventId ? { lastEventId: this.#seedLastEventId } : {}),
                      },
                  }
                : {},
            onEvent: (event) => {
                if (event.type === "turn-completed" && this.#onTurnComplete) {
                    const lastEventId = event.lastEventId ?? this.#transport?.getSession(this.#chatId)?.lastEventId;
                    // An async callback's rejection must not become an unhandled one.
                    Promise.resolve()
                        .then(() => this.#onTurnComplete({ chatId: this.#chatId, lastEventId }))
                        .catch(() => {});
                }
            },
        });
        return this.#transport;
    }

    #ensureStarted(idleTimeoutInSeconds) {
        if (this.#started && this.#pinned) return Promise.resolve();
        this.#starting ??= this.#start(idleTimeoutInSeconds).finally(() => {
            this.#starting = null;
        });
        return this.#starting;
    }

    async #start(idleTimeoutInSeconds) {
        const idle = idleTimeoutInSeconds ?? this.#triggerConfig?.idleTimeoutInSeconds;
        const body = {
            type: "chat.agent",
            externalId: this.#chatId,
            taskIdentifier: this.#task,
            triggerConfig: triggerConfigBody(this.#chatId, this.#clientData, this.#triggerConfig, idle),
        };
        const key = secretKey();
        // Like the vendor's `sessions.start`: the SDK's API origin and plain
        // fetch (`baseURL` and `fetch` are for the chat's `.in` / `.out`).
        const response = await globalThis.fetch(`${trimSlash(apiOrigin())}/api/v1/sessions`, {
            method: "POST",
            headers: {
                "Content-Type": "application/json",
                Authorization: `Bearer ${key}`,
                ...this.#branchHeaders(),
            },
            body: JSON.stringify(body),
        });
        if (!response.ok) {
            const text = await response.text().catch(() => "");
            throw apiError("sessions.start", response.status, text);
        }
        const created = await response.json();
        const initial = !this.#started;
        this.#started = true;
        this.#pinned = true;
        // Give the engine the session (keeping the cursor it may already have).
        const engine = this.#engine();
        const current = engine.getSession(this.#chatId);
        const lastEventId = current?.lastEventId ?? this.#seedLastEventId;
        engine.setSession(this.#chatId, {
            ...(current ?? {}),
            publicAccessToken: current?.publicAccessToken ?? key,
            ...(lastEventId ? { lastEventId } : {}),
        });
        if (initial && this.#onTriggered) {
            await this.#onTriggered({ runId: created?.runId, chatId: this.#chatId });
        }
    }

    // One record on `.in` that the transport has no method for (close,
    // handover): one POST with an idempotency key, the vendor's error shape.
    async #append(chunk) {
        const url = `${this.#origin("in")}/realtime/v1/sessions/${encodeURIComponent(this.#chatId)}/in/append`;
        const init = {
            method: "POST",
            headers: {
                "Content-Type": "application/json",
                Authorization: `Bearer ${secretKey()}`,
                "x-trigger-source": "sdk",
                "X-Part-Id": randomId(),
                ...this.#branchHeaders(),
            },
            body: JSON.stringify(chunk),
        };
        const ctx = { endpoint: "in", chatId: this.#chatId };
        const response = await (this.#fetch ? this.#fetch(url, init, ctx) : globalThis.fetch(url, init));
        if (!response.ok) {
            const text = await response.text().catch(() => "");
            throw apiError("appendToSessionStream", response.status, text);
        }
    }
}
