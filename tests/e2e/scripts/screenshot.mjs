// Takes the README screenshot: docs/demo.png, a chat with a few turns in
// headless Chromium (through chromedriver, lib/browser.mjs) against a fresh
// emulator. Run after `npm run pretest`.
import path from "node:path";
import { launchBrowser } from "../lib/browser.mjs";
import { openChat, send, waitForReplies } from "../lib/chat.mjs";
import { startEmulator } from "../lib/emulator.mjs";
import { ROOT } from "../lib/paths.mjs";

const emu = await startEmulator(["--chunk-delay-ms", "5"]);
const browser = await launchBrowser({ engine: "chromium", viewport: { width: 1100, height: 720 } });
try {
  const page = await browser.newPage();
  // A couple of older chats for the sidebar.
  for (const text of ["What can you do?", "/reason"]) {
    await openChat(page, emu.url);
    await send(page, text);
    await waitForReplies(page, 1);
  }
  await openChat(page, emu.url);
  await send(page, "Hello! Can you check the weather?");
  await waitForReplies(page, 1);
  await send(page, "/tool");
  await waitForReplies(page, 2);
  await send(page, "/ask");
  await waitForReplies(page, 3);
  await page.byTestId("hitl").waitFor();
  await page.byTestId("composer-input").fill("/long 40");
  const out = path.join(ROOT, "docs", "demo.png");
  await page.screenshot(out);
  console.log(`wrote ${path.relative(ROOT, out)}`);
} finally {
  await browser.close();
  await emu.stop();
}
