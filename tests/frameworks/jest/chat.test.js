// Jest with its default setup (CommonJS, the node environment, no config):
// `require` gets the package's CommonJS build. A transport built here sends a
// message to the emulator (EMULATOR_URL, started by test/node.test.mjs) and
// reads the reply's stream (AI SDK 7 itself is ESM only, so a CommonJS Jest
// suite drives the transport directly); the React hook renders on the server
// with the app's own React.
const { TriggerChatTransport, createChatTransport } = require("trigger-chat-wasm");
const { useTriggerChatTransport } = require("trigger-chat-wasm/react");
const { createElement } = require("react");
const { renderToString } = require("react-dom/server");

const baseURL = process.env.EMULATOR_URL;

async function post(path) {
  const res = await fetch(baseURL + path, { method: "POST", headers: { "content-type": "application/json" }, body: "{}" });
  if (!res.ok) throw new Error(`${path}: ${res.status}`);
  return res.json();
}

const options = () => ({
  task: "ai-chat",
  baseURL,
  accessToken: async ({ chatId }) => (await post(`/app/chats/${chatId}/token`)).publicAccessToken,
  startSession: ({ chatId }) => post(`/app/chats/${chatId}/start`),
});

test("require() resolves the CommonJS build", () => {
  expect(require.resolve("trigger-chat-wasm")).toMatch(/trigger-chat-wasm[\\/]wasm[\\/]node\.cjs$/);
  expect(require.resolve("trigger-chat-wasm/react")).toMatch(/trigger-chat-wasm[\\/]wasm[\\/]react\.cjs$/);
  expect(createChatTransport(options())).toBeInstanceOf(TriggerChatTransport);
});

test("a reply from the emulator streams through sendMessages", async () => {
  const transport = new TriggerChatTransport(options());
  const stream = await transport.sendMessages({
    trigger: "submit-message",
    chatId: "jest-chat",
    messageId: undefined,
    messages: [{ id: "u1", role: "user", parts: [{ type: "text", text: "hello from jest" }] }],
    abortSignal: undefined,
  });
  const types = [];
  let text = "";
  for (const reader = stream.getReader(); ; ) {
    const { done, value } = await reader.read();
    if (done) break;
    types.push(value.type);
    if (value.type === "text-delta") text += value.delta;
  }
  transport.dispose();
  expect(text).toBe("Echo: hello from jest");
  expect(types[0]).toBe("start");
  expect(types.at(-1)).toBe("finish");
});

test("useTriggerChatTransport renders on the server and shares the entry's class", () => {
  let transport;
  function Page() {
    transport = useTriggerChatTransport({ task: "ai-chat", accessToken: () => "t" });
    return createElement("p", null, String(transport.isReadOnly("c")));
  }
  expect(renderToString(createElement(Page))).toBe("<p>false</p>");
  expect(transport).toBeInstanceOf(TriggerChatTransport);
});
