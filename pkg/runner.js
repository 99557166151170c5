// The effect runner: the transport's engine (Rust, `Core`) decides every
// retry, reconnect, cursor move and what a stream delivers; this file only
// performs what it asks (call a callback, fetch, read a body, sleep, wait)
// and hands the outcome back, raced against the engine's interrupts. It
// also reads and checks the options, and builds the errors the app sees.
//
// Self-contained (no imports): the browser tests of the crate load it as
// it is, beside a freshly built module, through `makeCore`.

const DEFAULT_BASE_URL = "https://api.trigger.dev";

// Outcome kinds, as `Core.outcome` reads them.
const TOKEN = 0;
const STARTED = 1;
const RESPONSE = 2;
const CONNECTED = 3;
const HEAD_STARTED = 4;
const EOF = 5;
const STALL = 6;
const INTERRUPTED = 7;
const SLEPT = 8;
const WOKEN = 9;
const NETWORK = 10;
const CALLBACK = 11;
const PROTOCOL = 12;
const MISUSE = 13;

const absent = (v) => v === undefined || v === null;
const isObject = (v) => typeof v === "object" && v !== null;
const isPlainObject = (v) => isObject(v) && !Array.isArray(v);
const named = (v, name) => {
  try {
    return isObject(v) && v.name === name;
  } catch {
    return false;
  }
};
// A short description of a thrown value, for error messages.
const describe = (v) => (v instanceof Error ? String(v.message) : typeof v === "string" ? v : "unknown error");
// `obj[key]`, or `undefined` when `obj` has no properties to read.
const prop = (obj, key) => {
  if (!isObject(obj) && typeof obj !== "function") return undefined;
  try {
    return obj[key];
  } catch {
    return undefined;
  }
};
const str = (v) => (typeof v === "string" ? v : undefined);

/** An error with the shape the vendor's callers look for: `code`,
 *  `retryable`, and for HTTP failures `status` and the name
 *  `TriggerApiError`; a `TypeError` for API misuse. */
function makeError({ code, message, retryable, status, closedReason }) {
  const err = code === "MISUSE" ? new TypeError(message) : new Error(message);
  err.code = code;
  err.retryable = retryable;
  if (closedReason !== undefined) err.closedReason = closedReason;
  if (status !== undefined) {
    err.status = status;
    err.name = "TriggerApiError";
  } else if (code === "ABORTED") {
    err.name = "AbortError";
  }
  return err;
}

const misuse = (message) => makeError({ code: "MISUSE", message, retryable: false });

function closedError(chatId, reason) {
  return makeError({
    code: "session_closed",
    message: reason === undefined ? `Chat session ${chatId} is closed` : `Chat session ${chatId} is closed: ${reason}`,
    retryable: false,
    status: 409,
    closedReason: reason,
  });
}

// The persisted form of a session, keys in their usual order.
function persisted(json) {
  const s = JSON.parse(json);
  const o = { publicAccessToken: s.publicAccessToken, lastEventId: s.lastEventId, isStreaming: s.isStreaming };
  for (const k of ["activeInputSeq", "skipToTurnComplete", "supersededInputSeq", "closed", "closedReason"]) {
    if (s[k] !== undefined) o[k] = s[k];
  }
  return o;
}

// A whole, non-negative number that a u64 holds exactly.
const wholeNumber = (v) => (typeof v === "number" && v >= 0 && v < 9e15 && Number.isInteger(v) ? v : undefined);

function typed(obj, key, read, kind, name) {
  const v = prop(obj, key);
  if (absent(v)) return undefined;
  const r = read(v);
  if (r === undefined) throw misuse(`${name(key)} must be ${kind}`);
  return r;
}

const asBool = (v) => (typeof v === "boolean" ? v : undefined);
const asFunction = (v) => (typeof v === "function" ? v : undefined);
const optionName = (key) => `TriggerChatTransport: option \`${key}\``;
const option = (o, key, read, kind) => typed(o, key, read, kind, optionName);

/** One persisted session (from `sessions` or `setSession`), checked. */
function sessionFrom(v, what) {
  if (!isPlainObject(v)) throw misuse(`${what} must be an object with a publicAccessToken`);
  const token = str(v.publicAccessToken);
  if (token === undefined) throw misuse(`${what}.publicAccessToken must be a string`);
  const last = v.lastEventId;
  let lastEventId;
  if (!absent(last)) {
    if (typeof last === "string") lastEventId = last;
    else if (wholeNumber(last) !== undefined) lastEventId = String(last);
    else throw misuse(`${what}.lastEventId must be a string`);
  }
  const name = (key) => `${what}.${key}`;
  return [
    token,
    lastEventId,
    typed(v, "isStreaming", asBool, "a boolean", name),
    typed(v, "skipToTurnComplete", asBool, "a boolean", name) ?? false,
    typed(v, "supersededInputSeq", wholeNumber, "a whole number", name),
    typed(v, "activeInputSeq", wholeNumber, "a whole number", name),
    typed(v, "closed", asBool, "a boolean", name) ?? false,
    typed(v, "closedReason", str, "a string", name),
  ];
}

