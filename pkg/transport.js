// The public class: the vendor's names and shapes over the Rust transport
// (`Transport`, from the wasm module: options, sends, streams, retries, the
// effects and the app's callbacks are all there). This file only adapts
// calling conventions wasm-bindgen cannot express (class-field arrow
// methods, `resumeStreamIsReplay`, a ReadableStream over a chunk source)
// and coordinates tabs.

import { Transport } from "./wasm/trigger_chat_wasm.js";
import { TabCoordinator } from "./tabs.js";

// A ReadableStream over a chunk source of the transport. Each pull crosses
// into wasm once and may bring back many chunks.
function toStream(source, onEnd) {
  let open = true;
  const end = () => {
    if (!open) return;
    open = false;
    onEnd?.();
  };
  return new ReadableStream({
    async pull(controller) {
      try {
        const batch = await source.next();
        if (batch !== null) {
          for (const chunk of batch) controller.enqueue(chunk);
          return;
        }
        end();
        controller.close();
      } catch (err) {
        end();
        controller.error(err);
      }
    },
    cancel() {
      if (open) source.cancel();
      end();
    },
  });
}

export class TriggerChatTransport {
  #engine;
  #tabs = null;

  constructor(options) {
    this.#engine = new Transport(options);
    // Tabs exist only in a browser: on a server (rendering) there is nothing
    // to coordinate, and a channel and a timer would keep the process alive.
    if (this.#engine.multiTab && typeof window !== "undefined" && typeof document !== "undefined") {
      this.#tabs = new TabCoordinator();
      this.#tabs.sessionListeners.add((chatId, session) => {
        if (session && typeof session.lastEventId === "string") {
          this.#engine.adoptLastEventId(String(chatId), session.lastEventId);
        }
      });
    }
  }

  /** AI SDK 7: a resumed stream replays the current turn from its start. */
  resumeStreamIsReplay = true;

  #ended(chatId) {
    if (!this.#tabs) return undefined;
    return () => {
      this.#tabs.release(chatId);
      const lastEventId = this.#engine.getSession(chatId)?.lastEventId;
      this.#tabs.post("session", chatId, { session: { lastEventId } });
    };
  }

  start(chatId) {
    return this.#engine.start(chatId);
  }

  async preload(chatId) {
    await this.#engine.start(chatId);
  }

  // Claims the chat for this tab for a send; gives the claim back when the
  // send fails before a stream exists.
  async #claimed(chatId, send) {
    const tabs = this.#tabs;
    if (tabs?.isReadOnly(chatId)) throw new Error("This chat is active in another tab");
    tabs?.claim(chatId);
    let source;
    try {
      source = await send();
    } catch (err) {
      this.#tabs?.release(chatId);
      throw err;
    }
    return toStream(source, this.#ended(chatId));
  }

  sendMessages = (options) => this.#claimed(options?.chatId, () => this.#engine.sendMessages(options));

  sendPendingMessage = (chatId, message, metadata) =>
    this.#engine.sendPendingMessage(chatId, message, metadata);

  reconnectToStream = async (options) => {
    const source = await this.#engine.reconnectToStream(options);
    return source === null ? null : toStream(source, this.#ended(options.chatId));
  };

  stopGeneration = (chatId) => this.#engine.stopGeneration(chatId);

  // `options` ({ metadata }) defaults so that `length` stays the vendor's 2.
  sendAction = (chatId, action, options = undefined) =>
    this.#claimed(chatId, () => this.#engine.sendAction(chatId, action, options));

  getSession = (chatId) => this.#engine.getSession(chatId);

  sessionStatus = (chatId) => this.#engine.sessionStatus(chatId);

  sessionClosedReason = (chatId) => this.#engine.sessionClosedReason(chatId);

  seedResumeCursor = (chatId, lastEventId) => this.#engine.seedResumeCursor(chatId, lastEventId);

  clearSupersedeGate = (chatId) => this.#engine.clearSupersedeGate(chatId);

  setSession(chatId, session) {
    this.#engine.setSession(chatId, session);
  }

  setOnSessionChange(callback) {
    this.#engine.setCallback("OnSessionChange", callback);
  }

  setClientData(clientData) {
    this.#engine.setClientData(clientData);
  }

  setOnEvent(callback) {
    this.#engine.setCallback("OnEvent", callback);
  }

  setAccessToken(accessToken) {
    // 4.8.3 accepts `undefined` (a hook passing an absent option); the
    // engine keeps the current callback then, since a transport cannot work
    // without one.
    this.#engine.setCallback("AccessToken", accessToken);
  }

  setStartSession(startSession) {
    this.#engine.setCallback("StartSession", startSession);
  }

  setFetch(fetchOverride) {
    this.#engine.setCallback("Fetch", fetchOverride);
  }

  isReadOnly(chatId) {
    return this.#tabs?.isReadOnly(chatId) ?? false;
  }

  hasClaim(chatId) {
    return this.#tabs?.hasClaim(chatId) ?? false;
  }

  addReadOnlyListener(fn) {
    this.#tabs?.readOnlyListeners.add(fn);
  }

  removeReadOnlyListener(fn) {
    this.#tabs?.readOnlyListeners.delete(fn);
  }

  broadcastMessages(chatId, messages) {
    this.#tabs?.post("messages", chatId, { messages });
  }

  addMessagesListener(fn) {
    this.#tabs?.messageListeners.add(fn);
  }

  removeMessagesListener(fn) {
    this.#tabs?.messageListeners.delete(fn);
  }

  dispose() {
    this.#engine.dispose();
    this.#tabs?.dispose();
    this.#tabs = null;
  }

  /** AI SDK 7: release everything, like dispose(). */
  close() {
    this.dispose();
  }
}
