// The browsers, through W3C WebDriver (selenium-webdriver, connected to a
// driver process started here with explicit paths: nothing is downloaded and
// selenium-manager is never run).
//
//   chromium  /usr/bin/chromedriver + /usr/bin/chromium, headless
//   firefox   geckodriver + /usr/bin/firefox-esr, headless
//   webkit    /usr/bin/WebKitWebDriver + WebKitGTK's MiniBrowser, which has no
//             headless mode: it runs on an Xvfb display started here
//
// E2E_BROWSERS picks the engines (default: all three); CHROMIUM_PATH,
// CHROMEDRIVER_PATH, FIREFOX_PATH, GECKODRIVER_PATH, WEBKIT_DRIVER_PATH
// change the binaries. A browser is one WebDriver session with a fresh
// profile; its pages are windows of that session, so they share the profile
// and BroadcastChannel reaches between them like tabs.
import { spawn } from "node:child_process";
import { writeFile } from "node:fs/promises";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { Capabilities, WebDriver } from "selenium-webdriver";
import { Executor, HttpClient } from "selenium-webdriver/http/index.js";
import { BACKGROUND_TAB_ARGS, CHROMIUM_ARGS, CHROMIUM_PATH } from "../../support/chromium.mjs";
import { CONSOLE_KEY, VIEWPORT_HOST } from "./proxy.mjs";

export const ALL_ENGINES = ["chromium", "firefox", "webkit"];
export const ENGINES = (process.env.E2E_BROWSERS ?? ALL_ENGINES.join(","))
  .split(",")
  .map((s) => s.trim())
  .filter(Boolean);
for (const e of ENGINES) if (!ALL_ENGINES.includes(e)) throw new Error(`E2E_BROWSERS: unknown engine ${e}`);

const WAIT_MS = Number(process.env.E2E_WAIT_MS ?? 20_000);
const START_MS = 60_000;

const bin = {
  chromedriver: process.env.CHROMEDRIVER_PATH ?? "/usr/bin/chromedriver",
  firefox: process.env.FIREFOX_PATH ?? "/usr/bin/firefox-esr",
  geckodriver:
    process.env.GECKODRIVER_PATH ?? path.join(process.env.CARGO_HOME ?? path.join(os.homedir(), ".cargo"), "bin", "geckodriver"),
  webkitDriver: process.env.WEBKIT_DRIVER_PATH ?? "/usr/bin/WebKitWebDriver",
};

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

/** A child process in its own group, with its output kept for the report. */
function child(cmd, args, env, stdio = ["ignore", "pipe", "pipe"]) {
  const p = spawn(cmd, args, { stdio, detached: true, env: { ...process.env, ...env } });
  let out = "";
  for (const s of [p.stdout, p.stderr]) {
    s?.setEncoding("utf8");
    s?.on("data", (d) => {
      out = (out + d).slice(-8_000);
    });
  }
  const exited = new Promise((resolve) => p.once("exit", (code, signal) => resolve(code ?? signal)));
  let gone = false;
  exited.then(() => (gone = true));
  p.once("error", (e) => {
    out += `\n${cmd}: ${e.message}`;
  });
  return {
    proc: p,
    output: () => out,
    exited,
    get gone() {
      return gone;
    },
    async stop() {
      if (gone) return;
      try {
        process.kill(-p.pid, "SIGTERM");
      } catch {
        /* gone */
      }
      let timer;
      const r = await Promise.race([exited, new Promise((res) => (timer = setTimeout(res, 5_000, "timeout")))]);
      clearTimeout(timer);
      if (r === "timeout") {
        try {
          process.kill(-p.pid, "SIGKILL");
        } catch {
          /* gone */
        }
        await exited;
      }
    },
  };
}

