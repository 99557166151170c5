// A server component builds a transport too (in the React Server Components
// layer, on the server only): the package's server entry must load there.
import { TriggerChatTransport } from "trigger-chat-wasm";

export function serverCheck() {
  const transport = new TriggerChatTransport({ task: "ai-chat", accessToken: () => "server-token" });
  const ok = typeof transport.sendMessages === "function" && transport.isReadOnly("probe") === false;
  transport.dispose();
  return ok ? "server transport ready" : "server transport broken";
}
