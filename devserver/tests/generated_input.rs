//! Generated input for the whole HTTP surface: 100,000 requests with random
//! methods, paths, headers (`Authorization`, `Last-Event-ID`, `Timeout-Seconds`,
//! `X-Part-Id`, …) and bodies, sent in-process through the router (no sockets, so
//! it is quick). None may get a 5xx, nothing may panic (handlers or spawned tasks),
//! and the server must still do ordinary work afterwards.
//!
//! The generator is a seeded xorshift, so a failure is reproducible. Each run
//! replays the seeds that once failed ([`REGRESSIONS`]) and explores one fresh
//! seed; every seed is printed, and `GENERATED_INPUT_SEED=<n>` makes `<n>` the
//! explored one. A seed that fails belongs in [`REGRESSIONS`].
//!
//! Nothing here depends on how fast the machine is: the closing check makes its
//! own room (it closes every session the storm created) instead of counting on
//! the storm's runs to have idled out.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::Ordering;
use std::sync::{Mutex, Once, PoisonError};
use std::time::Duration;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::{json, Value};
use tower::ServiceExt;
use trigger_devserver::{router, AppState, Config, DEFAULT_SECRET_KEY};

const REQUESTS: usize = 100_000;

/// Upper bound for any single wait (a hang guard, not a claim about speed).
const GUARD: Duration = Duration::from_secs(60);

/// The server's idle timeout for the explored seed, as in the other tests.
const IDLE_SECS: u64 = 1;

/// An idle timeout no run reaches during the storm: what a machine too slow for
/// any run to idle out sees, on every machine.
const NO_IDLING_SECS: u64 = 3600;

/// Seeds that once failed, with the idle timeout that makes them fail on any
/// machine; replayed on every run.
const REGRESSIONS: &[(u64, u64)] = &[
    // On slow machines the storm left all 64 sessions with live runs, and the
    // closing create got a 429 ("none is idle").
    (6_840_143_426_475_589_633, NO_IDLING_SECS),
];

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
    fn text(&mut self, max: usize) -> String {
        const CHARS: &[u8] = b"abcXYZ019 -_.~%/:,;\"'\\{}[]\t\n\xc3\xa9";
        let n = self.below(max + 1);
        let bytes: Vec<u8> = (0..n).map(|_| *self.pick(CHARS)).collect();
        String::from_utf8_lossy(&bytes).into_owned()
    }
    fn number(&mut self) -> String {
        match self.below(10) {
            0 => "18446744073709551615".into(),
            1 => "18446744073709551616".into(),
            2 => "-1".into(),
            3 => "1e999".into(),
            4 => "NaN".into(),
            5 => "0.5".into(),
            6 => format!("{}", self.next()),
            7 => "".into(),
            8 => "3,4,120".into(),
            _ => format!("{}", self.below(50)),
        }
    }
    fn json_number(&mut self) -> Value {
        match self.below(6) {
            0 => json!(u64::MAX),
            1 => json!(-1),
            2 => json!(1e300),
            3 => json!(0.5),
            4 => json!("7"),
            _ => json!(self.below(100)),
        }
    }
}

const IDS: &[&str] = &[
    "g-0",
    "g-1",
    "g-2",
    "g-3",
    "session_unknown",
    "%20g-0",
    "g-0%20",
    "%00",
    "%ZZ",
    "..",
    "a%2Fb",
];

fn id(r: &mut Rng) -> String {
    if r.chance(80) {
        r.pick(IDS).to_string()
    } else {
        r.text(20)
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || "-_.~%".contains(*c))
            .collect()
    }
}

