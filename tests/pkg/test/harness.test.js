// Guards the vendor-test harness itself: if the redirect of the vendor test's
// `./chat.js` import ever stopped applying, its 42 tests would silently run
// against the vendor's own implementation and prove nothing.
import { fileURLToPath } from "node:url";
import { expect, it } from "vitest";
import config from "../vitest.config.js";

const vendorTest = fileURLToPath(
    new URL("../node_modules/@trigger.dev/sdk/dist/esm/v3/chat.test.js", import.meta.url),
);

it("the vendor test's ./chat.js import resolves to our package's Node entry", () => {
    expect(process.env.CHAT_UNDER_TEST).not.toBe("vendor");
    const plugin = config.plugins.find((p) => p.name === "redirect-vendor-chat-import");
    expect(plugin.resolveId("./chat.js", vendorTest)).toBe(
        fileURLToPath(new URL("../node_modules/trigger-chat-wasm/node.js", import.meta.url)),
    );
    // Only that import of that file is redirected.
    expect(plugin.resolveId("./chat.js", vendorTest.replace("chat.test.js", "chat-react.js"))).toBeNull();
    expect(plugin.resolveId("./other.js", vendorTest)).toBeNull();
});

it("the vendor test file is part of the run and goes through Vite (so the redirect applies)", () => {
    expect(config.test.include).toContain("node_modules/@trigger.dev/sdk/dist/esm/v3/chat.test.js");
    expect(config.test.server.deps.inline.some((re) => re.test(vendorTest))).toBe(true);
});
