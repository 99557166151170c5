// Sub-agent messages: createSubAgentMessages against the vendor's 4.8.3
// implementation on the same batches, and its ordering and throttling rules
// (the React hook: sub-agent-react.test.jsx).
import { createSubAgentMessages as vendorCreate, SUB_AGENT_DATA_TYPE as VENDOR_TYPE } from "@trigger.dev/sdk483/chat";
import { createSubAgentMessages, SUB_AGENT_DATA_TYPE } from "trigger-chat-wasm";
import { describe, expect, it } from "vitest";

const reply = (id, words) => [
    { type: "start", messageId: id },
    { type: "start-step" },
    { type: "text-start", id: "t1" },
    ...words.map((w, i) => ({ type: "text-delta", id: "t1", delta: i === 0 ? w : ` ${w}` })),
    { type: "text-end", id: "t1" },
    { type: "finish-step" },
    { type: "finish" },
];

const batch = (toolCallId, seq, chunks) => ({
    type: SUB_AGENT_DATA_TYPE,
    data: { toolCallId, seq, chunks },
    transient: true,
});

const textOf = (message) =>
    (message?.parts ?? [])
        .filter((p) => p.type === "text")
        .map((p) => p.text)
        .join("");

// A store whose onChange resolves the next `changed()` promise.
function store(create, options = {}) {
    let waiting = [];
    let changes = 0;
    const s = create({
        throttleMs: 5,
        ...options,
        onChange: () => {
            changes++;
            const w = waiting;
            waiting = [];
            for (const resolve of w) resolve();
        },
    });
    return {
        s,
        changes: () => changes,
        changed: () => new Promise((resolve) => waiting.push(resolve)),
    };
}

// Gives pending timers and rebuilds a chance to run (no assertion on time).
const settle = async () => {
    for (let i = 0; i < 5; i++) await new Promise((r) => setTimeout(r, 20));
};

describe("createSubAgentMessages", () => {
    it("has the vendor's data part type", () => {
        expect(SUB_AGENT_DATA_TYPE).toBe("data-subagent");
        expect(SUB_AGENT_DATA_TYPE).toBe(VENDOR_TYPE);
    });

    it("builds the same message as the vendor's from the same batches", async () => {
        const chunks = [
            ...reply("sub-1", ["Looking", "into", "it."]).slice(0, -2),
            { type: "start-step" },
            { type: "tool-input-available", toolCallId: "c1", toolName: "search", input: { q: "x" } },
            { type: "tool-output-available", toolCallId: "c1", output: { hits: 3 } },
            { type: "finish-step" },
            { type: "finish" },
        ];
        const parts = [batch("call-1", 0, chunks.slice(0, 4)), batch("call-1", 1, chunks.slice(4))];
        const ours = store(createSubAgentMessages);
        const theirs = store(vendorCreate);
        const done = Promise.all([ours.changed(), theirs.changed()]);
        for (const p of parts) {
            ours.s.onData(p);
            theirs.s.onData(p);
        }
        await done;
        const mine = ours.s.get("call-1");
        expect(mine).toBeDefined();
        expect(mine).toEqual(theirs.s.get("call-1"));
        expect(textOf(mine)).toBe("Looking into it.");
        expect(mine.parts.some((p) => p.type === "tool-search" && p.output?.hits === 3)).toBe(true);
    });

    it("coalesces batches that arrive before a rebuild into one rebuild", async () => {
        const chunks = reply("m", ["a", "b", "c", "d"]);
        const { s, changes, changed } = store(createSubAgentMessages);
        const first = changed();
        s.onData(batch("call", 0, chunks.slice(0, 3)));
        s.onData(batch("call", 1, chunks.slice(3, 5)));
        s.onData(batch("call", 2, chunks.slice(5)));
        expect(s.get("call")).toBeUndefined(); // nothing is built synchronously
        await first;
        await settle();
        expect(changes()).toBe(1);
        expect(textOf(s.get("call"))).toBe("a b c d");
    });

    it("drops replayed and out-of-order batches, and takes the missing one when it comes", async () => {
        const chunks = reply("m", ["one", "two", "three"]);
        const b0 = batch("call", 0, chunks.slice(0, 4)); // start .. "one"
        const b1 = batch("call", 1, chunks.slice(4, 5)); // " two"
        const b2 = batch("call", 2, chunks.slice(5)); // " three" .. finish
        const { s, changed } = store(createSubAgentMessages);

        let next = changed();
        s.onData(b0);
        await next;
        expect(textOf(s.get("call"))).toBe("one");

        // Ahead of b1: dropped. A replay of b0: dropped.
        s.onData(b2);
        s.onData(b0);
        await settle();
        expect(textOf(s.get("call"))).toBe("one");

        next = changed();
        s.onData(b1);
        await next;
        expect(textOf(s.get("call"))).toBe("one two");

        // b2 again, now in order (a resumed stream replays it).
        next = changed();
        s.onData(b0);
        s.onData(b1);
        s.onData(b2);
        await next;
        expect(textOf(s.get("call"))).toBe("one two three");
    });

    it("keeps tool calls apart, ignores other parts and malformed batches", async () => {
        const { s, changed } = store(createSubAgentMessages);
        const next = changed();
        s.onData({ type: "data-other", data: { toolCallId: "a", seq: 0, chunks: reply("x", ["no"]) } });
        s.onData({ type: SUB_AGENT_DATA_TYPE, data: { toolCallId: 7, seq: 0, chunks: [] } });
        s.onData({ type: SUB_AGENT_DATA_TYPE, data: { toolCallId: "a", seq: 0, chunks: "nope" } });
        s.onData({ type: SUB_AGENT_DATA_TYPE });
        s.onData(batch("a", 0, reply("ma", ["alpha"])));
        s.onData(batch("b", 0, reply("mb", ["beta"])));
        await next;
        await settle();
        expect(textOf(s.get("a"))).toBe("alpha");
        expect(textOf(s.get("b"))).toBe("beta");
        expect(s.get("c")).toBeUndefined();
    });

    it("keeps what was built before a malformed chunk, as the vendor's does", async () => {
        const chunks = [
            ...reply("m", ["fine"]).slice(0, 4),
            { type: "text-delta", id: "never-started", delta: "broken" },
        ];
        const ours = store(createSubAgentMessages);
        const theirs = store(vendorCreate);
        const done = Promise.all([ours.changed(), theirs.changed()]);
        ours.s.onData(batch("call", 0, chunks));
        theirs.s.onData(batch("call", 0, chunks));
        await done;
        expect(textOf(ours.s.get("call"))).toBe("fine");
        expect(ours.s.get("call")).toEqual(theirs.s.get("call"));
    });

    it("dispose cancels the pending rebuild and forgets everything", async () => {
        const { s, changes } = store(createSubAgentMessages);
        s.onData(batch("call", 0, reply("m", ["x"])));
        s.dispose();
        s.onData(batch("call", 1, reply("m", ["y"])));
        await settle();
        expect(changes()).toBe(0);
        expect(s.get("call")).toBeUndefined();
    });
});
