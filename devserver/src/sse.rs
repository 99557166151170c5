//! `GET /realtime/v1/sessions/{id}/out`: the S2-style SSE stream of a session.

use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;
use serde_json::json;
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::api::resolve;
use crate::auth::{authenticate, Access, Flavor};
use crate::store::{Record, Session};
use crate::util::{header_str, now_ms, rt_error};
use crate::Shared;

/// Most records put in one `batch` event.
const MAX_BATCH: usize = 256;

type Frame = Result<Bytes, std::io::Error>;

/// Adapts a channel receiver to the `Stream` a streaming body wants.
struct FrameStream(mpsc::Receiver<Frame>);

impl futures_core::Stream for FrameStream {
    type Item = Frame;
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Frame>> {
        self.0.poll_recv(cx)
    }
}

/// Decrements the open-connection gauge when the stream task ends.
struct OpenGuard(Shared);

impl Drop for OpenGuard {
    fn drop(&mut self) {
        self.0.open_out.fetch_sub(1, Ordering::Relaxed);
    }
}

fn batch_event(records: &[Record], tail_seq: u64, tail_ts: u64, offset: &mut u64) -> String {
    let first = records.first().map(|r| r.seq).unwrap_or(0);
    let last = records.last().map(|r| r.seq).unwrap_or(0);
    *offset += records.iter().map(|r| r.body.len() as u64 + 8).sum::<u64>();
    let data = json!({
        "records": records.iter().map(Record::to_json).collect::<Vec<_>>(),
        "tail": { "seq_num": tail_seq, "timestamp": tail_ts },
    });
    format!(
        "id: {first},{},{offset}\nevent: batch\ndata: {data}\n\n",
        last + 1
    )
}

/// Parses `Timeout-Seconds`: absent → 60, a number → clamped to 1..=600, else an error.
fn timeout_seconds(headers: &HeaderMap) -> Result<u64, ()> {
    match header_str(headers, "timeout-seconds") {
        None => Ok(60),
        Some(v) => v
            .parse::<f64>()
            .ok()
            .filter(|f| f.is_finite() && *f >= 0.0)
            .map(|f| f.clamp(1.0, 600.0) as u64)
            .ok_or(()),
    }
}

/// The first seq to send for a `Last-Event-ID`: absent → 0, `N` → `N + 1`. A value
/// that is not a plain number (e.g. the SSE id triple `a,b,c`) means "from the
/// start", like S2; a number too big for a seq (no `N + 1`) is a 400.
pub fn resume_cursor(headers: &HeaderMap) -> Result<u64, &'static str> {
    let Some(v) = headers.get("last-event-id") else {
        return Ok(0);
    };
    let Ok(v) = v.to_str().map(str::trim) else {
        return Err("Last-Event-ID must be ASCII");
    };
    if v.is_empty() || !v.bytes().all(|b| b.is_ascii_digit()) {
        return Ok(0);
    }
    v.parse::<u64>()
        .ok()
        .and_then(|n| n.checked_add(1))
        .filter(|n| *n <= MAX_SEQ)
        .ok_or("Last-Event-ID is out of range")
}

/// Largest seq a cursor may name (2^53: what a JavaScript client can hold exactly).
pub const MAX_SEQ: u64 = 1 << 53;

