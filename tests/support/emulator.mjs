// Starts one trigger-devserver (the local Trigger.dev emulator) on a free
// port with an in-memory database, and stops it. Shared by the end-to-end
// tests and the fault tests. DEVSERVER_BIN names a built binary; without it
// the emulator is run from the workspace with `cargo run`.
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import path from "node:path";

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..");

const START_TIMEOUT_MS = 180_000; // a cold `cargo run` may still compile

/**
 * @param {string[]} args  the emulator's flags, e.g. ["--faults", "--token-ttl-seconds", "2"]
 */
export async function startEmulator(args = []) {
  const serverArgs = ["--port", "0", "--db", ":memory:", ...args];
  const bin = process.env.DEVSERVER_BIN;
  const options = {
    cwd: ROOT,
    stdio: ["ignore", "pipe", "pipe"],
    detached: true, // own process group: `cargo run` and the server stop together
    env: { ...process.env, RUST_LOG: process.env.RUST_LOG ?? "warn" },
  };
  const child = bin
    ? spawn(bin, serverArgs, options)
    : spawn(process.env.CARGO ?? "cargo", ["run", "-q", "-p", "trigger-devserver", "--", ...serverArgs], options);
  let out = "";
  let err = "";
  child.stdout.setEncoding("utf8");
  child.stderr.setEncoding("utf8");
  child.stderr.on("data", (d) => {
    err = (err + d).slice(-20_000);
  });
  let exited = false;
  const exitedP = new Promise((resolve) =>
    child.once("exit", () => {
      exited = true;
      resolve();
    }),
  );

  const url = await new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`emulator did not print its URL within ${START_TIMEOUT_MS} ms\n${err}`)),
      START_TIMEOUT_MS,
    );
    child.stdout.on("data", (d) => {
      out = (out + d).slice(-20_000);
      const m = /^trigger-devserver listening on (http:\/\/\S+)/m.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(m[1].replace(/\/$/, ""));
      }
    });
    child.once("error", (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.once("exit", (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`emulator exited before listening (${code ?? signal})\n${out}\n${err}`));
    });
  }).catch(async (e) => {
    await stop();
    throw e;
  });

  async function stop() {
    if (exited) return;
    try {
      process.kill(-child.pid, "SIGTERM");
    } catch {
      /* already gone */
    }
    let timer;
    const timeout = new Promise((r) => (timer = setTimeout(r, 5_000, "timeout")));
    const r = await Promise.race([exitedP, timeout]);
    clearTimeout(timer);
    if (r === "timeout") {
      try {
        process.kill(-child.pid, "SIGKILL");
      } catch {
        /* already gone */
      }
      await exitedP;
    }
  }

  async function json(method, p, body) {
    const res = await fetch(url + p, {
      method,
      headers: body === undefined ? {} : { "content-type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    if (!res.ok) throw new Error(`${method} ${p}: ${res.status} ${text}`);
    return text ? JSON.parse(text) : undefined;
  }

  return {
    url,
    stop,
    logs: () => `--- emulator stdout ---\n${out}\n--- emulator stderr ---\n${err}`,
    /** POST a fault control under /_dev/faults/. */
    fault: (name, body = {}) => json("POST", `/_dev/faults/${name}`, body),
    stats: () => json("GET", "/_dev/stats"),
    /** POST to a /_dev/ control (GET for /_dev/stats). */
    dev: (p, body) => (body === undefined && p.endsWith("stats") ? json("GET", p) : json("POST", p, body ?? {})),
    app: json,
  };
}
