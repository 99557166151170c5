"use client";
// The chat every framework app renders: useTriggerChatTransport + useChat
// against the emulator, reached through the page's own origin (the test
// harness proxies /api/, /realtime/ and /app/ to it). Written with
// createElement so that every bundler takes it without a JSX setup.
import { createElement as h, useEffect, useState } from "react";
import { useChat } from "@ai-sdk/react";
import { TriggerChatTransport } from "trigger-chat-wasm";
import { useTriggerChatTransport } from "trigger-chat-wasm/react";

async function post(path) {
  const res = await fetch(path, { method: "POST", headers: { "content-type": "application/json" }, body: "{}" });
  if (!res.ok) throw new Error(`${path}: ${res.status}`);
  return res.json();
}

const origin = () => (typeof window === "undefined" ? "http://localhost" : window.location.origin);

export function Chat({ chatId, label }) {
  const transport = useTriggerChatTransport({
    task: "ai-chat",
    baseURL: origin(),
    accessToken: async ({ chatId: id }) => (await post(`/app/chats/${encodeURIComponent(id)}/token`)).publicAccessToken,
    startSession: ({ chatId: id }) => post(`/app/chats/${encodeURIComponent(id)}/start`),
  });
  const { messages, sendMessage, status, error } = useChat({ id: chatId, transport });
  const [hydrated, setHydrated] = useState(false);
  useEffect(() => setHydrated(true), []);
  const [text, setText] = useState("");

  return h(
    "main",
    { "data-hydrated": hydrated ? "yes" : "no", "data-status": status },
    h("h1", null, `trigger-chat-wasm on ${label}`),
    h("p", { id: "shared-class" }, String(transport instanceof TriggerChatTransport)),
    h(
      "ul",
      { id: "messages" },
      messages.map((m) =>
        h(
          "li",
          { key: m.id, "data-role": m.role },
          m.parts.map((p) => (p.type === "text" ? p.text : "")).join(""),
        ),
      ),
    ),
    error ? h("p", { id: "error" }, String(error.message ?? error)) : null,
    h(
      "form",
      {
        onSubmit: (e) => {
          e.preventDefault();
          sendMessage({ text });
          setText("");
        },
      },
      h("input", { id: "text", value: text, onChange: (e) => setText(e.target.value) }),
      h("button", { id: "send", type: "submit" }, "Send"),
    ),
  );
}
