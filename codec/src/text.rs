//! Building strings without `core::fmt`. The formatting machinery costs the
//! module several kilobytes, and the transport only ever joins pieces of
//! text and writes whole numbers.

use crate::prelude::*;

/// Joins string pieces (anything that is `AsRef<str>`) into one `String`.
#[macro_export]
#[doc(hidden)]
macro_rules! cat {
    ($($piece:expr),+ $(,)?) => {
        [$(::core::convert::AsRef::<str>::as_ref(&$piece)),+].concat()
    };
}

/// `n` in decimal.
pub fn decimal(mut n: u64) -> String {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    digits[i..].iter().map(|&d| d as char).collect()
}

/// Appends `bytes` decoded as UTF-8 to `out`, each invalid sequence (its
/// longest invalid part, as the WHATWG decoder and `String::from_utf8_lossy`
/// take it) replaced by U+FFFD. Smaller than the standard library's, which
/// brings an iterator of its own into the module.
pub fn push_lossy(out: &mut String, mut bytes: &[u8]) {
    loop {
        match core::str::from_utf8(bytes) {
            Ok(s) => return out.push_str(s),
            Err(e) => {
                let (valid, rest) = bytes.split_at(e.valid_up_to());
                out.push_str(core::str::from_utf8(valid).unwrap_or_default());
                out.push('\u{FFFD}');
                // No length: the input ends in the middle of a character.
                bytes = rest
                    .get(e.error_len().unwrap_or(rest.len())..)
                    .unwrap_or_default();
            }
        }
    }
}

/// `bytes` decoded as UTF-8, invalid sequences replaced (see [`push_lossy`]).
pub fn lossy(bytes: &[u8]) -> String {
    let mut out = String::new();
    push_lossy(&mut out, bytes);
    out
}

/// `s` as a whole number in plain decimal digits (no sign, space or
/// exponent); `None` for anything else, or for a number beyond `u64`.
pub fn whole_number(s: &str) -> Option<u64> {
    if s.is_empty() {
        return None;
    }
    let mut n: u64 = 0;
    for b in s.bytes() {
        let digit = b.wrapping_sub(b'0');
        if digit > 9 {
            return None;
        }
        n = n.checked_mul(10)?.checked_add(u64::from(digit))?;
    }
    Some(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimal_matches_the_standard_formatting() {
        for n in [0, 1, 9, 10, 99, 100, 12_345, u64::from(u32::MAX), u64::MAX] {
            assert_eq!(decimal(n), n.to_string());
        }
    }

    #[test]
    fn lossy_decodes_like_the_standard_library() {
        let cases: [&[u8]; 10] = [
            b"",
            b"plain",
            "caf\u{e9} \u{1F600}".as_bytes(),
            b"a\xffb",
            b"\xf0\x9f\x98",
            b"x\xf0\x9f\x98",
            b"\xe2\x82x\xe2",
            b"\xc0\x80\xed\xa0\x80",
            b"\xf4\x90\x80\x80z",
            b"\x80\x80\xbf",
        ];
        for bytes in cases {
            assert_eq!(lossy(bytes), String::from_utf8_lossy(bytes), "{bytes:?}");
        }
        let mut out = String::from("<");
        push_lossy(&mut out, b"\xff>");
        assert_eq!(out, "<\u{FFFD}>");
    }

    #[test]
    fn whole_number_takes_plain_digits_only() {
        for n in [0, 7, 10, 12_345, u64::MAX] {
            assert_eq!(whole_number(&decimal(n)), Some(n));
        }
        assert_eq!(whole_number("007"), Some(7));
        for bad in [
            "",
            "+1",
            "-1",
            " 1",
            "1 ",
            "1e3",
            "0x10",
            "18446744073709551616",
            "１",
        ] {
            assert_eq!(whole_number(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn cat_joins_borrowed_and_owned_pieces() {
        let owned = String::from("b");
        assert_eq!(cat!("a", owned, &owned, decimal(7)), "abb7");
    }
}
