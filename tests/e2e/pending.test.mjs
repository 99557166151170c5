// Pending messages (4.5.0 pending-messages.mdx): what the user types while a
// reply streams. "Steer" sends it to the running turn at once
// (`usePendingMessages().steer` → `transport.sendPendingMessage`); the agent
// takes it in at its next step and confirms with a
// `data-pending-message-injected` part, where the page shows it inline.
// "Queue" keeps it in the page until the turn ends, then sends it as the next
// turn; "Steer instead" turns a queued message into a steering one.
//
// The reply is `/hold` (the agent says one sentence, then waits for the next
// `.in` record): the steering message always arrives mid-turn, whatever the
// machine's speed.
import assert from "node:assert/strict";
import {
  assertNoError,
  openChat,
  send,
  storedChat,
  test,
  TIMEOUT,
  transcript,
  waitForAssistantText,
  waitForFunction,
  waitForReplies,
  withEnv,
} from "./lib/chat.mjs";

const HELD = "Holding until the next message.";
const BACK = "Back after the hold.";

/** The `.in` append of a user message with this text (a pending one, or a turn). */
const isAppendOf = (text) => (r) =>
  r.method === "POST" &&
  /\/in\/append(\?|$)/.test(r.path) &&
  r.json?.payload?.message?.parts?.some((p) => p.type === "text" && p.text === text);

/** [{ mode, text }] of the pending list. */
function pendingList(page) {
  return page.evaluate(() =>
    [...document.querySelectorAll('[data-testid="pending-message"]')].map((m) => ({
      mode: m.getAttribute("data-mode"),
      text: m.querySelector(".pending-text")?.textContent ?? "",
    })),
  );
}

/** Texts of the injected messages shown inside assistant message `index`. */
function injectedIn(page, index) {
  return page.evaluate(
    (i) =>
      [...document.querySelectorAll('[data-testid="message"][data-role="assistant"]')][i]
        ? [
            ...[...document.querySelectorAll('[data-testid="message"][data-role="assistant"]')][i].querySelectorAll(
              '[data-testid="injected-message"]',
            ),
          ].map((m) => m.textContent.replace(/^You, mid-reply:\s*/, ""))
        : [],
    index,
  );
}

/** Types into the composer while the reply streams and clicks `button` ("steer" or "queue"). */
async function typeDuringReply(page, text, button) {
  await waitForFunction(
    page,
    () => document.querySelector('[data-testid="chat"]')?.getAttribute("data-status") === "streaming",
    undefined,
    "the reply to be streaming",
  );
  await page.byTestId("composer-input").fill(text);
  await page.byTestId(button).click();
}

async function waitForPending(page, want, what) {
  await waitForFunction(
    page,
    (want) => {
      const got = [...document.querySelectorAll('[data-testid="pending-message"]')].map(
        (m) => `${m.getAttribute("data-mode")}:${m.querySelector(".pending-text")?.textContent ?? ""}`,
      );
      return JSON.stringify(got) === JSON.stringify(want);
    },
    want,
    what,
  );
}

