//! The JOSE header of a compact JWS, read in one pass without building a map.
//!
//! Only `alg`, `typ`, `kid` and the presence of `crit` matter to the verifier; every other
//! parameter (`jku`, `x5u`, `jwk`, `x5c`, anything new) is checked for well-formedness and
//! repeated names, then dropped unread, so it can never point the verifier anywhere. The one
//! exception is a DPoP proof (RFC 9449 §4.2), whose `jwk` *is* the key it is checked with: only
//! [`Header::parse_keeping_jwk`] keeps it.

use std::cell::Cell;
use std::fmt;

use serde::de::{self, MapAccess, Visitor};

use crate::member::{Member, MemberSeed};
use serde_json::Value;

use crate::strict_json::{
    NameSeed, SeenNames, StrictIgnore, StrictJsonError, StrictSeed, duplicate_error, parse_strict,
};

/// The header parameters the verifier reads. `None` means absent.
#[derive(Debug, Default)]
pub(crate) struct Header<'de> {
    pub alg: Option<Member<'de>>,
    pub typ: Option<Member<'de>>,
    pub kid: Option<Member<'de>>,
    pub crit: bool,
    /// Kept by [`Header::parse_keeping_jwk`] only; `None` from [`Header::parse`].
    pub jwk: Option<Value>,
}

impl<'de> Header<'de> {
    /// Parses a decoded header segment: one JSON object, no name twice at any depth.
    pub fn parse(bytes: &'de [u8]) -> Result<Self, StrictJsonError> {
        Self::parse_with(bytes, false)
    }

    /// As [`Self::parse`], keeping the `jwk` parameter's value (strictly parsed) as well.
    pub fn parse_keeping_jwk(bytes: &'de [u8]) -> Result<Self, StrictJsonError> {
        Self::parse_with(bytes, true)
    }

    fn parse_with(bytes: &'de [u8], keep_jwk: bool) -> Result<Self, StrictJsonError> {
        parse_strict(bytes, |deserializer, duplicate| {
            de::Deserializer::deserialize_map(deserializer, HeaderVisitor { duplicate, keep_jwk })
        })
    }
}

struct HeaderVisitor<'a> {
    duplicate: &'a Cell<bool>,
    keep_jwk: bool,
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
                "jwk" if self.keep_jwk => {
                    if header.jwk.is_some() {
                        return Err(duplicate_error(duplicate));
                    }
                    header.jwk = Some(access.next_value_seed(StrictSeed { duplicate })?);
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

/// Whether a `typ` value names the media type `application/<short>`: with or without the
/// `application/` prefix, compared case-insensitively like any media type (RFC 7515 §4.1.9).
pub(crate) fn is_media_type(typ: &str, short: &str) -> bool {
    let prefix = "application/";
    let unprefixed = match typ.get(..prefix.len()) {
        Some(head) if head.eq_ignore_ascii_case(prefix) => typ.get(prefix.len()..).unwrap_or_default(),
        _ => typ,
    };
    unprefixed.eq_ignore_ascii_case(short)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn media_types_compare_without_case_and_with_or_without_their_prefix() {
        for typ in ["dpop+jwt", "DPoP+JWT", "application/dpop+jwt", "Application/DPOP+jwt"] {
            assert!(is_media_type(typ, "dpop+jwt"), "{typ}");
        }
        for typ in ["jwt", "dpop+jwt ", "text/dpop+jwt", "application/", "", "application/jwt"] {
            assert!(!is_media_type(typ, "dpop+jwt"), "{typ}");
        }
    }

    #[test]
    fn reads_the_three_parameters_and_notes_crit() {
        let header =
            Header::parse(br#"{"alg":"RS256","typ":"at+jwt","kid":"k1","jku":"x","crit":[]}"#).unwrap();
        assert_eq!(header.alg.as_ref().and_then(Member::as_str), Some("RS256"));
        assert_eq!(header.typ.as_ref().and_then(Member::as_str), Some("at+jwt"));
        assert_eq!(header.kid.as_ref().and_then(Member::as_str), Some("k1"));
        assert!(header.crit);
        assert_eq!(header.jwk, None, "an access token's jwk is never read");
    }

    #[test]
    fn a_proof_header_keeps_its_jwk_and_refuses_it_twice() {
        let json = br#"{"typ":"dpop+jwt","alg":"ES256","jwk":{"kty":"EC","crv":"P-256","x":"a","y":"b"}}"#;
        let header = Header::parse_keeping_jwk(json).unwrap();
        assert_eq!(header.jwk.as_ref().and_then(|jwk| jwk["kty"].as_str()), Some("EC"));
        for json in [r#"{"jwk":{},"jwk":{}}"#, r#"{"jwk":{},"\u006awk":{}}"#, r#"{"jwk":{"x":1,"x":2}}"#] {
            let error = Header::parse_keeping_jwk(json.as_bytes()).unwrap_err();
            assert_eq!(error, StrictJsonError::DuplicateMember, "{json}");
        }
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
