// Hooks the reference SDK 4.5.0 lacks. `npm run build:vendor` points
// `trigger-chat-wasm/react` at @trigger.dev/sdk 4.5.0, whose chat-react has no
// `useLoadTranscript` / `seedTranscriptCursor` (4.8.3 added them): there the
// transcript view loads without them (a plain effect, and the cursor seeded
// through the transport's `seedResumeCursor` when it has one).
import { useEffect, useState } from "react";
import type { UIMessage } from "ai";
import * as chatReact from "trigger-chat-wasm/react";

type Cursors = { lastOutEventId?: string; lastInEventId?: string } | undefined;
type Loaded = { messages: UIMessage[]; isLoading: boolean; error: Error | undefined; nextCursor: string | undefined };
type Load = (args: { chatId: string; limit?: number }) => Promise<{ messages: UIMessage[]; nextCursor?: string }>;

const lib = chatReact as {
  useLoadTranscript?: (chatId: string | undefined, load: Load) => Loaded;
  seedTranscriptCursor?: (transport: unknown, chatId: string, cursors: Cursors) => boolean;
};

function useLoadTranscriptFallback(chatId: string | undefined, load: Load): Loaded {
  const [state, setState] = useState<Loaded>({ messages: [], isLoading: true, error: undefined, nextCursor: undefined });
  useEffect(() => {
    if (chatId === undefined) return;
    let current = true;
    load({ chatId }).then(
      (r) => current && setState({ messages: r.messages, isLoading: false, error: undefined, nextCursor: r.nextCursor }),
      (e: unknown) =>
        current &&
        setState({ messages: [], isLoading: false, error: e instanceof Error ? e : new Error(String(e)), nextCursor: undefined }),
    );
    return () => {
      current = false;
    };
  }, [chatId, load]);
  return state;
}

export const useLoadTranscript: (chatId: string | undefined, load: Load) => Loaded =
  lib.useLoadTranscript ?? useLoadTranscriptFallback;

export function seedTranscriptCursor(transport: unknown, chatId: string, cursors: Cursors): boolean {
  if (lib.seedTranscriptCursor) return lib.seedTranscriptCursor(transport, chatId, cursors);
  const seed = (transport as { seedResumeCursor?: (chatId: string, id: string) => void }).seedResumeCursor;
  if (!seed || !cursors?.lastOutEventId) return false;
  seed.call(transport, chatId, cursors.lastOutEventId);
  return true;
}
