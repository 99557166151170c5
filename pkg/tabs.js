// Multi-tab coordination over BroadcastChannel: one tab at a time may send
// on a chat; the others are read-only and receive its messages. Claims are
// kept alive by heartbeats and expire when a tab goes silent.
//
// The channel name and the messages ({type, chatId, tabId, ...} with types
// claim, release, heartbeat, messages, session) are the ones
// @trigger.dev/sdk's tabs use, so during a migration a tab still running
// the vendor's transport and one running ours coordinate with each other.

const CHANNEL = "trigger-chat-tab-coord";
const BEAT_MS = 5000;
const EXPIRE_MS = 10000;

const callEach = (set, ...args) => {
  for (const fn of set) {
    try {
      fn(...args);
    } catch {
      // A listener's failure is the listener's business.
    }
  }
};

export class TabCoordinator {
  #id = globalThis.crypto?.randomUUID?.() ?? `tab-${Date.now()}-${Math.random()}`;
  #others = new Map(); // chatId -> { tab, seen }
  #mine = new Set();
  #channel = null;
  #timer;
  readOnlyListeners = new Set();
  messageListeners = new Set();
  sessionListeners = new Set();

  constructor() {
    if (typeof BroadcastChannel !== "function") return;
    this.#channel = new BroadcastChannel(CHANNEL);
    this.#channel.onmessage = (e) => this.#receive(e.data);
    this.#timer = setInterval(() => this.#tick(), BEAT_MS);
    globalThis.addEventListener?.("beforeunload", this.#releaseAll);
  }

  post(type, chatId, extra) {
    try {
      this.#channel?.postMessage({ type, chatId, tabId: this.#id, ...extra });
    } catch {
      // A closed channel or an uncloneable payload: nothing to tell.
    }
  }

  isReadOnly(chatId) {
    const c = this.#others.get(chatId);
    return c !== undefined && c.tab !== this.#id;
  }

  hasClaim(chatId) {
    return this.#mine.has(chatId);
  }

  claim(chatId) {
    if (!this.#channel) return true;
    if (this.isReadOnly(chatId)) return false;
    this.#mine.add(chatId);
    this.post("claim", chatId);
    return true;
  }

  release(chatId) {
    if (this.#mine.delete(chatId)) this.post("release", chatId);
  }

  // Gives this tab's claims up, as when the page unloads.
  #releaseAll = () => {
    for (const chatId of [...this.#mine]) this.release(chatId);
  };

  // Another tab's claim is gone (released, or silent too long).
  #forget(chatId) {
    this.#others.delete(chatId);
    callEach(this.readOnlyListeners, chatId, false);
  }

  #receive(msg) {
    if (!msg || typeof msg !== "object" || msg.tabId === this.#id) return;
    const { type, chatId, tabId: tab } = msg;
    if (type === "claim") {
      const was = this.isReadOnly(chatId);
      this.#others.set(chatId, { tab, seen: Date.now() });
      if (!was) callEach(this.readOnlyListeners, chatId, true);
    } else if (type === "release") {
      if (this.#others.get(chatId)?.tab === tab) this.#forget(chatId);
    } else if (type === "heartbeat") {
      const c = this.#others.get(chatId);
      if (c?.tab === tab) c.seen = Date.now();
    } else if (type === "messages") {
      callEach(this.messageListeners, chatId, msg.messages);
    } else if (type === "session") {
      callEach(this.sessionListeners, chatId, msg.session);
    }
  }

  #tick() {
    for (const chatId of this.#mine) this.post("heartbeat", chatId);
    const now = Date.now();
    for (const [chatId, c] of this.#others) {
      if (now - c.seen > EXPIRE_MS) this.#forget(chatId);
    }
  }

  dispose() {
    this.#releaseAll();
    clearInterval(this.#timer);
    globalThis.removeEventListener?.("beforeunload", this.#releaseAll);
    this.#channel?.close();
    this.#channel = null;
    this.readOnlyListeners.clear();
    this.messageListeners.clear();
    this.sessionListeners.clear();
  }
}