/// A path and the method its route answers (others get 405 or 404).
fn path(r: &mut Rng) -> (String, Method) {
    let i = id(r);
    let (p, m) = match r.below(16) {
        0 => ("/api/v1/sessions".into(), Method::POST),
        1 => (format!("/api/v1/sessions/{i}"), Method::GET),
        2 => (format!("/api/v1/sessions/{i}/close"), Method::POST),
        3 => ("/api/v1/auth/jwt/claims".into(), Method::POST),
        4 | 5 => (format!("/realtime/v1/sessions/{i}/in/append"), Method::POST),
        6 => (format!("/realtime/v1/sessions/{i}/out"), Method::GET),
        7 => ("/app/config".into(), Method::GET),
        8 => ("/app/chats".into(), Method::GET),
        9 => (format!("/app/chats/{i}"), Method::GET),
        10 => (format!("/app/chats/{i}/start"), Method::POST),
        11 => (format!("/app/chats/{i}/token"), Method::POST),
        12 => (format!("/app/chats/{i}/session"), Method::PUT),
        13 => (format!("/app/chats/{i}/messages"), Method::PUT),
        14 => ("/_dev/stats".into(), Method::GET),
        _ => (
            format!(
                "/{}",
                r.text(12)
                    .chars()
                    .filter(|c| c.is_ascii_alphanumeric() || "/-_.%".contains(*c))
                    .collect::<String>()
            ),
            Method::GET,
        ),
    };
    (p, m)
}

/// A short user text for the scripted agent, kept away from the long scripts.
fn user_text(r: &mut Rng) -> String {
    match r.below(8) {
        0 => "/tool".into(),
        1 => "/reason".into(),
        2 => "/ask".into(),
        3 => "/error".into(),
        4 => "/close because".into(),
        5 => "/long 3".into(),
        _ => r.text(30),
    }
}

fn message(r: &mut Rng) -> Value {
    let role = *r.pick(&["user", "assistant", "system", "x"]);
    let mut m = json!({ "id": r.text(6), "role": role, "parts": [{ "type": "text", "text": user_text(r) }] });
    if r.chance(20) {
        m["parts"] = json!([{ "type": "tool-askUser", "toolCallId": r.text(4), "state": "output-available", "output": r.text(5) }]);
    }
    if r.chance(5) {
        m = json!(r.text(10));
    }
    m
}

fn body(r: &mut Rng) -> Option<Vec<u8>> {
    let v = match r.below(12) {
        0 => return None,
        1 => return Some(r.text(200).into_bytes()),
        2 => {
            let n = r.below(64);
            return Some((0..n).map(|_| r.next() as u8).collect());
        }
        3 => json!({
            "type": r.pick(&["chat.agent", "", "x"]),
            "externalId": id(r),
            "taskIdentifier": r.pick(&["ai-chat", "", "other"]),
            "triggerConfig": {
                "basePayload": {
                    "chatId": id(r),
                    "trigger": r.pick(&["preload", "submit-message", "nope"]),
                    "message": message(r),
                    "idleTimeoutInSeconds": r.json_number(),
                },
                "idleTimeoutInSeconds": r.json_number(),
                "maxAttempts": r.json_number(),
                "tags": [r.text(5)],
            },
            "metadata": { "k": r.text(5) },
            "expiresAt": r.pick(&["2030-01-01T00:00:00.000Z", "tomorrow", "9999-99-99"]),
        }),
        4..=6 => json!({
            "kind": r.pick(&["message", "stop", "x"]),
            "payload": {
                "chatId": id(r),
                "trigger": r.pick(&["submit-message", "regenerate-message", "action", "close", "preload"]),
                "message": message(r),
                "action": { "type": r.text(5) },
            },
            "message": r.text(5),
        }),
        7 => json!({
            "publicAccessToken": r.pick(&[json!("tok"), json!(1), Value::Null]),
            "lastEventId": r.pick(&[json!(null), json!("7"), json!(u64::MAX), json!([])]),
            "isStreaming": r.pick(&[json!(true), json!("yes")]),
            "closed": r.pick(&[json!(true), json!(false), json!(0)]),
            "closedReason": r.text(300),
        }),
        8 => json!({ "messages": [message(r), message(r)] }),
        9 => json!({ "reason": r.text(300), "clientData": r.pick(&[json!({}), json!([1])]) }),
        10 => json!(null),
        _ => {
            // Deep nesting.
            let depth = r.below(200);
            let s = "[".repeat(depth) + &"]".repeat(depth);
            return Some(s.into_bytes());
        }
    };
    Some(v.to_string().into_bytes())
}

