// What the shim adds to the engine's `onEvent` events, as 4.8.3 reports
// them:
// - `messageId`: a send without one (useChat leaves `messageId` undefined on
//   `submit-message`) is attributed to the last message it sent, and the
//   reply's events (`stream-connected`, `first-chunk`, `turn-completed`) to
//   the chat's last turn-producing send;
// - `error` is always an `Error` (what the app's callbacks threw may be
//   anything).
// The engine's own values win when it has them.

const TURN_SOURCES = ["submit-message", "regenerate-message", "head-start"];
const REPLY_EVENTS = ["stream-connected", "first-chunk", "turn-completed"];

const asError = (value) => (value instanceof Error ? value : new Error(String(value)));

export class EventAttribution {
    // chatId -> message id of the send in flight (set before its append;
    // `undefined`: none)
    #sending = new Map();
    // chatId -> message id of the last turn-producing send that went out
    // (`undefined`: none)
    #lastTurn = new Map();

    /** Before a `sendMessages` append: the id its events are attributed to. */
    noteSend(options) {
        const chatId = options?.chatId;
        if (typeof chatId !== "string") return;
        const messages = Array.isArray(options.messages) ? options.messages : [];
        const id = options.messageId ?? messages.at(-1)?.id;
        this.#sending.set(chatId, typeof id === "string" ? id : undefined);
    }

    /** `callback` with the events completed; `undefined` stays `undefined`. */
    wrap(callback) {
        if (typeof callback !== "function") return callback;
        return (event) => callback(this.#complete(event));
    }

    // A copy of the runner's `event`, completed.
    #complete(event) {
        const out = { ...event };
        const { type, chatId, messageId } = event;
        if ("error" in event && !(event.error instanceof Error)) out.error = asError(event.error);
        let id;
        if (type === "message-sent" || type === "message-send-failed") {
            if (TURN_SOURCES.includes(event.source)) {
                id = messageId ?? this.#sending.get(chatId);
                if (type === "message-sent") this.#lastTurn.set(chatId, id);
                this.#sending.delete(chatId);
            }
        } else if (REPLY_EVENTS.includes(type)) {
            id = messageId ?? this.#lastTurn.get(chatId);
        }
        if (id !== undefined) out.messageId = id;
        return out;
    }
}
