// Export parity with @trigger.dev/sdk 4.8.3, name by name and type by type.
//
// Reads the export lists of the vendor's `chat` and `chat/react` declaration
// entries and of ours with the TypeScript compiler, then writes one
// assertion per vendor export into a generated file and compiles it under
// `strict`:
//   - a type: the vendor's and ours are mutually assignable (generic ones
//     at their defaults and at a chat task type, see INSTANCES);
//   - a function or constant: `typeof` of both, mutually assignable;
//   - a class: constructor parameters, and every public instance member the
//     vendor declares (ours may add members, e.g. AI SDK 7's `close`).
// Prints a JSON report {entries: {name: {vendor, ours, missing, mismatched}}}
// and exits non-zero on any missing or mismatched name.
import { execFileSync } from "node:child_process";
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const require = createRequire(import.meta.url);
const ts = require("typescript");
const tsc = require.resolve("typescript/bin/tsc");

// Private members make a declared class nominal: no other class, however
// alike, is assignable to it, and every signature that names it (a hook
// taking the transport) would differ for that reason alone. So the vendor's
// declarations are compared from a copy with their `private` members left
// out (written beside the originals, so their imports resolve the same way).
const VENDOR_V3 = join(here, "..", "node_modules", "@trigger.dev", "sdk483", "dist", "esm", "v3");
const PUBLIC_V3 = join(VENDOR_V3, "..", "v3-public");
rmSync(PUBLIC_V3, { recursive: true, force: true });
mkdirSync(PUBLIC_V3, { recursive: true });
let strippedPrivates = 0;
for (const name of readdirSync(VENDOR_V3).filter((n) => n.endsWith(".d.ts"))) {
    const text = readFileSync(join(VENDOR_V3, name), "utf8").replace(/^\s*private [^;\n]*;[ \t]*\n/gm, () => {
        strippedPrivates++;
        return "";
    });
    writeFileSync(join(PUBLIC_V3, name), text);
}
if (strippedPrivates === 0) throw new Error("no private members found to strip: has the vendor's layout changed?");
// The one deliberate addition to the transport's surface: AI SDK 7's
// `close()` and `resumeStreamIsReplay` (README, differences). The copy gets
// them too, so that anything else ours adds or changes still shows.
{
    const file = join(PUBLIC_V3, "chat.d.ts");
    const head = "export declare class TriggerChatTransport implements ChatTransport<UIMessage> {";
    const text = readFileSync(file, "utf8");
    if (!text.includes(head)) throw new Error("the vendor's TriggerChatTransport declaration was not found");
    writeFileSync(file, text.replace(head, `${head}\n    readonly resumeStreamIsReplay: true;\n    close(): void;`));
}
// Also added on purpose (issue 21, README "Offline sends"): the
// `offlineSendTimeoutMs` option and the two events of a send that waits for
// the network. The copy's event union gets them too.
{
    const file = join(PUBLIC_V3, "chat.d.ts");
    const head = "export type ChatTransportEvent = {";
    const text = readFileSync(file, "utf8");
    if (!text.includes(head)) throw new Error("the vendor's ChatTransportEvent declaration was not found");
    const offline = (type, extra) =>
        `{ type: "${type}"; chatId: string; timestamp: number; messageId?: string; source: ChatTransportSendSource; durationMs: number;${extra} partId?: string; bodyBytes?: number; }`;
    const added = `${offline("send-queued-offline", "")} | ${offline("send-resumed-online", " waitedMs: number;")}`;
    writeFileSync(file, text.replace(head, `export type ChatTransportEvent = ${added} | {`));
}

const ENTRIES = [
    { name: "chat", vendor: join(PUBLIC_V3, "chat.js"), ours: "trigger-chat-wasm" },
    { name: "chat/react", vendor: join(PUBLIC_V3, "chat-react.js"), ours: "trigger-chat-wasm/react" },
];

// Generic types without defaults, compared at these arguments.
const TASK = `Task<"my-chat", V0.ChatTaskWirePayload<MyMessage, { userId: string }>, unknown>`;
const INSTANCES = {
    InferChatClientData: [TASK, "AnyTask", "string"],
    InferChatUIMessage: [TASK, "AnyTask"],
    UseTriggerChatTransportOptions: [TASK],
};
// Generic functions whose type parameter is constrained by the vendor's own
// task type (`AnyTask` of @trigger.dev/core, which ours does not import):
// compared instantiated, at a chat task type and at `AnyTask`.
const VALUE_INSTANCES = {
    useTriggerChatTransport: [TASK, "AnyTask"],
};

const options = {
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.ESNext,
    moduleResolution: ts.ModuleResolutionKind.Bundler,
    strict: true,
    skipLibCheck: true,
    noEmit: true,
    jsx: ts.JsxEmit.ReactJSX,
    lib: ["lib.es2022.d.ts", "lib.dom.d.ts", "lib.dom.iterable.d.ts"],
    types: [],
};

