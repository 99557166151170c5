// Where the vendor's 4.8.3 tests live: `../shared/vendor-tests-4.8.3` beside
// the repository (they are not copied into the project), or wherever
// VENDOR_TESTS_483 points.
import { existsSync, realpathSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..", "..");

const configured = process.env.VENDOR_TESTS_483 || path.join(REPO_ROOT, "..", "shared", "vendor-tests-4.8.3");
if (!existsSync(path.join(configured, "postdate-4.8.3.json"))) {
    throw new Error(
        `The vendor's 4.8.3 tests are not at ${configured}: put them at ../shared/vendor-tests-4.8.3 ` +
            "beside the repository, or set VENDOR_TESTS_483 to their folder.",
    );
}

/** The folder, with symlinks resolved and forward slashes (what vite reports as importers). */
export const VENDOR_DIR = realpathSync(configured).replaceAll("\\", "/");
