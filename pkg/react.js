"use client";
// React bindings for trigger-chat-wasm. Same hooks and return shapes as
// `@trigger.dev/sdk/chat/react`.
//
// The transport is imported through the package's own name so that every
// environment gets its matching entry (the browser build or the Node build)
// and so that this module and an app importing "trigger-chat-wasm" share one
// class.
import { useCallback, useEffect, useRef, useState } from "react";
import { TriggerChatTransport } from "trigger-chat-wasm";
import { createSubAgentMessages } from "./sub-agent.js";

// Part type the agent writes into the assistant message when it has injected
// pending (steering) messages into the running response.
const INJECTION_PART_TYPE = "data-pending-message-injected";

/**
 * Creates one TriggerChatTransport for the calling component and returns the
 * same instance on every render. `onSessionChange` and `clientData` are read
 * from the latest render and handed to the transport without recreating it.
 *
 * The transport is deliberately not disposed when the component unmounts:
 * React runs effect cleanups during Strict Mode's double mount and while a
 * subtree is hidden, and the instance returned from render must stay usable
 * afterwards. Tab coordination releases its claims on page unload.
 */
export function useTriggerChatTransport(options) {
    const holder = useRef(null);
    if (holder.current === null) {
        holder.current = new TriggerChatTransport(options);
    }
    const transport = holder.current;
    const { onSessionChange, clientData, onEvent, accessToken, startSession } = options;
    const fetchOverride = options.fetch;

    // Callbacks and clientData may change between renders (inline arrow
    // functions do on every render); the transport takes the latest without
    // being recreated. Setting all of them again is cheap.
    useEffect(() => {
        transport.setOnSessionChange(onSessionChange);
        transport.setClientData(clientData);
        transport.setOnEvent(onEvent);
        // Required at construction; an absent value here keeps the current one.
        if (typeof accessToken === "function") transport.setAccessToken(accessToken);
        transport.setStartSession(startSession);
        transport.setFetch(fetchOverride);
    }, [transport, onSessionChange, clientData, onEvent, accessToken, startSession, fetchOverride]);

    return transport;
}

const scheduleIdle = (fn) =>
    typeof requestIdleCallback === "function" ? requestIdleCallback(fn) : setTimeout(fn, 50);

const cancelIdle = (handle) => {
    if (typeof cancelIdleCallback === "function") cancelIdleCallback(handle);
    else clearTimeout(handle);
};

/**
 * Keeps a chat's messages in sync across browser tabs (needs a transport
 * created with `multiTab: true`). The tab holding the chat's claim (the one
 * sending) shares its messages while it holds it, and once more when its
 * claim is gone, so the other tabs end with the final list; every tab applies
 * the lists it receives through `setMessages`. Tabs that do not hold the chat
 * while another one does report `isReadOnly: true`.
 */
export function useMultiTabChat(transport, chatId, messages, setMessages) {
    const [isReadOnly, setIsReadOnly] = useState(() => transport.isReadOnly(chatId));
    const latest = useRef(messages);
    latest.current = messages;
    const idleHandle = useRef(null);

    // Follow the read-only state of this chat.
    useEffect(() => {
        const onReadOnly = (id, readOnly) => {
            if (id === chatId) setIsReadOnly(readOnly);
        };
        transport.addReadOnlyListener(onReadOnly);
        setIsReadOnly(transport.isReadOnly(chatId));
        return () => transport.removeReadOnlyListener(onReadOnly);
    }, [transport, chatId]);

    // While this tab holds the claim: share the newest list when the browser
    // is idle (at most one share pending), so cloning a long conversation
    // never competes with rendering the stream.
    useEffect(() => {
        if (!transport.hasClaim(chatId) || messages.length === 0) return;
        if (idleHandle.current !== null) return;
        idleHandle.current = scheduleIdle(() => {
            idleHandle.current = null;
            if (transport.hasClaim(chatId)) transport.broadcastMessages(chatId, latest.current);
        });
    }, [transport, chatId, messages]);

    // Without the claim (on mount, and when the read-only state changes):
    // share the final list once, now, in place of a pending idle share.
    useEffect(() => {
        if (transport.hasClaim(chatId) || latest.current.length === 0) return;
        if (idleHandle.current !== null) {
            cancelIdle(idleHandle.current);
            idleHandle.current = null;
        }
        transport.broadcastMessages(chatId, latest.current);
    }, [transport, chatId, isReadOnly]);

    useEffect(
        () => () => {
            if (idleHandle.current !== null) cancelIdle(idleHandle.current);
            idleHandle.current = null;
        },
        [],
    );

    // Apply what other tabs share for this chat.
    useEffect(() => {
        const onMessages = (id, shared) => {
            if (id === chatId) setMessages(shared);
        };
        transport.addMessagesListener(onMessages);
        return () => transport.removeMessagesListener(onMessages);
    }, [transport, chatId, setMessages]);

    return { isReadOnly };
}

