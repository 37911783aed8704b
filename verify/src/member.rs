//! A JSON member's value as the checks see it, read straight from the token's bytes.
//!
//! The verifier only ever asks of a header parameter or a registered claim "is it a string,
//! an integer, a list of strings?". Building a `serde_json::Value` to answer that costs an
//! allocation per string and a map per object; a [`Member`] borrows strings from the decoded
//! segment instead (copying only strings that hold escapes), and keeps nothing of values it
//! will refuse anyway. Whatever it does not keep is still read through [`StrictIgnore`], so a
//! repeated name deep inside such a value is refused as everywhere else.

use std::borrow::Cow;
use std::cell::Cell;
use std::fmt;

use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};

use crate::strict_json::{NameSeed, SeenNames, StrictIgnore, duplicate_error};

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Member<'de> {
    Str(Cow<'de, str>),
    /// An integer that fits `i64` (negative ones too: the checks say what is allowed).
    Int(i64),
    /// An array whose elements are all strings (possibly none).
    Strings(Vec<Cow<'de, str>>),
    /// Anything else: null, a boolean, a fraction, an integer beyond `i64`, an object, an
    /// array holding a non-string.
    Other,
}

impl<'de> Member<'de> {
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Self::Str(s) => Some(s),
            _ => None,
        }
    }
}

/// Reads one [`Member`]; `duplicate` is the document's repeated-name flag.
#[derive(Clone, Copy)]
pub(crate) struct MemberSeed<'a> {
    pub duplicate: &'a Cell<bool>,
}

impl<'de> DeserializeSeed<'de> for MemberSeed<'_> {
    type Value = Member<'de>;

    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<Member<'de>, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for MemberSeed<'_> {
    type Value = Member<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, _: bool) -> Result<Member<'de>, E> {
        Ok(Member::Other)
    }

    fn visit_i64<E>(self, v: i64) -> Result<Member<'de>, E> {
        Ok(Member::Int(v))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Member<'de>, E> {
        Ok(i64::try_from(v).map_or(Member::Other, Member::Int))
    }

    fn visit_f64<E>(self, _: f64) -> Result<Member<'de>, E> {
        Ok(Member::Other)
    }

    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Member<'de>, E> {
        Ok(Member::Str(Cow::Borrowed(v)))
    }

    fn visit_str<E>(self, v: &str) -> Result<Member<'de>, E> {
        Ok(Member::Str(Cow::Owned(v.to_owned())))
    }

    fn visit_string<E>(self, v: String) -> Result<Member<'de>, E> {
        Ok(Member::Str(Cow::Owned(v)))
    }

    fn visit_unit<E>(self) -> Result<Member<'de>, E> {
        Ok(Member::Other)
    }

    fn visit_none<E>(self) -> Result<Member<'de>, E> {
        Ok(Member::Other)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Member<'de>, A::Error> {
        let mut strings = Vec::new();
        while let Some(item) = seq.next_element_seed(self)? {
            match item {
                Member::Str(s) => strings.push(s),
                _ => {
                    // Refused whatever follows; read the rest only to check it.
                    while seq.next_element_seed(StrictIgnore { duplicate: self.duplicate })?.is_some() {}
                    return Ok(Member::Other);
                }
            }
        }
        Ok(Member::Strings(strings))
    }

    fn visit_map<A: MapAccess<'de>>(self, access: A) -> Result<Member<'de>, A::Error> {
        StrictIgnore { duplicate: self.duplicate }.visit_map(access)?;
        Ok(Member::Other)
    }
}

/// Reads an object's members named in `names` into the matching slots (same index), checks
/// every other member strictly and drops it. A name repeated, in the slots or among the others,
/// is refused. For small fixed shapes such as a DPoP proof's claims.
pub(crate) struct MembersVisitor<'a, 'n, const N: usize> {
    pub duplicate: &'a Cell<bool>,
    pub names: &'n [&'static str; N],
}

impl<'de, const N: usize> Visitor<'de> for MembersVisitor<'_, '_, N> {
    type Value = [Option<Member<'de>>; N];

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Self::Value, A::Error> {
        let duplicate = self.duplicate;
        let mut slots = [const { None }; N];
        let mut others = SeenNames::default();
        while let Some(name) = access.next_key_seed(NameSeed)? {
            match self.names.iter().position(|known| *known == name).and_then(|i| slots.get_mut(i)) {
                Some(slot) => {
                    if slot.is_some() {
                        return Err(duplicate_error(duplicate));
                    }
                    *slot = Some(access.next_value_seed(MemberSeed { duplicate })?);
                }
                None => {
                    if !others.insert(name) {
                        return Err(duplicate_error(duplicate));
                    }
                    access.next_value_seed(StrictIgnore { duplicate })?;
                }
            }
        }
        Ok(slots)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::strict_json::{StrictJsonError, parse_strict};

    fn member(json: &str) -> Result<Member<'_>, StrictJsonError> {
        parse_strict(json.as_bytes(), |d, duplicate| MemberSeed { duplicate }.deserialize(d))
    }

    #[test]
    fn values_are_classified_and_strings_borrowed_unless_escaped() {
        assert!(matches!(member(r#""abc""#).unwrap(), Member::Str(Cow::Borrowed("abc"))));
        assert!(matches!(member(r#""a\u0062c""#).unwrap(), Member::Str(Cow::Owned(s)) if s == "abc"));
        assert_eq!(member("-5").unwrap(), Member::Int(-5));
        assert_eq!(member("18446744073709551615").unwrap(), Member::Other);
        assert_eq!(member("1.5").unwrap(), Member::Other);
        assert_eq!(member("null").unwrap(), Member::Other);
        assert_eq!(member(r#"["a","b"]"#).unwrap(), Member::Strings(vec!["a".into(), "b".into()]));
        assert_eq!(member("[]").unwrap(), Member::Strings(vec![]));
        assert_eq!(member(r#"["a",1,"b"]"#).unwrap(), Member::Other);
        assert_eq!(member(r#"{"a":1}"#).unwrap(), Member::Other);
    }

    #[test]
    fn values_not_kept_are_still_checked_for_repeated_names() {
        assert_eq!(member(r#"{"a":1,"\u0061":2}"#), Err(StrictJsonError::DuplicateMember));
        assert_eq!(member(r#"[1,{"b":[{"c":1,"c":2}]}]"#), Err(StrictJsonError::DuplicateMember));
        assert_eq!(member(r#"["a",{"b":1,"b":2}]"#), Err(StrictJsonError::DuplicateMember));
        assert_eq!(member(r#"["a",1"#), Err(StrictJsonError::Invalid));
    }

    fn members(json: &str) -> Result<[Option<Member<'_>>; 2], StrictJsonError> {
        parse_strict(json.as_bytes(), |d, duplicate| {
            de::Deserializer::deserialize_map(d, MembersVisitor { duplicate, names: &["a", "b"] })
        })
    }

    #[test]
    fn named_members_fill_their_slots_and_no_name_may_repeat() {
        let [a, b] = members(r#"{"x":{"y":[1]},"b":7,"a":"s"}"#).unwrap();
        assert_eq!((a, b), (Some(Member::Str("s".into())), Some(Member::Int(7))));
        assert_eq!(members("{}").unwrap(), [None, None]);
        for json in [r#"{"a":1,"\u0061":2}"#, r#"{"x":1,"x":2}"#, r#"{"x":{"y":1,"y":2}}"#] {
            assert_eq!(members(json), Err(StrictJsonError::DuplicateMember), "{json}");
        }
        assert_eq!(members("[]"), Err(StrictJsonError::Invalid));
    }
}
