// server-chat.mdx (4.5.0 docs): AgentChat from server code.
import { AgentChat, type ChatSession, type ChatStreamResult } from "@trigger.dev/sdk/chat";
import { tool } from "ai";
import { z } from "zod";
import type { myAgent } from "../trigger/chat";

declare const db: {
    sessions: {
        find(q: { chatId: string }): Promise<{ lastEventId?: string } | undefined>;
        upsert(row: { chatId: string; runId: string }): Promise<void>;
        update(row: { chatId: string; lastEventId?: string }): Promise<void>;
    };
};

export async function basics(prNumber: number): Promise<string> {
    const chat = new AgentChat({ agent: "my-agent" });
    const stream = await chat.sendMessage("Hello!");
    const text = await stream.text();
    await chat.close();

    const typed = new AgentChat<typeof myAgent>({
        agent: "my-agent",
        clientData: { userId: "user_123" },
    });
    await typed.preload();
    const review = await (await typed.sendMessage("Review PR #42")).text();
    const { toolCalls, toolResults }: ChatStreamResult = await (await typed.sendMessage("Research this topic")).result();
    for (const tc of toolCalls) console.log(`Tool: ${tc.toolName}, Input: ${JSON.stringify(tc.input)}`);
    console.log(toolResults.length);

    const explicit = new AgentChat({ agent: "my-agent", id: `review-${prNumber}` });
    const report = await explicit.sendMessage("Write a report");
    for await (const chunk of report) {
        if (chunk.type === "text-delta") process.stdout.write(chunk.delta);
        if (chunk.type === "tool-input-available") console.log(`Using tool: ${chunk.toolName}`);
    }
    await explicit.steer("Focus on security issues specifically");
    await explicit.stop();
    const rawStream = await explicit.sendRaw([
        {
            id: "msg-1",
            role: "user",
            parts: [
                { type: "text", text: "Hello" },
                { type: "file", url: "https://example.com/a.png", mediaType: "image/png" },
            ],
        },
    ]);
    void rawStream;
    const resumed = await explicit.reconnect();
    void resumed;
    const action = await explicit.sendAction({ type: "undo" });
    for await (const chunk of action) {
        if (chunk.type === "text-delta") process.stdout.write(chunk.delta);
    }
    return `${text}${review}`;
}

export async function POST(req: Request): Promise<Response> {
    const { chatId, message } = (await req.json()) as { chatId: string; message: string };
    const saved = await db.sessions.find({ chatId });
    const session: ChatSession | undefined = saved ? { lastEventId: saved.lastEventId } : undefined;
    const chat = new AgentChat({
        agent: "my-agent",
        id: chatId,
        session,
        onTriggered: async ({ runId }) => {
            await db.sessions.upsert({ chatId, runId });
        },
        onTurnComplete: async ({ lastEventId }) => {
            await db.sessions.update({ chatId, lastEventId });
        },
    });
    const stream = await chat.sendMessage(message);
    const text = await stream.text();
    return Response.json({ text });
}

export const researchTool = tool({
    description: "Delegate research to a specialist agent.",
    inputSchema: z.object({ topic: z.string() }),
    execute: async function* ({ topic }, { abortSignal }) {
        const chat = new AgentChat({ agent: "research-agent" });
        const stream = await chat.sendMessage(topic, { abortSignal });
        yield* stream.messages();
        await chat.close();
    },
    toModelOutput: ({ output: message }) => {
        const lastText = message?.parts?.findLast((p: { type: string }) => p.type === "text") as
            | { text?: string }
            | undefined;
        return { type: "text", value: lastText?.text ?? "Done." };
    },
});
