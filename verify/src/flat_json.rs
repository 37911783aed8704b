//! A fast reader for the one shape every jwtd header and claims set has: a flat JSON object
//! whose values are plain strings, small non-negative integers, or arrays of plain strings.
//!
//! It exists for speed (serde_json's general machinery costs as much again as the rest of a
//! verification) and is built so it cannot change what is accepted: it takes only a subset
//! of JSON that serde_json reads the same way, and gives up (`None`) at the first byte
//! outside it: an escape, a control character, invalid UTF-8, a nested object, `true`,
//! `null`, a sign, a fraction, an exponent, a number of 19 digits or more, anything after the
//! object. It also gives up when its caller refuses a member (a repeated name). The caller
//! then parses the same bytes with the strict serde_json path, which decides: so every
//! malformed or hostile document gets exactly the answer it got before this reader existed.

use std::borrow::Cow;

use crate::member::Member;

/// Longest integer taken here: 18 digits always fit in an `i64`.
const MAX_DIGITS: usize = 18;

/// Reads `bytes` as a flat object, handing each member to `member`, which returns false to
/// give up. `None` when the reader gave up; the caller must then discard what it was handed.
pub(crate) fn read<'de>(
    bytes: &'de [u8],
    mut member: impl FnMut(&'de str, Member<'de>) -> bool,
) -> Option<()> {
    // UTF-8 checked once for the whole document (serde_json would refuse it anyway).
    let text = std::str::from_utf8(bytes).ok()?;
    let mut r = Reader { text, bytes, at: 0 };
    r.expect(b'{')?;
    if r.peek_after_ws()? == b'}' {
        r.at += 1;
    } else {
        loop {
            r.skip_ws();
            let name = r.string()?;
            r.expect(b':')?;
            let value = r.value()?;
            if !member(name, value) {
                return None;
            }
            match r.next_after_ws()? {
                b',' => continue,
                b'}' => break,
                _ => return None,
            }
        }
    }
    r.skip_ws();
    (r.at == bytes.len()).then_some(())
}

struct Reader<'de> {
    text: &'de str,
    bytes: &'de [u8],
    at: usize,
}

