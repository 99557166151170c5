// Sub-agents forwarded by the agent (`chat.forwardSubAgent`; the emulator's
// `/subagent` script): `useSubAgentMessages` rebuilds each one's message from
// the `data-subagent` parts while its tool call runs.
import type { UIMessage } from "ai";
import * as chatReact from "trigger-chat-wasm/react";

export type SubAgents = {
  onData: (part: unknown) => void;
  get: (toolCallId: string) => UIMessage | undefined;
};

// `npm run build:vendor` points this import at @trigger.dev/sdk 4.5.0, which
// predates the hook: there the page shows a sub-agent once its tool has output.
const noSubAgents: SubAgents = { onData: () => {}, get: () => undefined };
const hook = (chatReact as { useSubAgentMessages?: () => SubAgents }).useSubAgentMessages;

export const useSubAgents: () => SubAgents = hook ?? (() => noSubAgents);

/** The sub-agent message a tool part shows: live while it runs, its output after. */
export function subAgentMessage(subAgents: SubAgents, toolCallId: string, output: unknown): UIMessage | undefined {
  const live = subAgents.get(toolCallId);
  if (live) return live;
  if (
    output &&
    typeof output === "object" &&
    (output as { role?: unknown }).role === "assistant" &&
    Array.isArray((output as { parts?: unknown }).parts)
  ) {
    return output as UIMessage;
  }
  return undefined;
}
