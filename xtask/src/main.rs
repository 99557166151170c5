//! Project tasks: `cargo xtask test`, `cargo xtask demo`, `cargo xtask build`,
//! `cargo xtask bench`.
//!
//! Each task first installs what is missing (see `tools.rs`), so a fresh
//! clone on a machine with only Rust, Node and apt works.

mod shared;
mod suites;
mod tools;

use std::env;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

/// JavaScript test folders, each an npm project whose `npm test` runs its
/// suite. A folder that does not exist yet is an error, not a skip: a missing
/// suite must not pass quietly.
const JS_SUITES: &[&str] = &[
    "tests/pkg",
    "devserver/tests/node",
    "tests/faults",
    "tests/e2e",
    // Type-checks the Trigger.dev agent task the demo expects (`tsc --noEmit`
    // against @trigger.dev/sdk's published types).
    "examples/agent",
    // The package installed from its `npm pack` tarball into Next.js,
    // React Router, Vite, webpack, Node (ESM and CommonJS) and Jest apps.
    "tests/frameworks",
];

fn main() -> ExitCode {
    let args: Vec<String> = env::args().skip(1).collect();
    let task = args.first().map(String::as_str).unwrap_or("help");
    let rest = &args[args.len().min(1)..];
    let result = match task {
        "test" => test(rest),
        "demo" => demo(rest),
        "build" => tools::ensure_build_tools().and_then(|()| build_package()),
        "bench" => bench(rest),
        "soak" => soak(rest),
        "install" => tools::ensure_all(),
        _ => {
            eprintln!(
                "usage: cargo xtask <task>\n\n\
                 tasks:\n  \
                 test    install what is missing, then run every test\n  \
                 demo    build the package and the demo, start the emulator, serve the demo\n  \
                 build   build the npm package into pkg/\n  \
                 bench   run the benchmarks\n  \
                 install install the toolchain pieces only"
            );
            return if task == "help" {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            };
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask {task}: error: {e}");
            ExitCode::FAILURE
        }
    }
}

pub type Result<T = ()> = std::result::Result<T, String>;

/// The workspace root (the parent of `xtask/`).
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives inside the workspace")
        .to_path_buf()
}

/// Runs a command in `dir`, echoing it, and fails on a non-zero exit.
pub fn run(dir: &Path, cmd: &mut Command) -> Result {
    cmd.current_dir(dir);
    eprintln!("\n$ {}", describe(cmd));
    let status = cmd
        .status()
        .map_err(|e| format!("could not start {}: {e}", describe(cmd)))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("{} failed ({status})", describe(cmd)))
    }
}

fn describe(cmd: &Command) -> String {
    let mut s = cmd.get_program().to_string_lossy().into_owned();
    for a in cmd.get_args() {
        s.push(' ');
        s.push_str(&a.to_string_lossy());
    }
    s
}

