//! The public key a proof carries in its header (`jwk`), and its RFC 7638 thumbprint.
//!
//! The JWK is judged by the same rules as a key in the issuer's key set (`jwks::key_set`):
//! no private members, `use`/`key_ops`/`alg` must allow verifying with the proof's algorithm,
//! and the key type and curve must be the algorithm's.

use aws_lc_rs::digest::{SHA256, digest};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Map, Value};

use super::ProofError;
use crate::algorithm::{Algorithm, VerifyingKey};
use crate::jwks::{has_private_members, permitted_algorithms, verifying_key};
use crate::strict_json::parse_object;

/// The key of a proof header's `jwk` for `alg`, and the key's thumbprint.
pub(super) fn proof_key(jwk: Option<&Value>, alg: Algorithm) -> Result<(VerifyingKey, String), ProofError> {
    let Value::Object(jwk) = jwk.ok_or(ProofError::MissingKey)? else { return Err(ProofError::InvalidKey) };
    if has_private_members(jwk) {
        return Err(ProofError::PrivateKey);
    }
    permitted_algorithms(jwk, &[alg])
        .filter(|permitted| !permitted.is_empty())
        .ok_or(ProofError::InvalidKey)?;
    let key = verifying_key(jwk, alg).ok_or(ProofError::InvalidKey)?;
    Ok((key, thumbprint(jwk)?))
}

/// RFC 7638 thumbprint (SHA-256, base64url without padding) of a public JWK given as JSON
/// text: the required members only (RSA `e kty n`; EC `crv kty x y`; OKP `crv kty x`), in
/// that lexicographic order, without white space. The JSON is read strictly (a repeated
/// member name is [`ProofError::Malformed`]); a JWK with private members is refused with
/// [`ProofError::PrivateKey`], one lacking a required member with [`ProofError::InvalidKey`].
pub fn jwk_thumbprint(jwk_json: &str) -> Result<String, ProofError> {
    let jwk = parse_object(jwk_json.as_bytes()).map_err(|_| ProofError::Malformed)?;
    if has_private_members(&jwk) {
        return Err(ProofError::PrivateKey);
    }
    thumbprint(&jwk)
}

fn thumbprint(jwk: &Map<String, Value>) -> Result<String, ProofError> {
    let required: &[&str] = match jwk.get("kty").and_then(Value::as_str) {
        Some("RSA") => &["e", "kty", "n"],
        Some("EC") => &["crv", "kty", "x", "y"],
        Some("OKP") => &["crv", "kty", "x"],
        _ => return Err(ProofError::InvalidKey),
    };
    let mut canonical = String::from("{");
    for (i, name) in required.iter().enumerate() {
        let value = match jwk.get(*name) {
            Some(value @ Value::String(s)) if !s.is_empty() => value,
            _ => return Err(ProofError::InvalidKey),
        };
        if i > 0 {
            canonical.push(',');
        }
        // Names need no escaping; a value is written as serde_json escapes a string.
        canonical.push_str(&format!("\"{name}\":{value}"));
    }
    canonical.push('}');
    Ok(URL_SAFE_NO_PAD.encode(digest(&SHA256, canonical.as_bytes())))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    /// RFC 7638 §3.1.
    const RFC_7638_KEY: &str = r#"{
        "kty": "RSA",
        "n": "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw",
        "e": "AQAB",
        "alg": "RS256",
        "kid": "2011-04-29"
    }"#;

    #[test]
    fn the_thumbprint_of_rfc_7638s_example_key() {
        assert_eq!(jwk_thumbprint(RFC_7638_KEY).unwrap(), "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs");
    }

    #[test]
    fn only_required_members_count_and_their_order_in_the_input_does_not() {
        let a = jwk_thumbprint(r#"{"kty":"OKP","crv":"Ed25519","x":"abc"}"#).unwrap();
        let b = jwk_thumbprint(r#"{"x":"abc","use":"sig","crv":"Ed25519","kid":"1","kty":"OKP"}"#).unwrap();
        assert_eq!(a, b);
        let c = jwk_thumbprint(r#"{"kty":"EC","crv":"P-256","x":"abc","y":"def"}"#).unwrap();
        assert_ne!(a, c);
    }

    #[test]
    fn private_incomplete_unknown_and_repeated_jwks_are_refused() {
        for (jwk, error) in [
            (r#"{"kty":"EC","crv":"P-256","x":"a","y":"b","d":"c"}"#, ProofError::PrivateKey),
            (r#"{"kty":"oct","k":"c2VjcmV0"}"#, ProofError::PrivateKey),
            (r#"{"kty":"EC","crv":"P-256","x":"a"}"#, ProofError::InvalidKey),
            (r#"{"kty":"EC","crv":"P-256","x":"a","y":7}"#, ProofError::InvalidKey),
            (r#"{"kty":"oct"}"#, ProofError::InvalidKey),
            (r#"{"crv":"Ed25519","x":"a"}"#, ProofError::InvalidKey),
            (r#"{"kty":"OKP","kty":"OKP","crv":"Ed25519","x":"a"}"#, ProofError::Malformed),
            ("[]", ProofError::Malformed),
        ] {
            assert_eq!(jwk_thumbprint(jwk), Err(error), "{jwk}");
        }
    }

    #[test]
    fn a_proof_key_must_be_public_usable_and_of_the_algorithms_type() {
        let ed = json!({"kty": "OKP", "crv": "Ed25519", "x": URL_SAFE_NO_PAD.encode([7_u8; 32])});
        assert!(proof_key(Some(&ed), Algorithm::EdDsa).is_ok());
        assert_eq!(proof_key(None, Algorithm::EdDsa).map(|_| ()), Err(ProofError::MissingKey));
        assert_eq!(proof_key(Some(&json!("k")), Algorithm::EdDsa).map(|_| ()), Err(ProofError::InvalidKey));
        assert_eq!(proof_key(Some(&ed), Algorithm::Es256).map(|_| ()), Err(ProofError::InvalidKey));
        let mut with_d = ed.clone();
        with_d["d"] = json!("secret");
        assert_eq!(proof_key(Some(&with_d), Algorithm::EdDsa).map(|_| ()), Err(ProofError::PrivateKey));
        let mut for_encryption = ed.clone();
        for_encryption["use"] = json!("enc");
        assert_eq!(
            proof_key(Some(&for_encryption), Algorithm::EdDsa).map(|_| ()),
            Err(ProofError::InvalidKey)
        );
        let small_rsa = json!({"kty": "RSA", "n": URL_SAFE_NO_PAD.encode([0xc5_u8; 128]), "e": "AQAB"});
        assert_eq!(proof_key(Some(&small_rsa), Algorithm::Rs256).map(|_| ()), Err(ProofError::InvalidKey));
    }
}
