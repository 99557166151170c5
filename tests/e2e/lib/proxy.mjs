// A small HTTP proxy between the page and the emulator, one per test, that
// the test controls: it can drop or hold requests matching a predicate,
// release them, wait for a request, and take the network down and up. It
// works the same for every browser engine, since it is not in the browser.
//
// The page is loaded from the proxy's URL, so everything it fetches (the demo
// itself, /app/*, and the API, whose base URL the emulator derives from the
// Host header the proxy passes on) goes through it. Responses are passed on
// as they arrive, chunk by chunk: SSE streams through unbuffered.
//
// The HTML document gets one inline script at the top of <head> that keeps
// the page's console errors and warnings, uncaught errors and unhandled
// rejections in sessionStorage (they survive a reload), so a failure report
// can show them in any engine.
import http from "node:http";

const HOP_BY_HOP = new Set([
  "connection",
  "keep-alive",
  "proxy-connection",
  "transfer-encoding",
  "upgrade",
  "te",
  "trailer",
]);

export const CONSOLE_KEY = "__e2e_console";

/**
 * A host page the proxy serves itself: an iframe of exactly ?w= x ?h= CSS
 * pixels that loads the URL in the fragment. It gives a page a layout
 * viewport narrower than the browser's window can be (lib/browser.mjs).
 */
export const VIEWPORT_HOST = "/__e2e/viewport";

const VIEWPORT_PAGE = `<!doctype html><html><head><meta charset="utf-8"><title>viewport</title>
<style>html,body{margin:0;padding:0;overflow:hidden}iframe{display:block;border:0}</style></head>
<body><script>
const q = new URLSearchParams(location.search);
const f = document.createElement("iframe");
f.style.width = q.get("w") + "px";
f.style.height = q.get("h") + "px";
f.src = decodeURIComponent(location.hash.slice(1));
document.body.appendChild(f);
</script></body></html>`;

const CONSOLE_HOOK = `<script>(() => {
  const key = ${JSON.stringify(CONSOLE_KEY)};
  const show = (x) => {
    if (x instanceof Error) return x.stack || String(x);
    if (typeof x === "string") return x;
    try { return JSON.stringify(x); } catch { return String(x); }
  };
  const keep = (kind, args) => {
    try {
      const all = JSON.parse(sessionStorage.getItem(key) || "[]");
      all.push("[" + kind + "] " + args.map(show).join(" "));
      sessionStorage.setItem(key, JSON.stringify(all.slice(-200)));
    } catch {}
  };
  for (const level of ["error", "warn"]) {
    const original = console[level].bind(console);
    console[level] = (...args) => { keep("console." + level, args); original(...args); };
  }
  addEventListener("error", (e) => keep("pageerror", [e.error || e.message]));
  addEventListener("unhandledrejection", (e) => keep("unhandledrejection", [e.reason]));
})();</script>`;

function headersOut(raw) {
  const out = {};
  for (const [k, v] of Object.entries(raw)) if (!HOP_BY_HOP.has(k)) out[k] = v;
  return out;
}

/**
 * What a rule, a waiter or a held request sees of a request: method, path
 * (with the query), headers, and the whole body as text.
 */
class Seen {
  constructor(req, body) {
    this.method = req.method;
    this.path = req.url;
    this.headers = req.headers;
    this.body = body;
  }
  /** The body parsed as JSON, or undefined. */
  get json() {
    try {
      return JSON.parse(this.body);
    } catch {
      return undefined;
    }
  }
  toString() {
    return `${this.method} ${this.path}`;
  }
}