fn cargo() -> Command {
    Command::new(env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
}

fn step(title: &str) {
    eprintln!("\n==== {title}");
}

/// `cargo xtask test [--quick] [--repeat N]`.
///
/// Checks that read the tree (format, lints, the package build) run once;
/// the suites (native, emulator with default parallelism and on one thread,
/// the browser cases, the JavaScript suites) run once, or N times with
/// `--repeat N`. A single run stops at the first failing suite; a repeated
/// run goes on and ends with every test that failed in any round.
fn test(args: &[String]) -> Result {
    let mut quick = false;
    let mut rounds = 1usize;
    let mut it = args.iter().filter(|a| a.as_str() != "--");
    while let Some(a) = it.next() {
        match a.as_str() {
            "--quick" => quick = true,
            "--repeat" => {
                rounds = it
                    .next()
                    .and_then(|v| v.parse().ok())
                    .filter(|&n| n >= 1)
                    .ok_or("test: --repeat needs a whole number of rounds, 1 or more")?;
            }
            other => {
                return Err(format!(
                "test: unknown argument {other} (usage: cargo xtask test [--quick] [--repeat N])"
            ))
            }
        }
    }
    tools::ensure_all()?;
    let root = root();
    let shared = shared::locate(&root);

    step("format");
    run(&root, cargo().args(["fmt", "--all", "--", "--check"]))?;

    // First: the browser cases (tests/web.rs) load the module as it ships,
    // and linting them reads it too.
    step("build the npm package");
    build_package()?;

    step("lints");
    let wasm: &[&str] = &[
        "-p",
        "trigger-chat-wasm",
        "--target",
        "wasm32-unknown-unknown",
    ];
    let lints: [(&[&str], &[&str]); 3] = [
        (&[], &["--workspace", "--all-targets"]),
        (wasm, &["--features", "web", "--all-targets"]),
        // The module as shipped: no_std, without the `std` feature.
        (
            wasm,
            &["--no-default-features", "--features", "web", "--lib"],
        ),
    ];
    for (crate_args, extra) in lints {
        let mut cmd = cargo();
        cmd.arg("clippy").args(crate_args).args(extra);
        run(&root, cmd.args(["--", "-D", "warnings"]))?;
    }

    step("build the tests and the emulator");
    run(&root, cargo().args(["test", "--workspace", "--no-run"]))?;
    run(&root, cargo().args(["build", "-p", "trigger-devserver"]))?;
    let devserver = root.join("target/debug/trigger-devserver");

    step("install the JavaScript suites' dependencies");
    for suite in JS_SUITES {
        let dir = root.join(suite);
        // A folder that does not exist is an error, not a skip.
        if !dir.join("package.json").exists() {
            return Err(format!("{} has no package.json", dir.display()));
        }
        npm_install(&dir)?;
    }

    let mut ledger = suites::Ledger::default();
    for round in 1..=rounds {
        for suite in test_suites(quick, &root, &devserver) {
            let title = if rounds > 1 {
                format!("{} (round {round} of {rounds})", suite.name)
            } else {
                suite.name.clone()
            };
            step(&title);
            let mut cmd = suite.command;
            let outcome = suites::run_watched(&suite.dir, &mut cmd)?;
            let passed = outcome.passed;
            let failed = outcome.failed.clone();
            ledger.record(round, &suite.name, outcome);
            if !passed && rounds == 1 {
                eprint!("{}", ledger.report(rounds));
                if let Some(r) = shared::report(&shared) {
                    eprint!("{r}");
                }
                return Err(if failed.is_empty() {
                    format!("{} failed", suite.name)
                } else {
                    format!("{} failed: {}", suite.name, failed.join("; "))
                });
            }
        }
    }
    eprint!("{}", ledger.report(rounds));
    let not_run = shared::report(&shared);
    if let Some(r) = &not_run {
        eprint!("{r}");
    }
    if !ledger.all_passed() {
        return Err("a suite failed in at least one round (see above)".into());
    }
    match not_run {
        None => eprintln!("\nxtask test: every suite passed"),
        Some(_) => eprintln!("\nxtask test: every suite that could run passed (see NOT RUN above)"),
    }
    Ok(())
}

/// One suite: a command, where it runs, and its name in the report.
struct Suite {
    name: String,
    dir: PathBuf,
    command: Command,
}

/// The suites `cargo xtask test` runs, in order (rebuilt for each round).
fn test_suites(quick: bool, root: &Path, devserver: &Path) -> Vec<Suite> {
    let mut v = Vec::new();
    let mut add = |name: &str, dir: PathBuf, command: Command| {
        v.push(Suite {
            name: name.to_string(),
            dir,
            command,
        })
    };
    let mut native = cargo();
    native.args(["test", "--workspace", "--exclude", "trigger-devserver"]);
    add(
        "native tests (core, engine, simulator, xtask)",
        root.into(),
        native,
    );
    let mut emulator = cargo();
    emulator.args(["test", "-p", "trigger-devserver"]);
    add("emulator tests, default parallelism", root.into(), emulator);
    let mut emulator = cargo();
    emulator.args(["test", "-p", "trigger-devserver", "--", "--test-threads=1"]);
    add("emulator tests, one thread", root.into(), emulator);
    let browsers: &[Browser] = if quick {
        &[Browser::Chromium]
    } else {
        &[Browser::Chromium, Browser::Firefox, Browser::WebKit]
    };
    for &b in browsers {
        add(
            &format!("browser cases (wasm-pack test) in {}", b.name()),
            root.into(),
            wasm_browser_test(b),
        );
    }
    for suite in JS_SUITES {
        let dir = root.join(suite);
        let mut cmd = Command::new("npm");
        cmd.arg("test")
            .env("DEVSERVER_BIN", devserver)
            // The end-to-end suite's Firefox driver, where xtask installed it.
            .env("GECKODRIVER_PATH", tools::cargo_bin("geckodriver"));
        add(&format!("JavaScript suite {suite}"), dir, cmd);
    }
    v
}

/// The browsers the browser cases and the end-to-end suite run in.
#[derive(Clone, Copy)]
enum Browser {
    Chromium,
    Firefox,
    WebKit,
}

impl Browser {
    fn name(self) -> &'static str {
        match self {
            Browser::Chromium => "Chromium",
            Browser::Firefox => "Firefox",
            Browser::WebKit => "WebKit (WebKitGTK MiniBrowser)",
        }
    }
}

