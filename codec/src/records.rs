//! The records on a session's `.out` stream.
//!
//! A `batch` event carries `{"records":[...],"tail":{...}}`. Each record is
//! one of three kinds, told apart by its headers:
//! - an S2 command record (first header name empty, e.g. `trim`): it
//!   consumes a `seq_num` but carries nothing for the client;
//! - a Trigger control record (`trigger-control` header): `turn-complete`
//!   (optionally with a refreshed `public-access-token`, and marked
//!   `session-closed` when the agent closed the session during the turn),
//!   `session-closed` (the conversation is over for good) or
//!   `upgrade-required`;
//! - a data record: the body is a JSON string `{"data": <chunk>, "id": <part id>}`.
//!
//! Older agents wrote control signals as data records whose chunk type is
//! `trigger:turn-complete` / `trigger:upgrade-required`; those decode to the
//! same [`Control`] values, and any other `trigger:*` chunk type is dropped.

use crate::error::{truncate, Error};
use crate::json::{self, skip_string, skip_value, skip_ws, Reader};
use crate::prelude::*;
use crate::text::{decimal, whole_number};
use alloc::borrow::Cow;

/// Header name of Trigger control records.
pub const CONTROL_HEADER: &str = "trigger-control";
/// Header carrying a refreshed token on `turn-complete`.
pub const TOKEN_HEADER: &str = "public-access-token";

/// Header marking a session as closed: on a `turn-complete` whose turn
/// closed it, with the value `"true"`.
pub const CLOSED_HEADER: &str = "session-closed";
/// Header with the reason given for the close, when there was one.
pub const CLOSED_REASON_HEADER: &str = "session-closed-reason";
/// Header on `turn-complete`: the last `.in` seq the agent consumed.
pub const IN_EVENT_ID_HEADER: &str = "session-in-event-id";

/// A session closed by the agent (`chat.close()`) or the app's server.
/// Closing is one-way: no more sends, no more turns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Closed {
    pub reason: Option<String>,
}

/// What a control record asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Control {
    /// The agent finished its turn; maybe with a refreshed token, and
    /// `closed` when the turn also closed the session.
    TurnComplete {
        token: Option<String>,
        closed: Option<Closed>,
        /// The last `.in` seq the agent consumed in this turn, when given:
        /// tells which send the turn answered.
        in_event_id: Option<u64>,
        /// That header's own text, as an action's settlement reports it.
        in_event_text: Option<String>,
    },
    /// The session was closed; nothing more will come.
    SessionClosed(Closed),
    /// The run that should answer is parked until its deployment lands
    /// (version skew protection); reading goes on.
    PendingVersion,
    /// The server swapped the run; reading goes on.
    UpgradeRequired,
    /// A control subtype this client does not know; ignored.
    Other(String),
}

/// One decoded record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Record<'a> {
    /// S2 command record: advance the cursor only.
    Command { seq: u64 },
    /// Trigger control record (header form or legacy chunk form).
    Control { seq: u64, control: Control },
    /// A UI message chunk: `chunk` is its JSON text, exactly as sent.
    Data {
        seq: u64,
        part_id: Option<Cow<'a, str>>,
        chunk: &'a str,
    },
    /// A record with nothing to deliver (no `data`, or a dropped legacy
    /// `trigger:*` chunk): advance the cursor only.
    Skip { seq: u64 },
}

impl Record<'_> {
    pub fn seq(&self) -> u64 {
        match self {
            Record::Command { seq }
            | Record::Control { seq, .. }
            | Record::Data { seq, .. }
            | Record::Skip { seq } => *seq,
        }
    }
}

/// Whether the chunk may be a legacy control chunk, its `type` a string
/// starting `trigger:`: a cheap screen before a closer look. The usual
/// chunk starts with its type (`{"type":"text-delta",...`), and that first
/// `type` is the one a closer look reads, so one look there decides; any
/// other shape is searched for a string starting `trigger:` anywhere.
fn mentions_trigger_type(text: &str) -> bool {
    let b = text.as_bytes();
    if let Some(value) = b.strip_prefix(b"{\"type\":\"") {
        return value.starts_with(b"trigger:");
    }
    b.windows(9).any(|w| w == b"\"trigger:")
}

/// A record's fields, as the batch carries them.
#[derive(Default)]
struct RecordWire<'a> {
    seq: Option<u64>,
    /// The body's length, unescaped into the start of the body buffer.
    body: Option<usize>,
    headers: Vec<(Cow<'a, str>, Cow<'a, str>)>,
}

