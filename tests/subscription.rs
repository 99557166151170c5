#![cfg(not(target_arch = "wasm32"))]

//! The `.out` subscription state machine against a fake server and a
//! virtual clock: reconnects, backoff, cursor resume, token refresh, stops
//! and duplicates, with no real time passing and no sockets.

use proptest::prelude::*;
use std::collections::VecDeque;
use trigger_chat_wasm::session::RECONNECT_AFTER_CUT_MS;
use trigger_chat_wasm::{Action, Error, SessionEvent, Subscription, SubscriptionConfig};

/// One record in the fake stream.
#[derive(Clone)]
enum Rec {
    /// A text-delta chunk with this delta and part id.
    Data(&'static str, String),
    TurnComplete(Option<&'static str>),
    /// A turn-complete marked `session-closed`, with this reason.
    TurnCompleteClosing(Option<&'static str>),
    /// A `session-closed` control record with this reason.
    SessionClosed(Option<&'static str>),
    /// A turn-complete saying which `.in` seq its turn answered.
    TurnCompleteFor(u64),
    /// A `pending-version` control record.
    PendingVersion,
    Trim,
}

/// How one connection of the fake server goes.
#[derive(Clone)]
enum Conn {
    /// Answer with this status and no body.
    Status(u16),
    /// Serve records after the cursor, `limit` of them at most, then end
    /// the body: with `data: [DONE]` when `done`, else abruptly.
    Serve { limit: usize, done: bool },
    /// Serve everything after the cursor, marked settled.
    Settled,
    /// Go silent until the client gives up on the connection.
    Stall,
    /// The request fails before an answer.
    NetworkError,
    /// The app aborts while connecting.
    Abort,
    /// Send the first this many bytes of what `Serve` would, then end the
    /// body abruptly (a connection cut inside its first event).
    Cut(usize),
}

fn record_json(seq: u64, rec: &Rec) -> String {
    match rec {
        Rec::Data(delta, part) => {
            let chunk = format!(r#"{{"type":"text-delta","id":"t","delta":"{delta}"}}"#);
            let body = serde_json::json!({ "data": serde_json::from_str::<serde_json::Value>(&chunk).unwrap(), "id": part }).to_string();
            serde_json::json!({"seq_num": seq, "timestamp": 1, "body": body, "headers": []}).to_string()
        }
        Rec::TurnComplete(token) => {
            let mut headers = vec![serde_json::json!(["trigger-control", "turn-complete"])];
            if let Some(t) = token {
                headers.push(serde_json::json!(["public-access-token", t]));
            }
            serde_json::json!({"seq_num": seq, "timestamp": 1, "body": "", "headers": headers}).to_string()
        }
        Rec::TurnCompleteClosing(reason) | Rec::SessionClosed(reason) => {
            let mut headers = if matches!(rec, Rec::SessionClosed(_)) {
                vec![serde_json::json!(["trigger-control", "session-closed"])]
            } else {
                vec![
                    serde_json::json!(["trigger-control", "turn-complete"]),
                    serde_json::json!(["session-closed", "true"]),
                ]
            };
            if let Some(r) = reason {
                headers.push(serde_json::json!(["session-closed-reason", r]));
            }
            serde_json::json!({"seq_num": seq, "timestamp": 1, "body": "", "headers": headers}).to_string()
        }
        Rec::PendingVersion => serde_json::json!({"seq_num": seq, "timestamp": 1, "body": "", "headers": [["trigger-control", "pending-version"]]}).to_string(),
        Rec::TurnCompleteFor(in_seq) => {
            let headers = serde_json::json!([["trigger-control", "turn-complete"], ["session-in-event-id", in_seq.to_string()]]);
            serde_json::json!({"seq_num": seq, "timestamp": 1, "body": "", "headers": headers}).to_string()
        }
        Rec::Trim => serde_json::json!({"seq_num": seq, "timestamp": 1, "body": "x", "headers": [["", "trim"]]}).to_string(),
    }
}

/// Records get seq numbers from 1. One SSE `batch` event per record, with a
/// ping between them, as the emulator sends them.
struct Server {
    log: Vec<Rec>,
    script: VecDeque<Conn>,
    /// `Last-Event-ID` of each connection, in order.
    requests: Vec<Option<String>>,
}

impl Server {
    fn body_after(&self, cursor: Option<&str>, limit: usize) -> Vec<u8> {
        let after: u64 = cursor.and_then(|c| c.parse().ok()).unwrap_or(0);
        let mut out = String::from(": hello\n\n");
        for (i, rec) in self.log.iter().enumerate() {
            let seq = i as u64 + 1;
            if seq <= after {
                continue;
            }
            if out.matches("event: batch").count() >= limit {
                break;
            }
            out.push_str(&format!(
                "id: {seq},{seq},0\nevent: batch\ndata: {{\"records\":[{}]}}\n\n",
                record_json(seq, rec)
            ));
            out.push_str("event: ping\ndata: {\"timestamp\":1}\n\n");
        }
        out.into_bytes()
    }
}

/// What a run of the client against the server produced.
#[derive(Debug, Default)]
struct Outcome {
    deltas: Vec<String>,
    events: Vec<SessionEvent>,
    sleeps: Vec<u64>,
    refreshes: usize,
    result: Option<Result<(), Error>>,
}

fn cfg() -> SubscriptionConfig {
    SubscriptionConfig {
        seed: 9,
        ..SubscriptionConfig::default()
    }
}

/// Drives `sub` against `server`, splitting every body into `piece`-byte
/// reads. Stops after a bounded number of steps.
fn drive(sub: &mut Subscription, server: &mut Server, piece: usize) -> Outcome {
    let mut out = Outcome::default();
    let mut pending: VecDeque<Vec<u8>> = VecDeque::new();
    let mut ending: Option<Conn> = None;
    for _ in 0..10_000 {
        while let Some(ev) = sub.poll_event() {
            out.events.push(ev);
        }
        if let Some((json, n)) = sub.take_chunks() {
            let v: Vec<serde_json::Value> =
                serde_json::from_str(&json).expect("chunks are a JSON array");
            assert_eq!(v.len(), n);
            out.deltas
                .extend(v.iter().map(|c| c["delta"].as_str().unwrap().to_owned()));
        }
        match sub.poll_action() {
            Action::Connect(req) => {
                server.requests.push(req.last_event_id.clone());
                let conn = server.script.pop_front().unwrap_or(Conn::Serve {
                    limit: usize::MAX,
                    done: true,
                });
                match &conn {
                    Conn::Status(s) => sub.handle_response(*s, false),
                    Conn::NetworkError => sub.handle_network_error("connection refused"),
                    Conn::Abort => sub.handle_abort(),
                    Conn::Serve { limit, .. } => {
                        sub.handle_response(200, false);
                        let body = server.body_after(req.last_event_id.as_deref(), *limit);
                        pending = body.chunks(piece.max(1)).map(<[u8]>::to_vec).collect();
                        ending = Some(conn);
                    }
                    Conn::Settled => {
                        sub.handle_response(200, true);
                        let body = server.body_after(req.last_event_id.as_deref(), usize::MAX);
                        pending = body.chunks(piece.max(1)).map(<[u8]>::to_vec).collect();
                        ending = Some(conn);
                    }
                    Conn::Cut(n) => {
                        sub.handle_response(200, false);
                        let mut body = server.body_after(req.last_event_id.as_deref(), 1);
                        body.truncate(*n);
                        pending = body.chunks(piece.max(1)).map(<[u8]>::to_vec).collect();
                        ending = Some(conn);
                    }
                    Conn::Stall => {
                        sub.handle_response(200, false);
                        pending.clear();
                        ending = Some(conn);
                    }
                }
            }
            Action::Read => match pending.pop_front() {
                Some(bytes) => {
                    let _ = sub.handle_bytes(&bytes);
                }
                None => match ending.take() {
                    Some(Conn::Serve { done: true, .. }) => {
                        sub.handle_bytes(b"data: [DONE]\n\n").unwrap();
                        sub.handle_eof();
                    }
                    Some(Conn::Stall) => sub.handle_stall(),
                    _ => sub.handle_eof(),
                },
            },
            Action::Sleep(ms) => out.sleeps.push(ms),
            Action::RefreshToken => {
                out.refreshes += 1;
                sub.handle_token_refreshed();
            }
            Action::Finish => {
                out.result = Some(Ok(()));
                return out;
            }
            Action::Fail(e) => {
                out.result = Some(Err(e));
                return out;
            }
        }
    }
    panic!("no end after 10000 steps: {out:?}");
}

fn data(n: usize) -> Vec<Rec> {
    (0..n)
        .map(|i| {
            Rec::Data(
                ["a", "b", "c", "d", "e", "f", "g", "h", "i", "j"][i % 10],
                format!("p{i}"),
            )
        })
        .collect()
}

fn deltas(n: usize) -> Vec<String> {
    data(n)
        .into_iter()
        .map(|r| match r {
            Rec::Data(d, _) => d.to_owned(),
            _ => unreachable!(),
        })
        .collect()
}

fn turn(n: usize, token: Option<&'static str>) -> Vec<Rec> {
    let mut log = data(n);
    log.push(Rec::TurnComplete(token));
    log
}

fn server(log: Vec<Rec>, script: Vec<Conn>) -> Server {
    Server {
        log,
        script: script.into(),
        requests: Vec::new(),
    }
}

#[test]
fn one_turn_ends_at_turn_complete_with_the_refreshed_token() {
    let mut s = server(turn(5, Some("fresh")), vec![]);
    let mut sub = Subscription::new(cfg());
    let out = drive(&mut sub, &mut s, 7);
    assert_eq!(out.result, Some(Ok(())));
    assert_eq!(out.deltas, deltas(5));
    assert_eq!(
        out.events,
        vec![SessionEvent::TurnComplete {
            token: Some("fresh".into()),
            cursor: "6".into(),
            in_event_id: None,
            in_event_text: None,
        }]
    );
    assert_eq!(sub.cursor().as_deref(), Some("6"));
    assert!(out.sleeps.is_empty());
}

#[test]
fn a_dropped_connection_resumes_from_the_last_record_without_loss_or_duplicates() {
    let mut s = server(
        turn(10, None),
        vec![
            Conn::Serve {
                limit: 4,
                done: false,
            },
            Conn::Serve {
                limit: 3,
                done: false,
            },
        ],
    );
    let mut sub = Subscription::new(cfg());
    let out = drive(&mut sub, &mut s, 5);
    assert_eq!(out.result, Some(Ok(())));
    assert_eq!(out.deltas, deltas(10));
    assert_eq!(s.requests, vec![None, Some("4".into()), Some("7".into())]);
    // Connections that made progress and were cut come back after a
    // moment's pause, without backing off.
    assert_eq!(out.sleeps, vec![RECONNECT_AFTER_CUT_MS; 2]);
}

#[test]
fn the_servers_long_poll_end_reconnects_at_once() {
    // Nothing yet (the agent is thinking), then the reply.
    let mut s = server(
        turn(3, None),
        vec![
            Conn::Serve {
                limit: 0,
                done: true,
            },
            Conn::Serve {
                limit: 0,
                done: true,
            },
        ],
    );
    let mut sub = Subscription::new(cfg());
    let out = drive(&mut sub, &mut s, 64);
    assert_eq!(out.deltas, deltas(3));
    assert_eq!(s.requests, vec![None, None, None]);
    // The first quiet long-poll end reconnects at once, the next one a
    // little later (no tight loop against a server that ends every poll).
    assert_eq!(out.sleeps, vec![0, 100]);
}

#[test]
fn server_errors_back_off_with_growing_waits_then_recover() {
    let mut s = server(
        turn(2, None),
        vec![
            Conn::Status(503),
            Conn::NetworkError,
            Conn::Status(429),
            Conn::Serve {
                limit: usize::MAX,
                done: true,
            },
        ],
    );
    let mut sub = Subscription::new(cfg());
    let out = drive(&mut sub, &mut s, 64);
    assert_eq!(out.result, Some(Ok(())));
    assert_eq!(out.deltas, deltas(2));
    assert_eq!(out.sleeps.len(), 3);
    for (i, w) in out.sleeps.iter().enumerate() {
        let full = 100u64 << i;
        assert!(*w <= full && *w >= full / 2, "wait {i} = {w}");
    }
}

#[test]
fn an_abrupt_end_without_progress_backs_off() {
    let mut s = server(
        turn(1, None),
        vec![Conn::Serve {
            limit: 0,
            done: false,
        }],
    );
    let mut sub = Subscription::new(cfg());
    let out = drive(&mut sub, &mut s, 64);
    assert_eq!(out.deltas, deltas(1));
    assert_eq!(out.sleeps.len(), 1);
}

#[test]
fn gives_up_after_the_last_attempt() {
    let mut s = server(turn(1, None), vec![Conn::Status(500); 20]);
    let mut sub = Subscription::new(cfg());
    let out = drive(&mut sub, &mut s, 64);
    assert_eq!(out.sleeps.len(), 12);
    match out.result {
        Some(Err(e)) => assert_eq!(e.status(), Some(500)),
        other => panic!("expected a 500 failure, got {other:?}"),
    }
}

#[test]
fn fatal_statuses_fail_at_once() {
    for status in [400u16, 404, 409] {
        let mut s = server(turn(1, None), vec![Conn::Status(status)]);
        let mut sub = Subscription::new(cfg());
        let out = drive(&mut sub, &mut s, 64);
        assert!(out.sleeps.is_empty());
        assert_eq!(
            out.result.and_then(|r| r.err()).and_then(|e| e.status()),
            Some(status)
        );
    }
}

#[test]
fn an_auth_failure_refreshes_the_token_once() {
    let mut s = server(turn(2, None), vec![Conn::Status(401)]);
    let mut sub = Subscription::new(cfg());
    let out = drive(&mut sub, &mut s, 64);
    assert_eq!(out.refreshes, 1);
    assert_eq!(out.deltas, deltas(2));

    let mut s = server(turn(2, None), vec![Conn::Status(401), Conn::Status(403)]);
    let mut sub = Subscription::new(cfg());
    let out = drive(&mut sub, &mut s, 64);
    assert_eq!(out.refreshes, 1);
    assert_eq!(
        out.result.and_then(|r| r.err()).and_then(|e| e.status()),
        Some(403)
    );
}

#[test]
fn a_token_that_expires_again_later_is_refreshed_again() {
    // Expired at the start, then again after the connection drops mid-turn.
    let mut s = server(
        turn(6, None),
        vec![
            Conn::Status(401),
            Conn::Serve {
                limit: 3,
                done: false,
            },
            Conn::Status(401),
        ],
    );
    let mut sub = Subscription::new(cfg());
    let out = drive(&mut sub, &mut s, 64);
    assert_eq!(out.refreshes, 2);
    assert_eq!(out.deltas, deltas(6));
}

#[test]
fn a_stall_drops_the_connection_and_resumes() {
    let mut s = server(
        turn(4, None),
        vec![
            Conn::Serve {
                limit: 2,
                done: false,
            },
            Conn::Stall,
        ],
    );
    let mut sub = Subscription::new(cfg());
    let out = drive(&mut sub, &mut s, 64);
    assert_eq!(out.deltas, deltas(4));
    assert_eq!(s.requests, vec![None, Some("2".into()), Some("2".into())]);
    // The cut after progress pauses a moment; the stall backs off.
    assert_eq!(out.sleeps.len(), 2);
    assert_eq!(out.sleeps[0], RECONNECT_AFTER_CUT_MS);
}

#[test]
fn after_a_stop_the_rest_of_the_stopped_turn_is_skipped() {
    let mut log = turn(3, None); // the stopped turn, seq 1-4
    log.extend([
        Rec::Trim,
        Rec::Data("new", "n1".into()),
        Rec::TurnComplete(None),
    ]);
    let mut s = server(log, vec![]);
    let mut sub = Subscription::new(SubscriptionConfig {
        skip_to_turn_complete: true,
        ..cfg()
    });
    let out = drive(&mut sub, &mut s, 64);
    assert_eq!(out.deltas, vec!["new".to_string()]);
    // The gate opens at the stopped turn's end; only the new turn
    // completes for the app.
    assert_eq!(
        out.events.first(),
        Some(&SessionEvent::GateOpened {
            cursor: "4".into(),
            in_event_id: None,
        })
    );
    let completes = out
        .events
        .iter()
        .filter(|e| matches!(e, SessionEvent::TurnComplete { .. }))
        .count();
    assert_eq!(completes, 1, "only the new turn completes for the app");
    assert_eq!(out.events.len(), 2, "{:?}", out.events);
    assert!(!sub.skip_to_turn_complete());
    assert_eq!(sub.cursor().as_deref(), Some("7"));
}

#[test]
fn a_turn_that_closes_the_session_completes_then_closes_and_ends_even_when_watching() {
    let mut log = data(2);
    log.extend([
        Rec::TurnCompleteClosing(Some("done")),
        Rec::Data("late", "z".into()),
    ]);
    let mut s = server(log, vec![]);
    let mut sub = Subscription::new(SubscriptionConfig {
        watch: true,
        ..cfg()
    });
    let out = drive(&mut sub, &mut s, 5);
    assert_eq!(out.result, Some(Ok(())));
    assert_eq!(out.deltas, deltas(2));
    assert_eq!(
        out.events,
        vec![
            SessionEvent::TurnComplete {
                token: None,
                cursor: "3".into(),
                in_event_id: None,
                in_event_text: None,
            },
            SessionEvent::Closed {
                reason: Some("done".into())
            },
        ]
    );
    assert_eq!(s.requests.len(), 1, "no reconnect after the close");
}

#[test]
fn a_session_closed_record_ends_the_stream_cleanly() {
    let mut log = data(1);
    log.extend([
        Rec::SessionClosed(Some("bye")),
        Rec::Data("late", "z".into()),
    ]);
    let mut s = server(log, vec![]);
    let mut sub = Subscription::new(SubscriptionConfig {
        watch: true,
        ..cfg()
    });
    let out = drive(&mut sub, &mut s, 64);
    assert_eq!(out.result, Some(Ok(())));
    assert_eq!(out.deltas, deltas(1));
    assert_eq!(
        out.events,
        vec![SessionEvent::Closed {
            reason: Some("bye".into())
        }]
    );
}

#[test]
fn a_close_on_the_end_of_a_stopped_turn_still_closes() {
    let mut log = data(3);
    log.extend([
        Rec::TurnCompleteClosing(None),
        Rec::Data("late", "z".into()),
    ]);
    let mut s = server(log, vec![]);
    let mut sub = Subscription::new(SubscriptionConfig {
        skip_to_turn_complete: true,
        ..cfg()
    });
    let out = drive(&mut sub, &mut s, 64);
    assert_eq!(out.result, Some(Ok(())));
    assert!(out.deltas.is_empty(), "{:?}", out.deltas);
    assert_eq!(
        out.events,
        vec![
            SessionEvent::GateOpened {
                cursor: "4".into(),
                in_event_id: None,
            },
            SessionEvent::Closed { reason: None }
        ]
    );
    assert!(!sub.skip_to_turn_complete());
}

#[test]
fn an_earlier_turns_end_does_not_end_the_stream_of_a_later_send() {
    // An action (in seq 4) raced our send (in seq 5): its turn ends first.
    let log = vec![
        Rec::Data("undo", "p1".into()),
        Rec::TurnCompleteFor(4),
        Rec::Data("mine", "p2".into()),
        Rec::TurnCompleteFor(5),
        Rec::Data("next turn", "p3".into()),
    ];
    let mut s = server(log, vec![]);
    let mut sub = Subscription::new(SubscriptionConfig {
        since_in_seq: Some(5),
        ..cfg()
    });
    let out = drive(&mut sub, &mut s, 64);
    assert_eq!(out.result, Some(Ok(())));
    assert_eq!(out.deltas, vec!["undo", "mine"]);
    assert_eq!(
        out.events,
        vec![SessionEvent::TurnComplete {
            token: None,
            cursor: "4".into(),
            in_event_id: Some(5),
            in_event_text: Some("5".into()),
        }],
        "only this send's turn completes"
    );
}

#[test]
fn a_pending_version_record_is_reported_and_reading_goes_on() {
    let mut log = vec![Rec::PendingVersion];
    log.extend(turn(2, None));
    let mut s = server(log, vec![]);
    let mut sub = Subscription::new(cfg());
    let out = drive(&mut sub, &mut s, 64);
    assert_eq!(out.result, Some(Ok(())));
    assert_eq!(out.deltas, deltas(2));
    assert_eq!(out.events.first(), Some(&SessionEvent::PendingVersion));
    assert!(matches!(
        out.events.get(1),
        Some(SessionEvent::TurnComplete { .. })
    ));
}

#[test]
fn without_a_seq_on_either_side_the_first_turn_complete_ends_the_stream() {
    for (since, log) in [
        (
            None,
            vec![Rec::Data("a", "p1".into()), Rec::TurnCompleteFor(4)],
        ),
        (
            Some(5),
            vec![Rec::Data("a", "p1".into()), Rec::TurnComplete(None)],
        ),
    ] {
        let mut s = server(log, vec![]);
        let mut sub = Subscription::new(SubscriptionConfig {
            since_in_seq: since,
            ..cfg()
        });
        let out = drive(&mut sub, &mut s, 64);
        assert_eq!(out.result, Some(Ok(())));
        assert_eq!(out.deltas, vec!["a"]);
        assert_eq!(out.events.len(), 1, "since {since:?}");
    }
}

#[test]
fn a_replayed_part_id_is_delivered_once() {
    let log = vec![
        Rec::Data("a", "same".into()),
        Rec::Data("b", "other".into()),
        Rec::Data("a", "same".into()),
        Rec::TurnComplete(None),
    ];
    let mut s = server(log, vec![]);
    let mut sub = Subscription::new(cfg());
    let out = drive(&mut sub, &mut s, 64);
    assert_eq!(out.deltas, vec!["a", "b"]);
}

#[test]
fn resuming_from_a_cursor_skips_what_was_read() {
    let mut s = server(turn(5, None), vec![]);
    let mut sub = Subscription::new(SubscriptionConfig {
        cursor: Some("3".into()),
        ..cfg()
    });
    let out = drive(&mut sub, &mut s, 64);
    assert_eq!(out.deltas, deltas(5)[3..].to_vec());
    assert_eq!(s.requests, vec![Some("3".into())]);
}

#[test]
fn a_settled_session_closes_at_once_and_says_so() {
    let mut s = server(turn(2, None), vec![Conn::Settled]);
    let mut sub = Subscription::new(SubscriptionConfig {
        cursor: Some("3".into()),
        peek_settled: true,
        ..cfg()
    });
    let out = drive(&mut sub, &mut s, 64);
    assert_eq!(out.result, Some(Ok(())));
    assert!(out.deltas.is_empty());
    assert_eq!(out.events, vec![SessionEvent::Settled]);
}

#[test]
fn watch_mode_reads_across_turns_and_keeps_watching_over_long_poll_ends() {
    let mut log = turn(2, None);
    log.extend([
        Rec::Data("c", "q0".into()),
        Rec::Data("d", "q1".into()),
        Rec::TurnComplete(None),
    ]);
    let mut s = server(
        log,
        vec![
            Conn::Serve {
                limit: 3,
                done: true,
            },
            Conn::Serve {
                limit: usize::MAX,
                done: false,
            },
            // Then nothing new: two quiet long polls, and the app leaves.
            Conn::Serve {
                limit: usize::MAX,
                done: true,
            },
            Conn::Serve {
                limit: usize::MAX,
                done: true,
            },
            Conn::Abort,
        ],
    );
    let mut sub = Subscription::new(SubscriptionConfig {
        watch: true,
        ..cfg()
    });
    let out = drive(&mut sub, &mut s, 64);
    assert_eq!(out.result, Some(Ok(())));
    assert_eq!(out.deltas, vec!["a", "b", "c", "d"]);
    // A window cut after records comes back after a moment; quiet ones
    // wait longer and longer.
    assert_eq!(out.sleeps, vec![RECONNECT_AFTER_CUT_MS, 0, 100]);
    let cursors: Vec<_> = out
        .events
        .iter()
        .map(|e| match e {
            SessionEvent::TurnComplete { cursor, .. } => cursor.clone(),
            other => panic!("unexpected {other:?}"),
        })
        .collect();
    assert_eq!(
        cursors,
        vec!["3", "6"],
        "each turn reports its own boundary"
    );
    assert_eq!(
        s.requests,
        vec![
            None,
            Some("3".into()),
            Some("6".into()),
            Some("6".into()),
            Some("6".into())
        ]
    );
}

#[test]
fn a_session_made_again_is_read_from_its_start() {
    // A resume from cursor 3 behind a gate: the gate and the cursor are the
    // old session's.
    let mut sub = Subscription::new(SubscriptionConfig {
        cursor: Some("3".into()),
        skip_to_turn_complete: true,
        ..cfg()
    });
    match sub.poll_action() {
        Action::Connect(req) => assert_eq!(req.last_event_id.as_deref(), Some("3")),
        other => panic!("expected a connect, got {other:?}"),
    }
    sub.handle_response(200, false);
    assert_eq!(sub.poll_action(), Action::Read);
    assert!(!sub.in_turn());
    sub.handle_new_session();
    assert!(
        !sub.skip_to_turn_complete(),
        "the old session's gate is gone"
    );
    let mut s = server(
        vec![Rec::Data("hi", "p1".into()), Rec::TurnCompleteFor(0)],
        vec![],
    );
    let out = drive(&mut sub, &mut s, 64);
    assert_eq!(s.requests, vec![None], "read from the start");
    assert_eq!(out.deltas, vec!["hi".to_string()]);
    assert_eq!(out.result, Some(Ok(())));
}

#[test]
fn a_reply_of_a_session_made_again_is_lost_with_an_error() {
    let mut sub = Subscription::new(SubscriptionConfig {
        since_in_seq: Some(5),
        ..cfg()
    });
    assert!(matches!(sub.poll_action(), Action::Connect(_)));
    sub.handle_response(200, false);
    sub.handle_session_lost();
    match sub.poll_action() {
        Action::Fail(Error::SessionRemade) => {}
        other => panic!("expected the stream to fail, got {other:?}"),
    }
    // Over: nothing brings it back.
    sub.handle_new_session();
    sub.handle_reconnect_now();
    assert!(sub.is_over());
}

#[test]
fn a_wake_reconnects_at_once_without_counting_a_failure() {
    let mut sub = Subscription::new(cfg());
    assert!(matches!(sub.poll_action(), Action::Connect(_)));
    sub.handle_response(200, false);
    assert_eq!(sub.poll_action(), Action::Read);
    sub.handle_reconnect_now();
    assert!(
        matches!(sub.poll_action(), Action::Connect(_)),
        "connected -> reconnect now"
    );
    sub.handle_response(503, false);
    sub.handle_reconnect_now();
    assert!(
        matches!(sub.poll_action(), Action::Connect(_)),
        "a pending backoff is skipped"
    );
    sub.handle_abort();
    sub.handle_reconnect_now();
    assert_eq!(
        sub.poll_action(),
        Action::Finish,
        "an ended stream stays ended"
    );
}

#[test]
fn a_server_error_event_resumes_from_the_cursor() {
    let mut sub = Subscription::new(cfg());
    assert!(matches!(sub.poll_action(), Action::Connect(_)));
    sub.handle_response(200, false);
    let one = r#"{"seq_num":1,"body":"{\"data\":{\"type\":\"text-delta\",\"delta\":\"a\"},\"id\":\"p1\"}"}"#;
    let text = format!(
        "event: batch\ndata: {{\"records\":[{one}]}}\n\nevent: error\ndata: backend restarting\n\n"
    );
    sub.handle_bytes(text.as_bytes()).unwrap();
    assert_eq!(
        sub.take_chunks().map(|(_, n)| n),
        Some(1),
        "what came before the error is kept"
    );
    assert!(
        matches!(sub.poll_action(), Action::Sleep(_)),
        "a short wait, then"
    );
    match sub.poll_action() {
        Action::Connect(req) => assert_eq!(req.last_event_id.as_deref(), Some("1")),
        other => panic!("expected a reconnect, got {other:?}"),
    }
}

#[test]
fn a_malformed_batch_fails_with_a_message_naming_it() {
    let mut sub = Subscription::new(cfg());
    assert!(matches!(sub.poll_action(), Action::Connect(_)));
    sub.handle_response(200, false);
    let err = sub
        .handle_bytes(b"event: batch\ndata: {\"records\": 5}\n\n")
        .unwrap_err();
    assert!(err.to_string().contains("records"), "{err}");
    assert_eq!(sub.poll_action(), Action::Fail(err));
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, .. ProptestConfig::default() })]

    /// However the body is cut into reads, the same chunks come out.
    #[test]
    fn any_split_gives_the_same_chunks(piece in 1usize..400, n in 0usize..30) {
        let mut s = server(turn(n, Some("t")), vec![]);
        let mut sub = Subscription::new(cfg());
        let out = drive(&mut sub, &mut s, piece);
        prop_assert_eq!(out.deltas, deltas(n));
        prop_assert_eq!(out.result, Some(Ok(())));
    }

    /// Arbitrary bytes from the network never panic; at worst they fail the
    /// stream with an error.
    #[test]
    fn arbitrary_bytes_never_panic(chunks in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..200), 0..20)) {
        let mut sub = Subscription::new(cfg());
        let _ = sub.poll_action();
        sub.handle_response(200, false);
        for c in &chunks {
            let _ = sub.handle_bytes(c);
        }
        sub.handle_eof();
        let _ = sub.poll_action();
    }

