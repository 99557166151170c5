//! Running a test suite and reading what failed in it, for `cargo xtask test`
//! and `cargo xtask test --repeat N`.
//!
//! A suite's output goes to the terminal line by line as it comes, and each
//! line is also read for the failure markers of the three runners the
//! project uses (cargo's libtest, vitest, `node --test`), so a run can end
//! with the names of the tests that failed in it instead of only "exit 1".

use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::thread;

/// What came of one run of one suite.
#[derive(Debug, Default, Clone)]
pub struct Outcome {
    pub passed: bool,
    /// The failing tests the output named (may be empty for a failure that
    /// named none, such as a build error).
    pub failed: Vec<String>,
    pub seconds: f64,
}

/// Runs `cmd` in `dir`, echoing it and its output, and returns what failed.
/// An error only when the command could not start.
pub fn run_watched(dir: &Path, cmd: &mut Command) -> Result<Outcome, String> {
    cmd.current_dir(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let shown = crate::describe(cmd);
    eprintln!("\n$ {shown}");
    let started = std::time::Instant::now();
    let mut child = cmd
        .spawn()
        .map_err(|e| format!("could not start {shown}: {e}"))?;
    let (tx, rx) = mpsc::channel::<String>();
    let pipes: Vec<Box<dyn Read + Send>> = vec![
        Box::new(child.stdout.take().expect("stdout is piped")),
        Box::new(child.stderr.take().expect("stderr is piped")),
    ];
    let readers: Vec<_> = pipes
        .into_iter()
        .map(|pipe| {
            let tx = tx.clone();
            thread::spawn(move || {
                let mut reader = BufReader::new(pipe);
                let mut line = Vec::new();
                // Lines as bytes: a test may print anything.
                while reader.read_until(b'\n', &mut line).unwrap_or(0) > 0 {
                    let text = String::from_utf8_lossy(&line).into_owned();
                    let _ = std::io::stderr().write_all(text.as_bytes());
                    if tx.send(text).is_err() {
                        break;
                    }
                    line.clear();
                }
            })
        })
        .collect();
    drop(tx);
    let mut failed = Vec::new();
    for line in rx {
        if let Some(name) = failed_test(&line) {
            if !failed.contains(&name) {
                failed.push(name);
            }
        }
    }
    for r in readers {
        let _ = r.join();
    }
    let status = child
        .wait()
        .map_err(|e| format!("could not wait for {shown}: {e}"))?;
    Ok(Outcome {
        passed: status.success(),
        failed,
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// The name of the test a line of output reports as failed, if it does.
///
/// - libtest: `test engine::tests::name ... FAILED`
/// - vitest: ` FAIL  |pkg| test/x.test.js > group > name` (and the
///   default reporter's `× name` lines, which name the same tests)
/// - `node --test` (spec reporter): `✖ name (12.3ms)`, also printed again
///   under "failing tests"
pub fn failed_test(line: &str) -> Option<String> {
    let line = strip_ansi(line);
    let t = line.trim();
    if let Some(rest) = t.strip_prefix("test ") {
        if let Some(name) = rest.strip_suffix(" ... FAILED") {
            return Some(name.trim().to_string());
        }
        return None;
    }
    if let Some(rest) = t.strip_prefix("FAIL ") {
        let name = rest.trim();
        // vitest's summary of a file with no test names (a load error) and
        // its totals line are not test names.
        if name.is_empty() || name.starts_with("Tests ") {
            return None;
        }
        return Some(name.to_string());
    }
    if let Some(rest) = t.strip_prefix('✖') {
        let name = rest.trim();
        // The spec reporter's heading of the failure list.
        if name.is_empty() || name == "failing tests:" {
            return None;
        }
        return Some(drop_duration(name).to_string());
    }
    None
}

/// `name (12.3ms)` → `name`.
fn drop_duration(name: &str) -> &str {
    match name.rfind(" (") {
        Some(at) if name.ends_with("ms)") || name.ends_with("s)") => &name[..at],
        _ => name,
    }
}

/// The text of a line without its terminal colour codes.
fn strip_ansi(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            // CSI: ESC [ params final-byte
            if chars.next() == Some('[') {
                for c in chars.by_ref() {
                    if c.is_ascii_alphabetic() {
                        break;
                    }
                }
            }
            continue;
        }
        out.push(c);
    }
    out
}

/// Every run of every suite, for the closing report.
#[derive(Default)]
pub struct Ledger {
    runs: Vec<(usize, String, Outcome)>,
}

impl Ledger {
    pub fn record(&mut self, round: usize, suite: &str, outcome: Outcome) {
        self.runs.push((round, suite.to_string(), outcome));
    }

    pub fn all_passed(&self) -> bool {
        self.runs.iter().all(|(_, _, o)| o.passed)
    }

    /// One line per suite and round, then every failing test with the rounds
    /// it failed in.
    pub fn report(&self, rounds: usize) -> String {
        let mut s = String::new();
        s.push_str(&format!("\n==== results over {rounds} round(s)\n"));
        for (round, suite, o) in &self.runs {
            s.push_str(&format!(
                "round {round}  {:<6} {:>7.1} s  {suite}\n",
                if o.passed { "ok" } else { "FAILED" },
                o.seconds
            ));
        }
        let mut by_test: Vec<(String, Vec<usize>)> = Vec::new();
        for (round, suite, o) in &self.runs {
            let names: Vec<String> = if o.failed.is_empty() && !o.passed {
                vec![format!("{suite}: (the suite failed without naming a test)")]
            } else {
                o.failed.iter().map(|n| format!("{suite}: {n}")).collect()
            };
            for name in names {
                match by_test.iter_mut().find(|(n, _)| *n == name) {
                    Some((_, rs)) => rs.push(*round),
                    None => by_test.push((name, vec![*round])),
                }
            }
        }
        if by_test.is_empty() {
            s.push_str("no test failed in any round\n");
        } else {
            s.push_str("failed tests (rounds they failed in):\n");
            for (name, rs) in by_test {
                let rs: Vec<String> = rs.iter().map(|r| r.to_string()).collect();
                s.push_str(&format!("  {name}  [{}]\n", rs.join(", ")));
            }
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_failures_of_each_runner() {
        assert_eq!(
            failed_test("test engine::tests::gate ... FAILED\n").as_deref(),
            Some("engine::tests::gate")
        );
        assert_eq!(failed_test("test engine::tests::gate ... ok\n"), None);
        assert_eq!(
            failed_test(" FAIL  |pkg| test/ai-sdk.test.js > useChat > streams\n").as_deref(),
            Some("|pkg| test/ai-sdk.test.js > useChat > streams")
        );
        assert_eq!(
            failed_test("\u{1b}[31m✖ Stop works after a reload \u{1b}[90m(2012.5ms)\u{1b}[39m\n")
                .as_deref(),
            Some("Stop works after a reload")
        );
        assert_eq!(failed_test("✖ failing tests:\n"), None);
        assert_eq!(failed_test("✔ a passing test (3ms)\n"), None);
        assert_eq!(failed_test("running 3 tests\n"), None);
    }

    #[test]
    fn the_report_groups_a_test_by_the_rounds_it_failed_in() {
        let mut l = Ledger::default();
        let fail = |n: &str| Outcome {
            passed: false,
            failed: vec![n.to_string()],
            seconds: 1.0,
        };
        l.record(1, "e2e", fail("resume"));
        l.record(
            2,
            "e2e",
            Outcome {
                passed: true,
                ..Outcome::default()
            },
        );
        l.record(3, "e2e", fail("resume"));
        l.record(3, "native", Outcome::default());
        assert!(!l.all_passed());
        let r = l.report(3);
        assert!(r.contains("e2e: resume  [1, 3]"), "{r}");
        assert!(
            r.contains("native: (the suite failed without naming a test)  [3]"),
            "{r}"
        );
    }

    #[test]
    fn a_clean_ledger_says_so() {
        let mut l = Ledger::default();
        l.record(
            1,
            "native",
            Outcome {
                passed: true,
                ..Outcome::default()
            },
        );
        assert!(l.all_passed());
        assert!(l.report(1).contains("no test failed in any round"));
    }
}
