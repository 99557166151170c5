// Renders one message's parts. Everything is rendered as React text nodes:
// model output never reaches innerHTML.
import type { UIMessage } from "ai";
import { subAgentMessage, type SubAgents } from "./subAgents";

type AnyPart = UIMessage["parts"][number];

type ToolPart = {
  type: string;
  toolName?: string;
  toolCallId: string;
  state: string;
  input?: unknown;
  output?: unknown;
  errorText?: string;
  approval?: { id: string; approved?: boolean; reason?: string };
};

export type PartActions = {
  answer: (toolName: string, toolCallId: string, choice: string) => void;
  approve: (approvalId: string, approved: boolean) => void;
  /** False while read-only or while a reply streams. */
  canAct: boolean;
};

function isToolPart(part: AnyPart): part is AnyPart & ToolPart {
  return part.type === "dynamic-tool" || part.type.startsWith("tool-");
}

function toolName(part: ToolPart): string {
  return part.type === "dynamic-tool" ? (part.toolName ?? "tool") : part.type.slice("tool-".length);
}

function compactJson(value: unknown): string {
  if (value === undefined) return "";
  try {
    const s = JSON.stringify(value);
    return s.length > 160 ? `${s.slice(0, 157)}…` : s;
  } catch {
    return String(value);
  }
}

function questionOf(input: unknown): { question: string; options: string[] } | null {
  if (!input || typeof input !== "object") return null;
  const { question, options } = input as { question?: unknown; options?: unknown };
  if (typeof question !== "string" || !Array.isArray(options)) return null;
  const labels = options
    .map((o) =>
      typeof o === "string"
        ? o
        : o && typeof o === "object" && typeof (o as { label?: unknown }).label === "string"
          ? (o as { label: string }).label
          : null,
    )
    .filter((o): o is string => o !== null);
  return { question, options: labels };
}

const STATE_TEXT: Record<string, string> = {
  "input-streaming": "calling…",
  "input-available": "running…",
  "approval-requested": "needs approval",
  "approval-responded": "answered",
  "output-available": "done",
  "output-error": "failed",
  "output-denied": "denied",
};

/** A sub-agent's reply inside its parent's tool card. */
function SubAgentView({ toolCallId, message, running }: { toolCallId: string; message: UIMessage; running: boolean }) {
  const text = messageText(message);
  return (
    <div className="subagent" data-testid="subagent" data-tool-call-id={toolCallId} data-running={running}>
      <div className="muted subagent-label">Sub-agent{running ? " is answering…" : ""}</div>
      <p className="subagent-text" data-testid="subagent-text">
        {text}
      </p>
    </div>
  );
}

function ToolView({ part, actions, subAgents }: { part: ToolPart; actions: PartActions; subAgents: SubAgents }) {
  const name = toolName(part);
  const hitl = part.state === "input-available" ? questionOf(part.input) : null;

  if (hitl) {
    return (
      <div className="card ask" data-testid="hitl" data-tool-call-id={part.toolCallId}>
        <div className="card-title">{hitl.question}</div>
        <div className="options">
          {hitl.options.map((opt) => (
            <button
              key={opt}
              type="button"
              data-testid="hitl-option"
              data-option={opt}
              disabled={!actions.canAct}
              onClick={() => actions.answer(name, part.toolCallId, opt)}
            >
              {opt}
            </button>
          ))}
        </div>
      </div>
    );
  }

  if (part.state === "approval-requested" && part.approval) {
    const approvalId = part.approval.id;
    return (
      <div className="card approval" data-testid="approval" data-tool={name}>
        <div className="card-title">
          Allow <code>{name}</code>?
        </div>
        <pre className="tool-input">{compactJson(part.input)}</pre>
        <div className="options">
          <button
            type="button"
            className="primary"
            data-testid="approve"
            disabled={!actions.canAct}
            onClick={() => actions.approve(approvalId, true)}
          >
            Approve
          </button>
          <button
            type="button"
            data-testid="deny"
            disabled={!actions.canAct}
            onClick={() => actions.approve(approvalId, false)}
          >
            Deny
          </button>
        </div>
      </div>
    );
  }

  let summary = STATE_TEXT[part.state] ?? part.state;
  if (part.state === "approval-responded") summary = part.approval?.approved ? "approved" : "denied";
  const answered = questionOf(part.input) && part.state === "output-available";
  const sub = subAgentMessage(subAgents, part.toolCallId, part.output);
  const details = (
    <details className="tool" data-testid="tool" data-tool={name} data-state={part.state}>
      <summary>
        <span className="tool-icon" aria-hidden>
          ⚙
        </span>{" "}
        <code>{name}</code> <span className="muted">{summary}</span>
        {answered ? <span className="answer"> → {compactJson(part.output)}</span> : null}
      </summary>
      <div className="tool-body">
        <div>
          <span className="muted">input</span> <code>{compactJson(part.input)}</code>
        </div>
        {part.output !== undefined ? (
          <div>
            <span className="muted">output</span> <code>{compactJson(part.output)}</code>
          </div>
        ) : null}
        {part.errorText ? <div className="error-text">{part.errorText}</div> : null}
      </div>
    </details>
  );
  if (!sub) return details;
  return (
    <div className="tool-with-subagent">
      {details}
      <SubAgentView toolCallId={part.toolCallId} message={sub} running={part.state !== "output-available"} />
    </div>
  );
}

/** The messages an injection-point part lists (`usePendingMessages`), or null for other parts. */
export type InjectionReader = (part: unknown) => Array<{ id: string; text: string }> | null;

export function MessageParts({
  message,
  actions,
  subAgents,
  injected,
}: {
  message: UIMessage;
  actions: PartActions;
  subAgents: SubAgents;
  injected?: InjectionReader;
}) {
  return (
    <>
      {message.parts.map((part, i) => {
        const steering = injected?.(part);
        if (steering) {
          // Messages typed during the reply that the agent took in at this step.
          return (
            <div className="injected" data-testid="injected" key={i}>
              {steering.map((m) => (
                <div className="injected-message" data-testid="injected-message" data-message-id={m.id} key={m.id}>
                  <span className="muted">You, mid-reply:</span> {m.text}
                </div>
              ))}
            </div>
          );
        }
        if (part.type === "text") {
          return (
            <p className="text" data-testid="text-part" key={i}>
              {part.text}
            </p>
          );
        }
        if (part.type === "reasoning") {
          return (
            <details className="reasoning" data-testid="reasoning" key={i}>
              <summary>
                <span className="muted">Thought{part.state === "streaming" ? "…" : ""}</span>
              </summary>
              <p className="reasoning-text">{part.text}</p>
            </details>
          );
        }
        if (isToolPart(part)) {
          return <ToolView key={i} part={part as unknown as ToolPart} actions={actions} subAgents={subAgents} />;
        }
        if (part.type === "file") {
          return (
            <div className="muted" key={i}>
              📎 {part.filename ?? part.mediaType}
            </div>
          );
        }
        // step-start, source and data-* parts carry nothing to show here.
        return null;
      })}
    </>
  );
}

/** The plain text of a message (what the tests compare). */
export function messageText(message: UIMessage): string {
  return message.parts
    .filter((p): p is Extract<AnyPart, { type: "text" }> => p.type === "text")
    .map((p) => p.text)
    .join("");
}
