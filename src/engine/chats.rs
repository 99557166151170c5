//! Chats and their sessions: the per-chat state the engine keeps (the
//! persisted [`SessionState`], the cursor seeded before a session exists,
//! who is starting the session and who waits for it, which stream answers
//! the chat), how a session is adopted, seeded, closed, remade after a 404
//! and told to the app (`onSessionChange`).

use super::*;

#[derive(Debug, Default)]
pub(super) struct Chat {
    pub(super) id: String,
    pub(super) state: Option<SessionState>,
    /// A resume cursor seeded before the session exists.
    pub(super) seeded: Option<String>,
    /// The operation calling `startSession` (or `accessToken`) for it.
    pub(super) starting: Option<OpId>,
    /// Operations waiting for that start.
    pub(super) parked: Vec<OpId>,
    /// The stream that currently answers the chat.
    pub(super) active: Option<OpId>,
    /// When the last turn-starting send went out, and its message id.
    pub(super) last_send: Option<(u64, Option<String>)>,
    /// Stops on their way to `.in`: a turn-starting send waits for them,
    /// so a late stop never cuts the new turn.
    pub(super) stops: Vec<OpId>,
    /// The highest `session-in-event-id` a turn-complete carried: sends up
    /// to it were answered already.
    pub(super) answered: Option<u64>,
    /// The highest `.in` seq a turn-starting send of ours got. A reply
    /// refused for good is not in flight for a reload, but its turn may
    /// still run at the agent: a stop then cuts it (seeds 766616605,
    /// 876297315).
    pub(super) sent: u64,
    /// The ends of the chat's latest turns, as its streams read them: the
    /// turn-complete's `.in` boundary and, for a turn a gate skipped
    /// unshown, where a reader resuming reads it first (`None` once shown).
    /// The reply to `.in` seq `n` is the first turn whose boundary is at or
    /// after `n` (an agent that took a stop in during the turn ends it with
    /// the stop's seq): a send that resolves late shows that turn from
    /// there if it was skipped, and nothing if it was shown.
    pub(super) turns: Vec<(u64, Option<Option<u64>>)>,
    /// How many times the gate was armed: a stream opened before the last
    /// arming does not open the newer gate.
    pub(super) gate_epoch: u32,
    /// The `.in` seq of a stop that landed while the gate waited for a
    /// turn of unknown seq, with the gate's epoch then: a watcher drops
    /// the turns that ended before it (see `SubscriptionConfig::stop_seq`).
    pub(super) stop_seq: Option<(u32, u64)>,
    /// How many times a 404 made the session again: of concurrent sends
    /// that met the same 404, the first resets the state.
    pub(super) resets: u32,
}

impl Chat {
    /// The `.in` seq of our latest turn-starting send if no stream read
    /// its turn's end, else 0.
    pub(super) fn unended(&self) -> u64 {
        if self.answered < Some(self.sent) {
            self.sent
        } else {
            0
        }
    }

    /// Takes a session in place of the one it had, if any: what the old
    /// one answered, got and ended (gate, sends, turn ends) means nothing
    /// in the new one.
    pub(super) fn take_session(&mut self, state: SessionState) {
        self.state = Some(state);
        self.answered = None;
        self.sent = 0;
        self.turns.clear();
    }
}

impl Engine {
    pub(super) fn chat_mut(&mut self, id: &str) -> &mut Chat {
        if let Some(i) = self.chats.iter().position(|c| c.id == id) {
            return &mut self.chats[i];
        }
        self.chats.push(Chat {
            id: id.to_owned(),
            ..Chat::default()
        });
        let last = self.chats.len() - 1;
        &mut self.chats[last]
    }

    pub(super) fn chat(&self, id: &str) -> Option<&Chat> {
        self.chats.iter().find(|c| c.id == id)
    }

    /// The chat's session, if it has one.
    pub fn session(&self, chat_id: &str) -> Option<&SessionState> {
        self.chat(chat_id).and_then(|c| c.state.as_ref())
    }

    /// Every chat's session (for tabs and tests).
    pub fn sessions(&self) -> impl Iterator<Item = (&str, &SessionState)> {
        self.chats
            .iter()
            .filter_map(|c| Some((c.id.as_str(), c.state.as_ref()?)))
    }

    /// The persisted form of a chat's session, for `onSessionChange`.
    pub fn persisted(&self, chat_id: &str) -> Option<&SessionState> {
        self.session(chat_id)
    }

    pub(super) fn state_mut(&mut self, chat_id: &str) -> Option<&mut SessionState> {
        self.chat_mut(chat_id).state.as_mut()
    }

    /// Changes the chat's session state, if it has one, and reports it
    /// (`onSessionChange`): the one way a change is made and told.
    pub(super) fn update(&mut self, chat_id: &str, f: impl FnOnce(&mut SessionState)) {
        if let Some(s) = self.state_mut(chat_id) {
            f(s);
            self.changed(chat_id);
        }
    }

    pub(super) fn changed(&mut self, chat_id: &str) {
        self.notices
            .push(Notice::SessionChanged(chat_id.to_owned()));
    }

