//! A small JSON reader over borrowed text.
//!
//! The transport never needs a JSON tree: it picks a few fields out of the
//! server's records and passes chunks on as the exact text they arrived in.
//! So this reader walks the text, lends out strings (unescaped only when
//! they contain escapes) and the raw text of values, and checks the grammar
//! of everything it skips, so what it lends out as a value is valid JSON.
//! It replaces `serde_json`, which cost more of the size budget than the
//! whole rest of the transport (see the README).
//!
//! Two layers: flat passes over bytes (`skip_value`, `skip_string`,
//! `unescape_into`: one loop each, no call per token), which do the work
//! and name the faults, and [`Reader`], a cursor over them for walks with a
//! callback per member. The record reader (`crate::records`) uses the flat
//! passes directly on its hot path.
//!
//! Errors name the byte offset and what was expected. Nesting deeper than
//! [`MAX_DEPTH`] is an error, not a stack overflow.

use crate::prelude::*;
use crate::text::whole_number;
use alloc::borrow::Cow;

/// How deep arrays and objects may nest.
pub const MAX_DEPTH: usize = 128;

/// A grammar error: where, and what was expected there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsonError {
    pub offset: usize,
    pub expected: &'static str,
}

impl JsonError {
    /// What was expected where (also the `Display` text).
    pub fn message(&self) -> String {
        cat!(
            "expected ",
            self.expected,
            " at byte ",
            crate::text::decimal(self.offset as u64)
        )
    }
}

impl core::fmt::Display for JsonError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(&self.message())
    }
}

pub type Result<T> = core::result::Result<T, JsonError>;

/// A cursor over JSON text.
pub struct Reader<'a> {
    text: &'a str,
    pos: usize,
    depth: usize,
}

/// The bytes that end a run of plain characters inside a string: the
/// closing quote, a backslash, and the control characters JSON forbids there.
static ENDS_RUN: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 0x20 {
        table[b] = true;
        b += 1;
    }
    table[b'"' as usize] = true;
    table[b'\\' as usize] = true;
    table
};

#[inline(always)]
fn is_ws(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r')
}

impl<'a> Reader<'a> {
    pub fn new(text: &'a str) -> Self {
        Reader {
            text,
            pos: 0,
            depth: 0,
        }
    }

