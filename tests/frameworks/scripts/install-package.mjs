// Installs trigger-chat-wasm the way a user gets it: `npm pack` of pkg/ (built
// by `cargo xtask build`), then `npm install` of that tarball, without saving
// it (the lockfile stays as committed; `npm ci` installs everything else).
import { execFileSync } from "node:child_process";
import { lstatSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const here = fileURLToPath(new URL("..", import.meta.url));
const pkg = fileURLToPath(new URL("../../../pkg", import.meta.url));
const scratch = mkdtempSync(join(tmpdir(), "trigger-chat-wasm-tarball-"));
try {
  const [packed] = JSON.parse(
    execFileSync("npm", ["pack", "--json", "--ignore-scripts", "--pack-destination", scratch], { cwd: pkg, encoding: "utf8" }),
  );
  const tarball = join(scratch, packed.filename);
  execFileSync(
    "npm",
    ["install", "--no-save", "--no-audit", "--no-fund", "--prefer-offline", "--loglevel=error", tarball],
    { cwd: here, stdio: "inherit" },
  );
  const installed = join(here, "node_modules", "trigger-chat-wasm");
  if (lstatSync(installed).isSymbolicLink()) throw new Error(`${installed} is a link, not an installed tarball`);
  const manifest = JSON.parse(readFileSync(join(installed, "package.json"), "utf8"));
  console.log(`installed ${packed.filename} (${packed.entryCount} files, ${packed.size} bytes) as ${manifest.name}@${manifest.version}`);
} finally {
  rmSync(scratch, { recursive: true, force: true });
}
