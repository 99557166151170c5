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