    #[inline(always)]
    fn bytes(&self) -> &'a [u8] {
        self.text.as_bytes()
    }

    /// `expected` was not found at the cursor.
    pub(crate) fn fault<T>(&self, expected: &'static str) -> Result<T> {
        self.err(expected)
    }

    fn err<T>(&self, expected: &'static str) -> Result<T> {
        Err(JsonError {
            offset: self.pos,
            expected,
        })
    }

    #[inline]
    fn ws(&mut self) {
        while self.pos < self.text.len() && is_ws(self.bytes()[self.pos]) {
            self.pos += 1;
        }
    }

    /// The next non-blank byte, not consumed.
    /// How far reading has come, in bytes from the start of the text.
    pub fn offset(&self) -> usize {
        self.pos
    }

    /// For a flat pass over what comes next: the text, the cursor, and how
    /// many more levels may nest from here.
    pub(crate) fn flat(&self) -> (&'a str, usize, usize) {
        (self.text, self.pos, MAX_DEPTH.saturating_sub(self.depth))
    }

    /// Moves the cursor past what a flat pass read.
    pub(crate) fn skip_to(&mut self, pos: usize) {
        self.pos = pos;
    }

    #[inline(always)]
    pub fn peek(&mut self) -> Option<u8> {
        self.ws();
        self.bytes().get(self.pos).copied()
    }

    #[inline(always)]
    fn eat(&mut self, b: u8, expected: &'static str) -> Result<()> {
        if self.peek() == Some(b) {
            self.pos += 1;
            Ok(())
        } else {
            self.err(expected)
        }
    }

    /// Only blanks remain.
    pub fn end(&mut self) -> Result<()> {
        match self.peek() {
            None => Ok(()),
            Some(_) => self.err("the end of the text"),
        }
    }

    /// Skips one value, checking its grammar, and returns its text.
    pub fn value(&mut self) -> Result<&'a str> {
        self.ws();
        let start = self.pos;
        self.pos = skip_value(self.bytes(), start, MAX_DEPTH.saturating_sub(self.depth))?;
        Ok(self.span(start, self.pos))
    }

    /// The text from `start` to `end`. Both are positions the reader
    /// stopped at (ASCII bytes), so this never comes out empty by mistake;
    /// it is written without indexing so that no panic path is compiled in.
    #[inline(always)]
    fn span(&self, start: usize, end: usize) -> &'a str {
        self.text.get(start..end).unwrap_or_default()
    }

    /// A non-negative integer that fits in 64 bits.
    pub fn u64(&mut self) -> Result<u64> {
        self.ws();
        let start = self.pos;
        let expected = "a non-negative integer";
        if !matches!(self.bytes().get(start), Some(b'0'..=b'9')) {
            return self.err(expected);
        }
        let end = skip_number(self.bytes(), start)?;
        // A fraction or an exponent is not an integer.
        let n = whole_number(self.span(start, end)).ok_or(JsonError {
            offset: start,
            expected,
        })?;
        self.pos = end;
        Ok(n)
    }

    /// A string, unescaped; borrowed when it has no escapes.
    pub fn string(&mut self) -> Result<Cow<'a, str>> {
        self.eat(b'"', "a string")?;
        let start = self.pos;
        let (end, escaped) = skip_string(self.bytes(), start)?;
        self.pos = end;
        let raw = self.span(start, end - 1);
        if !escaped {
            return Ok(Cow::Borrowed(raw));
        }
        let mut out = Vec::new();
        let len = unescape_into(self.text, start, &mut out, raw.len()).map_or(0, |(_, n)| n);
        out.truncate(len);
        // Valid UTF-8 by construction: the text's own bytes, less ASCII
        // backslashes, and whole encoded characters.
        Ok(Cow::Owned(String::from_utf8(out).unwrap_or_default()))
    }

    /// Walks an object, calling `f` with each key; `f` must read the value.
    pub fn object(
        &mut self,
        mut f: impl FnMut(&mut Self, Cow<'a, str>) -> Result<()>,
    ) -> Result<()> {
        self.object_dyn(&mut f)
    }

    // The walks take the callback as `dyn`: one copy of each in the module
    // instead of one per caller.
    fn object_dyn(
        &mut self,
        f: &mut dyn FnMut(&mut Self, Cow<'a, str>) -> Result<()>,
    ) -> Result<()> {
        self.eat(b'{', "an object")?;
        self.enter()?;
        if self.peek() == Some(b'}') {
            self.pos += 1;
            self.depth -= 1;
            return Ok(());
        }
        loop {
            let key = self.string()?;
            self.eat(b':', "':'")?;
            f(self, key)?;
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b'}') => {
                    self.pos += 1;
                    self.depth -= 1;
                    return Ok(());
                }
                _ => return self.err("',' or '}'"),
            }
        }
    }

    /// Walks an array, calling `f` for each element; `f` must read it.
    pub fn array(&mut self, mut f: impl FnMut(&mut Self) -> Result<()>) -> Result<()> {
        self.array_dyn(&mut f)
    }

    fn array_dyn(&mut self, f: &mut dyn FnMut(&mut Self) -> Result<()>) -> Result<()> {
        self.eat(b'[', "an array")?;
        self.enter()?;
        if self.peek() == Some(b']') {
            self.pos += 1;
            self.depth -= 1;
            return Ok(());
        }
        loop {
            f(self)?;
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b']') => {
                    self.pos += 1;
                    self.depth -= 1;
                    return Ok(());
                }
                _ => return self.err("',' or ']'"),
            }
        }
    }

    fn enter(&mut self) -> Result<()> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return self.err("less deeply nested arrays and objects");
        }
        Ok(())
    }
}

fn fault<T>(offset: usize, expected: &'static str) -> Result<T> {
    Err(JsonError { offset, expected })
}