test("a message steered into a streaming reply shows as pending, then inline where the agent injected it", async (t) => {
  await withEnv(t, {}, async ({ browser, url, proxy, emu }) => {
    const page = await browser.newPage();
    const chatId = await openChat(page, url);
    await send(page, "/hold");
    await waitForAssistantText(page, { includes: HELD }, "the held reply's first sentence");

    // Hold the steering message's append so its pending state can be seen.
    const hold = proxy.hold(isAppendOf("use metric units"));
    try {
      await typeDuringReply(page, "use metric units", "steer");
      const held = await hold.next("the page to send the pending message", TIMEOUT);
      await waitForPending(page, ["steering:use metric units"], "the message to be pending (steering)");
      assert.equal(
        await page.evaluate(() => document.querySelector('[data-testid="composer-input"]').value),
        "",
        "the composer was cleared",
      );
      held.release();
    } finally {
      hold.stop();
    }

    // The agent injects it at its next step: it leaves the pending list and
    // shows inside the reply, before the rest of the reply.
    await waitForReplies(page, 1);
    await waitForPending(page, [], "the pending list to empty");
    assert.deepEqual(await injectedIn(page, 0), ["use metric units"]);
    const order = await page.evaluate(() => {
      const m = document.querySelector('[data-testid="message"][data-role="assistant"]');
      return [...m.querySelectorAll('[data-testid="text-part"], [data-testid="injected-message"]')].map((e) =>
        e.getAttribute("data-testid"),
      );
    });
    assert.deepEqual(order, ["text-part", "injected-message", "text-part", "text-part"], "held text, injection, note, the rest");
    const msgs = await transcript(page);
    assert.deepEqual(
      msgs.map((m) => [m.role, m.text]),
      [
        ["user", "/hold"],
        ["assistant", `${HELD}(noted: use metric units)${BACK}`],
      ],
      "one turn: the steered message did not become a turn of its own",
    );

    // The agent stored the confirmation part with the message's id and text.
    const stored = await storedChat(emu, chatId);
    const part = stored.messages[1].parts.find((p) => p.type === "data-pending-message-injected");
    assert.ok(part, `the stored reply has the injection part: ${JSON.stringify(stored.messages[1].parts)}`);
    assert.equal(part.data.messages.length, 1);
    assert.equal(part.data.messages[0].text, "use metric units");
    assert.deepEqual(part.data.messageIds, [part.data.messages[0].id]);

    // A reload shows the injection from the stored conversation.
    await page.reload();
    await waitForReplies(page, 1);
    assert.deepEqual(await injectedIn(page, 0), ["use metric units"]);
    await assertNoError(page);
  });
});

test("a queued message waits for the turn's end and becomes the next turn; 'Steer instead' injects a queued one", async (t) => {
  await withEnv(t, {}, async ({ browser, url, proxy }) => {
    const page = await browser.newPage();
    await openChat(page, url);
    await send(page, "/hold");
    await waitForAssistantText(page, { includes: HELD }, "the held reply's first sentence");

    // Two queued messages: nothing goes to the agent for them yet.
    const early = [];
    const watch = proxy.hold((r) => isAppendOf("second question")(r) || isAppendOf("promote me")(r), { limit: 10 });
    try {
      await typeDuringReply(page, "second question", "queue");
      await typeDuringReply(page, "promote me", "queue");
      await waitForPending(page, ["queued:second question", "queued:promote me"], "two queued messages");
      assert.equal(await page.byTestId("chat").attr("data-status"), "streaming", "the reply is still held");

      // "Steer instead" sends the second one now (its append is the first
      // request for either message); it then releases the hold.
      await page.locator('[data-testid="pending-message"]:nth-child(2) [data-testid="promote"]').click();
      const held = await watch.next("the promoted message's append", TIMEOUT);
      early.push(held.request.json?.payload?.message?.parts?.[0]?.text);
      await waitForPending(page, ["queued:second question", "steering:promote me"], "the promoted message to be steering");
      held.release();
    } finally {
      watch.stop();
    }
    assert.deepEqual(early, ["promote me"], "only the promoted message was sent during the reply");

    // The agent injects the promoted one; when the turn ends the page sends
    // the queued one as the next turn, which the agent answers.
    await waitForFunction(
      page,
      () => document.querySelectorAll('[data-testid="message"][data-role="user"]').length === 2,
      undefined,
      "the queued message sent as the next turn",
    );
    await waitForReplies(page, 2);
    await waitForPending(page, [], "the pending list to empty");
    const msgs = await transcript(page);
    assert.deepEqual(
      msgs.map((m) => [m.role, m.text]),
      [
        ["user", "/hold"],
        ["assistant", `${HELD}(noted: promote me)${BACK}`],
        ["user", "second question"],
        ["assistant", "Echo: second question"],
      ],
    );
    assert.deepEqual(await injectedIn(page, 0), ["promote me"]);
    assert.deepEqual(await injectedIn(page, 1), []);
    await assertNoError(page);
  });
});
