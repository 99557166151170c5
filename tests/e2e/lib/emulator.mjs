// Starts a fresh emulator (trigger-devserver) for one test and stops it after.
import { spawn } from "node:child_process";
import { ROOT, WWW_DIST } from "./paths.mjs";

const START_TIMEOUT_MS = 180_000; // a cold `cargo run` may still compile

/**
 * @param {string[]} extraArgs  e.g. ["--token-ttl-seconds", "2"]
 * @returns {Promise<{url: string, stop: () => Promise<void>, logs: () => string, dev: (path: string, body?: unknown) => Promise<any>, app: (method: string, path: string, body?: unknown) => Promise<any>}>}
 */
export async function startEmulator(extraArgs = []) {
  const args = [
    "run", "-q", "-p", "trigger-devserver", "--",
    "--port", "0", "--db", ":memory:", "--www", WWW_DIST, "--faults",
    ...extraArgs,
  ];
  const child = spawn(process.env.CARGO ?? "cargo", args, {
    cwd: ROOT,
    stdio: ["ignore", "pipe", "pipe"],
    detached: true, // its own process group, so `cargo run` and the server stop together
    env: { ...process.env, RUST_LOG: process.env.RUST_LOG ?? "warn" },
  });
  let out = "";
  let err = "";
  child.stderr.setEncoding("utf8");
  child.stderr.on("data", (d) => {
    err = (err + d).slice(-20_000);
  });
  child.stdout.setEncoding("utf8");

  const url = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      reject(new Error(`emulator did not print its URL within ${START_TIMEOUT_MS} ms\n${err}`));
    }, START_TIMEOUT_MS);
    const onData = (d) => {
      out += d;
      const m = /listening on (http:\/\/[^\s]+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(m[1].replace(/\/$/, ""));
      }
    };
    child.stdout.on("data", onData);
    child.once("exit", (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`emulator exited before listening (${code ?? signal})\n${out}\n${err}`));
    });
  });
  // Keep draining stdout so the pipe never fills.
  child.stdout.on("data", (d) => {
    out = (out + d).slice(-20_000);
  });

  let exited = false;
  const exitedP = new Promise((resolve) => child.once("exit", () => {
    exited = true;
    resolve();
  }));

  async function stop() {
    if (exited) return;
    try {
      process.kill(-child.pid, "SIGTERM");
    } catch {
      /* already gone */
    }
    const timeout = new Promise((r) => setTimeout(r, 5_000, "timeout"));
    if ((await Promise.race([exitedP, timeout])) === "timeout") {
      try {
        process.kill(-child.pid, "SIGKILL");
      } catch {
        /* already gone */
      }
      await exitedP;
    }
  }

  async function json(method, path, body) {
    const res = await fetch(url + path, {
      method,
      headers: body === undefined ? {} : { "content-type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${text}`);
    return text ? JSON.parse(text) : undefined;
  }

  return {
    url,
    stop,
    logs: () => `--- emulator stdout ---\n${out}\n--- emulator stderr ---\n${err}`,
    /** POST a fault-injection control (or GET when body is undefined and path is /_dev/stats). */
    dev: (path, body) => (body === undefined && path.endsWith("stats") ? json("GET", path) : json("POST", path, body ?? {})),
    app: json,
  };
}
