//! A JWK Set (RFC 7517 §5) turned into the keys a verifier may use.
//!
//! The loader is strict about the document and lenient about single keys: a document that is
//! not a JWKS, that repeats a `kid`, or that carries *private* key material (a sign the
//! publisher is misconfigured) is refused as a whole, and the cache keeps its last good set.
//! A key this verifier cannot or must not use (encryption keys, `oct` keys, a disallowed
//! algorithm, RSA under 2048 bits) is skipped; a document left with no usable key is refused.

use std::collections::HashMap;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Map, Value};

use crate::Error;
use crate::algorithm::{Algorithm, KeyType, VerifyingKey};
use crate::strict_json::{StrictJsonError, parse_object};

/// Members that only private or symmetric JWKs have (RFC 7518 §6.2.2, §6.3.2, §6.4).
const PRIVATE_MEMBERS: [&str; 8] = ["d", "p", "q", "dp", "dq", "qi", "oth", "k"];

/// Longest `kid` accepted, in a key set or a token header.
pub(crate) const MAX_KID_LEN: usize = 256;

/// The usable keys of one JWKS, by `kid`.
#[derive(Debug, Clone, Default)]
pub struct KeySet {
    keys: HashMap<String, Vec<VerifyingKey>>,
}

impl KeySet {
    /// Parses a JWKS document, keeping only signature keys for the `allowed` algorithms.
    pub fn from_jwks(document: &[u8], allowed: &[Algorithm]) -> Result<Self, Error> {
        let mut root = parse_object(document).map_err(|e| match e {
            StrictJsonError::DuplicateMember => Error::JwksInvalid("a member name appears twice"),
            StrictJsonError::Invalid => Error::JwksInvalid("not a JSON object"),
        })?;
        let Some(Value::Array(entries)) = root.remove("keys") else {
            return Err(Error::JwksInvalid("no keys array"));
        };
        let mut keys: HashMap<String, Vec<VerifyingKey>> = HashMap::new();
        for entry in entries {
            let Value::Object(jwk) = entry else {
                return Err(Error::JwksInvalid("a key is not a JSON object"));
            };
            if has_private_members(&jwk) {
                return Err(Error::JwksPrivateKey);
            }
            let Some((kid, usable)) = usable_key(&jwk, allowed) else {
                log::debug!("jwtd-verify: skipping a JWK this verifier cannot use");
                continue;
            };
            if keys.insert(kid, usable).is_some() {
                return Err(Error::JwksInvalid("two keys share a kid"));
            }
        }
        if keys.is_empty() {
            return Err(Error::JwksNoUsableKey);
        }
        Ok(Self { keys })
    }

    /// A set from keys built in code, e.g. a pinned key or a test key.
    pub fn from_keys(keys: impl IntoIterator<Item = (String, VerifyingKey)>) -> Self {
        let mut set = Self::default();
        for (kid, key) in keys {
            set.keys.entry(kid).or_default().push(key);
        }
        set
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    pub fn contains_kid(&self, kid: &str) -> bool {
        self.keys.contains_key(kid)
    }

    pub fn kids(&self) -> impl Iterator<Item = &str> {
        self.keys.keys().map(String::as_str)
    }

    /// The key for `kid` and `alg`: `UnknownKey` when no key has that `kid`,
    /// `KeyAlgorithmMismatch` when one does but its JWK does not allow `alg`.
    pub fn find(&self, kid: &str, alg: Algorithm) -> Result<&VerifyingKey, Error> {
        let candidates = self.keys.get(kid).ok_or(Error::UnknownKey)?;
        candidates.iter().find(|key| key.algorithm() == alg).ok_or(Error::KeyAlgorithmMismatch)
    }
}

/// The `kid` and the parsed keys (one per algorithm the JWK may sign with), or `None` when
/// the JWK is not for us.
fn usable_key(jwk: &Map<String, Value>, allowed: &[Algorithm]) -> Option<(String, Vec<VerifyingKey>)> {
    let algorithms = permitted_algorithms(jwk, allowed)?;
    let kid = text(jwk, "kid")?.filter(|kid| !kid.is_empty() && kid.len() <= MAX_KID_LEN)?;
    let keys: Vec<VerifyingKey> = algorithms.into_iter().filter_map(|alg| verifying_key(jwk, alg)).collect();
    if keys.is_empty() { None } else { Some((kid.to_owned(), keys)) }
}

/// Whether `jwk` holds private or symmetric key material.
pub(crate) fn has_private_members(jwk: &Map<String, Value>) -> bool {
    PRIVATE_MEMBERS.iter().any(|member| jwk.contains_key(*member))
}

/// The algorithms of `allowed` that `jwk` may check signatures with, by its `use`, `key_ops`
/// and `alg`; `None` when it is not a signature-verification key.
pub(crate) fn permitted_algorithms(
    jwk: &Map<String, Value>,
    allowed: &[Algorithm],
) -> Option<Vec<Algorithm>> {
    if !matches!(text(jwk, "use")?, None | Some("sig")) {
        return None;
    }
    if let Some(ops) = jwk.get("key_ops") {
        let Value::Array(ops) = ops else { return None };
        if !ops.iter().any(|op| op.as_str() == Some("verify")) {
            return None;
        }
    }
    // The JWK's own `alg`, when present, is the only algorithm the key may check.
    Some(match text(jwk, "alg")? {
        Some(name) => {
            let alg = Algorithm::from_name(name)?;
            if allowed.contains(&alg) { vec![alg] } else { return None }
        }
        None => allowed.to_vec(),
    })
}

/// The public key of `jwk` for `alg`, when its `kty` (and `crv`) fit `alg` and its members
/// decode to a key aws-lc accepts (RSA of at least 2048 bits).
pub(crate) fn verifying_key(jwk: &Map<String, Value>, alg: Algorithm) -> Option<VerifyingKey> {
    let key_type = match text(jwk, "kty")?? {
        "RSA" => KeyType::Rsa,
        "EC" => KeyType::Ec,
        "OKP" => KeyType::Okp,
        _ => return None,
    };
    if alg.key_type() != key_type {
        return None;
    }
    let bytes = |name: &str| text(jwk, name)?.and_then(|b64| URL_SAFE_NO_PAD.decode(b64).ok());
    match (key_type, alg, text(jwk, "crv")?) {
        (KeyType::Rsa, _, _) => VerifyingKey::rsa(alg, &bytes("n")?, &bytes("e")?).ok(),
        (KeyType::Ec, Algorithm::Es256, Some("P-256")) | (KeyType::Ec, Algorithm::Es384, Some("P-384")) => {
            VerifyingKey::ec(alg, &bytes("x")?, &bytes("y")?).ok()
        }
        (KeyType::Okp, Algorithm::EdDsa, Some("Ed25519")) => VerifyingKey::ed25519(&bytes("x")?).ok(),
        _ => None,
    }
}

/// A string member: `Some(Some(s))`, `Some(None)` when absent, `None` when not a string.
fn text<'a>(jwk: &'a Map<String, Value>, name: &str) -> Option<Option<&'a str>> {
    match jwk.get(name) {
        Some(Value::String(s)) => Some(Some(s.as_str())),
        None => Some(None),
        Some(_) => None,
    }
}
