import { useCallback, useEffect, useMemo, useRef, useState, type FormEvent, type KeyboardEvent } from "react";
import { useChat } from "@ai-sdk/react";
import {
  lastAssistantMessageIsCompleteWithApprovalResponses,
  lastAssistantMessageIsCompleteWithToolCalls,
  type UIMessage,
} from "ai";
import { useMultiTabChat, usePendingMessages, useTriggerChatTransport } from "trigger-chat-wasm/react";
import { seedTranscriptCursor, useLoadTranscript } from "./compat";
import { api, describeError, freshChatIds, type AppConfig, type StoredChat, type StoredSession, type Transcript } from "./api";
import { ConnectionMonitor, STATE_LABEL, useConnection } from "./connection";
import { MessageParts, type InjectionReader, type PartActions } from "./Parts";
import { useSubAgents } from "./subAgents";

type LoadState =
  | { kind: "loading" }
  | { kind: "error"; message: string }
  | { kind: "ready"; chat: StoredChat | null };

/** Loads a chat's messages and session from the app server, then mounts it. */
/**
 * How a new chat's first turn starts: `"preload"` starts the session (and the
 * agent's run) as the chat opens, `"head-start"` sends the first message to
 * the app's head-start route, which answers it while the run boots; `"none"`
 * starts the session with the first message.
 */
export type FastStart = "none" | "preload" | "head-start";

/** The app server's `chat.headStart` route. */
const HEAD_START_URL = "/app/head-start";

type FastStartProps = { fastStart?: FastStart; onFastStart?: (mode: FastStart) => void };

export function ChatLoader({
  chatId,
  config,
  onActivity,
  source = "app",
  fastStart = "none",
  onFastStart,
}: {
  chatId: string;
  config: AppConfig;
  onActivity: () => void;
  /** Where the conversation comes from: this app's database, or the agent's transcript. */
  source?: "app" | "transcript";
} & FastStartProps) {
  if (source === "transcript") return <TranscriptLoader chatId={chatId} config={config} onActivity={onActivity} />;
  return (
    <AppChatLoader chatId={chatId} config={config} onActivity={onActivity} fastStart={fastStart} onFastStart={onFastStart} />
  );
}

/**
 * Reopens a chat from the agent's transcript (`useLoadTranscript`), without
 * this app's copy of the conversation or of the session: the transport gets a
 * session through `startSession` when it needs one, and its resume cursor is
 * seeded from the transcript (`seedTranscriptCursor`), so the live stream
 * opens just past the history shown.
 */
function TranscriptLoader({ chatId, config, onActivity }: { chatId: string; config: AppConfig; onActivity: () => void }) {
  const cursors = useRef<Transcript["cursors"]>(undefined);
  const load = useCallback(async ({ chatId: id, limit }: { chatId: string; limit?: number }) => {
    const t = await api.loadTranscript(id, limit);
    cursors.current = t.cursors;
    return t;
  }, []);
  const transcript = useLoadTranscript(chatId, load);
  if (transcript.isLoading) {
    return (
      <div className="placeholder" data-testid="chat-loading">
        <div className="spinner" aria-hidden /> Loading the transcript…
      </div>
    );
  }
  if (transcript.error) {
    return (
      <div className="placeholder error" data-testid="chat-load-error" role="alert">
        <p>Could not load this chat's transcript.</p>
        <p className="muted">{describeError(transcript.error)}</p>
      </div>
    );
  }
  const stored: StoredChat = { id: chatId, title: "", messages: transcript.messages, session: null };
  return (
    <ChatClient
      key={chatId}
      chatId={chatId}
      config={config}
      stored={stored}
      onActivity={onActivity}
      transcriptCursors={cursors.current ?? {}}
    />
  );
}

