// Headless Chromium through playwright-core, always the system build.
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { chromium } from "playwright-core";
import { BACKGROUND_TAB_ARGS, CHROMIUM_ARGS, CHROMIUM_PATH } from "../../support/chromium.mjs";

const ARGS = [...CHROMIUM_ARGS, ...BACKGROUND_TAB_ARGS];

/**
 * Launches Chromium with a fresh profile. Every page of the returned context
 * shares one profile, so BroadcastChannel reaches between them like tabs.
 */
export async function launchBrowser({ viewport = { width: 1100, height: 760 } } = {}) {
  const userDataDir = await mkdtemp(path.join(os.tmpdir(), "e2e-chromium-"));
  const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: CHROMIUM_PATH,
    headless: false, // the flag is passed explicitly above
    args: ARGS,
    viewport,
    timeout: 60_000,
  });
  const logs = [];
  const watch = (page, label) => {
    page.on("console", (m) => {
      if (m.type() === "error" || m.type() === "warning") logs.push(`[${label} console.${m.type()}] ${m.text()}`);
    });
    page.on("pageerror", (e) => logs.push(`[${label} pageerror] ${e.stack ?? e.message}`));
    page.on("response", (r) => {
      if (r.status() >= 400) logs.push(`[${label} response] ${r.status()} ${r.request().method()} ${r.url()}`);
    });
    page.on("requestfailed", (r) => {
      const why = r.failure()?.errorText ?? "";
      if (!why.includes("ERR_ABORTED")) logs.push(`[${label} requestfailed] ${r.method()} ${r.url()} ${why}`);
    });
  };
  let pages = 0;
  return {
    context,
    logs: () => logs.join("\n"),
    async newPage() {
      const page = context.pages().find((p) => p.url() === "about:blank" && !p.__used) ?? (await context.newPage());
      page.__used = true;
      watch(page, `tab${++pages}`);
      return page;
    },
    async close() {
      await context.close().catch(() => {});
      await rm(userDataDir, { recursive: true, force: true }).catch(() => {});
    },
  };
}
