//! DPoP (RFC 9449): proofs of possession that bind an access token to a client's key.
//!
//! A DPoP-bound token carries `cnf.jkt`, the thumbprint of the client's public key; with every
//! request the client sends a fresh *proof*, a JWS signed by that key over the method, the URL
//! and a hash of the token, with the public key in its header. A stolen token is then useless
//! without the key, and a captured proof is good for one method, one URL and a short time.
//!
//! This module checks proofs without any state ([`check_proof`]); the one stateful check, that
//! a proof's `jti` was not seen before, is the [`ReplayCache`]'s. The [`crate::Verifier`] puts
//! them together for resource servers ([`crate::Verifier::verify_request`]); jwtd's token
//! endpoint uses the same functions with `access_token: None`.

mod claims;
mod error;
mod htu;
mod jwk;
mod replay;

use std::time::Duration;

use aws_lc_rs::digest::{SHA256, digest};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::algorithm::Algorithm;
use crate::compact::{decode_into, signing_input, split_compact};
use crate::header::{Header, is_media_type};
use crate::member::Member;
pub use error::ProofError;
pub use htu::normalize_htu;
pub use jwk::jwk_thumbprint;
pub use replay::{DEFAULT_REPLAY_CAPACITY, ReplayCache};

/// What a proof must match: the request as the receiving server publicly sees it.
#[derive(Debug, Clone, Copy)]
pub struct ProofRequest<'a> {
    /// The HTTP method, e.g. `"POST"`, compared case-sensitively with `htm` (RFC 9449 §4.3).
    pub method: &'a str,
    /// The public URL of the request: the server's configured public origin and the request's
    /// path, never built from the `Host` header (which the client chooses). Query and
    /// fragment are ignored; see [`normalize_htu`].
    pub url: &'a str,
    /// `Some(token)` at a resource server: `ath` must be present and equal
    /// [`access_token_hash`]`(token)`. `None` at the token endpoint: `ath` must be absent.
    pub access_token: Option<&'a str>,
}

/// The limits a proof is checked against.
#[derive(Debug, Clone)]
pub struct ProofPolicy {
    /// The algorithms a proof may be signed with (default: ES256, ES384, EdDSA, RS256, PS256).
    /// [`Algorithm`] cannot express `none` or an HMAC algorithm.
    pub algorithms: Vec<Algorithm>,
    /// How old a proof's `iat` may be (default 60 s).
    pub max_age: Duration,
    /// How far in the future a proof's `iat` may be, for clock skew (default 5 s).
    pub leeway: Duration,
    /// The longest proof accepted, in bytes (default 8 KiB).
    pub max_bytes: usize,
}

impl Default for ProofPolicy {
    fn default() -> Self {
        Self {
            algorithms: vec![
                Algorithm::Es256,
                Algorithm::Es384,
                Algorithm::EdDsa,
                Algorithm::Rs256,
                Algorithm::Ps256,
            ],
            max_age: Duration::from_secs(60),
            leeway: Duration::from_secs(5),
            max_bytes: 8 * 1024,
        }
    }
}

impl ProofPolicy {
    /// `max_age + leeway`: how long a proof can be accepted after it is first seen, so how long
    /// its `jti` must be remembered.
    pub fn window(&self) -> Duration {
        self.max_age.saturating_add(self.leeway)
    }

    /// The algorithms, space-separated, as the `algs` of a `DPoP` challenge (RFC 9449 §7.1).
    pub fn algorithm_names(&self) -> String {
        self.algorithms.iter().map(|alg| alg.as_str()).collect::<Vec<_>>().join(" ")
    }
}

/// A proof that checked out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Proof {
    /// RFC 7638 SHA-256 thumbprint of the header's `jwk`, base64url without padding: what a
    /// bound token's `cnf.jkt` must equal.
    pub jkt: String,
    /// 1 to 256 characters.
    pub jti: String,
    pub iat: u64,
    /// The `nonce` claim if present (1 to 512 characters). Whether it is acceptable is the
    /// caller's decision: only it knows which nonces it handed out.
    pub nonce: Option<String>,
    pub algorithm: Algorithm,
}