// What each entry exports: name -> "type" | "class" | "value".
function exportsOf(specifiers) {
    const file = join(here, "dist", "parity483-probe.ts");
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(
        file,
        specifiers.map((s, i) => `import * as M${i} from ${JSON.stringify(s)};\nexport { M${i} };\n`).join(""),
    );
    const program = ts.createProgram([file], options);
    const checker = program.getTypeChecker();
    const source = program.getSourceFile(file);
    const moduleSymbol = checker.getSymbolAtLocation(source);
    const result = [];
    for (let i = 0; i < specifiers.length; i++) {
        const ns = checker.getExportsOfModule(moduleSymbol).find((s) => s.name === `M${i}`);
        const target = checker.getAliasedSymbol(ns);
        const map = new Map();
        for (const sym of checker.getExportsOfModule(target)) {
            const resolved = sym.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(sym) : sym;
            const f = resolved.flags;
            const kind = f & ts.SymbolFlags.Class ? "class" : f & ts.SymbolFlags.Value ? "value" : "type";
            const decl = resolved.declarations?.[0];
            const params =
                decl && (ts.isTypeAliasDeclaration(decl) || ts.isInterfaceDeclaration(decl))
                    ? (decl.typeParameters ?? []).map((p) => ({ name: p.name.text, hasDefault: !!p.default }))
                    : [];
            map.set(sym.name, { kind, params });
        }
        result.push(map);
    }
    return result;
}

const lines = [
    `import type { UIMessage } from "ai";`,
    `import type { AnyTask, Task } from "@trigger.dev/sdk483";`,
    `import type * as V0 from ${JSON.stringify(join(PUBLIC_V3, "chat.js"))};`,
    `type MyMessage = UIMessage<{ source: string }>;`,
    `type Equal<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;`,
    `type Assert<T extends true> = T;`,
    `type Public<T> = { [K in keyof T]: T[K] };`,
];
const checks = []; // { line, entry, name }
const report = {};

for (const [e, entry] of ENTRIES.entries()) {
    lines.push(`import type * as V${e + 1} from ${JSON.stringify(entry.vendor)};`);
    lines.push(`import type * as O${e + 1} from "${entry.ours}";`);
    lines.push(`import * as VV${e + 1} from ${JSON.stringify(entry.vendor)};`);
    lines.push(`import * as OV${e + 1} from "${entry.ours}";`);
}

for (const [e, entry] of ENTRIES.entries()) {
    const [vendor, ours] = exportsOf([entry.vendor, entry.ours]);
    const V = `V${e + 1}`;
    const O = `O${e + 1}`;
    const VV = `VV${e + 1}`;
    const OV = `OV${e + 1}`;
    const r = { vendor: [...vendor.keys()].sort(), ours: [...ours.keys()].sort(), missing: [], mismatched: [] };
    report[entry.name] = r;
    for (const [name, info] of vendor) {
        if (!ours.has(name)) {
            r.missing.push(name);
            continue;
        }
        const add = (text) => {
            lines.push(text);
            checks.push({ line: lines.length, entry: entry.name, name });
        };
        if (info.kind === "class") {
            add(
                `type C_${e}_${name} = Assert<Equal<ConstructorParameters<typeof ${VV}.${name}>, ConstructorParameters<typeof ${OV}.${name}>>>;`,
            );
            add(
                `type I_${e}_${name} = Assert<Equal<Public<${V}.${name}>, Pick<Public<${O}.${name}>, keyof Public<${V}.${name}>>>>;`,
            );
        } else if (info.kind === "value" && VALUE_INSTANCES[name]) {
            VALUE_INSTANCES[name].forEach((args, k) => {
                add(`type F_${e}_${name}_${k} = Assert<Equal<typeof ${VV}.${name}<${args}>, typeof ${OV}.${name}<${args}>>>;`);
            });
        } else if (info.kind === "value") {
            add(`type F_${e}_${name} = Assert<Equal<typeof ${VV}.${name}, typeof ${OV}.${name}>>;`);
        } else {
            const needArgs = info.params.some((p) => !p.hasDefault);
            const argsList = INSTANCES[name] ?? (needArgs ? null : [""]);
            if (argsList === null) {
                r.mismatched.push(`${name}: no instantiation to compare it at (add it to INSTANCES)`);
                continue;
            }
            argsList.forEach((args, k) => {
                const a = args ? `<${args}>` : "";
                add(`type T_${e}_${name}_${k} = Assert<Equal<${V}.${name}${a}, ${O}.${name}${a}>>;`);
            });
        }
    }
}

const file = join(here, "dist", "parity483.ts");
writeFileSync(file, `${lines.join("\n")}\n`);
writeFileSync(
    join(here, "dist", "tsconfig.parity483.json"),
    JSON.stringify(
        {
            extends: "../tsconfig.json",
            compilerOptions: { types: ["node"] },
            include: [],
            files: ["parity483.ts"],
        },
        null,
        2,
    ),
);

let output = "";
try {
    execFileSync(process.execPath, [tsc, "-p", join(here, "dist", "tsconfig.parity483.json"), "--pretty", "false"], {
        encoding: "utf8",
        stdio: "pipe",
    });
} catch (error) {
    output = `${error.stdout ?? ""}${error.stderr ?? ""}`;
}
const unexplained = [];
for (const line of output.split("\n").filter(Boolean)) {
    const m = /parity483\.ts\((\d+),\d+\): (.*)$/.exec(line);
    const check = m && checks.find((c) => c.line === Number(m[1]));
    if (check) {
        const list = report[check.entry].mismatched;
        if (!list.includes(check.name)) list.push(check.name);
    } else if (!/^\s/.test(line)) {
        unexplained.push(line);
    }
}
const failed =
    unexplained.length > 0 || Object.values(report).some((r) => r.missing.length > 0 || r.mismatched.length > 0);
console.log(JSON.stringify({ entries: report, unexplained, checks: checks.length }, null, 2));
if (failed) process.exitCode = 1;
