// The effect runner: the transport's engine (Rust, `Core`) decides every
// retry, reconnect, cursor move and what a stream delivers; this file only
// performs what it asks (call a callback, fetch, read a body, sleep, wait)
// and hands the outcome back, raced against the engine's interrupts. It
// also reads and checks the options, and builds the errors the app sees.
//
// Self-contained (no imports): the browser tests of the crate load it as
// it is, beside a freshly built module, through `makeCore`.

const DEFAULT_BASE_URL = "https://api.trigger.dev";

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
// The API misuse "`name` must be `what`".
const mustBe = (name, what) => misuse(`${name} must be ${what}`);
const optionName = (key) => `TriggerChatTransport: option \`${key}\``;
// `arg` (an argument, or the start of what is wrong) in a call of `method`.
const argName = (method, arg) => `TriggerChatTransport.${method}: ${arg}`;

function closedError(chatId, reason) {
  return makeError({
    code: "session_closed",
    message: `Chat session ${chatId} is closed${reason === undefined ? "" : `: ${reason}`}`,
    retryable: false,
    status: 409,
    closedReason: reason,
  });
}

// The persisted form of the session JSON `json` (`undefined`: none), keys
// in their usual order.
function persisted(json) {
  if (json === undefined) return undefined;
  const s = JSON.parse(json);
  const o = { publicAccessToken: s.publicAccessToken, lastEventId: s.lastEventId, isStreaming: s.isStreaming };
  for (const k of ["activeInputSeq", "skipToTurnComplete", "supersededInputSeq", "closed", "closedReason"]) {
    if (s[k] !== undefined) o[k] = s[k];
  }
  return o;
}

// A whole, non-negative number that a u64 holds exactly.
const isWholeNumber = (v) => typeof v === "number" && v >= 0 && v < 9e15 && Number.isInteger(v);

/** `obj[key]` when it is absent (then `undefined`) or a `type` (a `typeof`
 *  name, or "whole number"); anything else is misuse, named `name(key)`. */
function typed(obj, key, type, name) {
  const v = prop(obj, key);
  if (absent(v)) return undefined;
  if (type === "whole number" ? !isWholeNumber(v) : typeof v !== type) throw mustBe(name(key), `a ${type}`);
  return v;
}

/** One persisted session (from `sessions` or `setSession`), checked. */
function sessionFrom(v, what) {
  if (!isPlainObject(v)) throw mustBe(what, "an object with a publicAccessToken");
  const name = (key) => `${what}.${key}`;
  const field = (key, type) => typed(v, key, type, name);
  const token = field("publicAccessToken", "string");
  if (token === undefined) throw mustBe(name("publicAccessToken"), "a string");
  // The cursor may also be given as a whole number; it is kept as a string.
  const last = v.lastEventId;
  return [
    token,
    isWholeNumber(last) ? String(last) : field("lastEventId", "string"),
    field("isStreaming", "boolean"),
    field("skipToTurnComplete", "boolean") ?? false,
    field("supersededInputSeq", "whole number"),
    field("activeInputSeq", "whole number"),
    field("closed", "boolean") ?? false,
    field("closedReason", "string"),
  ];
}

/** Option `key`: absent, or a plain object whose entries `read(key,
 *  value)` checks; its `[key, checked value]` pairs. */
function objectOption(o, key, kind, read) {
  const v = o[key];
  if (absent(v)) return [];
  if (!isPlainObject(v)) throw mustBe(optionName(key), kind);
  return Object.entries(v).map(([k, x]) => [k, read(k, x)]);
}

/** The transport's options, read and checked: a wrong one is a
 *  `TypeError` that names it. */
