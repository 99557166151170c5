// What the vendor's test files get for `./chat.js`: our package's Node entry,
// with each transport a test creates remembered so that it can be disposed
// once the test is over (vitest-shim.js registers that afterEach).
//
// The vendor's tests never dispose their transports. Ours keep working after
// a test ends (a stream nobody reads may still reconnect), and with
// `globalThis.fetch` replaced by the next test's mock, a leftover transport
// can spin on responses meant for another test. Disposing is what an app does
// with a transport it no longer uses; it runs after the test's assertions.

import * as ours from "trigger-chat-wasm";

export * from "trigger-chat-wasm";

const live = new Set();

export class TriggerChatTransport extends ours.TriggerChatTransport {
    constructor(options) {
        super(options);
        live.add(this);
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
