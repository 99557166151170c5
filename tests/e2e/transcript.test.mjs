// Transcripts (4.8.3 frontend.mdx "Restoring on page load", reference.mdx
// `useLoadTranscript` / `seedTranscriptCursor`): a chat reopened from the
// agent's transcript storage, without the app's own copy of the conversation
// or of the session. The page's "From transcript" link opens `#/t/<chatId>`,
// which loads `GET /app/chats/{id}/transcript` (the emulator's
// `createLoadTranscriptAction`: the platform snapshot the agent's runs
// checkpoint, and the `.out` cursor where it ends), seeds the transport's
// resume cursor from it, and goes on with the chat from there.
import assert from "node:assert/strict";
import {
  assertNoError,
  openChat,
  pairs,
  send,
  storedTranscript,
  test,
  transcript,
  waitForFunction,
  waitForReplies,
  withEnv,
} from "./lib/chat.mjs";

const isOutConnect = (r) => r.method === "GET" && /\/sessions\/[^/]+\/out(\?|$)/.test(r.path);

test("a chat reopened from the agent's transcript shows its history without the app's copy and goes on from the transcript's cursor", async (t) => {
  await withEnv(t, {}, async ({ browser, url, proxy, emu }) => {
    const page = await browser.newPage();
    const chatId = await openChat(page, url);
    await send(page, "hello");
    await waitForReplies(page, 1);
    await send(page, "/long 12");
    await waitForReplies(page, 2);
    const long = Array.from({ length: 12 }, (_, i) => `token${i + 1}`).join(" ");
    const history = [
      ["user", "hello"],
      ["assistant", "Echo: hello"],
      ["user", "/long 12"],
      ["assistant", long],
    ];
    assert.deepEqual(pairs(await transcript(page)), history);

    // What the emulator's transcript read answers: the agent's conversation
    // and the `.out` cursor of its last turn-complete.
    const read = await emu.app("GET", `/app/chats/${encodeURIComponent(chatId)}/transcript`);
    assert.equal(read.messages.length, 4);
    assert.match(read.cursors?.lastOutEventId ?? "", /^\d+$/, `a cursor: ${JSON.stringify(read.cursors)}`);
    const page2 = await emu.app("GET", `/app/chats/${encodeURIComponent(chatId)}/transcript?limit=2`);
    assert.deepEqual(
      page2.messages.map((m) => m.id),
      read.messages.slice(2).map((m) => m.id),
      "limit=2: the newest two",
    );
    assert.equal(page2.nextCursor, read.messages[2].id);

    // The app forgets its own copy of the conversation.
    await emu.app("PUT", `/app/chats/${encodeURIComponent(chatId)}/messages`, { messages: [] });
    assert.deepEqual(await storedTranscript(emu, chatId), []);

    await page.byTestId("transcript-link").click();
    await waitForFunction(
      page,
      () => document.querySelector('[data-testid="chat"]')?.getAttribute("data-source") === "transcript",
      undefined,
      "the chat reopened from the transcript",
    );
    await page.byTestId("transcript-banner").waitFor();
    await waitForReplies(page, 2);
    assert.deepEqual(pairs(await transcript(page)), history, "the history, from the transcript");

    // The next message's stream opens at the transcript's cursor (the seeded
    // resume cursor), and only the new reply is added.
    const connect = proxy.waitForRequest(isOutConnect, "the next reply's stream");
    await send(page, "third");
    const out = await connect;
    assert.equal(out.headers["last-event-id"], read.cursors.lastOutEventId, "the stream starts after the transcript's history");
    await waitForReplies(page, 3);
    const all = [...history, ["user", "third"], ["assistant", "Echo: third"]];
    assert.deepEqual(pairs(await transcript(page)), all);
    assert.deepEqual(pairs(await storedTranscript(emu, chatId)), all, "the agent stored the whole conversation again");

    // A reload of the transcript view reads the transcript again.
    await page.reload();
    await waitForFunction(
      page,
      () => document.querySelector('[data-testid="chat"]')?.getAttribute("data-source") === "transcript",
      undefined,
      "the transcript view after a reload",
    );
    await waitForReplies(page, 3);
    assert.deepEqual(pairs(await transcript(page)), all);
    await assertNoError(page);
  });
});