function readOptions(o) {
  if (!isPlainObject(o)) throw mustBe("TriggerChatTransport: options", "an object");
  const option = (key, type) => typed(o, key, type, optionName);
  const task = o.task;
  if (typeof task !== "string" || task === "") {
    throw mustBe(`${optionName("task")} is required and`, "a non-empty string");
  }
  const accessToken = option("accessToken", "function");
  if (!accessToken) throw mustBe(`${optionName("accessToken")} is required and`, "a function");
  let baseURL = o.baseURL;
  if (absent(baseURL)) baseURL = DEFAULT_BASE_URL;
  else if (typeof baseURL !== "string" && typeof baseURL !== "function") {
    throw mustBe(optionName("baseURL"), "a string or a function");
  }
  const headers = objectOption(o, "headers", "an object of strings", (k, v) => {
    if (typeof v !== "string") throw mustBe(optionName(`headers.${k}`), "a string");
    return v;
  });
  let timeout = 120;
  const t = o.streamTimeoutSeconds;
  if (!absent(t)) {
    if (typeof t !== "number" || !(t >= 1 && t <= 600)) {
      throw mustBe(optionName("streamTimeoutSeconds"), "a number from 1 to 600");
    }
    timeout = Math.floor(t + 0.5);
  }
  const clientData = o.clientData;
  if (!absent(clientData) && !isPlainObject(clientData)) throw mustBe(optionName("clientData"), "an object");
  const sessions = objectOption(o, "sessions", "an object keyed by chat id", (chatId, v) =>
    sessionFrom(v, optionName(`sessions["${chatId}"]`)),
  );
  return {
    task,
    accessToken,
    startSession: option("startSession", "function"),
    baseURL,
    streamBaseURL: option("streamBaseURL", "string"),
    fetch: option("fetch", "function"),
    headers,
    timeout,
    clientData: clientData ?? undefined,
    sessions,
    onSessionChange: option("onSessionChange", "function"),
    onEvent: option("onEvent", "function"),
    multiTab: option("multiTab", "boolean") ?? false,
    watch: option("watch", "boolean") ?? false,
    headStart: option("headStart", "string"),
  };
}

function chatIdArg(v, method) {
  if (typeof v === "string" && v !== "") return v;
  throw mustBe(argName(method, "`chatId`"), "a non-empty string");
}

function signalArg(v, method) {
  if (absent(v)) return undefined;
  if (!isObject(v) || typeof v.aborted !== "boolean") {
    throw mustBe(argName(method, "`abortSignal`"), "an AbortSignal");
  }
  return v;
}

/** `v` as JSON has it (a fresh copy), or `undefined` when JSON has nothing
 *  for it; a value that cannot be stringified is the caller's error, named
 *  by `what`. */
function jsonCopy(v, what) {
  if (v === undefined) return undefined;
  let json;
  try {
    json = JSON.stringify(v);
  } catch (e) {
    throw misuse(`${what} cannot be sent as JSON: ${describe(e)}`);
  }
  return json === undefined ? undefined : JSON.parse(json);
}

// What a spread of `v` should add: its properties when it is an object,
// nothing otherwise.
const spreadable = (v) => isPlainObject(v) && v;

const messageChunk = (payload) => JSON.stringify({ kind: "message", payload });

// The states of a resolved tool part, with the fields each keeps besides
// `approval`.
const RESOLVED = new Map([
  ["output-available", ["output"]],
  ["output-error", ["errorText"]],
  ["approval-responded", []],
  ["output-denied", []],
]);

// `to` with those of `keys` that `from` has as its own.
function copyOwn(from, to, keys) {
  for (const k of keys) if (Object.hasOwn(from, k)) to[k] = from[k];
  return to;
}

/** The newest message as a `submit-message` carries it: an assistant
 *  message with resolved tool parts (a human answered a tool, approved or
 *  denied one) is cut down to those parts, each with only its resolution;
 *  the agent has everything else. Other messages pass as they are. */
function slim(m) {
  if (!isPlainObject(m) || m.role !== "assistant") return m;
  const parts = [];
  for (const p of Array.isArray(m.parts) ? m.parts : []) {
    if (!isPlainObject(p)) continue;
    const { type, state } = p;
    const keep = RESOLVED.get(state);
    if (!keep || !(type === "dynamic-tool" || (typeof type === "string" && type.startsWith("tool-")))) continue;
    const s = copyOwn(p, { type }, ["toolCallId"]);
    s.state = state;
    if (type === "dynamic-tool" && typeof p.toolName === "string") s.toolName = p.toolName;
    parts.push(copyOwn(p, s, [...keep, "approval"]));
  }
  if (parts.length === 0) return m;
  const out = copyOwn(m, {}, ["id"]);
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

/** Listens for `type` events on `target`; returns a function that stops. */
function listen(target, type, listener) {
  target.addEventListener(type, listener);
  return () => target.removeEventListener(type, listener);
}

/** Waits until `start(finish)` calls `finish(value)`, `ms` pass (never,
 *  when `ms` is undefined) or `signal` aborts; resolves to `value`, `null`
 *  or `false`, and `finish(rejected promise)` rejects. `start` may return a
 *  function that stops what it started, called with the result at once. */
function wait(signal, ms, start) {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve(false);
    let open = true;
    let result, stop, t, unlisten;
    const finish = (value) => {
      if (!open) return;
      open = false;
      result = value;
      clearTimeout(t);
      unlisten?.();
      stop?.(value);
      resolve(value);
    };
    stop = start(finish);
    if (!open) return stop?.(result);
    if (ms !== undefined) t = setTimeout(() => finish(null), ms);
    unlisten = listen(signal, "abort", () => finish(false));
  });
}

