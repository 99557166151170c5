//! What the tests read from `../shared` beside the repository (the vendor's
//! 4.8.3 test files, the vendor's documentation), found or not.
//!
//! CI has that folder; a plain clone does not. `cargo xtask test` then runs
//! everything else and ends by naming what it could not run: each consumer
//! is told, through its environment, either where the files are or that
//! their absence will be reported (so run by hand, without `xtask`, a
//! missing folder is still an error, never a quiet skip).

use std::path::{Path, PathBuf};

/// One thing the tests read from `../shared`.
pub struct Item {
    /// What it is, for the report.
    pub what: &'static str,
    /// Where it was looked for.
    pub path: PathBuf,
    pub found: bool,
}

/// The shared folder: `TRIGGER_SHARED_DIR`, else `../shared` beside the repository.
fn shared_dir(root: &Path) -> PathBuf {
    match std::env::var_os("TRIGGER_SHARED_DIR") {
        Some(d) if !d.is_empty() => PathBuf::from(d),
        _ => root.join("..").join("shared"),
    }
}

/// Looks for each item and sets the environment the test suites read:
/// `VENDOR_TESTS_483` / `TRIGGER_SPEC_DIR` where found, else
/// `VENDOR_TESTS_483_ABSENT=report` / `TRIGGER_SPEC_ABSENT=report`.
/// A location the caller already set in the environment is kept.
pub fn locate(root: &Path) -> Vec<Item> {
    let dir = shared_dir(root);
    let vendor = std::env::var_os("VENDOR_TESTS_483")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| dir.join("vendor-tests-4.8.3"));
    let spec = std::env::var_os("TRIGGER_SPEC_DIR")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| dir.join("spec"));
    let items = [
        (
            "the vendor's 4.8.3 transport tests (tests/pkg, project vendor-4.8.3)",
            vendor,
            "postdate-4.8.3.json",
            "VENDOR_TESTS_483",
            "VENDOR_TESTS_483_ABSENT",
        ),
        (
            "the curl recipe of the vendor's client-protocol.mdx (devserver/tests/curl_recipe.rs)",
            spec,
            "trigger-sdk-4.5.0/ai-chat/client-protocol.mdx",
            "TRIGGER_SPEC_DIR",
            "TRIGGER_SPEC_ABSENT",
        ),
    ];
    items
        .into_iter()
        .map(|(what, path, marker, found_var, absent_var)| {
            let found = path.join(marker).is_file();
            // Set before any thread or child exists: xtask is single-threaded here.
            if found {
                std::env::set_var(found_var, &path);
                std::env::remove_var(absent_var);
            } else {
                std::env::set_var(absent_var, "report");
            }
            Item { what, path, found }
        })
        .collect()
}

/// The closing lines about what was not found, if anything.
pub fn report(items: &[Item]) -> Option<String> {
    let missing: Vec<&Item> = items.iter().filter(|i| !i.found).collect();
    if missing.is_empty() {
        return None;
    }
    let mut s = String::from("NOT RUN, their files were not found:\n");
    for i in missing {
        s.push_str(&format!("  {}: not at {}\n", i.what, i.path.display()));
    }
    s.push_str(
        "  (put the shared folder at ../shared beside the repository, or set \
         TRIGGER_SHARED_DIR, to run them)\n",
    );
    Some(s)
}
