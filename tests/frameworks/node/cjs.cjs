// Node CommonJS, no bundler: `require` resolves the package's CommonJS build.
// Sends a message to the emulator at argv[2] and prints what came back.
const { TriggerChatTransport } = require("trigger-chat-wasm");
const { useTriggerChatTransport } = require("trigger-chat-wasm/react");
const { createElement } = require("react");
const { renderToString } = require("react-dom/server");

let fromHook;
function Page() {
  fromHook = useTriggerChatTransport({ task: "ai-chat", accessToken: () => "t" });
  return createElement("p", null, typeof fromHook.sendMessages);
}
const html = renderToString(createElement(Page));
import("./round-trip.mjs")
  .then(({ roundTrip }) => roundTrip(TriggerChatTransport, process.argv[2], "hello from node cjs"))
  .then((reply) => {
    console.log(
      JSON.stringify({
        entry: require.resolve("trigger-chat-wasm"),
        html,
        hookSharesClass: fromHook instanceof TriggerChatTransport,
        reply,
      }),
    );
  });
