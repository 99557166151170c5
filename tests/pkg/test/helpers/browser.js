// Headless Chromium through playwright-core, using the system's browser only.
import { chromium } from "playwright-core";
import { CHROMIUM_ARGS, CHROMIUM_PATH } from "../../../support/chromium.mjs";


export function launchChromium() {
    return chromium.launch({ executablePath: CHROMIUM_PATH, args: CHROMIUM_ARGS });
}

/** Opens `url` and resolves to the `window.__result` the page publishes. */
export async function resultOf(browser, url) {
    const page = await browser.newPage();
    const problems = [];
    let failed;
    const pageFailed = new Promise((_, reject) => (failed = reject));
    pageFailed.catch(() => {});
    page.on("pageerror", (error) => {
        problems.push(`pageerror: ${error.message}`);
        failed(new Error("the page threw"));
    });
    page.on("console", (message) => {
        if (message.type() === "error") problems.push(`console: ${message.text()}`);
    });
    page.on("requestfailed", (request) => problems.push(`requestfailed: ${request.url()}`));
    page.on("response", (response) => {
        if (response.status() >= 400) problems.push(`HTTP ${response.status()}: ${response.url()}`);
    });
    try {
        await page.goto(url);
        await Promise.race([
            page.waitForFunction(() => window.__result !== undefined, null, { timeout: 60_000 }),
            pageFailed,
        ]);
        const result = await page.evaluate(() => window.__result);
        return { result, problems };
    } catch (error) {
        throw new Error(`${url}: ${error.message}\n${problems.join("\n")}`);
    } finally {
        await page.close();
    }
}
