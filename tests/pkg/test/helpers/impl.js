// The transport implementation under test. Always our package, except when
// CHAT_UNDER_TEST=vendor, which runs the same tests against
// `@trigger.dev/sdk/chat` to check that they assert the reference behaviour.
export const underTest = process.env.CHAT_UNDER_TEST === "vendor" ? "vendor" : "ours";

const chatModule = underTest === "vendor" ? "@trigger.dev/sdk/chat" : "trigger-chat-wasm";
const reactModule = underTest === "vendor" ? "@trigger.dev/sdk/chat/react" : "trigger-chat-wasm/react";

export const chat = await import(/* @vite-ignore */ chatModule);
export const loadReact = () => import(/* @vite-ignore */ reactModule);
