//! The feed document: a compact JWS that jwtd signs with a key of its JWKS, checked as
//! strictly as an access token, with its own `typ` so that neither can pass for the other.

use std::collections::{HashMap, HashSet};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Map, Value};

use crate::Error;
use crate::algorithm::Algorithm;
use crate::header::Header;
use crate::jwks::{JwksCache, MAX_KID_LEN};
use crate::member::Member;
use crate::strict_json::{StrictJsonError, parse_object};

/// The media type jwtd gives the feed, compared exactly: an access token (`at+jwt`) or an
/// ID token signed by the same key can never be taken for a feed.
pub const FEED_TYPE: &str = "jwtd-revocations+jwt";

/// What a verified feed says.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RevocationList {
    iat: i64,
    window: i64,
    sids: HashSet<String>,
    subjects: HashMap<String, i64>,
}

impl RevocationList {
    /// When jwtd built this feed (Unix seconds).
    pub fn issued_at(&self) -> i64 {
        self.iat
    }

    /// How far back the feed reaches, in seconds: every family revoked since
    /// `issued_at - window` is listed. jwtd sets it to its access-token lifetime plus leeway.
    pub fn window(&self) -> i64 {
        self.window
    }

    /// Whether the refresh family `sid` is revoked.
    pub fn is_family_revoked(&self, sid: &str) -> bool {
        self.sids.contains(sid)
    }

    /// The time before which every token of `sub` (by `iat`) is revoked, if any.
    pub fn subject_not_before(&self, sub: &str) -> Option<i64> {
        self.subjects.get(sub).copied()
    }

    /// Listed families and subjects.
    pub fn len(&self) -> usize {
        self.sids.len() + self.subjects.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether a token with these claims is revoked by this list.
    pub(crate) fn revokes(&self, sid: Option<&str>, sub: &str, iat: i64) -> bool {
        sid.is_some_and(|sid| self.sids.contains(sid))
            || self.subjects.get(sub).is_some_and(|&not_before| iat < not_before)
    }
}

/// What a feed must satisfy beyond its signature.
pub(super) struct FeedPolicy<'a> {
    pub issuer: &'a str,
    pub now: i64,
    pub leeway_secs: i64,
}

/// Verifies `body` with `keys` and reads it. The signing key is found by `kid` (refetching
/// the JWKS once per cool-down when it is new); the key's JWK decides the algorithm.
pub(super) async fn verify_feed(
    body: &[u8],
    keys: &JwksCache,
    policy: &FeedPolicy<'_>,
) -> Result<RevocationList, Error> {
    let invalid = Error::RevocationsInvalid;
    let text = std::str::from_utf8(body).map_err(|_| invalid("not a compact JWS"))?.trim_ascii();
    let mut segments = text.split('.');
    let (Some(header_b64), Some(payload_b64), Some(signature_b64), None) =
        (segments.next(), segments.next(), segments.next(), segments.next())
    else {
        return Err(invalid("not a compact JWS"));
    };
    let decode = |segment: &str| URL_SAFE_NO_PAD.decode(segment).map_err(|_| invalid("not a compact JWS"));
    let header_bytes = decode(header_b64)?;
    let (alg, kid) = check_header(&header_bytes, keys.algorithms())?;
    let payload = decode(payload_b64)?;
    let signature = decode(signature_b64)?;

    let key_set = keys.key_set_with(&kid).await?;
    let key = key_set.find(&kid, alg).map_err(|e| match e {
        Error::UnknownKey => invalid("signed by an unknown key"),
        _ => invalid("the signing key does not allow the algorithm"),
    })?;
    let signing_input =
        text.get(..header_b64.len() + 1 + payload_b64.len()).ok_or(invalid("not a compact JWS"))?;
    key.verify_signature(signing_input.as_bytes(), &signature).map_err(|_| invalid("bad signature"))?;
    read_payload(&payload, policy)
}

/// `typ` exactly the feed's, no `crit`, an allowed `alg`, a usable `kid`.
fn check_header(bytes: &[u8], allowed: &[Algorithm]) -> Result<(Algorithm, String), Error> {
    let invalid = Error::RevocationsInvalid;
    let header = Header::parse(bytes).map_err(|e| match e {
        StrictJsonError::DuplicateMember => invalid("a header name appears twice"),
        StrictJsonError::Invalid => invalid("header is not a JSON object"),
    })?;
    if header.typ.as_ref().and_then(Member::as_str) != Some(FEED_TYPE) {
        return Err(invalid("wrong typ"));
    }
    if header.crit {
        return Err(invalid("critical header parameters"));
    }
    let alg = header
        .alg
        .as_ref()
        .and_then(Member::as_str)
        .and_then(Algorithm::from_name)
        .filter(|alg| allowed.contains(alg))
        .ok_or(invalid("algorithm not allowed"))?;
    match header.kid.as_ref().and_then(Member::as_str) {
        Some(kid) if !kid.is_empty() && kid.len() <= MAX_KID_LEN => Ok((alg, kid.to_owned())),
        _ => Err(invalid("no usable key id")),
    }
}

fn read_payload(payload: &[u8], policy: &FeedPolicy<'_>) -> Result<RevocationList, Error> {
    let invalid = Error::RevocationsInvalid;
    let mut map = parse_object(payload).map_err(|e| match e {
        StrictJsonError::DuplicateMember => invalid("a member name appears twice"),
        StrictJsonError::Invalid => invalid("payload is not a JSON object"),
    })?;
    if map.get("iss").and_then(Value::as_str) != Some(policy.issuer) {
        return Err(invalid("wrong issuer"));
    }
    let iat = seconds(&map, "iat").ok_or(invalid("iat"))?;
    if iat > policy.now.saturating_add(policy.leeway_secs) {
        return Err(invalid("issued in the future"));
    }
    let window = seconds(&map, "window").ok_or(invalid("window"))?;
    let Some(Value::Array(listed)) = map.remove("sids") else { return Err(invalid("sids")) };
    let sids = listed
        .into_iter()
        .map(|sid| match sid {
            Value::String(sid) => Ok(sid),
            _ => Err(invalid("sids")),
        })
        .collect::<Result<_, _>>()?;
    let Some(Value::Object(listed)) = map.remove("subjects") else { return Err(invalid("subjects")) };
    let subjects = subjects(listed).ok_or(invalid("subjects"))?;
    Ok(RevocationList { iat, window, sids, subjects })
}

/// A non-negative integer number of seconds.
fn seconds(map: &Map<String, Value>, name: &str) -> Option<i64> {
    map.get(name).and_then(Value::as_i64).filter(|&s| s >= 0)
}

fn subjects(listed: Map<String, Value>) -> Option<HashMap<String, i64>> {
    listed.into_iter().map(|(sub, at)| Some((sub, at.as_i64().filter(|&s| s >= 0)?))).collect()
}
