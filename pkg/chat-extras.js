// The server-side client and the sub-agent helpers, re-exported by both
// entries (index.js, node.js) next to the transport.
export { AgentChat, ChatStream } from "./agent-chat.js";
export { SUB_AGENT_DATA_TYPE, createSubAgentMessages } from "./sub-agent.js";
