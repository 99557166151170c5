//! The scripted agent's behaviours, observed on `.out` over real HTTP.

mod common;

use common::*;
use serde_json::{json, Value};

/// Starts a preloaded chat and returns (server, token).
async fn chat(id: &str) -> (Srv, String) {
    let srv = Srv::start().await;
    let pat = srv.create_token(id, None).await;
    (srv, pat)
}

/// Sends `text` and reads the whole turn from `after`.
async fn ask(
    srv: &Srv,
    id: &str,
    pat: &str,
    msg_id: &str,
    text: &str,
    after: Option<u64>,
) -> Vec<Rec> {
    assert_eq!(srv.say(id, pat, msg_id, text).await.status, 200);
    srv.turn(id, pat, after).await
}

fn chunks(recs: &[Rec]) -> Vec<Value> {
    recs.iter().filter_map(Rec::chunk).collect()
}

fn find(recs: &[Rec], ty: &str) -> Value {
    chunks(recs)
        .into_iter()
        .find(|c| c["type"] == ty)
        .unwrap_or_else(|| panic!("no {ty} chunk"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn long_reply_has_n_tokens() {
    let (srv, pat) = chat("s-long").await;
    let t = ask(&srv, "s-long", &pat, "u1", "/long 7", None).await;
    let deltas: Vec<Value> = chunks(&t)
        .into_iter()
        .filter(|c| c["type"] == "text-delta")
        .collect();
    assert_eq!(deltas.len(), 7);
    assert_eq!(
        text_of(&t),
        "token1 token2 token3 token4 token5 token6 token7"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bench_emits_n_deltas() {
    let (srv, pat) = chat("s-bench").await;
    let t = ask(&srv, "s-bench", &pat, "u1", "/bench 500", None).await;
    let n = chunks(&t)
        .iter()
        .filter(|c| c["type"] == "text-delta")
        .count();
    assert_eq!(n, 500);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reasoning_then_text() {
    let (srv, pat) = chat("s-reason").await;
    let t = ask(&srv, "s-reason", &pat, "u1", "/reason", None).await;
    let types = types_of(&t);
    let rs = types.iter().position(|t| t == "reasoning-start").unwrap();
    let re = types.iter().position(|t| t == "reasoning-end").unwrap();
    let ts = types.iter().position(|t| t == "text-start").unwrap();
    assert!(rs < re && re < ts);
    assert!(types[rs..re].iter().skip(1).all(|t| t == "reasoning-delta"));
    assert!(!text_of(&t).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tool_call_with_result_then_text() {
    let (srv, pat) = chat("s-tool").await;
    let t = ask(&srv, "s-tool", &pat, "u1", "/tool", None).await;
    let types = types_of(&t);
    let order = [
        "tool-input-start",
        "tool-input-delta",
        "tool-input-available",
        "tool-output-available",
        "text-delta",
    ];
    let pos: Vec<usize> = order
        .iter()
        .map(|o| types.iter().position(|t| t == o).unwrap())
        .collect();
    assert!(pos.windows(2).all(|w| w[0] < w[1]), "{types:?}");
    let avail = find(&t, "tool-input-available");
    assert_eq!(avail["toolName"], "getWeather");
    assert_eq!(avail["input"], json!({ "city": "Paris" }));
    let out = find(&t, "tool-output-available");
    assert_eq!(out["output"], json!({ "tempC": 21 }));
    assert_eq!(out["toolCallId"], avail["toolCallId"]);
    let streamed: String = chunks(&t)
        .iter()
        .filter(|c| c["type"] == "tool-input-delta")
        .map(|c| c["inputTextDelta"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        serde_json::from_str::<Value>(&streamed).unwrap(),
        json!({ "city": "Paris" })
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ask_pauses_then_continues_the_same_message() {
    let (srv, pat) = chat("s-ask").await;
    let t = ask(&srv, "s-ask", &pat, "u1", "/ask", None).await;
    let msg_id = find(&t, "start")["messageId"].as_str().unwrap().to_string();
    let call = find(&t, "tool-input-available");
    assert_eq!(call["toolName"], "askUser");
    assert_eq!(
        call["input"],
        json!({ "question": "Pick a color", "options": ["red", "green", "blue"] })
    );
    assert!(types_of(&t).contains(&"finish".to_string()));
    assert!(!types_of(&t).contains(&"tool-output-available".to_string()));
    // The answer comes back as the slim assistant message.
    let answer = json!({
        "kind": "message",
        "payload": {
            "chatId": "s-ask", "trigger": "submit-message",
            "message": { "id": msg_id, "role": "assistant", "parts": [
                { "type": "tool-askUser", "toolCallId": call["toolCallId"], "state": "output-available", "output": "green" }
            ]}
        }
    });
    assert_eq!(srv.append("s-ask", &pat, answer).await.status, 200);
    let t2 = srv.turn("s-ask", &pat, Some(last_seq(&t))).await;
    assert_eq!(find(&t2, "start")["messageId"], msg_id.as_str());
    assert_eq!(text_of(&t2), "You picked green.");
}

async fn approve_flow(approved: bool) -> (Vec<Rec>, String) {
    let id = if approved { "s-appr-yes" } else { "s-appr-no" };
    let (srv, pat) = chat(id).await;
    let t = ask(&srv, id, &pat, "u1", "/approve", None).await;
    let msg_id = find(&t, "start")["messageId"].as_str().unwrap().to_string();
    let avail = find(&t, "tool-input-available");
    assert_eq!(avail["toolName"], "sendEmail");
    let req = find(&t, "tool-approval-request");
    assert_eq!(req["toolCallId"], avail["toolCallId"]);
    assert!(req["approvalId"].is_string());
    let answer = json!({
        "kind": "message",
        "payload": {
            "chatId": id, "trigger": "submit-message",
            "message": { "id": msg_id, "role": "assistant", "parts": [{
                "type": "tool-sendEmail", "toolCallId": avail["toolCallId"], "state": "approval-responded",
                "approval": { "id": req["approvalId"], "approved": approved }
            }]}
        }
    });
    assert_eq!(srv.append(id, &pat, answer).await.status, 200);
    let t2 = srv.turn(id, &pat, Some(last_seq(&t))).await;
    assert_eq!(find(&t2, "start")["messageId"], msg_id.as_str());
    (t2, avail["toolCallId"].as_str().unwrap().to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn approval_granted_runs_the_tool() {
    let (t, call) = approve_flow(true).await;
    assert_eq!(
        find(&t, "tool-output-available")["toolCallId"],
        call.as_str()
    );
    assert_eq!(text_of(&t), "Email sent.");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn approval_denied_does_not() {
    let (t, call) = approve_flow(false).await;
    assert_eq!(find(&t, "tool-output-denied")["toolCallId"], call.as_str());
    assert!(!types_of(&t).contains(&"tool-output-available".to_string()));
    assert_eq!(text_of(&t), "Email not sent.");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn error_chunk_then_turn_complete() {
    let (srv, pat) = chat("s-err").await;
    let t = ask(&srv, "s-err", &pat, "u1", "/error", None).await;
    assert_eq!(find(&t, "error")["errorText"], "Scripted failure");
    assert_eq!(t.last().unwrap().control(), Some("turn-complete"));
    assert!(!types_of(&t).contains(&"text-delta".to_string()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upgrade_swaps_the_run_mid_reply() {
    let srv = Srv::start().await;
    let (b, pat) = srv.create_with_token("s-up", None).await;
    let first_run = b["runId"].as_str().unwrap().to_string();
    let t = ask(&srv, "s-up", &pat, "u1", "/upgrade", None).await;
    let up = t
        .iter()
        .position(|r| r.control() == Some("upgrade-required"))
        .expect("upgrade-required");
    assert_eq!(t[up].body, "");
    assert!(t[..up].iter().any(|r| r.ty() == "text-delta"));
    assert!(t[up..].iter().any(|r| r.ty() == "text-delta"));
    let s = srv.retrieve("s-up", Some(&pat)).await.json();
    assert_ne!(s["currentRunId"].as_str().unwrap(), first_run);
    // The conversation goes on.
    let t2 = ask(&srv, "s-up", &pat, "u2", "after", Some(last_seq(&t))).await;
    assert_eq!(text_of(&t2), "Echo: after");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn close_script_answers_then_closes_the_session() {
    let (srv, pat) = chat("s-close").await;
    let t = ask(&srv, "s-close", &pat, "u1", "/close bye", None).await;
    assert_eq!(text_of(&t), "Closing this chat: bye");
    let tc = t.last().unwrap();
    assert_eq!(tc.control(), Some("turn-complete"));
    assert_eq!(tc.header("session-closed"), Some("true"));
    assert_eq!(tc.header("session-closed-reason"), Some("bye"));
    assert!(tc.header("public-access-token").is_some());
    let r = srv.say("s-close", &pat, "u2", "still there?").await;
    assert_session_closed(&r, Some("bye"));
    let s = srv.retrieve("s-close", Some(&pat)).await.json();
    assert!(s["closedAt"].is_string());
    assert_eq!(s["closedReason"], "bye");
    // After the turn-complete: its trim, then the terminal session-closed record.
    let mut out = srv
        .out_after("s-close", &pat, Some(tc.seq), &[("timeout-seconds", "600")])
        .await;
    let rest = out.drain_now().await;
    let visible: Vec<&Rec> = rest.iter().filter(|r| !r.is_command()).collect();
    assert_eq!(visible.len(), 1);
    assert_eq!(visible[0].control(), Some("session-closed"));
    assert_eq!(visible[0].header("session-closed-reason"), Some("bye"));
    // The run is over and no continuation starts.
    wait_stats(&srv, |s| s["liveRuns"] == 0).await;

    // Without a reason.
    let pat2 = srv.create_token("s-close2", None).await;
    let t = ask(&srv, "s-close2", &pat2, "u1", "/close", None).await;
    assert_eq!(text_of(&t), "Closing this chat.");
    let tc = t.last().unwrap();
    assert_eq!(tc.header("session-closed"), Some("true"));
    assert_eq!(tc.header("session-closed-reason"), None);
    let s = srv.retrieve("s-close2", Some(&pat2)).await.json();
    assert!(s["closedAt"].is_string());
    assert!(s["closedReason"].is_null());
    assert_session_closed(&srv.say("s-close2", &pat2, "u2", "hi").await, None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn action_gets_a_short_reply() {
    let (srv, pat) = chat("s-act").await;
    let chunk = json!({ "kind": "message", "payload": { "chatId": "s-act", "trigger": "action", "action": { "type": "undo" } } });
    assert_eq!(srv.append("s-act", &pat, chunk).await.status, 200);
    let t = srv.turn("s-act", &pat, None).await;
    assert_eq!(text_of(&t), "Action: undo");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn regenerate_restreams_with_a_new_message_id() {
    let (srv, pat) = chat("s-regen").await;
    let t1 = ask(&srv, "s-regen", &pat, "u1", "again please", None).await;
    let chunk = json!({ "kind": "message", "payload": { "chatId": "s-regen", "trigger": "regenerate-message" } });
    assert_eq!(srv.append("s-regen", &pat, chunk).await.status, 200);
    let t2 = srv.turn("s-regen", &pat, Some(last_seq(&t1))).await;
    assert_eq!(text_of(&t2), text_of(&t1));
    assert_ne!(
        find(&t2, "start")["messageId"],
        find(&t1, "start")["messageId"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stop_aborts_the_turn_promptly() {
    let (srv, pat) = chat("s-stop").await;
    assert_eq!(
        srv.say("s-stop", &pat, "u1", "/pause 120").await.status,
        200
    );
    let mut s = srv.out("s-stop", &pat, &[("timeout-seconds", "60")]).await;
    // Wait for the first delta, then stop.
    let mut seen = s.until_chunk("text-delta").await;
    let r = srv
        .append(
            "s-stop",
            &pat,
            json!({ "kind": "stop", "message": "user cancelled" }),
        )
        .await;
    assert_eq!(r.status, 200);
    seen.extend(s.until_turn_complete().await);
    let types = types_of(&seen);
    assert_eq!(types.last().map(String::as_str), Some("finish"));
    assert!(!text_of(&seen).contains("Back after the pause"));
    // The agent is ready for the next message right away.
    let t2 = ask(&srv, "s-stop", &pat, "u2", "next", Some(last_seq(&seen))).await;
    assert_eq!(text_of(&t2), "Echo: next");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn steering_message_is_injected_mid_turn() {
    let (srv, pat) = chat("s-steer").await;
    // `/hold` waits mid-turn for the next message, so the steering message is
    // mid-turn however long it takes to arrive (no race with a pause).
    assert_eq!(srv.say("s-steer", &pat, "u1", "/hold").await.status, 200);
    let mut s = srv.out("s-steer", &pat, &[("timeout-seconds", "60")]).await;
    // After the hold's own text is out: a message that arrives while it
    // still streams is injected at a step boundary and the hold then waits
    // for another one (as in `peek_settled_closes_fast_only_when_settled`).
    let mut seen = s.until_chunk("text-end").await;
    assert_eq!(
        srv.say("s-steer", &pat, "u2", "use metric units")
            .await
            .status,
        200
    );
    seen.extend(s.until_turn_complete().await);
    let text = text_of(&seen);
    let noted = text.find("(noted: use metric units)").expect(&text);
    let held = text.find("Holding until the next message.").expect(&text);
    let back = text.find("Back after the hold.").expect(&text);
    assert!(held < noted && noted < back, "{text}");
    let starts = chunks(&seen)
        .iter()
        .filter(|c| c["type"] == "start")
        .count();
    assert_eq!(starts, 1, "one assistant message");
    // Every text part is closed.
    let opened = types_of(&seen)
        .iter()
        .filter(|t| *t == "text-start")
        .count();
    let closed = types_of(&seen).iter().filter(|t| *t == "text-end").count();
    assert_eq!(opened, closed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn first_message_in_base_payload_is_answered() {
    let srv = Srv::start().await;
    let pat = srv.create_token("s-first", Some("straight away")).await;
    let t = srv.turn("s-first", &pat, None).await;
    assert_eq!(text_of(&t), "Echo: straight away");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subagent_stream_is_forwarded_as_data_parts() {
    let (srv, pat) = chat("s-sub").await;
    let t = ask(&srv, "s-sub", &pat, "u1", "/subagent the tides", None).await;
    let all = chunks(&t);
    let avail = find(&t, "tool-input-available");
    assert_eq!(avail["toolName"], "research");
    assert_eq!(avail["input"], json!({ "topic": "the tides" }));
    let call = avail["toolCallId"].clone();

    // The batches: transient, keyed by the tool call, seq 0, 1, 2, … in order.
    let batches: Vec<&Value> = all
        .iter()
        .filter(|c| c["type"] == "data-subagent")
        .collect();
    assert!(batches.len() >= 3, "{batches:?}");
    for (i, b) in batches.iter().enumerate() {
        assert_eq!(b["transient"], true);
        assert_eq!(b["data"]["toolCallId"], call);
        assert_eq!(b["data"]["seq"], json!(i));
    }
    // Together they are one whole sub-agent reply.
    let sub: Vec<Value> = batches
        .iter()
        .flat_map(|b| b["data"]["chunks"].as_array().unwrap().clone())
        .collect();
    let sub_types: Vec<&str> = sub.iter().map(|c| c["type"].as_str().unwrap()).collect();
    assert_eq!(sub_types.first(), Some(&"start"));
    assert_eq!(sub_types.last(), Some(&"finish"));
    let sub_text: String = sub
        .iter()
        .filter(|c| c["type"] == "text-delta")
        .map(|c| c["delta"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        sub_text,
        "Sub-agent researched the tides: three sources agree."
    );
    assert!(sub.iter().filter(|c| c["type"] == "text-delta").count() > 1);

    // The forwarded stream comes between the call and its output, which is the
    // sub-agent's finished message; the parent's own text follows.
    let pos = |pred: &dyn Fn(&Value) -> bool| all.iter().position(pred).unwrap();
    let first_batch = pos(&|c| c["type"] == "data-subagent");
    let last_batch = all
        .iter()
        .rposition(|c| c["type"] == "data-subagent")
        .unwrap();
    let output = pos(&|c| c["type"] == "tool-output-available");
    let text = pos(&|c| c["type"] == "text-delta");
    assert!(pos(&|c| c["type"] == "tool-input-available") < first_batch);
    assert!(last_batch < output && output < text);
    let out = &all[output];
    assert_eq!(out["toolCallId"], call);
    assert_eq!(out["output"]["id"], sub[0]["messageId"]);
    assert_eq!(out["output"]["parts"][1]["text"], sub_text);
    assert_eq!(text_of(&t), "The sub-agent has finished its research.");

    // Transient parts are not stored with the message.
    let stored = srv.get("/app/chats/s-sub").await.json();
    let assistant = stored["messages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["role"] == "assistant")
        .expect("stored assistant message")
        .clone();
    let parts = assistant["parts"].as_array().unwrap();
    assert!(
        parts.iter().all(|p| p["type"] != "data-subagent"),
        "{parts:?}"
    );
    assert!(parts
        .iter()
        .any(|p| p["type"] == "tool-research" && p["state"] == "output-available"));
}