pub async fn subscribe(
    State(st): State<Shared>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    let accepts = headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.contains("text/event-stream"));
    if !accepts {
        return rt_error(
            StatusCode::NOT_ACCEPTABLE,
            "This endpoint streams Server-Sent Events: send `Accept: text/event-stream`",
        );
    }
    let principal = match authenticate(&st, &headers, Flavor::Realtime) {
        Ok(p) => p,
        Err(r) => return r,
    };
    let session = match resolve(&st, &principal, &id, Access::Read, Flavor::Realtime) {
        Ok(s) => s,
        Err(r) => return r,
    };
    let Ok(timeout) = timeout_seconds(&headers) else {
        return rt_error(
            StatusCode::BAD_REQUEST,
            "Timeout-Seconds must be a number of seconds between 1 and 600",
        );
    };
    let timeout = timeout.min(st.config.max_stream_secs.max(1));
    let cursor = match resume_cursor(&headers) {
        Ok(c) => c,
        Err(msg) => return rt_error(StatusCode::BAD_REQUEST, msg),
    };
    let peek = header_str(&headers, "x-peek-settled")
        .map(|v| v == "1" || v.eq_ignore_ascii_case("true"))
        .unwrap_or(false);
    let (settled, closed) = {
        let inner = session.lock();
        // A closed session is settled too: its last record is `session-closed`.
        let settled = peek
            && matches!(
                inner.last_non_command().and_then(Record::control),
                Some("turn-complete" | "session-closed")
            );
        (settled, inner.closed_at.is_some())
    };
    let drop_after = st.faults.take_drop_out();
    let cut_at = st.faults.take_out_cut();

    let (tx, rx) = mpsc::channel::<Frame>(16);
    st.open_out.fetch_add(1, Ordering::Relaxed);
    let guard = OpenGuard(st.clone());
    let deadline = Instant::now() + Duration::from_secs(timeout);
    let ping = st.config.ping_interval;
    if st.open_out.load(Ordering::Relaxed) > st.config.max_out_connections {
        drop(guard);
        return crate::api::limit_error(
            Flavor::Realtime,
            format!(
                "Too many open .out connections (the limit is {})",
                st.config.max_out_connections
            ),
        );
    }
    let closing = st.closing.subscribe();
    let end_after_turn = st.config.out_ends_after_turn;
    tokio::spawn(async move {
        let _guard = guard;
        pump(
            session,
            tx,
            cursor,
            deadline,
            ping,
            settled || closed,
            end_after_turn,
            drop_after,
            cut_at,
            closing,
        )
        .await;
    });

    let mut resp = event_stream(Body::from_stream(FrameStream(rx)));
    let h = resp.headers_mut();
    h.insert("x-stream-version", HeaderValue::from_static("v2"));
    h.insert("x-accel-buffering", HeaderValue::from_static("no"));
    if settled {
        h.insert("x-session-settled", HeaderValue::from_static("true"));
    }
    resp
}

/// A response that streams Server-Sent Events from `body`, uncached.
pub(crate) fn event_stream(body: Body) -> Response {
    let mut resp = Response::new(body);
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("no-cache, no-transform"),
    );
    resp
}

/// Breaks the connection (no `[DONE]`, no clean end of the chunked body) once the
/// frames already queued have been handed to the connection and had time to flush.
async fn cut(tx: &mpsc::Sender<Frame>) {
    for _ in 0..100 {
        if tx.capacity() == tx.max_capacity() || tx.is_closed() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
    let _ = tx
        .send(Err(std::io::Error::other("fault: connection dropped")))
        .await;
}

/// Writes frames to a connection, cutting it once `budget` bytes have gone out
/// (the byte-cut fault): the frame that crosses the line is sent only up to it.
struct Sender<'a> {
    tx: &'a mpsc::Sender<Frame>,
    budget: Option<u64>,
}

impl Sender<'_> {
    /// False when the connection is gone (the client left, or it was cut).
    async fn send(&mut self, s: String) -> bool {
        let Some(left) = self.budget else {
            return self.tx.send(Ok(Bytes::from(s))).await.is_ok();
        };
        let bytes = Bytes::from(s);
        let len = bytes.len() as u64;
        if len < left {
            self.budget = Some(left - len);
            return self.tx.send(Ok(bytes)).await.is_ok();
        }
        let keep = usize::try_from(left).unwrap_or(usize::MAX).min(bytes.len());
        if keep > 0 && self.tx.send(Ok(bytes.slice(..keep))).await.is_err() {
            return false;
        }
        self.budget = Some(0);
        cut(self.tx).await;
        false
    }
}

