//! The JOSE header of a compact JWS, read in one pass without building a map.
//!
//! Only `alg`, `typ`, `kid` and the presence of `crit` matter to the verifier; every other
//! parameter (`jku`, `x5u`, `jwk`, `x5c`, anything new) is checked for well-formedness and
//! repeated names, then dropped unread, so it can never point the verifier anywhere.

use std::cell::Cell;
use std::fmt;

use serde::de::{self, MapAccess, Visitor};

use crate::member::{Member, MemberSeed};
use crate::strict_json::{NameSeed, SeenNames, StrictIgnore, StrictJsonError, duplicate_error, parse_strict};

/// The header parameters the verifier reads. `None` means absent.
#[derive(Debug, Default)]
pub(crate) struct Header<'de> {
    pub alg: Option<Member<'de>>,
    pub typ: Option<Member<'de>>,
    pub kid: Option<Member<'de>>,
    pub crit: bool,
}

impl<'de> Header<'de> {
    /// Parses a decoded header segment: one JSON object, no name twice at any depth.
    pub fn parse(bytes: &'de [u8]) -> Result<Self, StrictJsonError> {
        parse_strict(bytes, |deserializer, duplicate| {
            de::Deserializer::deserialize_map(deserializer, HeaderVisitor { duplicate })
        })
    }
}

struct HeaderVisitor<'a> {
    duplicate: &'a Cell<bool>,
}

impl<'de> Visitor<'de> for HeaderVisitor<'_> {
    type Value = Header<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JOSE header object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Header<'de>, A::Error> {
        let duplicate = self.duplicate;
        let mut header = Header::default();
        let mut others = SeenNames::default();
        while let Some(name) = access.next_key_seed(NameSeed)? {
            let slot = match &*name {
                "alg" => &mut header.alg,
                "typ" => &mut header.typ,
                "kid" => &mut header.kid,
                "crit" => {
                    if std::mem::replace(&mut header.crit, true) {
                        return Err(duplicate_error(duplicate));
                    }
                    access.next_value_seed(StrictIgnore { duplicate })?;
                    continue;
                }
                _ => {
                    if !others.insert(name) {
                        return Err(duplicate_error(duplicate));
                    }
                    access.next_value_seed(StrictIgnore { duplicate })?;
                    continue;
                }
            };
            if slot.is_some() {
                return Err(duplicate_error(duplicate));
            }
            *slot = Some(access.next_value_seed(MemberSeed { duplicate })?);
        }
        Ok(header)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_three_parameters_and_notes_crit() {
        let header =
            Header::parse(br#"{"alg":"RS256","typ":"at+jwt","kid":"k1","jku":"x","crit":[]}"#).unwrap();
        assert_eq!(header.alg.as_ref().and_then(Member::as_str), Some("RS256"));
        assert_eq!(header.typ.as_ref().and_then(Member::as_str), Some("at+jwt"));
        assert_eq!(header.kid.as_ref().and_then(Member::as_str), Some("k1"));
        assert!(header.crit);
    }

    #[test]
    fn repeats_are_refused_however_spelled_and_wherever_they_are() {
        for json in [
            r#"{"alg":"RS256","alg":"none"}"#,
            r#"{"alg":"RS256","\u0061lg":"none"}"#,
            r#"{"crit":[],"crit":[]}"#,
            r#"{"jku":"a","jku":"b"}"#,
            r#"{"x":1,"y":2,"x":3}"#,
            r#"{"jwk":{"n":"a","n":"b"}}"#,
            r#"{"kid":{"a":1,"a":1}}"#,
        ] {
            assert_eq!(
                Header::parse(json.as_bytes()).unwrap_err(),
                StrictJsonError::DuplicateMember,
                "{json}"
            );
        }
        for json in ["[]", "{\"alg\":1} x", "{\"alg\":", ""] {
            assert_eq!(Header::parse(json.as_bytes()).unwrap_err(), StrictJsonError::Invalid, "{json}");
        }
    }
}
