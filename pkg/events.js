// What the shim adds to the engine's `onEvent` events, as 4.8.3 reports
// them:
// - `messageId`: a send without one (useChat leaves `messageId` undefined on
//   `submit-message`) is attributed to the last message it sent, and the
//   reply's events (`stream-connected`, `first-chunk`, `turn-completed`) to
//   the chat's last turn-producing send;
// - `error` is always an `Error` (what the app's callbacks threw may be
//   anything).
// The engine's own values win when it has them.

const TURN_SOURCES = new Set(["submit-message", "regenerate-message", "head-start"]);
const REPLY_EVENTS = new Set(["stream-connected", "first-chunk", "turn-completed"]);

const asError = (value) => (value instanceof Error ? value : new Error(String(value)));

export class EventAttribution {
    // chatId -> message id of the send in flight (set before its append)
    #sending = new Map();
    // chatId -> message id of the last turn-producing send that went out
    #lastTurn = new Map();

    /** Before a `sendMessages` append: the id its events are attributed to. */
    noteSend(options) {
        const chatId = options?.chatId;
        if (typeof chatId !== "string") return;
        const messages = Array.isArray(options.messages) ? options.messages : [];
        const id = options.messageId ?? messages.at(-1)?.id;
        if (typeof id === "string") this.#sending.set(chatId, id);
        else this.#sending.delete(chatId);
    }

    /** `callback` with the events completed; `undefined` stays `undefined`. */
    wrap(callback) {
        if (typeof callback !== "function") return callback;
        return (event) => callback(this.#complete(event));
    }

    #complete(event) {
        if (!event || typeof event !== "object") return event;
        let out = event;
        const set = (key, value) => {
            if (out === event) out = { ...event };
            out[key] = value;
        };
        if ("error" in event && !(event.error instanceof Error)) set("error", asError(event.error));
        const chatId = event.chatId;
        if (event.type === "message-sent" || event.type === "message-send-failed") {
            if (TURN_SOURCES.has(event.source)) {
                const id = event.messageId ?? this.#sending.get(chatId);
                if (event.messageId === undefined && id !== undefined) set("messageId", id);
                if (event.type === "message-sent") {
                    if (id !== undefined) this.#lastTurn.set(chatId, id);
                    else this.#lastTurn.delete(chatId);
                }
                this.#sending.delete(chatId);
            }
        } else if (REPLY_EVENTS.has(event.type) && event.messageId === undefined) {
            const id = this.#lastTurn.get(chatId);
            if (id !== undefined) set("messageId", id);
        }
        return out;
    }
}
