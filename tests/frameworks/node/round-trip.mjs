// One turn against the emulator through sendMessages: the reply's text.
export async function roundTrip(TriggerChatTransport, baseURL, text) {
  const post = async (path) => (await fetch(baseURL + path, { method: "POST", body: "{}" })).json();
  const transport = new TriggerChatTransport({
    task: "ai-chat",
    baseURL,
    accessToken: async ({ chatId }) => (await post(`/app/chats/${chatId}/token`)).publicAccessToken,
    startSession: ({ chatId }) => post(`/app/chats/${chatId}/start`),
  });
  const stream = await transport.sendMessages({
    trigger: "submit-message",
    chatId: `node-${text.replace(/\W+/g, "-")}`,
    messageId: undefined,
    messages: [{ id: "u1", role: "user", parts: [{ type: "text", text }] }],
    abortSignal: undefined,
  });
  let reply = "";
  for (const reader = stream.getReader(); ; ) {
    const { done, value } = await reader.read();
    if (done) break;
    if (value.type === "text-delta") reply += value.delta;
  }
  transport.dispose();
  return reply;
}
