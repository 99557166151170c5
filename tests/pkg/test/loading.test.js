// Loading checks: the package works with no configuration in a Vite 7 dev
// server, a Vite 7 production build, a webpack 5 production build, a plain
// <script type="module"> page and Node 20 (including server-side rendering).
import { execFileSync } from "node:child_process";
import { rmSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { launchChromium, resultOf } from "./helpers/browser.js";
import { serveStatic } from "../loading/static-server.js";

const here = (p) => fileURLToPath(new URL(p, import.meta.url));
const ROOT = here("..");
const APP = here("../loading/app");

const EXPECTED = {
    sendMessages: "function",
    createdIsInstance: true,
    resumeStreamIsReplay: true,
    text: "Loaded and streaming.",
    appended: 1,
};

function expectWorking({ result, problems }, extra = {}) {
    expect(result.error, result.error).toBeUndefined();
    expect(result).toMatchObject({ ...EXPECTED, ...extra });
    expect(result.session).toMatchObject({ publicAccessToken: "pat-1", isStreaming: false });
    expect(problems).toEqual([]);
}

let browser;
beforeAll(async () => {
    browser = await launchChromium();
});
afterAll(async () => {
    await browser?.close();
});

describe("in the browser", () => {
    it("Vite 7 dev server", async () => {
        const { createServer } = await import("vite");
        const server = await createServer({
            configFile: false,
            root: APP,
            logLevel: "error",
            server: { host: "127.0.0.1", port: 0, strictPort: false, fs: { allow: [ROOT] } },
            cacheDir: here("../node_modules/.vite-loading-dev"),
            // A rebuilt package keeps its version: without `force`, a cache
            // from an earlier build would serve the old glue.
            optimizeDeps: { force: true },
        });
        await server.listen();
        try {
            const url = server.resolvedUrls.local[0];
            expectWorking(await resultOf(browser, url), { hookSharesClass: true });
        } finally {
            await server.close();
        }
    });

    it("Vite 7 production build", async () => {
        const { build } = await import("vite");
        const outDir = here("../dist/vite");
        rmSync(outDir, { recursive: true, force: true });
        await build({ configFile: false, root: APP, logLevel: "error", build: { outDir, emptyOutDir: true } });
        const server = await serveStatic(outDir);
        try {
            expectWorking(await resultOf(browser, `${server.url}/`), { hookSharesClass: true });
        } finally {
            await server.close();
        }
    });

    it("webpack 5 production build", async () => {
        const { default: webpack } = await import("webpack");
        const outDir = here("../dist/webpack");
        rmSync(outDir, { recursive: true, force: true });
        const stats = await new Promise((resolve, reject) =>
            webpack(
                {
                    mode: "production",
                    context: ROOT,
                    entry: "./loading/app/main.js",
                    output: { path: outDir, filename: "main.js" },
                },
                (error, result) => (error ? reject(error) : resolve(result)),
            ),
        );
        expect(stats.hasErrors(), stats.toString("errors-only")).toBe(false);
        // webpack's performance hints are about the whole app (React alone is
        // most of this one's 244 KiB entry budget); the package's own bytes
        // are measured by `npm run size` and `cargo xtask bench`. Any other
        // warning fails the build check.
        const hints = /^(asset size limit|entrypoint size limit|webpack performance recommendations)/;
        const warnings = stats
            .toJson({ all: false, warnings: true })
            .warnings.filter((w) => !hints.test(String(w.message)));
        expect(warnings, stats.toString("errors-warnings")).toEqual([]);
        const { writeFileSync } = await import("node:fs");
        writeFileSync(
            `${outDir}/index.html`,
            '<!doctype html><html><head><meta charset="utf-8"><link rel="icon" href="data:,"></head><body>loading<script src="main.js"></script></body></html>',
        );
        const server = await serveStatic(outDir);
        try {
            expectWorking(await resultOf(browser, `${server.url}/`), { hookSharesClass: true });
        } finally {
            await server.close();
        }
    });

    it("a plain <script type=module> page importing the package's index.js", async () => {
        const server = await serveStatic(ROOT);
        try {
            expectWorking(await resultOf(browser, `${server.url}/loading/plain/index.html`));
        } finally {
            await server.close();
        }
    });
});

describe("in Node 20", () => {
    const node = (code) =>
        JSON.parse(
            execFileSync(process.execPath, ["--input-type=module", "-e", code], {
                cwd: ROOT,
                encoding: "utf8",
                // A stuck child must fail the test, not hang the suite.
                timeout: 60_000,
            }),
        );

    it("import resolves to the Node entry, constructs a transport and streams a reply", () => {
        const out = node(`
            const entry = import.meta.resolve("trigger-chat-wasm");
            const mod = await import("trigger-chat-wasm");
            const { runChecks } = await import("./loading/app/run.js");
            const result = await runChecks(mod);
            console.log(JSON.stringify({ entry, exports: Object.keys(mod).sort(), result }));
        `);
        expect(out.entry).toMatch(/\/trigger-chat-wasm\/node\.js$/);
        expect(out.exports).toEqual(expect.arrayContaining(["TriggerChatTransport", "createChatTransport"]));
        expect(out.result).toMatchObject(EXPECTED);
    });

    it("server-side rendering with useTriggerChatTransport does not throw", () => {
        const out = node(`
            import { createElement } from "react";
            import { renderToString } from "react-dom/server";
            import { useTriggerChatTransport } from "trigger-chat-wasm/react";
            function Page() {
                const transport = useTriggerChatTransport({ task: "ssr", accessToken: () => "t" });
                return createElement("p", null, typeof transport.sendMessages + ":" + transport.isReadOnly("c"));
            }
            console.log(JSON.stringify({ html: renderToString(createElement(Page)) }));
        `);
        expect(out.html).toBe("<p>function:false</p>");
    });

    it("server-side rendering with multiTab: true leaves no timer or channel running", () => {
        // A server renders many pages: a transport built during SSR must not
        // start tab coordination (a BroadcastChannel and a heartbeat timer)
        // that nothing will ever dispose.
        const out = node(`
            import { createElement } from "react";
            import { renderToString } from "react-dom/server";
            import { useTriggerChatTransport } from "trigger-chat-wasm/react";
            const before = process.getActiveResourcesInfo();
            function Page() {
                const transport = useTriggerChatTransport({ task: "ssr", accessToken: () => "t", multiTab: true });
                return createElement("p", null, String(transport.isReadOnly("c")));
            }
            const html = renderToString(createElement(Page));
            const after = process.getActiveResourcesInfo();
            console.log(JSON.stringify({ html, before, after }));
            process.exit(0);
        `);
        expect(out.html).toBe("<p>false</p>");
        expect(out.after.sort()).toEqual(out.before.sort());
    });
});
