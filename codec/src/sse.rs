//! Server-Sent Events framing, per the WHATWG event-stream rules.
//!
//! [`SseDecoder`] takes bytes split anywhere (inside a line, inside a CRLF
//! pair, inside a UTF-8 sequence) and returns whole [`SseEvent`]s. It knows
//! nothing about JSON or about what the events mean.
//!
//! Call order: [`SseDecoder::handle_bytes`] with each piece of the body, then
//! [`SseDecoder::poll_event`] until it returns `None`; repeat.

use crate::error::Error;
use crate::prelude::*;
use crate::text::{decimal, lossy, push_lossy, whole_number};

/// The largest event (or unterminated line) the decoder buffers. A server
/// that streams more than this without a blank line is broken or hostile.
pub const MAX_EVENT_BYTES: usize = 16 * 1024 * 1024;

/// One dispatched event.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SseEvent {
    /// The `event:` field; empty means the default type, `message`.
    pub event: String,
    /// The `data:` lines joined with `\n`.
    pub data: String,
    /// The last `id:` seen on the stream so far, if any.
    pub id: Option<String>,
    /// The `retry:` field of this event, in milliseconds.
    pub retry: Option<u64>,
}

/// Incremental event-stream decoder. Pure: no I/O, never panics.
#[derive(Debug, Default)]
pub struct SseDecoder {
    buf: Vec<u8>,
    /// Start of the bytes not yet consumed in `buf`.
    pos: usize,
    /// The byte-order mark check at the very start is done.
    bom_checked: bool,
    /// The previous line ended with CR at the end of a chunk: a LF that
    /// starts the next chunk belongs to it.
    skip_lf: bool,
    event: String,
    /// Where the data of the event being read is: while it is one line, the
    /// range of that line's value in `buf` (no copy); from a second line
    /// on, or when the buffer must move, in `data`.
    data_range: Option<(usize, usize)>,
    data: String,
    has_data: bool,
    last_id: Option<String>,
    retry: Option<u64>,
    /// The `retry` of the event last dispatched.
    dispatched_retry: Option<u64>,
    /// An event was handed out; its buffers are cleared on the next poll.
    dispatched: bool,
    eof: bool,
}

/// A dispatched event, borrowed from the decoder: valid until the next call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SseEventRef<'a> {
    /// The `event:` field; empty means the default type, `message`.
    pub event: &'a str,
    /// The `data:` lines joined with `\n`.
    pub data: &'a str,
    /// The last `id:` seen on the stream so far, if any.
    pub id: Option<&'a str>,
    /// The `retry:` field of this event, in milliseconds.
    pub retry: Option<u64>,
}

impl SseEventRef<'_> {
    pub fn to_owned(&self) -> SseEvent {
        SseEvent {
            event: self.event.to_owned(),
            data: self.data.to_owned(),
            id: self.id.map(str::to_owned),
            retry: self.retry,
        }
    }
}

/// Where a dispatched event's data is.
enum DataAt {
    Buf(usize, usize),
    Owned,
}

impl SseDecoder {
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds the next piece of the response body.
    pub fn handle_bytes(&mut self, bytes: &[u8]) -> Result<(), Error> {
        self.materialize();
        if self.pos > 0 {
            self.buf.drain(..self.pos);
            self.pos = 0;
        }
        if self.buf.len() + bytes.len() > MAX_EVENT_BYTES {
            return Err(Error::Decode(
                cat!(
                    "an event or line is longer than ",
                    decimal(MAX_EVENT_BYTES as u64),
                    " bytes"
                )
                .into(),
            ));
        }
        self.buf.extend_from_slice(bytes);
        Ok(())
    }

    /// Marks the end of the body. An event without its closing blank line is
    /// discarded, as the standard says.
    pub fn handle_eof(&mut self) {
        self.eof = true;
    }

    /// Returns the next complete event, or `None` when more bytes are needed.
    pub fn poll_event(&mut self) -> Result<Option<SseEvent>, Error> {
        Ok(self.poll_event_ref()?.map(|e| e.to_owned()))
    }