/// Where the JSON value at `i` ends (no blanks before it, none taken after
/// it), nesting at most `room` levels deep, its grammar checked. One loop
/// with a bit stack of the open containers (1: object, 0: array) instead
/// of a call per value: skipping a chunk is most of the reading of a data
/// record.
pub(crate) fn skip_value(b: &[u8], mut i: usize, room: usize) -> Result<usize> {
    let mut open: u128 = 0;
    let mut depth = 0;
    loop {
        // A value starts at `i`.
        match b.get(i) {
            Some(b'"') => i = skip_string(b, i + 1)?.0,
            Some(&c @ (b'{' | b'[')) => {
                depth += 1;
                i += 1;
                if depth > room {
                    return fault(i, "less deeply nested arrays and objects");
                }
                let object = c == b'{';
                open = open << 1 | u128::from(object);
                i = skip_ws(b, i);
                // `c + 2` is the closing bracket of either kind.
                if b.get(i) != Some(&(c + 2)) {
                    if object {
                        i = skip_key(b, i)?;
                    }
                    continue;
                }
                depth -= 1;
                open >>= 1;
                i += 1;
            }
            Some(b't') => i = skip_word(b, i, "true")?,
            Some(b'f') => i = skip_word(b, i, "false")?,
            Some(b'n') => i = skip_word(b, i, "null")?,
            Some(b'-' | b'0'..=b'9') => i = skip_number(b, i)?,
            _ => return fault(i, "a value"),
        }
        // A value ended at `i`: close what ends here, or go on to the next.
        loop {
            if depth == 0 {
                return Ok(i);
            }
            i = skip_ws(b, i);
            let object = open & 1 == 1;
            match b.get(i) {
                Some(b',') => {
                    i = skip_ws(b, i + 1);
                    if object {
                        i = skip_key(b, i)?;
                    }
                    break;
                }
                Some(b'}') if object => {}
                Some(b']') if !object => {}
                _ => return fault(i, if object { "',' or '}'" } else { "',' or ']'" }),
            }
            depth -= 1;
            open >>= 1;
            i += 1;
        }
    }
}

#[inline]
pub(crate) fn skip_ws(b: &[u8], mut i: usize) -> usize {
    while b.get(i).is_some_and(|&c| is_ws(c)) {
        i += 1;
    }
    i
}

/// A key, its colon and the blanks after it: where the value starts.
fn skip_key(b: &[u8], i: usize) -> Result<usize> {
    if b.get(i) != Some(&b'"') {
        return fault(i, "a string");
    }
    let i = skip_ws(b, skip_string(b, i + 1)?.0);
    if b.get(i) != Some(&b':') {
        return fault(i, "':'");
    }
    Ok(skip_ws(b, i + 1))
}

/// The end of a string whose opening quote is just before `i` (just past
/// its closing quote), and whether it has escapes.
pub(crate) fn skip_string(b: &[u8], mut i: usize) -> Result<(usize, bool)> {
    let mut escaped = false;
    loop {
        let Some(&c) = b.get(i) else {
            return fault(i, "the end of the string");
        };
        i += 1;
        if !ENDS_RUN[usize::from(c)] {
            continue;
        }
        match c {
            b'"' => return Ok((i, escaped)),
            b'\\' => {
                escaped = true;
                match b.get(i) {
                    Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => i += 1,
                    Some(b'u') => {
                        match b.get(i + 1..i + 5) {
                            Some(hex) if hex.iter().all(u8::is_ascii_hexdigit) => {}
                            _ => return fault(i, "four hex digits after \\u"),
                        }
                        i += 5;
                    }
                    _ => return fault(i, "an escape character"),
                }
            }
            _ => return fault(i - 1, "no control character in a string"),
        }
    }
}