/// The room a body is first given, in bytes (see [`read_record`]).
const BODY_ROOM: usize = 64 * 1024;

/// Reads the record at `i` in `text` (blanks before it allowed), nesting
/// at most `room` levels; its body goes unescaped into the start of `body`,
/// a buffer kept from one record to the next. Where the record ends, and
/// its fields.
///
/// One flat loop over the members rather than a walk with a callback per
/// member: this is the inner loop of reading a stream. Keys are compared
/// as they stand unless they have escapes. The body is checked and
/// unescaped in one pass into room for up to [`BODY_ROOM`] bytes; a longer
/// one, or a faulty one, is read again by [`Reader::string`], which takes
/// any length and names the fault.
fn read_record<'a>(
    text: &'a str,
    i: usize,
    room: usize,
    body: &mut Vec<u8>,
) -> json::Result<(usize, RecordWire<'a>)> {
    let b = text.as_bytes();
    // For the rarer parts, and to name faults.
    let mut r = Reader::new(text);
    let mut i = skip_ws(b, i);
    r.skip_to(i);
    if b.get(i) != Some(&b'{') {
        return r.fault("an object");
    }
    if room == 0 {
        r.skip_to(i + 1);
        return r.fault("less deeply nested arrays and objects");
    }
    let mut rec = RecordWire::default();
    i = skip_ws(b, i + 1);
    if b.get(i) == Some(&b'}') {
        return Ok((i + 1, rec));
    }
    loop {
        r.skip_to(i);
        // The key's own text when it has no escapes; `Reader::string` for
        // the rest (escapes, faults). Not `Reader::string` for all: that
        // read 8% fewer records a second natively (its blank skip is a
        // call, and the key is at the quote already).
        let key = match (b.get(i), skip_string(b, i + 1)) {
            (Some(b'"'), Ok((end, false))) => {
                r.skip_to(end);
                Cow::Borrowed(text.get(i + 1..end - 1).unwrap_or_default())
            }
            _ => r.string()?,
        };
        i = skip_ws(b, r.offset());
        r.skip_to(i);
        if b.get(i) != Some(&b':') {
            return r.fault("':'");
        }
        i = skip_ws(b, i + 1);
        r.skip_to(i);
        match (key.as_bytes(), b.get(i)) {
            (b"seq_num", _) => {
                rec.seq = Some(r.u64()?);
                i = r.offset();
            }
            (b"body", Some(b'"')) => {
                let first = (b.len() - i).min(BODY_ROOM);
                let (end, len) = match json::unescape_into(text, i + 1, body, first) {
                    Some(read) => read,
                    None => {
                        let long = r.string()?;
                        body.clear();
                        body.extend_from_slice(long.as_bytes());
                        (r.offset(), long.len())
                    }
                };
                rec.body = Some(len);
                i = end;
            }
            (b"headers", Some(b'[')) => {
                let open = i;
                i = skip_ws(b, i + 1);
                // `[]`, the usual case, needs no walk.
                if b.get(i) == Some(&b']') {
                    i += 1;
                } else {
                    r.skip_to(open);
                    read_headers(&mut r, &mut rec.headers)?;
                    i = r.offset();
                }
            }
            _ => i = skip_value(b, i, room - 1)?,
        }
        i = skip_ws(b, i);
        match b.get(i) {
            Some(b',') => i = skip_ws(b, i + 1),
            Some(b'}') => return Ok((i + 1, rec)),
            _ => {
                r.skip_to(i);
                return r.fault("',' or '}'");
            }
        }
    }
}

