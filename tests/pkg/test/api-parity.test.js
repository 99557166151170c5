// Our modules expose what the vendor's do, under the same names and kinds.
import * as vendorChat from "@trigger.dev/sdk/chat";
import * as vendorReact from "@trigger.dev/sdk/chat/react";
import * as ours from "trigger-chat-wasm";
import * as oursReact from "trigger-chat-wasm/react";
import { describe, expect, it } from "vitest";

// The vendor's documented public instance surface (its .d.ts, minus members
// declared private there; at runtime those are ordinary properties).
const PUBLIC_METHODS = [
    "start",
    "preload",
    "sendMessages",
    "sendPendingMessage",
    "reconnectToStream",
    "stopGeneration",
    "sendAction",
    "getSession",
    "setSession",
    "setOnSessionChange",
    "setClientData",
    "isReadOnly",
    "hasClaim",
    "addReadOnlyListener",
    "removeReadOnlyListener",
    "broadcastMessages",
    "addMessagesListener",
    "removeMessagesListener",
    "dispose",
];

const options = { task: "parity", accessToken: () => "token" };

describe("trigger-chat-wasm vs @trigger.dev/sdk/chat", () => {
    it("exports the transport class and its factory", () => {
        expect(typeof ours.TriggerChatTransport).toBe("function");
        expect(typeof ours.createChatTransport).toBe("function");
        expect(ours.createChatTransport(options)).toBeInstanceOf(ours.TriggerChatTransport);
        for (const name of ["TriggerChatTransport", "createChatTransport"]) {
            expect(typeof vendorChat[name]).toBe(typeof ours[name]);
        }
    });

    it("instances have every public method of the vendor's, with the same arity", () => {
        const theirs = new vendorChat.TriggerChatTransport(options);
        const mine = new ours.TriggerChatTransport(options);
        for (const name of PUBLIC_METHODS) {
            expect(typeof theirs[name], `vendor ${name}`).toBe("function");
            expect(typeof mine[name], name).toBe("function");
            expect(mine[name].length, `${name}.length`).toBe(theirs[name].length);
        }
        theirs.dispose();
        mine.dispose();
    });

    it("adds AI SDK 7's close() and resumeStreamIsReplay", () => {
        const mine = new ours.TriggerChatTransport(options);
        expect(typeof mine.close).toBe("function");
        expect(mine.resumeStreamIsReplay).toBe(true);
        mine.close();
    });

    // Stricter than the vendor (which accepts these and fails later): a
    // TypeError naming the option, at construction.
    it("rejects invalid options with a TypeError naming the option", () => {
        expect(() => new ours.TriggerChatTransport({ accessToken: () => "t" })).toThrow(TypeError);
        expect(() => new ours.TriggerChatTransport({ accessToken: () => "t" })).toThrow(/task/);
        expect(() => new ours.TriggerChatTransport({ task: "t", accessToken: "not a function" })).toThrow(
            /accessToken/,
        );
    });

    it("the React module exports the vendor's hooks, and those of its newer releases", () => {
        const vendorHooks = Object.keys(vendorReact).filter((k) => typeof vendorReact[k] === "function").sort();
        const ourHooks = Object.keys(oursReact).filter((k) => typeof oursReact[k] === "function").sort();
        expect(vendorHooks).toEqual(["useMultiTabChat", "usePendingMessages", "useTriggerChatTransport"]);
        for (const name of vendorHooks) expect(ourHooks).toContain(name);
        // 4.8.3's full list is compared in exports-483.test.js.
    });
});
