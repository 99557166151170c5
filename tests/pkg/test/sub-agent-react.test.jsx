// @vitest-environment jsdom
// useSubAgentMessages: re-renders as a sub-agent's forwarded batches arrive.
import { act, renderHook, waitFor } from "@testing-library/react";
import { SUB_AGENT_DATA_TYPE } from "trigger-chat-wasm";
import { useSubAgentMessages } from "trigger-chat-wasm/react";
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

describe("useSubAgentMessages", () => {
    it("re-renders with the sub-agent's message as its batches arrive", async () => {
        let renders = 0;
        const { result } = renderHook(() => {
            renders++;
            return useSubAgentMessages({ throttleMs: 5 });
        });
        const first = result.current;
        const chunks = reply("m", ["from", "the", "sub-agent"]);
        act(() => {
            result.current.onData(batch("call-9", 0, chunks.slice(0, 4)));
        });
        await waitFor(() => expect(textOf(result.current.get("call-9"))).toBe("from"), { timeout: 20_000 });
        const before = renders;
        act(() => {
            result.current.onData(batch("call-9", 1, chunks.slice(4)));
        });
        await waitFor(() => expect(textOf(result.current.get("call-9"))).toBe("from the sub-agent"), {
            timeout: 20_000,
        });
        expect(renders).toBeGreaterThan(before);
        // Stable functions across renders.
        expect(result.current.onData).toBe(first.onData);
        expect(result.current.get).toBe(first.get);
    });
});
