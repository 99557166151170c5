// Prints what a Vite production build ships for an app that only imports
// the chat transport: once from trigger-chat-wasm, once from
// @trigger.dev/sdk/chat. Sizes are raw and gzip (level 9), per file and total.
import { mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";
import { build } from "vite";

const root = fileURLToPath(new URL("..", import.meta.url));
const work = join(root, "dist", "size");

const APPS = {
    "trigger-chat-wasm": "trigger-chat-wasm",
    "@trigger.dev/sdk/chat": "@trigger.dev/sdk/chat",
};

function filesUnder(dir) {
    return readdirSync(dir).flatMap((name) => {
        const path = join(dir, name);
        return statSync(path).isDirectory() ? filesUnder(path) : [path];
    });
}

const kb = (n) => `${(n / 1024).toFixed(1)} KiB`;
const rows = [];
for (const [label, specifier] of Object.entries(APPS)) {
    const appDir = join(work, label.replace(/[^a-z0-9]+/gi, "_"));
    rmSync(appDir, { recursive: true, force: true });
    mkdirSync(appDir, { recursive: true });
    writeFileSync(
        join(appDir, "index.html"),
        '<!doctype html><html><head><meta charset="utf-8"></head><body><script type="module" src="./main.js"></script></body></html>',
    );
    writeFileSync(
        join(appDir, "main.js"),
        `import { TriggerChatTransport } from ${JSON.stringify(specifier)};\n` +
            `window.transport = new TriggerChatTransport({ task: "size", accessToken: () => "token" });\n`,
    );
    const outDir = join(appDir, "dist");
    await build({ configFile: false, root: appDir, logLevel: "warn", build: { outDir, emptyOutDir: true } });
    let raw = 0;
    let gz = 0;
    console.log(`\n${label}`);
    for (const file of filesUnder(outDir).filter((f) => !f.endsWith(".html"))) {
        const bytes = readFileSync(file);
        const zipped = gzipSync(bytes, { level: 9 }).length;
        raw += bytes.length;
        gz += zipped;
        console.log(`  ${relative(outDir, file).padEnd(44)} ${kb(bytes.length).padStart(11)} raw ${kb(zipped).padStart(11)} gzip`);
    }
    console.log(`  ${"total (html excluded)".padEnd(44)} ${kb(raw).padStart(11)} raw ${kb(gz).padStart(11)} gzip`);
    rows.push({ label, raw, gz });
}

console.log("\nsummary (Vite 7 production build, gzip -9):");
for (const { label, raw, gz } of rows) {
    console.log(`  ${label.padEnd(24)} ${String(gz).padStart(8)} bytes gzip  (${raw} bytes raw)`);
}
