//! A `private_key_jwt` client's public keys, registered inline as a JWK set: what a set must be
//! before jwtd trusts assertions signed by its keys.

use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, JwkSet};
use serde_json::Value;

/// Most keys in one set (a current key and a few next or previous ones).
pub const MAX_KEYS: usize = 10;
/// Longest set accepted, as JSON.
pub const MAX_JWKS_BYTES: usize = 16 * 1024;
/// Smallest RSA modulus accepted, in bits.
const MIN_RSA_BITS: usize = 2048;
/// Members that only private keys (or symmetric ones) have.
const PRIVATE_MEMBERS: [&str; 9] = ["d", "p", "q", "dp", "dq", "qi", "oth", "k", "priv"];

/// Checks a JWK set given at registration: at most [`MAX_KEYS`] keys, each public (no private
/// or symmetric member), of a kind jwtd verifies (RSA of at least 2048 bits, EC P-256, Ed25519),
/// with a `kid` whenever there are several; returns it parsed.
pub fn check_jwks(value: &Value) -> Result<JwkSet, String> {
    if serde_json::to_vec(value).map_or(true, |json| json.len() > MAX_JWKS_BYTES) {
        return Err(format!("is larger than {MAX_JWKS_BYTES} bytes"));
    }
    let keys = value.get("keys").and_then(Value::as_array).ok_or("must be a JWK set: {\"keys\": [...]}")?;
    if keys.is_empty() || keys.len() > MAX_KEYS {
        return Err(format!("must hold 1 to {MAX_KEYS} keys"));
    }
    for key in keys {
        let private = PRIVATE_MEMBERS.iter().find(|m| key.get(**m).is_some());
        if let Some(member) = private {
            return Err(format!(
                "holds a private or symmetric key (member {member:?}): register public keys only"
            ));
        }
    }
    let set: JwkSet = serde_json::from_value(value.clone()).map_err(|e| format!("is not a JWK set: {e}"))?;
    if set.keys.len() > 1 && set.keys.iter().any(|k| k.common.key_id.is_none()) {
        return Err("needs a kid on every key when it holds several".to_owned());
    }
    for key in &set.keys {
        match &key.algorithm {
            AlgorithmParameters::RSA(rsa) => {
                let bits = base64_len(&rsa.n) * 8;
                if bits < MIN_RSA_BITS {
                    return Err(format!("holds an RSA key of {bits} bits; at least {MIN_RSA_BITS}"));
                }
            }
            AlgorithmParameters::EllipticCurve(ec) if ec.curve == EllipticCurve::P256 => {}
            AlgorithmParameters::OctetKeyPair(okp) if okp.curve == EllipticCurve::Ed25519 => {}
            _ => return Err("holds a key jwtd does not verify: use RSA, EC P-256 or Ed25519".to_owned()),
        }
    }
    Ok(set)
}

/// Bytes encoded by an unpadded base64url string, without decoding it.
fn base64_len(text: &str) -> usize {
    text.trim_end_matches('=').len() * 3 / 4
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ec_key(kid: Option<&str>) -> Value {
        let mut key = json!({
            "kty": "EC", "crv": "P-256",
            "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
            "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0",
        });
        if let Some(kid) = kid {
            key["kid"] = kid.into();
        }
        key
    }

    #[test]
    fn only_small_sets_of_public_keys_jwtd_verifies_are_accepted() {
        assert!(check_jwks(&json!({ "keys": [ec_key(None)] })).is_ok(), "one key needs no kid");
        assert!(check_jwks(&json!({ "keys": [ec_key(Some("a")), ec_key(Some("b"))] })).is_ok());
        let mut private = ec_key(Some("a"));
        private["d"] = "jpsQnnGQmL-YBIffH1136cspYG6-0iY7X1fCE9-E9LI".into();
        let small_rsa = json!({ "kty": "RSA", "n": "sXchDaQebHnPiGvyDOAT4saGEUetSyo9MKLOoWFsueri23bOdgWp4Dy1Wl", "e": "AQAB" });
        let cases = [
            (json!({ "keys": [private] }), "private"),
            (json!({ "keys": [{ "kty": "oct", "k": "c2VjcmV0" }] }), "private or symmetric"),
            (json!({ "keys": [ec_key(None), ec_key(Some("b"))] }), "kid"),
            (json!({ "keys": [] }), "1 to"),
            (json!([ec_key(None)]), "JWK set"),
            (json!({ "keys": [small_rsa] }), "bits"),
            (json!({ "keys": vec![ec_key(Some("a")); MAX_KEYS + 1] }), "1 to"),
        ];
        for (set, says) in cases {
            let refused = check_jwks(&set).unwrap_err();
            assert!(refused.contains(says), "{refused} should say {says}");
        }
    }
}