    /// Batch-shaped garbage never panics either.
    #[test]
    fn arbitrary_batch_data_never_panics(data in "\\PC{0,300}") {
        let mut sub = Subscription::new(cfg());
        let _ = sub.poll_action();
        sub.handle_response(200, false);
        let _ = sub.handle_bytes(format!("event: batch\ndata: {data}\n\n").as_bytes());
        let _ = sub.take_chunks();
    }
}

#[test]
fn a_seeded_cursor_never_moves_back() {
    use trigger_chat_wasm::SessionState;
    let mut s = SessionState::default();
    assert!(s.advance_cursor("7"), "taken when there is none");
    assert!(!s.advance_cursor("5"), "behind");
    assert!(!s.advance_cursor("7"), "the same");
    assert!(!s.advance_cursor("x"), "not a seq_num");
    assert_eq!(s.last_event_id.as_deref(), Some("7"));
    assert!(s.advance_cursor("12"));
    assert_eq!(s.last_event_id.as_deref(), Some("12"));
}

/// A watcher behind a gate of unknown seq (an aborted send's turn), with
/// the seq of the stop sent for it known or not: what it shows of turns
/// ending at these `.in` seqs (each turn's one delta is its seq). With
/// `own`, the watcher is a send's stream whose message is that `.in` seq,
/// and the gate was armed after that send began.
fn watch_behind_unknown_gate(stop_seq: Option<u64>, own: Option<u64>, ends: &[u64]) -> Vec<String> {
    const NAMES: [&str; 10] = ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"];
    let mut log = Vec::new();
    for &seq in ends {
        log.push(Rec::Data(NAMES[seq as usize], format!("p{seq}")));
        log.push(Rec::TurnCompleteFor(seq));
    }
    let mut s = server(
        log,
        vec![
            Conn::Serve {
                limit: usize::MAX,
                done: true,
            },
            Conn::Abort,
        ],
    );
    let mut sub = Subscription::new(SubscriptionConfig {
        watch: true,
        skip_to_turn_complete: true,
        stop_seq,
        since_in_seq: own,
        gate_after_send: own.is_some(),
        ..cfg()
    });
    let out = drive(&mut sub, &mut s, 64);
    assert_eq!(out.result, Some(Ok(())));
    out.deltas
}