    /// Like [`SseDecoder::poll_event`], without copying: a one-line `data`
    /// (every `batch` event) is borrowed straight from the input buffer.
    pub fn poll_event_ref(&mut self) -> Result<Option<SseEventRef<'_>>, Error> {
        if self.dispatched {
            self.dispatched = false;
            self.event.clear();
            self.data.clear();
        }
        if !self.bom_checked {
            let rest = &self.buf[self.pos..];
            const BOM: &[u8] = b"\xEF\xBB\xBF";
            if rest.len() < BOM.len() && BOM.starts_with(rest) && !self.eof {
                return Ok(None);
            }
            if rest.starts_with(BOM) {
                self.pos += BOM.len();
            }
            self.bom_checked = true;
        }
        let at = loop {
            if self.skip_lf && self.pos < self.buf.len() {
                if self.buf[self.pos] == b'\n' {
                    self.pos += 1;
                }
                self.skip_lf = false;
            }
            let rest = &self.buf[self.pos..];
            let Some(end) = memchr::memchr2(b'\n', b'\r', rest) else {
                return Ok(None);
            };
            let line_start = self.pos;
            let line_end = self.pos + end;
            let mut next = line_end + 1;
            if self.buf[line_end] == b'\r' {
                match self.buf.get(next) {
                    Some(b'\n') => next += 1,
                    Some(_) => {}
                    None => self.skip_lf = true,
                }
            }
            self.pos = next;
            if line_end == line_start {
                if let Some(at) = self.dispatch() {
                    break at;
                }
                continue;
            }
            self.process_line(line_start, line_end)?;
        };
        let data = match at {
            DataAt::Buf(s, e) => match core::str::from_utf8(&self.buf[s..e]) {
                Ok(d) => d,
                Err(_) => {
                    self.data = lossy(&self.buf[s..e]);
                    &self.data
                }
            },
            DataAt::Owned => &self.data,
        };
        Ok(Some(SseEventRef {
            event: &self.event,
            data,
            id: self.last_id.as_deref(),
            retry: self.dispatched_retry,
        }))
    }

    /// Whether part of an event (or line) is held: the body ended or broke
    /// inside one.
    pub fn mid_event(&self) -> bool {
        self.pos < self.buf.len() || self.has_data || !self.event.is_empty() && !self.dispatched
    }

    /// The event being read when the body was cut inside its first `data`
    /// line: its type and that line's value so far (`None` when anything
    /// else is pending). What a connection carried before it broke can then
    /// be salvaged where the format allows it.
    pub fn cut_data_line(&self) -> Option<(&str, &[u8])> {
        if self.has_data || self.dispatched {
            return None;
        }
        let rest = self.buf.get(self.pos..)?;
        let value = rest.strip_prefix(b"data:")?;
        Some((&self.event, value.strip_prefix(b" ").unwrap_or(value)))
    }

    /// Moves a one-line data value out of the input buffer into `data`,
    /// before the buffer changes.
    fn materialize(&mut self) {
        if let Some((s, e)) = self.data_range.take() {
            self.data.clear();
            push_lossy(&mut self.data, &self.buf[s..e]);
        }
    }

    fn process_line(&mut self, start: usize, end: usize) -> Result<(), Error> {
        let line = &self.buf[start..end];
        if line[0] == b':' {
            return Ok(());
        }
        let (field, value) = match line.iter().position(|&b| b == b':') {
            Some(i) => {
                let v = &line[i + 1..];
                (&line[..i], v.strip_prefix(b" ").unwrap_or(v))
            }
            None => (line, &line[line.len()..]),
        };
        match field {
            b"data" => {
                if !self.has_data {
                    // The value's place in `buf`: it ends where the line ends.
                    self.data_range = Some((end - value.len(), end));
                    self.has_data = true;
                    return Ok(());
                }
                if self.data.len() + value.len() > MAX_EVENT_BYTES {
                    return Err(Error::Decode(
                        cat!(
                            "an event's data is longer than ",
                            decimal(MAX_EVENT_BYTES as u64),
                            " bytes"
                        )
                        .into(),
                    ));
                }
                let value = value.to_vec();
                self.materialize();
                self.data.push('\n');
                push_lossy(&mut self.data, &value);
            }
            b"event" if self.event.as_bytes() != value => {
                self.event.clear();
                push_lossy(&mut self.event, value);
            }
            b"id" if !value.contains(&0) => {
                self.last_id = Some(lossy(value));
            }
            // Digits only; too many to fit is not a valid retry either.
            b"retry" => {
                if let Some(ms) = core::str::from_utf8(value).ok().and_then(whole_number) {
                    self.retry = Some(ms);
                }
            }
            _ => {}
        }
        Ok(())
    }

    fn dispatch(&mut self) -> Option<DataAt> {
        self.dispatched_retry = self.retry.take();
        if !self.has_data {
            self.event.clear();
            return None;
        }
        self.has_data = false;
        self.dispatched = true;
        Some(match self.data_range.take() {
            Some((s, e)) => DataAt::Buf(s, e),
            None => DataAt::Owned,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_all(chunks: &[&[u8]]) -> Vec<SseEvent> {
        let mut d = SseDecoder::new();
        let mut out = Vec::new();
        for c in chunks {
            d.handle_bytes(c).unwrap();
            while let Some(ev) = d.poll_event().unwrap() {
                out.push(ev);
            }
        }
        d.handle_eof();
        while let Some(ev) = d.poll_event().unwrap() {
            out.push(ev);
        }
        out
    }

    fn ev(event: &str, data: &str) -> SseEvent {
        SseEvent {
            event: event.into(),
            data: data.into(),
            id: None,
            retry: None,
        }
    }

    #[test]
    fn lf_crlf_and_cr_line_ends() {
        for sep in ["\n", "\r\n", "\r"] {
            let text = format!("event: batch{sep}data: a{sep}{sep}data: b{sep}{sep}");
            assert_eq!(
                decode_all(&[text.as_bytes()]),
                vec![ev("batch", "a"), ev("", "b")],
                "separator {sep:?}"
            );
        }
    }

    #[test]
    fn multi_line_data_comments_and_fields_without_colon() {
        let text = b": comment\ndata: one\ndata:two\ndata\n\n";
        assert_eq!(decode_all(&[text]), vec![ev("", "one\ntwo\n")]);
    }

    #[test]
    fn only_one_leading_space_is_stripped() {
        assert_eq!(decode_all(&[b"data:  x \n\n"]), vec![ev("", " x ")]);
    }

    #[test]
    fn id_persists_and_ids_with_nul_are_ignored() {
        let out = decode_all(&[b"id: 7\ndata: a\n\ndata: b\n\nid: x\0y\ndata: c\n\n"]);
        assert_eq!(out[0].id.as_deref(), Some("7"));
        assert_eq!(out[1].id.as_deref(), Some("7"));
        assert_eq!(out[2].id.as_deref(), Some("7"));
    }

    #[test]
    fn retry_must_be_digits() {
        let out = decode_all(&[b"retry: 1500\ndata: a\n\nretry: 1x\ndata: b\n\n"]);
        assert_eq!(out[0].retry, Some(1500));
        assert_eq!(out[1].retry, None);
    }

    #[test]
    fn event_without_data_is_not_dispatched_and_resets_type() {
        assert_eq!(
            decode_all(&[b"event: ping\n\ndata: x\n\n"]),
            vec![ev("", "x")]
        );
    }

    #[test]
    fn leading_bom_is_skipped_even_when_split() {
        let out = decode_all(&[b"\xEF", b"\xBB", b"\xBFdata: a\n\n"]);
        assert_eq!(out, vec![ev("", "a")]);
        // Only at the very start.
        let out = decode_all(&[b"data: a\n\n\xEF\xBB\xBFdata: b\n\n"]);
        assert_eq!(out.len(), 1);
    }

    #[test]
    fn crlf_split_across_chunks_is_one_line_end() {
        let out = decode_all(&[b"data: a\r", b"\n\r", b"\ndata: b\r\n\r\n"]);
        assert_eq!(out, vec![ev("", "a"), ev("", "b")]);
    }

    #[test]
    fn utf8_split_inside_a_sequence() {
        let text = "data: héllo ✓\n\n".as_bytes();
        for cut in 0..text.len() {
            let out = decode_all(&[&text[..cut], &text[cut..]]);
            assert_eq!(out, vec![ev("", "héllo ✓")], "cut at {cut}");
        }
    }

    #[test]
    fn unterminated_event_is_dropped_at_eof() {
        assert_eq!(decode_all(&[b"data: a\n\ndata: b\n"]), vec![ev("", "a")]);
    }

    #[test]
    fn a_one_line_event_is_lent_from_the_buffer_and_survives_a_new_read() {
        let mut d = SseDecoder::new();
        d.handle_bytes(b"event: batch\ndata: first\n").unwrap();
        assert!(d.poll_event_ref().unwrap().is_none());
        // The data line is complete but the event is not: new bytes must
        // not lose it when the buffer moves.
        d.handle_bytes(b"\nevent: ping\ndata: x\ndata: y\n\n")
            .unwrap();
        let ev = d.poll_event_ref().unwrap().unwrap();
        assert_eq!((ev.event, ev.data), ("batch", "first"));
        let ev = d.poll_event_ref().unwrap().unwrap();
        assert_eq!((ev.event, ev.data), ("ping", "x\ny"));
        assert!(d.poll_event_ref().unwrap().is_none());
    }

    #[test]
    fn oversized_line_is_an_error_not_a_panic() {
        let mut d = SseDecoder::new();
        let big = vec![b'x'; MAX_EVENT_BYTES];
        d.handle_bytes(&big).unwrap();
        assert!(matches!(d.handle_bytes(b"y"), Err(Error::Decode(_))));
    }
}