/// Reads the string whose opening quote is just before `i` in `text`,
/// unescaped, into the start of `out`, checking it as it goes: one pass
/// for a string that is about to be read as JSON itself (a record body).
/// `out` is first grown to `room` bytes (never shrunk: the bytes are
/// written by index, not pushed one by one). Where the string ends (just
/// past its closing quote) and its unescaped length; `None` at a fault or
/// when it does not fit in `room`.
pub(crate) fn unescape_into(
    text: &str,
    mut i: usize,
    out: &mut Vec<u8>,
    room: usize,
) -> Option<(usize, usize)> {
    let b = text.as_bytes();
    if out.len() < room {
        out.resize(room, 0);
    }
    let mut n = 0;
    loop {
        let c = *b.get(i)?;
        i += 1;
        if !ENDS_RUN[usize::from(c)] {
            *out.get_mut(n)? = c;
            n += 1;
            continue;
        }
        match c {
            b'"' => return Some((i, n)),
            b'\\' => match *b.get(i)? {
                // `\"`, `\\`, `\/`: the byte after the backslash, the usual
                // escapes of a record body (JSON inside a string).
                e @ (b'"' | b'\\' | b'/') => {
                    *out.get_mut(n)? = e;
                    n += 1;
                    i += 1;
                }
                _ => {
                    let (c, next) = unescape_one(b, i - 1)?;
                    i = next;
                    for &x in c.encode_utf8(&mut [0; 4]).as_bytes() {
                        *out.get_mut(n)? = x;
                        n += 1;
                    }
                }
            },
            _ => return None,
        }
    }
}

/// The character the escape at `i` (a backslash) stands for, and where
/// the escape ends; `None` for a faulty one. `\"`, `\\` and `\/` never
/// come here: [`unescape_into`] copies the byte after the backslash as it
/// is. Lone surrogates become U+FFFD, as a decoder of UTF-16 would make
/// them; a high one followed by a low one is one character.
fn unescape_one(b: &[u8], i: usize) -> Option<(char, usize)> {
    let c = match *b.get(i + 1)? {
        b'b' => '\u{8}',
        b'f' => '\u{c}',
        b'n' => '\n',
        b'r' => '\r',
        b't' => '\t',
        b'u' => {
            let hi = hex4(b, i + 2)?;
            let after = i + 6;
            let lo = (b.get(after..after + 2) == Some(b"\\u"))
                .then(|| hex4(b, after + 2))
                .flatten()
                .filter(|lo| (0xDC00..0xE000).contains(lo));
            return Some(match lo {
                Some(lo) if (0xD800..0xDC00).contains(&hi) => {
                    let c = 0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00);
                    (char::from_u32(c).unwrap_or('\u{FFFD}'), after + 6)
                }
                _ => (char::from_u32(hi).unwrap_or('\u{FFFD}'), after),
            });
        }
        _ => return None,
    };
    Some((c, i + 2))
}

/// The number the four hex digits at `i` write.
fn hex4(b: &[u8], i: usize) -> Option<u32> {
    b.get(i..i + 4)?
        .iter()
        .try_fold(0, |n, &d| Some(n * 16 + char::from(d).to_digit(16)?))
}

fn skip_word(b: &[u8], i: usize, word: &'static str) -> Result<usize> {
    match b.get(i..) {
        Some(rest) if rest.starts_with(word.as_bytes()) => Ok(i + word.len()),
        _ => fault(i, word),
    }
}

fn skip_digits(b: &[u8], mut i: usize) -> usize {
    while b.get(i).is_some_and(u8::is_ascii_digit) {
        i += 1;
    }
    i
}

