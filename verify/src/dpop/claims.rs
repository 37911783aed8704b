//! A proof's claims (RFC 9449 §4.2), read in one strict pass and checked against the request.

use std::borrow::Cow;

use aws_lc_rs::constant_time::verify_slices_are_equal;
use serde::de;

use super::{ProofError, ProofPolicy, ProofRequest, access_token_hash, normalize_htu};
use crate::member::{Member, MembersVisitor};
use crate::strict_json::parse_strict;

/// Longest `jti` and `nonce` accepted, in characters.
pub(super) const MAX_JTI_CHARS: usize = 256;
pub(super) const MAX_NONCE_CHARS: usize = 512;

const NAMES: [&str; 6] = ["jti", "htm", "htu", "iat", "ath", "nonce"];

/// What a proof's claims say, once they match the request.
pub(super) struct Checked<'p> {
    pub jti: Cow<'p, str>,
    pub iat: u64,
    pub nonce: Option<Cow<'p, str>>,
}

/// Parses `payload` strictly and checks each claim, in the order of RFC 9449 §4.3.
pub(super) fn check_claims<'p>(
    payload: &'p [u8],
    request: &ProofRequest<'_>,
    policy: &ProofPolicy,
    now: u64,
) -> Result<Checked<'p>, ProofError> {
    let [jti, htm, htu, iat, ath, nonce] = parse_strict(payload, |deserializer, duplicate| {
        de::Deserializer::deserialize_map(deserializer, MembersVisitor { duplicate, names: &NAMES })
    })
    .map_err(|_| ProofError::Malformed)?;

    let jti = match required(jti, "jti")? {
        Member::Str(jti) if (1..=MAX_JTI_CHARS).contains(&jti.chars().count()) => jti,
        _ => return Err(ProofError::InvalidClaim("jti")),
    };
    if string(required(htm, "htm")?, "htm")? != request.method {
        return Err(ProofError::MethodMismatch);
    }
    let proof_url =
        normalize_htu(&string(required(htu, "htu")?, "htu")?).ok_or(ProofError::InvalidClaim("htu"))?;
    if normalize_htu(request.url).is_none_or(|url| url != proof_url) {
        return Err(ProofError::UrlMismatch);
    }
    let iat = match required(iat, "iat")? {
        Member::Int(iat) => u64::try_from(iat).map_err(|_| ProofError::InvalidClaim("iat"))?,
        _ => return Err(ProofError::InvalidClaim("iat")),
    };
    if iat > now.saturating_add(policy.leeway.as_secs()) {
        return Err(ProofError::IssuedInFuture);
    }
    if iat.saturating_add(policy.max_age.as_secs()) < now {
        return Err(ProofError::TooOld);
    }
    match (request.access_token, ath) {
        (Some(token), Some(ath)) => {
            let ath = string(ath, "ath")?;
            let expected = access_token_hash(token);
            verify_slices_are_equal(ath.as_bytes(), expected.as_bytes())
                .map_err(|_| ProofError::TokenHashMismatch)?;
        }
        (Some(_), None) => return Err(ProofError::MissingTokenHash),
        (None, Some(_)) => return Err(ProofError::UnexpectedTokenHash),
        (None, None) => {}
    }
    let nonce = match nonce {
        None => None,
        Some(Member::Str(nonce)) if (1..=MAX_NONCE_CHARS).contains(&nonce.chars().count()) => Some(nonce),
        Some(_) => return Err(ProofError::InvalidClaim("nonce")),
    };
    Ok(Checked { jti, iat, nonce })
}

fn required<'p>(member: Option<Member<'p>>, name: &'static str) -> Result<Member<'p>, ProofError> {
    member.ok_or(ProofError::MissingClaim(name))
}

fn string<'p>(member: Member<'p>, name: &'static str) -> Result<Cow<'p, str>, ProofError> {
    match member {
        Member::Str(s) => Ok(s),
        _ => Err(ProofError::InvalidClaim(name)),
    }
}