#[test]
fn a_watcher_behind_an_unknown_gate_drops_every_turn_before_the_stops_seq() {
    // The stop (seq 7) was taken in by the stopped turn, which ended last:
    // it and every turn before it go; the next shows.
    assert_eq!(
        watch_behind_unknown_gate(Some(7), None, &[5, 6, 7, 8]),
        vec!["8"]
    );
    // Without the stop's seq, the first turn to end is taken for the
    // stopped one, and the stopped turn that ends later shows.
    assert_eq!(
        watch_behind_unknown_gate(None, None, &[5, 6, 7, 8]),
        vec!["6", "7", "8"]
    );
}

#[test]
fn a_watcher_takes_the_first_turn_at_or_after_the_stops_seq_for_the_stopped_one() {
    // The stop cut another turn out of order (it ended at 2, before the
    // aborted message was read); the aborted turn then ran and took in a
    // later message (it ended at 8): it is the first to end at or after the
    // stop's seq, and it does not show; the next does.
    assert_eq!(
        watch_behind_unknown_gate(Some(7), None, &[2, 8, 9]),
        vec!["9"]
    );
    // Without the stop's seq the same: the first turn to end (2) is taken
    // for the stopped one, so the aborted turn shows.
    assert_eq!(
        watch_behind_unknown_gate(None, None, &[2, 8, 9]),
        vec!["8", "9"]
    );
}