/** An Xvfb display for MiniBrowser; `-displayfd` picks a free display number. */
async function startXvfb() {
  const x = child("Xvfb", ["-displayfd", "3", "-screen", "0", "1280x1024x24", "-nolisten", "tcp"], {}, [
    "ignore",
    "pipe",
    "pipe",
    "pipe",
  ]);
  const display = await new Promise((resolve, reject) => {
    let buf = "";
    const timer = setTimeout(() => reject(new Error(`Xvfb gave no display within ${START_MS} ms\n${x.output()}`)), START_MS);
    x.proc.stdio[3].setEncoding("utf8");
    x.proc.stdio[3].on("data", (d) => {
      buf += d;
      if (buf.includes("\n")) {
        clearTimeout(timer);
        resolve(`:${buf.trim()}`);
      }
    });
    x.exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`Xvfb exited (${code})\n${x.output()}`));
    });
  }).catch(async (e) => {
    await x.stop();
    throw e;
  });
  return { display, stop: () => x.stop(), output: x.output };
}

/** Starts the engine's WebDriver server on a free port and waits until it is ready. */
async function startDriver(engine) {
  const port = await freePort();
  let xvfb = null;
  let proc;
  if (engine === "chromium") proc = child(bin.chromedriver, [`--port=${port}`]);
  else if (engine === "firefox") proc = child(bin.geckodriver, ["--port", String(port), "--binary", bin.firefox]);
  else {
    xvfb = await startXvfb();
    proc = child(bin.webkitDriver, [`--port=${port}`], { DISPLAY: xvfb.display });
  }
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + START_MS;
  for (;;) {
    if (proc.gone) {
      await xvfb?.stop();
      throw new Error(`the ${engine} driver exited before it was ready\n${proc.output()}`);
    }
    try {
      const res = await fetch(`${url}/status`);
      const body = await res.json();
      if (res.ok && body.value?.ready !== false) break;
    } catch {
      /* not listening yet */
    }
    if (Date.now() > deadline) {
      await proc.stop();
      await xvfb?.stop();
      throw new Error(`the ${engine} driver was not ready within ${START_MS} ms\n${proc.output()}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    url,
    output: () => [proc.output(), xvfb?.output()].filter(Boolean).join("\n"),
    async stop() {
      await proc.stop();
      await xvfb?.stop();
    },
  };
}

function capabilities(engine) {
  if (engine === "chromium") {
    return {
      browserName: "chrome",
      "goog:chromeOptions": { binary: CHROMIUM_PATH, args: [...CHROMIUM_ARGS, ...BACKGROUND_TAB_ARGS] },
    };
  }
  if (engine === "firefox") {
    return {
      browserName: "firefox",
      "moz:firefoxOptions": {
        binary: bin.firefox,
        args: ["-headless"],
        prefs: {
          // This machine's network is closed: no background traffic.
          "app.update.enabled": false,
          "browser.shell.checkDefaultBrowser": false,
          "datareporting.policy.dataSubmissionEnabled": false,
          "toolkit.telemetry.enabled": false,
          "network.captive-portal-service.enabled": false,
          "network.connectivity-service.enabled": false,
          // Like Chromium's BACKGROUND_TAB_ARGS: a page in the background
          // keeps its timers (pages are windows here, but to be sure).
          "dom.min_background_timeout_value": 4,
          "dom.timeout.enable_budget_timer_throttling": false,
          // Nor its network: Firefox can hold back the responses of a page
          // in the background while one in front loads (network.http.throttle).
          // (The ~20 s stalls of issue 21 were Firefox's HTTP cache, not this:
          // the transport's requests bypass it, src/web/host.rs.)
          "network.http.throttle.enable": false,
        },
      },
    };
  }
  return {}; // WebKitWebDriver's defaults: MiniBrowser, automation mode
}

/**
 * Starts one browser (a driver process and one WebDriver session) with a
 * fresh profile. `viewport` is the size of every page's layout viewport.
 */
export async function launchBrowser({ engine, viewport = { width: 1100, height: 760 } }) {
  const driverProc = await startDriver(engine);
  let driver;
  try {
    driver = await WebDriver.createSession(new Executor(new HttpClient(driverProc.url)), new Capabilities(capabilities(engine)));
    await driver.manage().setTimeouts({ script: WAIT_MS, pageLoad: 60_000, implicit: 0 });
  } catch (e) {
    await driverProc.stop();
    throw new Error(`could not start a ${engine} session: ${e.message}\n${driverProc.output()}`);
  }
  const caps = await driver.getCapabilities();
  const version = caps.get("browserVersion") ?? caps.get("version") ?? "?";

  // Every command runs on one window at a time: a command for a page first
  // switches to that page's window, in a queue so two pages never interleave.
  let current = await driver.getWindowHandle();
  let queue = Promise.resolve();
  const onWindow = (handle, fn) => {
    const run = queue.then(async () => {
      if (current !== handle) {
        await driver.switchTo().window(handle);
        current = handle;
      }
      return fn(driver);
    });
    queue = run.catch(() => {});
    return run;
  };

  const pages = [];
  let firstFree = current;
  const browser = {
    engine,
    version,
    driver,
    pages,
    async newPage() {
      let handle = firstFree;
      firstFree = null;
      if (!handle) {
        handle = await onWindow(current, async (d) => {
          await d.switchTo().newWindow("window");
          current = await d.getWindowHandle(); // the driver is on the new window now
          return current;
        });
      }
      const page = new Page(browser, handle, `tab${pages.length + 1}`, onWindow);
      pages.push(page);
      await page.setViewport(viewport);
      return page;
    },
    /** The console lines every page kept (see lib/proxy.mjs), and the driver's output. */
    async logs() {
      const lines = [];
      for (const p of pages) {
        const kept = await p.consoleLogs().catch((e) => [`(could not read the console: ${e.message.split("\n")[0]})`]);
        for (const l of kept) lines.push(`[${p.label}] ${l}`);
      }
      const out = driverProc.output().trim();
      if (out) lines.push(`--- ${engine} driver ---\n${out.slice(-3_000)}`);
      return lines.join("\n");
    },
    /** A PNG of every page's viewport; returns the files written. */
    async screenshots(dir, name) {
      const files = [];
      for (const p of pages) {
        const file = path.join(dir, `${name}-${p.label}.png`);
        try {
          await p.screenshot(file);
          files.push(file);
        } catch {
          /* window gone */
        }
      }
      return files;
    },
    async close() {
      let timer;
      await Promise.race([
        driver.quit().catch(() => {}),
        new Promise((r) => (timer = setTimeout(r, 15_000))),
      ]);
      clearTimeout(timer);
      await driverProc.stop();
    },
  };
  return browser;
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** One window of a browser. Every wait has a bound. */
export class Page {
  constructor(browser, handle, label, onWindow) {
    this.browser = browser;
    this.handle = handle;
    this.label = label;
    this.framed = false;
    this.run = (fn) =>
      onWindow(handle, async (d) => {
        if (this.framed) {
          await d.switchTo().defaultContent();
          await d.switchTo().frame(0);
        }
        return fn(d);
      });
    this.top = (fn) => onWindow(handle, async (d) => {
      if (this.framed) await d.switchTo().defaultContent();
      return fn(d);
    });
  }

  /** Loads `url` (in framed mode, a host page whose iframe loads it). */
  async goto(url) {
    if (!this.framed) return this.run((d) => d.get(url));
    const { width, height } = this.viewport;
    const u = new URL(url);
    const host = `${u.origin}${VIEWPORT_HOST}?w=${width}&h=${height}#${encodeURIComponent(url)}`;
    await this.top((d) => d.get(host));
  }

  /** Reloads the page (in framed mode, the iframe's document). */
  reload() {
    if (!this.framed) return this.run((d) => d.navigate().refresh());
    return (async () => {
      await this.evaluate(() => {
        window.__e2eLeaving = true;
        setTimeout(() => location.reload(), 0);
      });
      await this.waitForFunction(() => !window.__e2eLeaving && document.readyState === "complete", undefined, {
        what: "the framed page to reload",
        timeout: 60_000,
      });
    })();
  }

  /** Focuses this window (the next commands go to it anyway). */
  bringToFront() {
    return this.run(() => {});
  }

  /** Runs `fn(...args)` in the page (it may return a promise) and returns its value. */
  evaluate(fn, ...args) {
    return this.run((d) => d.executeScript(`return (${fn}).apply(null, arguments);`, ...args));
  }

  /**
   * Polls `fn(arg)` in the page until it returns a truthy value, which it
   * returns; throws after `timeout` ms with the last error seen. An error
   * while polling (the page is navigating) counts as not yet.
   */
  async waitForFunction(fn, arg, { timeout = WAIT_MS, what = "a condition" } = {}) {
    const deadline = Date.now() + timeout;
    let last;
    for (;;) {
      try {
        const v = await this.evaluate(fn, arg);
        if (v) return v;
        last = v;
      } catch (e) {
        last = e;
      }
      if (Date.now() > deadline) {
        const seen = last instanceof Error ? last.message.split("\n")[0] : JSON.stringify(last);
        throw new Error(`timed out after ${timeout} ms waiting for ${what} (last: ${seen})`);
      }
      await sleep(50);
    }
  }

  /** Elements matching a CSS selector. */
  locator(css) {
    return new Locator(this, css);
  }

  byTestId(id) {
    return this.locator(`[data-testid="${id}"]`);
  }

  /**
   * Sets the window so that the layout viewport is `width` x `height`. A
   * window can have a minimum size wider than a phone (Firefox's is 500 px,
   * MiniBrowser's 447 px): then the page is shown in an iframe of exactly
   * that size on a host page (see lib/proxy.mjs), which is the layout
   * viewport its CSS and scripts see, and every command goes into the frame.
   */
  async setViewport({ width, height }) {
    this.viewport = { width, height };
    const inner = await this.run(async (d) => {
      const size = () => d.executeScript("return [window.innerWidth, window.innerHeight]");
      let inner = await size();
      for (let i = 0; i < 4 && !(inner[0] === width && inner[1] === height); i++) {
        const rect = await d.manage().window().getRect();
        await d.manage().window().setRect({ width: rect.width + width - inner[0], height: rect.height + height - inner[1] });
        // WebKitGTK applies a new window size after setRect has returned:
        // wait (bounded) until the page's viewport has changed, or the
        // window was already as large as it goes.
        const before = inner;
        const until = Date.now() + 5_000;
        do {
          inner = await size();
          if (inner[0] !== before[0] || inner[1] !== before[1]) break;
          await new Promise((r) => setTimeout(r, 50));
        } while (Date.now() < until);
      }
      return size();
    });
    this.framed = inner[0] !== width || inner[1] !== height;
    if (this.framed && (inner[0] < width || inner[1] < height)) {
      throw new Error(`could not size the ${this.browser.engine} window to hold ${width}x${height}: it is ${inner.join("x")}`);
    }
  }

  async screenshot(file) {
    const png = await this.top((d) => d.takeScreenshot());
    await writeFile(file, Buffer.from(png, "base64"));
  }

  /** What the page kept of its console (see lib/proxy.mjs). */
  consoleLogs() {
    return this.evaluate((key) => JSON.parse(sessionStorage.getItem(key) || "[]"), CONSOLE_KEY);
  }
}

/** Finds, in the page, the elements matching `css` and reads what `read` says. */
function query([css, read]) {
  const all = [...document.querySelectorAll(css)];
  const visible = (el) => {
    if (!el.isConnected) return false;
    const s = getComputedStyle(el);
    if (s.visibility === "hidden" || s.display === "none") return false;
    const r = el.getBoundingClientRect();
    return r.width > 0 && r.height > 0;
  };
  const first = all[0];
  switch (read) {
    case "count":
      return all.length;
    case "attached":
      return all.length > 0;
    case "visible":
      return !!first && visible(first);
    case "detached":
      return all.length === 0;
    case "hidden":
      return !first || !visible(first);
    case "texts":
      return all.map((el) => el.textContent);
    case "box": {
      if (!first || !visible(first)) return null;
      const r = first.getBoundingClientRect();
      return { x: r.x, y: r.y, width: r.width, height: r.height };
    }
    default:
      return undefined;
  }
}

/** The elements a CSS selector matches, read lazily (like a Playwright locator). */
export class Locator {
  constructor(page, css) {
    this.page = page;
    this.css = css;
  }

  /** Descendants of these elements matching `css`. */
  locator(css) {
    return new Locator(this.page, `${this.css} ${css}`);
  }

  byTestId(id) {
    return this.locator(`[data-testid="${id}"]`);
  }

  /** Waits for the first match to be `visible` (default), `attached`, `hidden` or `detached`. */
  waitFor({ state = "visible", timeout = WAIT_MS } = {}) {
    return this.page.waitForFunction(query, [this.css, state], { timeout, what: `${this.css} to be ${state}` });
  }

  count() {
    return this.page.evaluate(query, [this.css, "count"]);
  }

  texts() {
    return this.page.evaluate(query, [this.css, "texts"]);
  }

  /** The first match's textContent (waits for it to exist). */
  async text() {
    await this.waitFor({ state: "attached" });
    return (await this.texts())[0];
  }

  /** The first match's innerText (waits for it to exist). */
  async innerText() {
    await this.waitFor({ state: "attached" });
    return this.page.evaluate((css) => document.querySelector(css).innerText, this.css);
  }

  /** The first match's attribute, or null (waits for it to exist). */
  async attr(name) {
    await this.waitFor({ state: "attached" });
    return this.page.evaluate((css, name) => document.querySelector(css).getAttribute(name), this.css, name);
  }

  async isDisabled() {
    await this.waitFor({ state: "attached" });
    return this.page.evaluate((css) => document.querySelector(css).disabled === true, this.css);
  }

  /** The first match's box in CSS pixels, or null if it is not shown. */
  box() {
    return this.page.evaluate(query, [this.css, "box"]);
  }

  /**
   * Clicks the first match with a real WebDriver click, once it is visible
   * and enabled. A click the page was not ready for (the element was
   * replaced, or covered) is tried again within the bound.
   */
  async click({ timeout = WAIT_MS } = {}) {
    await this.actOn((el) => el.click(), "click", timeout);
  }

  /** Types `text` into the first match (an input or textarea), replacing what it held. */
  async fill(text, { timeout = WAIT_MS } = {}) {
    await this.actOn(
      async (el) => {
        await el.clear();
        await el.sendKeys(text);
      },
      "fill",
      timeout,
    );
    await this.page.waitForFunction(([css, text]) => document.querySelector(css)?.value === text, [this.css, text], {
      what: `${this.css} to hold the typed text`,
    });
  }

  async actOn(act, what, timeout) {
    const deadline = Date.now() + timeout;
    // The first match's box if it is shown and enabled, else null.
    const box = ([css]) => {
      const el = document.querySelector(css);
      if (!el || el.disabled) return null;
      const r = el.getBoundingClientRect();
      return r.width > 0 && r.height > 0 ? [r.x, r.y, r.width, r.height].join(",") : null;
    };
    let failed = null; // the last try's error, for the report
    let last = null;
    for (;;) {
      // Shown, enabled, and in the same place at two polls in a row: not
      // mid-transition (a drawer sliding in), as Playwright waits for too.
      let now = null;
      try {
        now = await this.page.evaluate(box, [this.css]);
      } catch (e) {
        failed = e;
      }
      if (now !== null && now === last) {
        try {
          await this.page.run(async (d) => act(await d.findElement({ css: this.css })));
          return;
        } catch (e) {
          failed = e;
          const retry = /stale|not interactable|intercepted|no such element/i.test(`${e.name} ${e.message}`);
          if (!retry) throw new Error(`${what} ${this.css}: ${e.name}: ${e.message}`);
          now = null;
        }
      }
      last = now;
      if (Date.now() > deadline) {
        const why = failed ? `; the last try failed: ${failed.name}: ${failed.message.split("\n")[0]}` : "";
        throw new Error(`timed out after ${timeout} ms waiting for ${this.css} to be shown, enabled and still (to ${what})${why}`);
      }
      await sleep(50);
    }
  }
}
