// Node ESM, no bundler: `import` resolves the package's Node entry. Sends a
// message to the emulator at argv[2] and prints what came back as JSON.
import { TriggerChatTransport } from "trigger-chat-wasm";
import { useTriggerChatTransport } from "trigger-chat-wasm/react";
import { createElement } from "react";
import { renderToString } from "react-dom/server";
import { roundTrip } from "./round-trip.mjs";

let fromHook;
function Page() {
  fromHook = useTriggerChatTransport({ task: "ai-chat", accessToken: () => "t" });
  return createElement("p", null, typeof fromHook.sendMessages);
}
const html = renderToString(createElement(Page));
const reply = await roundTrip(TriggerChatTransport, process.argv[2], "hello from node esm");
console.log(
  JSON.stringify({
    entry: import.meta.resolve("trigger-chat-wasm"),
    html,
    hookSharesClass: fromHook instanceof TriggerChatTransport,
    reply,
  }),
);
