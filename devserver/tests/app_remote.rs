//! The demo app server against another API: a second emulator on another port
//! with another secret key stands in for a real Trigger.dev project.

mod common;

use common::*;
use serde_json::json;
use trigger_devserver::client::ApiTarget;

const OTHER_KEY: &str = "tr_dev_second_instance_key";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn app_server_runs_against_a_second_emulator() {
    let api = Srv::start_with(|c| c.secret_key = OTHER_KEY.into()).await;
    let app = Srv::start_with(|c| {
        c.api_target = ApiTarget::Remote(api.base.clone());
        c.secret_key = OTHER_KEY.into();
    })
    .await;

    // The page is told to talk to the other API.
    let cfg = app.get("/app/config").await.json();
    assert_eq!(cfg, json!({ "taskId": "ai-chat", "baseURL": api.base }));
    // This instance serves no API of its own.
    assert_eq!(app.retrieve("r-1", Some(OTHER_KEY)).await.status, 404);

    let r = app.call("POST", "/app/chats/r-1/start", None, None).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let started = r.json();
    let pat = token_in(&started);
    // The session lives on the other API, created with its key.
    let s = api.retrieve("r-1", Some(OTHER_KEY)).await;
    assert_eq!(s.status, 200, "{}", s.body);
    assert_eq!(s.json()["id"], started["sessionId"]);
    assert_eq!(s.json()["currentRunId"], started["runId"]);

    // A token the app server minted works on the other API's streams.
    let minted = app.call("POST", "/app/chats/r-1/token", None, None).await;
    assert_eq!(minted.status, 200, "{}", minted.body);
    let minted = token_in(&minted.json());
    assert_eq!(
        api.say("r-1", &minted, "u1", "over there").await.status,
        200
    );
    let turn = api.turn("r-1", &pat, None).await;
    assert_eq!(text_of(&turn), "Echo: over there");

    // The app server's own storage: the chat row.
    let chat = app.get("/app/chats/r-1").await.json();
    assert_eq!(chat["session"]["publicAccessToken"], pat.as_str());

    // Deleting the chat closes the session over there.
    let d = app.req("DELETE", "/app/chats/r-1", &[], None).await.json();
    assert_eq!(d["sessionClosed"], true);
    let s = api.retrieve("r-1", Some(OTHER_KEY)).await.json();
    assert!(s["closedAt"].is_string(), "{s}");
    assert_eq!(s["closedReason"], "chat deleted");
    let again = app.call("POST", "/app/chats/r-1/start", None, None).await;
    assert_eq!(again.status, 409);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_refusals_and_outages_reach_the_page_as_errors() {
    let api = Srv::start_with(|c| c.secret_key = OTHER_KEY.into()).await;
    // The wrong key: the other API's 401 is passed on, without the key.
    let wrong = Srv::start_with(|c| {
        c.api_target = ApiTarget::Remote(api.base.clone());
        c.secret_key = "tr_dev_not_the_right_key".into();
    })
    .await;
    let r = wrong.call("POST", "/app/chats/w-1/start", None, None).await;
    assert_eq!(r.status, 401, "{}", r.body);
    assert!(!r.body.contains("not_the_right_key"));
    let r = wrong.call("POST", "/app/chats/w-1/token", None, None).await;
    assert_eq!(r.status, 401, "{}", r.body);

    // Nobody listening: a 502 with a clear error.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let down = Srv::start_with(|c| {
        c.api_target = ApiTarget::Remote(format!("http://127.0.0.1:{port}"));
        c.secret_key = OTHER_KEY.into();
    })
    .await;
    let r = down.call("POST", "/app/chats/d-1/start", None, None).await;
    assert_eq!(r.status, 502, "{}", r.body);
    assert!(r.json()["error"].as_str().unwrap().contains("unreachable"));
    assert!(!r.body.contains(OTHER_KEY));
}
