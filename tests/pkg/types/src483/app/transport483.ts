// 4.8.3's additions to the transport, as reference.mdx documents them:
// per-action options with settlement, the callback setters, the resume
// cursor seed, closed sessions, wire types.
import {
    TriggerChatTransport,
    type ChatActionOptions,
    type ChatActionSettlement,
    type ChatInputChunk,
    type ChatTaskWirePayload,
    type StartSessionResult,
} from "@trigger.dev/sdk/chat";
import type { UIMessage } from "ai";
import { mintChatAccessToken } from "./actions";

export async function actions(chatId: string): Promise<ChatActionSettlement | undefined> {
    const transport = new TriggerChatTransport({
        task: "my-chat",
        accessToken: ({ chatId }) => mintChatAccessToken(chatId),
        startSession: async (): Promise<StartSessionResult> => ({ publicAccessToken: "pat", pendingVersion: false }),
    });
    let settled: ChatActionSettlement | undefined;
    const abort = new AbortController();
    const options: ChatActionOptions = {
        abortSignal: abort.signal,
        metadata: { source: "toolbar" },
        onSettled: (settlement) => {
            settled = settlement;
            console.log(settlement.inputSeq, settlement.sessionInEventId, settlement.lastEventId);
        },
    };
    const stream = await transport.sendAction(chatId, { type: "undo" }, options);
    await stream.pipeTo(new WritableStream());
    transport.setAccessToken(({ chatId }) => `next-${chatId}`);
    transport.setStartSession(undefined);
    transport.setFetch((url, init) => fetch(url, init));
    transport.setOnEvent((event) => console.log(event.type));
    transport.seedResumeCursor(chatId, "42");
    transport.clearSupersedeGate(chatId);
    if (transport.sessionStatus(chatId) === "closed") console.log(transport.sessionClosedReason(chatId));
    const resumed = await transport.reconnectToStream({ chatId, stopOnAbort: false });
    void resumed;
    transport.dispose();
    return settled;
}

export function wire(message: UIMessage): ChatInputChunk[] {
    const payload: ChatTaskWirePayload = { chatId: "c", trigger: "submit-message", message };
    return [{ kind: "message", payload }, { kind: "stop", message: "user pressed stop" }, { kind: "handover-skip" }];
}