async fn send(app: &axum::Router, req: Request<Body>) -> (StatusCode, Vec<u8>, bool) {
    let resp = app.clone().oneshot(req).await.expect("infallible router");
    let status = resp.status();
    let streaming = resp
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .map(|v| v.starts_with("text/event-stream"))
        .unwrap_or(false);
    if streaming {
        // An SSE stream may last a minute: drop it (the stream task notices).
        return (status, Vec::new(), true);
    }
    let bytes = axum::body::to_bytes(resp.into_body(), 64 * 1024 * 1024)
        .await
        .map(|b| b.to_vec())
        .unwrap_or_default();
    (status, bytes, false)
}

fn json_req(method: &str, path: &str, auth: Option<&str>, body: Value) -> Request<Body> {
    let mut b = Request::builder()
        .method(method)
        .uri(path)
        .header("content-type", "application/json");
    if let Some(a) = auth {
        b = b.header("authorization", format!("Bearer {a}"));
    }
    b.body(Body::from(body.to_string())).unwrap()
}

/// Names of the threads panics happened on (handlers, spawned runs, the storm).
static PANICKED_ON: Mutex<Vec<String>> = Mutex::new(Vec::new());

fn record_panics() {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let name = std::thread::current().name().unwrap_or("").to_string();
            PANICKED_ON
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(name);
            previous(info);
        }));
    });
}

/// Panics so far on threads with this name.
fn panics_on(threads: &str) -> usize {
    PANICKED_ON
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .iter()
        .filter(|n| *n == threads)
        .count()
}

/// Runs one storm on a runtime of its own whose threads carry its name, so that
/// a panic anywhere in it (a handler, a run) is counted against it alone.
fn run_storm(label: &str, seed: u64, idle_timeout_secs: u64) {
    record_panics();
    let threads = format!("generated-{label}-{seed}");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name(threads.clone())
        .enable_all()
        .build()
        .expect("runtime");
    let storm = storm(seed, idle_timeout_secs, threads);
    let result = rt.block_on(async { tokio::spawn(storm).await });
    // Runs left waiting (for an hour with `NO_IDLING_SECS`) are dropped with it.
    rt.shutdown_background();
    if let Err(e) = result {
        match e.try_into_panic() {
            Ok(payload) => std::panic::resume_unwind(payload),
            Err(e) => panic!("seed {seed}: the storm did not finish: {e}"),
        }
    }
}

#[test]
fn generated_requests_with_the_regression_seeds() {
    for &(seed, idle) in REGRESSIONS {
        println!("regression seed {seed}, replayed by this test");
        run_storm("regression", seed, idle);
    }
}

#[test]
fn generated_requests_never_get_a_5xx_or_a_panic() {
    let seed = match std::env::var("GENERATED_INPUT_SEED") {
        Ok(s) => s
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("GENERATED_INPUT_SEED={s:?} is not a u64")),
        Err(_) => fresh_seed(),
    };
    println!("explored seed {seed}: replay with GENERATED_INPUT_SEED={seed}");
    run_storm("explored", seed, IDLE_SECS);
}

/// A seed no earlier run used (most likely).
fn fresh_seed() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    h.write_u128(nanos);
    h.finish()
}

/// The session ids (`session_…`) a response body names as `id` or `sessionId`.
fn note_sessions(body: &[u8], into: &mut BTreeSet<String>) {
    let Ok(Value::Object(m)) = serde_json::from_slice::<Value>(body) else {
        return;
    };
    for key in ["id", "sessionId"] {
        if let Some(id) = m.get(key).and_then(Value::as_str) {
            if id.starts_with("session_") {
                into.insert(id.to_string());
            }
        }
    }
}