/** Option `key`: absent, or a plain object whose entries `read(key,
 *  value)` checks; its `[key, checked value]` pairs. */
function objectOption(o, key, kind, read) {
  const v = o[key];
  if (absent(v)) return [];
  if (!isPlainObject(v)) throw misuse(`${optionName(key)} must be ${kind}`);
  return Object.entries(v).map(([k, x]) => [k, read(k, x)]);
}

/** The transport's options, read and checked: a wrong one is a
 *  `TypeError` that names it. */
function readOptions(o) {
  if (!isPlainObject(o)) throw misuse("TriggerChatTransport: options must be an object");
  const task = o.task;
  if (typeof task !== "string" || task === "") {
    throw misuse("TriggerChatTransport: option `task` is required and must be a non-empty string");
  }
  const accessToken = option(o, "accessToken", asFunction, "a function");
  if (!accessToken) throw misuse("TriggerChatTransport: option `accessToken` is required and must be a function");
  let baseURL = o.baseURL;
  if (absent(baseURL)) baseURL = DEFAULT_BASE_URL;
  else if (typeof baseURL !== "string" && typeof baseURL !== "function") {
    throw misuse("TriggerChatTransport: option `baseURL` must be a string or a function");
  }
  const headers = objectOption(o, "headers", "an object of strings", (k, v) => {
    if (typeof v !== "string") throw misuse(`${optionName(`headers.${k}`)} must be a string`);
    return v;
  });
  let timeout = 120;
  const t = o.streamTimeoutSeconds;
  if (!absent(t)) {
    if (typeof t !== "number" || !(t >= 1 && t <= 600)) {
      throw misuse("TriggerChatTransport: option `streamTimeoutSeconds` must be a number from 1 to 600");
    }
    timeout = Math.floor(t + 0.5);
  }
  const clientData = o.clientData;
  if (!absent(clientData) && !isPlainObject(clientData)) {
    throw misuse("TriggerChatTransport: option `clientData` must be an object");
  }
  const sessions = objectOption(o, "sessions", "an object keyed by chat id", (chatId, v) =>
    sessionFrom(v, optionName(`sessions["${chatId}"]`)),
  );
  return {
    task,
    accessToken,
    startSession: option(o, "startSession", asFunction, "a function"),
    baseURL,
    streamBaseURL: option(o, "streamBaseURL", str, "a string"),
    fetch: option(o, "fetch", asFunction, "a function"),
    headers,
    timeout,
    clientData: absent(clientData) ? undefined : clientData,
    sessions,
    onSessionChange: option(o, "onSessionChange", asFunction, "a function"),
    onEvent: option(o, "onEvent", asFunction, "a function"),
    multiTab: option(o, "multiTab", asBool, "a boolean") ?? false,
    watch: option(o, "watch", asBool, "a boolean") ?? false,
    headStart: option(o, "headStart", str, "a string"),
  };
}

function chatIdArg(v, method) {
  if (typeof v === "string" && v !== "") return v;
  throw misuse(`TriggerChatTransport.${method}: \`chatId\` must be a non-empty string`);
}

function signalArg(v, method) {
  if (absent(v)) return undefined;
  if (!isObject(v) || typeof v.aborted !== "boolean") {
    throw misuse(`TriggerChatTransport.${method}: \`abortSignal\` must be an AbortSignal`);
  }
  return v;
}

/** `JSON.stringify(v)`, or `undefined` for `undefined`; a value that cannot
 *  be stringified is the caller's error, named by `what`. */
function toJson(v, what) {
  if (v === undefined) return undefined;
  try {
    return str(JSON.stringify(v));
  } catch (e) {
    throw misuse(`${what} cannot be sent as JSON: ${describe(e)}`);
  }
}

// The object a JSON text of an object stands for (a fresh copy); nothing
// for any other JSON text, as a spread of a non-object adds nothing.
const objectOf = (json) => (json !== undefined && json[0] === "{" ? JSON.parse(json) : undefined);

const messageChunk = (payload) => JSON.stringify({ kind: "message", payload });

const RESOLVED = ["output-available", "output-error", "approval-responded", "output-denied"];
const own = (o, k) => Object.prototype.hasOwnProperty.call(o, k);

/** The newest message as a `submit-message` carries it: an assistant
 *  message with resolved tool parts (a human answered a tool, approved or
 *  denied one) is cut down to those parts, each with only its resolution;
 *  the agent has everything else. Other messages pass as they are. */
function slim(m) {
  if (!isPlainObject(m) || m.role !== "assistant") return m;
  const parts = [];
  for (const p of Array.isArray(m.parts) ? m.parts : []) {
    if (!isPlainObject(p)) continue;
    const type = str(p.type) ?? "";
    const state = str(p.state) ?? "";
    if (!(type.startsWith("tool-") || type === "dynamic-tool") || !RESOLVED.includes(state)) continue;
    const s = { type };
    if (own(p, "toolCallId")) s.toolCallId = p.toolCallId;
    s.state = state;
    if (type === "dynamic-tool" && typeof p.toolName === "string") s.toolName = p.toolName;
    const keep = state === "output-available" ? ["output", "approval"] : state === "output-error" ? ["errorText", "approval"] : ["approval"];
    for (const k of keep) if (own(p, k)) s[k] = p[k];
    parts.push(s);
  }
  if (parts.length === 0) return m;
  const out = {};
  if (own(m, "id")) out.id = m.id;
  out.role = "assistant";
  out.parts = parts;
  return out;
}

