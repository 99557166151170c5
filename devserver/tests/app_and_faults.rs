//! The demo app server, static files and fault injection over real HTTP.

mod common;

use common::*;
use serde_json::{json, Value};

/// `POST /app/chats/{chatId}/start` with this JSON body (or none).
async fn start_chat(srv: &Srv, chat_id: &str, body: Option<Value>) -> Resp {
    let path = format!("/app/chats/{chat_id}/start");
    srv.call("POST", &path, None, body).await
}

/// `POST /app/chats/{chatId}/token`.
async fn mint_token(srv: &Srv, chat_id: &str) -> Resp {
    let path = format!("/app/chats/{chat_id}/token");
    srv.call("POST", &path, None, None).await
}

/// `PUT`s a JSON body to a demo app route; returns the status.
async fn put(srv: &Srv, path: &str, body: Value) -> u16 {
    srv.call("PUT", path, None, Some(body)).await.status
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn config_reports_task_and_origin() {
    let srv = Srv::start().await;
    let host = srv.base.trim_start_matches("http://").to_string();
    let r = srv
        .req("GET", "/app/config", &[("host", &host)], None)
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.json(),
        json!({ "taskId": "ai-chat", "baseURL": srv.base })
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn start_chat_turn_persists_messages_and_cursor() {
    let srv = Srv::start().await;
    let r = start_chat(
        &srv,
        "demo-1",
        Some(json!({ "clientData": { "userId": "u" } })),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let pat = token_in(&r.json());
    // The session exists and was preloaded with the client data as metadata.
    let s = srv.retrieve("demo-1", Some(&pat)).await.json();
    assert_eq!(s["triggerConfig"]["basePayload"]["trigger"], "preload");
    assert_eq!(
        s["triggerConfig"]["basePayload"]["metadata"],
        json!({ "userId": "u" })
    );
    // Starting again returns a token for the same session.
    let again = start_chat(&srv, "demo-1", None).await;
    assert_eq!(again.status, 200);
    let chat = srv.get("/app/chats/demo-1").await;
    assert_eq!(chat.status, 200);
    assert_eq!(chat.json()["messages"], json!([]));
    assert!(chat.json()["session"]["publicAccessToken"].is_string());

    assert_eq!(
        srv.say("demo-1", &pat, "u1", "Tell me about persistence please")
            .await
            .status,
        200
    );
    let t = srv.turn("demo-1", &pat, None).await;
    let tc = t.last().unwrap();
    let c = srv.get("/app/chats/demo-1").await.json();
    assert_eq!(c["id"], "demo-1");
    assert_eq!(c["title"], "Tell me about persistence please");
    let msgs = c["messages"].as_array().unwrap();
    assert_eq!(msgs.len(), 2);
    assert_eq!(msgs[0]["id"], "u1");
    assert_eq!(msgs[1]["role"], "assistant");
    let start_id = t
        .iter()
        .filter_map(Rec::chunk)
        .find(|c| c["type"] == "start")
        .unwrap()["messageId"]
        .clone();
    assert_eq!(msgs[1]["id"], start_id);
    let text: String = msgs[1]["parts"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["type"] == "text")
        .map(|p| p["text"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(text, "Echo: Tell me about persistence please");
    assert_eq!(c["session"]["lastEventId"], tc.seq.to_string());
    assert_eq!(
        c["session"]["publicAccessToken"],
        tc.header("public-access-token").unwrap()
    );
    assert_eq!(c["session"]["isStreaming"], false);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chat_list_is_newest_first_within_one_clock_tick() {
    // Every write in the same millisecond: only the order of the writes can order
    // the list.
    let srv = Srv::start_with(|c| c.clock = || 1_700_000_000_000).await;
    let msgs = |text: &str| json!({ "messages": [{ "id": "m1", "role": "user", "parts": [{ "type": "text", "text": text }] }] });
    for id in ["a", "b", "c"] {
        assert_eq!(
            put(&srv, &format!("/app/chats/{id}/messages"), msgs(id)).await,
            200
        );
    }
    assert_eq!(
        put(&srv, "/app/chats/a/messages", msgs("a again")).await,
        200
    );
    let list = srv.get("/app/chats").await.json();
    let ids: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["a", "c", "b"], "{list}");
    assert!(list
        .as_array()
        .unwrap()
        .iter()
        .all(|c| c["updatedAt"] == 1_700_000_000_000u64));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_list_put_and_delete() {
    let srv = Srv::start().await;
    let r = mint_token(&srv, "demo-2").await;
    assert_eq!(r.status, 200);
    let scopes = jwt_payload(&token_in(&r.json()))["scopes"].clone();
    assert_eq!(
        scopes,
        json!(["read:sessions:demo-2", "write:sessions:demo-2"])
    );
    assert_eq!(srv.get("/app/chats/demo-2").await.status, 404);

    let msgs = json!({ "messages": [{ "id": "m1", "role": "user", "parts": [{ "type": "text", "text": "first chat" }] }] });
    assert_eq!(put(&srv, "/app/chats/older/messages", msgs).await, 200);
    let msgs = json!({ "messages": [{ "id": "m1", "role": "user", "parts": [{ "type": "text", "text": "second chat" }] }] });
    assert_eq!(put(&srv, "/app/chats/newer/messages", msgs).await, 200);
    let list = srv.get("/app/chats").await.json();
    let ids: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["newer", "older"]);
    assert_eq!(list[0]["title"], "second chat");
    assert!(list[0]["updatedAt"].is_number());

    let session = "/app/chats/newer/session";
    let body = json!({ "publicAccessToken": "tok-1", "lastEventId": "12", "isStreaming": true });
    assert_eq!(put(&srv, session, body).await, 200);
    let c = srv.get("/app/chats/newer").await.json();
    assert_eq!(
        c["session"],
        json!({ "publicAccessToken": "tok-1", "lastEventId": "12", "isStreaming": true })
    );
    // Partial update keeps the cursor.
    let body = json!({ "publicAccessToken": "tok-2" });
    assert_eq!(put(&srv, session, body).await, 200);
    let c = srv.get("/app/chats/newer").await.json();
    assert_eq!(c["session"]["publicAccessToken"], "tok-2");
    assert_eq!(c["session"]["lastEventId"], "12");
    assert!(
        c["session"].get("closed").is_none(),
        "open: no closed field"
    );
    // Closed is kept, with its reason; a later write does not reopen it.
    let body = json!({ "publicAccessToken": "tok-2", "closed": true, "closedReason": "bye" });
    assert_eq!(put(&srv, session, body).await, 200);
    let body = json!({ "publicAccessToken": "tok-3", "closed": false });
    assert_eq!(put(&srv, session, body).await, 200);
    let c = srv.get("/app/chats/newer").await.json();
    assert_eq!(
        (&c["session"]["closed"], &c["session"]["closedReason"]),
        (&json!(true), &json!("bye"))
    );
    assert_eq!(put(&srv, session, Value::Null).await, 200);
    assert_eq!(
        srv.get("/app/chats/newer").await.json()["session"],
        Value::Null
    );
    for (path, bad) in [
        (session, "{"),
        (session, "[]"),
        (session, r#"{"publicAccessToken":5}"#),
        (session, r#"{"publicAccessToken":"t","isStreaming":"yes"}"#),
        (session, r#"{"publicAccessToken":"t","closed":1}"#),
        (session, r#"{"publicAccessToken":"t","closedReason":true}"#),
        ("/app/chats/newer/messages", r#"{"messages":[1]}"#),
    ] {
        let r = srv.req("PUT", path, &[], Some(bad)).await;
        assert_eq!(r.status, 400, "{path} {bad}");
    }

    // Delete removes the rows and closes a live session.
    let pat = token_in(&start_chat(&srv, "doomed", None).await.json());
    let d = srv.req("DELETE", "/app/chats/doomed", &[], None).await;
    assert_eq!(d.status, 200);
    assert_eq!(d.json()["sessionClosed"], true);
    assert_eq!(srv.get("/app/chats/doomed").await.status, 404);
    let r = srv.say("doomed", &pat, "u1", "hello?").await;
    assert_session_closed(&r, Some("chat deleted"));
    let s = srv.retrieve("doomed", Some(&pat)).await.json();
    assert!(s["closedAt"].is_string());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn static_files_with_index_fallback() {
    let dir = std::env::temp_dir().join(format!("devserver-www-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("assets")).unwrap();
    std::fs::write(dir.join("index.html"), "<h1>demo</h1>").unwrap();
    std::fs::write(dir.join("assets/app.js"), "console.log(1)").unwrap();
    let d2 = dir.clone();
    let srv = Srv::start_with(move |c| c.www = Some(d2)).await;
    let r = srv.get("/").await;
    assert_eq!((r.status, r.body.as_str()), (200, "<h1>demo</h1>"));
    assert!(r.header("content-type").unwrap().starts_with("text/html"));
    let r = srv.get("/assets/app.js").await;
    assert_eq!(r.body, "console.log(1)");
    assert!(r
        .header("content-type")
        .unwrap()
        .starts_with("text/javascript"));
    let r = srv.get("/chat/some-id").await;
    assert_eq!(r.body, "<h1>demo</h1>");
    let r = srv.get("/../Cargo.toml").await;
    assert!(!r.body.contains("[package]"));
    let r = srv.get("/api/v1/nothing").await;
    assert_eq!(r.status, 404);
    assert!(r.json()["error"].is_string());
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fault_routes_only_with_the_flag() {
    let srv = Srv::start_with(|c| c.faults = false).await;
    for (m, p) in [
        ("POST", "/_dev/faults/drop-out"),
        ("POST", "/_dev/faults/reset"),
        ("GET", "/_dev/stats"),
    ] {
        assert_eq!(srv.req(m, p, &[], Some("{}")).await.status, 404, "{p}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drop_out_cuts_the_stream_without_done() {
    let srv = Srv::start().await;
    let pat = srv.create_token("f-drop", Some("one two three four")).await;
    let full = srv.turn("f-drop", &pat, None).await;
    let r = srv
        .fault("drop-out", Some(json!({ "afterRecords": 3 })))
        .await;
    assert_eq!(r.status, 200);
    let mut s = srv.out("f-drop", &pat, &[("timeout-seconds", "5")]).await;
    let (recs, done, broken) = s.drain().await;
    assert!(broken, "connection must be cut");
    assert!(!done);
    assert_eq!(recs.len(), 3);
    // Only the next connection is affected; resume continues past the cut.
    let mut s = srv
        .out_after(
            "f-drop",
            &pat,
            Some(recs[2].seq),
            &[("timeout-seconds", "1")],
        )
        .await;
    let (rest, done, broken) = s.drain().await;
    assert!(done && !broken);
    assert_eq!(rest[0].seq, 3);
    assert!(rest.iter().any(|r| r.seq == last_seq(&full)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_appends_then_idempotent_retry() {
    let srv = Srv::start().await;
    let pat = srv.create_token("f-app", None).await;
    let r = srv
        .fault("fail-appends", Some(json!({ "count": 2, "status": 500 })))
        .await;
    assert_eq!(r.status, 200);
    let body = user_chunk("f-app", "u1", "retry me").to_string();
    let part = [("x-part-id", "p-1")];
    for _ in 0..2 {
        let r = srv.append_raw("f-app", &pat, &part, &body).await;
        assert_eq!(r.status, 500);
        assert_eq!(r.json()["ok"], false);
        assert!(r.header("access-control-allow-origin").is_some());
    }
    for _ in 0..2 {
        let r = srv.append_raw("f-app", &pat, &part, &body).await;
        assert_eq!(r.status, 200);
    }
    let t = srv.turn("f-app", &pat, None).await;
    assert_eq!(text_of(&t), "Echo: retry me");
    let st = srv.stats().await;
    assert_eq!(st["appends"], 1);
    assert_eq!(st["appendRequests"], 4);

    let before = trigger_devserver::util::now_ms();
    let rate_limit = json!({ "count": 1, "status": 429, "resetMs": 2500 });
    assert_eq!(
        srv.fault("fail-appends", Some(rate_limit)).await.status,
        200
    );
    let r = srv.append_raw("f-app", &pat, &[], &body).await;
    assert_eq!(r.status, 429);
    let reset: u64 = r.header("x-ratelimit-reset").unwrap().parse().unwrap();
    assert!(reset >= before + 2500, "reset is now + resetMs in Unix ms");
    assert_eq!(r.header("x-ratelimit-remaining").as_deref(), Some("0"));
    let unsupported = json!({ "count": 1, "status": 404 });
    assert_eq!(
        srv.fault("fail-appends", Some(unsupported)).await.status,
        400
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expire_tokens_revokes_everything_issued_so_far() {
    let srv = Srv::start().await;
    let pat = srv.create_token("f-exp", None).await;
    assert_eq!(srv.retrieve("f-exp", Some(&pat)).await.status, 200);
    assert_eq!(srv.fault("expire-tokens", None).await.status, 200);
    assert_eq!(srv.retrieve("f-exp", Some(&pat)).await.status, 401);
    assert_eq!(srv.say("f-exp", &pat, "u1", "x").await.status, 401);
    let r = srv.out_response("f-exp", Some(&pat), &[]).await;
    assert_eq!(r.status, 401);
    // The secret key still works; freshly minted tokens work.
    let fresh = token_in(&mint_token(&srv, "f-exp").await.json());
    assert_eq!(srv.retrieve("f-exp", Some(&fresh)).await.status, 200);
    assert_eq!(srv.retrieve("f-exp", Some(KEY)).await.status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delay_slows_responses_until_reset() {
    let srv = Srv::start().await;
    let delay = Some(json!({ "ms": 300 }));
    assert_eq!(srv.fault("delay", delay).await.status, 200);
    let t0 = std::time::Instant::now();
    assert_eq!(srv.get("/app/chats").await.status, 200);
    assert!(
        t0.elapsed() >= std::time::Duration::from_millis(300),
        "delayed by at least ms"
    );
    assert_eq!(srv.fault("delay", Some(json!({}))).await.status, 400);
    assert_eq!(srv.fault("reset", None).await.status, 200);
    let drop_out = Some(json!({ "afterRecords": 0 }));
    assert_eq!(srv.fault("drop-out", drop_out).await.status, 200);
    assert_eq!(srv.fault("reset", None).await.status, 200);
    // After reset the pending drop-out is gone: a stream ends cleanly.
    let pat = srv.create_token("f-delay", None).await;
    let mut s = srv.out("f-delay", &pat, &[("timeout-seconds", "1")]).await;
    let (_, done, broken) = s.drain().await;
    assert!(done && !broken);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stats_count_open_out_connections() {
    let srv = Srv::start().await;
    let pat = srv.create_token("f-stats", None).await;
    assert_eq!(srv.stats().await["openOutConnections"], 0);
    let s1 = srv.out("f-stats", &pat, &[("timeout-seconds", "60")]).await;
    let mut s2 = srv.out("f-stats", &pat, &[("timeout-seconds", "1")]).await;
    wait_stats(&srv, |s| s["openOutConnections"] == 2).await;
    let _ = s2.drain().await;
    wait_stats(&srv, |s| s["openOutConnections"] == 1).await;
    drop(s1);
    wait_stats(&srv, |s| s["openOutConnections"] == 0).await;
}