/// The crate's browser cases (`tests/web.rs`, `wasm_bindgen_test`) in a
/// headless browser, as `wasm-pack test --headless` runs them (with the
/// pinned `wasm-bindgen-test-runner`, the drivers installed from the
/// registries, and `webdriver.json` at the crate root). WebKitGTK's driver
/// speaks the protocol of Safari's, so WebKit runs as `--safari`; its
/// MiniBrowser has no headless mode and gets a virtual display from
/// `xvfb-run`.
fn wasm_browser_test(browser: Browser) -> Command {
    let wasm_pack = tools::cargo_bin("wasm-pack");
    let mut cmd = match browser {
        Browser::WebKit => {
            let mut c = Command::new("xvfb-run");
            c.args(["-a", "--server-args=-screen 0 1280x1024x24"])
                .arg(&wasm_pack);
            c
        }
        _ => Command::new(&wasm_pack),
    };
    cmd.args(["test", "--headless"]);
    match browser {
        Browser::Chromium => cmd.args(["--chrome", "--chromedriver", "/usr/bin/chromedriver"]),
        Browser::Firefox => cmd
            .args(["--firefox", "--geckodriver"])
            .arg(tools::cargo_bin("geckodriver")),
        Browser::WebKit => cmd.args(["--safari", "--safaridriver", "/usr/bin/WebKitWebDriver"]),
    };
    // wasm-pack takes the `wasm-bindgen` it finds on PATH when its version
    // is the crate's: put the pinned install first.
    let bin_dir = tools::cargo_bin("wasm-bindgen")
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default();
    let mut path = std::ffi::OsString::from(bin_dir);
    if let Some(rest) = env::var_os("PATH") {
        path.push(":");
        path.push(rest);
    }
    cmd.args([".", "--features", "web", "--test", "web"])
        .env("PATH", path)
        .env("WASM_BINDGEN_TEST_TIMEOUT", "60");
    cmd
}

/// Builds the wasm module in release mode (with the `web` feature: the
/// `#[wasm_bindgen]` transport), generates its bindings with the pinned
/// wasm-bindgen CLI and shrinks it with `wasm-opt`, into `pkg/wasm/`.
pub fn build_package() -> Result {
    let root = root();
    step("build the wasm module");
    run(
        &root,
        cargo().args([
            "rustc",
            "--release",
            "-p",
            "trigger-chat-wasm",
            "--target",
            "wasm32-unknown-unknown",
            // no_std: a panic traps instead of formatting a message. The
            // `web` feature is the browser layer and the module's exports.
            "--no-default-features",
            "--features",
            "web",
            // The cdylib (the .wasm) is asked for here rather than declared in
            // Cargo.toml, so that `wasm-pack build`, which would write its own
            // package over the tracked pkg/, stops at its first check
            // ("crate-type must be cdylib") before it writes into pkg/.
            "--lib",
            "--crate-type",
            "cdylib",
        ]),
    )?;
    let out = root.join("pkg/wasm");
    std::fs::create_dir_all(&out).map_err(|e| format!("{}: {e}", out.display()))?;
    // What earlier builds generated here: gone, so that nothing stale is
    // packed.
    let _ = std::fs::remove_dir_all(out.join("snippets"));
    let wasm = root.join("target/wasm32-unknown-unknown/release/trigger_chat_wasm.wasm");
    step("generate the bindings (wasm-bindgen --target web)");
    tools::ensure_build_tools()?;
    // `--target web`: an ES module with `initSync` (node.js, from the
    // inlined bytes) and an async default `init` (index.js, from the bytes
    // it fetched); it loads the same in every bundler tested and in plain
    // pages, where `--target bundler` needs a bundler that imports `.wasm`.
    run(
        &root,
        Command::new(tools::cargo_bin("wasm-bindgen"))
            .args([
                "--target",
                "web",
                "--no-typescript",
                "--out-name",
                "trigger_chat_wasm",
            ])
            .arg("--out-dir")
            .arg(&out)
            .arg(&wasm),
    )?;
    let shipped = out.join("trigger_chat_wasm_bg.wasm");
    minify_boundary(&shipped, &out.join("trigger_chat_wasm.js"))?;
    bytes_only_loader(&out.join("trigger_chat_wasm.js"))?;
    write_inline_module(&shipped, &out.join("inline.js"))?;
    build_commonjs(&root)?;
    report_sizes(&out)?;
    Ok(())
}

