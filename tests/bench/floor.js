// The floor: the least a JavaScript transport can do with the same bytes.
// No checks, no resume, no replay filter, no tokens, no retries: it appends,
// opens the `.out` stream, decodes the bytes, splits SSE events, parses each
// batch and each record's body with `JSON.parse`, and enqueues the chunks.
// It is not a transport anyone should use; it shows, in `cargo xtask bench`,
// how much of a run is the consumer's own loop and the browser's parsing,
// which no transport can avoid.

export class TriggerChatTransport {
  async sendMessages({ chatId, messages }) {
    const base = "https://api.trigger.dev/realtime/v1/sessions";
    await fetch(`${base}/${chatId}/in/append`, { method: "POST", body: JSON.stringify(messages.at(-1)) });
    const res = await fetch(`${base}/${chatId}/out`);
    const reader = res.body.getReader();
    const decoder = new TextDecoder();
    let text = "";
    return new ReadableStream({
      async pull(controller) {
        for (;;) {
          const { done, value } = await reader.read();
          if (done) return controller.close();
          text += decoder.decode(value, { stream: true });
          let enqueued = 0;
          let end;
          while ((end = text.indexOf("\n\n")) >= 0) {
            const event = text.slice(0, end);
            text = text.slice(end + 2);
            const at = event.indexOf("\ndata: ");
            if (at < 0) continue;
            for (const record of JSON.parse(event.slice(at + 7)).records) {
              if (!record.body) continue;
              controller.enqueue(JSON.parse(record.body).data);
              enqueued++;
            }
          }
          if (enqueued) return;
        }
      },
      cancel: () => reader.cancel(),
    });
  }

  dispose() {}
}
