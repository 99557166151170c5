// What the vendor's 4.8.3 test files get when they import "vitest": vitest
// itself, except that `describe` marks the tests named in this folder's lists
// once they are collected, with vitest's own flags:
//
// - `expected-fail.json` (ours deliberately differs) and `pending-engine.json`
//   (the engine rewrite fixes them): `fails`, the flag `it.fails` sets. Such a
//   test still runs; it is reported as passing only while it fails, so one
//   that starts passing turns the suite red and gets taken off its list.
// - the vendor's own `postdate-4.8.3.json` (later behaviour that 4.8.3 itself
//   fails, out of scope for 4.8.3 parity): skipped, unless
//   VENDOR483_POSTDATE=run, which runs them unmarked to see where ours stands.
//
// A list entry that matches no collected test is an error too (a renamed
// vendor test must not silently drop out of a list).
import { readFileSync } from "node:fs";
import * as vitest from "vitest";
import { getCurrentSuite } from "vitest/suite";
import { VENDOR_DIR } from "./paths.js";

const readList = (url) => JSON.parse(readFileSync(url, "utf8")).tests;

const expected = [
    ...readList(new URL("./expected-fail.json", import.meta.url)).map((e) => ({ ...e, list: "expected-fail" })),
    ...readList(new URL("./pending-engine.json", import.meta.url)).map((e) => ({ ...e, list: "pending-engine" })),
];
const postdate = JSON.parse(readFileSync(`${VENDOR_DIR}/postdate-4.8.3.json`, "utf8")).excluded;
const runPostdate = process.env.VENDOR483_POSTDATE === "run";

export function shimFor(file) {
    const failing = new Map(expected.filter((e) => e.file === file).map((e) => [e.test, e]));
    const skipped = new Map(postdate.filter((e) => e.file === file).map((e) => [e.test, e]));
    const seen = new Set();
    let prefix = "";

    const mark = (suitePath) => {
        for (const task of getCurrentSuite().tasks) {
            if (task.type !== "test") continue;
            const full = `${suitePath} ${task.name}`;
            if (failing.has(full)) {
                task.fails = true;
                seen.add(full);
            } else if (skipped.has(full)) {
                if (!runPostdate) task.mode = "skip";
                seen.add(full);
            }
        }
    };

    const wrapFactory = (factory) => {
        const parent = prefix;
        return (...args) => {
            const saved = prefix;
            const name = getCurrentSuite().name;
            prefix = parent ? `${parent} ${name}` : name;
            try {
                return factory(...args);
            } finally {
                mark(prefix);
                prefix = saved;
            }
        };
    };

    const describe = (name, factory, ...rest) => vitest.describe(name, wrapFactory(factory), ...rest);
    describe.each =
        (...table) =>
        (name, factory, ...rest) =>
            vitest.describe.each(...table)(name, wrapFactory(factory), ...rest);
    for (const key of ["skip", "only", "todo", "concurrent", "sequential", "shuffle", "skipIf", "runIf", "for"]) {
        if (!(key in describe)) describe[key] = vitest.describe[key];
    }

    // Transports the test left alive are disposed after it (see
    // chat-under-test.js); a no-op when the vendor's build is under test.
    vitest.afterEach(async () => {
        if (process.env.CHAT_UNDER_TEST === "vendor") return;
        const { disposeTransports } = await import("./chat-under-test.js");
        disposeTransports();
    });

    // After the whole file is collected: every listed name must have matched.
    vitest.afterAll(() => {
        const missing = [...failing.keys(), ...skipped.keys()].filter((name) => !seen.has(name));
        if (missing.length > 0) {
            throw new Error(`${file}: listed tests not found in the file: ${missing.join(" | ")}`);
        }
    });

    return { describe };
}