/** @param {string} target  the emulator's URL */
export async function startProxy(target) {
  const upstream = new URL(target);
  const sockets = new Set();
  const rules = [];
  const waiters = [];
  const log = [];
  let online = true;
  const started = Date.now();
  const note = (line) => {
    log.push(`${String(Date.now() - started).padStart(6)} ms ${line}`);
    if (log.length > 400) log.shift();
  };

  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", () => route(req, res, new Seen(req, Buffer.concat(chunks).toString("utf8"))));
    req.on("error", () => {});
  });
  server.on("connection", (socket) => {
    if (!online) {
      socket.destroy();
      return;
    }
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
  });
  server.on("clientError", (_e, socket) => socket.destroy());

  function route(req, res, seen) {
    if (req.method === "GET" && req.url.startsWith(VIEWPORT_HOST)) {
      res.writeHead(200, { "content-type": "text/html; charset=utf-8", "cache-control": "no-store" });
      res.end(VIEWPORT_PAGE);
      return;
    }
    for (const w of [...waiters]) {
      let hit = false;
      try {
        hit = w.pred(seen);
      } catch {
        /* a predicate that throws does not match */
      }
      if (hit) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(seen);
      }
    }
    const rule = rules.find((r) => {
      try {
        return r.pred(seen);
      } catch {
        return false;
      }
    });
    if (rule) {
      rule.take(seen, {
        forward: () => forward(req, res, seen),
        drop: () => {
          note(`[proxy] dropped ${seen}`);
          req.socket.destroy();
        },
      });
      return;
    }
    forward(req, res, seen);
  }

  function forward(req, res, seen) {
    if (!online) {
      note(`[proxy] network down: cut ${seen}`);
      req.socket.destroy();
      return;
    }
    if (!seen.path.startsWith("/assets/")) note(`[proxy] → ${seen}`);
    const html = req.method === "GET" && (req.headers.accept ?? "").includes("text/html");
    const headers = headersOut(req.headers);
    if (html) headers["accept-encoding"] = "identity";
    if (seen.body.length > 0) headers["content-length"] = Buffer.byteLength(seen.body);
    const up = http.request(
      { host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers, agent: false },
      (upRes) => {
        if (!seen.path.startsWith("/assets/")) note(`[proxy] ← ${upRes.statusCode} ${seen}${seen.body ? ` ${seen.body.slice(0, 120)}` : ""}`);
        const out = headersOut(upRes.headers);
        const isHtml = html && (upRes.headers["content-type"] ?? "").includes("text/html");
        if (isHtml) {
          const parts = [];
          upRes.on("data", (c) => parts.push(c));
          upRes.on("end", () => {
            const page = Buffer.concat(parts).toString("utf8").replace(/<head>/i, (h) => h + CONSOLE_HOOK);
            out["content-length"] = Buffer.byteLength(page);
            res.writeHead(upRes.statusCode, out);
            res.end(page);
          });
          upRes.on("error", () => res.destroy());
          return;
        }
        res.writeHead(upRes.statusCode, upRes.statusMessage, out);
        res.flushHeaders();
        upRes.on("data", (c) => res.write(c));
        upRes.on("end", () => {
          if (upRes.headers["content-type"]?.includes("text/event-stream")) note(`[proxy] stream ended ${seen}`);
          res.end();
        });
        // The emulator cut the response: cut the page's connection too, so
        // the page sees the same broken stream.
        upRes.on("aborted", () => {
          note(`[proxy] the emulator cut ${seen}`);
          res.destroy();
        });
        upRes.on("error", () => res.destroy());
      },
    );
    up.on("error", (e) => {
      note(`[proxy] upstream error ${seen}: ${e.message}`);
      res.destroy();
    });
    // The page went away (reload, abort, network down): stop the upstream request.
    res.on("close", () => {
      if (!res.writableFinished) {
        note(`[proxy] the page closed ${seen}`);
        up.destroy();
      }
    });
    up.end(seen.body.length > 0 ? seen.body : undefined);
  }

  function addRule(pred, take) {
    const rule = { pred, take };
    rules.push(rule);
    return () => {
      const i = rules.indexOf(rule);
      if (i >= 0) rules.splice(i, 1);
    };
  }

  await new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", resolve);
  });
  const url = `http://127.0.0.1:${server.address().port}`;

  return {
    url,
    logs: () => log.join("\n"),

    /**
     * Every request matching `pred` fails in the browser (its connection is
     * cut before anything is sent to the emulator) until `stop()`. `count`
     * is how many were dropped.
     */
    drop(pred) {
      let count = 0;
      const remove = addRule(pred, (_seen, r) => {
        count += 1;
        r.drop();
      });
      return {
        get count() {
          return count;
        },
        stop: remove,
      };
    },

    /**
     * Holds the first `limit` requests matching `pred` (default 1) before
     * they reach the emulator. `next()` resolves with the next held request,
     * which has `release()` (send it on) and `drop()`; `stop()` removes the
     * rule and releases whatever is still held.
     */
    hold(pred, { limit = 1 } = {}) {
      const held = [];
      const taken = [];
      const next = [];
      let seenCount = 0;
      const remove = addRule(
        (seen) => seenCount < limit && pred(seen),
        (seen, r) => {
          seenCount += 1;
          let done = false;
          const h = {
            request: seen,
            release() {
              if (done) return;
              done = true;
              note(`[proxy] releasing ${seen}`);
              r.forward();
            },
            drop() {
              if (done) return;
              done = true;
              r.drop();
            },
          };
          held.push(h);
          note(`[proxy] holding ${seen}`);
          const waiter = next.shift();
          if (waiter) waiter(h);
          else taken.push(h);
        },
      );
      return {
        get count() {
          return seenCount;
        },
        next(what = "a held request", timeout = 20_000) {
          const ready = taken.shift();
          if (ready) return Promise.resolve(ready);
          return bounded(new Promise((resolve) => next.push(resolve)), what, timeout);
        },
        stop() {
          remove();
          for (const h of held) h.release();
        },
      };
    },

    /**
     * Resolves with the next request (from now on) matching `pred`, whatever
     * happens to it; rejects after `timeout` ms.
     */
    waitForRequest(pred, what, timeout = 20_000) {
      let w;
      const p = new Promise((resolve) => {
        w = { pred, resolve };
        waiters.push(w);
      });
      return bounded(p, what, timeout, () => {
        const i = waiters.indexOf(w);
        if (i >= 0) waiters.splice(i, 1);
      });
    },

    /**
     * Takes the network down (every open connection is cut, and new ones
     * are closed as soon as they are accepted) or brings it back up.
     */
    setOnline(up) {
      online = up;
      note(`[proxy] network ${up ? "up" : "down"}`);
      if (!up) for (const s of sockets) s.destroy();
    },

    async stop() {
      online = false;
      for (const s of sockets) s.destroy();
      await new Promise((r) => server.close(() => r()));
    },
  };
}

function bounded(promise, what, timeout, onTimeout = () => {}) {
  let timer;
  const t = new Promise((_, reject) => {
    timer = setTimeout(() => {
      onTimeout();
      reject(new Error(`timed out after ${timeout} ms waiting for ${what}`));
    }, timeout);
  });
  return Promise.race([promise, t]).finally(() => clearTimeout(timer));
}
