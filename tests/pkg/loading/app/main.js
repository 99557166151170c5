// The app a bundler builds: it only imports our transport.
import { TriggerChatTransport, createChatTransport } from "trigger-chat-wasm";
import { publish, runChecks } from "./run.js";

publish(runChecks({ TriggerChatTransport, createChatTransport }));
