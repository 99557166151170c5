// Sub-agent messages: an agent that runs another agent inside a tool call
// (`chat.forwardSubAgent` on the server) forwards the sub-agent's reply as
// transient `data-subagent` parts, in numbered batches of UI message chunks.
// `createSubAgentMessages` rebuilds each sub-agent's message from them, at
// most once per `throttleMs`, for the parent's tool card to show while the
// call runs.
//
// Batches are taken strictly in order per tool call: a batch whose `seq` is
// not the next one expected is dropped. That skips the batches a resumed
// stream replays, and a batch that arrives ahead of a missing one (which a
// replay brings again, in order).

/** The data part type that carries a sub-agent's chunks on the parent's stream. */
export const SUB_AGENT_DATA_TYPE = "data-subagent";

const DEFAULT_THROTTLE_MS = 100;
// A long rebuild hands the event loop back this often.
const SLICE_MS = 10;

const pause = () =>
    typeof setImmediate === "function"
        ? new Promise((resolve) => setImmediate(resolve))
        : new Promise((resolve) => setTimeout(resolve, 0));

const now = () => (typeof performance !== "undefined" ? performance.now() : Date.now());

// Whether the AI SDK's `readUIMessageStream` would show a message after this
// chunk: chunks that only carry bookkeeping (step marks, errors, transient
// data, a start without id or metadata) show nothing by themselves.
function showsMessage(chunk) {
    if (!chunk || typeof chunk.type !== "string") return false;
    switch (chunk.type) {
        case "start":
            return chunk.messageId != null || chunk.messageMetadata != null;
        case "finish":
        case "message-metadata":
            return chunk.messageMetadata != null;
        case "start-step":
        case "finish-step":
        case "error":
        case "abort":
            return false;
        default:
            return !(chunk.type.startsWith("data-") && chunk.transient === true);
    }
}

let aiModule;
async function ai() {
    aiModule ??= import("ai").catch((cause) => {
        aiModule = undefined;
        throw new Error("sub-agent messages need the `ai` package (the AI SDK) installed", { cause });
    });
    return aiModule;
}

// Runs `count` chunks through the AI SDK's own message builder, one chunk in
// flight at a time (a long queue of pending chunks would make each dequeue
// slower), and returns the message it finishes with, or where it failed.
async function build(createUIMessageStream, chunks, count) {
    let finished;
    let consumed = 0;
    let wake;
    let stopped = false;
    const stream = createUIMessageStream({
        generateId: () => "",
        async execute({ writer }) {
            for (let i = 0; i < count && !stopped; i++) {
                // A copy: the builder writes into start chunks and keeps data chunks.
                writer.write({ ...chunks[i] });
                if (consumed <= i) await new Promise((resolve) => (wake = resolve));
            }
        },
        onFinish({ responseMessage }) {
            finished = responseMessage;
        },
    });
    const reader = stream.getReader();
    let sliceStart = now();
    try {
        for (;;) {
            const { done } = await reader.read();
            if (done) break;
            consumed++;
            wake?.();
            wake = undefined;
            if (now() - sliceStart >= SLICE_MS) {
                await pause();
                sliceStart = now();
            }
        }
    } catch {
        return { failedAt: consumed };
    } finally {
        stopped = true;
        wake?.();
        reader.releaseLock();
    }
    return { message: finished };
}

/**
 * The message a list of UI message chunks builds, as the AI SDK builds it;
 * `undefined` when none of them would show a message. A malformed chunk
 * ends the message at the chunk before it.
 */
export async function reduceChunks(chunks) {
    const { createUIMessageStream } = await ai();
    let count = chunks.length;
    while (chunks.slice(0, count).some(showsMessage)) {
        const outcome = await build(createUIMessageStream, chunks, count);
        if ("message" in outcome) return outcome.message === undefined ? undefined : structuredClone(outcome.message);
        if (outcome.failedAt >= count) return undefined;
        count = outcome.failedAt;
    }
    return undefined;
}

/**
 * Sub-agent messages rebuilt from forwarded chunks: pass `onData` every data
 * part (`useChat({ onData })`), read a message with `get(toolCallId)`.
 */
export function createSubAgentMessages(options = {}) {
    const throttleMs = options.throttleMs ?? DEFAULT_THROTTLE_MS;
    const onChange = options.onChange;
    // toolCallId -> { chunks, nextSeq, message, dirty, finished }
    const calls = new Map();
    let timer;
    let running = false;
    let disposed = false;

    const schedule = () => {
        if (timer !== undefined || running || disposed) return;
        timer = setTimeout(rebuild, throttleMs);
    };

    const rebuild = async () => {
        timer = undefined;
        running = true;
        let changed = false;
        try {
            for (const call of calls.values()) {
                if (!call.dirty) continue;
                call.dirty = false;
                let message;
                try {
                    message = await reduceChunks(call.chunks);
                } catch {
                    message = undefined;
                }
                if (disposed) return;
                if (message) {
                    call.message = message;
                    changed = true;
                }
                // A finished reply is built for good: its chunks can go.
                if (call.finished && !call.dirty) call.chunks = [];
            }
        } finally {
            running = false;
        }
        if (changed) {
            try {
                onChange?.();
            } catch {
                // The listener's failure is its own.
            }
        }
        for (const call of calls.values()) {
            if (call.dirty) {
                schedule();
                break;
            }
        }
    };

    return {
        onData(part) {
            if (disposed || !part || part.type !== SUB_AGENT_DATA_TYPE) return;
            const batch = part.data;
            if (!batch || typeof batch.toolCallId !== "string" || !Array.isArray(batch.chunks)) return;
            let call = calls.get(batch.toolCallId);
            if (!call) {
                call = { chunks: [], nextSeq: 0, message: undefined, dirty: false, finished: false };
                calls.set(batch.toolCallId, call);
            }
            if (batch.seq !== call.nextSeq) return;
            call.nextSeq += 1;
            for (const chunk of batch.chunks) {
                call.chunks.push(chunk);
                if (chunk?.type === "finish") call.finished = true;
            }
            call.dirty = true;
            schedule();
        },
        get(toolCallId) {
            return calls.get(toolCallId)?.message;
        },
        dispose() {
            disposed = true;
            if (timer !== undefined) clearTimeout(timer);
            timer = undefined;
            calls.clear();
        },
    };
}