#[test]
fn a_send_s_watcher_behind_a_stop_that_landed_before_its_message_shows_the_next_turn() {
    // The stop landed at seq 0, before this stream's own message (1): it
    // cut no turn after this one's, so the turn after its own (another
    // send's reply) shows (seed 962126029).
    assert_eq!(
        watch_behind_unknown_gate(Some(0), Some(1), &[1, 2]),
        vec!["1", "2"]
    );
    // A stop that landed after its own message may have cut the next
    // turn: past its own turn the watcher skips to the first end at or
    // after the stop's seq, and shows what follows.
    assert_eq!(
        watch_behind_unknown_gate(Some(3), Some(1), &[1, 3, 4]),
        vec!["1", "4"]
    );
}

/// How often this test's thread reached the coverage mark `name` since the
/// last call (the table is emptied).
fn hits(name: &str) -> u64 {
    trigger_chat_wasm::marks::take()
        .into_iter()
        .filter(|(n, _)| *n == name)
        .map(|(_, c)| c)
        .sum()
}

/// Asserts the run failed with an error whose message contains `text`.
fn assert_failed_with(out: &Outcome, text: &str) {
    match &out.result {
        Some(Err(e)) => assert!(e.to_string().contains(text), "{e}"),
        other => panic!("expected a failure saying {text:?}, got {other:?}"),
    }
}

