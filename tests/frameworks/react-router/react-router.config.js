// Framework mode with server-side rendering (the default); nothing here is for
// trigger-chat-wasm.
export default { ssr: true };