function AppChatLoader({
  chatId,
  config,
  onActivity,
  fastStart,
  onFastStart,
}: {
  chatId: string;
  config: AppConfig;
  onActivity: () => void;
} & FastStartProps) {
  const [load, setLoad] = useState<LoadState>({ kind: "loading" });
  const [attempt, setAttempt] = useState(0);

  useEffect(() => {
    let cancelled = false;
    if (freshChatIds.has(chatId)) {
      setLoad({ kind: "ready", chat: null });
      return;
    }
    setLoad({ kind: "loading" });
    api.loadChat(chatId).then(
      (chat) => !cancelled && setLoad({ kind: "ready", chat }),
      (e) => !cancelled && setLoad({ kind: "error", message: describeError(e) }),
    );
    return () => {
      cancelled = true;
    };
  }, [chatId, attempt]);

  if (load.kind === "loading") {
    return (
      <div className="placeholder" data-testid="chat-loading">
        <div className="spinner" aria-hidden /> Loading conversation…
      </div>
    );
  }
  if (load.kind === "error") {
    return (
      <div className="placeholder error" data-testid="chat-load-error" role="alert">
        <p>Could not load this conversation.</p>
        <p className="muted">{load.message}</p>
        <button type="button" onClick={() => setAttempt((n) => n + 1)}>
          Try again
        </button>
      </div>
    );
  }
  return (
    <ChatClient
      key={chatId}
      chatId={chatId}
      config={config}
      stored={load.chat}
      onActivity={onActivity}
      fastStart={fastStart}
      onFastStart={onFastStart}
    />
  );
}

/**
 * The stored session as the transport gets it on load, without a stored
 * `isStreaming: false`: the app server's copy can say so while a reply is
 * in flight. It is written `false` before a send (by the session's start,
 * the agent's preload hook, the end of the previous turn), and this page
 * saves `true` only once the transport reports it, after the send's append
 * is answered; by then the agent has stored the user's message and may be
 * streaming. A reload before that save lands would find `false`, and the
 * transport would not look for the reply at all. Without the flag the
 * transport asks the server (`X-Peek-Settled`), whose answer ends the
 * stream at once when nothing is in flight.
 */
function sessionToResume(session: StoredSession): StoredSession {
  const out = { ...session };
  if (out.isStreaming === false) delete out.isStreaming;
  return out;
}

