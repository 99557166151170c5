// Prerendered at build time: the server component and the client component's
// server-side render both run during `next build`.
import { Chat } from "../../shared/chat.js";
import { serverCheck } from "./server-check.js";

export default function Page() {
  return (
    <>
      <p id="server">{serverCheck()}</p>
      <Chat chatId="next-static" label="Next.js" />
    </>
  );
}