/// The `[name, value]` pairs of a record's headers (the reader is at the
/// `[`). A name alone gets an empty value; other shapes are skipped.
fn read_headers<'a>(
    r: &mut Reader<'a>,
    headers: &mut Vec<(Cow<'a, str>, Cow<'a, str>)>,
) -> json::Result<()> {
    r.array(|r| {
        let mut pair: [Option<Cow<'a, str>>; 2] = [None, None];
        let mut n = 0;
        r.array(|r| {
            if n < 2 && r.peek() == Some(b'"') {
                pair[n] = Some(r.string()?);
            } else {
                r.value()?;
            }
            n += 1;
            Ok(())
        })?;
        if let [Some(name), value] = pair {
            headers.push((name, value.unwrap_or_default()));
        }
        Ok(())
    })
}

/// `{"data": <chunk>, "id": <part id>}`: the chunk's text and the part id.
fn read_envelope(body: &str) -> json::Result<(Option<&str>, Option<Cow<'_, str>>)> {
    let mut r = Reader::new(body);
    let (mut data, mut id) = (None, None);
    r.object(|r, key| {
        match key.as_ref() {
            "data" => data = Some(r.value()?),
            "id" if r.peek() == Some(b'"') => id = Some(r.string()?),
            _ => {
                r.value()?;
            }
        }
        Ok(())
    })?;
    r.end()?;
    Ok((data, id))
}

/// Decodes the `data` of a `batch` event and hands each record to `visit`,
/// in order.
///
/// A batch that is not JSON, has no `records` array, or holds a record
/// without a numeric `seq_num` or with a data body that is not JSON, is an
/// [`Error::Decode`] naming what was wrong. Records before the bad one have
/// already been visited.
pub fn decode_batch(data: &str, visit: impl FnMut(Record<'_>)) -> Result<(), Error> {
    decode_batch_in(data, &mut Vec::new(), visit)
}

/// [`decode_batch`] with the room record bodies are unescaped into kept by
/// the caller from one event to the next: up to 64 KiB of it (a longer
/// body's room is let go when its event has been read).
pub fn decode_batch_in(
    data: &str,
    body: &mut Vec<u8>,
    mut visit: impl FnMut(Record<'_>),
) -> Result<(), Error> {
    let bad_batch = |why: &str| {
        Error::Decode(
            cat!(
                "batch event is not a JSON object with a records array (",
                why,
                "): ",
                truncate(data, 120)
            )
            .into(),
        )
    };
    let mut r = Reader::new(data);
    let mut seen_records = false;
    let mut failure: Option<Error> = None;
    let decoded = r
        .object(|r, key| {
            if key != "records" || r.peek() != Some(b'[') {
                return r.value().map(drop);
            }
            seen_records = true;
            r.array(|r| {
                let (text, at, room) = r.flat();
                let (end, rec) = read_record(text, at, room, body)?;
                r.skip_to(end);
                if failure.is_none() {
                    if let Err(e) = classify(&rec, body, &mut visit) {
                        failure = Some(e);
                    }
                }
                Ok(())
            })
        })
        .and_then(|()| r.end())
        .map_err(|e| bad_batch(&e.message()));
    if body.len() > BODY_ROOM {
        *body = Vec::new();
    }
    decoded?;
    if let Some(e) = failure {
        return Err(e);
    }
    if !seen_records {
        return Err(bad_batch("no records field"));
    }
    Ok(())
}

/// A sequence number written as plain decimal digits (no sign, space or
/// exponent) that a JavaScript number holds exactly; `None` otherwise.
pub fn strict_seq(v: &str) -> Option<u64> {
    whole_number(v).filter(|&n| n < (1 << 53))
}

/// An unnamed event of a v1 stream (a run's own stream, or an old server):
/// its data is one UI chunk, its `id` the sequence number.
pub fn decode_v1_event(
    data: &str,
    seq: u64,
    mut visit: impl FnMut(Record<'_>),
) -> Result<(), Error> {
    let mut r = Reader::new(data);
    if r.value().and_then(|_| r.end()).is_err() || !data.trim_ascii_start().starts_with('{') {
        return Err(Error::Decode(
            cat!("an event's data is not a JSON chunk: ", truncate(data, 120)).into(),
        ));
    }
    classify_chunk(seq, Some(data.trim_ascii()), None, &mut visit);
    Ok(())
}

/// The whole records at the start of a `batch` event's data that was cut
/// short (the connection ended inside the event): each one complete and
/// valid is handed to `visit`, in order, and the count is returned. Records
/// are immutable and numbered, so taking the first ones and resuming after
/// the last is safe; the rest comes again on the next connection. Only the
/// compact form servers send (`{"records":[` first) is salvaged.
pub fn decode_batch_prefix(data: &[u8], mut visit: impl FnMut(Record<'_>)) -> usize {
    const HEAD: &[u8] = b"{\"records\":[";
    let Some(rest) = data.strip_prefix(HEAD) else {
        return 0;
    };
    // A cut can fall inside a UTF-8 sequence: only the valid prefix counts.
    let mut rest = match core::str::from_utf8(rest) {
        Ok(s) => s,
        Err(e) => match rest.get(..e.valid_up_to()).map(core::str::from_utf8) {
            Some(Ok(s)) => s,
            _ => return 0,
        },
    };
    let mut body = Vec::new();
    let mut n = 0;
    loop {
        let Ok((used, rec)) = read_record(rest, 0, json::MAX_DEPTH - 2, &mut body) else {
            return n;
        };
        if classify(&rec, &body, &mut visit).is_err() {
            return n;
        }
        n += 1;
        match rest.get(used..) {
            Some(after) if after.starts_with(',') => match after.get(1..) {
                Some(next) => rest = next,
                None => return n,
            },
            _ => return n,
        }
    }
}

/// One record for `visit` (`dyn`: one copy in the module for every caller).
fn classify(
    rec: &RecordWire<'_>,
    body: &[u8],
    visit: &mut dyn FnMut(Record<'_>),
) -> Result<(), Error> {
    let Some(seq) = rec.seq else {
        return Err(Error::Decode("a record has no numeric seq_num".into()));
    };
    let headers = &rec.headers;
    if headers.first().is_some_and(|(name, _)| name.is_empty()) {
        visit(Record::Command { seq });
        return Ok(());
    }
    let header = |name: &str| {
        headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone().into_owned())
    };
    if let Some(subtype) = header(CONTROL_HEADER) {
        let reason = || header(CLOSED_REASON_HEADER);
        let control = match subtype.as_str() {
            "turn-complete" => Control::TurnComplete {
                token: header(TOKEN_HEADER),
                closed: (header(CLOSED_HEADER).as_deref() == Some("true"))
                    .then(|| Closed { reason: reason() }),
                in_event_id: header(IN_EVENT_ID_HEADER).and_then(|v| strict_seq(&v)),
                in_event_text: header(IN_EVENT_ID_HEADER).filter(|v| strict_seq(v).is_some()),
            },
            "session-closed" => Control::SessionClosed(Closed { reason: reason() }),
            "pending-version" => Control::PendingVersion,
            "upgrade-required" => Control::UpgradeRequired,
            _ => Control::Other(subtype),
        };
        visit(Record::Control { seq, control });
        return Ok(());
    }
    let body = body.get(..rec.body.unwrap_or(0)).unwrap_or_default();
    // Valid UTF-8: the unescaped text of a `str`.
    let body = core::str::from_utf8(body).unwrap_or_default();
    if body.trim_ascii().is_empty() {
        visit(Record::Skip { seq });
        return Ok(());
    }

    let (chunk, part_id) = read_envelope(body).map_err(|e| {
        Error::Decode(
            cat!(
                "record ",
                decimal(seq),
                ": body is not a JSON envelope (",
                e.message(),
                "): ",
                truncate(body, 120)
            )
            .into(),
        )
    })?;
    classify_chunk(seq, chunk, part_id, visit);
    Ok(())
}

/// A record's chunk: a legacy `trigger:*` control chunk becomes its control
/// record, `null` or no chunk a skip, anything else data.
fn classify_chunk<'a>(
    seq: u64,
    chunk: Option<&'a str>,
    part_id: Option<Cow<'a, str>>,
    visit: &mut dyn FnMut(Record<'_>),
) {
    let Some(chunk) = chunk.filter(|c| *c != "null") else {
        visit(Record::Skip { seq });
        return;
    };
    // Cheap screen before the full look at the chunk type: a legacy
    // control chunk's text always contains `"trigger:`.
    if mentions_trigger_type(chunk) {
        match json::string_field(chunk, "type").as_deref() {
            Some("trigger:turn-complete") => {
                let token = json::string_field(chunk, "publicAccessToken").map(Cow::into_owned);
                visit(Record::Control {
                    seq,
                    control: Control::TurnComplete {
                        token,
                        closed: None,
                        in_event_id: None,
                        in_event_text: None,
                    },
                });
                return;
            }
            Some("trigger:upgrade-required") => {
                visit(Record::Control {
                    seq,
                    control: Control::UpgradeRequired,
                });
                return;
            }
            Some(k) if k.starts_with("trigger:") => {
                visit(Record::Skip { seq });
                return;
            }
            _ => {}
        }
    }
    visit(Record::Data {
        seq,
        part_id,
        chunk,
    });
}

/// One event of an AI SDK UI message stream (`data: <chunk JSON>`), the
/// format a head-start route answers with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UiStreamEvent<'a> {
    /// A chunk for the app, as JSON text.
    Chunk(&'a str),
    /// `trigger:turn-complete`: the first turn is over.
    TurnComplete,
    /// `trigger:session-state`: where the session's `.out` stands now.
    SessionState { last_event_id: Option<String> },
    /// Nothing for the app (`[DONE]`, another `trigger:*` type).
    Skip,
}

/// Decodes the data of one UI message stream event.
pub fn decode_ui_stream_event(data: &str) -> Result<UiStreamEvent<'_>, Error> {
    let data = data.trim_ascii();
    if data.is_empty() || data == "[DONE]" {
        return Ok(UiStreamEvent::Skip);
    }
    let raw = json::raw_value(data).map_err(|e| {
        Error::Decode(
            cat!(
                "event data is not JSON (",
                e.message(),
                "): ",
                truncate(data, 120)
            )
            .into(),
        )
    })?;
    if !mentions_trigger_type(raw) {
        return Ok(UiStreamEvent::Chunk(raw));
    }
    Ok(match json::string_field(raw, "type").as_deref() {
        Some("trigger:turn-complete") => UiStreamEvent::TurnComplete,
        Some("trigger:session-state") => {
            let mut last_event_id = None;
            let mut r = Reader::new(raw);
            let _ = r.object(|r, k| {
                if k == "lastEventId" {
                    match r.peek() {
                        Some(b'"') => last_event_id = Some(r.string()?.into_owned()),
                        Some(b'0'..=b'9') => last_event_id = Some(decimal(r.u64()?)),
                        _ => {
                            r.value()?;
                        }
                    }
                } else {
                    r.value()?;
                }
                Ok(())
            });
            UiStreamEvent::SessionState { last_event_id }
        }
        Some(k) if k.starts_with("trigger:") => UiStreamEvent::Skip,
        _ => UiStreamEvent::Chunk(raw),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// What a record decodes to, as comparable text; `None` for a fault.
    fn decoded(record: &str) -> Option<Vec<String>> {
        let mut out = Vec::new();
        decode_batch(&format!("{{\"records\":[{record}]}}"), |rec| {
            out.push(format!("{rec:?}"))
        })
        .ok()?;
        Some(out)
    }

    /// One of each kind of member, each in several forms (valid or not).
    fn arb_record() -> impl Strategy<Value = String> {
        let chunk = prop_oneof![
            Just(
                r#"{"type":"text-delta","id":"t","delta":"a \"q\" \\ é\n\u00e9\ud83d\ude00"}"#
                    .to_string()
            ),
            Just(r#"{"type":"trigger:turn-complete","publicAccessToken":"tok"}"#.to_string()),
            Just(r#"[1, {"a": [true, null, -2.5e3]}]"#.to_string()),
            Just("null".to_string()),
            Just(r#"{"a":1]"#.to_string()),
            "[ -~]{0,12}",
        ];
        let body = prop_oneof![
            (chunk.clone(), "[a-z\\-]{0,6}")
                .prop_map(|(c, id)| format!(r#"{{"data":{c},"id":"{id}"}}"#)),
            (chunk, 0..3usize)
                .prop_map(|(c, sp)| format!(r#"{}{{ "id" : 7 , "data" : {c} }}"#, " ".repeat(sp))),
            "[ -~]{0,16}",
            Just(String::new()),
        ];
        let seq = prop_oneof![
            (0u64..1_000_000).prop_map(|n| format!(r#""seq_num":{n}"#)),
            Just(r#""seq_num":1.5"#.to_string()),
            Just(r#""seq_num":"4""#.to_string()),
        ];
        let body = prop_oneof![
            body.prop_map(|b| format!(r#""body":{}"#, serde_json::to_string(&b).unwrap())),
            Just(r#""body":{"not":"a string"}"#.to_string()),
            Just(r#""b\u006fdy":"{\"data\":1}""#.to_string()),
        ];
        let headers = prop_oneof![
            Just(r#""headers":[]"#.to_string()),
            Just(r#""headers" : [ ]"#.to_string()),
            Just(
                r#""headers":[["trigger-control","turn-complete"],["public-access-token","t"]]"#
                    .to_string()
            ),
            Just(r#""headers":[ ["","trim"] ]"#.to_string()),
            Just(r#""headers":[["session-closed"]]"#.to_string()),
            Just(r#""headers":["not a pair"]"#.to_string()),
            Just(r#""he\u0061ders":[["trigger-control","pending-version"]]"#.to_string()),
        ];
        let other = prop_oneof![
            Just(r#""timestamp":1700000000000"#.to_string()),
            Just(r#""other":{"x":[1,2,{"y":"z"}]}"#.to_string()),
            Just(r#""bad":[1 2]"#.to_string()),
        ];
        let members = (
            prop::option::of(seq),
            prop::option::of(body),
            prop::option::of(headers),
            prop::option::of(other),
        )
            .prop_map(|(a, b, c, d)| [a, b, c, d].into_iter().flatten().collect::<Vec<_>>())
            .prop_shuffle();
        (members, 0..3usize).prop_map(|(members, sp)| {
            format!("{{{}}}", members.join(&format!("{},", " ".repeat(sp))))
        })
    }

    proptest! {
        /// A batch damaged anywhere (cut short, a character changed)
        /// decodes or fails: never a panic.
        #[test]
        fn damaged_batches_decode_or_fail(
            records in prop::collection::vec(arb_record(), 1..4),
            cut in any::<prop::sample::Index>(),
            at in any::<prop::sample::Index>(),
            with in prop::sample::select(&['"', '\\', '{', '}', '[', ']', ',', ':', ' ', '0', 'é', '\u{1}'][..]),
        ) {
            let batch = format!("{{\"records\":[{}]}}", records.join(","));
            let mut chars: Vec<char> = batch.chars().collect();
            let i = at.index(chars.len());
            chars[i] = with;
            let damaged: String = chars.into_iter().collect();
            for text in [&batch, &damaged] {
                let end = (0..=cut.index(text.len() + 1)).rev().find(|&e| text.is_char_boundary(e)).unwrap_or(0);
                for t in [text.as_str(), &text[..end]] {
                    let _ = decode_batch(t, |_| {});
                    let _ = decode_batch_prefix(t.as_bytes(), |_| {});
                }
            }
        }

        /// The record reader takes any spelling of a record as its plain
        /// form: the same text after a round trip through serde_json (blanks
        /// gone, keys unescaped and sorted) decodes the same, or both fail.
        #[test]
        fn records_decode_as_their_plain_form(record in arb_record()) {
            let plain = serde_json::from_str::<serde_json::Value>(&record)
                .ok()
                .map(|v| v.to_string());
            match plain {
                Some(plain) => prop_assert_eq!(decoded(&record), decoded(&plain), "{} / {}", record, plain),
                None => prop_assert_eq!(decoded(&record), None, "{}", record),
            }
        }
    }

    #[test]
    fn a_usual_record_is_read_in_one_pass() {
        let text = r#"{"seq_num":7,"timestamp":1,"body":"{\"data\":{\"type\":\"text-delta\",\"delta\":\"é\\n\"},\"id\":\"p\"}","headers":[]}"#;
        let mut body = Vec::new();
        let (end, rec) = read_record(text, 0, 8, &mut body).unwrap();
        assert_eq!((end, rec.seq), (text.len(), Some(7)));
        let text_of = core::str::from_utf8(&body[..rec.body.unwrap()]).unwrap();
        assert_eq!(
            text_of,
            r#"{"data":{"type":"text-delta","delta":"é\n"},"id":"p"}"#
        );
        assert!(rec.headers.is_empty());
        // A long body is read too, past the first room it is given.
        let long = "x".repeat(BODY_ROOM + 10);
        let text = format!(r#"{{"seq_num":1,"body":"{long}"}}"#);
        let (_, rec) = read_record(&text, 0, 8, &mut body).unwrap();
        assert_eq!(&body[..rec.body.unwrap()], long.as_bytes());
        // Between events the room kept for bodies stays small.
        let envelope = format!(r#"{{"data":{{"type":"text-delta","delta":"{long}"}}}}"#);
        let batch = format!(
            r#"{{"records":[{{"seq_num":2,"body":{}}}]}}"#,
            serde_json::to_string(&envelope).unwrap()
        );
        let mut kept = Vec::new();
        let mut chunks = Vec::new();
        decode_batch_in(&batch, &mut kept, |rec| {
            if let Record::Data { chunk, .. } = rec {
                chunks.push(chunk.len());
            }
        })
        .unwrap();
        assert_eq!(chunks, [envelope.len() - r#"{"data":}"#.len()]);
        assert!(kept.len() <= BODY_ROOM, "{}", kept.len());
    }

    fn seqs_of_prefix(data: &str) -> Vec<u64> {
        let mut seqs = Vec::new();
        let n = decode_batch_prefix(data.as_bytes(), |r| seqs.push(r.seq()));
        assert_eq!(n, seqs.len());
        seqs
    }

    #[test]
    fn a_cut_batch_gives_its_whole_records_and_nothing_else() {
        let rec = |seq: u64| {
            cat!(
                "{\"body\":\"{\\\"data\\\":{\\\"type\\\":\\\"text-delta\\\",\\\"delta\\\":\\\"é",
                decimal(seq),
                "\\\"},\\\"id\\\":\\\"p",
                decimal(seq),
                "\\\"}\",\"seq_num\":",
                decimal(seq),
                ",\"timestamp\":1,\"headers\":[]}"
            )
        };
        let mut full = String::from("{\"records\":[");
        let mut ends = Vec::new();
        for seq in 4..7u64 {
            if seq > 4 {
                full.push(',');
            }
            full.push_str(&rec(seq));
            ends.push(full.len());
        }
        full.push_str("]}");
        // Every cut point: the records wholly before it, in order.
        for cut in 0..=full.len() {
            let got = seqs_of_prefix_bytes(&full.as_bytes()[..cut]);
            let whole: Vec<u64> = (4..7u64)
                .filter(|&s| ends[(s - 4) as usize] <= cut)
                .collect();
            assert_eq!(got, whole, "cut at {cut}");
        }
        // Not a batch in the compact form: nothing.
        assert!(seqs_of_prefix("{ \"records\": [").is_empty());
        assert!(seqs_of_prefix("[1,2").is_empty());
    }

    fn seqs_of_prefix_bytes(data: &[u8]) -> Vec<u64> {
        let mut seqs = Vec::new();
        decode_batch_prefix(data, |r| seqs.push(r.seq()));
        seqs
    }

    fn collect(data: &str) -> Result<Vec<String>, Error> {
        let mut out = Vec::new();
        decode_batch(data, |r| {
            out.push(match r {
                Record::Command { seq } => format!("{seq}:command"),
                Record::Control { seq, control } => format!("{seq}:{control:?}"),
                Record::Data {
                    seq,
                    part_id,
                    chunk,
                } => {
                    format!("{seq}:data:{}:{chunk}", part_id.unwrap_or_default())
                }
                Record::Skip { seq } => format!("{seq}:skip"),
            })
        })?;
        Ok(out)
    }

    #[test]
    fn the_three_kinds_of_record() {
        let data = r#"{"records":[
            {"seq_num":0,"timestamp":1,"body":"{\"data\":{\"type\":\"text-delta\",\"id\":\"m\",\"delta\":\"pong\"},\"id\":\"abc\"}"},
            {"seq_num":1,"timestamp":2,"body":"","headers":[["trigger-control","turn-complete"],["public-access-token","tok2"],["session-in-event-id","4"]]},
            {"seq_num":2,"timestamp":3,"body":"xyz","headers":[["","trim"]]},
            {"seq_num":3,"timestamp":4,"body":"","headers":[["trigger-control","upgrade-required"]]}
        ],"tail":{"seq_num":4,"timestamp":5}}"#;
        assert_eq!(
            collect(data).unwrap(),
            vec![
                r#"0:data:abc:{"type":"text-delta","id":"m","delta":"pong"}"#.to_string(),
                r#"1:TurnComplete { token: Some("tok2"), closed: None, in_event_id: Some(4), in_event_text: Some("4") }"#
                    .to_string(),
                "2:command".to_string(),
                "3:UpgradeRequired".to_string(),
            ]
        );
    }

    #[test]
    fn closed_sessions_on_turn_complete_and_on_their_own_record() {
        let data = r#"{"records":[
            {"seq_num":1,"body":"","headers":[["trigger-control","turn-complete"],["session-closed","true"],["session-closed-reason","done"]]},
            {"seq_num":2,"body":"","headers":[["trigger-control","turn-complete"],["session-closed","false"]]},
            {"seq_num":3,"body":"","headers":[["trigger-control","session-closed"],["session-closed-reason","bye"]]},
            {"seq_num":4,"body":"","headers":[["trigger-control","session-closed"]]},
            {"seq_num":5,"body":"","headers":[["trigger-control","turn-complete"],["session-closed","true"]]}
        ]}"#;
        assert_eq!(
            collect(data).unwrap(),
            vec![
                r#"1:TurnComplete { token: None, closed: Some(Closed { reason: Some("done") }), in_event_id: None, in_event_text: None }"#,
                "2:TurnComplete { token: None, closed: None, in_event_id: None, in_event_text: None }",
                r#"3:SessionClosed(Closed { reason: Some("bye") })"#,
                "4:SessionClosed(Closed { reason: None })",
                "5:TurnComplete { token: None, closed: Some(Closed { reason: None }), in_event_id: None, in_event_text: None }",
            ]
        );
    }

    #[test]
    fn legacy_chunk_forms() {
        let data = r#"{"records":[
            {"seq_num":5,"body":"{\"data\":{\"type\":\"trigger:turn-complete\",\"publicAccessToken\":\"t\"},\"id\":\"a\"}"},
            {"seq_num":6,"body":"{\"data\":{\"type\":\"trigger:upgrade-required\"},\"id\":\"b\"}"},
            {"seq_num":7,"body":"{\"data\":{\"type\":\"trigger:something-new\"},\"id\":\"c\"}"},
            {"seq_num":8,"body":"{\"data\":{\"type\":\"text-delta\",\"delta\":\"\\\"trigger:not-a-type\"},\"id\":\"d\"}"},
            {"seq_num":9,"body":"{\"data\":{\"publicAccessToken\":\"u\",\"type\":\"trigger:turn-complete\"},\"id\":\"e\"}"},
            {"seq_num":10,"body":"{\"data\":{ \"type\" : \"trigger:upgrade-required\" },\"id\":\"f\"}"}
        ]}"#;
        let out = collect(data).unwrap();
        assert_eq!(
            out[0],
            r#"5:TurnComplete { token: Some("t"), closed: None, in_event_id: None, in_event_text: None }"#
        );
        assert_eq!(out[1], "6:UpgradeRequired");
        assert_eq!(out[2], "7:skip");
        assert!(out[3].starts_with("8:data:d:"), "{}", out[3]);
        // The type anywhere but first, and with spaces around: still known.
        assert_eq!(
            out[4],
            r#"9:TurnComplete { token: Some("u"), closed: None, in_event_id: None, in_event_text: None }"#
        );
        assert_eq!(out[5], "10:UpgradeRequired");
    }

    #[test]
    fn records_without_data_are_skipped() {
        let data = r#"{"records":[{"seq_num":1,"body":"{\"id\":\"x\"}"},{"seq_num":2,"body":"{\"data\":null}"},{"seq_num":3}]}"#;
        assert_eq!(collect(data).unwrap(), vec!["1:skip", "2:skip", "3:skip"]);
    }

    #[test]
    fn unknown_control_subtype_is_reported_not_dropped() {
        let data =
            r#"{"records":[{"seq_num":1,"body":"","headers":[["trigger-control","new-thing"]]}]}"#;
        assert_eq!(collect(data).unwrap(), vec![r#"1:Other("new-thing")"#]);
    }

    #[test]
    fn ui_stream_events() {
        assert_eq!(
            decode_ui_stream_event("[DONE]").unwrap(),
            UiStreamEvent::Skip
        );
        assert_eq!(
            decode_ui_stream_event(r#" {"type":"text-delta","delta":"x"} "#).unwrap(),
            UiStreamEvent::Chunk(r#"{"type":"text-delta","delta":"x"}"#)
        );
        assert_eq!(
            decode_ui_stream_event(r#"{"type":"trigger:turn-complete"}"#).unwrap(),
            UiStreamEvent::TurnComplete
        );
        assert_eq!(
            decode_ui_stream_event(r#"{"type":"trigger:session-state","lastEventId":"12"}"#)
                .unwrap(),
            UiStreamEvent::SessionState {
                last_event_id: Some("12".into())
            }
        );
        assert_eq!(
            decode_ui_stream_event(r#"{"type":"trigger:other"}"#).unwrap(),
            UiStreamEvent::Skip
        );
        assert!(decode_ui_stream_event("{nope")
            .unwrap_err()
            .to_string()
            .contains("not JSON"));
    }

    #[test]
    fn malformed_input_names_what_is_wrong() {
        let e = collect("not json").unwrap_err();
        assert!(e.to_string().contains("records array"), "{e}");
        let e = collect(r#"{"records":[{"seq_num":"x","body":""}]}"#).unwrap_err();
        assert!(matches!(e, Error::Decode(_)));
        let e = collect(r#"{"records":[{"seq_num":9,"body":"{oops"}]}"#).unwrap_err();
        assert!(e.to_string().contains("record 9"), "{e}");
    }
}
