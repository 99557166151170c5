import { fileURLToPath } from "node:url";
import { defineConfig } from "vitest/config";
import { vendor483Project } from "./vendor483/project.js";
import { VENDOR_PRESENT } from "./vendor483/paths.js";

const here = (p) => fileURLToPath(new URL(p, import.meta.url));

// The vendor's own transport tests, run unmodified from node_modules.
const VENDOR_TEST = "node_modules/@trigger.dev/sdk/dist/esm/v3/chat.test.js";

// Which implementation the vendor test's `./chat.js` import gets:
// our package's Node entry by default; CHAT_UNDER_TEST=vendor runs the
// vendor's own chat.js instead (used to validate this harness).
const target =
    process.env.CHAT_UNDER_TEST === "vendor"
        ? here("node_modules/@trigger.dev/sdk/dist/esm/v3/chat.js")
        : here("node_modules/trigger-chat-wasm/node.js");

function redirectVendorChatImport() {
    return {
        name: "redirect-vendor-chat-import",
        enforce: "pre",
        resolveId(source, importer) {
            if (
                source === "./chat.js" &&
                importer &&
                importer.replaceAll("\\", "/").endsWith("/@trigger.dev/sdk/dist/esm/v3/chat.test.js")
            ) {
                return target;
            }
            return null;
        },
    };
}

// Two projects: the package suites (with the vendor's 4.5.0 test file), and
// the vendor's 4.8.3 test files run from ../shared (vendor483/project.js),
// the second only when that folder is there (see vendor483/paths.js).
export default defineConfig({
    test: {
        projects: [
            {
                plugins: [redirectVendorChatImport()],
                esbuild: { jsx: "automatic" },
                test: {
                    name: "pkg",
                    include: ["test/**/*.test.{js,jsx,ts,tsx}", VENDOR_TEST],
                    exclude: [],
                    // Files under node_modules are normally handed to Node untransformed,
                    // which would bypass the plugin above; run the vendor test through Vite.
                    server: { deps: { inline: [/@trigger\.dev\/sdk\/dist\/esm\/v3\/chat\.test\.js$/] } },
                    // Builds, browsers and installs run inside some tests.
                    testTimeout: 180_000,
                    hookTimeout: 180_000,
                },
            },
            ...(VENDOR_PRESENT ? [vendor483Project] : []),
        ],
        // Two shared cores: keep parallelism modest.
        maxWorkers: 2,
        minWorkers: 1,
    },
});