// The soaks do not reach the marks below (docs/simulation.md, "Coverage
// marks"): each branch is pinned here instead.

/// A stream (not a watcher) whose every connection goes as `conn` gives
/// up after `budget` reconnects, saying `says`, reaching `mark` once.
fn gives_up_after(conn: Conn, budget: u32, says: &str, mark: &str) {
    hits("");
    let mut s = server(turn(3, None), vec![conn; budget as usize + 10]);
    let mut sub = Subscription::new(cfg());
    let out = drive(&mut sub, &mut s, 64);
    assert!(out.deltas.is_empty());
    assert_failed_with(&out, says);
    // The budget's connections after the first.
    assert_eq!(s.requests.len() as u32, budget + 1);
    assert_eq!(hits(mark), 1);
}

#[test]
fn a_stream_whose_every_connection_is_cut_inside_its_first_event_gives_up() {
    // Each connection brings the hello comment and half of the first
    // record's event, never a whole record.
    gives_up_after(
        Conn::Cut(40),
        trigger_chat_wasm::session::PARTIAL_WINDOW_BUDGET,
        "every connection was cut",
        "reconnects-exhausted-cut-windows",
    );
}

#[test]
fn a_stream_whose_connections_keep_ending_empty_gives_up() {
    let empty = Conn::Serve {
        limit: 0,
        done: false,
    };
    gives_up_after(
        empty,
        trigger_chat_wasm::session::EMPTY_WINDOW_BUDGET,
        "kept ending before the turn was complete",
        "reconnects-exhausted-empty-windows",
    );
}

