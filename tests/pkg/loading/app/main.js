// The app a bundler builds: the transport, plus the React hook module (which
// imports the transport through the package's own name; both must end up
// sharing one class and one wasm instance).
import { createElement } from "react";
import { flushSync } from "react-dom";
import { createRoot } from "react-dom/client";
import { TriggerChatTransport, createChatTransport } from "trigger-chat-wasm";
import { useTriggerChatTransport } from "trigger-chat-wasm/react";
import { publish, runChecks } from "./run.js";

function hookCheck() {
    let fromHook;
    function Probe() {
        fromHook = useTriggerChatTransport({ task: "hook-check", accessToken: () => "token" });
        return null;
    }
    const root = createRoot(document.createElement("div"));
    flushSync(() => root.render(createElement(Probe)));
    root.unmount();
    return { hookSharesClass: fromHook instanceof TriggerChatTransport };
}

publish(runChecks({ TriggerChatTransport, createChatTransport }).then((result) => ({ ...result, ...hookCheck() })));