/// The end of a number: `-`, then `0` or digits not starting with 0, then
/// maybe a fraction and an exponent, each with at least one digit.
pub(crate) fn skip_number(b: &[u8], mut i: usize) -> Result<usize> {
    if b.get(i) == Some(&b'-') {
        i += 1;
    }
    match b.get(i) {
        Some(b'0') => i += 1,
        Some(b'1'..=b'9') => i = skip_digits(b, i),
        _ => return fault(i, "a digit"),
    }
    if b.get(i) == Some(&b'.') {
        i += 1;
        let end = skip_digits(b, i);
        if end == i {
            return fault(i, "a digit after the decimal point");
        }
        i = end;
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(b.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        let end = skip_digits(b, i);
        if end == i {
            return fault(i, "a digit in the exponent");
        }
        i = end;
    }
    Ok(i)
}

/// The JSON text of a string.
pub fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                out.push_str("\\u00");
                out.push(char::from(b"0123456789abcdef"[(c as usize) >> 4]));
                out.push(char::from(b"0123456789abcdef"[(c as usize) & 15]));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Checks that `text` is exactly one JSON value; returns it without the
/// surrounding blanks.
pub fn raw_value(text: &str) -> Result<&str> {
    let mut r = Reader::new(text);
    let v = r.value()?;
    r.end()?;
    Ok(v)
}

/// The entries of a JSON object, values as raw text; `None` when `text` is
/// not one object.
pub fn object_entries(text: &str) -> Option<Vec<(Cow<'_, str>, &str)>> {
    let mut r = Reader::new(text);
    if r.peek() != Some(b'{') {
        return None;
    }
    let mut out = Vec::new();
    r.object(|r, k| {
        out.push((k, r.value()?));
        Ok(())
    })
    .ok()?;
    r.end().ok()?;
    Some(out)
}

/// The JSON text of the field `key` of an object (its first occurrence);
/// `None` when the text is not a well-formed object or has no such key.
/// The typed readers below interpret it.
pub fn field<'a>(text: &'a str, key: &str) -> Option<&'a str> {
    let mut r = Reader::new(text);
    if r.peek() != Some(b'{') {
        return None;
    }
    let mut found = None;
    r.object(|r, k| {
        let v = r.value()?;
        if found.is_none() && k == key {
            found = Some(v);
        }
        Ok(())
    })
    .ok()?;
    found
}

/// Whether the field `key` of a JSON object is `true`.
pub fn true_field(text: &str, key: &str) -> bool {
    field(text, key) == Some("true")
}

/// The field `key` of a JSON object, if it is a non-negative integer.
pub fn u64_field(text: &str, key: &str) -> Option<u64> {
    Reader::new(field(text, key)?).u64().ok()
}

