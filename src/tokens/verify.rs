//! Verifying jwtd's own access tokens, for endpoints jwtd protects itself (the admin API).
//! Resource servers use the `jwtd-verify` crate instead.

use jsonwebtoken::Validation;

use super::{ACCESS_TOKEN_TYPE, AccessClaims};
use crate::keys::KeyRing;

/// Longest token looked at; jwtd's own are well under 2 KiB.
const MAX_TOKEN_LEN: usize = 8 * 1024;

/// Why a token was refused. Kept coarse on purpose: the caller learns only "invalid".
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TokenRejected {
    #[error("malformed token")]
    Malformed,
    #[error("unknown signing key")]
    UnknownKey,
    #[error("bad signature or algorithm")]
    Signature,
    #[error("not an access token")]
    Type,
    #[error("wrong issuer or audience")]
    NotForUs,
    #[error("expired or not yet valid")]
    Time,
}

/// Checks signature (with the key the `kid` names, and only that key's algorithm), `typ`,
/// `iss`, `aud` (must contain `audience`, when given) and the time claims on jwtd's clock.
pub fn verify_own_access_token(
    ring: &KeyRing,
    issuer: &str,
    audience: Option<&str>,
    token: &str,
    now: i64,
    leeway: i64,
) -> Result<AccessClaims, TokenRejected> {
    if token.len() > MAX_TOKEN_LEN {
        return Err(TokenRejected::Malformed);
    }
    let header = jsonwebtoken::decode_header(token).map_err(|_| TokenRejected::Malformed)?;
    if !header.typ.as_deref().is_some_and(|t| t.eq_ignore_ascii_case(ACCESS_TOKEN_TYPE)) {
        return Err(TokenRejected::Type);
    }
    let kid = header.kid.as_deref().ok_or(TokenRejected::UnknownKey)?;
    let (key, alg) = ring.verification_key(kid).ok_or(TokenRejected::UnknownKey)?;
    if header.alg != *alg {
        return Err(TokenRejected::Signature);
    }
    let mut validation = Validation::new(*alg);
    // Time and audience are checked below, on jwtd's clock and against the issuer.
    validation.validate_exp = false;
    validation.validate_nbf = false;
    validation.validate_aud = false;
    validation.required_spec_claims.clear();
    let claims = jsonwebtoken::decode::<AccessClaims>(token, key, &validation)
        .map_err(|_| TokenRejected::Signature)?
        .claims;
    if claims.iss != issuer || audience.is_some_and(|a| !claims.aud.contains(a)) {
        return Err(TokenRejected::NotForUs);
    }
    if now >= claims.exp.saturating_add(leeway) || claims.nbf > now.saturating_add(leeway) {
        return Err(TokenRejected::Time);
    }
    Ok(claims)
}