function ChatClient({
  chatId,
  config,
  stored,
  onActivity,
  transcriptCursors,
  fastStart = "none",
  onFastStart,
}: {
  chatId: string;
  config: AppConfig;
  stored: StoredChat | null;
  onActivity: () => void;
  /** Set when the chat was reopened from the agent's transcript: where it ends on `.out`. */
  transcriptCursors?: Transcript["cursors"];
} & FastStartProps) {
  const initialMessages = useMemo(() => stored?.messages ?? [], [stored]);
  const monitor = useMemo(() => new ConnectionMonitor(), []);
  const conn = useConnection(monitor);
  const activityRef = useRef(onActivity);
  activityRef.current = onActivity;

  // Set once the session is closed (by `/close` in this demo): the
  // conversation stays readable, and no more messages can be sent.
  const [closed, setClosed] = useState<{ reason?: string } | null>(() =>
    stored?.session?.closed ? { reason: stored.session.closedReason } : null,
  );

  // A chat this page made up and has not started: its first turn can start fast.
  const [isNew] = useState(() => freshChatIds.has(chatId) && !stored);
  // Time to first chunk, measured here from Send to the transport's
  // `first-chunk` event, with the path the turn took.
  const sentAt = useRef<{ at: number; path: string } | null>(null);
  const [ttfc, setTtfc] = useState<{ ms: number; path: string } | null>(null);

  const transport = useTriggerChatTransport({
    task: config.taskId,
    baseURL: config.baseURL,
    accessToken: async ({ chatId: id }: { chatId: string }) => {
      const token = await api.mintToken(id);
      monitor.tokenRefreshed();
      return token;
    },
    startSession: async ({ chatId: id, clientData }: { chatId: string; clientData?: unknown }) => {
      const res = await api.startSession(id, clientData);
      freshChatIds.delete(id);
      activityRef.current();
      return res;
    },
    sessions: stored?.session ? { [chatId]: sessionToResume(stored.session) } : undefined,
    onSessionChange: (id: string, session: StoredChat["session"]) => {
      // A session exists now (also when the head-start route made it).
      if (session) freshChatIds.delete(id);
      api.saveSession(id, session).catch((e) => console.warn("saving the session failed", e));
      if (session?.closed) setClosed({ reason: session.closedReason });
    },
    multiTab: true,
    fetch: monitor.fetch,
    headStart: isNew && fastStart === "head-start" ? HEAD_START_URL : undefined,
    onEvent: (e: { type: string }) => {
      monitor.onEvent(e);
      const sent = sentAt.current;
      if (e.type === "first-chunk" && sent) {
        sentAt.current = null;
        const ms = Math.round(performance.now() - sent.at);
        setTtfc({ ms, path: sent.path });
        recordTtfc(sent.path, ms);
      }
    },
  });

  // Preload: start the session (and the agent's run) now, before the first message.
  useEffect(() => {
    if (isNew && fastStart === "preload") {
      transport.preload(chatId).catch((e: unknown) => monitor.fail(describeError(e)));
    }
  }, [isNew, fastStart, transport, chatId, monitor]);

  // Reopened from the transcript: the live stream starts after its history.
  // Seeded on the first render, before useChat's first request.
  useState(() => (transcriptCursors ? seedTranscriptCursor(transport, chatId, transcriptCursors) : false));

  // Tool calls this tab answered and has not sent yet. Auto-sending only for
  // these keeps a finished reply with a completed tool call from re-sending.
  const answeredRef = useRef(new Set<string>());
  const subAgents = useSubAgents();

  const {
    messages,
    setMessages,
    sendMessage,
    regenerate,
    stop: stopLocal,
    status,
    error,
    clearError,
    addToolOutput,
    addToolApprovalResponse,
  } = useChat({
    id: chatId,
    messages: initialMessages,
    transport,
    onData: subAgents.onData,
    resume: initialMessages.length > 0,
    sendAutomaticallyWhen: ({ messages: msgs }: { messages: UIMessage[] }) => {
      if (answeredRef.current.size === 0) return false;
      const ready =
        lastAssistantMessageIsCompleteWithToolCalls({ messages: msgs }) ||
        lastAssistantMessageIsCompleteWithApprovalResponses({ messages: msgs });
      if (ready) answeredRef.current.clear();
      return ready;
    },
    onFinish: ({ messages: msgs, isError, isAbort }) => {
      activityRef.current();
      // Tabs that followed this reply read-only get the final list: the
      // hook's own sharing happens on idle and can miss the last chunks.
      transport.broadcastMessages(chatId, msgs);
      if (!isError && isAbort) {
        // The agent stores finished turns itself; a stopped reply is saved here.
        api.saveMessages(chatId, msgs).catch((e) => console.warn("saving messages failed", e));
      }
    },
    onError: (e) => monitor.fail(describeError(e)),
  });

  // Messages shared by other tabs. While this tab is read-only the sender is
  // authoritative and its list is taken as is. Otherwise a shared list is
  // taken only when it is not behind ours: a tab that was read-only shares
  // the copy it had when it is released, which may lack the last tokens.
  const messagesRef = useRef(messages);
  messagesRef.current = messages;
  const readOnlyRef = useRef(false);
  const takeShared = useCallback(
    (shared: UIMessage[]) => {
      if (readOnlyRef.current || !isBehind(shared, messagesRef.current)) setMessages(shared);
    },
    [setMessages],
  );
  const { isReadOnly } = useMultiTabChat(transport, chatId, messages, takeShared);
  readOnlyRef.current = isReadOnly;

  const busy = status === "submitted" || status === "streaming";
  monitor.busy = busy;
  useEffect(() => {
    if (!error) monitor.recovered();
  }, [error, monitor]);
  useEffect(() => {
    const on = () => monitor.offline(false);
    const off = () => monitor.offline(true);
    window.addEventListener("online", on);
    window.addEventListener("offline", off);
    return () => {
      window.removeEventListener("online", on);
      window.removeEventListener("offline", off);
    };
  }, [monitor]);

  // Messages typed while a reply streams: steered into it (the agent injects
  // them at its next step and confirms with a `data-pending-message-injected`
  // part) or queued for the next turn.
  const pending = usePendingMessages({ transport, chatId, status, messages, setMessages, sendMessage });
  const injected: InjectionReader = useCallback(
    (part: unknown) => (pending.isInjectionPoint(part) ? pending.getInjectedMessages(part) : null),
    // eslint-disable-next-line react-hooks/exhaustive-deps
    [pending.isInjectionPoint, pending.getInjectedMessages],
  );

  // Undo, rollback and edit: actions the agent applies to the conversation it
  // stores. `onSettled` says the agent has processed the action; the page then
  // shows the conversation as the app server now has it.
  const [action, setAction] = useState<ActionState | null>(null);
  const [editing, setEditing] = useState<{ id: string; text: string } | null>(null);
  const runAction = useCallback(
    async (act: ChatAction) => {
      setEditing(null);
      setAction({ type: act.type, state: "running" });
      let settled: { inputSeq: number } | null = null;
      try {
        const stream = await transport.sendAction(chatId, act, {
          onSettled: (s: { inputSeq: number }) => {
            settled = s;
          },
        });
        // The action's short answer is not part of the conversation: drain it.
        const reader = stream.getReader();
        while (!(await reader.read()).done) {
          /* nothing to show */
        }
        if (!settled) throw new Error("the action's stream ended before the agent confirmed it");
        const { inputSeq } = settled as { inputSeq: number };
        const chat = await api.loadChat(chatId);
        setMessages(chat?.messages ?? []);
        setAction({ type: act.type, state: "settled", detail: `settled at .in seq ${inputSeq}` });
        activityRef.current();
      } catch (e) {
        setAction({ type: act.type, state: "failed", detail: describeError(e) });
      }
    },
    [transport, chatId, setMessages],
  );

  const stop = useCallback(() => {
    void transport.stopGeneration(chatId);
    void stopLocal();
  }, [transport, chatId, stopLocal]);

  const [input, setInput] = useState("");
  const actionBusy = action?.state === "running";
  const canSend = !busy && !isReadOnly && !closed && !actionBusy;
  // While the reply streams, the composer steers it (or queues, below).
  const canSteer = status === "streaming" && !isReadOnly && !closed;
  const submit = (e?: FormEvent) => {
    e?.preventDefault();
    const text = input.trim();
    if (!text) return;
    if (canSteer) {
      setInput("");
      pending.steer(text);
      return;
    }
    if (!canSend) return;
    setInput("");
    if (error) clearError();
    const first = isNew && !messages.some((m) => m.role === "user");
    sentAt.current = { at: performance.now(), path: first ? fastStart : "session" };
    void sendMessage({ text });
  };
  const queue = () => {
    const text = input.trim();
    if (!text || !canSteer) return;
    setInput("");
    pending.queue(text);
  };
  const onKeyDown = (e: KeyboardEvent<HTMLTextAreaElement>) => {
    if (e.key === "Enter" && !e.shiftKey && !e.nativeEvent.isComposing) submit();
  };

  const actions: PartActions = {
    canAct: canSend,
    answer: (tool, toolCallId, choice) => {
      answeredRef.current.add(toolCallId);
      void addToolOutput({ tool: tool as never, toolCallId, output: choice as never });
    },
    approve: (approvalId, approved) => {
      answeredRef.current.add(approvalId);
      void addToolApprovalResponse({
        id: approvalId,
        approved,
        reason: approved ? undefined : "Denied in the demo",
      });
    },
  };

  // Keep the newest text in view while it streams.
  const listRef = useRef<HTMLDivElement>(null);
  const stickRef = useRef(true);
  useEffect(() => {
    const el = listRef.current;
    if (el && stickRef.current) el.scrollTop = el.scrollHeight;
  }, [messages]);

  const last = messages[messages.length - 1];
  const canRegenerate = canSend && last?.role === "assistant";
  const canUndo = canSend && messages.some((m) => m.role === "user");

  return (
    <section
      className="chat"
      data-testid="chat"
      data-chat-id={chatId}
      data-status={status}
      data-readonly={isReadOnly}
      data-source={transcriptCursors ? "transcript" : "app"}
    >
      {transcriptCursors ? (
        <div className="banner transcript" data-testid="transcript-banner" role="status">
          Reopened from the agent's transcript ({stored?.messages.length ?? 0} message
          {stored?.messages.length === 1 ? "" : "s"}
          {transcriptCursors.lastOutEventId ? `, live from .out event ${transcriptCursors.lastOutEventId}` : ""}), not from
          this app's database.
        </div>
      ) : null}
      {isReadOnly ? (
        <div className="banner readonly" data-testid="readonly-banner" role="status">
          This chat is active in another tab. It is read-only here until that reply finishes.
        </div>
      ) : null}

      <div
        className="messages"
        ref={listRef}
        data-testid="messages"
        onScroll={(e) => {
          const el = e.currentTarget;
          stickRef.current = el.scrollHeight - el.scrollTop - el.clientHeight < 40;
        }}
      >
        {messages.length === 0 ? (
          <div className="placeholder" data-testid="chat-empty">
            <p className="big">Start the conversation</p>
            <p className="muted">
              Try <code>/long 40</code>, <code>/reason</code>, <code>/tool</code>, <code>/ask</code>,{" "}
              <code>/approve</code>, <code>/subagent</code>, <code>/close</code> or just say hello.
            </p>
            {isNew && onFastStart ? <FastStartPicker mode={fastStart} onChange={onFastStart} /> : null}
          </div>
        ) : (
          messages.filter(hasContent).map((m) => (
            <article
              key={m.id}
              className={`message ${m.role}`}
              data-testid="message"
              data-role={m.role}
              data-message-id={m.id}
            >
              <div className="role">
                {m.role === "user" ? "You" : m.role === "assistant" ? "Agent" : m.role}
                {canSend && editing?.id !== m.id ? (
                  <span className="message-actions">
                    {m.role === "user" ? (
                      <button
                        type="button"
                        className="link"
                        data-testid="edit"
                        onClick={() => setEditing({ id: m.id, text: messageText(m) })}
                      >
                        Edit
                      </button>
                    ) : null}
                    <button
                      type="button"
                      className="link"
                      data-testid="rollback"
                      title="Forget everything after this message"
                      onClick={() => void runAction({ type: "rollback", targetMessageId: m.id })}
                    >
                      Rollback to here
                    </button>
                  </span>
                ) : null}
              </div>
              {editing?.id === m.id ? (
                <form
                  className="bubble edit"
                  onSubmit={(e) => {
                    e.preventDefault();
                    const text = editing.text.trim();
                    if (text) void runAction({ type: "edit", messageId: m.id, text });
                  }}
                >
                  <textarea
                    data-testid="edit-input"
                    aria-label="Edit message"
                    value={editing.text}
                    rows={2}
                    onChange={(e) => setEditing({ id: m.id, text: e.target.value })}
                  />
                  <button type="submit" className="primary" data-testid="edit-save" disabled={!canSend || !editing.text.trim()}>
                    Save
                  </button>
                  <button type="button" data-testid="edit-cancel" onClick={() => setEditing(null)}>
                    Cancel
                  </button>
                </form>
              ) : (
                <div className="bubble">
                  <MessageParts message={m} actions={actions} subAgents={subAgents} injected={injected} />
                </div>
              )}
            </article>
          ))
        )}
        {status === "submitted" ? (
          <div className="message assistant pending" data-testid="thinking">
            <div className="role">Agent</div>
            <div className="bubble">
              <span className="dots" aria-label="waiting for the agent">
                <i />
                <i />
                <i />
              </span>
            </div>
          </div>
        ) : null}
      </div>

      {pending.pending.length > 0 ? (
        <div className="pending-list" data-testid="pending-list">
          {pending.pending.map((p) => (
            <div
              key={p.id}
              className={`pending-message ${p.mode}`}
              data-testid="pending-message"
              data-mode={p.mode}
              data-pending-id={p.id}
            >
              <span className="pending-text">{p.text}</span>
              <span className="muted"> · {p.mode === "steering" ? "sent to the running reply" : "queued for the next turn"}</span>
              {p.mode === "queued" && canSteer ? (
                <button type="button" className="link" data-testid="promote" onClick={() => pending.promoteToSteering(p.id)}>
                  Steer instead
                </button>
              ) : null}
            </div>
          ))}
        </div>
      ) : null}

      {action ? (
        <div className={`banner action ${action.state}`} data-testid="action-status" data-action={action.type} data-state={action.state} role="status">
          <span>
            {action.type}: {action.state === "running" ? "sending…" : action.state}
            {action.detail ? ` (${action.detail})` : ""}
          </span>
          {action.state !== "running" ? (
            <button type="button" className="link" onClick={() => setAction(null)}>
              Dismiss
            </button>
          ) : null}
        </div>
      ) : null}

      {error ? (
        <div className="banner error" data-testid="chat-error" role="alert">
          <span>{describeError(error)}</span>
          <button
            type="button"
            onClick={() => {
              clearError();
              void regenerate();
            }}
          >
            Retry
          </button>
          <button type="button" onClick={() => clearError()}>
            Dismiss
          </button>
        </div>
      ) : null}

      {closed ? (
        <div className="banner closed" data-testid="closed-banner" role="status">
          This conversation is closed{closed.reason ? `: ${closed.reason}` : ""}. Start a new chat to go on.
        </div>
      ) : null}

      <form className="composer" onSubmit={submit}>
        <textarea
          data-testid="composer-input"
          value={input}
          rows={1}
          disabled={isReadOnly || closed !== null}
          placeholder={closed ? "This chat is closed" : isReadOnly ? "Active in another tab" : "Message the agent…"}
          onChange={(e) => setInput(e.target.value)}
          onKeyDown={onKeyDown}
          aria-label="Message"
        />
        {canSteer ? (
          <>
            <button type="submit" className="primary" data-testid="steer" disabled={!input.trim()} title="Send to the running reply">
              Steer
            </button>
            <button type="button" data-testid="queue" disabled={!input.trim()} onClick={queue} title="Send when the reply has finished">
              Queue
            </button>
          </>
        ) : null}
        {busy ? (
          <button type="button" className="stop" data-testid="stop" onClick={stop} disabled={isReadOnly}>
            Stop
          </button>
        ) : (
          <button type="submit" className="primary" data-testid="send" disabled={!canSend || !input.trim()}>
            Send
          </button>
        )}
        <button
          type="button"
          data-testid="regenerate"
          title="Regenerate the last reply"
          disabled={!canRegenerate}
          onClick={() => void regenerate()}
        >
          ↻<span className="wide-only"> Regenerate</span>
        </button>
        <button
          type="button"
          data-testid="undo"
          title="Undo the last exchange"
          disabled={!canUndo}
          onClick={() => void runAction({ type: "undo" })}
        >
          ↶<span className="wide-only"> Undo</span>
        </button>
      </form>

      <footer
        className="statusline"
        data-testid="status"
        data-state={conn.state}
        data-token-refreshes={conn.tokenRefreshes}
        data-queued={conn.queued}
      >
        <span className={`dot ${conn.state}`} aria-hidden />
        <span data-testid="status-text">{STATE_LABEL[conn.state]}</span>
        {conn.detail ? <span className="muted"> · {conn.detail}</span> : null}
        <span className="muted"> · {busy ? (status === "submitted" ? "waiting" : "streaming") : "idle"}</span>
        {conn.tokenRefreshes > 0 ? <span className="muted"> · {conn.tokenRefreshes} token refresh{conn.tokenRefreshes === 1 ? "" : "es"}</span> : null}
        {conn.queued > 0 ? <span className="muted"> · {conn.queued === 1 ? "a message waits" : `${conn.queued} messages wait`} for the network</span> : null}
        {ttfc ? (
          <span className="muted" data-testid="ttfc" data-ms={ttfc.ms} data-path={ttfc.path}>
            {" "}
            · first chunk in {ttfc.ms} ms ({PATH_LABEL[ttfc.path] ?? ttfc.path})
          </span>
        ) : null}
        {messages.length > 0 && !transcriptCursors ? (
          <a className="transcript-link" data-testid="transcript-link" href={`#/t/${encodeURIComponent(chatId)}`}>
            From transcript
          </a>
        ) : null}
        {messages.length > 0 ? (
          <a
            className="watch-link"
            data-testid="watch-link"
            href={`#/watch/${encodeURIComponent(chatId)}`}
            target="_blank"
            rel="noopener"
            title="Open a live, read-only view of this chat"
          >
            Watch
          </a>
        ) : null}
      </footer>
    </section>
  );
}

