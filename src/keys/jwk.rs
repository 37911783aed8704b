//! Public keys as JSON Web Keys (RFC 7517), and their RFC 7638 thumbprints, which jwtd uses as
//! `kid`: a verifier can recompute it, and two keys can never share one.

use aws_lc_rs::digest;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};

/// A public JWK. Only public members exist on this type, so private material cannot leak
/// into the JWKS by accident.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PublicJwk {
    pub kty: String,
    #[serde(rename = "use")]
    pub usage: String,
    pub alg: String,
    pub kid: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub n: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub e: Option<String>,
}

impl PublicJwk {
    /// An RSA signing key from its big-endian modulus and exponent.
    pub fn rsa(alg: &str, modulus: &[u8], exponent: &[u8]) -> Self {
        let mut jwk = Self {
            kty: "RSA".to_owned(),
            usage: "sig".to_owned(),
            alg: alg.to_owned(),
            kid: String::new(),
            n: Some(URL_SAFE_NO_PAD.encode(modulus)),
            e: Some(URL_SAFE_NO_PAD.encode(exponent)),
        };
        jwk.kid = jwk.thumbprint();
        jwk
    }

    /// RFC 7638: SHA-256 over the required members in lexicographic order, no whitespace.
    pub fn thumbprint(&self) -> String {
        let canonical = serde_json::json!({
            "e": self.e,
            "kty": self.kty,
            "n": self.n,
        });
        // serde_json's map keeps keys sorted, which is exactly the order RFC 7638 asks for.
        let digest = digest::digest(&digest::SHA256, canonical.to_string().as_bytes());
        URL_SAFE_NO_PAD.encode(digest.as_ref())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// The worked example of RFC 7638 §3.1.
    #[test]
    fn thumbprint_matches_rfc_7638_example() {
        let n = "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw";
        let jwk = PublicJwk {
            kty: "RSA".into(),
            usage: "sig".into(),
            alg: "RS256".into(),
            kid: String::new(),
            n: Some(n.into()),
            e: Some("AQAB".into()),
        };
        assert_eq!(jwk.thumbprint(), "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs");
    }
}
