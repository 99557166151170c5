// The vitest project that runs the vendor's 4.8.3 tests
// (../shared/vendor-tests-4.8.3) from where they are, bodies unchanged.
//
// Only imports made by those files are redirected:
//   ./chat.js                 -> our package's Node entry (chat-under-test.js)
//   ./chat-tab-coordinator.js -> our TabCoordinator under the vendor's name
//   vitest                    -> vitest, with the lists of expected failures applied
//   ai                        -> ai 6.x (what the vendor ran them with)
// CHAT_UNDER_TEST=vendor runs them against the published 4.8.3 build instead,
// which checks the harness (133 pass there).
import path from "node:path";
import { fileURLToPath } from "node:url";
import { VENDOR_DIR } from "./paths.js";

const here = (p) => fileURLToPath(new URL(p, import.meta.url));
const PKG_TESTS = here("../");
const vendorBuild = process.env.CHAT_UNDER_TEST === "vendor";

const targets = vendorBuild
    ? {
          "./chat.js": path.join(PKG_TESTS, "node_modules/@trigger.dev/sdk483/dist/esm/v3/chat.js"),
          "./chat-tab-coordinator.js": path.join(
              PKG_TESTS,
              "node_modules/@trigger.dev/sdk483/dist/esm/v3/chat-tab-coordinator.js",
          ),
      }
    : {
          "./chat.js": here("./chat-under-test.js"),
          "./chat-tab-coordinator.js": here("./tab-coordinator.js"),
      };

const SHIM_PREFIX = "\0vendor483-vitest:";

function redirectVendorImports() {
    return {
        name: "vendor483-redirect",
        enforce: "pre",
        async resolveId(source, importer) {
            if (source === "trigger-chat-wasm" && importer?.replaceAll("\\", "/").endsWith("/vendor483/chat-under-test.js")) {
                return path.join(PKG_TESTS, "node_modules/trigger-chat-wasm/node.js");
            }
            if (source === "trigger-chat-wasm-tabs") {
                return path.join(PKG_TESTS, "node_modules/trigger-chat-wasm/tabs.js");
            }
            if (!importer) return null;
            const from = importer.replaceAll("\\", "/");
            if (!from.startsWith(`${VENDOR_DIR}/`)) return null;
            const file = from.slice(VENDOR_DIR.length + 1);
            if (source in targets) return targets[source];
            if (source === "vitest") return `${SHIM_PREFIX}${file}`;
            if (source === "ai") return path.join(PKG_TESTS, "node_modules/ai6/dist/index.mjs");
            // Anything else bare (none today) resolves as if imported from here.
            if (!source.startsWith(".") && !source.startsWith("node:")) {
                return this.resolve(source, path.join(PKG_TESTS, "package.json"), { skipSelf: true });
            }
            return null;
        },
        load(id) {
            if (!id.startsWith(SHIM_PREFIX)) return null;
            const file = id.slice(SHIM_PREFIX.length);
            const shim = JSON.stringify(here("./vitest-shim.js"));
            return [
                `export * from "vitest";`,
                `import { shimFor } from ${shim};`,
                `export const { describe } = shimFor(${JSON.stringify(file)});`,
            ].join("\n");
        },
    };
}

export const vendor483Project = {
    plugins: [redirectVendorImports()],
    test: {
        name: "vendor-4.8.3",
        root: PKG_TESTS,
        dir: VENDOR_DIR,
        include: [`${VENDOR_DIR}/*.test.ts`],
        testTimeout: 15_000,
        hookTimeout: 15_000,
    },
    server: { fs: { allow: [PKG_TESTS, VENDOR_DIR] } },
};