const encodeChatId = (id) => {
  try {
    return encodeURIComponent(id);
  } catch {
    return encodeURIComponent(id.replace(/[\uD800-\uDFFF]/g, "\uFFFD"));
  }
};

/** Resolves after `ms`, or as soon as `signal` aborts. */
function sleep(ms, signal) {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const done = () => {
      clearTimeout(t);
      signal.removeEventListener("abort", done);
      resolve();
    };
    const t = setTimeout(done, ms);
    signal.addEventListener("abort", done);
  });
}

/** `{v}` when `p` resolves, `{e, f: 1}` when it rejects, `{a: 1}` as soon
 *  as `signal` aborts; never rejects. */
function settle(p, signal) {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve({ a: 1 });
    const onAbort = () => resolve({ a: 1 });
    signal.addEventListener("abort", onAbort);
    p.then(
      (v) => {
        signal.removeEventListener("abort", onAbort);
        resolve({ v });
      },
      (e) => {
        signal.removeEventListener("abort", onAbort);
        resolve({ e, f: 1 });
      },
    );
  });
}

/** Calls `f(...args)`; whatever happens (a value, a promise, a throw)
 *  becomes a promise. */
function callPromise(f, args) {
  try {
    return Promise.resolve(f(...args));
  } catch (e) {
    return Promise.reject(e);
  }
}

function headerOf(response, name) {
  try {
    const v = response.headers.get(name);
    return v == null ? undefined : String(v);
  } catch {
    return undefined;
  }
}

function statusOf(response) {
  const n = prop(response, "status");
  return typeof n === "number" && n >= 0 && n <= 999 ? Math.trunc(n) : 0;
}

async function textOf(response) {
  try {
    const t = await response.text();
    return typeof t === "string" ? t : "";
  } catch {
    return "";
  }
}

/** A reader that drains `response.body` as fast as it arrives, whatever
 *  the app's pace: a stream that errors (a cut connection) drops what it
 *  still holds, so bytes that arrived before the cut are taken out first.
 *  `undefined` when there is no body. */
function bodyReader(response) {
  const body = prop(response, "body");
  if (!body || typeof body.getReader !== "function") return undefined;
  const r = body.getReader();
  const q = { r, chunks: [], done: false, err: null, wake: null, cancelled: false };
  const poke = () => q.wake?.();
  const pump = () =>
    r.read().then(
      (x) => {
        if (x.done) q.done = true;
        else {
          // No instanceof: bytes from another realm (an iframe, jsdom) are
          // still bytes.
          const v = x.value;
          if (v instanceof Uint8Array) q.chunks.push(v);
          else if (ArrayBuffer.isView(v)) q.chunks.push(new Uint8Array(v.buffer, v.byteOffset, v.byteLength));
          else q.err = new TypeError("the response body yielded something other than bytes");
        }
        poke();
        if (!x.done && q.err === null && !q.cancelled) pump();
      },
      (e) => {
        if (!q.cancelled) q.err = e;
        poke();
      },
    );
  pump();
  return q;
}

function cancelReader(q) {
  q.cancelled = true;
  q.chunks = [];
  try {
    q.r.cancel().catch(() => {});
  } catch {}
}

const READ_MAX = 64 * 1024;

/** The bytes that arrived since the last read (several network chunks
 *  joined, up to READ_MAX), `undefined` at the end, `null` when nothing arrived within
 *  `ms`, `false` when `signal` aborted (the body is cancelled then);
 *  rejects with the body's error once every byte before it was taken. */
function readOrStall(q, ms, signal) {
  const take = () => {
    if (q.chunks.length > 0) {
      // At most READ_MAX bytes at a time: a backlog that arrived at once
      // is decoded in slices, so neither the module's memory nor a task
      // grows with it.
      const cs = [];
      let n = 0;
      while (q.chunks.length > 0 && n < READ_MAX) {
        let c = q.chunks[0];
        if (n + c.byteLength > READ_MAX && n > 0) break;
        if (c.byteLength > READ_MAX) {
          q.chunks[0] = c.subarray(READ_MAX);
          c = c.subarray(0, READ_MAX);
        } else q.chunks.shift();
        cs.push(c);
        n += c.byteLength;
      }
      if (cs.length === 1) return cs[0];
      const all = new Uint8Array(n);
      n = 0;
      for (const c of cs) {
        all.set(c, n);
        n += c.byteLength;
      }
      return all;
    }
    if (q.err !== null) throw q.err;
    if (q.done) return undefined;
    return null;
  };
  if (signal.aborted) return Promise.resolve(false);
  try {
    const now = take();
    if (now !== null) return Promise.resolve(now);
  } catch (e) {
    return Promise.reject(e);
  }
  return new Promise((resolve, reject) => {
    const done = () => {
      clearTimeout(t);
      signal.removeEventListener("abort", onAbort);
      q.wake = null;
    };
    const onAbort = () => {
      done();
      cancelReader(q);
      resolve(false);
    };
    const t = setTimeout(() => {
      done();
      resolve(null);
    }, ms);
    signal.addEventListener("abort", onAbort);
    q.wake = () => {
      let got;
      try {
        got = take();
      } catch (e) {
        done();
        return reject(e);
      }
      if (got !== null) {
        done();
        resolve(got);
      }
    };
  });
}

