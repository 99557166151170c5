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

// A send that the app aborts ends at once with an AbortError (a deliberate
// difference, see expected-fail.json): in the four "retains a distinct …
// failure after cancellation" tests it rejects before the test attaches its
// handler (the vendor's waits for the append's own failure), which Node
// reports as an unhandled rejection. The promise handed to the test is the
// same one, rejected the same way; a branch that handles it keeps the
// report quiet.
const observed = (promise) => {
    promise.catch(() => {});
    return promise;
};

export class TriggerChatTransport extends ours.TriggerChatTransport {
    constructor(options) {
        super(options);
        live.add(this);
        const send = this.sendMessages;
        this.sendMessages = (options) => observed(send(options));
        const action = this.sendAction;
        this.sendAction = (chatId, act, options = undefined) => observed(action(chatId, act, options));
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
