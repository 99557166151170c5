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

    fn err<T>(&self, expected: &'static str) -> Result<T> {
        Err(JsonError {
            offset: self.pos,
            expected,
        })
    }

    #[inline(always)]
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
        match self.bytes().get(self.pos) {
            Some(b'"') => {
                self.read_string(false)?;
            }
            Some(b'{') => self.object(|r, _| r.value().map(drop))?,
            Some(b'[') => self.array(|r| r.value().map(drop))?,
            Some(b't') => self.literal("true")?,
            Some(b'f') => self.literal("false")?,
            Some(b'n') => self.literal("null")?,
            Some(b'-' | b'0'..=b'9') => self.number()?,
            _ => return self.err("a value"),
        }
        Ok(self.span(start, self.pos))
    }

    /// The text from `start` to `end`. Both are positions the reader
    /// stopped at (ASCII bytes), so this never comes out empty by mistake;
    /// it is written without indexing so that no panic path is compiled in.
    #[inline(always)]
    fn span(&self, start: usize, end: usize) -> &'a str {
        self.text.get(start..end).unwrap_or_default()
    }

    fn literal(&mut self, word: &'static str) -> Result<()> {
        let rest = self.bytes().get(self.pos..).unwrap_or_default();
        if rest.starts_with(word.as_bytes()) {
            self.pos += word.len();
            Ok(())
        } else {
            self.err(word)
        }
    }

    fn digits(&mut self) -> usize {
        let start = self.pos;
        while self.bytes().get(self.pos).is_some_and(u8::is_ascii_digit) {
            self.pos += 1;
        }
        self.pos - start
    }

    fn number(&mut self) -> Result<()> {
        if self.bytes().get(self.pos) == Some(&b'-') {
            self.pos += 1;
        }
        match self.bytes().get(self.pos) {
            Some(b'0') => self.pos += 1,
            Some(b'1'..=b'9') => {
                self.digits();
            }
            _ => return self.err("a digit"),
        }
        if self.bytes().get(self.pos) == Some(&b'.') {
            self.pos += 1;
            if self.digits() == 0 {
                return self.err("a digit after the decimal point");
            }
        }
        if matches!(self.bytes().get(self.pos), Some(b'e' | b'E')) {
            self.pos += 1;
            if matches!(self.bytes().get(self.pos), Some(b'+' | b'-')) {
                self.pos += 1;
            }
            if self.digits() == 0 {
                return self.err("a digit in the exponent");
            }
        }
        Ok(())
    }

    /// A non-negative integer that fits in 64 bits.
    pub fn u64(&mut self) -> Result<u64> {
        self.ws();
        let start = self.pos;
        if !matches!(self.bytes().get(self.pos), Some(b'0'..=b'9')) {
            return self.err("a non-negative integer");
        }
        self.number()?;
        // A fraction or an exponent is not an integer.
        match self.text.get(start..self.pos).and_then(whole_number) {
            Some(n) => Ok(n),
            None => {
                self.pos = start;
                self.err("a non-negative integer")
            }
        }
    }

    /// A string, unescaped; borrowed when it has no escapes.
    pub fn string(&mut self) -> Result<Cow<'a, str>> {
        self.ws();
        self.read_string(true)
    }

    /// Reads the string at the cursor in one pass: runs of plain characters
    /// are found with a table lookup per byte; each escape is checked and,
    /// when `keep` is set, the unescaped text is built as it goes. Without
    /// `keep` (skipping a value) nothing is allocated and the text returned
    /// is meaningless.
    fn read_string(&mut self, keep: bool) -> Result<Cow<'a, str>> {
        self.eat(b'"', "a string")?;
        let mut owned: Option<String> = None;
        // Where the text not yet copied to `owned` starts.
        let mut start = self.pos;
        loop {
            let rest = self.bytes().get(self.pos..).unwrap_or_default();
            self.pos += rest
                .iter()
                .position(|&b| ENDS_RUN[usize::from(b)])
                .unwrap_or(rest.len());
            let run = self.span(start, self.pos);
            match self.bytes().get(self.pos) {
                Some(b'"') => {
                    self.pos += 1;
                    return Ok(match owned {
                        None => Cow::Borrowed(run),
                        Some(mut text) => {
                            text.push_str(run);
                            Cow::Owned(text)
                        }
                    });
                }
                Some(b'\\') => {
                    let at = self.pos;
                    // `\"`, `\\` and `\/` stand for the byte after the
                    // backslash: it starts the next run (the common case in a
                    // record body, which is JSON inside a string).
                    let verbatim = matches!(self.bytes().get(at + 1), Some(b'"' | b'\\' | b'/'));
                    let c = if verbatim {
                        self.pos += 2;
                        None
                    } else {
                        Some(self.escape()?)
                    };
                    if keep {
                        // Sized for the rest of a typical body at once.
                        let cap = (self.text.len() - at).min(1024);
                        let text = owned.get_or_insert_with(|| String::with_capacity(cap));
                        text.push_str(run);
                        if let Some(c) = c {
                            text.push(c);
                        }
                    }
                    start = if verbatim { at + 1 } else { self.pos };
                }
                Some(_) => return self.err("no control character in a string"),
                None => return self.err("the end of the string"),
            }
        }
    }

    /// Reads the escape at the cursor (a backslash) and returns the
    /// character it stands for. `\"`, `\\` and `\/` never come here: the
    /// string reader copies the byte after the backslash as it is. Lone
    /// surrogates become U+FFFD, as a decoder of UTF-16 would make them.
    fn escape(&mut self) -> Result<char> {
        self.pos += 1;
        let c = match self.bytes().get(self.pos) {
            Some(b'b') => '\u{8}',
            Some(b'f') => '\u{c}',
            Some(b'n') => '\n',
            Some(b'r') => '\r',
            Some(b't') => '\t',
            Some(b'u') => {
                let hi = self.hex4()?;
                if (0xD800..0xDC00).contains(&hi)
                    && self.bytes().get(self.pos..self.pos + 2) == Some(b"\\u")
                {
                    // A high surrogate: with the low one after it, one
                    // character; otherwise U+FFFD, and the next escape is
                    // read on its own.
                    let at = self.pos;
                    self.pos += 1;
                    let lo = self.hex4()?;
                    if (0xDC00..0xE000).contains(&lo) {
                        let c = 0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00);
                        return Ok(char::from_u32(c).unwrap_or('\u{FFFD}'));
                    }
                    self.pos = at;
                    return Ok('\u{FFFD}');
                }
                return Ok(char::from_u32(hi).unwrap_or('\u{FFFD}'));
            }
            _ => return self.err("an escape character"),
        };
        self.pos += 1;
        Ok(c)
    }

    /// The four hex digits after the `u` at the cursor, which is left after
    /// them.
    fn hex4(&mut self) -> Result<u32> {
        let expected = "four hex digits after \\u";
        let Some(digits) = self.bytes().get(self.pos + 1..self.pos + 5) else {
            return self.err(expected);
        };
        let mut n = 0;
        for &d in digits {
            let v = match d {
                b'0'..=b'9' => d - b'0',
                b'a'..=b'f' => d - b'a' + 10,
                b'A'..=b'F' => d - b'A' + 10,
                _ => return self.err(expected),
            };
            n = n * 16 + u32::from(v);
        }
        self.pos += 5;
        Ok(n)
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
