// What the React test files share: a fresh fake Sessions API installed as
// `globalThis.fetch` for each test (rendered trees cleaned up after it), and
// transport options wired to it.
import { cleanup, configure } from "@testing-library/react";
import { afterEach, beforeEach } from "vitest";
import { createFakeSessions } from "./fake-sessions.js";

// `waitFor` / `findBy*` give up after 1 s by default: a bound a shared,
// loaded machine passes now and then (a render of a streamed reply failed
// it once under load). The condition is what is waited for; the bound only
// keeps a broken test from hanging.
configure({ asyncUtilTimeout: 20_000 });

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
