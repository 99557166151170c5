//! Native throughput of the `.out` decode path: `cargo run --release --example decode_bench`.
//! (The browser benchmark is `cargo xtask bench`.)
use std::time::Instant;
use trigger_chat_wasm::{Action, Subscription, SubscriptionConfig};

fn main() {
    let n = 200_000u64;
    // Records per SSE event (`PER_EVENT=16`): the browser bench runs 1 and 16.
    let per_event: u64 = std::env::var("PER_EVENT")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1)
        .max(1);
    let mut text = String::new();
    let mut records = Vec::new();
    for i in 1..=n {
        let chunk = format!(r#"{{"type":"text-delta","id":"txt-1","delta":"token{i} "}}"#);
        let body = format!(r#"{{"data":{chunk},"id":"part-{i}"}}"#);
        records.push(format!(
            r#"{{"seq_num":{i},"timestamp":{},"body":{},"headers":[]}}"#,
            1_700_000_000_000u64 + i,
            trigger_chat_wasm::json::quote(&body)
        ));
        if i % per_event == 0 || i == n {
            text.push_str(&format!(
                "id: {i},{},{}\nevent: batch\ndata: {{\"records\":[{}],\"tail\":{{\"seq_num\":{i},\"timestamp\":1}}}}\n\n",
                i + 1,
                i * 100,
                records.join(",")
            ));
            records.clear();
        }
    }
    let bytes = text.into_bytes();
    for _ in 0..3 {
        let mut sub = Subscription::new(SubscriptionConfig::default());
        assert!(matches!(sub.poll_action(), Action::Connect(_)));
        sub.handle_response(200, false);
        let t0 = Instant::now();
        let mut count = 0;
        for piece in bytes.chunks(64 * 1024) {
            sub.handle_bytes(piece).unwrap();
            if let Some((_json, k)) = sub.take_chunks() {
                count += k;
            }
        }
        let dt = t0.elapsed().as_secs_f64();
        println!(
            "{count} chunks, {:.0} chunks/s, {:.0} MB/s",
            count as f64 / dt,
            bytes.len() as f64 / dt / 1e6
        );
    }
}