/// The field `key` of a JSON object, unescaped, if it is a string.
pub fn string_field<'a>(text: &'a str, key: &str) -> Option<Cow<'a, str>> {
    let v = field(text, key)?;
    if !v.starts_with('"') {
        return None;
    }
    Reader::new(v).string().ok()
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn true_field_is_true_only_for_the_literal() {
        assert!(true_field(
            r#"{"ok":true,"pendingVersion":true}"#,
            "pendingVersion"
        ));
        for text in [
            r#"{"pendingVersion":false}"#,
            r#"{"pendingVersion":"true"}"#,
            r#"{"ok":true}"#,
            "true",
            r#"{"pendingVersion":true"#,
        ] {
            assert!(!true_field(text, "pendingVersion"), "{text}");
        }
    }

    #[test]
    fn u64_field_reads_whole_non_negative_numbers_only() {
        assert_eq!(u64_field(r#"{"ok":true,"seq":7}"#, "seq"), Some(7));
        assert_eq!(u64_field(r#"{"seq":7,"seq":8}"#, "seq"), Some(7));
        for text in [
            r#"{"ok":true}"#,
            r#"{"seq":-1}"#,
            r#"{"seq":1.5}"#,
            r#"{"seq":"7"}"#,
            "[7]",
            "{",
        ] {
            assert_eq!(u64_field(text, "seq"), None, "{text}");
        }
    }

    #[test]
    fn values_and_their_text() {
        for ok in [
            "0",
            "-0",
            "12.5e-3",
            "1E+2",
            "true",
            "false",
            "null",
            r#""a\"b\\c\/\b\f\n\r\t\u00e9""#,
            "[]",
            "{}",
            r#"{"a":[1,{"b":null}],"c":"d"}"#,
            " [ 1 , 2 ] ",
        ] {
            assert_eq!(raw_value(ok).unwrap(), ok.trim(), "{ok}");
        }
        for bad in [
            "",
            "01",
            "1.",
            ".5",
            "-",
            "1e",
            "tru",
            "[1,]",
            "{\"a\"}",
            "{\"a\":1,}",
            "\"\\x\"",
            "\"\\u12\"",
            "\"a",
            "[1 2]",
            "{1:2}",
            "\"\u{1}\"",
            "1 2",
            "nul",
        ] {
            assert!(raw_value(bad).is_err(), "{bad:?} should fail");
        }
    }

    #[test]
    fn strings_borrow_unless_escaped() {
        let mut r = Reader::new(r#""plain""#);
        assert!(matches!(r.string().unwrap(), Cow::Borrowed("plain")));
        let mut r = Reader::new(r#""a\nb\u00e9\ud83d\ude00\ud800x""#);
        assert_eq!(r.string().unwrap(), "a\nbé😀\u{FFFD}x");
    }

    #[test]
    fn integers() {
        assert_eq!(Reader::new(" 42 ").u64().unwrap(), 42);
        assert!(Reader::new("-1").u64().is_err());
        assert!(Reader::new("1.5").u64().is_err());
        assert!(Reader::new("99999999999999999999").u64().is_err());
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_crash() {
        let deep = "[".repeat(100_000);
        assert!(raw_value(&deep).is_err());
        let ok = format!("{}{}", "[".repeat(MAX_DEPTH), "]".repeat(MAX_DEPTH));
        assert!(raw_value(&ok).is_ok());
    }

    #[test]
    fn fields_and_entries() {
        let t = r#"{"type":"x","n":1,"type":"second","s":"\"q\""}"#;
        assert_eq!(string_field(t, "type").as_deref(), Some("x"));
        assert_eq!(string_field(t, "s").as_deref(), Some("\"q\""));
        assert_eq!(string_field(t, "n"), None);
        assert_eq!(string_field("[1]", "n"), None);
        let e = object_entries(r#"{"a":1,"b":{"c":[2]}}"#).unwrap();
        assert_eq!(
            e,
            vec![
                (Cow::Borrowed("a"), "1"),
                (Cow::Borrowed("b"), r#"{"c":[2]}"#)
            ]
        );
        assert_eq!(object_entries("[]"), None);
    }

    #[test]
    fn quoting_round_trips() {
        let s = "a\"b\\c\n\u{1}é😀";
        let q = quote(s);
        assert_eq!(serde_json::from_str::<String>(&q).unwrap(), s);
        assert_eq!(Reader::new(&q).string().unwrap(), s);
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 512, .. ProptestConfig::default() })]

        /// Agrees with serde_json on what is valid JSON, for arbitrary text.
        #[test]
        fn agrees_with_serde_json_on_arbitrary_text(s in "[\\[\\]{}\",:0-9.eE+\\-a-z\\\\ ]{0,40}") {
            let ours = raw_value(&s).is_ok();
            // serde_json refuses numbers too large for an f64 (JSON.parse,
            // and so the grammar we check, takes them), and stops there
            // without looking at the rest ("1E400E"): no oracle then.
            let theirs = serde_json::from_str::<serde_json::Value>(&s);
            if let Err(e) = &theirs {
                prop_assume!(!e.to_string().contains("out of range"));
            }
            prop_assert_eq!(ours, theirs.is_ok(), "{:?}", s);
        }

        /// Any JSON serde_json writes, we read back to the same value.
        #[test]
        fn reads_what_serde_json_writes(v in arb_json()) {
            let text = v.to_string();
            prop_assert_eq!(raw_value(&text).unwrap(), text.as_str());
            if let serde_json::Value::String(s) = &v {
                prop_assert_eq!(Reader::new(&text).string().unwrap(), s.as_str());
            }
        }

        /// Arbitrary strings survive a quote and an unescape.
        #[test]
        fn strings_round_trip(s in any::<String>()) {
            let q = quote(&s);
            prop_assert_eq!(Reader::new(&q).string().unwrap(), s);
        }
    }

    fn arb_json() -> impl Strategy<Value = serde_json::Value> {
        let leaf = prop_oneof![
            Just(serde_json::Value::Null),
            any::<bool>().prop_map(serde_json::Value::from),
            any::<i64>().prop_map(serde_json::Value::from),
            any::<f64>()
                .prop_filter("finite", |f| f.is_finite())
                .prop_map(serde_json::Value::from),
            any::<String>().prop_map(serde_json::Value::from),
        ];
        leaf.prop_recursive(4, 32, 6, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..6).prop_map(serde_json::Value::from),
                proptest::collection::btree_map(any::<String>(), inner, 0..6)
                    .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
            ]
        })
    }
}
