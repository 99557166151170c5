// Every name the vendor's 4.8.3 `chat` and `chat/react` entries export, ours
// exports too: the same runtime values (by kind), and the same declared
// types, name by name (types/parity483.mjs).
import * as vendorChat from "@trigger.dev/sdk483/chat";
import * as vendorReact from "@trigger.dev/sdk483/chat/react";
import { run as runChild } from "./helpers/spawn.js";
import { fileURLToPath } from "node:url";
import * as ours from "trigger-chat-wasm";
import * as oursReact from "trigger-chat-wasm/react";
import { describe, expect, it } from "vitest";

const kinds = (mod) =>
    Object.fromEntries(
        Object.keys(mod)
            .sort()
            .map((k) => [k, typeof mod[k]]),
    );

describe("exports, as @trigger.dev/sdk 4.8.3", () => {
    it("chat: the same names, each of the same kind", () => {
        expect(kinds(ours)).toEqual(kinds(vendorChat));
        expect(Object.keys(vendorChat)).toHaveLength(6);
        expect(ours.SUB_AGENT_DATA_TYPE).toBe(vendorChat.SUB_AGENT_DATA_TYPE);
    });

    it("chat/react: the same names, each of the same kind", () => {
        expect(kinds(oursReact)).toEqual(kinds(vendorReact));
        expect(Object.keys(vendorReact)).toHaveLength(11);
    });

    it("the same function arities", () => {
        for (const [mine, theirs] of [
            [ours, vendorChat],
            [oursReact, vendorReact],
        ]) {
            for (const name of Object.keys(theirs)) {
                if (typeof theirs[name] === "function") expect(mine[name].length, name).toBe(theirs[name].length);
            }
        }
    });

    it("the injection helpers answer as the vendor's", () => {
        const part = { type: "data-pending-message-injected", data: { messageIds: ["a", "b"], messages: [{ id: "a", text: "x" }] } };
        const messages = [
            { id: "u", role: "user", parts: [part] },
            { id: "m", role: "assistant", parts: [{ type: "text", text: "t" }, part, null] },
        ];
        for (const input of [part, { type: "text" }, null, "x", { type: "data-pending-message-injected" }]) {
            expect(oursReact.isInjectionPart(input)).toBe(vendorReact.isInjectionPart(input));
            expect(oursReact.injectedMessageIdsOf(input)).toEqual(vendorReact.injectedMessageIdsOf(input));
            expect(oursReact.injectedMessagesOf(input)).toEqual(vendorReact.injectedMessagesOf(input));
        }
        const safe = messages.map((m) => ({ ...m, parts: m.parts.filter(Boolean) }));
        expect(oursReact.collectInjectedMessageIds(safe)).toEqual(vendorReact.collectInjectedMessageIds(safe));
        expect(oursReact.collectInjectedMessageIds(safe)).toEqual(["a", "b"]);
    });

    it("every declared type and signature matches (tsc, strict)", async () => {
        const script = fileURLToPath(new URL("../types/parity483.mjs", import.meta.url));
        const run = await runChild(process.execPath, [script]);
        const report = JSON.parse(run.stdout);
        for (const entry of Object.values(report.entries)) {
            expect(entry.missing).toEqual([]);
            expect(entry.mismatched).toEqual([]);
        }
        expect(report.unexplained).toEqual([]);
        expect(report.entries.chat.vendor.length).toBeGreaterThanOrEqual(30);
        expect(report.entries["chat/react"].vendor.length).toBeGreaterThanOrEqual(15);
        expect(run.status, run.stderr).toBe(0);
    });
});
