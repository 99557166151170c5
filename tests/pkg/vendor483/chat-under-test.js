// What the vendor's test files get for `./chat.js`: our package's Node entry,
// with each transport a test creates remembered so that it can be disposed
// once the test is over (vitest-shim.js registers that afterEach).
//
// The vendor's tests never dispose their transports. Ours keep working after
// a test ends (a stream nobody reads may still reconnect), and with
// `globalThis.fetch` replaced by the next test's mock, a leftover transport
// can spin on responses meant for another test. Disposing is what an app does
// with a transport it no longer uses; it runs after the test's assertions.
//
// Each request also waits for one macrotask before it reaches the test's
// fetch (theirs, or `globalThis.fetch` looked up at call time, with the same
// arguments), as a real network response always does. The tests' mocks answer
// within the same microtask run, so an engine loop that reconnects at once
// (watch mode on a window that ends at once) would otherwise never let a timer
// run: not even the test's timeout, and the whole file would hang instead of
// failing that test.
import * as ours from "trigger-chat-wasm";

export * from "trigger-chat-wasm";

const live = new Set();

// The real one, taken before any test installs fake timers.
const realSetImmediate = globalThis.setImmediate;
const tick = () => new Promise((resolve) => realSetImmediate(resolve));

function viaMacrotask(fetchOverride) {
    if (fetchOverride !== undefined && typeof fetchOverride !== "function") return fetchOverride;
    return async (url, init, ctx) => {
        await tick();
        return fetchOverride ? fetchOverride(url, init, ctx) : globalThis.fetch(url, init);
    };
}

export class TriggerChatTransport extends ours.TriggerChatTransport {
    constructor(options) {
        super(options && typeof options === "object" ? { ...options, fetch: viaMacrotask(options.fetch) } : options);
        live.add(this);
    }

    setFetch(fetchOverride) {
        super.setFetch(viaMacrotask(fetchOverride));
    }

    dispose() {
        live.delete(this);
        super.dispose();
    }
}

export function createChatTransport(options) {
    return new TriggerChatTransport(options);
}

/** Disposes every transport still alive; called after each vendor test. */
export function disposeTransports() {
    for (const transport of [...live]) {
        try {
            transport.dispose();
        } catch {
            // Already torn down.
        }
    }
    live.clear();
}
