// Child processes for tests, without blocking the test worker's event loop.
//
// A vitest worker answers its runner's calls on its own event loop; a
// synchronous `spawnSync`/`execFileSync` that runs for a minute (tsc over a
// project on a busy machine) stalls those answers until vitest gives up with
// "Timeout calling onTaskUpdate". These run the child asynchronously instead.
import { spawn } from "node:child_process";

/**
 * Runs `command args` and resolves to `{ status, stdout, stderr }` when it
 * exits (it never rejects for a non-zero exit; `timeout` kills the child).
 */
export function run(command, args, { cwd, env, timeout = 600_000 } = {}) {
    return new Promise((resolve, reject) => {
        const child = spawn(command, args, { cwd, env, stdio: ["ignore", "pipe", "pipe"] });
        let stdout = "";
        let stderr = "";
        child.stdout.setEncoding("utf8").on("data", (d) => (stdout += d));
        child.stderr.setEncoding("utf8").on("data", (d) => (stderr += d));
        const timer = setTimeout(() => child.kill("SIGKILL"), timeout);
        child.on("error", (e) => {
            clearTimeout(timer);
            reject(e);
        });
        child.on("close", (status, signal) => {
            clearTimeout(timer);
            resolve({ status, signal, stdout, stderr });
        });
    });
}

/** Like `run`, but rejects unless the child exits with 0; resolves to its stdout. */
export async function output(command, args, options) {
    const r = await run(command, args, options);
    if (r.status !== 0) {
        throw new Error(`${command} ${args.join(" ")} exited with ${r.status ?? r.signal}:\n${r.stderr}${r.stdout}`);
    }
    return r.stdout;
}