/// Waits, up to [`GUARD`], until `done` holds.
async fn wait_until(what: &str, done: impl Fn() -> bool) {
    let deadline = tokio::time::Instant::now() + GUARD;
    while !done() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{what}: not within {GUARD:?}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// 100,000 generated requests against a fresh server, then ordinary work on it.
async fn storm(seed: u64, idle_timeout_secs: u64, threads: String) {
    println!("generated input seed: {seed} (idle timeout {idle_timeout_secs} s)");
    let mut r = Rng(seed | 1);

    let mut config = Config {
        port: 0,
        db: None,
        chunk_delay_ms: 0,
        idle_timeout_secs,
        ..Config::default()
    };
    config.limits.max_sessions = 64;
    config.limits.max_records = 256;
    config.limits.max_part_ids = 64;
    config.limits.max_history = 20;
    let state = AppState::new(config).expect("state");
    let app = router(state.clone());
    // Every session the storm creates: each is named in the response that made it.
    let mut sessions = BTreeSet::new();

    // Real tokens for a few chats, so requests get past auth too.
    let mut tokens = vec![DEFAULT_SECRET_KEY.to_string()];
    for i in 0..4 {
        let (status, body, _) = send(
            &app,
            json_req(
                "POST",
                "/api/v1/sessions",
                Some(DEFAULT_SECRET_KEY),
                json!({ "type": "chat.agent", "externalId": format!("g-{i}"), "taskIdentifier": "ai-chat",
                        "triggerConfig": { "basePayload": { "chatId": format!("g-{i}"), "trigger": "preload" } } }),
            ),
        )
        .await;
        assert_eq!(status, StatusCode::CREATED, "seed {seed}");
        note_sessions(&body, &mut sessions);
        let v: Value = serde_json::from_slice(&body).unwrap();
        tokens.push(v["publicAccessToken"].as_str().unwrap().to_string());
    }

    let methods = [
        Method::GET,
        Method::POST,
        Method::PUT,
        Method::DELETE,
        Method::OPTIONS,
        Method::PATCH,
        Method::HEAD,
    ];
    let mut by_status = BTreeMap::<u16, usize>::new();
    for n in 0..REQUESTS {
        let (p, usual) = path(&mut r);
        let method = if r.chance(75) {
            usual
        } else {
            r.pick(&methods).clone()
        };
        let mut b = Request::builder().method(method.clone()).uri(p.as_str());
        match r.below(8) {
            0 => {}
            1 => b = b.header("authorization", "Bearer"),
            2 => b = b.header("authorization", format!("Basic {}", r.text(8))),
            3 => b = b.header("authorization", format!("Bearer {}", r.text(40))),
            4 => b = b.header("authorization", "Bearer eyJhbGciOiJub25lIn0.e30."),
            _ => b = b.header("authorization", format!("Bearer {}", r.pick(&tokens))),
        }
        if r.chance(40) {
            b = b.header("last-event-id", r.number());
        }
        if r.chance(40) {
            b = b.header("timeout-seconds", r.number());
        }
        if r.chance(30) {
            let options = ["p-1".to_string(), r.text(10), "x".repeat(300)];
            b = b.header("x-part-id", r.pick(&options).clone());
        }
        if r.chance(30) {
            b = b.header("x-peek-settled", *r.pick(&["1", "true", "0", "maybe"]));
        }
        if r.chance(50) {
            b = b.header(
                "accept",
                *r.pick(&["text/event-stream", "*/*", "application/json"]),
            );
        }
        if r.chance(20) {
            b = b.header(
                "origin",
                *r.pick(&["https://evil.example", "http://127.0.0.1:8787", "null"]),
            );
        }
        if r.chance(10) {
            b = b.header(
                "host",
                *r.pick(&["127.0.0.1:8787", "evil.example", "[::1]:1", "[bad"]),
            );
        }
        if r.chance(10) {
            b = b.header("content-length", r.number());
        }
        let body = body(&mut r).map(Body::from).unwrap_or_else(Body::empty);
        let req = match b.body(body) {
            Ok(req) => req,
            Err(_) => continue, // a header the HTTP library itself refuses to build
        };
        let (status, bytes, _) = send(&app, req).await;
        *by_status.entry(status.as_u16()).or_default() += 1;
        assert!(
            !status.is_server_error(),
            "seed {seed}: request {n} ({method} {p}) got {status}: {}",
            String::from_utf8_lossy(&bytes)
        );
        assert_eq!(
            panics_on(&threads),
            0,
            "seed {seed}: a panic at request {n} ({method} {p})"
        );
        if status.is_success() {
            note_sessions(&bytes, &mut sessions);
        }
    }
    println!("generated input seed {seed}: {REQUESTS} requests, statuses {by_status:?}");
    assert!(
        by_status.keys().any(|s| *s < 300),
        "seed {seed}: some requests succeeded"
    );
    assert!(
        by_status.len() > 5,
        "seed {seed}: a variety of answers: {by_status:?}"
    );

    // Make room for the closing check, whatever the storm left running: close
    // every session it created. A closed session can always be evicted, so the
    // store has room however many runs were still live when the storm ended.
    for id in &sessions {
        let path = format!("/api/v1/sessions/{id}/close");
        let (status, body, _) = send(
            &app,
            json_req("POST", &path, Some(DEFAULT_SECRET_KEY), json!({})),
        )
        .await;
        // 404: evicted during the storm.
        assert!(
            status == StatusCode::OK || status == StatusCode::NOT_FOUND,
            "seed {seed}: closing {id}: {status} {}",
            String::from_utf8_lossy(&body)
        );
    }
    // Closing a session ends its run.
    wait_until(&format!("seed {seed}: every run ends"), || {
        state.live_runs.load(Ordering::SeqCst) == 0
    })
    .await;

    // Still answering: an ordinary session, its reply, and a settled read.
    let (status, body, _) = send(
        &app,
        json_req(
            "POST",
            "/api/v1/sessions",
            Some(DEFAULT_SECRET_KEY),
            json!({ "type": "chat.agent", "externalId": "after", "taskIdentifier": "ai-chat",
                    "triggerConfig": { "basePayload": { "chatId": "after", "trigger": "submit-message",
                      "message": { "id": "u", "role": "user", "parts": [{ "type": "text", "text": "still here" }] } } } }),
        ),
    )
    .await;
    assert_eq!(
        status,
        StatusCode::CREATED,
        "seed {seed}: {}",
        String::from_utf8_lossy(&body)
    );
    let token = serde_json::from_slice::<Value>(&body).unwrap()["publicAccessToken"]
        .as_str()
        .unwrap()
        .to_string();
    let out = |settled: bool| {
        let mut b = Request::builder()
            .uri("/realtime/v1/sessions/after/out")
            .header("authorization", format!("Bearer {token}"))
            .header("accept", "text/event-stream")
            .header("timeout-seconds", "60");
        if settled {
            b = b.header("x-peek-settled", "1");
        }
        b.body(Body::empty()).unwrap()
    };
    // Read until the turn is complete.
    let resp = app.clone().oneshot(out(false)).await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK, "seed {seed}");
    let mut stream = resp.into_body();
    let mut reply = String::new();
    tokio::time::timeout(GUARD, async {
        while !reply.contains("turn-complete") {
            match stream.frame().await {
                Some(Ok(frame)) => {
                    if let Ok(d) = frame.into_data() {
                        reply.push_str(&String::from_utf8_lossy(&d));
                    }
                }
                other => panic!("seed {seed}: .out ended before the turn-complete: {other:?}"),
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("seed {seed}: no turn-complete within {GUARD:?}: {reply}"));
    drop(stream);
    assert!(reply.contains("still"), "seed {seed}: the reply: {reply}");
    // Then the session is settled: a peek drains and ends with [DONE].
    let resp = app.clone().oneshot(out(true)).await.unwrap();
    assert!(
        resp.headers().get("x-session-settled").is_some(),
        "seed {seed}: settled after its turn-complete"
    );
    let bytes = tokio::time::timeout(GUARD, axum::body::to_bytes(resp.into_body(), 1 << 20))
        .await
        .expect("a settled read ends")
        .unwrap();
    let settled = String::from_utf8_lossy(&bytes);
    assert!(settled.contains("still"), "seed {seed}: {settled}");
    assert!(
        settled.ends_with("data: [DONE]\n\n"),
        "seed {seed}: {settled}"
    );
    assert_eq!(panics_on(&threads), 0, "seed {seed}: no task panicked");
}
