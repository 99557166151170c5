// A read-only viewer of a chat another tab or device drives: the transport in
// watch mode (`watch: true`) keeps one stream open across turn boundaries, so
// every following reply streams in here as it is written. The user's messages
// are not on the agent's output stream; the viewer takes them (and each
// finished reply) from the app server when a new reply starts and when a turn
// completes.
import { useCallback, useEffect, useMemo, useRef, useState } from "react";
import { useChat } from "@ai-sdk/react";
import type { ChatTransport, UIMessage } from "ai";
import { useTriggerChatTransport } from "trigger-chat-wasm/react";
import { api, describeError, type AppConfig, type StoredChat } from "./api";
import { MessageParts, type PartActions } from "./Parts";
import { useSubAgents } from "./subAgents";

/** The chat id of a `#/watch/<id>` address, or null. */
export function watchedChatId(): string | null {
  const m = /^#\/watch\/([^/?#]+)$/.exec(window.location.hash);
  return m ? decodeURIComponent(m[1]) : null;
}

type Load = { kind: "loading" } | { kind: "error"; message: string } | { kind: "ready"; chat: StoredChat };

export function WatchPage({ chatId }: { chatId: string }) {
  const [config, setConfig] = useState<AppConfig | null>(null);
  const [load, setLoad] = useState<Load>({ kind: "loading" });
  useEffect(() => {
    let cancelled = false;
    Promise.all([api.config(), api.loadChat(chatId)]).then(
      ([cfg, chat]) => {
        if (cancelled) return;
        setConfig(cfg);
        setLoad(chat ? { kind: "ready", chat } : { kind: "error", message: "No such chat on the app server." });
      },
      (e) => !cancelled && setLoad({ kind: "error", message: describeError(e) }),
    );
    return () => {
      cancelled = true;
    };
  }, [chatId]);

  return (
    <div className="watch-page">
      <header className="watch-head">
        <span className="brand">Trigger chat</span>
        <span className="muted"> · watching </span>
        <code>{chatId}</code>
        <a className="link" href={`#/c/${encodeURIComponent(chatId)}`}>
          open to chat
        </a>
      </header>
      {load.kind === "loading" ? (
        <div className="placeholder" data-testid="chat-loading">
          <div className="spinner" aria-hidden /> Loading conversation…
        </div>
      ) : load.kind === "error" || !config ? (
        <div className="placeholder error" data-testid="chat-load-error" role="alert">
          <p>Could not open this chat to watch.</p>
          <p className="muted">{load.kind === "error" ? load.message : ""}</p>
        </div>
      ) : (
        <Watcher chatId={chatId} config={config} stored={load.chat} />
      )}
    </div>
  );
}

const NO_ACTIONS: PartActions = { canAct: false, answer: () => {}, approve: () => {} };

/** The stored messages, with the live copy of any message the stream has further along, then live ones not stored yet. */
function merge(stored: UIMessage[], live: UIMessage[]): UIMessage[] {
  const liveById = new Map(live.map((m) => [m.id, m]));
  const storedIds = new Set(stored.map((m) => m.id));
  const out = stored.map((m) => liveById.get(m.id) ?? m);
  for (const m of live) if (!storedIds.has(m.id)) out.push(m);
  return out;
}

function Watcher({ chatId, config, stored }: { chatId: string; config: AppConfig; stored: StoredChat }) {
  const [turns, setTurns] = useState(0);
  const refreshRef = useRef<() => void>(() => {});
  const transport = useTriggerChatTransport({
    task: config.taskId,
    baseURL: config.baseURL,
    watch: true,
    accessToken: ({ chatId: id }: { chatId: string }) => api.mintToken(id),
    sessions: stored.session
      ? { [chatId]: { publicAccessToken: stored.session.publicAccessToken, lastEventId: stored.session.lastEventId } }
      : undefined,
    onEvent: (e: { type: string }) => {
      if (e.type === "turn-completed") {
        setTurns((n) => n + 1);
        refreshRef.current();
      }
    },
  });
  const subAgents = useSubAgents();
  const initial = useMemo(() => stored.messages, [stored]);
  const { messages, setMessages, status } = useChat({
    id: chatId,
    messages: initial,
    transport: {
      // The viewer never sends; it only follows the chat's stream.
      sendMessages: () => Promise.reject(new Error("this view is read-only")),
      reconnectToStream: (opts) => transport.reconnectToStream(opts),
      resumeStreamIsReplay: transport.resumeStreamIsReplay,
    } satisfies ChatTransport<UIMessage>,
    onData: subAgents.onData,
    resume: true,
  });

  // Take the user's messages and finished replies from the app server.
  const knownIds = useRef(new Set(initial.map((m) => m.id)));
  const liveRef = useRef(messages);
  liveRef.current = messages;
  const refresh = useCallback(() => {
    api.loadChat(chatId).then(
      (chat) => {
        if (!chat) return;
        for (const m of chat.messages) knownIds.current.add(m.id);
        setMessages(merge(chat.messages, liveRef.current));
      },
      (e) => console.warn("reloading the watched chat failed", e),
    );
  }, [chatId, setMessages]);
  refreshRef.current = refresh;
  const lastId = messages[messages.length - 1]?.id;
  useEffect(() => {
    if (lastId && !knownIds.current.has(lastId)) {
      knownIds.current.add(lastId);
      refresh();
    }
  }, [lastId, refresh]);

  const streaming = status === "streaming";
  return (
    <section className="chat watch" data-testid="watch" data-chat-id={chatId} data-status={status} data-turns={turns}>
      <div className="banner readonly" data-testid="watch-banner" role="status">
        Read-only: following this chat live as another tab or device drives it.
      </div>
      <div className="messages" data-testid="messages">
        {messages.length === 0 ? (
          <div className="placeholder" data-testid="chat-empty">
            <p className="muted">Nothing said yet. Replies appear here as they stream.</p>
          </div>
        ) : (
          messages
            .filter((m) => m.role !== "assistant" || m.parts.some((p) => p.type !== "step-start"))
            .map((m) => (
              <article key={m.id} className={`message ${m.role}`} data-testid="message" data-role={m.role} data-message-id={m.id}>
                <div className="role">{m.role === "user" ? "User" : m.role === "assistant" ? "Agent" : m.role}</div>
                <div className="bubble">
                  <MessageParts message={m} actions={NO_ACTIONS} subAgents={subAgents} />
                </div>
              </article>
            ))
        )}
      </div>
      <footer className="statusline" data-testid="status">
        <span className={`dot ${streaming ? "connected" : ""}`} aria-hidden />
        <span>{streaming ? "a reply is streaming" : "waiting for the next reply"}</span>
        <span className="muted"> · {turns} turn{turns === 1 ? "" : "s"} completed while watching</span>
      </footer>
    </section>
  );
}
