//! Client assertions (`private_key_jwt`: RFC 7523 §2.2 and §3, OpenID Connect Core §9): a JWT
//! the client signs with its own key to prove who it is at the token, revocation and
//! introspection endpoints. Only the checks that need no database live here; the single use of
//! `jti` is the operation's.
//!
//! The rules, stricter than RFC 7523 where the 2025 audience-injection findings showed why:
//! `iss` = `sub` = the client id; `aud` is jwtd's issuer identifier as one string (an endpoint
//! URL or an array is refused); `iat` and `exp` present, `exp` at most [`MAX_LIFETIME`] after
//! `iat`; a `jti`; RS256, PS256, ES256 or EdDSA with a key of the matching type (never `none`
//! or HMAC).

use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, JwkSet};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;

/// `client_assertion_type` of a JWT client assertion.
pub const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
/// Longest lifetime (`exp` − `iat`) an assertion may claim, in seconds: it bounds how long a
/// used `jti` must be remembered.
pub const MAX_LIFETIME: i64 = 300;
/// Longest assertion looked at.
pub const MAX_ASSERTION_LEN: usize = 8 * 1024;
/// Longest `jti` accepted.
const MAX_JTI_LEN: usize = 256;

/// Why an assertion is refused: each says what to fix, and nothing secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    #[error("the client_assertion is not a well-formed signed JWT")]
    Malformed,
    #[error("the client_assertion's alg must be RS256, PS256, ES256 or EdDSA")]
    Algorithm,
    #[error("no registered key of the client matches the client_assertion's kid and alg")]
    UnknownKey,
    #[error("the client_assertion's signature does not verify with the client's registered key")]
    Signature,
    #[error("the client_assertion's iss and sub must both be the client_id")]
    Subject,
    #[error("the client_assertion's aud must be exactly jwtd's issuer identifier, as one string")]
    Audience,
    #[error("the client_assertion has expired")]
    Expired,
    #[error("the client_assertion's iat is in the future")]
    IssuedInFuture,
    #[error("the client_assertion must have iat and exp, with exp at most 300 seconds after iat")]
    Lifetime,
    #[error("the client_assertion needs a jti of at most 256 characters")]
    Jti,
    #[error("the client_assertion's jti was used before: an assertion is good once")]
    Replayed,
    #[error("the workload token's iss is not the issuer this client trusts")]
    Untrusted,
    #[error("the workload token's sub is not a subject this client trusts")]
    WorkloadSubject,
    #[error(
        "the workload token's aud must include the audience this client expects (jwtd's issuer by default)"
    )]
    WorkloadAudience,
    #[error("the workload token lives longer (exp - iat) than this client allows")]
    WorkloadLifetime,
}

impl Refused {
    /// A short name, for metrics and the audit log.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::Malformed => "malformed",
            Self::Algorithm => "algorithm",
            Self::UnknownKey => "unknown_key",
            Self::Signature => "signature",
            Self::Subject => "subject",
            Self::Audience => "audience",
            Self::Expired => "expired",
            Self::IssuedInFuture => "issued_in_future",
            Self::Lifetime => "lifetime",
            Self::Jti => "jti",
            Self::Replayed => "replayed",
            Self::Untrusted => "untrusted_issuer",
            Self::WorkloadSubject => "workload_subject",
            Self::WorkloadAudience => "workload_audience",
            Self::WorkloadLifetime => "workload_lifetime",
        }
    }
}

/// What a verified assertion leaves to check against the database: its `jti`, single use until
/// `exp`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    pub jti: String,
    pub exp: i64,
}

#[derive(Deserialize)]
struct Claims {
    iss: Option<String>,
    sub: Option<String>,
    aud: Option<serde_json::Value>,
    iat: Option<i64>,
    exp: Option<i64>,
    nbf: Option<i64>,
    jti: Option<String>,
}

/// The client an assertion says it is from (`iss`), read without verifying anything: only to
/// find which client's keys to verify it with.
pub fn claimed_client(assertion: &str) -> Option<String> {
    if assertion.len() > MAX_ASSERTION_LEN {
        return None;
    }
    let claims = jsonwebtoken::dangerous::insecure_decode::<Claims>(assertion).ok()?.claims;
    claims.iss.filter(|iss| !iss.is_empty() && iss.len() <= 256)
}

/// The `kid` of an assertion's header, if it has one (to pick or fetch the key).
pub fn key_id(assertion: &str) -> Option<String> {
    jsonwebtoken::decode_header(assertion).ok()?.kid
}