    /// A turn of the chat ended at `.in` boundary `b`; `skipped_from`:
    /// a gate skipped it unshown, and a reader resuming there reads it
    /// first. The latest 16 are kept.
    pub(super) fn turn_ended(&mut self, chat_id: &str, b: u64, skipped_from: Option<Option<u64>>) {
        let turns = &mut self.chat_mut(chat_id).turns;
        if turns.len() == 16 {
            turns.remove(0);
        }
        turns.push((b, skipped_from));
    }

    /// Stores a session for the chat (from the app, or a start), applying a
    /// seeded cursor, and reports it.
    pub fn set_session(&mut self, chat_id: &str, mut state: SessionState) {
        let chat = self.chat_mut(chat_id);
        if let Some(cursor) = chat.seeded.take() {
            state.advance_cursor(&cursor);
        }
        chat.take_session(state);
        self.changed(chat_id);
    }

    /// A resume cursor from the app's stored transcript: applied to a
    /// session that has no cursor yet, or kept for a session not started
    /// yet. A session that already has a cursor keeps it.
    pub fn seed_cursor(&mut self, chat_id: &str, cursor: &str) {
        if whole_number(cursor).is_none() {
            return;
        }
        let chat = self.chat_mut(chat_id);
        match &mut chat.state {
            Some(s) if s.last_event_id.is_none() => {
                s.last_event_id = Some(cursor.to_owned());
                self.changed(chat_id);
            }
            Some(_) => {}
            None => chat.seeded = Some(cursor.to_owned()),
        }
    }

    /// A cursor learned from another tab, taken unless ours is ahead.
    /// Not reported: the tab that read it did.
    pub fn adopt_cursor(&mut self, chat_id: &str, cursor: &str) {
        if let Some(s) = self.state_mut(chat_id) {
            s.advance_cursor(cursor);
        }
    }

    /// Whether a stream answers the chat now.
    pub fn has_active(&self, chat_id: &str) -> bool {
        self.chat(chat_id).is_some_and(|c| c.active.is_some())
    }

    /// The session's closed state: `Some(reason)` once closed.
    pub fn closed(&self, chat_id: &str) -> Option<Option<&str>> {
        self.session(chat_id)
            .filter(|s| s.closed)
            .map(|s| s.closed_reason.as_deref())
    }

    pub(super) fn closed_error(&self, chat_id: &str) -> Option<Error> {
        self.closed(chat_id).map(|reason| Error::SessionClosed {
            chat_id: chat_id.to_owned(),
            reason: reason.map(str::to_owned),
        })
    }

    pub(super) fn store_token(&mut self, chat_id: &str, token: &str) {
        let chat = self.chat_mut(chat_id);
        match &mut chat.state {
            Some(st) => st.public_access_token = token.to_owned(),
            None => {
                let state = SessionState {
                    public_access_token: token.to_owned(),
                    ..SessionState::default()
                };
                self.set_session(chat_id, state);
                return;
            }
        }
        self.changed(chat_id);
    }

    /// Marks the chat's session closed (once) and reports it.
    pub(super) fn mark_closed(&mut self, chat_id: &str, reason: Option<String>, source: &str) {
        let changed = self
            .state_mut(chat_id)
            .is_some_and(|st| st.close(reason.clone()));
        if !changed {
            return;
        }
        let ev = Event::new("session-closed", chat_id)
            .str("reason", reason.as_deref())
            .text("source", source);
        self.emit(ev);
        self.changed(chat_id);
    }

    /// The chat's session was made again (seed 14973013): each stream open
    /// on the old one either reads the new one from its start (at a turn
    /// boundary with no reply to wait for: a resume of an idle chat, a
    /// watcher between turns) or ends with an error (inside a turn, or
    /// waiting for a reply of the old session: that reply went with it). A
    /// connection in flight is cut either way: the server may answer it
    /// from the new session.
    pub(super) fn session_remade(&mut self, chat_id: &str) {
        let resets = self.chat(chat_id).map_or(0, |c| c.resets);
        let Engine { ops, notices, .. } = self;
        for (id, op) in ops.iter_mut() {
            if op.chat != chat_id || op.result.is_some() || op.aborted {
                continue;
            }
            let Kind::Stream(st) = &mut op.kind else {
                continue;
            };
            let Feed::Session(sub) = &mut st.feed else {
                continue;
            };
            if st.awaits_reply || sub.in_turn() {
                mark!("session-remade-stream-lost");
                sub.handle_session_lost();
            } else {
                mark!("session-remade-stream-restarts");
                // It reads the new session from here: what it read of the
                // old one and has not reported yet stays the old one's.
                st.stale_events = sub.queued_events();
                st.resets = resets;
                sub.handle_new_session();
            }
            // Cut at once, whatever is out (the next poll reconnects or
            // reports the end).
            st.woken = true;
            notices.push(Notice::Interrupt(*id));
        }
    }

    /// If `id` was starting the chat's session, wake whoever waited.
    pub(super) fn forget_start(&mut self, chat_id: &str, id: OpId) {
        let chat = self.chat_mut(chat_id);
        if chat.starting == Some(id) {
            chat.starting = None;
            let parked = core::mem::take(&mut chat.parked);
            for p in parked {
                self.notices.push(Notice::Wake(p));
            }
        }
    }
}
