// A CommonJS TypeScript program (`module: node16`, a `.cts` file): its
// imports become `require` calls, so the package's `require` condition
// must carry types a CommonJS module may load.
import { TriggerChatTransport, createChatTransport } from "trigger-chat-wasm";
import { useTriggerChatTransport } from "trigger-chat-wasm/react";

const transport: TriggerChatTransport = createChatTransport({
  task: "my-chat",
  accessToken: async ({ chatId }) => `token-for-${chatId}`,
});
const status: "open" | "closed" = transport.sessionStatus("chat-1");
const hook: typeof useTriggerChatTransport = useTriggerChatTransport;

export = { transport, status, hook, TriggerChatTransport };
