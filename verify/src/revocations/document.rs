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
    version: u64,
    sids: HashSet<String>,
    subjects: HashMap<String, i64>,
    clients: HashMap<String, i64>,
    kids: HashSet<String>,
}

/// What of a token a revocation can name: its refresh family, subject, client, signing key
/// and issue time.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Revocable<'a> {
    pub sid: Option<&'a str>,
    pub sub: &'a str,
    pub client_id: &'a str,
    pub kid: &'a str,
    pub iat: i64,
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

    /// The document's `ver`: 1 for a feed without one. Clients and keys are read from
    /// version 2 on.
    pub fn version(&self) -> u64 {
        self.version
    }

    /// Whether the refresh family `sid` is revoked.
    pub fn is_family_revoked(&self, sid: &str) -> bool {
        self.sids.contains(sid)
    }

    /// The time before which every token of `sub` (by `iat`) is revoked, if any.
    pub fn subject_not_before(&self, sub: &str) -> Option<i64> {
        self.subjects.get(sub).copied()
    }

    /// The time before which every token issued to the client `client_id` (by `iat`) is
    /// revoked, whatever its `sub`: a deleted client's users' tokens included.
    pub fn client_not_before(&self, client_id: &str) -> Option<i64> {
        self.clients.get(client_id).copied()
    }

    /// Whether the signing key `kid` is revoked (compromised): every token whose header
    /// names it is refused, even while the cached JWKS still holds the key.
    pub fn is_key_revoked(&self, kid: &str) -> bool {
        self.kids.contains(kid)
    }

    /// Listed families, subjects, clients and keys.
    pub fn len(&self) -> usize {
        self.sids.len() + self.subjects.len() + self.clients.len() + self.kids.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether a token with these claims and this signing key is revoked by this list.
    pub(crate) fn revokes(&self, token: &Revocable<'_>) -> bool {
        let before = |not_before: Option<&i64>| not_before.is_some_and(|&not_before| token.iat < not_before);
        token.sid.is_some_and(|sid| self.sids.contains(sid))
            || before(self.subjects.get(token.sub))
            || before(self.clients.get(token.client_id))
            || self.kids.contains(token.kid)
    }
}

/// What a feed must satisfy beyond its signature.
pub(super) struct FeedPolicy<'a> {
    pub issuer: &'a str,
    pub now: i64,
    pub leeway_secs: i64,
    /// The feed in force: a key it revokes cannot sign its successor (else whoever holds
    /// the compromised key could publish a newer feed that no longer lists it).
    pub held: Option<&'a RevocationList>,
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

    if policy.held.is_some_and(|held| held.is_key_revoked(&kid)) {
        return Err(invalid("signed by a revoked key"));
    }
    let key_set = keys.key_set_with(&kid).await?;
    let key = key_set.find(&kid, alg).map_err(|e| match e {
        Error::UnknownKey => invalid("signed by an unknown key"),
        _ => invalid("the signing key does not allow the algorithm"),
    })?;
    let signing_input =
        text.get(..header_b64.len() + 1 + payload_b64.len()).ok_or(invalid("not a compact JWS"))?;
    key.verify_signature(signing_input.as_bytes(), &signature).map_err(|_| invalid("bad signature"))?;
    let list = read_payload(&payload, policy)?;
    if list.is_key_revoked(&kid) {
        return Err(invalid("signed by a revoked key"));
    }
    Ok(list)
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
    let version = match map.get("ver") {
        None => 1,
        Some(ver) => ver.as_u64().filter(|&ver| ver >= 1).ok_or(invalid("ver"))?,
    };
    let sids = map.remove("sids").and_then(strings).ok_or(invalid("sids"))?;
    let subjects = map.remove("subjects").and_then(not_befores).ok_or(invalid("subjects"))?;
    let (clients, kids) = if version == 1 {
        (HashMap::new(), HashSet::new())
    } else {
        (
            since_version_2(map.remove("clients"), version, not_befores).ok_or(invalid("clients"))?,
            since_version_2(map.remove("kids"), version, strings).ok_or(invalid("kids"))?,
        )
    };
    Ok(RevocationList { iat, window, version, sids, subjects, clients, kids })
}

/// A non-negative integer number of seconds.
fn seconds(map: &Map<String, Value>, name: &str) -> Option<i64> {
    map.get(name).and_then(Value::as_i64).filter(|&s| s >= 0)
}

/// A member added in version 2: required there, optional (empty) in later versions, which
/// may replace it, and well-typed whenever present. `None` when refused.
fn since_version_2<T: Default>(
    member: Option<Value>,
    version: u64,
    read: fn(Value) -> Option<T>,
) -> Option<T> {
    match member {
        Some(value) => read(value),
        None => (version > 2).then(T::default),
    }
}

/// An array of strings.
fn strings(value: Value) -> Option<HashSet<String>> {
    let Value::Array(all) = value else { return None };
    all.into_iter()
        .map(|item| match item {
            Value::String(text) => Some(text),
            _ => None,
        })
        .collect()
}

/// An object of names to not-before times (non-negative integers).
fn not_befores(value: Value) -> Option<HashMap<String, i64>> {
    let Value::Object(listed) = value else { return None };
    listed.into_iter().map(|(name, at)| Some((name, at.as_i64().filter(|&s| s >= 0)?))).collect()
}