#[allow(clippy::too_many_arguments)]
async fn pump(
    session: Arc<Session>,
    tx: mpsc::Sender<Frame>,
    mut cursor: u64,
    deadline: Instant,
    ping: Duration,
    mut drain_only: bool,
    end_after_turn: bool,
    drop_after: Option<u64>,
    cut_at: Option<u64>,
    mut closing: tokio::sync::watch::Receiver<bool>,
) {
    let mut rx_notify = session.notify.subscribe();
    let mut offset = 0u64;
    let mut sent = 0u64;
    let mut out = Sender {
        tx: &tx,
        budget: cut_at,
    };
    macro_rules! send {
        ($s:expr) => {
            out.send($s).await
        };
    }
    if drop_after == Some(0) {
        cut(&tx).await;
        return;
    }
    let mut last_activity = Instant::now();
    loop {
        // Everything at or past the cursor that is ready now.
        let (ready, tail_seq, tail_ts) = {
            rx_notify.borrow_and_update();
            let inner = session.lock();
            let limit = if drop_after.is_some() { 1 } else { MAX_BATCH };
            let ready: Vec<Record> = inner
                .records
                .iter()
                .filter(|r| r.seq >= cursor)
                .take(limit)
                .cloned()
                .collect();
            (ready, inner.next_seq, inner.last_ts)
        };
        if let Some(last) = ready.last() {
            cursor = last.seq + 1;
            sent += ready.len() as u64;
            if !send!(batch_event(&ready, tail_seq, tail_ts, &mut offset)) {
                return;
            }
            last_activity = Instant::now();
            // The session closed while we were reading (or, with
            // `out_ends_after_turn`, a turn completed): end like a settled stream.
            drain_only |= ready.iter().any(|r| match r.control() {
                Some("session-closed") => true,
                Some("turn-complete") => end_after_turn,
                _ => false,
            });
            if drop_after.map(|k| sent >= k).unwrap_or(false) {
                cut(&tx).await;
                return;
            }
            continue;
        }
        if drain_only || Instant::now() >= deadline {
            let _ = send!("data: [DONE]\n\n".to_string());
            return;
        }
        let next_ping = last_activity + ping;
        let wake = next_ping.min(deadline);
        tokio::select! {
            changed = rx_notify.changed() => {
                if changed.is_err() { let _ = send!("data: [DONE]\n\n".to_string()); return; }
            }
            _ = tokio::time::sleep_until(wake) => {
                if Instant::now() >= next_ping && Instant::now() < deadline {
                    let ev = format!("event: ping\ndata: {}\n\n", json!({ "timestamp": now_ms() }));
                    if !send!(ev) { return; }
                    last_activity = Instant::now();
                }
            }
            _ = tx.closed() => return,
            _ = closing.changed() => {
                let _ = send!("data: [DONE]\n\n".to_string());
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeout_header_parsing() {
        let mut h = HeaderMap::new();
        assert_eq!(timeout_seconds(&h), Ok(60));
        h.insert("timeout-seconds", HeaderValue::from_static("5000"));
        assert_eq!(timeout_seconds(&h), Ok(600));
        h.insert("timeout-seconds", HeaderValue::from_static("0"));
        assert_eq!(timeout_seconds(&h), Ok(1));
        h.insert("timeout-seconds", HeaderValue::from_static("-3"));
        assert_eq!(timeout_seconds(&h), Err(()));
        h.insert("timeout-seconds", HeaderValue::from_static("soon"));
        assert_eq!(timeout_seconds(&h), Err(()));
    }

    #[test]
    fn last_event_id_parsing_is_checked() {
        let mut h = HeaderMap::new();
        assert_eq!(resume_cursor(&h), Ok(0));
        h.insert("last-event-id", HeaderValue::from_static("41"));
        assert_eq!(resume_cursor(&h), Ok(42));
        h.insert("last-event-id", HeaderValue::from_static("3,4,120"));
        assert_eq!(resume_cursor(&h), Ok(0));
        for big in [
            "18446744073709551615",
            "18446744073709551616",
            "9007199254740992",
        ] {
            h.insert("last-event-id", HeaderValue::from_static(big));
            assert!(resume_cursor(&h).is_err(), "{big}");
        }
        h.insert(
            "last-event-id",
            HeaderValue::from_static("9007199254740991"),
        );
        assert_eq!(resume_cursor(&h), Ok(MAX_SEQ));
    }

    #[test]
    fn batch_event_shape() {
        let r = Record {
            seq: 3,
            ts: 10,
            body: String::new(),
            headers: vec![],
        };
        let mut off = 0;
        let ev = batch_event(&[r], 4, 10, &mut off);
        assert!(ev.starts_with("id: 3,4,8\nevent: batch\ndata: {"));
        assert!(ev.ends_with("}\n\n"));
        assert!(ev.contains(r#""tail":{"seq_num":4,"timestamp":10}"#));
    }
}