/// The names across the boundary made short: wasm-bindgen names every
/// import after its function and a hash (`__wbg_fetch_fa3fa63331a556e8`,
/// ~100 of them) and every export after its Rust path, and each name is
/// stored twice, in the module and in the bindings, where gzip cannot fold
/// the hashes. `wasm-opt --minify-imports-and-exports-and-modules` renames
/// them in the module (one import module, names of one or two letters) and
/// prints the map, by which the bindings' import keys and `wasm.<export>`
/// reads are renamed to match: 1.8 KB gzip off the module, 1.0 KB off the
/// bindings. The target features section goes here too (the pass needs it).
fn minify_boundary(wasm: &Path, glue: &Path) -> Result {
    let opt = tools::ensure_wasm_opt()?;
    let mut cmd = Command::new(opt);
    // One run shrinks the module and then minifies its boundary: 253 B
    // gzip smaller than the same passes in two runs, and `--converge`
    // (the passes again until the module stops shrinking) 145 B more,
    // where in two runs it gained nothing (2026-12-07).
    // `--flatten --rereloop` before two rounds of `-Oz`: 0.4 KB gzip
    // smaller, as fast. `--low-memory-unused`: the first KB of memory is
    // the bottom of the 1 MB stack (the linker puts the stack first),
    // reached only by a stack about to overflow, so small constant offsets
    // fold into loads and stores (0.2 KB). `--merge-similar-functions`
    // first (functions that differ only in constants become one with a
    // parameter, before the rest inlines them): 161 B gzip (2026-12-07).
    cmd.args([
        "--merge-similar-functions",
        "--flatten",
        "--rereloop",
        "-Oz",
        "-Oz",
        "--converge",
        "--low-memory-unused",
        "--strip-debug",
        "--strip-producers",
        "--strip-target-features",
        "--minify-imports-and-exports-and-modules",
    ])
    .arg(wasm)
    .arg("-o")
    .arg(wasm)
    .current_dir(crate::root());
    eprintln!("\n$ {}", describe(&cmd));
    let output = cmd
        .output()
        .map_err(|e| format!("could not start {}: {e}", describe(&cmd)))?;
    if !output.status.success() {
        return Err(format!(
            "{} failed ({}): {}",
            describe(&cmd),
            output.status,
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    // With `--converge` the passes, the minifying among them, run until
    // nothing shrinks, and each round prints its map: the first renames,
    // the later ones map every short name to itself.
    let printed = String::from_utf8_lossy(&output.stdout);
    let mut rounds = printed.split("\n}");
    let map = rounds.next().unwrap_or_default();
    for line in rounds.flat_map(str::lines).map(str::trim) {
        let quoted: Vec<&str> = line.split('"').skip(1).step_by(2).collect();
        if line.starts_with('[')
            && quoted.len() >= 2
            && quoted[quoted.len() - 2] != quoted[quoted.len() - 1]
        {
            return Err(format!("wasm-opt renamed again in a later round: {line}"));
        }
    }
    let bytes = std::fs::read(wasm).map_err(|e| format!("{}: {e}", wasm.display()))?;
    let module = first_import_module(&bytes).ok_or("the minified module has no imports")?;
    let mut js = std::fs::read_to_string(glue).map_err(|e| format!("{}: {e}", glue.display()))?;
    let mut in_imports = true;
    let (mut imports, mut exports) = (0, 0);
    for line in map.lines() {
        let line = line.trim();
        if line.starts_with("\"exports\"") {
            in_imports = false;
        }
        // `["module", "old", "new"],` or `["old", "new"],`.
        let quoted: Vec<&str> = line.split('"').skip(1).step_by(2).collect();
        if !line.starts_with('[') || quoted.len() < 2 {
            continue;
        }
        let (old, new) = (quoted[quoted.len() - 2], quoted[quoted.len() - 1]);
        let (from, to) = if in_imports {
            if quoted.len() != 3 {
                return Err(format!("unexpected import in the map: {line}"));
            }
            imports += 1;
            (format!("\n        {old}:"), format!("\n        \"{new}\":"))
        } else {
            exports += 1;
            (format!("wasm.{old}"), format!("wasm[\"{new}\"]"))
        };
        let n = replace_names(&mut js, &from, &to);
        // An export the bindings never read (`__abort_handler`, a global)
        // has nothing to rename.
        if n == 0 && in_imports {
            return Err(format!(
                "{old} (renamed {new}) is not in {}",
                glue.display()
            ));
        }
    }
    // The one import module.
    let key = "\n        \"./trigger_chat_wasm_bg.js\": import0,";
    if !js.contains(key) {
        return Err(format!("{} has no import module key", glue.display()));
    }
    js = js.replace(key, &format!("\n        \"{module}\": import0,"));
    // Nothing left under a long name.
    for stale in [
        "wasm.__wbindgen",
        "wasm.transport_",
        "__wbg_get_imports() {\n    const import0 = {\n        __proto__: null,\n        __wbg",
    ] {
        if js.contains(stale) {
            return Err(format!("{} still has {stale}", glue.display()));
        }
    }
    eprintln!("  {imports} imports and {exports} exports renamed");
    std::fs::write(glue, js).map_err(|e| format!("{}: {e}", glue.display()))
}

/// The bindings' loader cut down to what the package's entries use: they
/// hand `init` the module's bytes (`index.js`) or call `initSync`
/// (`node.js`), never a URL or a `Response`, and the bindings are not
/// exported from the package. wasm-bindgen's `--target web` loader also
/// fetches a URL, streams a `Response` and warns about MIME types and
/// deprecated arguments; none of it can run here, and a bundler keeps it
/// all (0.3 KB gzip).
fn bytes_only_loader(glue: &Path) -> Result {
    let mut js = std::fs::read_to_string(glue).map_err(|e| format!("{}: {e}", glue.display()))?;
    let cut = |js: &mut String, from: &str, to: &str, with: &str| -> Result {
        let a = js
            .find(from)
            .ok_or_else(|| format!("{} has no `{from}`", glue.display()))?;
        let b = a + js[a..]
            .find(to)
            .ok_or_else(|| format!("{} has no `{to}` after `{from}`", glue.display()))?;
        js.replace_range(a..b, with);
        Ok(())
    };
    cut(
        &mut js,
        "async function __wbg_load(module, imports) {",
        "function initSync(module) {",
        "async function __wbg_load(module, imports) {\n    \
         // The module's bytes or a compiled module (the package never hands in\n    \
         // a URL or a Response).\n    \
         const instance = await WebAssembly.instantiate(module, imports);\n    \
         return instance instanceof WebAssembly.Instance ? { instance, module } : instance;\n\
         }\n\n",
    )?;
    cut(
        &mut js,
        "async function __wbg_init_once(module_or_path) {",
        "export { initSync, __wbg_init as default };",
        "async function __wbg_init_once(module_or_path) {\n    \
         if (module_or_path !== undefined && Object.getPrototypeOf(module_or_path) === Object.prototype) {\n        \
         ({module_or_path} = module_or_path)\n    \
         }\n    \
         const { instance, module } = await __wbg_load(module_or_path, __wbg_get_imports());\n    \
         return __wbg_finalize_init(instance, module);\n\
         }\n\n",
    )?;
    std::fs::write(glue, js).map_err(|e| format!("{}: {e}", glue.display()))
}

/// Replaces every `from` that is not followed by a name character; how
/// many.
fn replace_names(js: &mut String, from: &str, to: &str) -> usize {
    let mut out = String::with_capacity(js.len());
    let mut rest = js.as_str();
    let mut n = 0;
    while let Some(i) = rest.find(from) {
        let after = rest[i + from.len()..].chars().next();
        let whole = !after.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$');
        out.push_str(&rest[..i]);
        out.push_str(if whole { to } else { from });
        n += usize::from(whole);
        rest = &rest[i + from.len()..];
    }
    out.push_str(rest);
    *js = out;
    n
}

/// The module name of the first import of a wasm module.
fn first_import_module(b: &[u8]) -> Option<String> {
    fn leb(b: &[u8], i: &mut usize) -> Option<usize> {
        let (mut r, mut s) = (0usize, 0);
        loop {
            let x = *b.get(*i)?;
            *i += 1;
            r |= usize::from(x & 0x7f) << s;
            s += 7;
            if x < 0x80 {
                return Some(r);
            }
        }
    }
    let mut i = 8;
    while i < b.len() {
        let id = b[i];
        i += 1;
        let n = leb(b, &mut i)?;
        if id == 2 {
            let mut j = i;
            let count = leb(b, &mut j)?;
            if count == 0 {
                return None;
            }
            let l = leb(b, &mut j)?;
            return String::from_utf8(b.get(j..j + l)?.to_vec()).ok();
        }
        i += n;
    }
    None
}

/// `pkg/wasm/inline.js`: the module's bytes as base64, for the synchronous
/// entries (node.js and the CommonJS build), which run on servers and in
/// test runners where a separate file may be out of reach (bundled or traced
/// servers, Jest). The browser entry (index.js) never imports it: browsers
/// fetch the .wasm file, a third smaller than base64 and compiled while it
/// streams.
fn write_inline_module(wasm: &Path, to: &Path) -> Result {
    let bytes = std::fs::read(wasm).map_err(|e| format!("{}: {e}", wasm.display()))?;
    let js = format!(
        "// Generated by `cargo xtask build` from trigger_chat_wasm_bg.wasm: the\n\
         // module's bytes for the synchronous entries (node.js, the CommonJS build).\n\
         const base64 =\n  \"{}\";\n\n\
         export function wasmBytes() {{\n\
         \x20 if (typeof Buffer === \"function\") return Buffer.from(base64, \"base64\");\n\
         \x20 const text = atob(base64);\n\
         \x20 const bytes = new Uint8Array(text.length);\n\
         \x20 for (let i = 0; i < text.length; i++) bytes[i] = text.charCodeAt(i);\n\
         \x20 return bytes;\n\
         }}\n",
        base64(&bytes)
    );
    std::fs::write(to, js).map_err(|e| format!("{}: {e}", to.display()))
}

fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[(n >> (18 - 6 * i)) as usize & 63]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// The CommonJS build: for each export of `pkg/package.json` with a
/// `require` condition, esbuild bundles its ES module (the `node` target, else
/// `default`) into that `.cjs` file. Package imports stay `require` calls:
/// `react` is the app's own, and react.js's `trigger-chat-wasm` resolves to
/// the CommonJS entry, so both share one class and one wasm instance.
fn build_commonjs(root: &Path) -> Result {
    let esbuild = tools::ensure_esbuild()?;
    let pkg = root.join("pkg");
    let listing = Command::new("node")
        .arg("-e")
        .arg(
            "for (const v of Object.values(require('./package.json').exports))\n\
             \x20 if (v && v.require) console.log(`${v.node ?? v.default} ${v.require.default ?? v.require}`);",
        )
        .current_dir(&pkg)
        .output()
        .map_err(|e| format!("node: {e}"))?;
    if !listing.status.success() {
        return Err(format!(
            "reading pkg/package.json's exports failed: {}",
            String::from_utf8_lossy(&listing.stderr)
        ));
    }
    let listing = String::from_utf8_lossy(&listing.stdout).into_owned();
    let builds: Vec<(&str, &str)> = listing.lines().filter_map(|l| l.split_once(' ')).collect();
    if builds.is_empty() {
        return Err("pkg/package.json's exports name no `require` build".into());
    }
    for (entry, outfile) in builds {
        run(
            &pkg,
            Command::new(&esbuild)
                .args([entry, "--bundle", "--format=cjs", "--platform=neutral"])
                .args(["--target=es2022", "--packages=external"])
                .arg("--log-level=warning")
                // wasm-bindgen's `init()` falls back to the `.wasm` beside it
                // (`new URL(…, import.meta.url)`) when called without bytes;
                // the CommonJS entries always pass bytes (`initSync`), so
                // an empty `import.meta` there is never read.
                .arg("--log-override:empty-import-meta=silent")
                .arg(format!("--outfile={outfile}")),
        )?;
        let out = pkg.join(outfile);
        let text = std::fs::read_to_string(&out).map_err(|e| format!("{}: {e}", out.display()))?;
        if text.contains("import.meta") {
            return Err(format!(
                "{}: the CommonJS build uses import.meta",
                out.display()
            ));
        }
    }
    write_commonjs_types(&pkg)
}

/// The declaration files once more as `.d.cts` under `pkg/wasm/`, for the
/// `require` condition: TypeScript reads a `.d.ts` of a `"type": "module"`
/// package as an ES module, which a CommonJS program (`module: node16`)
/// cannot `require`. Relative imports between them point at `.cjs`.
fn write_commonjs_types(pkg: &Path) -> Result {
    let entries = std::fs::read_dir(pkg).map_err(|e| format!("{}: {e}", pkg.display()))?;
    let mut names: Vec<String> = entries
        .filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().to_str().map(str::to_owned))
        .filter_map(|n| n.strip_suffix(".d.ts").map(str::to_owned))
        .collect();
    names.sort();
    for name in &names {
        let from = pkg.join(format!("{name}.d.ts"));
        let mut text =
            std::fs::read_to_string(&from).map_err(|e| format!("{}: {e}", from.display()))?;
        for other in &names {
            text = text.replace(&format!("\"./{other}.js\""), &format!("\"./{other}.cjs\""));
        }
        let to = pkg.join("wasm").join(format!("{name}.d.cts"));
        std::fs::write(&to, text).map_err(|e| format!("{}: {e}", to.display()))?;
    }
    Ok(())
}

fn report_sizes(dir: &Path) -> Result {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| format!("{}: {e}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    for f in files {
        let raw = std::fs::metadata(&f).map(|m| m.len()).unwrap_or(0);
        let gz = Command::new("gzip")
            .args(["-9", "-c"])
            .arg(&f)
            .output()
            .map(|o| o.stdout.len())
            .unwrap_or(0);
        eprintln!(
            "  {:<40} {:>8} bytes raw {:>8} bytes gzip",
            f.file_name().unwrap_or_default().to_string_lossy(),
            raw,
            gz
        );
    }
    eprintln!(
        "  (browsers load trigger_chat_wasm_bg.wasm beside the package's JavaScript; \
         inline.js and the .cjs files are for servers and `require`)"
    );
    Ok(())
}

/// Installs an npm project's dependencies from its lockfile.
pub fn npm_install(dir: &Path) -> Result {
    let verb = if dir.join("package-lock.json").exists() {
        "ci"
    } else {
        "install"
    };
    run(
        dir,
        Command::new("npm").args([verb, "--no-audit", "--no-fund", "--loglevel=error"]),
    )
}

/// `cargo xtask demo [emulator flags]`: the page and the emulator (API, scripted
/// agent, app server). `cargo xtask demo --api-url URL --secret-key KEY`: the page
/// and the demo's app server only, against another API (a Trigger.dev project
/// running `examples/agent`); the key goes to the server in its environment
/// (`TRIGGER_SECRET_KEY`, also read when `--secret-key` is not given), never on
/// its command line.
fn demo(args: &[String]) -> Result {
    // `cargo xtask demo --port 9000` and `cargo xtask demo -- --port 9000`
    // both pass the flags on to the emulator.
    let mut api_url = None;
    let mut key = None;
    let mut rest: Vec<String> = Vec::new();
    let mut it = args.iter().filter(|a| a.as_str() != "--").cloned();
    while let Some(a) = it.next() {
        let (name, inline) = match a.split_once('=') {
            Some((n, v)) if n.starts_with("--") => (n.to_string(), Some(v.to_string())),
            _ => (a.clone(), None),
        };
        let slot = match name.as_str() {
            "--api-url" => &mut api_url,
            "--secret-key" => &mut key,
            _ => {
                rest.push(a);
                continue;
            }
        };
        let value = inline
            .or_else(|| it.next())
            .ok_or(format!("{name} needs a value"))?;
        *slot = Some(value);
    }
    let key = key.or_else(|| {
        env::var("TRIGGER_SECRET_KEY")
            .ok()
            .filter(|k| !k.is_empty())
    });
    if api_url.is_some() && key.is_none() {
        return Err(
            "--api-url needs the project's secret key: --secret-key KEY or TRIGGER_SECRET_KEY"
                .into(),
        );
    }
    tools::ensure_build_tools()?;
    build_package()?;
    let root = root();
    let www = root.join("www");
    step("build the demo");
    npm_install(&www)?;
    run(&www, Command::new("npm").args(["run", "build"]))?;
    let mut cmd = cargo();
    cmd.args(["run", "--release", "-p", "trigger-devserver"]);
    match (&api_url, key) {
        (Some(url), Some(key)) => {
            step(&format!("serve the demo and its app server, against {url}"));
            cmd.args(["--features", "tls", "--", "--www"])
                .arg(www.join("dist"))
                .args(["--api-url", url])
                .env("TRIGGER_SECRET_KEY", key);
        }
        (_, key) => {
            step("start the emulator and serve the demo");
            cmd.args(["--", "--www"]).arg(www.join("dist"));
            if let Some(k) = key {
                cmd.args(["--secret-key", &k]);
            }
        }
    }
    cmd.args(rest);
    eprintln!("\nThe demo is served here: open the URL printed below (Ctrl-C stops it).");
    run(&root, &mut cmd)
}

/// `cargo xtask soak --seeds N [--first K]`: the deterministic simulation
/// (`tests/sim.rs`) over N seeds from K (default 1), built optimized. A
/// failure prints its seed and trace; `SIM_SEED=x cargo test --test sim
/// random_seeds -- --nocapture` replays one.
fn soak(args: &[String]) -> Result {
    let mut seeds = String::from("100000");
    let mut first = String::from("1");
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let value = |v: Option<&String>| {
            v.filter(|v| v.parse::<u64>().is_ok())
                .cloned()
                .ok_or_else(|| format!("soak: {a} needs a number"))
        };
        match a.as_str() {
            "--seeds" => seeds = value(it.next())?,
            "--first" => first = value(it.next())?,
            other => {
                return Err(format!(
                    "soak: unknown argument {other} (usage: cargo xtask soak --seeds N [--first K])"
                ))
            }
        }
    }
    let mut cmd = cargo();
    cmd.args([
        "test",
        "--release",
        "-p",
        "trigger-chat-wasm",
        "--test",
        "sim",
        "random_seeds",
        "--",
        "--nocapture",
    ])
    .env("SIM_SEEDS", &seeds)
    .env("SIM_FIRST", &first);
    run(&root(), &mut cmd)
}

/// `cargo xtask bench [--quick] [--only=...] [--transports=...]`: builds the
/// package, then runs `tests/bench/` in headless Chromium (ours against the
/// vendor's transport); the flags go to `tests/bench/run.mjs`. Benchmarks are
/// never part of `test`: timings are not tests.
fn bench(args: &[String]) -> Result {
    tools::ensure_all()?;
    build_package()?;
    let dir = root().join("tests/bench");
    npm_install(&dir)?;
    let flags = args.iter().filter(|a| a.as_str() != "--");
    run(
        &dir,
        Command::new("npm").args(["run", "bench", "--"]).args(flags),
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn base64_matches_the_standard_alphabet_and_padding() {
        assert_eq!(super::base64(b""), "");
        assert_eq!(super::base64(b"f"), "Zg==");
        assert_eq!(super::base64(b"fo"), "Zm8=");
        assert_eq!(super::base64(b"foo"), "Zm9v");
        assert_eq!(super::base64(b"foob"), "Zm9vYg==");
        assert_eq!(super::base64(&[0, 0x61, 0x73, 0x6d, 0xff]), "AGFzbf8=");
    }
}
