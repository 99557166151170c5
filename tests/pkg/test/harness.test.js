// Guards the vendor-test harnesses themselves: if a redirect of the vendor
// tests' `./chat.js` import ever stopped applying, their tests would silently
// run against the vendor's own implementation and prove nothing.
import { fileURLToPath } from "node:url";
import { expect, it } from "vitest";
import config from "../vitest.config.js";
import { VENDOR_DIR, VENDOR_PRESENT } from "../vendor483/paths.js";
import { vendor483Project } from "../vendor483/project.js";

const vendorTest = fileURLToPath(
    new URL("../node_modules/@trigger.dev/sdk/dist/esm/v3/chat.test.js", import.meta.url),
);
const project = (name) => config.test.projects.find((p) => p.test.name === name);

it("the vendor test's ./chat.js import resolves to our package's Node entry", () => {
    expect(process.env.CHAT_UNDER_TEST).not.toBe("vendor");
    const plugin = project("pkg").plugins.find((p) => p.name === "redirect-vendor-chat-import");
    expect(plugin.resolveId("./chat.js", vendorTest)).toBe(
        fileURLToPath(new URL("../node_modules/trigger-chat-wasm/node.js", import.meta.url)),
    );
    // Only that import of that file is redirected.
    expect(plugin.resolveId("./chat.js", vendorTest.replace("chat.test.js", "chat-react.js"))).toBeNull();
    expect(plugin.resolveId("./other.js", vendorTest)).toBeNull();
});

it("the vendor test file is part of the run and goes through Vite (so the redirect applies)", () => {
    const pkg = project("pkg");
    expect(pkg.test.include).toContain("node_modules/@trigger.dev/sdk/dist/esm/v3/chat.test.js");
    expect(pkg.test.server.deps.inline.some((re) => re.test(vendorTest))).toBe(true);
});

it("the 4.8.3 tests' ./chat.js and ./chat-tab-coordinator.js imports resolve to ours", async () => {
    // Checked on the project as configured, whether or not ../shared is
    // here to run it (the redirect rules do not depend on the files).
    const p = vendor483Project;
    expect(project("vendor-4.8.3") === p).toBe(VENDOR_PRESENT);
    const plugin = p.plugins.find((x) => x.name === "vendor483-redirect");
    const from = `${VENDOR_DIR}/chat.test.ts`;
    const here = (rel) => fileURLToPath(new URL(rel, import.meta.url));
    expect(await plugin.resolveId("./chat.js", from)).toBe(here("../vendor483/chat-under-test.js"));
    expect(await plugin.resolveId("./chat-tab-coordinator.js", from)).toBe(here("../vendor483/tab-coordinator.js"));
    // What the wrapper itself imports is our Node entry.
    expect(await plugin.resolveId("trigger-chat-wasm", here("../vendor483/chat-under-test.js"))).toBe(
        here("../node_modules/trigger-chat-wasm/node.js"),
    );
    // Imports from anywhere else are left alone.
    expect(await plugin.resolveId("./chat.js", vendorTest)).toBeNull();
    expect(p.test.include).toEqual([`${VENDOR_DIR}/*.test.ts`]);
});
