import { useCallback, useEffect, useState } from "react";
import { api, describeError, freshChatIds, newChatId, type AppConfig, type ChatSummary } from "./api";
import { ChatLoader, type FastStart } from "./Chat";

declare const __TRANSPORT_IMPL__: string;

function chatIdFromHash(): string | null {
  const m = /^#\/[ct]\/([^/?#]+)$/.exec(window.location.hash);
  return m ? decodeURIComponent(m[1]) : null;
}

/** `#/t/<chatId>`: the chat reopened from the agent's transcript, not the app's copy. */
const fromTranscript = () => /^#\/t\//.test(window.location.hash);

function useHashChatId(): [string | null, (id: string, replace?: boolean) => void] {
  const [id, setId] = useState(chatIdFromHash);
  const [, setHash] = useState(window.location.hash);
  useEffect(() => {
    const onHash = () => {
      // `#/watch/<chatId>` is the viewer's (main.tsx): this app is going away.
      if (/^#\/watch\//.test(window.location.hash)) return;
      setId(chatIdFromHash());
      setHash(window.location.hash);
    };
    window.addEventListener("hashchange", onHash);
    return () => window.removeEventListener("hashchange", onHash);
  }, []);
  const go = useCallback((next: string, replace = false) => {
    const hash = `#/c/${encodeURIComponent(next)}`;
    if (replace) history.replaceState(null, "", hash);
    else history.pushState(null, "", hash);
    setId(next);
  }, []);
  return [id, go];
}

type ListState = { kind: "loading" } | { kind: "error"; message: string } | { kind: "ready"; chats: ChatSummary[] };

export function App() {
  const [config, setConfig] = useState<AppConfig | null>(null);
  const [configError, setConfigError] = useState<string | null>(null);
  const [list, setList] = useState<ListState>({ kind: "loading" });
  const [chatId, go] = useHashChatId();
  const [drawerOpen, setDrawerOpen] = useState(false);
  // How a new chat's first turn starts (see Chat.tsx): kept for the next chats.
  const [fastStart, setFastStartState] = useState<FastStart>(() => {
    const v = localStorage.getItem("demo.fastStart");
    return v === "preload" || v === "head-start" ? v : "none";
  });
  const setFastStart = useCallback(
    (mode: FastStart) => {
      localStorage.setItem("demo.fastStart", mode);
      setFastStartState(mode);
      // A chat preloaded as it opened has its session already: the mode
      // picked now is for a new chat (else the picker would vanish with it).
      if (chatId && !freshChatIds.has(chatId)) go(newChatId(), true);
    },
    [chatId, go],
  );

  useEffect(() => {
    api.config().then(setConfig, (e) => setConfigError(describeError(e)));
  }, []);

  const refresh = useCallback(() => {
    api.listChats().then(
      (chats) => setList({ kind: "ready", chats }),
      (e) => setList((prev) => (prev.kind === "ready" ? prev : { kind: "error", message: describeError(e) })),
    );
  }, []);
  useEffect(refresh, [refresh]);

  // Without a chat in the URL, open a fresh one.
  useEffect(() => {
    if (!chatId && !/^#\/watch\//.test(window.location.hash)) go(newChatId(), true);
  }, [chatId, go]);

  const openChat = (id: string) => {
    setDrawerOpen(false);
    if (id !== chatId) go(id);
  };

  const remove = async (id: string) => {
    try {
      await api.deleteChat(id);
    } catch (e) {
      window.alert(`Could not delete: ${describeError(e)}`);
    }
    if (id === chatId) go(newChatId(), true);
    refresh();
  };

  const chats = list.kind === "ready" ? list.chats : [];
  const activeKnown = chats.some((c) => c.id === chatId);

  return (
    <div className={`app ${drawerOpen ? "drawer-open" : ""}`}>
      <header className="topbar">
        <button
          type="button"
          className="icon"
          data-testid="toggle-sidebar"
          aria-label="Chats"
          onClick={() => setDrawerOpen((o) => !o)}
        >
          ☰
        </button>
        <span className="brand">Trigger chat</span>
        <button type="button" className="icon" aria-label="New chat" onClick={() => openChat(newChatId())}>
          ＋
        </button>
      </header>

      <aside className="sidebar" data-testid="sidebar">
        <div className="sidebar-head">
          <span className="brand">Trigger chat</span>
          <button type="button" className="primary" data-testid="new-chat" onClick={() => openChat(newChatId())}>
            New chat
          </button>
        </div>
        <nav className="chat-list" data-testid="chat-list" aria-label="Chats">
          {chatId && !activeKnown ? (
            <div className="chat-item active draft" data-testid="chat-item-draft">
              <span className="title">New chat</span>
            </div>
          ) : null}
          {list.kind === "loading" ? <div className="muted pad" data-testid="chats-loading">Loading chats…</div> : null}
          {list.kind === "error" ? (
            <div className="pad error-text" data-testid="chats-error">
              {list.message}{" "}
              <button type="button" className="link" onClick={refresh}>
                retry
              </button>
            </div>
          ) : null}
          {list.kind === "ready" && chats.length === 0 ? (
            <div className="muted pad" data-testid="chats-empty">No saved chats yet.</div>
          ) : null}
          {chats.map((c) => (
            <div
              key={c.id}
              className={`chat-item ${c.id === chatId ? "active" : ""}`}
              data-testid="chat-item"
              data-chat-id={c.id}
            >
              <button type="button" className="title" onClick={() => openChat(c.id)} title={c.title}>
                {c.title || "Untitled"}
              </button>
              <button
                type="button"
                className="icon delete"
                data-testid="delete-chat"
                aria-label={`Delete ${c.title || "chat"}`}
                onClick={() => void remove(c.id)}
              >
                ×
              </button>
            </div>
          ))}
        </nav>
        <div className="sidebar-foot muted">
          transport: <code data-testid="transport-impl">{__TRANSPORT_IMPL__ === "vendor" ? "@trigger.dev/sdk" : "trigger-chat-wasm"}</code>
        </div>
      </aside>
      {drawerOpen ? <div className="scrim" onClick={() => setDrawerOpen(false)} /> : null}

      <main className="main">
        {configError ? (
          <div className="placeholder error" role="alert" data-testid="config-error">
            <p>Could not reach the app server.</p>
            <p className="muted">{configError}</p>
          </div>
        ) : !config || !chatId ? (
          <div className="placeholder" data-testid="app-loading">
            <div className="spinner" aria-hidden /> Starting…
          </div>
        ) : (
          <ChatLoader
            key={`${fromTranscript() ? "t" : "c"}:${fastStart}:${chatId}`}
            chatId={chatId}
            config={config}
            onActivity={refresh}
            source={fromTranscript() ? "transcript" : "app"}
            fastStart={fastStart}
            onFastStart={setFastStart}
          />
        )}
      </main>
    </div>
  );
}