const newId = () =>
    typeof crypto !== "undefined" && typeof crypto.randomUUID === "function"
        ? crypto.randomUUID()
        : `pending-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 10)}`;

const textOf = (entry) => entry.message.parts[0]?.text ?? "";

/** Whether a message part marks where the agent injected pending messages. */
export function isInjectionPart(part) {
    return typeof part === "object" && part !== null && part.type === INJECTION_PART_TYPE;
}

/** The ids of the messages an injection-point part lists (none for other parts). */
export function injectedMessageIdsOf(part) {
    if (!isInjectionPart(part)) return [];
    const ids = part.data?.messageIds;
    return Array.isArray(ids) ? ids : [];
}

/** The messages an injection-point part lists (none for other parts). */
export function injectedMessagesOf(part) {
    if (!isInjectionPart(part)) return [];
    const list = part.data?.messages;
    return Array.isArray(list) ? list : [];
}

/** Every injected message id found in the assistant messages, in order. */
export function collectInjectedMessageIds(messages) {
    const ids = [];
    for (const message of messages) {
        if (message?.role !== "assistant") continue;
        for (const part of message.parts ?? []) ids.push(...injectedMessageIdsOf(part));
    }
    return ids;
}

const reportSendFailure = (error) => {
    if (typeof console !== "undefined") {
        console.warn("trigger-chat-wasm: sending a pending message failed", error);
    }
};

/**
 * Messages typed while a response streams: `steer` sends them to the running
 * turn right away (the agent may inject them between steps), `queue` holds
 * them for the next turn. When the turn ends, whatever was not injected is
 * sent as one new user message.
 */
export function usePendingMessages(options) {
    // `setMessages` is part of the options for API compatibility; the hook
    // itself never rewrites the conversation.
    const { transport, chatId, status, messages, sendMessage, metadata } = options;

    // Each entry: { message: UIMessage, mode: "steering" | "queued" }.
    const [entries, setEntries] = useState([]);
    const entriesRef = useRef(entries);
    entriesRef.current = entries;
    const injected = useRef(new Set());
    const promoted = useRef(new Set());
    const lastStatus = useRef(status);

    const sendAsTurn = useCallback(
        (text) => {
            if (metadata) sendMessage({ text }, { metadata });
            else sendMessage({ text });
        },
        [sendMessage, metadata],
    );

    // While streaming, watch assistant messages for injection markers and
    // drop the injected entries from the pending list.
    useEffect(() => {
        if (status !== "streaming") return;
        let changed = false;
        for (const message of messages) {
            if (message.role !== "assistant") continue;
            for (const part of message.parts ?? []) {
                if (part.type !== INJECTION_PART_TYPE) continue;
                const ids = part.data?.messageIds;
                if (!Array.isArray(ids)) continue;
                for (const id of ids) {
                    if (!injected.current.has(id)) {
                        injected.current.add(id);
                        changed = true;
                    }
                }
            }
        }
        if (changed) {
            setEntries((list) => list.filter((entry) => !injected.current.has(entry.message.id)));
        }
    }, [status, messages]);

    // A turn ended (streaming -> ready): send what was not injected as the
    // next turn and start over.
    useEffect(() => {
        const ended = lastStatus.current === "streaming" && status === "ready";
        lastStatus.current = status;
        if (!ended) return;
        const leftover = entries.filter((entry) => !injected.current.has(entry.message.id));
        setEntries([]);
        injected.current.clear();
        promoted.current.clear();
        if (leftover.length > 0) {
            sendAsTurn(leftover.map(textOf).join("\n"));
        }
    }, [status, entries, sendAsTurn, messages]);

    const makeEntry = (text, mode) => ({
        message: { id: newId(), role: "user", parts: [{ type: "text", text }] },
        mode,
    });

    const steer = useCallback(
        (text) => {
            if (status !== "streaming") {
                sendAsTurn(text);
                return;
            }
            const entry = makeEntry(text, "steering");
            transport.sendPendingMessage(chatId, entry.message, metadata).catch(reportSendFailure);
            setEntries((list) => [...list, entry]);
        },
        [status, transport, chatId, metadata, sendAsTurn],
    );

    const queue = useCallback(
        (text) => {
            if (status !== "streaming") {
                sendAsTurn(text);
                return;
            }
            const entry = makeEntry(text, "queued");
            setEntries((list) => [...list, entry]);
        },
        [status, sendAsTurn],
    );

    const promoteToSteering = useCallback(
        (id) => {
            // The ref makes a double click a no-op even before React re-renders.
            if (promoted.current.has(id)) return;
            const entry = entriesRef.current.find((candidate) => candidate.message.id === id);
            if (!entry || entry.mode !== "queued") return;
            promoted.current.add(id);
            // Send outside of any state updater: updaters may run twice.
            transport.sendPendingMessage(chatId, entry.message, metadata).catch(reportSendFailure);
            setEntries((list) =>
                list.map((candidate) =>
                    candidate.message.id === id ? { ...candidate, mode: "steering" } : candidate,
                ),
            );
        },
        [transport, chatId, metadata],
    );

    const isInjectionPoint = useCallback((part) => isInjectionPart(part), []);

    const getInjectedMessageIds = useCallback((part) => injectedMessageIdsOf(part), []);

    const getInjectedMessages = useCallback((part) => injectedMessagesOf(part), []);

    const pending = entries.map((entry) => ({
        id: entry.message.id,
        text: textOf(entry),
        mode: entry.mode,
        injected: injected.current.has(entry.message.id),
    }));

    return {
        pending,
        steer,
        queue,
        promoteToSteering,
        isInjectionPoint,
        getInjectedMessageIds,
        getInjectedMessages,
    };
}

