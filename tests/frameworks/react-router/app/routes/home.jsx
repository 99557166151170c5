import { TriggerChatTransport } from "trigger-chat-wasm";
import { useLoaderData } from "react-router";
import { Chat } from "../../../shared/chat.js";

// Runs on the server only: the package's server entry builds a transport.
export function loader() {
  const transport = new TriggerChatTransport({ task: "ai-chat", accessToken: () => "server-token" });
  const ok = typeof transport.sendMessages === "function" && transport.isReadOnly("probe") === false;
  transport.dispose();
  return { server: ok ? "server transport ready" : "server transport broken" };
}

export default function Home() {
  const { server } = useLoaderData();
  return (
    <>
      <p id="server">{server}</p>
      <Chat chatId="react-router" label="React Router" />
    </>
  );
}
