//! The demo app server, static files and fault injection over real HTTP.

mod common;

use common::*;
use serde_json::{json, Value};

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
    let r = srv
        .call(
            "POST",
            "/app/chats/demo-1/start",
            None,
            Some(json!({ "clientData": { "userId": "u" } })),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    let pat = r.json()["publicAccessToken"].as_str().unwrap().to_string();
    // The session exists and was preloaded with the client data as metadata.
    let s = srv
        .call("GET", "/api/v1/sessions/demo-1", Some(&pat), None)
        .await
        .json();
    assert_eq!(s["triggerConfig"]["basePayload"]["trigger"], "preload");
    assert_eq!(
        s["triggerConfig"]["basePayload"]["metadata"],
        json!({ "userId": "u" })
    );
    // Starting again returns a token for the same session.
    let again = srv
        .call("POST", "/app/chats/demo-1/start", None, None)
        .await;
    assert_eq!(again.status, 200);
    let chat = srv.req("GET", "/app/chats/demo-1", &[], None).await;
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
    let c = srv.req("GET", "/app/chats/demo-1", &[], None).await.json();
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
async fn token_list_put_and_delete() {
    let srv = Srv::start().await;
    let r = srv
        .call("POST", "/app/chats/demo-2/token", None, None)
        .await;
    assert_eq!(r.status, 200);
    let scopes = jwt_payload(r.json()["publicAccessToken"].as_str().unwrap())["scopes"].clone();
    assert_eq!(
        scopes,
        json!(["read:sessions:demo-2", "write:sessions:demo-2"])
    );
    assert_eq!(
        srv.req("GET", "/app/chats/demo-2", &[], None).await.status,
        404
    );

    let msgs = json!({ "messages": [{ "id": "m1", "role": "user", "parts": [{ "type": "text", "text": "first chat" }] }] });
    assert_eq!(
        srv.call("PUT", "/app/chats/older/messages", None, Some(msgs))
            .await
            .status,
        200
    );
    let msgs = json!({ "messages": [{ "id": "m1", "role": "user", "parts": [{ "type": "text", "text": "second chat" }] }] });
    // Distinct updatedAt values.
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    assert_eq!(
        srv.call("PUT", "/app/chats/newer/messages", None, Some(msgs))
            .await
            .status,
        200
    );
    let list = srv.req("GET", "/app/chats", &[], None).await.json();
    let ids: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["newer", "older"]);
    assert_eq!(list[0]["title"], "second chat");
    assert!(list[0]["updatedAt"].is_number());

    let put = json!({ "publicAccessToken": "tok-1", "lastEventId": "12", "isStreaming": true });
    assert_eq!(
        srv.call("PUT", "/app/chats/newer/session", None, Some(put))
            .await
            .status,
        200
    );
    let c = srv.req("GET", "/app/chats/newer", &[], None).await.json();
    assert_eq!(
        c["session"],
        json!({ "publicAccessToken": "tok-1", "lastEventId": "12", "isStreaming": true })
    );
    // Partial update keeps the cursor.
    let put = json!({ "publicAccessToken": "tok-2" });
    assert_eq!(
        srv.call("PUT", "/app/chats/newer/session", None, Some(put))
            .await
            .status,
        200
    );
    let c = srv.req("GET", "/app/chats/newer", &[], None).await.json();
    assert_eq!(c["session"]["publicAccessToken"], "tok-2");
    assert_eq!(c["session"]["lastEventId"], "12");
    assert!(
        c["session"].get("closed").is_none(),
        "open: no closed field"
    );
    // Closed is kept, with its reason; a later write does not reopen it.
    let put = json!({ "publicAccessToken": "tok-2", "closed": true, "closedReason": "bye" });
    assert_eq!(
        srv.call("PUT", "/app/chats/newer/session", None, Some(put))
            .await
            .status,
        200
    );
    let put = json!({ "publicAccessToken": "tok-3", "closed": false });
    assert_eq!(
        srv.call("PUT", "/app/chats/newer/session", None, Some(put))
            .await
            .status,
        200
    );
    let c = srv.req("GET", "/app/chats/newer", &[], None).await.json();
    assert_eq!(
        (&c["session"]["closed"], &c["session"]["closedReason"]),
        (&json!(true), &json!("bye"))
    );
    let r = srv
        .req(
            "PUT",
            "/app/chats/newer/session",
            &[("content-type", "application/json")],
            Some("null"),
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(
        srv.req("GET", "/app/chats/newer", &[], None).await.json()["session"],
        Value::Null
    );
    for bad in [
        "{",
        "[]",
        "{\"publicAccessToken\":5}",
        "{\"publicAccessToken\":\"t\",\"isStreaming\":\"yes\"}",
        "{\"publicAccessToken\":\"t\",\"closed\":1}",
        "{\"publicAccessToken\":\"t\",\"closedReason\":true}",
    ] {
        assert_eq!(
            srv.req("PUT", "/app/chats/newer/session", &[], Some(bad))
                .await
                .status,
            400,
            "{bad}"
        );
    }
    assert_eq!(
        srv.req(
            "PUT",
            "/app/chats/newer/messages",
            &[],
            Some("{\"messages\":[1]}")
        )
        .await
        .status,
        400
    );

    // Delete removes the rows and closes a live session.
    let started = srv
        .call("POST", "/app/chats/doomed/start", None, None)
        .await
        .json();
    let pat = started["publicAccessToken"].as_str().unwrap().to_string();
    let d = srv.req("DELETE", "/app/chats/doomed", &[], None).await;
    assert_eq!(d.status, 200);
    assert_eq!(d.json()["sessionClosed"], true);
    assert_eq!(
        srv.req("GET", "/app/chats/doomed", &[], None).await.status,
        404
    );
    let r = srv.say("doomed", &pat, "u1", "hello?").await;
    assert_session_closed(&r, Some("chat deleted"));
    let s = srv
        .call("GET", "/api/v1/sessions/doomed", Some(&pat), None)
        .await
        .json();
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
    let r = srv.req("GET", "/", &[], None).await;
    assert_eq!((r.status, r.body.as_str()), (200, "<h1>demo</h1>"));
    assert!(r.header("content-type").unwrap().starts_with("text/html"));
    let r = srv.req("GET", "/assets/app.js", &[], None).await;
    assert_eq!(r.body, "console.log(1)");
    assert!(r
        .header("content-type")
        .unwrap()
        .starts_with("text/javascript"));
    let r = srv.req("GET", "/chat/some-id", &[], None).await;
    assert_eq!(r.body, "<h1>demo</h1>");
    let r = srv.req("GET", "/../Cargo.toml", &[], None).await;
    assert!(!r.body.contains("[package]"));
    let r = srv.req("GET", "/api/v1/nothing", &[], None).await;
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
        .call(
            "POST",
            "/_dev/faults/drop-out",
            None,
            Some(json!({ "afterRecords": 3 })),
        )
        .await;
    assert_eq!(r.status, 200);
    let mut s = srv.out("f-drop", &pat, &[("timeout-seconds", "5")]).await;
    let (recs, done, broken) = s.drain().await;
    assert!(broken, "connection must be cut");
    assert!(!done);
    assert_eq!(recs.len(), 3);
    // Only the next connection is affected; resume continues past the cut.
    let mut s = srv
        .out(
            "f-drop",
            &pat,
            &[
                ("timeout-seconds", "1"),
                ("last-event-id", &recs[2].seq.to_string()),
            ],
        )
        .await;
    let (rest, done, broken) = s.drain().await;
    assert!(done && !broken);
    assert_eq!(rest[0].seq, 3);
    assert!(rest.iter().any(|r| r.seq == full.last().unwrap().seq));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_appends_then_idempotent_retry() {
    let srv = Srv::start().await;
    let pat = srv.create_token("f-app", None).await;
    let r = srv
        .call(
            "POST",
            "/_dev/faults/fail-appends",
            None,
            Some(json!({ "count": 2, "status": 500 })),
        )
        .await;
    assert_eq!(r.status, 200);
    let auth = format!("Bearer {pat}");
    let body = user_chunk("f-app", "u1", "retry me").to_string();
    let h = [("authorization", auth.as_str()), ("x-part-id", "p-1")];
    let url = "/realtime/v1/sessions/f-app/in/append";
    for _ in 0..2 {
        let r = srv.req("POST", url, &h, Some(&body)).await;
        assert_eq!(r.status, 500);
        assert_eq!(r.json()["ok"], false);
        assert!(r.header("access-control-allow-origin").is_some());
    }
    assert_eq!(srv.req("POST", url, &h, Some(&body)).await.status, 200);
    assert_eq!(srv.req("POST", url, &h, Some(&body)).await.status, 200);
    let t = srv.turn("f-app", &pat, None).await;
    assert_eq!(text_of(&t), "Echo: retry me");
    let st = srv.stats().await;
    assert_eq!(st["appends"], 1);
    assert_eq!(st["appendRequests"], 4);

    let before = trigger_devserver::util::now_ms();
    let r = srv
        .call(
            "POST",
            "/_dev/faults/fail-appends",
            None,
            Some(json!({ "count": 1, "status": 429, "resetMs": 2500 })),
        )
        .await;
    assert_eq!(r.status, 200);
    let r = srv
        .req(
            "POST",
            url,
            &[("authorization", auth.as_str())],
            Some(&body),
        )
        .await;
    assert_eq!(r.status, 429);
    let reset: u64 = r.header("x-ratelimit-reset").unwrap().parse().unwrap();
    assert!(reset >= before + 2500, "reset is now + resetMs in Unix ms");
    assert_eq!(r.header("x-ratelimit-remaining").as_deref(), Some("0"));
    assert_eq!(
        srv.call(
            "POST",
            "/_dev/faults/fail-appends",
            None,
            Some(json!({ "count": 1, "status": 404 }))
        )
        .await
        .status,
        400
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expire_tokens_revokes_everything_issued_so_far() {
    let srv = Srv::start().await;
    let pat = srv.create_token("f-exp", None).await;
    assert_eq!(
        srv.call("GET", "/api/v1/sessions/f-exp", Some(&pat), None)
            .await
            .status,
        200
    );
    assert_eq!(
        srv.call("POST", "/_dev/faults/expire-tokens", None, None)
            .await
            .status,
        200
    );
    assert_eq!(
        srv.call("GET", "/api/v1/sessions/f-exp", Some(&pat), None)
            .await
            .status,
        401
    );
    assert_eq!(srv.say("f-exp", &pat, "u1", "x").await.status, 401);
    let r = srv
        .req(
            "GET",
            "/realtime/v1/sessions/f-exp/out",
            &[
                ("authorization", &format!("Bearer {pat}")),
                ("accept", "text/event-stream"),
            ],
            None,
        )
        .await;
    assert_eq!(r.status, 401);
    // The secret key still works; freshly minted tokens work.
    let fresh = srv
        .call("POST", "/app/chats/f-exp/token", None, None)
        .await
        .json()["publicAccessToken"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        srv.call("GET", "/api/v1/sessions/f-exp", Some(&fresh), None)
            .await
            .status,
        200
    );
    assert_eq!(
        srv.call("GET", "/api/v1/sessions/f-exp", Some(KEY), None)
            .await
            .status,
        200
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delay_slows_responses_until_reset() {
    let srv = Srv::start().await;
    assert_eq!(
        srv.call(
            "POST",
            "/_dev/faults/delay",
            None,
            Some(json!({ "ms": 300 }))
        )
        .await
        .status,
        200
    );
    let t0 = std::time::Instant::now();
    assert_eq!(srv.req("GET", "/app/chats", &[], None).await.status, 200);
    assert!(
        t0.elapsed() >= std::time::Duration::from_millis(300),
        "delayed by at least ms"
    );
    assert_eq!(
        srv.call("POST", "/_dev/faults/delay", None, Some(json!({})))
            .await
            .status,
        400
    );
    assert_eq!(
        srv.call("POST", "/_dev/faults/reset", None, None)
            .await
            .status,
        200
    );
    let r = srv
        .call(
            "POST",
            "/_dev/faults/drop-out",
            None,
            Some(json!({ "afterRecords": 0 })),
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(
        srv.call("POST", "/_dev/faults/reset", None, None)
            .await
            .status,
        200
    );
    // After reset the pending drop-out is gone: a stream ends cleanly.
    let b = srv.create("f-delay", None).await;
    let mut s = srv
        .out(
            "f-delay",
            b["publicAccessToken"].as_str().unwrap(),
            &[("timeout-seconds", "1")],
        )
        .await;
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
