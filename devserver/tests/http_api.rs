//! Sessions API, tokens, `.in/append`, `.out` SSE and CORS over real HTTP.

mod common;

use common::*;
use serde_json::{json, Value};
use trigger_devserver::{jwt, util::now_secs, DEFAULT_SECRET_KEY};

fn sign(claims: Value) -> String {
    jwt::sign(DEFAULT_SECRET_KEY, &claims)
}

fn scoped(scopes: &[&str]) -> String {
    sign(json!({
        "iss": jwt::ISSUER, "aud": jwt::AUDIENCE, "scopes": scopes,
        "iat": now_secs(), "exp": now_secs() + 600
    }))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_returns_full_body_then_cached() {
    let srv = Srv::start().await;
    let r = srv.create_as(Some(KEY), "chat-a", None).await;
    assert_eq!(r.status, 201, "{}", r.body);
    let b = r.json();
    assert!(b["id"].as_str().unwrap().starts_with("session_"));
    assert_eq!(b["externalId"], "chat-a");
    assert_eq!(b["type"], "chat.agent");
    assert_eq!(b["taskIdentifier"], "ai-chat");
    assert_eq!(b["triggerConfig"]["basePayload"]["trigger"], "preload");
    assert_eq!(b["runId"], b["currentRunId"]);
    assert!(b["runId"].as_str().unwrap().starts_with("run_"));
    assert_eq!(b["isCached"], false);
    for k in [
        "tags",
        "metadata",
        "closedAt",
        "closedReason",
        "expiresAt",
        "createdAt",
        "updatedAt",
    ] {
        assert!(b.get(k).is_some(), "missing {k}");
    }
    assert!(r.header("x-trigger-jwt").is_some());
    let pat = b["publicAccessToken"].as_str().unwrap();
    let claims = jwt_payload(pat);
    assert_eq!(claims["iss"], "https://id.trigger.dev");
    assert_eq!(claims["aud"], "https://api.trigger.dev");
    let scopes: Vec<&str> = claims["scopes"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(scopes.contains(&"read:sessions:chat-a") && scopes.contains(&"write:sessions:chat-a"));
    assert!(claims["exp"].as_u64().unwrap() > now_secs() + 3000);

    let again = srv.create_as(Some(KEY), "chat-a", None).await;
    assert_eq!(again.status, 200);
    let a = again.json();
    assert_eq!(a["isCached"], true);
    assert_eq!(a["id"], b["id"]);
    assert_eq!(a["runId"], b["runId"]);
    assert!(a["publicAccessToken"].is_string());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn create_validates_input_and_auth() {
    let srv = Srv::start().await;
    let bad_bodies = [
        "{not json",
        "[]",
        r#"{"type":"chat.agent","taskIdentifier":"ai-chat"}"#,
        r#"{"type":"","taskIdentifier":"ai-chat","triggerConfig":{"basePayload":{}}}"#,
        r#"{"type":"chat.agent","externalId":"session_abc","taskIdentifier":"ai-chat","triggerConfig":{"basePayload":{}}}"#,
        r#"{"type":"chat.agent","externalId":5,"taskIdentifier":"ai-chat","triggerConfig":{"basePayload":{}}}"#,
        r#"{"type":"chat.agent","taskIdentifier":"ai-chat","triggerConfig":{"basePayload":{"trigger":"action"}}}"#,
        r#"{"type":"chat.agent","taskIdentifier":"ai-chat","triggerConfig":{"basePayload":{"trigger":"submit-message"}}}"#,
        r#"{"type":"chat.agent","taskIdentifier":"ai-chat","tags":["1","2","3","4","5","6","7","8","9","10","11"],"triggerConfig":{"basePayload":{}}}"#,
        r#"{"type":"chat.agent","taskIdentifier":"ai-chat","triggerConfig":{"basePayload":{},"maxAttempts":99}}"#,
        r#"{"type":"chat.agent","taskIdentifier":"ai-chat","triggerConfig":{"basePayload":[]}}"#,
        r#"{"type":"chat.agent","taskIdentifier":"ai-chat","expiresAt":"soon","triggerConfig":{"basePayload":{}}}"#,
    ];
    let auth = format!("Bearer {KEY}");
    for body in bad_bodies {
        let r = srv
            .req(
                "POST",
                "/api/v1/sessions",
                &[
                    ("authorization", &auth),
                    ("content-type", "application/json"),
                ],
                Some(body),
            )
            .await;
        assert_eq!(r.status, 400, "{body} -> {} {}", r.status, r.body);
        assert!(r.json()["error"].is_string());
    }
    let body = create_body("chat-b", None).to_string();
    let basic = [("authorization", "Basic abc")];
    let r = srv
        .req("POST", "/api/v1/sessions", &basic, Some(&body))
        .await;
    assert_eq!(r.status, 401);
    // A JWT needs write:sessions and tasks:{id}.
    let only_write = scoped(&["write:sessions"]);
    let ok = scoped(&["write:sessions", "tasks:ai-chat"]);
    for (token, want) in [
        (None, 401),
        (Some("tr_dev_wrong"), 401),
        (Some("garbage"), 401),
        (Some(only_write.as_str()), 403),
        (Some(ok.as_str()), 201),
    ] {
        let r = srv.create_as(token, "chat-b", None).await;
        assert_eq!(r.status, want, "{token:?}: {}", r.body);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retrieve_by_both_forms_and_token_errors() {
    let srv = Srv::start().await;
    let (b, pat) = srv.create_with_token("chat-c", None).await;
    let sid = b["id"].as_str().unwrap().to_string();
    for id in ["chat-c", sid.as_str()] {
        let r = srv.retrieve(id, Some(&pat)).await;
        assert_eq!(r.status, 200, "{id}");
        assert_eq!(r.json()["id"], sid.as_str());
        assert_eq!(r.json()["currentRunId"], b["runId"]);
    }
    assert_eq!(srv.retrieve("nope", Some(KEY)).await.status, 404);
    let by_sid = scoped(&[&format!("read:sessions:{sid}")]);
    let other = scoped(&["read:sessions:chat-other"]);
    let expired = sign(
        json!({"iss": jwt::ISSUER, "aud": jwt::AUDIENCE, "scopes": ["read:sessions"], "exp": now_secs() - 10}),
    );
    let wrong_key = jwt::sign(
        "another-key",
        &json!({"iss": jwt::ISSUER, "aud": jwt::AUDIENCE, "scopes": ["read:sessions"]}),
    );
    let wrong_aud = sign(json!({"iss": jwt::ISSUER, "aud": "x", "scopes": ["read:sessions"]}));
    for (what, token, want) in [
        // A friendly-id-scoped token also authorizes the externalId form.
        ("scoped to the session id", Some(by_sid.as_str()), 200),
        ("scoped to another chat", Some(other.as_str()), 403),
        ("expired", Some(expired.as_str()), 401),
        ("signed with another key", Some(wrong_key.as_str()), 401),
        ("wrong audience", Some(wrong_aud.as_str()), 401),
        ("not a JWT", Some("a.b.c"), 401),
        ("no token", None, 401),
    ] {
        assert_eq!(srv.retrieve("chat-c", token).await.status, want, "{what}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn close_is_idempotent_and_closes_everything() {
    let srv = Srv::start().await;
    let pat = srv.create_token("chat-d", None).await;
    let close = "/api/v1/sessions/chat-d/close";
    // A session PAT cannot close.
    let r = srv.call("POST", close, Some(&pat), Some(json!({}))).await;
    assert_eq!(r.status, 403);
    for bad in [json!({ "reason": "x".repeat(257) }), json!({ "reason": 5 })] {
        let r = srv.call("POST", close, Some(KEY), Some(bad)).await;
        assert_eq!(r.status, 400);
    }
    let r = srv.close("chat-d", Some("done")).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let closed_at = r.json()["closedAt"].clone();
    assert!(closed_at.is_string());
    assert_eq!(r.json()["closedReason"], "done");
    // Again, with no body: the original values stay.
    let key_auth = format!("Bearer {KEY}");
    let r = srv
        .req("POST", close, &[("authorization", &key_auth)], None)
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["closedAt"], closed_at);
    assert_eq!(r.json()["closedReason"], "done");
    let admin = scoped(&["admin:sessions:chat-d"]);
    let r = srv.call("POST", close, Some(&admin), None).await;
    assert_eq!(r.status, 200);
    // Re-create conflicts; appends conflict.
    let r = srv.create_as(Some(KEY), "chat-d", None).await;
    assert_eq!(r.status, 409);
    let r = srv.say("chat-d", &pat, "u1", "hi").await;
    assert_eq!(r.status, 409);
    assert_eq!(
        r.json(),
        json!({
            "ok": false,
            "error": "Cannot append to a closed session",
            "code": "session_closed",
            "closedReason": "done",
        })
    );
    assert!(r.header("access-control-allow-origin").is_some());
    assert_eq!(srv.close("nope", None).await.status, 404);
}

/// Reads `.out` from `after` (all of it when `None`) with a 600 s long poll; it must
/// end at once, cleanly. Returns the records.
async fn replay(srv: &Srv, id: &str, pat: &str, after: Option<u64>, peek: bool) -> Vec<Rec> {
    let mut extra = vec![("timeout-seconds", "600")];
    if peek {
        extra.push(("x-peek-settled", "1"));
    }
    let mut s = srv.out_after(id, pat, after, &extra).await;
    if peek {
        assert_eq!(s.header("x-session-settled").as_deref(), Some("true"));
    }
    s.drain_now().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn close_ends_out_with_one_session_closed_record() {
    let srv = Srv::start().await;
    let pat = srv.create_token("chat-cl", None).await;
    // A reader in the middle of a turn (600 s long poll) when the session closes.
    let r = srv.say("chat-cl", &pat, "u1", "/pause 120").await;
    assert_eq!(r.status, 200);
    let mut live = srv
        .out("chat-cl", &pat, &[("timeout-seconds", "600")])
        .await;
    let mut seen = live.until_chunk("text-delta").await;
    let r = srv.close("chat-cl", Some("done here")).await;
    assert_eq!(r.status, 200, "{}", r.body);
    // It arrives live, is the last record, and the stream ends right after it.
    seen.extend(live.until_control("session-closed").await);
    seen.extend(live.drain_now().await);
    let last = seen.last().expect("records");
    assert_eq!(last.body, "");
    assert_eq!(
        last.headers,
        vec![
            ("trigger-control".to_string(), "session-closed".to_string()),
            ("session-closed-reason".to_string(), "done here".to_string()),
        ]
    );
    assert!(seen.iter().all(|r| r.control() != Some("turn-complete")));
    wait_stats(&srv, |s| s["liveRuns"] == 0).await;
    // Closing again changes nothing and adds no record.
    let r = srv.close("chat-cl", Some("other")).await;
    assert_eq!(r.json()["closedReason"], "done here");
    // Replays: from the start, and from before the record, it is there once and last.
    for (after, peek) in [(None, true), (Some(0), false)] {
        let recs = replay(&srv, "chat-cl", &pat, after, peek).await;
        let closes: Vec<&Rec> = recs
            .iter()
            .filter(|r| r.control() == Some("session-closed"))
            .collect();
        assert_eq!(closes.len(), 1);
        assert_eq!(closes[0].seq, last.seq);
        assert_eq!(closes[0].header("session-closed-reason"), Some("done here"));
        assert_eq!(recs.last().map(|r| r.seq), Some(last.seq));
    }
    // Reconnecting after the record ends at once instead of long-polling.
    assert!(replay(&srv, "chat-cl", &pat, Some(last.seq), true)
        .await
        .is_empty());
    let r = srv.say("chat-cl", &pat, "u2", "hello?").await;
    assert_session_closed(&r, Some("done here"));

    // Closed without a reason: no reason header, `closedReason: null`.
    let pat2 = srv.create_token("chat-cl2", None).await;
    assert_eq!(srv.close("chat-cl2", None).await.status, 200);
    let recs = replay(&srv, "chat-cl2", &pat2, None, false).await;
    assert_eq!(recs.len(), 1);
    assert_eq!(
        recs[0].headers,
        vec![("trigger-control".to_string(), "session-closed".to_string())]
    );
    assert_session_closed(&srv.say("chat-cl2", &pat2, "u1", "hi").await, None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jwt_claims_sign_working_public_tokens() {
    let srv = Srv::start().await;
    let claims_url = "/api/v1/auth/jwt/claims";
    let r = srv.call("POST", claims_url, Some(KEY), None).await;
    assert_eq!(r.status, 200);
    let mut claims = r.json();
    assert!(claims["sub"].is_string());
    let r = srv.call("POST", claims_url, None, None).await;
    assert_eq!(r.status, 401);
    let pat = scoped(&["read:sessions"]);
    let r = srv.call("POST", claims_url, Some(&pat), None).await;
    assert_eq!(r.status, 403);
    // Sign like the SDK does: claims + scopes + iss/aud/iat/exp.
    srv.create("chat-e", None).await;
    claims["scopes"] = json!(["read:sessions:chat-e", "write:sessions:chat-e"]);
    claims["iss"] = json!(jwt::ISSUER);
    claims["aud"] = json!(jwt::AUDIENCE);
    claims["iat"] = json!(now_secs());
    claims["exp"] = json!(now_secs() + 60);
    let t = sign(claims);
    assert_eq!(srv.retrieve("chat-e", Some(&t)).await.status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn normal_reply_streams_chunks_then_turn_complete_and_trim() {
    let srv = Srv::start().await;
    let pat = srv.create_token("chat-f", Some("hello there world")).await;
    let mut s = srv.out("chat-f", &pat, &[("timeout-seconds", "600")]).await;
    assert_eq!(s.header("x-stream-version").as_deref(), Some("v2"));
    assert_eq!(
        s.header("content-type").as_deref(),
        Some("text/event-stream")
    );
    assert!(s.header("x-session-settled").is_none());
    let recs = s.until_turn_complete().await;
    let types = types_of(&recs);
    assert_eq!(types.first().map(String::as_str), Some("start"));
    assert_eq!(types[1], "start-step");
    assert_eq!(types[2], "text-start");
    assert_eq!(
        &types[types.len() - 3..],
        ["text-end", "finish-step", "finish"]
    );
    assert_eq!(text_of(&recs), "Echo: hello there world");
    let ids: Vec<Value> = recs
        .iter()
        .filter_map(Rec::chunk)
        .filter(|c| c["type"].as_str().unwrap().starts_with("text-"))
        .map(|c| c["id"].clone())
        .collect();
    assert!(ids.windows(2).all(|w| w[0] == w[1]), "one text part id");
    // Data bodies wrap {data, id} with distinct part ids.
    let part_ids: std::collections::HashSet<String> = recs
        .iter()
        .filter(|r| r.chunk().is_some())
        .map(|r| {
            serde_json::from_str::<Value>(&r.body).unwrap()["id"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(part_ids.len(), recs.len() - 1);
    for (i, r) in recs.iter().enumerate() {
        assert_eq!(r.seq, i as u64, "seq from 0");
    }
    let tc = recs.last().unwrap();
    assert_eq!(tc.body, "");
    assert_eq!(
        tc.headers[0],
        ("trigger-control".to_string(), "turn-complete".to_string())
    );
    let fresh = tc.header("public-access-token").expect("refreshed token");
    assert_eq!(srv.retrieve("chat-f", Some(fresh)).await.status, 200);
    assert!(tc
        .header("session-in-event-id")
        .unwrap()
        .parse::<u64>()
        .is_ok());
    // Then an S2 trim command record.
    let mut s2 = srv
        .out_after("chat-f", &pat, Some(tc.seq), &[("timeout-seconds", "1")])
        .await;
    let (rest, _, _) = s2.drain().await;
    assert_eq!(rest.len(), 1);
    assert_eq!(rest[0].headers, vec![(String::new(), "trim".to_string())]);
    assert_eq!(rest[0].seq, tc.seq + 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn appends_resume_and_seq_monotonic_across_turns() {
    let srv = Srv::start().await;
    let (b, pat) = srv.create_with_token("chat-g", None).await;
    let r = srv.say("chat-g", &pat, "u1", "first").await;
    assert_eq!((r.status, r.json()), (200, json!({ "ok": true, "seq": 0 })));
    let t1 = srv.turn("chat-g", &pat, None).await;
    assert_eq!(text_of(&t1), "Echo: first");
    let last1 = last_seq(&t1);
    let sid = b["id"].as_str().unwrap();
    // The session_* URL form works with the externalId-scoped token.
    let r = srv.say(sid, &pat, "u2", "second").await;
    assert_eq!(r.status, 200);
    let t2 = srv.turn("chat-g", &pat, Some(last1)).await;
    assert!(t2[0].seq > last1, "resumes past the cursor");
    assert!(
        t2.iter().any(|r| r.is_command()),
        "the previous turn's trim precedes turn 2"
    );
    assert_eq!(text_of(&t2), "Echo: second");
    assert!(t2.windows(2).all(|w| w[1].seq == w[0].seq + 1));
    // A non-integer Last-Event-ID starts from the first surviving record.
    let mut s = srv
        .out(
            "chat-g",
            &pat,
            &[("timeout-seconds", "1"), ("last-event-id", "0,1,106")],
        )
        .await;
    let (all, done, broken) = s.drain().await;
    assert!(done && !broken);
    assert!(all.first().unwrap().seq <= t2[0].seq);
    assert!(all.iter().any(|r| r.control() == Some("turn-complete")));
    // Appends need the write scope.
    let read_only = scoped(&["read:sessions:chat-g"]);
    assert_eq!(srv.say("chat-g", &read_only, "u3", "x").await.status, 403);
    assert_eq!(srv.say("chat-g", "", "u3", "x").await.status, 401);
    assert_eq!(
        srv.say("nope", &scoped(&["write:sessions:nope"]), "u3", "x")
            .await
            .status,
        404
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn append_dedupes_part_ids_and_rejects_bad_bodies() {
    let srv = Srv::start().await;
    let pat = srv.create_token("chat-h", None).await;
    let body = user_chunk("chat-h", "u1", "once").to_string();
    let h = [
        ("content-type", "application/json"),
        ("x-part-id", "part-1"),
    ];
    // Every post of one part id answers the seq its record got.
    for _ in 0..3 {
        let r = srv.append_raw("chat-h", &pat, &h, &body).await;
        assert_eq!((r.status, r.json()), (200, json!({ "ok": true, "seq": 0 })));
    }
    let t = srv.turn("chat-h", &pat, None).await;
    assert_eq!(text_of(&t), "Echo: once");
    let end = t.last().expect("a turn-complete");
    assert_eq!(
        end.header("session-in-event-id"),
        Some("0"),
        "the turn answered seq 0"
    );
    assert_eq!(
        srv.stats().await["appends"],
        1,
        "one record for three posts"
    );
    let next = [
        ("content-type", "application/json"),
        ("x-part-id", "part-2"),
    ];
    let r = srv.append_raw("chat-h", &pat, &next, &body).await;
    assert_eq!(r.json()["seq"], 1, "the next record's seq");
    // Bad bodies: 400 with {ok:false,error}.
    for bad in [
        "{",
        "[]",
        r#"{"kind":"nope"}"#,
        r#"{"kind":"message"}"#,
        r#"{"kind":"message","payload":[]}"#,
        r#"{"kind":"stop","message":5}"#,
        r#"{"kind":"message","payload":{"trigger":7}}"#,
        "",
    ] {
        let r = srv.append_raw("chat-h", &pat, &[], bad).await;
        assert_eq!(r.status, 400, "{bad}");
        assert_eq!(r.json()["ok"], false);
        assert!(r.header("access-control-allow-origin").is_some());
    }
    // Over 1 MiB: 413, with CORS headers.
    let huge = format!(
        r#"{{"kind":"stop","message":"{}"}}"#,
        "a".repeat(1024 * 1024 + 10)
    );
    let origin = [("origin", "http://localhost:5173")];
    let r = srv.append_raw("chat-h", &pat, &origin, &huge).await;
    assert_eq!(r.status, 413);
    assert_eq!(r.json()["ok"], false);
    assert_eq!(
        r.header("access-control-allow-origin").as_deref(),
        Some("http://localhost:5173")
    );
    // Just under the cap is accepted.
    let fits = format!(
        r#"{{"kind":"stop","message":"{}"}}"#,
        "a".repeat(1024 * 1024 - 100)
    );
    let r = srv.append_raw("chat-h", &pat, &[], &fits).await;
    assert_eq!(r.status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn out_checks_headers_pings_and_ends_with_done() {
    let srv = Srv::start().await;
    let pat = srv.create_token("chat-i", None).await;
    let auth = format!("Bearer {pat}");
    let url = "/realtime/v1/sessions/chat-i/out";
    // No accept header, then one that is not text/event-stream.
    for accept in [None, Some("application/json")] {
        let mut h = vec![("authorization", auth.as_str())];
        h.extend(accept.map(|a| ("accept", a)));
        let r = srv.req("GET", url, &h, None).await;
        assert_eq!(r.status, 406, "accept {accept:?}");
        assert_eq!(r.json()["ok"], false);
    }
    for bad in ["soon", "", "1e999x"] {
        let r = srv
            .out_response("chat-i", Some(&pat), &[("timeout-seconds", bad)])
            .await;
        assert_eq!(r.status, 400, "timeout {bad:?}");
    }
    assert_eq!(srv.out_response("chat-i", None, &[]).await.status, 401);
    // Idle preloaded session: a ping while nothing happens (waited for, with a
    // deadline far off, rather than raced against a short one)...
    let mut s = srv.out("chat-i", &pat, &[("timeout-seconds", "600")]).await;
    match s.next().await {
        Next::Event(e) if e.event.as_deref() == Some("ping") => {
            let v: Value = serde_json::from_str(&e.data).unwrap();
            assert!(v["timestamp"].as_u64().unwrap() > 1_600_000_000_000);
        }
        other => panic!("expected a ping, got {other:?}"),
    }
    drop(s);
    // ... and [DONE] at the deadline, then a clean end (pings meanwhile or not).
    let mut s = srv.out("chat-i", &pat, &[("timeout-seconds", "1")]).await;
    let mut done = false;
    loop {
        match s.next().await {
            Next::Event(e) if e.event.as_deref() == Some("ping") => assert!(!done),
            Next::Event(e) if e.data == "[DONE]" => {
                assert!(e.event.is_none());
                done = true;
            }
            Next::Event(e) => panic!("unexpected {e:?}"),
            Next::End => break,
            Next::Broken(e) => panic!("broken: {e}"),
        }
    }
    assert!(done);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn peek_settled_closes_fast_only_when_settled() {
    let srv = Srv::start().await;
    let pat = srv.create_token("chat-j", Some("hi")).await;
    let t = srv.turn("chat-j", &pat, None).await;
    let last = last_seq(&t);
    // Settled: header set and the stream drains then closes, despite a 600 s timeout.
    let peek = [("x-peek-settled", "1"), ("timeout-seconds", "600")];
    let mut s = srv.out_after("chat-j", &pat, Some(last), &peek).await;
    assert_eq!(s.header("x-session-settled").as_deref(), Some("true"));
    let (recs, done, _) = s.drain().await;
    assert!(done);
    assert!(
        recs.iter().all(Rec::is_command),
        "only the trailing trim remains"
    );
    // Mid-turn: not settled. (`/hold` keeps the turn open until the next message,
    // however long the peek takes.)
    let r = srv.say("chat-j", &pat, "u2", "/hold").await;
    assert_eq!(r.status, 200);
    // The long poll outlasts the test (its reads are bounded by the hang
    // guard): a 30 s one ran out on a loaded machine before the turn ended.
    let mut live = srv
        .out_after("chat-j", &pat, Some(last), &[("timeout-seconds", "600")])
        .await;
    // Wait until the hold's own text is out: a message that arrives while
    // it still streams is taken in as steering at a step boundary and does
    // not release the hold (repeat run of 2026-12-07: the turn then held
    // for the whole 600 s and the test failed, on a loaded machine).
    live.until_chunk("text-end").await;
    let s = srv
        .out(
            "chat-j",
            &pat,
            &[("x-peek-settled", "1"), ("timeout-seconds", "1")],
        )
        .await;
    assert!(s.header("x-session-settled").is_none());
    drop(s);
    // Released, the turn completes and the session is settled again.
    assert_eq!(srv.say("chat-j", &pat, "u3", "go on").await.status, 200);
    live.until_turn_complete().await;
    let s = srv.out("chat-j", &pat, &peek).await;
    assert_eq!(s.header("x-session-settled").as_deref(), Some("true"));
}

/// Asserts a response allows `origin` and that its `header` (a list) names each of `names`
/// (case-insensitively).
fn assert_cors(r: &Resp, origin: &str, header: &str, names: &[&str]) {
    assert_eq!(
        r.header("access-control-allow-origin").as_deref(),
        Some(origin)
    );
    let list = r
        .header(header)
        .unwrap_or_else(|| panic!("no {header}"))
        .to_ascii_lowercase();
    for n in names {
        assert!(list.contains(n), "{header} lacks {n}: {list}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cors_on_preflight_success_and_errors() {
    let srv = Srv::start().await;
    let r = srv
        .req(
            "OPTIONS",
            "/realtime/v1/sessions/x/in/append",
            &[
                ("origin", "http://localhost:5173"),
                ("access-control-request-method", "POST"),
                (
                    "access-control-request-headers",
                    "authorization,content-type,x-part-id,x-custom-thing",
                ),
            ],
            None,
        )
        .await;
    assert!(r.status == 204 || r.status == 200);
    let allowed = [
        "authorization",
        "content-type",
        "x-part-id",
        "last-event-id",
        "timeout-seconds",
        "x-peek-settled",
        "x-trigger-source",
        "x-custom-thing",
    ];
    assert_cors(
        &r,
        "http://localhost:5173",
        "access-control-allow-headers",
        &allowed,
    );
    assert!(r
        .header("access-control-allow-methods")
        .unwrap()
        .contains("POST"));
    let r = srv
        .req(
            "GET",
            "/realtime/v1/sessions/x/out",
            &[("origin", "http://a.test"), ("accept", "text/event-stream")],
            None,
        )
        .await;
    assert_eq!(r.status, 401);
    let exposed = [
        "x-session-settled",
        "x-ratelimit-reset",
        "x-ratelimit-remaining",
        "x-ratelimit-limit",
    ];
    assert_cors(
        &r,
        "http://a.test",
        "access-control-expose-headers",
        &exposed,
    );
    let r = srv.get("/nowhere/at/all").await;
    assert_eq!(r.status, 404);
    assert!(r.json()["error"].is_string());
    assert!(r.header("access-control-allow-origin").is_some());
}

/// Reads a stream to its end, pings skipped (bounded by the hang guard): the
/// records, and whether it ended with `[DONE]` and a clean end of the body.
async fn read_to_done(s: &mut Sse) -> (Vec<Rec>, bool) {
    let read = async {
        let mut recs = Vec::new();
        let mut done = false;
        loop {
            match s.next().await {
                Next::Event(e) if e.event.as_deref() == Some("batch") => {
                    recs.extend(parse_batch(&e.data))
                }
                Next::Event(e) if e.event.as_deref() == Some("ping") => {}
                Next::Event(e) if e.data == "[DONE]" => done = true,
                Next::Event(e) => panic!("unexpected {e:?}"),
                Next::End => return (recs, done),
                Next::Broken(e) => panic!("broken: {e}"),
            }
        }
    };
    tokio::time::timeout(GUARD, read)
        .await
        .expect("the stream ends after its turn")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn out_ends_after_a_turn_when_configured_to() {
    let srv = Srv::start_with(|c| c.out_ends_after_turn = true).await;
    let pat = srv.create_token("chat-t", Some("one")).await;
    // A 600 s long poll ends right after the turn: its turn-complete, then only
    // the trim that came with it.
    let long_poll = [("timeout-seconds", "600")];
    let mut s = srv.out("chat-t", &pat, &long_poll).await;
    let (recs, done) = read_to_done(&mut s).await;
    assert!(done);
    assert_eq!(text_of(&recs), "Echo: one");
    let tc = recs
        .iter()
        .position(|r| r.control() == Some("turn-complete"))
        .expect("a turn-complete");
    assert!(recs[tc + 1..].iter().all(Rec::is_command), "{recs:?}");
    // The next connection waits for the next turn, and ends after it.
    let last = last_seq(&recs);
    let mut s = srv.out_after("chat-t", &pat, Some(last), &long_poll).await;
    assert_eq!(srv.say("chat-t", &pat, "u2", "two").await.status, 200);
    let (recs, done) = read_to_done(&mut s).await;
    assert!(done);
    assert_eq!(text_of(&recs), "Echo: two");
    assert!(recs.iter().all(|r| r.seq > last));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_run_exits_and_next_append_starts_a_continuation() {
    let srv = Srv::start_with(|c| c.idle_timeout_secs = 1).await;
    let (b, pat) = srv.create_with_token("chat-k", Some("one")).await;
    let first_run = b["runId"].as_str().unwrap().to_string();
    let t1 = srv.turn("chat-k", &pat, None).await;
    wait_stats(&srv, |s| s["liveRuns"] == 0).await;
    let r = srv.say("chat-k", &pat, "u2", "two").await;
    assert_eq!(r.status, 200);
    let t2 = srv.turn("chat-k", &pat, Some(last_seq(&t1))).await;
    assert_eq!(text_of(&t2), "Echo: two");
    assert!(t2.iter().all(|r| r.seq > last_seq(&t1)));
    let s = srv.retrieve("chat-k", Some(&pat)).await.json();
    assert_ne!(s["currentRunId"].as_str().unwrap(), first_run);
    let tok = t2.last().unwrap().header("public-access-token").unwrap();
    let scopes = jwt_payload(tok)["scopes"].clone();
    let want = format!("read:runs:{}", s_run(&srv, &pat).await);
    assert!(scopes
        .as_array()
        .unwrap()
        .iter()
        .any(|s| s.as_str() == Some(want.as_str())));
}

async fn s_run(srv: &Srv, pat: &str) -> String {
    srv.retrieve("chat-k", Some(pat)).await.json()["currentRunId"]
        .as_str()
        .unwrap()
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_never_yields_a_server_error() {
    let srv = Srv::start().await;
    let pat = srv.create_token("chat-z", None).await;
    let auth = format!("Bearer {pat}");
    let key = format!("Bearer {KEY}");
    let with_key = [("authorization", key.as_str())];
    let empty_part_id = [("authorization", auth.as_str()), ("x-part-id", "")];
    let bad_token = [("authorization", "Bearer ...")];
    let negative_timeout = [
        ("authorization", auth.as_str()),
        ("accept", "text/event-stream"),
        ("timeout-seconds", "-5"),
    ];
    let (close, append, out) = (
        "/api/v1/sessions/chat-z/close",
        "/realtime/v1/sessions/chat-z/in/append",
        "/realtime/v1/sessions/chat-z/out",
    );
    type Case<'a> = (&'a str, &'a str, &'a [(&'a str, &'a str)], Option<&'a str>);
    let cases: [Case; 13] = [
        ("POST", "/api/v1/sessions", &with_key, Some("\u{0}\u{1}")),
        ("POST", "/api/v1/sessions", &with_key, Some("null")),
        ("GET", "/api/v1/sessions/%ZZ", &with_key, None),
        ("POST", close, &with_key, Some("[1,2]")),
        ("POST", append, &empty_part_id, Some("{}")),
        ("POST", append, &bad_token, Some("{}")),
        ("GET", out, &negative_timeout, None),
        (
            "PUT",
            "/app/chats/x/session",
            &[],
            Some(r#"{"publicAccessToken":1}"#),
        ),
        (
            "PUT",
            "/app/chats/x/messages",
            &[],
            Some(r#"{"messages":{}}"#),
        ),
        (
            "POST",
            "/app/chats/x/start",
            &[],
            Some(r#"{"clientData":[1]}"#),
        ),
        (
            "POST",
            "/_dev/faults/fail-appends",
            &[],
            Some(r#"{"count":"x"}"#),
        ),
        ("POST", "/_dev/faults/delay", &[], Some(r#"{"ms":-1}"#)),
        ("DELETE", "/api/v1/sessions", &[], None),
    ];
    let r = srv.req("DELETE", "/api/v1/sessions", &[], None).await;
    assert_eq!(r.status, 405);
    assert!(r.json()["error"].is_string());
    for (m, p, h, body) in cases {
        let r = srv.req(m, p, h, body).await;
        assert!(
            r.status >= 400 && r.status < 500,
            "{m} {p} -> {} {}",
            r.status,
            r.body
        );
    }
}