/**
 * Moves the transport's resume cursor for `chatId` to a loaded transcript's
 * `cursors.lastOutEventId`, so the live stream opens just past the history
 * the page already shows (held by the transport until the chat's session
 * exists). Returns whether there was a cursor to seed.
 */
export function seedTranscriptCursor(transport, chatId, cursors) {
    const lastEventId = cursors?.lastOutEventId;
    if (typeof lastEventId !== "string" || lastEventId === "") return false;
    transport.seedResumeCursor(chatId, lastEventId);
    return true;
}

/**
 * Loads a chat's history with the app's `load({ chatId, limit? })` (for
 * example a server action) before the chat connects, and seeds the
 * transport's resume cursor from the result. Loads again when `chatId`
 * changes; `undefined` loads nothing. Results of a superseded load are
 * dropped.
 */
export function useLoadTranscript(chatId, load, options) {
    const empty = { messages: [], error: undefined, nextCursor: undefined };
    const [state, setState] = useState(() => ({ chatId, isLoading: chatId !== undefined, ...empty }));
    const loadRef = useRef(load);
    loadRef.current = load;
    const transportRef = useRef(options?.transport);
    transportRef.current = options?.transport;
    const limit = options?.limit;

    useEffect(() => {
        if (chatId === undefined) {
            setState({ chatId, isLoading: false, ...empty });
            return undefined;
        }
        let current = true;
        setState({ chatId, isLoading: true, ...empty });
        const args = limit === undefined ? { chatId } : { chatId, limit };
        Promise.resolve()
            .then(() => loadRef.current(args))
            .then(
                (result) => {
                    if (!current) return;
                    if (transportRef.current) seedTranscriptCursor(transportRef.current, chatId, result?.cursors);
                    setState({
                        chatId,
                        isLoading: false,
                        messages: Array.isArray(result?.messages) ? result.messages : [],
                        error: undefined,
                        nextCursor: result?.nextCursor,
                    });
                },
                (cause) => {
                    if (!current) return;
                    const error = cause instanceof Error ? cause : new Error(String(cause));
                    setState({ chatId, isLoading: false, ...empty, error });
                },
            );
        return () => {
            current = false;
        };
        // `empty` is rebuilt each render on purpose; only these inputs matter.
        // eslint-disable-next-line react-hooks/exhaustive-deps
    }, [chatId, limit]);

    // Until the effect for a new chatId has run, report that chat as loading.
    if (state.chatId !== chatId) return { ...empty, isLoading: chatId !== undefined };
    return { messages: state.messages, isLoading: state.isLoading, error: state.error, nextCursor: state.nextCursor };
}

/**
 * Sends custom actions (the agent's `onAction`) through `useChat`'s
 * `sendMessage`, so `useChat` owns the reply: an action that becomes a turn
 * renders like a message turn, and `stop` works. Returns `{ sendAction }`.
 */
export function useChatActions({ sendMessage }) {
    const latest = useRef(sendMessage);
    latest.current = sendMessage;
    const sendAction = useCallback(async (action) => {
        await latest.current(undefined, { body: { action } });
    }, []);
    return { sendAction };
}

/**
 * Sub-agents forwarded by the server's `chat.forwardSubAgent`, shown while
 * they run: pass `onData` to `useChat({ onData })` and read a sub-agent's
 * message with `get(toolCallId)` (fall back to the tool part's `output` once
 * the call has finished or after a reload). Messages are rebuilt at most
 * once per `throttleMs`; the component re-renders when one changes.
 */
export function useSubAgentMessages(options) {
    const [, setVersion] = useState(0);
    const mounted = useRef(false);
    const store = useRef(null);
    if (store.current === null) {
        store.current = createSubAgentMessages({
            throttleMs: options?.throttleMs,
            onChange: () => {
                if (mounted.current) setVersion((v) => v + 1);
            },
        });
    }
    useEffect(() => {
        mounted.current = true;
        return () => {
            mounted.current = false;
        };
    }, []);
    return { onData: store.current.onData, get: store.current.get };
}
