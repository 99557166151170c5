//! Operations: how one is opened, polled for its next effect, handed that
//! effect's outcome, and ended (its result, the app's abort or cancel, a
//! wake event, `dispose`). What each kind does is in its own file; here is
//! only the bookkeeping every kind shares (an operation has at most one
//! effect out; one that ended stays ended).

use super::*;

#[derive(Debug)]
pub(super) enum Kind {
    Send(SendOp),
    Stream(StreamOp),
}

#[derive(Debug)]
pub(super) struct Op {
    pub(super) chat: String,
    pub(super) kind: Kind,
    /// An effect is out.
    pub(super) busy: bool,
    /// The app (or a successor, or `dispose`) ended it.
    pub(super) aborted: bool,
    /// Its end was decided; the next poll reports it.
    pub(super) result: Option<Result<Done, Error>>,
}

impl Engine {
    pub(super) fn open(&mut self, chat_id: &str, kind: Kind) -> OpId {
        let id = self.next_op;
        self.next_op = self.next_op.wrapping_add(1).max(1);
        self.ops.push((
            id,
            Op {
                chat: chat_id.to_owned(),
                kind,
                busy: false,
                aborted: false,
                result: None,
            },
        ));
        id
    }

    pub(super) fn op_mut(&mut self, id: OpId) -> Option<&mut Op> {
        self.ops.iter_mut().find(|(i, _)| *i == id).map(|(_, o)| o)
    }

    pub(super) fn take_op(&mut self, id: OpId) -> Option<Op> {
        let i = self.ops.iter().position(|(i, _)| *i == id)?;
        Some(self.ops.swap_remove(i).1)
    }

    /// What operation `id` needs next.
    pub fn poll(&mut self, id: OpId) -> Effect {
        let Some(mut op) = self.take_op(id) else {
            return Effect::Done(Err(out_of_order()));
        };
        if op.busy {
            self.ops.push((id, op));
            return Effect::Done(Err(out_of_order()));
        }
        let effect = match &mut op.kind {
            Kind::Send(_) => self.poll_send(id, &mut op),
            Kind::Stream(_) => self.poll_stream(id, &mut op),
        };
        match effect {
            Effect::Done(r) => {
                self.finished(id, &op);
                Effect::Done(r)
            }
            Effect::Chunks(c) => {
                self.ops.push((id, op));
                Effect::Chunks(c)
            }
            e => {
                op.busy = true;
                self.ops.push((id, op));
                e
            }
        }
    }

    /// Reports the outcome of operation `id`'s effect.
    pub fn handle(&mut self, id: OpId, outcome: Outcome<'_>) {
        let Some(mut op) = self.take_op(id) else {
            return;
        };
        op.busy = false;
        if op.result.is_some() {
            mark!("outcome-after-the-op-ended");
        }
        if op.result.is_none() {
            match &mut op.kind {
                Kind::Send(_) => self.handle_send(id, &mut op, outcome),
                Kind::Stream(_) => self.handle_stream(&mut op, outcome),
            }
        }
        self.ops.push((id, op));
    }

    pub(super) fn finished(&mut self, id: OpId, op: &Op) {
        self.settles.retain(|&(o, _)| o != id);
        let chat = self.chat_mut(&op.chat);
        if chat.active == Some(id) {
            chat.active = None;
        }
        if let Some(i) = chat.stops.iter().position(|&s| s == id) {
            chat.stops.remove(i);
            if chat.stops.is_empty() && chat.starting.is_none() {
                // The sends that waited for it go on.
                let parked = core::mem::take(&mut chat.parked);
                for p in parked {
                    self.notices.push(Notice::Wake(p));
                }
            }
        }
        self.forget_start(&op.chat, id);
    }

    /// `id` now answers the chat; the stream it replaces ends quietly.
    pub(super) fn supersede(&mut self, chat_id: &str, id: OpId) {
        let old = self.chat_mut(chat_id).active.replace(id);
        if let Some(old) = old.filter(|&o| o != id) {
            self.end_stream_quietly(old);
        }
    }

    pub(super) fn end_stream_quietly(&mut self, id: OpId) {
        let Some(op) = self.op_mut(id) else {
            return;
        };
        if op.result.is_some() {
            return;
        }
        op.aborted = true;
        if let Kind::Stream(s) = &mut op.kind {
            if let Feed::Session(sub) = &mut s.feed {
                sub.handle_abort();
            }
        }
        op.result = Some(Ok(Done::Closed));
        // Busy or not: a connection held between reads is let go too.
        self.notices.push(Notice::Interrupt(id));
    }

