// Watches the transport's traffic (through its `fetch` and `accessToken`
// callbacks) and boils it down to one line for the status bar.
import { useSyncExternalStore } from "react";

export type ConnState =
  | "idle"
  | "connecting"
  | "connected"
  | "reconnecting"
  | "token-refreshed"
  | "offline"
  | "error";

export type ConnSnapshot = {
  state: ConnState;
  detail: string;
  tokenRefreshes: number;
  outConnections: number;
  /** Messages the transport holds until the browser is back online. */
  queued: number;
};

type Endpoint = { endpoint: "in" | "out"; chatId: string };

export class ConnectionMonitor {
  private snap: ConnSnapshot = { state: "idle", detail: "", tokenRefreshes: 0, outConnections: 0, queued: 0 };
  private listeners = new Set<() => void>();
  /** Whether a reply is in flight; set by the chat view from useChat's status. */
  busy = false;

  subscribe = (fn: () => void) => {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  };

  getSnapshot = () => this.snap;

  private set(patch: Partial<ConnSnapshot>) {
    this.snap = { ...this.snap, ...patch };
    for (const fn of this.listeners) fn();
  }

  /** The `fetch` option of the transport. */
  fetch = async (url: string, init: RequestInit, ctx: Endpoint): Promise<Response> => {
    const isOut = ctx?.endpoint === "out";
    if (isOut) {
      const hadOne = this.snap.outConnections > 0;
      this.set({
        state: hadOne && this.busy ? "reconnecting" : this.snap.state === "token-refreshed" ? "token-refreshed" : "connecting",
        outConnections: this.snap.outConnections + 1,
      });
    }
    let res: Response;
    try {
      res = await globalThis.fetch(url, init);
    } catch (e) {
      const aborted = (e as { name?: string })?.name === "AbortError" || init.signal?.aborted;
      if (!aborted) {
        this.set({
          state: navigator.onLine === false ? "offline" : "reconnecting",
          detail: "network error",
        });
      }
      throw e;
    }
    if (res.ok) {
      // A refresh stays visible until something else happens.
      if (isOut && this.snap.state !== "token-refreshed") {
        this.set({ state: "connected", detail: "" });
      } else if (!isOut && (this.snap.state === "reconnecting" || this.snap.state === "error")) {
        this.set({ state: "connected", detail: "" });
      }
    } else if (res.status === 401 || res.status === 403) {
      this.set({ state: "reconnecting", detail: "token expired" });
    } else if (res.status === 429 || res.status >= 500) {
      this.set({ state: "reconnecting", detail: `server answered ${res.status}` });
    }
    return res;
  };

  /** Wraps the app's token minting so refreshes show in the status line. */
  tokenRefreshed() {
    this.set({ state: "token-refreshed", detail: "", tokenRefreshes: this.snap.tokenRefreshes + 1 });
  }

  /** The transport's `onEvent`: a send waiting for the network, and its end. */
  onEvent = (e: { type: string }) => {
    if (e.type === "send-queued-offline") this.set({ state: "offline", queued: this.snap.queued + 1 });
    else if (e.type === "send-resumed-online" || (e.type === "message-send-failed" && this.snap.queued > 0)) {
      this.set({ queued: Math.max(0, this.snap.queued - 1) });
    }
  };

  fail(detail: string) {
    this.set({ state: "error", detail });
  }

  recovered() {
    if (this.snap.state === "error") this.set({ state: "connected", detail: "" });
  }

  offline(isOffline: boolean) {
    if (isOffline) this.set({ state: "offline", detail: "" });
    else if (this.snap.state === "offline") this.set({ state: "reconnecting", detail: "" });
  }
}

export function useConnection(monitor: ConnectionMonitor): ConnSnapshot {
  return useSyncExternalStore(monitor.subscribe, monitor.getSnapshot, monitor.getSnapshot);
}

export const STATE_LABEL: Record<ConnState, string> = {
  idle: "Ready",
  connecting: "Connecting…",
  connected: "Connected",
  reconnecting: "Reconnecting…",
  "token-refreshed": "Token refreshed",
  offline: "Offline",
  error: "Error",
};
