// The agent the 4.8.3 examples name (frontend.mdx: `myChat` with a client
// data schema). Server code: keeps importing @trigger.dev/sdk/ai in both
// variants of the check.
import { chat } from "@trigger.dev/sdk/ai";
import { stepCountIs, streamText } from "ai";
import { z } from "zod";

export const myChat = chat.agent({
    id: "my-chat",
    clientDataSchema: z.object({
        userId: z.string(),
        locale: z.enum(["en", "fr"]).default("en"),
    }),
    run: async ({ messages, clientData, signal }) => {
        return streamText({
            model: "anthropic/claude-sonnet-4-5",
            system: clientData?.locale === "fr" ? "Reply in French." : "Reply in English.",
            messages,
            abortSignal: signal,
            stopWhen: stepCountIs(15),
        });
    },
});

export const myAgent = chat.agent({
    id: "my-agent",
    clientDataSchema: z.object({ userId: z.string() }),
    run: async ({ messages, signal }) => {
        return streamText({ model: "openai/gpt-4o", messages, abortSignal: signal });
    },
});
