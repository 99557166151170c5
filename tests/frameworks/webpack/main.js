import { createElement } from "react";
import { createRoot } from "react-dom/client";
import { Chat } from "../shared/chat.js";

createRoot(document.getElementById("root")).render(createElement(Chat, { chatId: "webpack", label: "webpack" }));