const PATH_LABEL: Record<string, string> = {
  none: "first turn, session started with it",
  preload: "first turn, preloaded",
  "head-start": "first turn, head start",
  session: "later turn",
};

/** The last time to first chunk measured for each way of starting a chat (kept in this browser). */
function readTtfc(): Record<string, number> {
  try {
    const v = JSON.parse(localStorage.getItem("demo.ttfc") ?? "{}") as unknown;
    return v && typeof v === "object" ? (v as Record<string, number>) : {};
  } catch {
    return {};
  }
}

function recordTtfc(path: string, ms: number) {
  if (path === "session") return;
  localStorage.setItem("demo.ttfc", JSON.stringify({ ...readTtfc(), [path]: ms }));
}

/** Picks how the new chat's first turn starts, with the last time to first chunk of each. */
function FastStartPicker({ mode, onChange }: { mode: FastStart; onChange: (mode: FastStart) => void }) {
  const last = readTtfc();
  const options: Array<[FastStart, string]> = [
    ["none", "Plain"],
    ["preload", "Preload"],
    ["head-start", "Head start"],
  ];
  return (
    <div className="fast-start" data-testid="fast-start" role="group" aria-label="How the first turn starts">
      <span className="muted">First turn:</span>
      {options.map(([value, label]) => (
        <button
          key={value}
          type="button"
          className={value === mode ? "primary" : ""}
          data-testid="fast-start-option"
          data-mode={value}
          aria-pressed={value === mode}
          onClick={() => onChange(value)}
        >
          {label}
          {last[value] !== undefined ? <span className="muted"> · {last[value]} ms</span> : null}
        </button>
      ))}
    </div>
  );
}

