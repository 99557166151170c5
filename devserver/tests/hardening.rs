//! Issue 10: the credential-free routes refuse other origins, numbers are checked,
//! ids are checked alike, `.in` is processed in seq order, the demo database
//! forgets a stale cursor, limits answer 429, and the byte-cut `.out` fault.

mod common;

use common::*;
use serde_json::{json, Value};

fn has_cors(r: &Resp) -> bool {
    r.headers
        .keys()
        .any(|k| k.as_str().starts_with("access-control-"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn app_routes_refuse_foreign_origins_api_routes_do_not() {
    let srv = Srv::start().await;
    let host = srv.base.trim_start_matches("http://").to_string();
    let own = srv.base.clone();
    let r = srv.call("POST", "/app/chats/o-1/start", None, None).await;
    assert_eq!(r.status, 200, "{}", r.body);

    let evil = [("origin", "https://evil.example")];
    for (m, p) in [
        ("GET", "/app/chats"),
        ("GET", "/app/chats/o-1"),
        ("POST", "/app/chats/o-1/token"),
        ("POST", "/app/chats/o-1/start"),
        ("DELETE", "/app/chats/o-1"),
        ("GET", "/app/config"),
        ("GET", "/_dev/stats"),
        ("OPTIONS", "/app/chats"),
    ] {
        let r = srv.req(m, p, &evil, None).await;
        assert_eq!(r.status, 403, "{m} {p}: {}", r.body);
        assert!(!has_cors(&r), "{m} {p} must not carry CORS headers");
        assert!(!r.body.contains("o-1"), "{m} {p} leaked: {}", r.body);
        assert!(!r.body.contains("eyJ"), "{m} {p} leaked a token");
    }
    // The chat is still there: the refused DELETE did nothing.
    let list = srv.get("/app/chats").await;
    assert_eq!(list.status, 200);
    assert!(!has_cors(&list));
    assert_eq!(list.json()[0]["id"], "o-1");

    // A page of this server (same origin), with or without Origin, is served.
    let same = [("origin", own.as_str()), ("sec-fetch-site", "same-origin")];
    assert_eq!(srv.req("GET", "/app/chats", &same, None).await.status, 200);
    // A sibling site and a DNS-rebinding name are refused.
    let sibling = [("sec-fetch-site", "same-site")];
    assert_eq!(
        srv.req("GET", "/app/chats", &sibling, None).await.status,
        403
    );
    let rebound = [
        ("host", "attacker.example:8787"),
        ("origin", "http://attacker.example:8787"),
    ];
    assert_eq!(
        srv.req("GET", "/app/chats", &rebound, None).await.status,
        403
    );
    let localhost = [
        ("host", "localhost:1234"),
        ("origin", "http://localhost:1234"),
    ];
    assert_eq!(
        srv.req("GET", "/app/chats", &localhost, None).await.status,
        200
    );
    let other_port = [("host", host.as_str()), ("origin", "http://127.0.0.1:1")];
    assert_eq!(
        srv.req("GET", "/app/chats", &other_port, None).await.status,
        403
    );

    // The bearer-token API answers any origin, as the real one does.
    let r = srv
        .req(
            "GET",
            "/api/v1/sessions/o-1",
            &[
                ("origin", "https://evil.example"),
                ("authorization", &format!("Bearer {KEY}")),
            ],
            None,
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.header("access-control-allow-origin").as_deref(),
        Some("https://evil.example")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn huge_last_event_id_is_a_400_not_a_panic() {
    let srv = Srv::start().await;
    let pat = srv.create_token("n-1", Some("hello")).await;
    for v in [
        "18446744073709551615",
        "18446744073709551616",
        "99999999999999999999999",
    ] {
        let r = srv
            .out_response("n-1", Some(&pat), &[("last-event-id", v)])
            .await;
        assert_eq!(r.status, 400, "{v}: {}", r.body);
        assert_eq!(r.json()["ok"], false);
    }
    // Still serving, and an ordinary resume works.
    let t = srv.turn("n-1", &pat, None).await;
    assert_eq!(text_of(&t), "Echo: hello");
    let r = srv
        .fault(
            "fail-appends",
            Some(json!({ "count": 1, "status": 429, "resetMs": 1e300 })),
        )
        .await;
    assert_eq!(r.status, 400);
    let r = srv
        .fault(
            "fail-appends",
            Some(json!({ "count": 1, "status": 429, "resetMs": 86_400_000u64 })),
        )
        .await;
    assert_eq!(r.status, 200);
    let r = srv.say("n-1", &pat, "u2", "x").await;
    assert_eq!(r.status, 429);
    let reset: u64 = r.header("x-ratelimit-reset").unwrap().parse().unwrap();
    assert!(reset > 86_400_000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ids_with_surrounding_spaces_are_refused_everywhere() {
    let srv = Srv::start().await;
    for id in ["%20padded", "padded%20", "%20padded%20", "tab%09"] {
        let r = srv
            .call("POST", &format!("/app/chats/{id}/start"), None, None)
            .await;
        assert_eq!(r.status, 400, "{id}: {}", r.body);
        assert!(r.json()["error"]
            .as_str()
            .unwrap()
            .contains("Invalid chat id"));
        for (m, p) in [
            ("POST", format!("/app/chats/{id}/token")),
            ("GET", format!("/app/chats/{id}")),
            ("DELETE", format!("/app/chats/{id}")),
        ] {
            assert_eq!(srv.req(m, &p, &[], None).await.status, 400, "{m} {p}");
        }
    }
    let r = srv.create_as(Some(KEY), " padded ", None).await;
    assert_eq!(r.status, 400, "{}", r.body);
    assert!(r.json()["error"].as_str().unwrap().contains("whitespace"));
    // Inner spaces are an ordinary id, on both sides.
    let r = srv
        .call("POST", "/app/chats/two%20words/start", None, None)
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let pat = token_in(&r.json());
    assert_eq!(srv.retrieve("two%20words", Some(&pat)).await.status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn app_bodies_up_to_16_mib_are_accepted() {
    let srv = Srv::start().await;
    let big = "x".repeat(12 * 1024 * 1024);
    let body = json!({ "messages": [{ "id": "m", "role": "user", "parts": [{ "type": "text", "text": big }] }] });
    let r = srv
        .call("PUT", "/app/chats/big/messages", None, Some(body))
        .await;
    assert_eq!(r.status, 200, "{}", &r.body[..r.body.len().min(200)]);
    let over = "x".repeat(17 * 1024 * 1024);
    let body = json!({ "messages": [{ "id": "m", "text": over }] });
    let r = srv
        .call("PUT", "/app/chats/big/messages", None, Some(body))
        .await;
    assert_eq!(r.status, 413);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parallel_appends_are_processed_in_seq_order() {
    let srv = Srv::start_with(|c| {
        c.idle_timeout_secs = 1;
        c.chunk_delay_ms = 2;
        // Twelve quick turns: on a loaded machine the server's side of the
        // stream can fall more than a turn behind the agent, and a turn's
        // trim then takes records it has not sent. This test reads every
        // record, so nothing is trimmed.
        c.limits.trim_turns = false;
    })
    .await;
    for round in 0..3 {
        let chat = format!("par-{round}");
        let pat = srv.create_token(&chat, None).await;
        // Let the preload run idle out, so the appends race to start a continuation.
        wait_stats(&srv, |s| s["liveRuns"] == 0).await;
        // Reading from the start, opened before the appends.
        let mut s = srv.out(&chat, &pat, &[("timeout-seconds", "600")]).await;
        const N: usize = 12;
        let mut tasks = Vec::new();
        for i in 0..N {
            let (chat, pat) = (chat.clone(), pat.clone());
            let label = format!("lbl{round}x{i:02}q");
            let s = &srv;
            tasks.push(async move {
                let r = s.say(&chat, &pat, &format!("u{i}"), &label).await;
                assert_eq!(r.status, 200, "{}", r.body);
                (r.json()["seq"].as_u64().unwrap(), label)
            });
        }
        let mut sent: Vec<(u64, String)> = futures_join_all(tasks).await;
        sent.sort();
        let seqs: Vec<u64> = sent.iter().map(|s| s.0).collect();
        assert_eq!(seqs, (0..N as u64).collect::<Vec<_>>());
        // Read until a turn-complete covers the last seq.
        let mut turns = Vec::new();
        let mut marks = Vec::new();
        let mut read_to: Option<u64> = None;
        let mut next_seq: Option<u64> = None;
        while marks.last() != Some(&(N as u64 - 1)) {
            let mut turn = Vec::new();
            // The stream may end before the turn does (on a loaded machine
            // a long poll can outlive the server's patience): read on from
            // the last record, as a client does.
            for attempt in 0.. {
                assert!(attempt < 20, "the turn never completed: {turn:?}");
                let done = s.until_control_or_end("turn-complete", &mut turn).await;
                read_to = turn.last().map(|r| r.seq).or(read_to);
                if done {
                    break;
                }
                s = srv
                    .out_after(&chat, &pat, read_to, &[("timeout-seconds", "600")])
                    .await;
            }
            // Every record, in order, none missing.
            for r in &turn {
                if let Some(n) = next_seq {
                    assert_eq!(r.seq, n, "a record missing before {}", r.seq);
                }
                next_seq = Some(r.seq + 1);
            }
            let tc = turn.last().unwrap();
            marks.push(
                tc.header("session-in-event-id")
                    .unwrap()
                    .parse::<u64>()
                    .unwrap(),
            );
            turns.push(text_of(&turn));
        }
        assert!(
            marks.windows(2).all(|w| w[0] <= w[1]),
            "session-in-event-id went backwards: {marks:?}"
        );
        // Each turn answers one message ("Echo: …") and notes the user messages that
        // steered it ("(noted: …)", after it in seq order): in all, seq order.
        let seq_of = |label: &str| sent.iter().find(|s| s.1 == label).map(|s| s.0);
        let mut order = Vec::new();
        for text in &turns {
            let mut rest = text.as_str();
            let mut noted = Vec::new();
            let mut plain = String::new();
            while let Some(i) = rest.find("(noted: ") {
                plain.push_str(&rest[..i]);
                let after = &rest[i + 8..];
                let end = after.find(')').expect("closing parenthesis");
                noted.push(seq_of(&after[..end]).expect("a label we sent"));
                rest = &after[end + 1..];
            }
            plain.push_str(rest);
            let echoed = plain
                .trim()
                .strip_prefix("Echo:")
                .unwrap_or_else(|| panic!("an echo in {text:?}"))
                .trim();
            order.push(seq_of(echoed).unwrap_or_else(|| panic!("echo of {echoed:?}")));
            order.extend(noted);
        }
        assert_eq!(order, seqs, "messages handled out of seq order: {turns:?}");
    }
}

/// Runs the futures concurrently on this task and collects their outputs in order.
async fn futures_join_all<F: std::future::Future>(fs: Vec<F>) -> Vec<F::Output> {
    let mut fs: Vec<_> = fs.into_iter().map(Box::pin).collect();
    let mut out: Vec<Option<F::Output>> = fs.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (i, f) in fs.iter_mut().enumerate() {
            if out[i].is_none() {
                match f.as_mut().poll(cx) {
                    std::task::Poll::Ready(v) => out[i] = Some(v),
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            std::task::Poll::Pending
        } else {
            std::task::Poll::Ready(())
        }
    })
    .await;
    out.into_iter().map(|o| o.unwrap()).collect()
}

fn temp_db(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "trigger-devserver-test-{}-{name}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir.join("demo.sqlite")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_session_resets_the_stored_cursor() {
    let db = temp_db("cursor");
    let first = Srv::start_with(|c| c.db = Some(db.clone())).await;
    let r = first.call("POST", "/app/chats/c-1/start", None, None).await;
    let pat = token_in(&r.json());
    first.say("c-1", &pat, "u1", "hello").await;
    first.turn("c-1", &pat, None).await;
    let chat = first.get("/app/chats/c-1").await.json();
    assert!(chat["session"]["lastEventId"].is_string(), "{chat}");
    let _ = first.running.shutdown.send(());

    // A restart keeps the database, not the sessions: the new session's cursor
    // starts over.
    let second = Srv::start_with(|c| c.db = Some(db.clone())).await;
    let r = second
        .call("POST", "/app/chats/c-1/start", None, None)
        .await;
    assert_eq!(r.status, 200);
    let chat = second.get("/app/chats/c-1").await.json();
    assert_eq!(chat["session"]["lastEventId"], Value::Null, "{chat}");
    assert_eq!(chat["messages"][0]["role"], "user", "the messages stay");
    // Starting the same live session again keeps its cursor.
    let tok = token_in(&r.json());
    second
        .call(
            "PUT",
            "/app/chats/c-1/session",
            None,
            Some(json!({ "publicAccessToken": tok, "lastEventId": "7" })),
        )
        .await;
    second
        .call("POST", "/app/chats/c-1/start", None, None)
        .await;
    let chat = second.get("/app/chats/c-1").await.json();
    assert_eq!(chat["session"]["lastEventId"], "7");
    // A PUT without lastEventId keeps it; an explicit null clears it.
    let put = |body: Value| second.call("PUT", "/app/chats/c-1/session", None, Some(body));
    assert_eq!(
        put(json!({ "publicAccessToken": tok, "isStreaming": true }))
            .await
            .status,
        200
    );
    assert_eq!(
        second.get("/app/chats/c-1").await.json()["session"]["lastEventId"],
        "7"
    );
    assert_eq!(
        put(json!({ "publicAccessToken": tok, "lastEventId": null }))
            .await
            .status,
        200
    );
    assert_eq!(
        second.get("/app/chats/c-1").await.json()["session"]["lastEventId"],
        Value::Null
    );
    let _ = std::fs::remove_dir_all(db.parent().unwrap());
}

/// A clock stuck in one millisecond: every session is created and used "at the
/// same time", so only the order of use can tell them apart.
fn frozen_clock() -> u64 {
    1_700_000_000_000
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn session_cap_answers_429_then_evicts_idle_sessions() {
    let srv = Srv::start_with(|c| {
        c.idle_timeout_secs = 1;
        c.limits.max_sessions = 3;
        c.clock = frozen_clock;
    })
    .await;
    for i in 0..3 {
        srv.create(&format!("cap-{i}"), None).await;
    }
    // Three live preload runs: nothing can be evicted.
    let r = srv.create_as(Some(KEY), "cap-3", None).await;
    assert_eq!(r.status, 429, "{}", r.body);
    assert_eq!(r.json()["code"], "limit_exceeded");
    assert!(r.json()["error"].as_str().unwrap().contains("sessions"));
    let r = srv.call("POST", "/app/chats/cap-3/start", None, None).await;
    assert_eq!(r.status, 429, "{}", r.body);
    // Once idle, the least recently used one makes room, though all three were
    // created in the same millisecond.
    wait_stats(&srv, |s| s["liveRuns"] == 0).await;
    srv.create("cap-3", None).await;
    assert_eq!(srv.retrieve("cap-0", Some(KEY)).await.status, 404);
    for id in ["cap-1", "cap-2", "cap-3"] {
        assert_eq!(srv.retrieve(id, Some(KEY)).await.status, 200, "{id}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eviction_follows_the_order_of_last_use_within_one_tick() {
    let srv = Srv::start_with(|c| {
        c.idle_timeout_secs = 1;
        c.limits.max_sessions = 6;
        c.clock = frozen_clock;
    })
    .await;
    let old: Vec<String> = (0..6).map(|i| format!("lru-{i}")).collect();
    let mut pat = String::new();
    for id in &old {
        let t = srv.create_token(id, None).await;
        if pat.is_empty() {
            pat = t;
        }
    }
    // Used again after they were all created, in this order: an append to
    // lru-0, a create-or-return of lru-3; and lru-4 closed.
    assert_eq!(srv.say("lru-0", &pat, "u1", "hello").await.status, 200);
    assert_eq!(srv.create_as(Some(KEY), "lru-3", None).await.status, 200);
    assert_eq!(srv.close("lru-4", None).await.status, 200);
    let updated: Vec<String> = {
        let mut v = Vec::new();
        for id in &old {
            let s = srv.retrieve(id, Some(KEY)).await.json();
            v.push(s["updatedAt"].as_str().unwrap().to_string());
        }
        v
    };
    assert!(updated.windows(2).all(|w| w[0] == w[1]), "{updated:?}");
    wait_stats(&srv, |s| s["liveRuns"] == 0).await;
    // Each new session evicts one old one: the closed one first, then the least
    // recently used.
    let mut evicted: Vec<String> = Vec::new();
    for i in 0..6 {
        assert_eq!(
            srv.create_as(Some(KEY), &format!("new-{i}"), None)
                .await
                .status,
            201
        );
        let mut gone = Vec::new();
        for id in old.iter().filter(|id| !evicted.contains(id)) {
            if srv.retrieve(id, Some(KEY)).await.status == 404 {
                gone.push(id.clone());
            }
        }
        assert_eq!(
            gone.len(),
            1,
            "after new-{i}: {gone:?} evicted (none: a newer session was)"
        );
        evicted.extend(gone);
    }
    assert_eq!(
        evicted,
        ["lru-4", "lru-1", "lru-2", "lru-5", "lru-0", "lru-3"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_are_capped_like_an_s2_trim() {
    let srv = Srv::start_with(|c| {
        c.chunk_delay_ms = 0;
        c.limits.max_records = 16;
    })
    .await;
    let pat = srv.create_token("rec", Some("/long 60")).await;
    let mut s = srv.out("rec", &pat, &[("timeout-seconds", "600")]).await;
    let first = s.until_turn_complete().await;
    drop(s);
    // Read again from the start once the turn is over: only the last 16 survive.
    let mut s = srv.out("rec", &pat, &[("x-peek-settled", "1")]).await;
    let (recs, done, _) = s.drain().await;
    assert!(done);
    assert!(recs.len() <= 16, "{} records kept", recs.len());
    assert!(recs[0].seq > 0);
    assert!(last_seq(&recs) > last_seq(&first));
    // Part ids: remembered up to the cap (a recent retry is still a no-op).
    let r1 = srv
        .append_raw(
            "rec",
            &pat,
            &[("x-part-id", "p-1")],
            &user_chunk("rec", "u1", "a").to_string(),
        )
        .await;
    let r2 = srv
        .append_raw(
            "rec",
            &pat,
            &[("x-part-id", "p-1")],
            &user_chunk("rec", "u1", "a").to_string(),
        )
        .await;
    assert_eq!(r1.json()["seq"], r2.json()["seq"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn byte_cut_fault_ends_each_out_connection_inside_the_window() {
    let srv = Srv::start_with(|c| c.chunk_delay_ms = 0).await;
    let pat = srv.create_token("cut", Some("/long 200")).await;
    srv.turn("cut", &pat, None).await;
    let settled = [("x-peek-settled", "1")];
    let full = srv.out("cut", &pat, &settled).await.raw().await;
    assert!(!full.1, "without the fault the body ends cleanly");
    let full = full.0;
    assert!(full.ends_with(b"data: [DONE]\n\n"));
    assert!(full.len() > 3000, "{}", full.len());

    let r = srv
        .fault(
            "cut-out-bytes",
            Some(json!({ "minBytes": 100, "maxBytes": 3000 })),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let mut lengths = Vec::new();
    for _ in 0..20 {
        let (body, broken) = srv.out("cut", &pat, &settled).await.raw().await;
        assert!(broken, "a cut connection fails instead of ending");
        assert!((100..=3000).contains(&body.len()), "cut at {}", body.len());
        assert_eq!(&full[..body.len()], &body[..], "a cut body is a prefix");
        assert!(!body.ends_with(b"[DONE]\n\n"));
        lengths.push(body.len());
    }
    lengths.sort();
    lengths.dedup();
    assert!(
        lengths.len() > 1,
        "offsets are drawn at random: {lengths:?}"
    );
    // Off again: whole bodies.
    srv.fault("cut-out-bytes", Some(json!({ "maxBytes": null })))
        .await;
    let (body, broken) = srv.out("cut", &pat, &settled).await.raw().await;
    assert!(!broken);
    assert_eq!(body, full);
    assert_eq!(
        srv.fault(
            "cut-out-bytes",
            Some(json!({ "minBytes": 9, "maxBytes": 3 }))
        )
        .await
        .status,
        400
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn byte_cut_flag_survives_reset() {
    let srv = Srv::start_with(|c| {
        c.chunk_delay_ms = 0;
        c.out_cut_bytes = Some((1, 50));
    })
    .await;
    let pat = srv.create_token("cutf", Some("/long 50")).await;
    // Every connection is cut within 50 bytes, so read the turn in pieces.
    let (body, broken) = srv.out("cutf", &pat, &[]).await.raw().await;
    assert!(broken && (1..=50).contains(&body.len()), "{}", body.len());
    srv.fault("reset", None).await;
    let (body, broken) = srv.out("cutf", &pat, &[]).await.raw().await;
    assert!(broken && (1..=50).contains(&body.len()), "{}", body.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upgraded_run_that_idles_out_leaves_its_session_evictable() {
    let srv = Srv::start_with(|c| {
        c.idle_timeout_secs = 1;
        c.limits.max_sessions = 1;
    })
    .await;
    let pat = srv.create_token("up-1", Some("/upgrade")).await;
    let turn = srv.turn("up-1", &pat, None).await;
    assert!(turn.iter().any(|r| r.control() == Some("upgrade-required")));
    wait_stats(&srv, |s| s["liveRuns"] == 0).await;
    // The run (now under its upgraded id) detached when it idled out: the
    // session is idle, so a new one takes its place.
    let r = srv.create_as(Some(KEY), "up-2", None).await;
    assert_eq!(r.status, 201, "{}", r.body);
    assert_eq!(srv.retrieve("up-1", Some(KEY)).await.status, 404);
}
