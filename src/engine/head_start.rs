//! Head start: a chat's first turn through the app's own route, which
//! starts the session and streams the reply before the agent's run has
//! booted; the route's answer gives the session's token for later turns.

use super::*;

impl Engine {
    /// The first turn through the app's head-start route: `body` is posted
    /// to `url` and the route's UI message stream is the reply.
    pub fn head_start(
        &mut self,
        chat_id: &str,
        url: String,
        body: String,
        message_id: Option<String>,
    ) -> OpId {
        let feed = Feed::HeadStart {
            body_bytes: body.len(),
            post: Some((url, body)),
            started_at: self.now,
            sse: SseDecoder::new(),
            out: String::new(),
            ended: false,
            message_id,
        };
        let id = self.open_feed(chat_id, feed, (false, false, true), None, None);
        self.supersede(chat_id, id);
        id
    }

    pub(super) fn poll_head_start(
        &mut self,
        _id: OpId,
        chat_id: &str,
        st: &mut StreamOp,
    ) -> Effect {
        let Feed::HeadStart { post, sse, out, .. } = &mut st.feed else {
            return mismatch();
        };
        if let Some((url, body)) = post.take() {
            st.phase = StreamPhase::Connecting;
            return Effect::HeadStart {
                chat_id: chat_id.to_owned(),
                url,
                headers: wire::headers_json(
                    &self.cfg.headers,
                    &[("Content-Type", "application/json")],
                ),
                body,
            };
        }
        let mut turn_done = false;
        let mut cursor = None;
        loop {
            match sse.poll_event_ref() {
                Ok(Some(ev)) => match decode_ui_stream_event(ev.data) {
                    Ok(UiStreamEvent::Chunk(c)) => {
                        out.push(if out.is_empty() { '[' } else { ',' });
                        out.push_str(c);
                    }
                    Ok(UiStreamEvent::TurnComplete) => turn_done = true,
                    Ok(UiStreamEvent::SessionState {
                        last_event_id: Some(id),
                    }) => cursor = Some(id),
                    Ok(_) => {}
                    Err(e) => return self.head_start_over(chat_id, Err(e)),
                },
                Ok(None) => break,
                Err(e) => return self.head_start_over(chat_id, Err(e)),
            }
        }
        if let Some(c) = cursor {
            self.update(chat_id, |s| s.last_event_id = Some(c));
        }
        if turn_done {
            self.update(chat_id, |s| s.is_streaming = Some(false));
        }
        let Feed::HeadStart { out, ended, .. } = &mut st.feed else {
            return mismatch();
        };
        if !out.is_empty() {
            out.push(']');
            let json = core::mem::take(out);
            if core::mem::replace(&mut st.turn_fresh, false) {
                self.first_chunk(chat_id, &json, None);
            }
            return Effect::Chunks(json);
        }
        if *ended {
            return self.head_start_over(chat_id, Ok(Done::Closed));
        }
        st.phase = StreamPhase::Reading;
        Effect::Read { stall_ms: STALL_MS }
    }

    pub(super) fn head_start_over(&mut self, chat_id: &str, r: Result<Done, Error>) -> Effect {
        // However the first turn ended, it is not streaming any more.
        let mut changed = false;
        if let Some(s) = self.state_mut(chat_id) {
            changed = s.is_streaming == Some(true);
            s.is_streaming = Some(false);
        }
        if changed {
            self.changed(chat_id);
        }
        Effect::Done(r)
    }

    pub(super) fn handle_head_start(
        &mut self,
        chat_id: &str,
        st: &mut StreamOp,
        outcome: Outcome<'_>,
    ) -> Option<Result<Done, Error>> {
        let Feed::HeadStart {
            sse,
            ended,
            message_id,
            body_bytes,
            started_at,
            ..
        } = &mut st.feed
        else {
            return None;
        };
        match outcome {
            Outcome::HeadStarted {
                status,
                token,
                pending_version,
                error_body,
            } => {
                // What the lifecycle events say of the route's request (a
                // send's, with no part id).
                let ok = (200..300).contains(&status);
                let kind = if ok {
                    "message-sent"
                } else {
                    "message-send-failed"
                };
                let ev = Event::new(kind, chat_id)
                    .str("messageId", message_id.as_deref())
                    .text("source", Source::HeadStart.as_str())
                    .num("durationMs", Some(self.now.saturating_sub(*started_at)))
                    .num("bodyBytes", Some(*body_bytes as u64));
                if !ok {
                    let e = Error::Http {
                        op: "headStart request",
                        status,
                        body: truncate(error_body.trim_ascii(), 200),
                    };
                    self.emit(ev.error(&e, 0));
                    return Some(Err(e));
                }
                self.emit(ev);
                let now = self.now;
                self.chat_mut(chat_id).last_send = Some((now, message_id.clone()));
                if pending_version {
                    let ev =
                        Event::new("run-pending-version", chat_id).text("source", "head-start");
                    self.emit(ev);
                }
                let Some(token) = token.filter(|t| !t.is_empty()) else {
                    return Some(Err(Error::Protocol(
                        "the headStart route's response lacks the X-Trigger-Chat-Access-Token header, so later turns could not reach the session".into(),
                    )));
                };
                self.set_session(
                    chat_id,
                    SessionState {
                        public_access_token: token.to_owned(),
                        is_streaming: Some(true),
                        ..SessionState::default()
                    },
                );
                None
            }
            Outcome::Bytes(b) => match sse.handle_bytes(b) {
                Ok(()) => None,
                Err(e) => Some(Err(e)),
            },
            Outcome::Eof => {
                sse.handle_eof();
                *ended = true;
                None
            }
            Outcome::Stall => Some(Err(Error::TimedOut("the headStart route's stream"))),
            Outcome::Interrupted => Some(Ok(Done::Closed)),
            Outcome::Failed(e) => {
                if !st.connected && matches!(e, Error::Network(_) | Error::Callback(_)) {
                    // Failed before an answer: report the send's failure.
                    st.connected = true;
                }
                Some(Err(e))
            }
            _ => Some(Err(out_of_order())),
        }
    }
}