/** The actions the emulator's agent accepts (its `actionSchema`). */
type ChatAction =
  | { type: "undo" }
  | { type: "rollback"; targetMessageId: string }
  | { type: "edit"; messageId: string; text: string };

type ActionState = { type: ChatAction["type"]; state: "running" | "settled" | "failed"; detail?: string };

/** A message's plain text (what an edit starts from). */
function messageText(m: UIMessage): string {
  return m.parts
    .filter((p): p is Extract<UIMessage["parts"][number], { type: "text" }> => p.type === "text")
    .map((p) => p.text)
    .join("");
}

const TOOL_PROGRESS: Record<string, number> = {
  "input-streaming": 1,
  "input-available": 2,
  "approval-requested": 3,
  "approval-responded": 4,
  "output-available": 5,
  "output-error": 5,
  "output-denied": 5,
};

/** How far a message has got: its parts, its text, its tool calls' states. */
function progress(m: UIMessage): number {
  let n = 0;
  for (const p of m.parts as Array<{ type: string; text?: string; state?: string }>) {
    n += 1_000_000;
    if (typeof p.text === "string") n += p.text.length;
    if (p.state && p.state in TOOL_PROGRESS) n += TOOL_PROGRESS[p.state] * 100_000;
  }
  return n;
}

/** True when `shared` is an older copy of `mine` (fewer messages or less content). */
function isBehind(shared: UIMessage[], mine: UIMessage[]): boolean {
  if (shared.length < mine.length) return true;
  for (let i = 0; i < mine.length; i++) {
    if (shared[i].id !== mine[i].id) return false; // a different history: not comparable
    if (progress(shared[i]) < progress(mine[i])) return true;
  }
  return false;
}

/** An assistant message an error cut off before any part arrived shows nothing. */
function hasContent(m: UIMessage): boolean {
  return m.role !== "assistant" || m.parts.some((p) => p.type !== "step-start");
}
