// Client for the demo app server (the "customer backend" the emulator serves
// under /app). Every URL is relative, so the page talks to its own origin.
import type { UIMessage } from "ai";

export type AppConfig = { taskId: string; baseURL: string };

export type ChatSummary = { id: string; title: string; updatedAt: string | number };

export type StoredSession = {
  publicAccessToken: string;
  lastEventId?: string;
  isStreaming?: boolean;
  /** The agent (or the app) closed the conversation: no more messages. */
  closed?: boolean;
  closedReason?: string;
};

export type StoredChat = {
  id: string;
  title: string;
  messages: UIMessage[];
  session: StoredSession | null;
};

export type Transcript = {
  messages: UIMessage[];
  cursors?: { lastOutEventId?: string; lastInEventId?: string };
  nextCursor?: string;
};

export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
    this.name = "HttpError";
  }
}

async function request<T>(method: string, path: string, body?: unknown): Promise<T> {
  const init: RequestInit = { method, headers: {} };
  if (body !== undefined) {
    init.body = JSON.stringify(body);
    (init.headers as Record<string, string>)["content-type"] = "application/json";
  }
  const res = await fetch(path, init);
  if (!res.ok) {
    let detail = res.statusText;
    try {
      const text = await res.text();
      if (text) {
        try {
          const parsed = JSON.parse(text) as { error?: unknown };
          detail = typeof parsed.error === "string" ? parsed.error : text;
        } catch {
          detail = text;
        }
      }
    } catch {
      /* keep the status text */
    }
    throw new HttpError(res.status, `${method} ${path}: ${res.status} ${detail}`);
  }
  if (res.status === 204) return undefined as T;
  const text = await res.text();
  return (text ? JSON.parse(text) : undefined) as T;
}

const chatPath = (chatId: string) => `/app/chats/${encodeURIComponent(chatId)}`;

export const api = {
  config: () => request<AppConfig>("GET", "/app/config"),
  listChats: () => request<ChatSummary[]>("GET", "/app/chats"),
  /** The stored chat, or null when the app server has never seen this id. */
  loadChat: async (chatId: string): Promise<StoredChat | null> => {
    try {
      const chat = await request<StoredChat>("GET", chatPath(chatId));
      return { ...chat, messages: chat.messages ?? [], session: normalizeSession(chat.session) };
    } catch (e) {
      if (e instanceof HttpError && e.status === 404) return null;
      throw e;
    }
  },
  startSession: (chatId: string, clientData?: unknown) =>
    request<{ publicAccessToken: string }>("POST", `${chatPath(chatId)}/start`, {
      clientData: clientData ?? undefined,
    }),
  mintToken: async (chatId: string) =>
    (await request<{ publicAccessToken: string }>("POST", `${chatPath(chatId)}/token`))
      .publicAccessToken,
  /**
   * Stores the transport's state for a chat. Saves of one chat go out one at
   * a time and only the newest waiting state is sent: two PUTs in flight at
   * once may land in either order, and an older state landing last (say
   * `isStreaming: false` from before a send) would make a reload miss the
   * reply in progress.
   */
  saveSession: (chatId: string, session: StoredSession | null) => saveLatest(chatId, session),
  saveMessages: (chatId: string, messages: UIMessage[]) =>
    request<unknown>("PUT", `${chatPath(chatId)}/messages`, { messages }),
  deleteChat: (chatId: string) => request<unknown>("DELETE", chatPath(chatId)),
  /**
   * The conversation as the agent's transcript storage has it (not this app's
   * copy), with the `.out` cursor where it ends: what
   * `chat.createLoadTranscriptAction` answers.
   */
  loadTranscript: (chatId: string, limit?: number) =>
    request<Transcript>("GET", `${chatPath(chatId)}/transcript${limit ? `?limit=${limit}` : ""}`),
};

type SaveQueue = { running: boolean; next?: { session: StoredSession | null; waiters: Array<[() => void, (e: unknown) => void]> } };
const saveQueues = new Map<string, SaveQueue>();

function saveLatest(chatId: string, session: StoredSession | null): Promise<void> {
  let q = saveQueues.get(chatId);
  if (!q) saveQueues.set(chatId, (q = { running: false }));
  const queue = q;
  return new Promise<void>((resolve, reject) => {
    const waiters = queue.next?.waiters ?? [];
    waiters.push([resolve, reject]);
    queue.next = { session, waiters };
    if (!queue.running) void drain(chatId, queue);
  });
}

async function drain(chatId: string, queue: SaveQueue): Promise<void> {
  queue.running = true;
  while (queue.next) {
    const { session, waiters } = queue.next;
    queue.next = undefined;
    try {
      await request<unknown>("PUT", `${chatPath(chatId)}/session`, session);
      for (const [ok] of waiters) ok();
    } catch (e) {
      for (const [, fail] of waiters) fail(e);
    }
  }
  queue.running = false;
  saveQueues.delete(chatId);
}

/** Ids this page made up and has not sent anything on yet: nothing to load. */
export const freshChatIds = new Set<string>();

/** The database answers null for fields it has no value for; the transport wants them absent. */
function normalizeSession(s: StoredChat["session"] | undefined): StoredSession | null {
  if (!s || typeof s.publicAccessToken !== "string") return null;
  const out: StoredSession = { publicAccessToken: s.publicAccessToken };
  if (typeof s.lastEventId === "string") out.lastEventId = s.lastEventId;
  if (typeof s.isStreaming === "boolean") out.isStreaming = s.isStreaming;
  if (s.closed === true) out.closed = true;
  if (typeof s.closedReason === "string") out.closedReason = s.closedReason;
  return out;
}

export function newChatId(): string {
  const bytes = new Uint8Array(9);
  crypto.getRandomValues(bytes);
  let s = "";
  for (const b of bytes) s += b.toString(36).padStart(2, "0");
  const id = `chat-${s.slice(0, 14)}`;
  freshChatIds.add(id);
  return id;
}

export function describeError(e: unknown): string {
  if (e instanceof Error) return e.message || e.name;
  if (typeof e === "string") return e;
  try {
    return JSON.stringify(e);
  } catch {
    return String(e);
  }
}
