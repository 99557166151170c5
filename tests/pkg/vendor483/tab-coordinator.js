// The vendor's coordinator test drives its internal `ChatTabCoordinator`
// class. Ours (pkg/tabs.js `TabCoordinator`, same channel and messages) takes
// its place under that name; the only difference in shape is that ours keeps
// its read-only listeners in a set instead of add/remove methods.
import { TabCoordinator } from "trigger-chat-wasm-tabs";

export class ChatTabCoordinator extends TabCoordinator {
    addListener(fn) {
        this.readOnlyListeners.add(fn);
    }

    removeListener(fn) {
        this.readOnlyListeners.delete(fn);
    }
}