    /// The app aborted the operation (its `AbortSignal`, or the stream's
    /// `cancel()`). A send not yet through ends with [`Error::Aborted`]; a
    /// stream ends quietly, and one that owns its turn (`stop_on_abort`)
    /// stops the agent and gates the rest of the turn.
    pub fn abort(&mut self, id: OpId) {
        let Some(op) = self.op_mut(id) else {
            return;
        };
        if op.result.is_some() || op.aborted {
            return;
        }
        op.aborted = true;
        let chat = op.chat.clone();
        match &mut op.kind {
            Kind::Send(s) => {
                let (landed, then) = (
                    s.maybe_landed || matches!(s.phase, SendPhase::Appending),
                    s.then,
                );
                op.result = Some(Err(Error::Aborted));
                self.forget_start(&chat, id);
                if landed && matches!(then, Then::Stream { .. }) {
                    mark!("abort-send-maybe-landed");
                    // Its fate is unknown: if it landed, its turn must
                    // neither run on nor show up in the next reply.
                    self.gate(&chat, None);
                    self.fire_stop(&chat);
                }
            }
            Kind::Stream(s) => {
                let owns = s.stop_on_abort;
                if let Feed::Session(sub) = &mut s.feed {
                    sub.handle_abort();
                }
                op.result = Some(Ok(Done::Closed));
                let outstanding = self
                    .session(&chat)
                    .is_some_and(SessionState::turn_outstanding);
                if owns && outstanding {
                    // The stop cuts the turn running at the agent: the
                    // latest of ours not seen to end, which may be a reply
                    // refused for good after the one held in flight (seed
                    // 766616605).
                    let seq = self.session(&chat).and_then(|s| s.active_input_seq);
                    let later = self.chat(&chat).map_or(0, Chat::unended);
                    let seq = seq.map(|a| a.max(later));
                    mark!("abort-stream-owns-turn");
                    self.gate(&chat, seq);
                    self.fire_stop(&chat);
                }
            }
        }
        // Busy or not: a connection held between reads is let go too.
        self.notices.push(Notice::Interrupt(id));
    }

    /// The app cancelled a stream (`reader.cancel()`): it ends quietly,
    /// without stopping the agent.
    pub fn cancel(&mut self, id: OpId) {
        let is_stream = self
            .ops
            .iter()
            .any(|(i, o)| *i == id && matches!(o.kind, Kind::Stream(_)));
        if is_stream {
            self.end_stream_quietly(id);
        } else {
            self.abort(id);
        }
    }

    /// A browser wake event (back online, a tab shown again, a page restored
    /// from the back-forward cache), for every stream: a waiting one
    /// reconnects at once; with `force` a connected one too.
    pub fn wake(&mut self, force: bool) {
        let Engine { ops, notices, .. } = self;
        for (id, op) in ops.iter_mut() {
            if op.result.is_some() {
                continue;
            }
            let busy = op.busy;
            let Kind::Stream(s) = &mut op.kind else {
                continue;
            };
            let cut = match s.phase {
                // Between two pulls of the app: the connection it holds may
                // be dead all the same; the next read is cut at once.
                _ if !busy => force,
                StreamPhase::Sleeping => true,
                StreamPhase::Connecting | StreamPhase::Reading => force,
                _ => false,
            };
            if cut && matches!(s.feed, Feed::Session(_)) {
                s.woken = true;
                notices.push(Notice::Interrupt(*id));
            }
        }
    }

    /// Ends every operation: sends fail with [`Error::Aborted`], streams
    /// close; no stop is sent.
    pub fn dispose(&mut self) {
        let ids: Vec<OpId> = self.ops.iter().map(|(id, _)| *id).collect();
        for id in ids {
            let Some(op) = self.op_mut(id) else { continue };
            if op.result.is_some() {
                continue;
            }
            op.aborted = true;
            op.result = Some(match &mut op.kind {
                Kind::Send(_) => Err(Error::Aborted),
                Kind::Stream(s) => {
                    if let Feed::Session(sub) = &mut s.feed {
                        sub.handle_abort();
                    }
                    Ok(Done::Closed)
                }
            });
            self.notices.push(Notice::Interrupt(id));
        }
        for c in &mut self.chats {
            c.starting = None;
            c.parked.clear();
            c.stops.clear();
            c.active = None;
        }
    }

    /// Whether any operation is still open (for checks after `dispose`).
    pub fn open_ops(&self) -> usize {
        self.ops.len()
    }
}
