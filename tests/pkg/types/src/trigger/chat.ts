// Server side of the app: a chat agent with typed client data. This file
// keeps importing @trigger.dev/sdk/ai in both variants of the check; only the
// frontend imports change.
import { chat } from "@trigger.dev/sdk/ai";
import { streamText } from "ai";
import { z } from "zod";

export const myChat = chat.agent({
    id: "my-chat",
    clientDataSchema: z.object({
        userId: z.string(),
        model: z.string().optional(),
    }),
    run: async ({ messages, clientData, signal }) => {
        return streamText({
            ...chat.toStreamTextOptions(),
            model: clientData?.model ?? "openai/gpt-4o",
            messages,
            abortSignal: signal,
        });
    },
});

// An agent without a client data schema.
export const plainChat = chat.agent({
    id: "plain-chat",
    run: async ({ messages, signal }) => {
        return streamText({ model: "openai/gpt-4o", messages, abortSignal: signal });
    },
});
