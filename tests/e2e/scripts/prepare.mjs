// Runs before `npm test`: installs and builds the demo page (www/dist) and
// compiles the emulator once (unless DEVSERVER_BIN names a built one), so
// each test only has to start it.
//
//   CHAT_TRANSPORT=vendor  build the page against @trigger.dev/sdk instead
//   E2E_SKIP_BUILD=1       reuse the existing www/dist and emulator build
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { ROOT, WWW_DIST } from "../lib/paths.mjs";
import path from "node:path";

function run(cmd, args, cwd) {
  console.error(`\n$ ${cmd} ${args.join(" ")}   (in ${path.relative(ROOT, cwd) || "."})`);
  const r = spawnSync(cmd, args, { cwd, stdio: "inherit", env: process.env });
  if (r.status !== 0) {
    console.error(`prepare: ${cmd} ${args.join(" ")} failed with ${r.status ?? r.signal}`);
    process.exit(1);
  }
}

if (process.env.E2E_SKIP_BUILD === "1" && existsSync(path.join(WWW_DIST, "index.html"))) {
  console.error("prepare: E2E_SKIP_BUILD=1, reusing www/dist");
} else {
  const www = path.join(ROOT, "www");
  run("npm", ["ci", "--no-audit", "--no-fund", "--loglevel=error"], www);
  run("npm", ["run", process.env.CHAT_TRANSPORT === "vendor" ? "build:vendor" : "build"], www);
}
if (process.env.DEVSERVER_BIN && existsSync(process.env.DEVSERVER_BIN)) {
  console.error(`prepare: DEVSERVER_BIN=${process.env.DEVSERVER_BIN}, not building the emulator`);
} else {
  run(process.env.CARGO ?? "cargo", ["build", "-q", "-p", "trigger-devserver"], ROOT);
}
