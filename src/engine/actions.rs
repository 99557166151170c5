//! Actions: an action's `onSettled`, once the turn that consumed its `.in`
//! record has ended.

use super::*;

impl Engine {
    /// An action's reply reached the turn that consumed its `.in` record:
    /// an `action-settled` notice for the caller's `onSettled` (not an
    /// `onEvent` event: it is delivered whether or not anyone listens).
    pub(super) fn settle(&mut self, op: OpId, answered: u64, text: Option<String>, cursor: &str) {
        let Some(i) = self
            .settles
            .iter()
            .position(|&(o, q)| o == op && answered >= q && answered <= MAX_SAFE_INTEGER)
        else {
            return;
        };
        let (_, q) = self.settles.swap_remove(i);
        let ev = Event::new("action-settled", "")
            .num("op", Some(u64::from(op)))
            .num("inputSeq", Some(q))
            .text(
                "sessionInEventId",
                &text.unwrap_or_else(|| decimal(answered)),
            )
            .text("lastEventId", cursor);
        self.notices.push(Notice::Event(ev.json()));
    }
}