impl<'de> Reader<'de> {
    fn skip_ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.bytes.get(self.at) {
            self.at += 1;
        }
    }

    fn peek_after_ws(&mut self) -> Option<u8> {
        self.skip_ws();
        self.bytes.get(self.at).copied()
    }

    fn next_after_ws(&mut self) -> Option<u8> {
        let byte = self.peek_after_ws()?;
        self.at += 1;
        Some(byte)
    }

    fn expect(&mut self, byte: u8) -> Option<()> {
        (self.next_after_ws()? == byte).then_some(())
    }

    /// A string without escapes or control characters, at the cursor. Strings here are a
    /// few dozen bytes: a plain loop beats setting up a vectorised search for each.
    fn string(&mut self) -> Option<&'de str> {
        if self.bytes.get(self.at) != Some(&b'"') {
            return None;
        }
        let start = self.at + 1;
        let len = self.bytes.get(start..)?.iter().position(|&b| b == b'"' || b == b'\\' || b < 0x20)?;
        if self.bytes.get(start + len) != Some(&b'"') {
            return None;
        }
        self.at = start + len + 1;
        // Both ends are ASCII quotes, so this never cuts a character.
        self.text.get(start..start + len)
    }

    fn value(&mut self) -> Option<Member<'de>> {
        match self.peek_after_ws()? {
            b'"' => Some(Member::Str(Cow::Borrowed(self.string()?))),
            b'0'..=b'9' => self.integer().map(Member::Int),
            b'[' => {
                self.at += 1;
                let mut strings = Vec::new();
                if self.peek_after_ws()? == b']' {
                    self.at += 1;
                    return Some(Member::Strings(strings));
                }
                loop {
                    self.skip_ws();
                    strings.push(Cow::Borrowed(self.string()?));
                    match self.next_after_ws()? {
                        b',' => continue,
                        b']' => return Some(Member::Strings(strings)),
                        _ => return None,
                    }
                }
            }
            _ => None,
        }
    }

    /// `0` or a digit string without a leading zero, not followed by more of a number.
    fn integer(&mut self) -> Option<i64> {
        let rest = self.bytes.get(self.at..)?;
        let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
        let leading_zero = digits > 1 && rest.first() == Some(&b'0');
        if digits > MAX_DIGITS || leading_zero || matches!(rest.get(digits), Some(b'.' | b'e' | b'E')) {
            return None;
        }
        let value = rest.get(..digits)?.iter().fold(0_i64, |n, &d| n * 10 + i64::from(d - b'0'));
        self.at += digits;
        Some(value)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::member::MemberSeed;
    use crate::strict_json::{NameSeed, parse_strict};
    use serde::de::{self, MapAccess, Visitor};

    fn fast(json: &str) -> Option<Vec<(String, Member<'_>)>> {
        let mut all = Vec::new();
        read(json.as_bytes(), |name, value| {
            all.push((name.to_owned(), value));
            true
        })?;
        Some(all)
    }

    /// The same members through serde_json, as the strict path reads them.
    fn slow(json: &str) -> Option<Vec<(String, Member<'_>)>> {
        struct All<'a>(&'a std::cell::Cell<bool>);
        impl<'de> Visitor<'de> for All<'_> {
            type Value = Vec<(String, Member<'de>)>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("an object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Self::Value, A::Error> {
                let mut all = Vec::new();
                while let Some(name) = access.next_key_seed(NameSeed)? {
                    all.push((name.into_owned(), access.next_value_seed(MemberSeed { duplicate: self.0 })?));
                }
                Ok(all)
            }
        }
        parse_strict(json.as_bytes(), |d, duplicate| de::Deserializer::deserialize_map(d, All(duplicate)))
            .ok()
    }

    #[test]
    fn whatever_the_fast_reader_takes_serde_json_reads_the_same() {
        let taken = [
            r#"{"iss":"https://a","iat":1800000000,"aud":["x","y"],"e":[],"z":0}"#,
            " \t\r\n{ \"a\" : \"b\" , \"c\" :\n[ \"d\" ] }\n ",
            "{}",
            r#"{"a":"é ✓ 𝄞"}"#,
            r#"{"a":999999999999999999}"#,
            r#"{"a":"b","a":"c"}"#,
        ];
        let refused = [
            r#"{"a":"\u0041"}"#,
            r#"{"a":"x\"y"}"#,
            "{\"a\":\"\x01\"}",
            r#"{"a":-1}"#,
            r#"{"a":01}"#,
            r#"{"a":1.0}"#,
            r#"{"a":1e3}"#,
            r#"{"a":1E3}"#,
            r#"{"a":9999999999999999999}"#,
            r#"{"a":null}"#,
            r#"{"a":true}"#,
            r#"{"a":{"b":1}}"#,
            r#"{"a":["b",1]}"#,
            r#"{"a":["b",]}"#,
            r#"{"a":1,}"#,
            r#"{"a":1} x"#,
            r#"{"a" 1}"#,
            r#"["a"]"#,
            r#"{"a":1"#,
            r#"{"a":"b"#,
            "",
        ];
        for json in taken {
            assert!(fast(json).is_some(), "{json:?}");
            assert_eq!(fast(json), slow(json), "{json:?}");
        }
        for json in refused {
            assert_eq!(fast(json), None, "{json:?} must go to the strict path");
        }
    }

    #[test]
    fn invalid_utf8_and_refused_members_give_up() {
        assert!(read(b"{\"a\":\"\xff\"}", |_, _| true).is_none());
        assert!(read(br#"{"a":1,"b":2}"#, |name, _| name != "b").is_none());
    }
}
