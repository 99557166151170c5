/**
 * Sub-agent messages: rebuild, in the browser, what a sub-agent streams
 * inside a parent tool call (`chat.forwardSubAgent` on the server).
 */
import type { UIMessage, UIMessageChunk } from "ai";

/** The data part type that carries a sub-agent's chunks on the parent's stream. */
export declare const SUB_AGENT_DATA_TYPE = "data-subagent";

/** One forwarded batch of a sub-agent's chunks. */
export type SubAgentChunkBatch = {
    /** The parent's tool call the sub-agent runs in. */
    toolCallId: string;
    /** The batch's position in the sub-agent's stream, from 0. */
    seq: number;
    /** The sub-agent's chunks, in order. */
    chunks: UIMessageChunk[];
};

/** The transient data chunk a forwarded batch travels in. */
export type SubAgentDataChunk = {
    type: typeof SUB_AGENT_DATA_TYPE;
    data: SubAgentChunkBatch;
    transient: true;
};

/** Options of {@link createSubAgentMessages}. */
export type SubAgentMessagesOptions = {
    /**
     * The least time between two rebuilds of a sub-agent's message while it
     * streams (each rebuild reads all its chunks so far).
     * @default 100
     */
    throttleMs?: number;
    /** Called after a rebuild changed one or more messages. */
    onChange?: () => void;
};

/** What {@link createSubAgentMessages} returns. */
export type SubAgentMessages<TUIMessage extends UIMessage = UIMessage> = {
    /** Give it every data part (e.g. `useChat({ onData })`); other parts are ignored. */
    onData: (part: { type: string; data?: unknown }) => void;
    /** A sub-agent's message so far, by the parent's tool call id; `undefined` before its first rebuild. */
    get: (toolCallId: string) => TUIMessage | undefined;
    /** Cancels a pending rebuild and forgets every message. */
    dispose: () => void;
};

/**
 * Rebuilds sub-agent messages from forwarded batches, taking each tool
 * call's batches strictly in order (a replayed or early batch is dropped).
 * React apps use `useSubAgentMessages` from `trigger-chat-wasm/react`.
 */
export declare function createSubAgentMessages<TUIMessage extends UIMessage = UIMessage>(
    options?: SubAgentMessagesOptions,
): SubAgentMessages<TUIMessage>;
