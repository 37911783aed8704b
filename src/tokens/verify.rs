//! Verifying jwtd's own tokens: access tokens, for endpoints jwtd protects itself (the admin
//! API, userinfo), and ID tokens sent back as logout hints. Resource servers use the
//! `jwtd-verify` crate instead.

use jsonwebtoken::Validation;
use serde::de::DeserializeOwned;

use super::{ACCESS_TOKEN_TYPE, AccessClaims, Audience};
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
    let claims: AccessClaims = signed_claims(ring, token, ACCESS_TOKEN_TYPE)?;
    if claims.iss != issuer || audience.is_some_and(|a| !claims.aud.contains(a)) {
        return Err(TokenRejected::NotForUs);
    }
    if now >= claims.exp.saturating_add(leeway) || claims.nbf > now.saturating_add(leeway) {
        return Err(TokenRejected::Time);
    }
    Ok(claims)
}

/// What an ID token sent back as `id_token_hint` says: who, to which client, in which login.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
pub struct IdTokenHint {
    pub iss: String,
    pub sub: String,
    pub aud: Audience,
    /// The refresh family of the login the token was issued in.
    pub sid: Option<String>,
}

impl IdTokenHint {
    /// The client the token was issued to (its only audience).
    pub fn client_id(&self) -> Option<&str> {
        match &self.aud {
            Audience::One(client) => Some(client),
            Audience::Many(all) => match all.as_slice() {
                [client] => Some(client),
                _ => None,
            },
        }
    }
}

/// Checks an ID token jwtd issued (signature with the key its `kid` names, `typ: JWT`, `iss`).
/// Its expiry is not checked: RP-initiated logout accepts expired ID tokens as hints (the token
/// names a login; it grants nothing).
pub fn verify_id_token_hint(ring: &KeyRing, issuer: &str, token: &str) -> Result<IdTokenHint, TokenRejected> {
    let hint: IdTokenHint = signed_claims(ring, token, "JWT")?;
    if hint.iss != issuer || hint.client_id().is_none() {
        return Err(TokenRejected::NotForUs);
    }
    Ok(hint)
}

/// The claims of a token of type `typ` signed by a key of `ring` (with that key's algorithm
/// only); no claim is checked here.
fn signed_claims<T: DeserializeOwned>(ring: &KeyRing, token: &str, typ: &str) -> Result<T, TokenRejected> {
    if token.len() > MAX_TOKEN_LEN {
        return Err(TokenRejected::Malformed);
    }
    let header = jsonwebtoken::decode_header(token).map_err(|_| TokenRejected::Malformed)?;
    if !header.typ.as_deref().is_some_and(|t| t.eq_ignore_ascii_case(typ)) {
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
    Ok(jsonwebtoken::decode::<T>(token, key, &validation).map_err(|_| TokenRejected::Signature)?.claims)
}