/** Calls `callback(force)` on browser wake events: `true` when the
 *  connection is likely dead (back online, shown after 30 s hidden,
 *  restored from the back-forward cache), `false` for a tab shown again.
 *  Returns a function that removes the listeners. */
function watchWake(callback) {
  const g = globalThis;
  const doc = g.document;
  if (typeof g.addEventListener !== "function" || !doc) return () => {};
  let hiddenSince = 0;
  const onVisibility = () => {
    if (doc.visibilityState === "hidden") {
      hiddenSince = Date.now();
      return;
    }
    const away = hiddenSince ? Date.now() - hiddenSince : 0;
    hiddenSince = 0;
    callback(away >= 30000);
  };
  const onOnline = () => callback(true);
  const onPageShow = (e) => {
    if (e.persisted) callback(true);
  };
  doc.addEventListener("visibilitychange", onVisibility);
  g.addEventListener("online", onOnline);
  g.addEventListener("pageshow", onPageShow);
  return () => {
    doc.removeEventListener("visibilitychange", onVisibility);
    g.removeEventListener("online", onOnline);
    g.removeEventListener("pageshow", onPageShow);
  };
}

// A failure in the runner: what the engine hears (`kind`, `message`), and
// what the app threw, when it was the app's code.
class Failure {
  constructor(kind, message, thrown) {
    this.kind = kind;
    this.message = message;
    this.thrown = thrown;
  }
}

/** The engine and the app's callbacks of one transport: the object behind
 *  `TriggerChatTransport`. `makeCore(watch, timeout, hasStartSession,
 *  wantsEvents, seed, noise)` builds the wasm engine. */
