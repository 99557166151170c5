// The TypeScript drop-in check. Compiles the app in ./src (written against
// @trigger.dev/sdk/chat and @trigger.dev/sdk/chat/react) as it is, then a copy
// whose frontend imports name trigger-chat-wasm instead, both with
// `tsc --noEmit` under `strict` (and once more with node10 resolution); finally type-checks our declaration files
// themselves (skipLibCheck off). Exits non-zero when any step fails.
import { execFileSync } from "node:child_process";
import { cpSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const tsc = createRequire(import.meta.url).resolve("typescript/bin/tsc");

const REWRITES = [
    ['"@trigger.dev/sdk/chat/react"', '"trigger-chat-wasm/react"'],
    ['"@trigger.dev/sdk/chat"', '"trigger-chat-wasm"'],
];

function compile(project, label) {
    try {
        execFileSync(process.execPath, [tsc, "-p", project, "--pretty", "false"], { encoding: "utf8", stdio: "pipe" });
        console.log(`ok: ${label}`);
    } catch (error) {
        console.error(`FAILED: ${label}\n${error.stdout ?? ""}${error.stderr ?? ""}`);
        process.exitCode = 1;
    }
}

function walk(dir) {
    return readdirSync(dir).flatMap((name) => {
        const path = join(dir, name);
        return statSync(path).isDirectory() ? walk(path) : [path];
    });
}

// 1. Against the vendor.
compile(join(here, "tsconfig.json"), "app against @trigger.dev/sdk/chat");

// 2. Against ours: the same sources with the two import specifiers changed.
const out = join(here, "dist", "ours");
rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });
cpSync(join(here, "src"), join(out, "src"), { recursive: true });
let rewritten = 0;
for (const file of walk(join(out, "src"))) {
    let text = readFileSync(file, "utf8");
    for (const [from, to] of REWRITES) {
        rewritten += text.split(from).length - 1;
        text = text.replaceAll(from, to);
    }
    if (/["']@trigger\.dev\/sdk\/chat(\/react)?["']/.test(text)) {
        console.error(`FAILED: ${file} still names @trigger.dev/sdk/chat`);
        process.exitCode = 1;
    }
    writeFileSync(file, text);
}
if (rewritten < 3) {
    console.error(`FAILED: expected several imports to rewrite, found ${rewritten}`);
    process.exitCode = 1;
}
writeFileSync(
    join(out, "tsconfig.json"),
    JSON.stringify({ extends: "../../tsconfig.json", include: ["src"] }, null, 2),
);
compile(join(out, "tsconfig.json"), `app against trigger-chat-wasm (${rewritten} imports rewritten)`);

// 2b. The same, with the older `moduleResolution: "node"` (no `exports`
// support): the root-level index.d.ts / react.d.ts must still be found.
writeFileSync(
    join(out, "tsconfig.node10.json"),
    JSON.stringify({ extends: "./tsconfig.json", compilerOptions: { moduleResolution: "node", module: "ESNext" } }, null, 2),
);
compile(join(out, "tsconfig.node10.json"), "app against trigger-chat-wasm, moduleResolution node10");

// 3. Our declaration files on their own, with library checking on.
compile(join(here, "tsconfig.decls.json"), "trigger-chat-wasm declaration files");

// 3b. A CommonJS program (`module: node16`): its imports are `require`s,
// which get the `.d.cts` declarations of the `require` condition.
compile(join(here, "cjs/tsconfig.json"), "CommonJS app (module node16) against trigger-chat-wasm");

// 4. The documented examples of the 4.8.3 docs (frontend.mdx, reference.mdx)
// and of server-chat.mdx (AgentChat), in ./src483: against
// @trigger.dev/sdk 4.8.3 (tsconfig.483.json maps its specifiers there), then
// with the frontend imports switched to ours, both under `strict`.
compile(join(here, "tsconfig.483.json"), "4.8.3 doc examples against @trigger.dev/sdk 4.8.3");
{
    const out483 = join(here, "dist", "ours483");
    rmSync(out483, { recursive: true, force: true });
    mkdirSync(out483, { recursive: true });
    cpSync(join(here, "src483"), join(out483, "src483"), { recursive: true });
    let switched = 0;
    for (const file of walk(join(out483, "src483"))) {
        let text = readFileSync(file, "utf8");
        for (const [from, to] of REWRITES) {
            switched += text.split(from).length - 1;
            text = text.replaceAll(from, to);
        }
        writeFileSync(file, text);
    }
    if (switched < 5) {
        console.error(`FAILED: expected the 4.8.3 examples to name the chat modules, found ${switched}`);
        process.exitCode = 1;
    }
    const base = JSON.parse(readFileSync(join(here, "tsconfig.483.json"), "utf8"));
    // Only the server-side modules stay the vendor's.
    const paths = Object.fromEntries(
        Object.entries(base.compilerOptions.paths)
            .filter(([k]) => !k.startsWith("@trigger.dev/sdk/chat"))
            .map(([k, v]) => [k, v.map((p) => join("..", "..", p))]),
    );
    writeFileSync(
        join(out483, "tsconfig.json"),
        JSON.stringify(
            { extends: "../../tsconfig.483.json", compilerOptions: { paths }, include: ["src483"] },
            null,
            2,
        ),
    );
    compile(join(out483, "tsconfig.json"), `4.8.3 doc examples against trigger-chat-wasm (${switched} imports rewritten)`);
}
