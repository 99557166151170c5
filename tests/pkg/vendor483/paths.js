// Where the vendor's 4.8.3 tests live: `../shared/vendor-tests-4.8.3` beside
// the repository (they are not copied into the project), or wherever
// VENDOR_TESTS_483 points.
//
// A plain clone has no `../shared`. Then the 4.8.3 project is left out of the
// run only when the caller says it will report that it was not run:
// `cargo xtask test` sets VENDOR_TESTS_483_ABSENT=report and names the missing
// folder in its last lines. Run any other way, a missing folder is an error,
// so the vendor's tests are never skipped quietly.
import { existsSync, realpathSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..", "..");

const configured = process.env.VENDOR_TESTS_483 || path.join(REPO_ROOT, "..", "shared", "vendor-tests-4.8.3");

/** Whether the vendor's 4.8.3 tests are there to run. */
export const VENDOR_PRESENT = existsSync(path.join(configured, "postdate-4.8.3.json"));

if (!VENDOR_PRESENT && process.env.VENDOR_TESTS_483_ABSENT !== "report") {
    throw new Error(
        `The vendor's 4.8.3 tests are not at ${configured}: put them at ../shared/vendor-tests-4.8.3 ` +
            "beside the repository, set VENDOR_TESTS_483 to their folder, or run `cargo xtask test`, " +
            "which runs everything else and reports them as not run.",
    );
}

/** The folder, with symlinks resolved and forward slashes (what vite reports as importers). */
export const VENDOR_DIR = (VENDOR_PRESENT ? realpathSync(configured) : path.resolve(configured)).replaceAll("\\", "/");
