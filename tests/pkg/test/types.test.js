// The strict TypeScript drop-in check (see types/check.mjs).
import { fileURLToPath } from "node:url";
import { expect, it } from "vitest";
import { run as runChild } from "./helpers/spawn.js";

it("an app written against @trigger.dev/sdk/chat(/react) compiles unchanged against trigger-chat-wasm under strict", async () => {
    const script = fileURLToPath(new URL("../types/check.mjs", import.meta.url));
    const run = await runChild(process.execPath, [script]);
    const output = `${run.stdout}${run.stderr}`;
    expect(output).toContain("ok: app against @trigger.dev/sdk/chat");
    expect(output).toMatch(/ok: app against trigger-chat-wasm \(\d+ imports rewritten\)/);
    expect(output).toContain("ok: app against trigger-chat-wasm, moduleResolution node10");
    expect(output).toContain("ok: trigger-chat-wasm declaration files");
    expect(output).toContain("ok: CommonJS app (module node16) against trigger-chat-wasm");
    expect(output).toContain("ok: 4.8.3 doc examples against @trigger.dev/sdk 4.8.3");
    expect(output).toMatch(/ok: 4\.8\.3 doc examples against trigger-chat-wasm \(\d+ imports rewritten\)/);
    expect(run.status, output).toBe(0);
});