export function Runner(makeCore, options) {
  const opts = readOptions(options);
  const ops = new Map();
  const settledBy = new Map();
  let clientData = opts.clientData;
  let onChange = opts.onSessionChange;
  const core = makeCore(opts.watch, opts.timeout, !!opts.startSession, !!opts.onEvent, Date.now(), Math.random() * 9e15);
  for (const [k, v] of opts.headers) core.header(k, v);
  for (const [chatId, s] of opts.sessions) core.setSession(chatId, ...s, true);

  // Runs `f` on the engine (at the current time), then carries out the
  // notices it left.
  function withCore(f) {
    core.now(Date.now());
    const r = f(core);
    flush();
    return r;
  }

  function ioOf(op) {
    let io = ops.get(op);
    if (!io) {
      io = { ctl: null, conn: null, interrupted: false, body: null, thrown: undefined, wake: null };
      ops.set(op, io);
    }
    return io;
  }

  // Carries out the engine's notices, one at a time; the app's callbacks
  // may call back into the transport.
  function flush() {
    for (;;) {
      const n = core.notice();
      if (n === undefined) return;
      const rest = n.slice(1);
      switch (n[0]) {
        case "s":
          notify(rest);
          break;
        case "e":
          emit(JSON.parse(rest));
          break;
        case "i": {
          const io = ioOf(+rest);
          const ctl = io.ctl;
          io.ctl = null;
          if (!ctl) io.interrupted = true;
          if (io.body) cancelReader(io.body);
          io.body = null;
          ctl?.abort();
          io.conn?.abort();
          io.conn = null;
          break;
        }
        case "w": {
          const io = ops.get(+rest);
          const wake = io?.wake;
          if (io) io.wake = null;
          wake?.();
          break;
        }
        case "n":
          Promise.resolve().then(() => drive(+rest).catch(() => {}));
          break;
      }
    }
  }

  function notify(chatId) {
    const cb = onChange;
    if (!cb) return;
    const json = core.session(chatId);
    try {
      cb(chatId, json === undefined ? null : persisted(json));
    } catch {}
  }

  // The JS form of an error the engine reported for operation `op`: what
  // the app's code threw, when that is what it was.
  function errorOf(e, op) {
    if (e.code === "CALLBACK") {
      const thrown = ops.get(op)?.thrown;
      if (thrown !== undefined) return thrown;
    }
    return makeError(e);
  }

  function emit(ev) {
    if (ev.type === "action-settled") {
      const f = settledBy.get(ev.op);
      if (!f) return;
      settledBy.delete(ev.op);
      try {
        f({ inputSeq: ev.inputSeq, sessionInEventId: ev.sessionInEventId, lastEventId: ev.lastEventId });
      } catch {}
      return;
    }
    const cb = opts.onEvent;
    if (!cb) return;
    const o = { type: ev.type, chatId: ev.chatId, timestamp: Date.now() };
    for (const k in ev) {
      if (k === "type" || k === "chatId") continue;
      const v = ev[k];
      o[k] = isObject(v) && v.$error ? errorOf(v.$error, v.$op) : v;
    }
    try {
      cb(o);
    } catch {}
  }

  function failOf(op, f) {
    if (f.kind === CALLBACK) ioOf(op).thrown = f.thrown;
    return [f.kind, 0, f.message];
  }

  // Keeps what the app threw; the engine hears of a callback error.
  function thrownBy(op, v) {
    ioOf(op).thrown = v;
    return [CALLBACK, 0, describe(v)];
  }

  // Calls one of the app's callbacks, raced against the effect's signal.
  async function callApp(op, f, arg, signal) {
    const s = await settle(callPromise(f, [arg]), signal);
    if (s.a) throw [INTERRUPTED];
    if (s.f) throw thrownBy(op, s.e);
    return s.v;
  }

  function baseUrlOf(endpoint, chatId) {
    const o = opts;
    if (endpoint === "out" && o.streamBaseURL !== undefined) return o.streamBaseURL;
    if (typeof o.baseURL === "string") return o.baseURL;
    let v;
    try {
      v = o.baseURL({ endpoint, chatId });
    } catch (e) {
      throw new Failure(CALLBACK, describe(e), e);
    }
    if (typeof v !== "string") {
      throw new Failure(MISUSE, "TriggerChatTransport: the `baseURL` function must return a string");
    }
    return v;
  }

  // Sends a request through the app's `fetch` (with `ctx`) or the global
  // one; the Response, or a Failure (`kind` null: aborted).
  async function request(override, ctx, url, method, headers, body, signal) {
    const init = {};
    if (method) init.method = method;
    init.headers = headers;
    if (body !== undefined) init.body = body;
    init.signal = signal;
    let resp;
    try {
      resp = await (override ? callPromise(override, [url, init, ctx]) : globalThis.fetch(url, init));
    } catch (e) {
      if (named(e, "AbortError")) throw new Failure(null, "aborted");
      // fetch itself rejects with a TypeError when the network fails;
      // anything else was thrown by the app's own code and passes through.
      if (named(e, "TypeError")) throw new Failure(NETWORK, describe(e));
      throw new Failure(CALLBACK, describe(e), e);
    }
    if (!isObject(resp)) throw new Failure(PROTOCOL, "fetch resolved to something other than a Response");
    return resp;
  }

  // A request to the chat's `.in` or `.out`, with `{endpoint, chatId}`.
  async function sessionFetch(op, endpoint, e, signal) {
    try {
      const base = baseUrlOf(endpoint, e.c);
      const url = `${base.endsWith("/") ? base.slice(0, -1) : base}/realtime/v1/sessions/${encodeChatId(e.c)}/${
        endpoint === "in" ? "in/append" : "out"
      }`;
      const ctx = { endpoint, chatId: e.c };
      return await request(opts.fetch, ctx, url, e.b === undefined ? undefined : "POST", e.h, e.b, signal);
    } catch (f) {
      if (!(f instanceof Failure)) throw f;
      if (f.kind === null) throw signal.aborted ? [INTERRUPTED] : [NETWORK, 0, "the request was aborted"];
      throw failOf(op, f);
    }
  }

  // Performs one effect; resolves to the outcome's arguments for
  // `Core.outcome` (kind, status, a, b, c, flag), or a Uint8Array of
  // bytes read.
  async function perform(op, tag, arg, signal) {
    try {
      switch (tag) {
        case "T": {
          const v = await callApp(op, opts.accessToken, { chatId: arg }, signal);
          return [TOKEN, 0, str(v)];
        }
        case "S": {
          const f = opts.startSession;
          if (!f) return [MISUSE, 0, "TriggerChatTransport: `startSession` is required to start a session"];
          const cd = clientData;
          const v = await callApp(op, f, { taskId: opts.task, chatId: arg, clientData: absent(cd) ? {} : cd }, signal);
          return [STARTED, 0, str(prop(v, "publicAccessToken")), undefined, undefined, prop(v, "pendingVersion") === true];
        }
        case "A": {
          const e = JSON.parse(arg);
          const resp = await sessionFetch(op, "in", e, signal);
          const status = statusOf(resp);
          const reset = headerOf(resp, "x-ratelimit-reset");
          const retryAfter = headerOf(resp, "retry-after");
          const body = await textOf(resp);
          if (signal.aborted) return [INTERRUPTED];
          return [RESPONSE, status, body, reset, retryAfter];
        }
        case "O": {
          const e = JSON.parse(arg);
          const resp = await sessionFetch(op, "out", e, signal);
          const status = statusOf(resp);
          const settled = headerOf(resp, "X-Session-Settled") === "true";
          if (status >= 200 && status < 300) {
            const q = bodyReader(resp);
            if (!q) return [NETWORK, 0, "the stream response has no body"];
            ioOf(op).body = q;
          }
          return [CONNECTED, status, undefined, undefined, undefined, settled];
        }
        case "H": {
          const e = JSON.parse(arg);
          let resp;
          try {
            resp = await request(undefined, undefined, e.u, "POST", e.h, e.b, signal);
          } catch (f) {
            if (!(f instanceof Failure)) throw f;
            if (f.kind === null) return [INTERRUPTED];
            return failOf(op, f);
          }
          const status = statusOf(resp);
          let errorBody = "";
          if (status >= 200 && status < 300) {
            const q = bodyReader(resp);
            if (!q) return [PROTOCOL, 0, "the headStart route answered with no body"];
            ioOf(op).body = q;
          } else {
            errorBody = await textOf(resp);
          }
          const token = headerOf(resp, "X-Trigger-Chat-Access-Token");
          const pending = headerOf(resp, "X-Trigger-Chat-Pending-Version") === "1";
          return [HEAD_STARTED, status, token, errorBody, undefined, pending];
        }
        case "R": {
          const io = ioOf(op);
          const q = io.body;
          io.body = null;
          if (!q) return [NETWORK, 0, "the connection is gone"];
          let r;
          try {
            r = await readOrStall(q, +arg, signal);
          } catch (e) {
            cancelReader(q);
            if (signal.aborted) return [INTERRUPTED];
            return [NETWORK, 0, named(e, "AbortError") ? "the connection was aborted" : describe(e)];
          }
          if (r instanceof Uint8Array) {
            ioOf(op).body = q;
            return r;
          }
          cancelReader(q);
          return [r === undefined ? EOF : r === null ? STALL : INTERRUPTED];
        }
        case "Z":
          await sleep(+arg, signal);
          return [signal.aborted ? INTERRUPTED : SLEPT];
        case "P": {
          let resolve;
          const waited = new Promise((r) => {
            resolve = r;
          });
          ioOf(op).wake = resolve;
          await settle(waited, signal);
          return [signal.aborted ? INTERRUPTED : WOKEN];
        }
      }
      return [MISUSE, 0, "not an effect"];
    } catch (f) {
      if (Array.isArray(f)) return f;
      if (f instanceof Failure) return failOf(op, f);
      return thrownBy(op, f);
    }
  }

  // Drives operation `op` until it yields chunks (an array) or ends:
  // `{ done }` with the engine's result, thrown as an error if it failed.
  async function drive(op) {
    for (;;) {
      const effect = withCore((c) => c.poll(op));
      const tag = effect[0];
      if (tag === "[") {
        try {
          return { chunks: JSON.parse(effect) };
        } catch {
          throw makeError({
            code: "DECODE",
            message: "malformed stream from the server: the chunks of a batch do not form valid JSON",
            retryable: false,
          });
        }
      }
      if (tag === "D") {
        const io = ops.get(op);
        ops.delete(op);
        settledBy.delete(op);
        io?.conn?.abort();
        const kind = effect[1];
        const rest = effect.slice(2);
        if (kind === "e") {
          const e = JSON.parse(rest);
          if (e.code === "CALLBACK" && io && io.thrown !== undefined) throw io.thrown;
          throw makeError(e);
        }
        return { done: kind === "c" ? null : kind === "t" ? true : kind === "f" ? false : kind === "s" ? persisted(rest) : { stream: +rest } };
      }
      const ctl = new AbortController();
      const io = ioOf(op);
      io.ctl = ctl;
      if (io.interrupted) {
        io.interrupted = false;
        ctl.abort();
      }
      const connect = tag === "O" || tag === "H";
      if (connect) {
        // A new connection: the old one is over.
        io.conn?.abort();
        io.conn = null;
      }
      const got = await perform(op, tag, effect.slice(1), ctl.signal);
      const after = ioOf(op);
      const c = after.ctl;
      after.ctl = null;
      if (connect) after.conn = c;
      if (got instanceof Uint8Array) withCore((core) => core.bytes(op, got));
      else withCore((core) => core.outcome(op, got[0], got[1] ?? 0, got[2], got[3], got[4], got[5] ?? false));
    }
  }

  // Forwards the app's AbortSignal to the operation that carries the call
  // now (the send, then its stream); `off()` removes the listener.
  function hookAbort(signal, target) {
    if (!signal) return null;
    const abort = () => {
      settledBy.delete(target.op);
      withCore((c) => c.op(0, target.op, false));
    };
    if (signal.aborted) {
      abort();
      return null;
    }
    signal.addEventListener("abort", abort);
    return { off: () => signal.removeEventListener("abort", abort) };
  }

  // The chunks of stream `op`, pulled by the shim's ReadableStream:
  // `next()` resolves to an array of chunks, or `null` at the end.
  function sourceOf(op, abortHook, first) {
    const offWake = watchWake((force) => withCore((c) => c.op(2, op, force)));
    let hooks = true;
    const unhook = () => {
      if (!hooks) return;
      hooks = false;
      abortHook?.off();
      offWake();
    };
    return {
      next: async () => {
        if (first !== undefined) {
          const f = first;
          first = undefined;
          if (f !== null) return f;
          unhook();
          return null;
        }
        if (!hooks) return null;
        try {
          const r = await drive(op);
          if (r.chunks) return r.chunks;
          unhook();
          return null;
        } catch (e) {
          unhook();
          throw e;
        }
      },
      cancel: () => {
        settledBy.delete(op);
        withCore((c) => c.op(1, op, false));
        unhook();
      },
    };
  }

  // Drives `op` to its first result with the app's signal forwarded to
  // `target.op`; the listener stays on for the stream that follows.
  async function driveHooked(signal, target) {
    const hook = hookAbort(signal, target);
    try {
      return [await drive(target.op), hook];
    } catch (e) {
      hook?.off();
      throw e;
    }
  }

  // Runs a send until it resolves; a reply's stream becomes a source.
  async function sendAndStream(op, signal, onSettled) {
    const target = { op };
    const [r, hook] = await driveHooked(signal, target);
    const done = r.done;
    if (isObject(done) && done.stream !== undefined) {
      target.op = done.stream;
      if (onSettled) settledBy.set(done.stream, onSettled);
      return sourceOf(done.stream, hook);
    }
    hook?.off();
    return done === undefined ? null : done;
  }

  // `{...clientData, ...metadata}`, or `undefined` when neither is given.
  function merged(metadata) {
    const given = [toJson(clientData, "clientData"), toJson(metadata, "metadata")].filter(
      (j) => j !== undefined && j !== "null",
    );
    if (given.length === 0) return undefined;
    let out = {};
    for (const j of given) out = { ...out, ...objectOf(j) };
    return out;
  }

  async function start(chatId) {
    const id = chatIdArg(chatId, "start");
    return sendAndStream(withCore((c) => c.send(id, "", 5, undefined, false)));
  }

  /** `useChat`'s send: append the newest message, then stream the reply. */
  async function sendMessages(options) {
    if (!isObject(options)) throw misuse("TriggerChatTransport.sendMessages: options must be an object");
    const chatId = chatIdArg(prop(options, "chatId"), "sendMessages");
    // Before anything else: no head-start route call either.
    const s = getSession(chatId);
    if (s?.closed) throw closedError(chatId, s.closedReason);
    const signal = signalArg(prop(options, "abortSignal"), "sendMessages");
    // An action sent through `useChat` (`useChatActions` puts it in
    // `body.action`): `useChat` then owns the reply's stream.
    const action = prop(prop(options, "body"), "action");
    if (action !== undefined) return actionOp(chatId, action, prop(options, "metadata"), signal);
    const trigger = prop(options, "trigger");
    if (trigger !== "submit-message" && trigger !== "regenerate-message") {
      throw misuse(
        'TriggerChatTransport.sendMessages: `trigger` must be "submit-message" or "regenerate-message"',
      );
    }
    const messages = prop(options, "messages");
    if (!Array.isArray(messages)) throw misuse("TriggerChatTransport.sendMessages: `messages` must be an array");
    const messageId = str(prop(options, "messageId"));
    const metadata = merged(prop(options, "metadata"));
    const body = toJson(prop(options, "body"), "body");
    const regenerate = trigger === "regenerate-message" ? 1 : 0;
    const headStart = opts.headStart;
    if (headStart !== undefined && s === undefined) {
      const history = toJson(messages, "messages") ?? "[]";
      const payload = { ...objectOf(body), headStartMessages: JSON.parse(history), chatId, trigger };
      if (messageId !== undefined) payload.messageId = messageId;
      if (metadata !== undefined) payload.metadata = metadata;
      const op = withCore((c) => c.headStart(chatId, headStart, JSON.stringify(payload), messageId));
      return headStartOp(op, signal);
    }
    if (!regenerate && messages.length === 0) {
      throw misuse("TriggerChatTransport.sendMessages: 'submit-message' trigger requires at least one message");
    }
    const last = messages.length === 0 ? undefined : toJson(messages[messages.length - 1], "message");
    const payload = { ...objectOf(body) };
    if (!regenerate && last !== undefined) payload.message = slim(JSON.parse(last));
    payload.chatId = chatId;
    payload.trigger = trigger;
    if (messageId !== undefined) payload.messageId = messageId;
    else delete payload.messageId;
    if (metadata !== undefined) payload.metadata = metadata;
    else delete payload.metadata;
    const op = withCore((c) => c.send(chatId, messageChunk(payload), regenerate, messageId, true));
    return sendAndStream(op, signal);
  }

  // The head-start path: the route's answer decides whether the send
  // succeeded, so the stream is read up to its first chunks before the
  // source is handed out.
  async function headStartOp(op, signal) {
    const [r, hook] = await driveHooked(signal, { op });
    return sourceOf(op, hook, r.chunks ?? null);
  }

  /** Resumes the chat's reply after a reload; `null` when there is nothing
   *  to resume. */
  async function reconnectToStream(options) {
    const chatId = chatIdArg(prop(options, "chatId"), "reconnectToStream");
    const signal = signalArg(prop(options, "abortSignal"), "reconnectToStream");
    const stopOnAbort = prop(options, "stopOnAbort") === true;
    const op = withCore((c) => c.reconnect(chatId, stopOnAbort));
    if (op === undefined) return null;
    return sourceOf(op, hookAbort(signal, { op }));
  }

  /** A steering message while a reply streams; the stream goes on. */
  async function sendPendingMessage(chatId, message, metadata) {
    const id = chatIdArg(chatId, "sendPendingMessage");
    const msg = toJson(message, "message");
    if (msg === undefined) throw misuse("TriggerChatTransport.sendPendingMessage: `message` is required");
    const payload = { message: JSON.parse(msg), chatId: id, trigger: "submit-message" };
    const md = merged(metadata);
    if (md !== undefined) payload.metadata = md;
    return sendAndStream(withCore((c) => c.send(id, messageChunk(payload), 3, undefined, false)));
  }

  /** Stops the agent's turn and ends the chat's stream. */
  async function stopGeneration(chatId) {
    const id = chatIdArg(chatId, "stopGeneration");
    return sendAndStream(withCore((c) => c.send(id, "", 4, undefined, false)));
  }

  /** A custom action for the agent's `onAction`; streams its reply. */
  async function sendAction(chatId, action, options) {
    const id = chatIdArg(chatId, "sendAction");
    const signal = signalArg(prop(options, "abortSignal"), "sendAction");
    const onSettled = prop(options, "onSettled");
    if (!absent(onSettled) && typeof onSettled !== "function") {
      throw misuse("TriggerChatTransport.sendAction: `onSettled` must be a function");
    }
    return actionOp(id, action, prop(options, "metadata"), signal, absent(onSettled) ? undefined : onSettled);
  }

  // An action on `.in` (with the call's `metadata` over `clientData`), then
  // its reply on `.out`.
  function actionOp(chatId, action, metadata, signal, onSettled) {
    const json = toJson(action, "action") ?? "null";
    const payload = { chatId, trigger: "action", action: JSON.parse(json) };
    const md = merged(metadata);
    if (md !== undefined) payload.metadata = md;
    const op = withCore((c) => c.send(chatId, messageChunk(payload), 2, undefined, !!signal));
    return sendAndStream(op, signal, onSettled);
  }

  function sessionStatus(chatId) {
    return typeof chatId === "string" && getSession(chatId)?.closed ? "closed" : "open";
  }

  function sessionClosedReason(chatId) {
    if (typeof chatId !== "string") return undefined;
    const s = getSession(chatId);
    return s?.closed ? s.closedReason : undefined;
  }

  function getSession(chatId) {
    if (typeof chatId !== "string") return undefined;
    const json = core.session(chatId);
    return json === undefined ? undefined : persisted(json);
  }

  function setSession(chatId, session) {
    const id = chatIdArg(chatId, "setSession");
    const s = sessionFrom(session, "TriggerChatTransport.setSession: `session`");
    withCore((c) => c.setSession(id, ...s, false));
  }

  function setOnSessionChange(callback) {
    if (absent(callback)) onChange = undefined;
    else if (typeof callback !== "function") {
      throw misuse("TriggerChatTransport.setOnSessionChange: the callback must be a function");
    } else onChange = callback;
  }

  function setClientData(value) {
    clientData = value;
  }

  /** Keeps a cursor learned from another tab, unless ours is ahead. */
  function adoptLastEventId(chatId, lastEventId) {
    withCore((c) => c.chat(1, String(chatId), String(lastEventId)));
  }

  /** Seeds the chat's resume cursor from the app's stored transcript. */
  function seedResumeCursor(chatId, lastEventId) {
    const id = chatIdArg(chatId, "seedResumeCursor");
    if (typeof lastEventId !== "string") {
      throw misuse("TriggerChatTransport.seedResumeCursor: `lastEventId` must be a string");
    }
    withCore((c) => c.chat(0, id, lastEventId));
  }

  /** Forgets the gate of a stopped turn that died without its
   *  `turn-complete`. */
  function clearSupersedeGate(chatId) {
    if (typeof chatId === "string") withCore((c) => c.chat(2, chatId, ""));
  }

  /** Replaces one of the app's callbacks (`AccessToken`, `StartSession`,
   *  `Fetch` or `OnEvent`); the next use reads the new one. */
  function setCallback(which, callback) {
    const bad = () => misuse(`TriggerChatTransport.set${which}: the callback must be a function`);
    let f;
    if (!absent(callback)) {
      if (typeof callback !== "function") throw bad();
      f = callback;
    }
    const o = opts;
    switch (which) {
      case "AccessToken":
        // Absent keeps the current one (it is required).
        if (f) o.accessToken = f;
        break;
      case "StartSession":
        o.startSession = f;
        break;
      case "Fetch":
        o.fetch = f;
        break;
      case "OnEvent":
        o.onEvent = f;
        break;
      default:
        throw bad();
    }
    core.callbacks(!!o.startSession, !!o.onEvent);
  }

  /** Ends every open operation: no timer or connection is left. */
  function dispose() {
    settledBy.clear();
    withCore((c) => c.op(3, 0, false));
  }

  return {
    multiTab: opts.multiTab && !opts.watch,
    start,
    sendMessages,
    reconnectToStream,
    sendPendingMessage,
    stopGeneration,
    sendAction,
    sessionStatus,
    sessionClosedReason,
    getSession,
    setSession,
    setOnSessionChange,
    setClientData,
    adoptLastEventId,
    seedResumeCursor,
    clearSupersedeGate,
    setCallback,
    dispose,
  };
}
