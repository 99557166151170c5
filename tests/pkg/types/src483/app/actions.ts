// The app's server actions the examples call (stand-ins with the documented shapes).
import type { ChatSessionPersistedState } from "@trigger.dev/sdk/chat";

export async function mintChatAccessToken(chatId: string): Promise<string> {
    return `token-${chatId}`;
}

export async function startChatSession(args: {
    chatId: string;
    clientData: Record<string, unknown>;
}): Promise<{ publicAccessToken: string }> {
    return { publicAccessToken: `pat-${args.chatId}-${Object.keys(args.clientData).length}` };
}

export async function deleteSession(chatId: string): Promise<void> {
    void chatId;
}

export const loadedSessions: Record<string, ChatSessionPersistedState> = {};

export const metrics = {
    increment(name: string, tags?: Record<string, unknown>): void {
        void name;
        void tags;
    },
    timing(name: string, ms: number): void {
        void name;
        void ms;
    },
};
