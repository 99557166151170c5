//! Notices for the caller: lifecycle events for `onEvent` (built here as
//! JSON text), and the queue the caller drains after every call.

use super::*;

/// A lifecycle event as it is built: the JSON text of one object, `type`
/// and `chatId` first, then its fields in order. [`Event::json`] closes it
/// for [`Notice::Event`]. An error field is `{"$error": {...}, "$op": n}`:
/// `n` is the operation whose callback may have thrown it (the runner then
/// hands out what was thrown, as it was).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event(String);

impl Event {
    pub(super) fn new(kind: &'static str, chat_id: &str) -> Event {
        Event(cat!(r#"{"type":""#, kind, r#"","chatId":"#, quote(chat_id)))
    }

    /// `"key":value`, with `value` JSON text already.
    pub(super) fn raw(mut self, key: &str, value: &str) -> Event {
        self.0.push_str(",\"");
        self.0.push_str(key);
        self.0.push_str("\":");
        self.0.push_str(value);
        self
    }

    pub(super) fn text(self, key: &str, v: &str) -> Event {
        self.raw(key, &quote(v))
    }

    pub(super) fn str(self, key: &str, v: Option<&str>) -> Event {
        match v {
            Some(v) => self.text(key, v),
            None => self,
        }
    }

    pub(super) fn num(self, key: &str, v: Option<u64>) -> Event {
        match v {
            Some(n) => self.raw(key, &decimal(n)),
            None => self,
        }
    }

    /// `status` (when it has one) and `error`, for a failure event.
    pub(super) fn error(self, error: &Error, op: OpId) -> Event {
        let field = cat!(
            r#"{"$error":"#,
            error.json(),
            r#","$op":"#,
            decimal(u64::from(op)),
            "}"
        );
        self.num("status", error.status().map(u64::from))
            .raw("error", &field)
    }

    /// The event's JSON text.
    pub fn json(mut self) -> String {
        self.0.push('}');
        self.0
    }
}

impl Engine {
    pub(super) fn emit(&mut self, ev: Event) {
        if self.cfg.wants_events {
            self.notices.push(Notice::Event(ev.json()));
        }
    }

    /// The next notice, if any.
    pub fn poll_notice(&mut self) -> Option<Notice> {
        (!self.notices.is_empty()).then(|| self.notices.remove(0))
    }
}
