// An in-memory stand-in for the Trigger.dev Sessions realtime API, installed
// as `globalThis.fetch`. It keeps one output log per chat (S2-style records
// with increasing seq_num) and serves it as `event: batch` SSE, honouring
// Last-Event-ID, so reconnects and resumes behave like the real service.

const encoder = new TextEncoder();

const APPEND = /\/realtime\/v1\/sessions\/([^/]+)\/in\/append$/;
const OUT = /\/realtime\/v1\/sessions\/([^/]+)\/out$/;

function headerOf(init, name) {
    const headers = init?.headers;
    if (!headers) return undefined;
    if (typeof headers.get === "function") return headers.get(name) ?? undefined;
    const key = Object.keys(headers).find((k) => k.toLowerCase() === name.toLowerCase());
    return key === undefined ? undefined : headers[key];
}

// `foreignBytes`: enqueue TextEncoder output as it is. Under vitest's jsdom
// environment that is a Uint8Array of another realm (`instanceof Uint8Array`
// is false), just like bytes from many fetch mocks; by default the body
// chunks are copied into this realm's Uint8Array.
export function createFakeSessions({ foreignBytes = false } = {}) {
    const chats = new Map();
    const appends = [];
    const outRequests = [];
    // Scripted replies: each append of a user message takes the next one.
    const replies = [];

    const toBytes = (text) => (foreignBytes ? encoder.encode(text) : Uint8Array.from(encoder.encode(text)));

    const chat = (chatId) => {
        let entry = chats.get(chatId);
        if (!entry) {
            entry = { records: [], waiters: new Set(), nextSeq: 1 };
            chats.set(chatId, entry);
        }
        return entry;
    };

    const wake = (entry) => {
        for (const waiter of [...entry.waiters]) waiter();
    };

    /** Appends UI message chunks (and, optionally, the turn end) to a chat's log. */
    function write(chatId, chunks, { turnComplete = false, token } = {}) {
        const entry = chat(chatId);
        for (const chunk of chunks) {
            const seq = entry.nextSeq++;
            entry.records.push({
                seq_num: seq,
                timestamp: 1_700_000_000_000 + seq,
                body: JSON.stringify({ data: chunk, id: `part-${chatId}-${seq}` }),
                headers: [],
            });
        }
        if (turnComplete) {
            const seq = entry.nextSeq++;
            const headers = [["trigger-control", "turn-complete"]];
            if (token) headers.push(["public-access-token", token]);
            entry.records.push({ seq_num: seq, timestamp: 1_700_000_000_000 + seq, body: "", headers });
        }
        wake(entry);
    }

    function serveOut(chatId, init) {
        const entry = chat(chatId);
        const lastEventId = headerOf(init, "Last-Event-ID");
        const signal = init?.signal;
        outRequests.push({ chatId, lastEventId, headers: init?.headers, signal });
        let cursor = lastEventId === undefined ? 0 : Number(lastEventId);
        let cleanup = () => {};
        const body = new ReadableStream({
            start(controller) {
                const pump = () => {
                    const fresh = entry.records.filter((r) => r.seq_num > cursor);
                    if (fresh.length > 0) {
                        cursor = fresh[fresh.length - 1].seq_num;
                        try {
                            controller.enqueue(
                                toBytes(`event: batch\ndata: ${JSON.stringify({ records: fresh })}\n\n`),
                            );
                        } catch {
                            cleanup();
                        }
                    }
                };
                entry.waiters.add(pump);
                const onAbort = () => {
                    cleanup();
                    try {
                        controller.error(new DOMException("The operation was aborted.", "AbortError"));
                    } catch {
                        /* already closed */
                    }
                };
                cleanup = () => {
                    entry.waiters.delete(pump);
                    signal?.removeEventListener("abort", onAbort);
                };
                signal?.addEventListener("abort", onAbort);
                pump();
            },
            cancel() {
                cleanup();
            },
        });
        return new Response(body, { status: 200, headers: { "content-type": "text/event-stream", "X-Stream-Version": "v2" },
        });
    }

    async function fetch(input, init = {}) {
        const url = typeof input === "string" ? input : input instanceof URL ? input.href : input.url;
        let match = APPEND.exec(url);
        if (match && (init.method ?? "GET").toUpperCase() === "POST") {
            const chatId = decodeURIComponent(match[1]);
            const payload = JSON.parse(init.body);
            appends.push({ chatId, url, payload, headers: init.headers });
            if (payload.kind === "message" && payload.payload?.trigger === "submit-message") {
                const reply = replies.shift();
                if (reply) queueMicrotask(() => reply(chatId, payload.payload));
            }
            return new Response("{}", { status: 200, headers: { "content-type": "application/json" } });
        }
        match = OUT.exec(url);
        if (match) return serveOut(decodeURIComponent(match[1]), init);
        return new Response("not found", { status: 404 });
    }

    return {
        fetch,
        write,
        appends,
        outRequests,
        /** Queues a reply: `fn(chatId, payload)` runs after the next user message is appended. */
        onNextMessage(fn) {
            replies.push(fn);
        },
        /** Queues a reply that writes the chunks and ends the turn at once. */
        replyWith(chunks) {
            replies.push((chatId) => write(chatId, chunks, { turnComplete: true }));
        },
        records(chatId) {
            return chat(chatId).records;
        },
        install() {
            const previous = globalThis.fetch;
            globalThis.fetch = fetch;
            return () => {
                globalThis.fetch = previous;
            };
        },
    };
}

/** The chunks of a plain text reply, as a chat agent streams it. */
export function textReply(messageId, text, pieces = 3) {
    const size = Math.ceil(text.length / pieces);
    const deltas = [];
    for (let i = 0; i < text.length; i += size) deltas.push(text.slice(i, i + size));
    return [
        { type: "start", messageId },
        { type: "start-step" },
        { type: "text-start", id: `${messageId}-t` },
        ...deltas.map((delta) => ({ type: "text-delta", id: `${messageId}-t`, delta })),
        { type: "text-end", id: `${messageId}-t` },
        { type: "finish-step" },
        { type: "finish" },
    ];
}

export function userMessage(id, text) {
    return { id, role: "user", parts: [{ type: "text", text }] };
}

/** Resolves once `predicate()` is true, checking after every macrotask. */
export async function until(predicate, what = "condition", limit = 2000) {
    for (let i = 0; i < limit; i++) {
        if (predicate()) return;
        await new Promise((resolve) => setTimeout(resolve, 5));
    }
    throw new Error(`timed out waiting for ${what}`);
}
