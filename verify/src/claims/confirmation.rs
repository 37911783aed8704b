//! The confirmation claim `cnf` (RFC 7800) of a sender-constrained token. jwtd writes it for
//! DPoP-bound tokens only, as `{"jkt": <thumbprint>}` (RFC 9449 §6.1).
//!
//! Read in the claims' strict pass as a JSON value: it is small and only bound tokens carry
//! it. Members other than `jkt` (e.g. `x5t#S256` of mutual TLS) are kept out of the typed
//! claim; a verifier that cannot check them does not pretend to.

use serde_json::Value;

use crate::Error;

/// What a sender-constrained token is bound to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Confirmation {
    /// The RFC 7638 SHA-256 thumbprint (base64url) of the DPoP key the token is bound to.
    pub jkt: Option<String>,
}

impl Confirmation {
    pub(super) fn from_value(value: &Value) -> Result<Self, Error> {
        Ok(Self { jkt: jkt_of(value)?.map(str::to_owned) })
    }
}

/// The `jkt` of a `cnf` value, which must be an object whose `jkt`, when present, is a
/// non-empty string.
pub(super) fn jkt_of(cnf: &Value) -> Result<Option<&str>, Error> {
    let Value::Object(cnf) = cnf else { return Err(Error::InvalidClaim("cnf")) };
    match cnf.get("jkt") {
        None => Ok(None),
        Some(Value::String(jkt)) if !jkt.is_empty() => Ok(Some(jkt)),
        Some(_) => Err(Error::InvalidClaim("cnf")),
    }
}