/** Calls `f(...args)`; whatever happens (a value, a promise, a throw)
 *  becomes a promise. */
const callPromise = (f, args) => new Promise((resolve) => resolve(f(...args)));

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

const isOk = (status) => status >= 200 && status < 300;

async function textOf(response) {
  try {
    const t = await response.text();
    return typeof t === "string" ? t : "";
  } catch {
    return "";
  }
}

const READ_MAX = 64 * 1024;

/** A reader that drains `response.body` as fast as it arrives, whatever
 *  the app's pace: a stream that errors (a cut connection) drops what it
 *  still holds, so bytes that arrived before the cut are taken out first.
 *  `undefined` when there is no body. */
function bodyReader(response) {
  const body = prop(response, "body");
  if (!body || typeof body.getReader !== "function") return undefined;
  const reader = body.getReader();
  let chunks = [];
  let done = false;
  let err = null;
  let cancelled = false;
  // Called when something arrived; set while a read waits.
  let wake = null;
  const pump = async () => {
    try {
      while (!done && err === null && !cancelled) {
        const { done: end, value: v } = await reader.read();
        // Any view, not instanceof Uint8Array: bytes from another realm (an
        // iframe, jsdom) are still bytes.
        if (end) done = true;
        else if (ArrayBuffer.isView(v)) chunks.push(new Uint8Array(v.buffer, v.byteOffset, v.byteLength));
        else err = new TypeError("the response body yielded something other than bytes");
        wake?.();
      }
    } catch (e) {
      if (!cancelled) err = e;
      wake?.();
    }
  };
  pump();

  const cancel = () => {
    cancelled = true;
    chunks = [];
    try {
      reader.cancel().catch(() => {});
    } catch {}
  };

  // The bytes that arrived (several network chunks joined, up to READ_MAX),
  // `undefined` at the end, `null` when nothing arrived yet; throws the
  // body's error once every byte before it was taken.
  const take = () => {
    if (chunks.length === 0) {
      if (err !== null) throw err;
      return done ? undefined : null;
    }
    // At most READ_MAX bytes at a time: a backlog that arrived at once is
    // decoded in slices, so neither the module's memory nor a task grows
    // with it.
    let n = 0;
    let count = 0;
    while (count < chunks.length && n + chunks[count].byteLength <= READ_MAX) n += chunks[count++].byteLength;
    if (count === 0) {
      // A chunk larger than that: its first READ_MAX bytes.
      const c = chunks[0];
      chunks[0] = c.subarray(READ_MAX);
      return c.subarray(0, READ_MAX);
    }
    const taken = chunks.splice(0, count);
    if (count === 1) return taken[0];
    const all = new Uint8Array(n);
    n = 0;
    for (const c of taken) {
      all.set(c, n);
      n += c.byteLength;
    }
    return all;
  };

  return {
    cancel,
    /** What `take` has as soon as it has something, `null` when nothing
     *  arrived within `ms`, `false` when `signal` aborted (the body is
     *  cancelled then); rejects with the body's error. */
    read: (ms, signal) =>
      wait(signal, ms, (finish) => {
        wake = () => {
          try {
            const got = take();
            if (got !== null) finish(got);
          } catch (e) {
            finish(Promise.reject(e));
          }
        };
        wake();
        return (result) => {
          wake = null;
          if (result === false) cancel();
        };
      }),
  };
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
  const unlisten = [
    listen(doc, "visibilitychange", () => {
      if (doc.visibilityState === "hidden") {
        hiddenSince = Date.now();
        return;
      }
      const away = hiddenSince ? Date.now() - hiddenSince : 0;
      hiddenSince = 0;
      callback(away >= 30000);
    }),
    listen(g, "online", () => callback(true)),
    listen(g, "pageshow", (e) => {
      if (e.persisted) callback(true);
    }),
  ];
  return () => unlisten.forEach((f) => f());
}