#[test]
fn a_watcher_whose_every_connection_is_cut_slows_down_and_follows_on() {
    hits("");
    let mut script = vec![Conn::Cut(40); 60];
    script.push(Conn::Serve {
        limit: usize::MAX,
        done: true,
    });
    script.push(Conn::Abort);
    let mut s = server(turn(3, None), script);
    let mut sub = Subscription::new(SubscriptionConfig {
        watch: true,
        ..cfg()
    });
    let out = drive(&mut sub, &mut s, 64);
    assert_eq!(out.result, Some(Ok(())));
    assert_eq!(out.deltas, deltas(3));
    assert_eq!(hits("reconnects-exhausted-cut-windows"), 0);
    // Past the budget the waits grow instead of staying at nothing.
    let past = &out.sleeps[trigger_chat_wasm::session::PARTIAL_WINDOW_BUDGET as usize..];
    assert!(past.iter().all(|&ms| ms > 0), "{:?}", out.sleeps);
}

/// A reply to `.in` seq 5 behind a gate for the turn that answered seq 4,
/// read from `log`.
fn reply_behind_the_gate_for_seq_4(log: Vec<Rec>) -> Outcome {
    hits("");
    let mut s = server(log, vec![]);
    let mut sub = Subscription::new(SubscriptionConfig {
        skip_to_turn_complete: true,
        superseded_input_seq: Some(4),
        since_in_seq: Some(5),
        ..cfg()
    });
    drive(&mut sub, &mut s, 64)
}

