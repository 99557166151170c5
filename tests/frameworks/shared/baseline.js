"use client";
// The same page without trigger-chat-wasm (useChat with its default
// transport): the difference between what the two pages load is the
// transport's share of the page.
import { createElement as h } from "react";
import { useChat } from "@ai-sdk/react";

export function Baseline({ label }) {
  const { messages, status } = useChat({ id: "baseline" });
  return h(
    "main",
    { "data-status": status },
    h("h1", null, `baseline on ${label}`),
    h("ul", null, messages.map((m) => h("li", { key: m.id }, m.role))),
  );
}
