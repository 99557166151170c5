import assert from "node:assert/strict";
import {
  assertNoError,
  eventually,
  openChat,
  send,
  storedTranscript,
  test,
  transcript,
  waitForAssistantText,
  waitForReplies,
  withEnv,
} from "./lib/chat.mjs";

test("a human-in-the-loop question is answered with a button and the reply continues", async (t) => {
  await withEnv(t, {}, async ({ browser, url, emu }) => {
    const page = await browser.newPage();
    const chatId = await openChat(page, url);
    await send(page, "/ask");
    await waitForReplies(page, 1);

    const card = page.byTestId("hitl");
    await card.waitFor();
    const options = await card.byTestId("hitl-option").texts();
    assert.deepEqual(options, ["red", "green", "blue"]);

    await card.locator('[data-option="green"]').click();
    await waitForAssistantText(page, { includes: "You picked green" }, "the continued reply");
    await waitForReplies(page, 1);

    // One user message and one assistant message holding the answered call.
    const msgs = await transcript(page);
    assert.deepEqual(msgs.map((m) => m.role), ["user", "assistant"]);
    assert.equal(await page.byTestId("hitl").count(), 0, "the question is still open");
    const tool = page.locator('[data-testid="tool"][data-tool="askUser"]');
    assert.equal(await tool.attr("data-state"), "output-available");

    // Answering sent exactly one follow-up, and the agent stored one merged message.
    const stored = await eventually(async () => {
      const s = await storedTranscript(emu, chatId);
      return s.length === 2 && s[1].text.includes("You picked green") && s;
    }, "the merged message to be stored");
    assert.equal(stored[1].id, msgs[1].id);
    await assertNoError(page);
  });
});

test("a tool that needs approval runs after Approve and not after Deny", async (t) => {
  await withEnv(t, {}, async ({ browser, url }) => {
    const page = await browser.newPage();
    await openChat(page, url);

    await send(page, "/approve");
    await waitForReplies(page, 1);
    const approval = page.byTestId("approval");
    await approval.waitFor();
    assert.equal(await approval.attr("data-tool"), "sendEmail");
    await approval.byTestId("approve").click();
    await waitForAssistantText(page, { includes: "Email sent." }, "the approved tool to run");
    await waitForReplies(page, 1);
    assert.equal(await page.byTestId("approval").count(), 0);

    await send(page, "/approve");
    await waitForReplies(page, 2);
    await page.byTestId("approval").waitFor();
    await page.byTestId("approval").byTestId("deny").click();
    await waitForAssistantText(page, { includes: "Email not sent." }, "the denied tool to be skipped");
    await waitForReplies(page, 2);

    const msgs = await transcript(page);
    assert.deepEqual(msgs.map((m) => m.role), ["user", "assistant", "user", "assistant"]);
    assert.ok(!msgs[3].text.includes("Email sent."), msgs[3].text);
    await assertNoError(page);
  });
});

test("reasoning and tool calls are shown compactly", async (t) => {
  await withEnv(t, {}, async ({ browser, url }) => {
    const page = await browser.newPage();
    await openChat(page, url);
    await send(page, "/reason");
    await waitForReplies(page, 1);
    await page.byTestId("reasoning").waitFor();
    assert.equal(await page.byTestId("reasoning").attr("open"), null, "reasoning starts collapsed");

    await send(page, "/tool");
    await waitForReplies(page, 2);
    const tool = page.locator('[data-testid="tool"][data-tool="getWeather"]');
    await tool.waitFor();
    assert.equal(await tool.attr("data-state"), "output-available");
    const [, , , reply] = await transcript(page);
    assert.ok(reply.text.length > 0, "text follows the tool call");
    // A finished turn with a completed tool call must not send itself again.
    assert.equal((await transcript(page)).length, 4);
    await assertNoError(page);
  });
});

test("an agent error is shown, and the next message works", async (t) => {
  await withEnv(t, {}, async ({ browser, url }) => {
    const page = await browser.newPage();
    await openChat(page, url);
    await send(page, "/error");
    const banner = page.byTestId("chat-error");
    await banner.waitFor();
    assert.match(await banner.text(), /Scripted failure/);
    assert.equal(await page.byTestId("status").attr("data-state"), "error");

    await send(page, "still there?");
    await waitForAssistantText(page, { includes: "Echo: still there?" }, "the reply after the error");
    await waitForReplies(page, 1);
    await assertNoError(page);
  });
});

test("an upgrade in the middle of a reply is invisible to the user", async (t) => {
  await withEnv(t, {}, async ({ browser, url }) => {
    const page = await browser.newPage();
    await openChat(page, url);
    await send(page, "/upgrade");
    await waitForReplies(page, 1);
    const msgs = await transcript(page);
    assert.deepEqual(msgs.map((m) => m.role), ["user", "assistant"]);
    assert.ok(msgs[1].text.length > 0);
    await send(page, "after upgrade");
    await waitForReplies(page, 2);
    assert.equal((await transcript(page)).at(-1).text, "Echo: after upgrade");
    await assertNoError(page);
  });
});

test("a sub-agent's reply shows under its tool call while it streams, and when the chat is reopened", async (t) => {
  await withEnv(t, { args: ["--chunk-delay-ms", "150"] }, async ({ browser, url }) => {
    const page = await browser.newPage();
    const chatId = await openChat(page, url);
    // Every (running, text) state the sub-agent view goes through.
    await page.evaluate(() => {
      const seen = [];
      window.__subAgent = seen;
      const read = () => {
        const el = document.querySelector('[data-testid="subagent"]');
        if (!el) return;
        const state = `${el.getAttribute("data-running")}|${el.querySelector('[data-testid="subagent-text"]')?.textContent ?? ""}`;
        if (seen[seen.length - 1] !== state) seen.push(state);
      };
      new MutationObserver(read).observe(document.body, { subtree: true, childList: true, characterData: true, attributes: true });
    });

    await send(page, "/subagent hello");
    await waitForAssistantText(page, { includes: "The sub-agent has finished its research." }, "the parent's final text");
    await waitForReplies(page, 1);

    const full = "Sub-agent researched hello: three sources agree.";
    const sub = page.byTestId("subagent");
    assert.equal(await sub.attr("data-running"), "false");
    assert.equal(await sub.byTestId("subagent-text").text(), full);
    const tool = page.locator('[data-testid="tool"][data-tool="research"]');
    assert.equal(await tool.attr("data-state"), "output-available");
    assert.match(await sub.attr("data-tool-call-id"), /^call_/);

    // While the call ran (no output yet), the text came from the forwarded parts.
    const states = await page.evaluate(() => window.__subAgent.slice());
    const live = states.filter((s) => s.startsWith("true|Sub-agent"));
    assert.ok(live.length > 0, `no live sub-agent text before the call finished: ${JSON.stringify(states)}`);
    for (const s of live) assert.ok(full.startsWith(s.slice("true|".length)), `not a prefix of the reply: ${s}`);
    // The parent's own text is not mixed with the sub-agent's.
    const msgs = await transcript(page);
    assert.equal(msgs[1].text, "The sub-agent has finished its research.");

    await assertNoError(page);

    // Reopened in a fresh page, the stored tool output shows the sub-agent's message.
    const again = await browser.newPage();
    await openChat(again, url, chatId);
    await again.byTestId("subagent-text").waitFor();
    assert.equal(await again.byTestId("subagent-text").text(), full);
    assert.equal(await again.byTestId("subagent").attr("data-running"), "false");
    await assertNoError(again);
  });
});
