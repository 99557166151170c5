// What the React test files share: a fresh fake Sessions API installed as
// `globalThis.fetch` for each test (rendered trees cleaned up after it), and
// transport options wired to it.
import { cleanup } from "@testing-library/react";
import { afterEach, beforeEach } from "vitest";
import { createFakeSessions } from "./fake-sessions.js";

export const baseOptions = {
    task: "my-chat",
    accessToken: async () => "pat-refreshed",
    startSession: async () => ({ publicAccessToken: "pat-1" }),
};

/** Registers the per-test fake; `env.fake` is the current test's. */
export function fakeSessionsPerTest() {
    let restore = () => {};
    const env = {
        fake: null,
        /** Swaps in a fake made with these options, for the rest of the test. */
        replace(options) {
            restore();
            env.fake = createFakeSessions(options);
            restore = env.fake.install();
        },
    };
    beforeEach(() => env.replace());
    afterEach(() => {
        cleanup();
        restore();
    });
    return env;
}
