// The chat agent the demo (www/) talks to: task id "ai-chat", the one the
// demo's app server starts sessions for. Deploy it to your Trigger.dev
// project (see examples/README.md) and run `cargo xtask demo --api-url …`.
//
// The model is the AI SDK's: OpenAI here (OPENAI_API_KEY in the project's
// environment variables); any AI SDK provider works the same way, e.g.
// `anthropic("claude-…")` from @ai-sdk/anthropic.
import { chat } from "@trigger.dev/sdk/ai";
import { openai } from "@ai-sdk/openai";

const MODEL = process.env.CHAT_MODEL ?? "gpt-4o-mini";

export const aiChat = chat.agent({
  id: "ai-chat",
  // Seconds a run waits for the next message before it suspends; the next
  // message then starts a continuation, as in the emulator.
  idleTimeoutInSeconds: 30,
  system: "You are a helpful assistant. Keep answers short.",
  run: async ({ messages, streamText }) => {
    // `streamText` is the SDK's managed one: it already carries the system
    // prompt, stop signal, steering and telemetry; we add the model.
    return streamText({
      model: openai(MODEL),
      messages,
    });
  },
});
