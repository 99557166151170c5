//! `trigger-devserver`: run the local Trigger.dev emulator.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use trigger_devserver::client::ApiTarget;
use trigger_devserver::{start, Config};

const USAGE: &str = "usage: trigger-devserver [--port 8787] [--host 127.0.0.1] [--secret-key KEY]
    [--token-ttl-seconds 3600] [--faults] [--www DIR] [--db FILE|:memory:]
    [--chunk-delay-ms 20] [--run-boot-ms 0] [--idle-timeout-seconds 30] [--max-stream-seconds 600]
    [--max-sessions 1000] [--max-records-per-session 10000] [--max-part-ids 1000]
    [--max-out-connections 1000] [--fault-out-cut-bytes MAX|MIN-MAX]
    [--api-url URL [--task-id ai-chat]]   (the key: --secret-key or TRIGGER_SECRET_KEY)";

fn parse_args(args: Vec<String>) -> Result<Config, String> {
    let mut c = Config {
        db: Some(default_db()),
        ..Config::default()
    };
    let mut key_given = false;
    let mut it = args.into_iter();
    while let Some(flag) = it.next() {
        let (name, inline) = match flag.split_once('=') {
            Some((n, v)) if n.starts_with("--") => (n.to_string(), Some(v.to_string())),
            _ => (flag.clone(), None),
        };
        if name == "--faults" {
            c.faults = true;
            continue;
        }
        if name == "--help" || name == "-h" {
            return Err(String::new());
        }
        let mut value = || {
            inline
                .clone()
                .or_else(|| it.next())
                .ok_or(format!("{name} needs a value"))
        };
        let num = |v: String| {
            v.parse::<u64>()
                .map_err(|_| format!("{name} needs a non-negative integer, got {v:?}"))
        };
        match name.as_str() {
            "--port" => {
                let v = value()?;
                c.port = v
                    .parse()
                    .map_err(|_| format!("--port needs a port number, got {v:?}"))?;
            }
            "--host" => c.host = value()?,
            "--secret-key" => {
                let v = value()?;
                if v.is_empty() {
                    return Err("--secret-key must not be empty".into());
                }
                c.secret_key = v;
                key_given = true;
            }
            "--token-ttl-seconds" => c.token_ttl_secs = num(value()?)?.max(1),
            "--www" => c.www = Some(PathBuf::from(value()?)),
            "--db" => {
                let v = value()?;
                c.db = if v == ":memory:" {
                    None
                } else {
                    Some(PathBuf::from(v))
                };
            }
            "--chunk-delay-ms" => c.chunk_delay_ms = num(value()?)?,
            "--run-boot-ms" => c.run_boot_ms = num(value()?)?.min(60_000),
            "--idle-timeout-seconds" => c.idle_timeout_secs = num(value()?)?.max(1),
            "--max-stream-seconds" => c.max_stream_secs = num(value()?)?.clamp(1, 600),
            "--max-sessions" => {
                c.limits.max_sessions = num(value()?)?.clamp(1, 10_000_000) as usize
            }
            "--max-records-per-session" => {
                c.limits.max_records = num(value()?)?.clamp(16, 10_000_000) as usize
            }
            "--max-part-ids" => {
                c.limits.max_part_ids = num(value()?)?.clamp(1, 10_000_000) as usize
            }
            "--max-out-connections" => c.max_out_connections = num(value()?)?.max(1),
            "--fault-out-cut-bytes" => {
                let v = value()?;
                let (lo, hi) = match v.split_once('-') {
                    Some((a, b)) => (num(a.to_string())?, num(b.to_string())?),
                    None => (1, num(v.clone())?),
                };
                c.out_cut_bytes = trigger_devserver::faults::check_cut_window(lo, hi)
                    .map_err(|e| format!("--fault-out-cut-bytes {v:?}: {e}"))?;
            }
            "--api-url" => {
                let v = value()?;
                let url = v.trim_end_matches('/').to_string();
                if !(url.starts_with("http://") || url.starts_with("https://")) || url.contains('?')
                {
                    return Err(format!("--api-url needs an http(s) URL, got {v:?}"));
                }
                c.api_target = ApiTarget::Remote(url);
            }
            "--task-id" => {
                let v = value()?;
                if v.is_empty() || v.len() > 128 {
                    return Err("--task-id must be 1-128 characters".into());
                }
                c.task_id = v;
            }
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    if let ApiTarget::Remote(_) = c.api_target {
        if !key_given {
            match std::env::var("TRIGGER_SECRET_KEY") {
                Ok(k) if !k.trim().is_empty() => c.secret_key = k.trim().to_string(),
                _ => return Err(
                    "--api-url needs the project's secret key: TRIGGER_SECRET_KEY or --secret-key"
                        .into(),
                ),
            }
        }
    }
    Ok(c)
}

/// `target/trigger-devserver/devserver.sqlite` under the workspace (or the current dir).
fn default_db() -> PathBuf {
    let base = option_env!("CARGO_MANIFEST_DIR")
        .map(|d| PathBuf::from(d).join("..").join("target"))
        .filter(|p| p.exists())
        .unwrap_or_else(|| PathBuf::from("target"));
    base.join("trigger-devserver").join("devserver.sqlite")
}

fn main() -> ExitCode {
    let config = match parse_args(std::env::args().skip(1).collect()) {
        Ok(c) => c,
        Err(e) => {
            if !e.is_empty() {
                eprintln!("trigger-devserver: {e}");
            }
            eprintln!("{USAGE}");
            return if e.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(2)
            };
        }
    };
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("trigger-devserver: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    rt.block_on(async move {
        let faults = config.faults;
        let db = config.db.clone();
        let www = config.www.clone();
        let running = match start(config).await {
            Ok(r) => r,
            Err(e) => {
                eprintln!("trigger-devserver: {e}");
                return ExitCode::FAILURE;
            }
        };
        let mut out = std::io::stdout().lock();
        let _ = writeln!(
            out,
            "trigger-devserver listening on http://{}",
            running.addr
        );
        match &running.state.config.api_target {
            // The emulator's own key is for local use; a real project's key is never printed.
            ApiTarget::Local => {
                let _ = writeln!(out, "secret key: {}", running.state.config.secret_key);
            }
            ApiTarget::Remote(url) => {
                let _ = writeln!(out, "app server for the API at {url}");
            }
        }
        let _ = out.flush();
        drop(out);
        eprintln!(
            "trigger-devserver: database {}, faults {}, www {}",
            db.map(|p| p.display().to_string())
                .unwrap_or_else(|| ":memory:".into()),
            if faults { "on" } else { "off" },
            www.map(|p| p.display().to_string())
                .unwrap_or_else(|| "-".into()),
        );
        let _ = tokio::signal::ctrl_c().await;
        eprintln!("trigger-devserver: shutting down");
        let _ = running.shutdown.send(());
        let _ = tokio::time::timeout(std::time::Duration::from_secs(5), running.handle).await;
        ExitCode::SUCCESS
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn parses_flags() {
        let c = parse_args(args(&[
            "--port",
            "0",
            "--faults",
            "--db",
            ":memory:",
            "--chunk-delay-ms=5",
        ]))
        .unwrap();
        assert_eq!(c.port, 0);
        assert!(c.faults);
        assert!(c.db.is_none());
        assert_eq!(c.chunk_delay_ms, 5);
        assert!(parse_args(args(&["--port", "x"])).is_err());
        assert!(parse_args(args(&["--bogus"])).is_err());
        assert!(parse_args(args(&["--port"])).is_err());
        let c = parse_args(args(&["--fault-out-cut-bytes", "3000", "--max-sessions=5"])).unwrap();
        assert_eq!(c.out_cut_bytes, Some((1, 3000)));
        assert_eq!(c.limits.max_sessions, 5);
        let c = parse_args(args(&["--fault-out-cut-bytes", "10-20"])).unwrap();
        assert_eq!(c.out_cut_bytes, Some((10, 20)));
        assert!(parse_args(args(&["--fault-out-cut-bytes", "20-10"])).is_err());
        assert!(parse_args(args(&["--api-url", "ftp://x"])).is_err());
        let c = parse_args(args(&[
            "--api-url",
            "http://127.0.0.1:9/",
            "--secret-key",
            "k",
        ]))
        .unwrap();
        assert!(matches!(c.api_target, ApiTarget::Remote(ref u) if u == "http://127.0.0.1:9"));
    }
}