/// The longest header decoded on the stack: a proof header holds its key, and an RSA-4096
/// JWK is about 750 bytes. A longer header (up to `max_bytes`) is decoded on the heap.
const HEADER_BUFFER: usize = 1024;
const PAYLOAD_BUFFER: usize = 512;
const SIGNATURE_BUFFER: usize = 1024;

/// Checks everything about a proof that needs no state, in the order of RFC 9449 §4.3:
/// a compact JWS of exactly three segments; header `typ` `dpop+jwt` (as a media type: any case,
/// `application/` prefix or not); `alg` in
/// `policy.algorithms`; no `crit`; a `jwk` that is a public key only (any of `d p q dp dq qi
/// oth k` is [`ProofError::PrivateKey`]) of the type `alg` needs (RSA of at least 2048 bits);
/// the signature, with that key; then the claims: `jti` a string, `htm` equal to the method,
/// `htu` equal to the URL after [`normalize_htu`], `iat` an integer within
/// `[now - max_age, now + leeway]`, `ath` as `request.access_token` demands, `nonce` if present
/// a string. `now` is Unix seconds.
///
/// Not checked here: that the `jti` is new ([`ReplayCache`]), that the key is the one a token
/// is bound to (compare [`Proof::jkt`] with `cnf.jkt`), that a nonce is one the server issued.
pub fn check_proof(
    proof: &str,
    request: &ProofRequest<'_>,
    policy: &ProofPolicy,
    now: u64,
) -> Result<Proof, ProofError> {
    if proof.len() > policy.max_bytes {
        return Err(ProofError::TooLarge);
    }
    let (header_b64, payload_b64, signature_b64) = split_compact(proof).ok_or(ProofError::Malformed)?;
    let mut header_buffer = [0_u8; HEADER_BUFFER];
    let header_bytes = decode_into(header_b64, &mut header_buffer).ok_or(ProofError::Malformed)?;
    let header = Header::parse_keeping_jwk(header_bytes.as_ref()).map_err(|_| ProofError::Malformed)?;
    if !header.typ.as_ref().and_then(Member::as_str).is_some_and(|typ| is_media_type(typ, "dpop+jwt")) {
        return Err(ProofError::WrongType);
    }
    let algorithm = header
        .alg
        .as_ref()
        .and_then(Member::as_str)
        .and_then(Algorithm::from_name)
        .filter(|alg| policy.algorithms.contains(alg))
        .ok_or(ProofError::UnsupportedAlgorithm)?;
    if header.crit {
        return Err(ProofError::CriticalHeader);
    }
    let (key, jkt) = jwk::proof_key(header.jwk.as_ref(), algorithm)?;

    let mut payload_buffer = [0_u8; PAYLOAD_BUFFER];
    let payload = decode_into(payload_b64, &mut payload_buffer).ok_or(ProofError::Malformed)?;
    let mut signature_buffer = [0_u8; SIGNATURE_BUFFER];
    let signature = decode_into(signature_b64, &mut signature_buffer).ok_or(ProofError::Malformed)?;
    let signed = signing_input(proof, header_b64, payload_b64).ok_or(ProofError::Malformed)?;
    key.verify_signature(signed, signature.as_ref()).map_err(|_| ProofError::BadSignature)?;

    let checked = claims::check_claims(payload.as_ref(), request, policy, now)?;
    Ok(Proof {
        jkt,
        jti: checked.jti.into_owned(),
        iat: checked.iat,
        nonce: checked.nonce.map(|nonce| nonce.into_owned()),
        algorithm,
    })
}

/// `base64url(SHA-256(access_token))`, the `ath` claim of a proof sent with that token
/// (RFC 9449 §4.2).
pub fn access_token_hash(access_token: &str) -> String {
    URL_SAFE_NO_PAD.encode(digest(&SHA256, access_token.as_bytes()))
}

#[cfg(test)]
mod tests;
