// Rendered on every request by `next start` / the standalone server.
import { Chat } from "../../../shared/chat.js";
import { serverCheck } from "../server-check.js";

export const dynamic = "force-dynamic";

export default function Page() {
  return (
    <>
      <p id="server">{serverCheck()}</p>
      <Chat chatId="next-dynamic" label="Next.js" />
    </>
  );
}