#[test]
fn a_reply_whose_own_boundary_comes_before_the_stopped_turns_end_fails_as_lost() {
    // The reply's boundary comes, the stopped turn's never did: what went
    // by cannot be told apart.
    let out = reply_behind_the_gate_for_seq_4(vec![
        Rec::Data("x", "p0".into()),
        Rec::Data("y", "p1".into()),
        Rec::TurnCompleteFor(5),
    ]);
    assert!(out.deltas.is_empty(), "nothing is shown: {:?}", out.deltas);
    assert_failed_with(&out, "previous turn's output was lost");
    assert!(
        out.events.contains(&SessionEvent::Abandoned),
        "{:?}",
        out.events
    );
    assert_eq!(hits("gate-own-boundary-before-stopped-turn"), 1);

    // With the stopped turn's end first, the gate opens there and the
    // reply shows.
    let out = reply_behind_the_gate_for_seq_4(vec![
        Rec::Data("old", "p0".into()),
        Rec::TurnCompleteFor(4),
        Rec::Data("new", "p1".into()),
        Rec::TurnCompleteFor(5),
    ]);
    assert_eq!(out.result, Some(Ok(())));
    assert_eq!(out.deltas, vec!["new".to_string()]);
    assert_eq!(hits("gate-own-boundary-before-stopped-turn"), 0);
}