/// Verifies `assertion` as `client_id`'s, for jwtd at `issuer`, with the client's `keys`, at
/// `now` with `leeway` seconds for clock skew.
pub fn verify(
    assertion: &str,
    keys: &JwkSet,
    client_id: &str,
    issuer: &str,
    now: i64,
    leeway: i64,
) -> Result<Verified, Refused> {
    let claims: Claims = signed_claims(assertion, keys)?;
    check_claims(&claims, client_id, issuer, now, leeway)
}

/// The claims of `assertion`, once its signature verifies with the key of `keys` its header
/// names (RS256, PS256, ES256 or EdDSA only, with a key of the matching type). No claim is
/// checked here.
pub(crate) fn signed_claims<T: serde::de::DeserializeOwned>(
    assertion: &str,
    keys: &JwkSet,
) -> Result<T, Refused> {
    if assertion.len() > MAX_ASSERTION_LEN {
        return Err(Refused::Malformed);
    }
    let header = jsonwebtoken::decode_header(assertion).map_err(|_| Refused::Malformed)?;
    if !matches!(header.alg, Algorithm::RS256 | Algorithm::PS256 | Algorithm::ES256 | Algorithm::EdDSA) {
        return Err(Refused::Algorithm);
    }
    let jwk = pick_key(keys, header.kid.as_deref(), header.alg).ok_or(Refused::UnknownKey)?;
    let key = DecodingKey::from_jwk(jwk).map_err(|_| Refused::UnknownKey)?;
    let mut validation = Validation::new(header.alg);
    validation.validate_exp = false;
    validation.validate_nbf = false;
    validation.validate_aud = false;
    validation.required_spec_claims.clear();
    Ok(jsonwebtoken::decode::<T>(assertion, &key, &validation).map_err(|_| Refused::Signature)?.claims)
}

fn check_claims(
    claims: &Claims,
    client_id: &str,
    issuer: &str,
    now: i64,
    leeway: i64,
) -> Result<Verified, Refused> {
    if claims.iss.as_deref() != Some(client_id) || claims.sub.as_deref() != Some(client_id) {
        return Err(Refused::Subject);
    }
    if claims.aud.as_ref().and_then(serde_json::Value::as_str) != Some(issuer) {
        return Err(Refused::Audience);
    }
    let (Some(iat), Some(exp)) = (claims.iat, claims.exp) else {
        return Err(Refused::Lifetime);
    };
    if exp <= iat || exp - iat > MAX_LIFETIME {
        return Err(Refused::Lifetime);
    }
    if now >= exp.saturating_add(leeway) {
        return Err(Refused::Expired);
    }
    if iat > now.saturating_add(leeway) || claims.nbf.is_some_and(|nbf| nbf > now.saturating_add(leeway)) {
        return Err(Refused::IssuedInFuture);
    }
    match &claims.jti {
        Some(jti) if !jti.is_empty() && jti.len() <= MAX_JTI_LEN => Ok(Verified { jti: jti.clone(), exp }),
        _ => Err(Refused::Jti),
    }
}

/// The key for `kid` (or the only key that fits, without a `kid`) whose type fits `alg` and
/// whose own `alg`, when it names one, is `alg`.
fn pick_key<'a>(keys: &'a JwkSet, kid: Option<&str>, alg: Algorithm) -> Option<&'a Jwk> {
    let fits = |jwk: &&Jwk| {
        let type_fits = match (&jwk.algorithm, alg) {
            (AlgorithmParameters::RSA(_), Algorithm::RS256 | Algorithm::PS256) => true,
            (AlgorithmParameters::EllipticCurve(ec), Algorithm::ES256) => ec.curve == EllipticCurve::P256,
            (AlgorithmParameters::OctetKeyPair(okp), Algorithm::EdDSA) => okp.curve == EllipticCurve::Ed25519,
            _ => false,
        };
        let alg_fits =
            jwk.common.key_algorithm.is_none_or(|named| Algorithm::try_from(named).is_ok_and(|a| a == alg));
        type_fits && alg_fits
    };
    match kid {
        Some(kid) => keys.keys.iter().filter(fits).find(|jwk| jwk.common.key_id.as_deref() == Some(kid)),
        None => {
            let mut fitting = keys.keys.iter().filter(fits);
            let only = fitting.next();
            if fitting.next().is_some() { None } else { only }
        }
    }
}

#[cfg(test)]
mod tests;
