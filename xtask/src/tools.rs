//! Installs the toolchain pieces a fresh machine lacks. Everything comes from
//! the package registries this project may reach: rustup's wasm32 target,
//! crates (wasm-bindgen-cli, wasm-pack, geckodriver) and Debian packages (Chromium,
//! ChromeDriver, Firefox ESR, binaryen). Installs are cached under
//! `~/.cargo/bin` and `/usr/bin`, so the next run skips them.

use crate::{run, Result};
use std::path::{Path, PathBuf};
use std::process::Command;

/// The wasm-bindgen CLI must match the `wasm-bindgen` crate in Cargo.lock
/// exactly; Cargo.toml pins the crate with `=` to this version.
pub const WASM_BINDGEN_VERSION: &str = "0.2.130";

pub fn cargo_bin(name: &str) -> PathBuf {
    let home = std::env::var("CARGO_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|_| {
            PathBuf::from(std::env::var("HOME").unwrap_or_default()).join(".cargo")
        });
    home.join("bin").join(name)
}

fn output_of(cmd: &mut Command) -> Option<String> {
    let out = cmd.output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

/// binaryen's `wasm-opt`, from the npm registry. Debian's binaryen (108)
/// predates the reference-types output of current Rust and breaks the
/// module; the npm build is current and runs on Node.
pub const BINARYEN_VERSION: &str = "132.0.0";

/// esbuild, from the npm registry: turns the package's ES modules into its
/// CommonJS build (`pkg/wasm/*.cjs`).
pub const ESBUILD_VERSION: &str = "0.28.2";

/// What `cargo xtask build` and `demo` need.
pub fn ensure_build_tools() -> Result {
    ensure_wasm_target()?;
    ensure_wasm_bindgen()?;
    ensure_node()?;
    ensure_wasm_opt().map(|_| ())
}

/// Installs binaryen and esbuild from npm under `target/tools/` (one install,
/// so that neither prunes the other) unless both are there at their versions.
fn ensure_npm_tools() -> Result<PathBuf> {
    let dir = crate::root().join("target/tools");
    let wanted = [("binaryen", BINARYEN_VERSION), ("esbuild", ESBUILD_VERSION)];
    let have = |name: &str, version: &str| {
        let manifest = dir.join("node_modules").join(name).join("package.json");
        std::fs::read_to_string(manifest)
            .unwrap_or_default()
            .contains(&format!("\"version\": \"{version}\""))
    };
    if wanted.iter().all(|(n, v)| have(n, v)) {
        return Ok(dir);
    }
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let mut cmd = Command::new("npm");
    cmd.args([
        "install",
        "--no-save",
        "--no-audit",
        "--no-fund",
        "--loglevel=error",
        "--prefix",
        ".",
    ]);
    for (name, version) in wanted {
        cmd.arg(format!("{name}@{version}"));
    }
    run(&dir, &mut cmd)?;
    Ok(dir)
}

fn npm_tool(package: &str, bin: &str) -> Result<PathBuf> {
    let path = ensure_npm_tools()?
        .join("node_modules")
        .join(package)
        .join(bin);
    if !path.exists() {
        return Err(format!(
            "{package} installed, but {} is missing",
            path.display()
        ));
    }
    Ok(path)
}

/// binaryen's `wasm-opt` (installed under `target/tools/` if missing).
pub fn ensure_wasm_opt() -> Result<PathBuf> {
    npm_tool("binaryen", "bin/wasm-opt")
}

/// esbuild's binary (installed under `target/tools/` if missing).
pub fn ensure_esbuild() -> Result<PathBuf> {
    npm_tool("esbuild", "bin/esbuild")
}

/// What `cargo xtask test` needs: the build tools plus the three browsers.
pub fn ensure_all() -> Result {
    ensure_wasm_target()?;
    ensure_wasm_bindgen()?;
    ensure_apt(&[
        ("/usr/bin/chromium", "chromium"),
        ("/usr/bin/chromedriver", "chromium-driver"),
        ("/usr/bin/firefox-esr", "firefox-esr"),
        // WebKitGTK's WebDriver; it drives WebKitGTK's MiniBrowser, which
        // needs a display: Xvfb gives it one.
        ("/usr/bin/WebKitWebDriver", "webkit2gtk-driver"),
        ("/usr/bin/xvfb-run", "xvfb"),
        ("/usr/bin/uuidgen", "uuid-runtime"),
        ("/usr/bin/curl", "curl"),
        ("/usr/bin/jq", "jq"),
    ])?;
    ensure_geckodriver()?;
    ensure_wasm_pack()?;
    ensure_node()?;
    ensure_wasm_opt().map(|_| ())
}

fn ensure_wasm_target() -> Result {
    let installed = output_of(Command::new("rustup").args(["target", "list", "--installed"]))
        .unwrap_or_default();
    if installed
        .lines()
        .any(|l| l.trim() == "wasm32-unknown-unknown")
    {
        return Ok(());
    }
    run(
        Path::new("."),
        Command::new("rustup").args(["target", "add", "wasm32-unknown-unknown"]),
    )
}

fn ensure_wasm_bindgen() -> Result {
    let bin = cargo_bin("wasm-bindgen");
    let have = output_of(Command::new(&bin).arg("--version")).unwrap_or_default();
    let runner = cargo_bin("wasm-bindgen-test-runner");
    if have.split_whitespace().nth(1) == Some(WASM_BINDGEN_VERSION) && runner.exists() {
        return Ok(());
    }
    cargo_install(&[
        "wasm-bindgen-cli",
        "--version",
        &format!("={WASM_BINDGEN_VERSION}"),
    ])
}

fn ensure_geckodriver() -> Result {
    if cargo_bin("geckodriver").exists() {
        return Ok(());
    }
    cargo_install(&["geckodriver"])
}

/// `wasm-pack`, which runs the browser cases (`wasm-pack test --headless`);
/// it finds the pinned `wasm-bindgen` CLI above and downloads nothing.
fn ensure_wasm_pack() -> Result {
    if cargo_bin("wasm-pack").exists() {
        return Ok(());
    }
    cargo_install(&["wasm-pack"])
}

/// `cargo install --locked` first; some crates' lockfiles name versions the
/// registry here does not serve, so fall back to a fresh resolution.
fn cargo_install(args: &[&str]) -> Result {
    let dir = Path::new(".");
    let mut locked = Command::new("cargo");
    locked.arg("install").args(args).arg("--locked");
    if run(dir, &mut locked).is_ok() {
        return Ok(());
    }
    eprintln!("cargo install --locked failed; retrying without --locked");
    run(dir, Command::new("cargo").arg("install").args(args))
}

fn ensure_apt(wanted: &[(&str, &str)]) -> Result {
    let missing: Vec<&str> = wanted
        .iter()
        .filter(|(path, _)| !Path::new(path).exists())
        .map(|(_, pkg)| *pkg)
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    let sudo = output_of(Command::new("id").arg("-u")).map(|s| s.trim() != "0") == Some(true);
    let apt = |args: &[&str]| {
        let mut c = if sudo {
            let mut c = Command::new("sudo");
            c.arg("apt-get");
            c
        } else {
            Command::new("apt-get")
        };
        c.args(args).env("DEBIAN_FRONTEND", "noninteractive");
        c
    };
    run(Path::new("."), &mut apt(&["update", "-q"]))?;
    let mut install = apt(&["install", "-y", "-q"]);
    install.args(&missing);
    run(Path::new("."), &mut install)
}

fn ensure_node() -> Result {
    let v = output_of(Command::new("node").arg("--version"))
        .ok_or("Node.js is required (node was not found on PATH)")?;
    let major: u32 = v
        .trim()
        .trim_start_matches('v')
        .split('.')
        .next()
        .and_then(|m| m.parse().ok())
        .unwrap_or(0);
    if major < 20 {
        return Err(format!(
            "Node.js 20 or newer is required, found {}",
            v.trim()
        ));
    }
    Ok(())
}
