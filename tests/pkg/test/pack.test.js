// `npm pack` in pkg/ gives a complete, installable package.
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, posix } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { output } from "./helpers/spawn.js";

const PKG = fileURLToPath(new URL("../../../pkg", import.meta.url));
const npm = (args, cwd) => execFileSync("npm", args, { cwd, encoding: "utf8", timeout: 120_000 });

const scratch = mkdtempSync(join(tmpdir(), "trigger-chat-wasm-pack-"));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

describe("npm pack", () => {
    const [dry] = JSON.parse(npm(["pack", "--dry-run", "--json", "--ignore-scripts"], PKG));
    const files = dry.files.map((f) => f.path).sort();

    it("ships both entries, the React module, the types (ES module and CommonJS), the wasm, README and LICENSE", () => {
        for (const file of [
            "package.json",
            "index.js",
            "node.js",
            "react.js",
            "index.d.ts",
            "react.d.ts",
            "wasm/trigger_chat_wasm.js",
            "wasm/trigger_chat_wasm_bg.wasm",
            "wasm/inline.js",
            "wasm/node.cjs",
            "wasm/react.cjs",
            "wasm/index.d.cts",
            "wasm/react.d.cts",
            "wasm/agent-chat.d.cts",
            "wasm/sub-agent.d.cts",
            "README.md",
            "LICENSE",
        ]) {
            expect(files, file).toContain(file);
        }
        expect(files.filter((f) => f.endsWith(".wasm"))).toEqual(["wasm/trigger_chat_wasm_bg.wasm"]);
        // The module's boundary is wasm-bindgen's generated bindings
        // (wasm/trigger_chat_wasm.js), with no inline-JS snippets.
        expect(files.filter((f) => f.includes("snippets"))).toEqual([]);
    });

    it("every relative import and asset URL in the shipped JavaScript points at a shipped file", () => {
        const missing = [];
        let checked = 0;
        for (const file of files.filter((f) => f.endsWith(".js"))) {
            const source = readFileSync(join(PKG, file), "utf8");
            const specifiers = [
                ...source.matchAll(/(?:from|import)\s*\(?\s*["'](\.{1,2}\/[^"']+)["']/g),
                ...source.matchAll(/new URL\(\s*["'](\.{1,2}\/[^"']+)["']\s*,\s*import\.meta\.url/g),
            ].map((m) => m[1]);
            for (const spec of specifiers) {
                checked++;
                const target = posix.normalize(posix.join(posix.dirname(file), spec));
                if (!files.includes(target)) missing.push(`${file} -> ${spec}`);
            }
        }
        expect(checked).toBeGreaterThan(3);
        expect(missing).toEqual([]);
    });

    it("declares the package the way bundlers and Node expect", () => {
        const manifest = JSON.parse(readFileSync(join(PKG, "package.json"), "utf8"));
        expect(manifest).toMatchObject({
            name: "trigger-chat-wasm",
            version: "0.1.0",
            type: "module",
            sideEffects: false,
            license: "MIT",
            main: "./wasm/node.cjs",
            module: "./index.js",
            exports: {
                ".": {
                    require: { types: "./wasm/index.d.cts", default: "./wasm/node.cjs" },
                    types: "./index.d.ts",
                    node: "./node.js",
                    default: "./index.js",
                },
                "./react": {
                    require: { types: "./wasm/react.d.cts", default: "./wasm/react.cjs" },
                    types: "./react.d.ts",
                    default: "./react.js",
                },
            },
            peerDependenciesMeta: { react: { optional: true }, ai: { optional: true } },
        });
        // Order matters: the first condition that applies wins. `require`
        // (the CommonJS build, with its own `.d.cts` types) before `types`
        // (the ES module declarations) and `node` (the ES module server
        // entry), and the browser entry last.
        expect(Object.keys(manifest.exports["."])).toEqual(["require", "types", "node", "default"]);
        expect(Object.keys(manifest.exports["./react"])).toEqual(["require", "types", "default"]);
        expect(manifest.dependencies ?? {}).toEqual({});
    });

    it("only the synchronous entries carry the inlined module; the browser entry does not import it", () => {
        const browserGraph = ["index.js", "transport.js", "wasm/trigger_chat_wasm.js", "tabs.js"];
        for (const file of browserGraph) {
            expect(readFileSync(join(PKG, file), "utf8"), file).not.toMatch(/inline\.js/);
        }
        const code = (file) => readFileSync(join(PKG, file), "utf8").replace(/^\s*\/\/.*$/gm, "");
        expect(code("node.js")).toMatch(/from "\.\/wasm\/inline\.js"/);
        // No file read beside the module, which bundlers turn into asset URLs.
        for (const file of ["node.js", "wasm/node.cjs", "wasm/react.cjs"]) {
            expect(code(file), file).not.toMatch(/import\.meta|readFileSync/);
        }
    });

    it("the tarball installs offline into a fresh project and imports in Node", async () => {
        // Asynchronous children: npm and Node can take a while on a busy
        // machine, and a blocked worker times out its runner's calls.
        const npmAsync = (args, cwd) => output("npm", args, { cwd, timeout: 120_000 });
        const [packed] = JSON.parse(
            await npmAsync(["pack", "--json", "--ignore-scripts", "--pack-destination", scratch], PKG),
        );
        const app = join(scratch, "app");
        execFileSync("mkdir", ["-p", app]);
        writeFileSync(join(app, "package.json"), JSON.stringify({ name: "app", private: true, type: "module" }));
        await npmAsync(["install", "--offline", "--no-audit", "--no-fund", join(scratch, packed.filename)], app);
        const out = await output(
            process.execPath,
            [
                "--input-type=module",
                "-e",
                `const m = await import("trigger-chat-wasm");
                 const t = new m.TriggerChatTransport({ task: "x", accessToken: () => "t" });
                 console.log(JSON.stringify({ keys: Object.keys(m).sort(), send: typeof t.sendMessages, close: typeof t.close }));`,
            ],
            { cwd: app, timeout: 60_000 },
        );
        const imported = JSON.parse(out);
        expect(imported).toMatchObject({ send: "function", close: "function" });
        expect(imported.keys).toEqual(expect.arrayContaining(["TriggerChatTransport", "createChatTransport"]));
        const required = JSON.parse(
            await output(
                process.execPath,
                [
                    "-e",
                    // (React is not installed here: the React entry is only resolved.)
                    `const m = require("trigger-chat-wasm");
                     const t = new m.TriggerChatTransport({ task: "x", accessToken: () => "t" });
                     console.log(JSON.stringify({ keys: Object.keys(m).sort(), send: typeof t.sendMessages, entry: require.resolve("trigger-chat-wasm"), react: require.resolve("trigger-chat-wasm/react") }));`,
                ],
                { cwd: app, timeout: 60_000 },
            ),
        );
        expect(required).toMatchObject({ keys: imported.keys, send: "function" });
        expect(required.entry).toMatch(/wasm[\\/]node\.cjs$/);
        expect(required.react).toMatch(/wasm[\\/]react\.cjs$/);
    });
});