/** The engine and the app's callbacks of one transport: the object behind
 *  `TriggerChatTransport`. `makeCore(watch, timeout, hasStartSession,
 *  wantsEvents, seed, noise)` builds the wasm engine.
 *
 *  An effect's outcome is the argument list of `Core.outcome` (kind,
 *  status, a, b, c, flag); the helpers of `perform` throw it when they end
 *  an effect early. Arguments left out of a `Core` call reach the module
 *  as 0 (numbers, flags) or none (texts). */
export function Runner(makeCore, options) {
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

  const opts = readOptions(options);
  const ops = new Map();
  const settledBy = new Map();
  // What the app may replace later.
  let { accessToken, startSession, fetch: fetchOverride, onEvent, clientData, onSessionChange: onChange } = opts;
  const core = makeCore(opts.watch, opts.timeout, !!startSession, !!onEvent, Date.now(), Math.random() * 9e15);
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

  // The JS side of operation `op`: `ctl` aborts the effect in flight, `conn`
  // its open connection; `interrupted` when an interrupt came while no effect
  // was out; `body` is the response being read, `thrown` what the app's code
  // threw, `wake` ends a wait for the engine.
  function ioOf(op) {
    let io = ops.get(op);
    if (!io) ops.set(op, (io = {}));
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
          io.body?.cancel();
          io.body = null;
          ctl?.abort();
          io.conn?.abort();
          io.conn = null;
          break;
        }
        case "w":
          // A wait ends once: a second wake of it does nothing.
          ops.get(+rest)?.wake?.();
          break;
        case "n":
          Promise.resolve().then(() => drive(+rest).catch(() => {}));
          break;
      }
    }
  }

  function notify(chatId) {
    const cb = onChange;
    if (!cb) return;
    const session = persisted(core.session(chatId)) ?? null;
    try {
      cb(chatId, session);
    } catch {}
  }

  // The JS form of an error the engine reported for an operation (`io`):
  // what the app's code threw, when that is what it was.
  const errorOf = (e, io) => (e.code === "CALLBACK" && io?.thrown !== undefined ? io.thrown : makeError(e));

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
    const cb = onEvent;
    if (!cb) return;
    const o = { type: ev.type, chatId: ev.chatId, timestamp: Date.now(), ...ev };
    for (const k in o) {
      const v = o[k];
      if (isObject(v) && v.$error) o[k] = errorOf(v.$error, ops.get(v.$op));
    }
    try {
      cb(o);
    } catch {}
  }

  // Keeps what the app threw; the engine hears of a callback error.
  function thrownBy(op, v) {
    ioOf(op).thrown = v;
    return [CALLBACK, 0, describe(v)];
  }

  // Calls one of the app's callbacks, raced against the effect's signal.
  async function callApp(op, f, arg, signal) {
    const settled = callPromise(f, [arg]).then(
      (v) => ({ v }),
      (e) => ({ e }),
    );
    const s = await wait(signal, undefined, (finish) => {
      settled.then(finish);
    });
    if (!s) throw [INTERRUPTED];
    if ("e" in s) throw thrownBy(op, s.e);
    return s.v;
  }

  // Sends a request (a POST when it has a body) through the app's `fetch`
  // (with `ctx`) or the global one. An abort is the effect's interrupt when
  // its signal aborted, and always for the headStart route's request (no
  // `ctx`).
  async function request(op, ctx, url, headers, body, signal) {
    const init = body === undefined ? { headers, signal } : { method: "POST", headers, body, signal };
    const override = ctx && fetchOverride;
    let resp;
    try {
      resp = await (override ? callPromise(override, [url, init, ctx]) : globalThis.fetch(url, init));
    } catch (e) {
      if (named(e, "AbortError")) {
        throw signal.aborted || !ctx ? [INTERRUPTED] : [NETWORK, 0, "the request was aborted"];
      }
      // fetch itself rejects with a TypeError when the network fails;
      // anything else was thrown by the app's own code and passes through.
      if (named(e, "TypeError")) throw [NETWORK, 0, describe(e)];
      throw thrownBy(op, e);
    }
    if (!isObject(resp)) throw [PROTOCOL, 0, "fetch resolved to something other than a Response"];
    return resp;
  }

  // A request to the chat's `.in` or `.out`, with `{endpoint, chatId}`.
  function sessionFetch(op, endpoint, e, signal) {
    const chatId = e.c;
    let base = opts.baseURL;
    if (endpoint === "out" && opts.streamBaseURL !== undefined) base = opts.streamBaseURL;
    else if (typeof base !== "string") {
      try {
        base = opts.baseURL({ endpoint, chatId });
      } catch (err) {
        throw thrownBy(op, err);
      }
      if (typeof base !== "string") {
        throw [MISUSE, 0, "TriggerChatTransport: the `baseURL` function must return a string"];
      }
    }
    const url = `${base.replace(/\/$/, "")}/realtime/v1/sessions/${encodeChatId(chatId)}/${
      endpoint === "in" ? "in/append" : "out"
    }`;
    return request(op, { endpoint, chatId }, url, e.h, e.b, signal);
  }

  // The stream of a 2xx response, kept for the reads that follow; the
  // outcome `none` when it has no body.
  function keepBody(op, resp, none) {
    const body = bodyReader(resp);
    if (!body) throw none;
    ioOf(op).body = body;
  }

  // Performs one effect; resolves to its outcome, or a Uint8Array of bytes
  // read.
  async function perform(op, tag, arg, signal) {
    try {
      switch (tag) {
        case "T":
          return [TOKEN, 0, str(await callApp(op, accessToken, { chatId: arg }, signal))];
        case "S": {
          const f = startSession;
          if (!f) return [MISUSE, 0, "TriggerChatTransport: `startSession` is required to start a session"];
          const cd = clientData;
          const v = await callApp(op, f, { taskId: opts.task, chatId: arg, clientData: absent(cd) ? {} : cd }, signal);
          return [STARTED, 0, str(prop(v, "publicAccessToken")), undefined, undefined, prop(v, "pendingVersion") === true];
        }
        case "A": {
          const resp = await sessionFetch(op, "in", JSON.parse(arg), signal);
          const status = statusOf(resp);
          const reset = headerOf(resp, "x-ratelimit-reset");
          const retryAfter = headerOf(resp, "retry-after");
          const body = await textOf(resp);
          if (signal.aborted) return [INTERRUPTED];
          return [RESPONSE, status, body, reset, retryAfter];
        }
        case "O": {
          const resp = await sessionFetch(op, "out", JSON.parse(arg), signal);
          const status = statusOf(resp);
          const settled = headerOf(resp, "X-Session-Settled") === "true";
          if (isOk(status)) keepBody(op, resp, [NETWORK, 0, "the stream response has no body"]);
          return [CONNECTED, status, undefined, undefined, undefined, settled];
        }
        case "H": {
          const e = JSON.parse(arg);
          const resp = await request(op, undefined, e.u, e.h, e.b, signal);
          const status = statusOf(resp);
          let errorBody = "";
          if (isOk(status)) keepBody(op, resp, [PROTOCOL, 0, "the headStart route answered with no body"]);
          else errorBody = await textOf(resp);
          const token = headerOf(resp, "X-Trigger-Chat-Access-Token");
          const pending = headerOf(resp, "X-Trigger-Chat-Pending-Version") === "1";
          return [HEAD_STARTED, status, token, errorBody, undefined, pending];
        }
        case "R": {
          const io = ioOf(op);
          const body = io.body;
          io.body = null;
          if (!body) return [NETWORK, 0, "the connection is gone"];
          let r;
          try {
            r = await body.read(+arg, signal);
          } catch (e) {
            body.cancel();
            if (signal.aborted) return [INTERRUPTED];
            return [NETWORK, 0, named(e, "AbortError") ? "the connection was aborted" : describe(e)];
          }
          if (r instanceof Uint8Array) {
            ioOf(op).body = body;
            return r;
          }
          body.cancel();
          return [r === undefined ? EOF : r === null ? STALL : INTERRUPTED];
        }
        case "Z":
          await wait(signal, +arg, () => {});
          return [signal.aborted ? INTERRUPTED : SLEPT];
        case "P":
          await wait(signal, undefined, (finish) => {
            ioOf(op).wake = finish;
          });
          return [signal.aborted ? INTERRUPTED : WOKEN];
      }
      return [MISUSE, 0, "not an effect"];
    } catch (f) {
      // An outcome thrown to end the effect early, or the app's own throw.
      return Array.isArray(f) ? f : thrownBy(op, f);
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
        if (kind === "e") throw errorOf(JSON.parse(rest), io);
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
      if (connect) after.conn = after.ctl;
      after.ctl = null;
      withCore((c) => (got instanceof Uint8Array ? c.bytes(op, got) : c.outcome(op, ...got)));
    }
  }

  // Forwards the app's AbortSignal to the operation that carries the call
  // now (the send, then its stream); returns a function that removes the
  // listener, if there is one.
  function hookAbort(signal, target) {
    if (!signal) return;
    const abort = () => {
      settledBy.delete(target.op);
      withCore((c) => c.op(0, target.op));
    };
    if (!signal.aborted) return listen(signal, "abort", abort);
    abort();
  }

  // The chunks of stream `op`, pulled by the shim's ReadableStream:
  // `next()` resolves to an array of chunks, or `null` at the end; `first`:
  // the chunks already read (`null`: the stream ended before any).
  function sourceOf(op, unhookAbort, first) {
    const offWake = watchWake((force) => withCore((c) => c.op(2, op, force)));
    let hooks = true;
    const unhook = () => {
      if (!hooks) return;
      hooks = false;
      unhookAbort?.();
      offWake();
    };
    return {
      next: async () => {
        let chunks = first;
        first = undefined;
        try {
          if (chunks === undefined && hooks) chunks = (await drive(op)).chunks;
        } catch (e) {
          unhook();
          throw e;
        }
        if (chunks) return chunks;
        unhook();
        return null;
      },
      cancel: () => {
        settledBy.delete(op);
        withCore((c) => c.op(1, op));
        unhook();
      },
    };
  }

  // Runs a send until it resolves, with the app's `signal` forwarded to
  // the operation that carries the call (the send, then its stream); a
  // reply's stream becomes a source. A head start's source comes at once:
  // the route's answer decides whether the send succeeded, so its stream is
  // read up to its first chunks first.
  async function sendAndStream(op, signal, onSettled, headStart) {
    const target = { op };
    const unhook = hookAbort(signal, target);
    let r;
    try {
      r = await drive(op);
    } catch (e) {
      unhook?.();
      throw e;
    }
    if (headStart) return sourceOf(op, unhook, r.chunks ?? null);
    const done = r.done;
    if (isObject(done) && done.stream !== undefined) {
      target.op = done.stream;
      if (onSettled) settledBy.set(done.stream, onSettled);
      return sourceOf(done.stream, unhook);
    }
    unhook?.();
    return done === undefined ? null : done;
  }

  // `{...clientData, ...metadata}`, or `undefined` when neither is given.
  function merged(metadata) {
    const given = [jsonCopy(clientData, "clientData"), jsonCopy(metadata, "metadata")].filter((v) => v != null);
    return given.length === 0 ? undefined : given.reduce((out, v) => ({ ...out, ...spreadable(v) }), {});
  }

  // A send of `chunk` on the engine (`source`: 0 submit, 1 regenerate, 2
  // action, 3 steering, 4 stop, 5 start); its operation. Left out: no
  // `messageId`, no stop on abort.
  const send = (chatId, chunk, source, messageId, stopOnAbort) =>
    withCore((c) => c.send(chatId, chunk, source, messageId, stopOnAbort));

  async function start(chatId) {
    return sendAndStream(send(chatIdArg(chatId, "start"), "", 5));
  }

  /** `useChat`'s send: append the newest message, then stream the reply. */
  async function sendMessages(options) {
    if (!isObject(options)) throw mustBe(argName("sendMessages", "options"), "an object");
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
      throw mustBe(argName("sendMessages", "`trigger`"), '"submit-message" or "regenerate-message"');
    }
    const messages = prop(options, "messages");
    if (!Array.isArray(messages)) throw mustBe(argName("sendMessages", "`messages`"), "an array");
    const messageId = str(prop(options, "messageId"));
    const metadata = merged(prop(options, "metadata"));
    const body = spreadable(jsonCopy(prop(options, "body"), "body"));
    const regenerate = trigger === "regenerate-message" ? 1 : 0;
    const headStart = opts.headStart;
    if (headStart !== undefined && s === undefined) {
      const payload = { ...body, headStartMessages: jsonCopy(messages, "messages"), chatId, trigger };
      if (messageId !== undefined) payload.messageId = messageId;
      if (metadata !== undefined) payload.metadata = metadata;
      const op = withCore((c) => c.headStart(chatId, headStart, JSON.stringify(payload), messageId));
      return sendAndStream(op, signal, undefined, true);
    }
    if (!regenerate && messages.length === 0) {
      throw misuse(argName("sendMessages", "'submit-message' trigger requires at least one message"));
    }
    const last = jsonCopy(messages.at(-1), "message");
    const payload = { ...body };
    if (!regenerate && last !== undefined) payload.message = slim(last);
    // An undefined `messageId` or `metadata` (the body's too) is left out of
    // the JSON.
    Object.assign(payload, { chatId, trigger, messageId, metadata });
    return sendAndStream(send(chatId, messageChunk(payload), regenerate, messageId, true), signal);
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
    const msg = jsonCopy(message, "message");
    if (msg === undefined) throw misuse(argName("sendPendingMessage", "`message` is required"));
    const payload = { message: msg, chatId: id, trigger: "submit-message" };
    const md = merged(metadata);
    if (md !== undefined) payload.metadata = md;
    return sendAndStream(send(id, messageChunk(payload), 3));
  }

  /** Stops the agent's turn and ends the chat's stream. */
  async function stopGeneration(chatId) {
    return sendAndStream(send(chatIdArg(chatId, "stopGeneration"), "", 4));
  }

  /** A custom action for the agent's `onAction`; streams its reply. */
  async function sendAction(chatId, action, options) {
    const id = chatIdArg(chatId, "sendAction");
    const signal = signalArg(prop(options, "abortSignal"), "sendAction");
    const onSettled = prop(options, "onSettled");
    if (!absent(onSettled) && typeof onSettled !== "function") {
      throw mustBe(argName("sendAction", "`onSettled`"), "a function");
    }
    return actionOp(id, action, prop(options, "metadata"), signal, onSettled ?? undefined);
  }

  // An action on `.in` (with the call's `metadata` over `clientData`), then
  // its reply on `.out`.
  function actionOp(chatId, action, metadata, signal, onSettled) {
    const payload = { chatId, trigger: "action", action: jsonCopy(action, "action") ?? null };
    const md = merged(metadata);
    if (md !== undefined) payload.metadata = md;
    return sendAndStream(send(chatId, messageChunk(payload), 2, undefined, !!signal), signal, onSettled);
  }

  function sessionStatus(chatId) {
    return getSession(chatId)?.closed ? "closed" : "open";
  }

  function sessionClosedReason(chatId) {
    const s = getSession(chatId);
    return s?.closed ? s.closedReason : undefined;
  }

  function getSession(chatId) {
    return typeof chatId === "string" ? persisted(core.session(chatId)) : undefined;
  }

  function setSession(chatId, session) {
    const id = chatIdArg(chatId, "setSession");
    const s = sessionFrom(session, argName("setSession", "`session`"));
    withCore((c) => c.setSession(id, ...s, false));
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
      throw mustBe(argName("seedResumeCursor", "`lastEventId`"), "a string");
    }
    withCore((c) => c.chat(0, id, lastEventId));
  }

  /** Forgets the gate of a stopped turn that died without its
   *  `turn-complete`. */
  function clearSupersedeGate(chatId) {
    if (typeof chatId === "string") withCore((c) => c.chat(2, chatId, ""));
  }

  /** Replaces one of the app's callbacks (`AccessToken`, `StartSession`,
   *  `Fetch`, `OnEvent` or `OnSessionChange`; absent: none); the next use
   *  reads the new one. */
  function setCallback(which, callback) {
    const bad = () => mustBe(argName(`set${which}`, "the callback"), "a function");
    if (!absent(callback) && typeof callback !== "function") throw bad();
    const f = callback ?? undefined;
    switch (which) {
      case "AccessToken":
        // Absent keeps the current one (it is required).
        if (f) accessToken = f;
        break;
      case "StartSession":
        startSession = f;
        break;
      case "Fetch":
        fetchOverride = f;
        break;
      case "OnEvent":
        onEvent = f;
        break;
      case "OnSessionChange":
        onChange = f;
        break;
      default:
        throw bad();
    }
    core.callbacks(!!startSession, !!onEvent);
  }

  /** Ends every open operation: no timer or connection is left. */
  function dispose() {
    settledBy.clear();
    withCore((c) => c.op(3, 0));
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
    setClientData,
    adoptLastEventId,
    seedResumeCursor,
    clearSupersedeGate,
    setCallback,
    dispose,
  };
}
