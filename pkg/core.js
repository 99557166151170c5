// The wasm module's exports as the `Core` class the runner drives. The other
// half of this boundary is src/abi.rs: strings cross as UTF-8 in the module's
// memory (arguments written into the instance's input buffer, results read
// from its output buffer), numbers and flags as wasm numbers. Self-contained:
// no imports, so the browser cases load it beside a test module.

let wasm;
let view = new Uint8Array(0);
const encoder = new TextEncoder();
const decoder = new TextDecoder();

// The module's memory; a new view after the memory grew.
const memory = () => (view.buffer === wasm.memory.buffer ? view : (view = new Uint8Array(wasm.memory.buffer)));

/** Instantiates the module from its bytes (browsers: off the main thread's compile limit). */
export async function instantiate(bytes) {
  if (!wasm) wasm = (await WebAssembly.instantiate(bytes, {})).instance.exports;
}

/** Instantiates the module synchronously (servers, test runners). */
export function instantiateSync(bytes) {
  if (!wasm) wasm = new WebAssembly.Instance(new WebAssembly.Module(bytes), {}).exports;
}

// An instance is freed when its Core is collected.
const instances = new FinalizationRegistry((p) => wasm.tc_free(p));

// Writes the string arguments (undefined or null: none) one after another
// into the instance's input buffer; returns their byte lengths (-1: none).
function put(p, args) {
  const texts = args.map((a) => (a == null ? null : String(a)));
  let at = wasm.tc_in(p, texts.reduce((room, t) => room + (t?.length ?? 0) * 3, 0)) >>> 0;
  const bytes = memory();
  return texts.map((t) => {
    if (t === null) return -1;
    const { written } = encoder.encodeInto(t, bytes.subarray(at, at + t.length * 3));
    at += written;
    return written;
  });
}

// The string result of length `n` (-1: none).
function result(p, n) {
  if (n < 0) return undefined;
  const at = wasm.tc_out(p) >>> 0;
  return decoder.decode(memory().subarray(at, at + n));
}

const nonNegative = (n) => (typeof n === "number" ? n : -1);

export class Core {
  constructor(watch, timeoutSeconds, hasStartSession, wantsEvents, seed, noise) {
    if (!wasm) throw new Error("trigger-chat-wasm: the wasm module is not instantiated");
    this.p = wasm.tc_new(watch, timeoutSeconds, hasStartSession, wantsEvents, seed, noise);
    instances.register(this, this.p);
  }

  header(name, value) {
    wasm.tc_header(this.p, ...put(this.p, [name, value]));
  }

  callbacks(hasStartSession, wantsEvents) {
    wasm.tc_callbacks(this.p, hasStartSession, wantsEvents);
  }

  now(ms) {
    wasm.tc_now(this.p, ms);
  }

  session(chatId) {
    return result(this.p, wasm.tc_session(this.p, ...put(this.p, [chatId])));
  }

  setSession(chatId, token, lastEventId, isStreaming, skip, superseded, active, closed, closedReason, quiet) {
    const [c, t, l, r] = put(this.p, [chatId, token, lastEventId, closedReason]);
    const streaming = isStreaming === true ? 1 : isStreaming === false ? 0 : 2;
    wasm.tc_set_session(this.p, c, t, l, streaming, skip, nonNegative(superseded), nonNegative(active), closed, r, quiet);
  }

  chat(kind, chatId, text) {
    wasm.tc_chat(this.p, kind, ...put(this.p, [chatId, text]));
  }

  send(chatId, payload, source, messageId, stopOnAbort) {
    const [c, b, m] = put(this.p, [chatId, payload, messageId]);
    return wasm.tc_send(this.p, c, b, source, m, stopOnAbort) >>> 0;
  }

  headStart(chatId, url, payload, messageId) {
    return wasm.tc_head_start(this.p, ...put(this.p, [chatId, url, payload, messageId])) >>> 0;
  }

  reconnect(chatId, stopOnAbort) {
    const op = wasm.tc_reconnect(this.p, ...put(this.p, [chatId]), stopOnAbort);
    return op < 0 ? undefined : op;
  }

  op(kind, op, flag) {
    wasm.tc_op(this.p, kind, op, flag);
  }

  poll(op) {
    return result(this.p, wasm.tc_poll(this.p, op));
  }

  outcome(op, kind, status, a, b, c, flag) {
    wasm.tc_outcome(this.p, op, kind, status, ...put(this.p, [a, b, c]), flag);
  }

  bytes(op, bytes) {
    const at = wasm.tc_in(this.p, bytes.length) >>> 0;
    memory().set(bytes, at);
    wasm.tc_bytes(this.p, op, bytes.length);
  }

  notice() {
    return result(this.p, wasm.tc_notice(this.p));
  }
}
