//! Stop and the supersede gate: `stopGeneration`, the stop an abort fires
//! on its own, and the gate that keeps a stopped turn's rest (and any turn
//! of unknown fate) out of the next reply until that turn's end is seen.

use super::*;

impl Engine {
    /// `stopGeneration`: `{kind:"stop"}` on `.in`; on success the stopped
    /// turn (if one is outstanding) is gated and the chat's stream ends.
    pub fn stop(&mut self, chat_id: &str) -> OpId {
        self.send(chat_id, wire::stop_chunk(), Source::Stop, None, false)
    }

    /// Arms the gate for a stopped turn (`seq` when known) and ends the
    /// chat's stream.
    pub(super) fn gate(&mut self, chat_id: &str, seq: Option<u64>) {
        let chat = self.chat_mut(chat_id);
        chat.gate_epoch = chat.gate_epoch.wrapping_add(1);
        self.update(chat_id, |s| {
            if !s.skip_to_turn_complete {
                s.skip_to_turn_complete = true;
                s.superseded_input_seq = seq;
            } else {
                mark!("gate-armed-again");
                // A second stopped turn while the gate waits: it waits for
                // the later one, and an unknown one makes it unknown.
                s.superseded_input_seq = match (s.superseded_input_seq, seq) {
                    (Some(a), Some(b)) => Some(a.max(b)),
                    _ => None,
                };
            }
            s.is_streaming = Some(false);
            s.active_input_seq = None;
            s.gate_after_active = false;
        });
    }

    pub(super) fn fire_stop(&mut self, chat_id: &str) {
        if self.closed(chat_id).is_some() || self.session(chat_id).is_none() {
            return;
        }
        // A turn-starting send already on its way (past its wait for stops)
        // would land first, and the stop would cut that send's reply
        // instead of the turn given up. When the gate knows that turn, it
        // alone hides it. (An unknown gate drops every turn before the next
        // reply's boundary; the stop then keeps what it drops from running
        // on.)
        let known = self
            .session(chat_id)
            .is_some_and(|st| st.superseded_input_seq.is_some());
        let racing = known
            && self.ops.iter().any(|(_, o)| {
                o.chat == chat_id
                    && o.result.is_none()
                    && !o.aborted
                    && matches!(&o.kind, Kind::Send(s)
                    if matches!(s.then, Then::Stream { .. })
                        && !matches!(s.phase, SendPhase::Init | SendPhase::Parked))
            });
        if racing {
            mark!("stop-on-abort-skipped-racing");
            return;
        }
        mark!("stop-on-abort-fired");
        let id = self.send_op(
            chat_id,
            Some(wire::stop_chunk()),
            Source::Stop,
            None,
            Then::Detached,
        );
        self.notices.push(Notice::Spawn(id));
    }

    /// Forgets the gate of a stopped turn that will never end.
    pub fn clear_gate(&mut self, chat_id: &str) {
        let Some(s) = self.state_mut(chat_id) else {
            return;
        };
        let had = s.skip_to_turn_complete || s.superseded_input_seq.is_some();
        s.clear_gate();
        if had {
            s.is_streaming = Some(false);
            s.active_input_seq = None;
            self.changed(chat_id);
        }
    }
}
