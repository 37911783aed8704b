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
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub crv: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub x: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub y: Option<String>,
}

impl PublicJwk {
    /// An RSA signing key from its big-endian modulus and exponent.
    pub fn rsa(alg: &str, modulus: &[u8], exponent: &[u8]) -> Self {
        Self {
            n: Some(URL_SAFE_NO_PAD.encode(modulus)),
            e: Some(URL_SAFE_NO_PAD.encode(exponent)),
            ..Self::empty("RSA", alg)
        }
        .with_thumbprint_kid()
    }

    /// A P-256 key from its uncompressed point (`0x04 || x || y`).
    pub fn p256(uncompressed_point: &[u8]) -> Option<Self> {
        let (&tag, xy) = uncompressed_point.split_first()?;
        if tag != 0x04 || xy.len() != 64 {
            return None;
        }
        let (x, y) = xy.split_at(32);
        let jwk = Self {
            crv: Some("P-256".to_owned()),
            x: Some(URL_SAFE_NO_PAD.encode(x)),
            y: Some(URL_SAFE_NO_PAD.encode(y)),
            ..Self::empty("EC", "ES256")
        };
        Some(jwk.with_thumbprint_kid())
    }

    pub fn ed25519(public_key: &[u8]) -> Self {
        Self {
            crv: Some("Ed25519".to_owned()),
            x: Some(URL_SAFE_NO_PAD.encode(public_key)),
            ..Self::empty("OKP", "EdDSA")
        }
        .with_thumbprint_kid()
    }

    fn empty(kty: &str, alg: &str) -> Self {
        Self {
            kty: kty.to_owned(),
            usage: "sig".to_owned(),
            alg: alg.to_owned(),
            kid: String::new(),
            n: None,
            e: None,
            crv: None,
            x: None,
            y: None,
        }
    }

    fn with_thumbprint_kid(mut self) -> Self {
        self.kid = self.thumbprint();
        self
    }

    /// RFC 7638: SHA-256 over the required members in lexicographic order, no whitespace.
    pub fn thumbprint(&self) -> String {
        let canonical = match self.kty.as_str() {
            "RSA" => serde_json::json!({ "e": self.e, "kty": self.kty, "n": self.n }),
            "EC" => serde_json::json!({ "crv": self.crv, "kty": self.kty, "x": self.x, "y": self.y }),
            _ => serde_json::json!({ "crv": self.crv, "kty": self.kty, "x": self.x }),
        };
        // serde_json's map keeps keys sorted, which is exactly the order RFC 7638 asks for.
        let digest = digest::digest(&digest::SHA256, canonical.to_string().as_bytes());
        URL_SAFE_NO_PAD.encode(digest.as_ref())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The worked example of RFC 7638 §3.1.
    #[test]
    fn thumbprint_matches_rfc_7638_example() {
        let n = "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw";
        let jwk = PublicJwk { n: Some(n.into()), e: Some("AQAB".into()), ..PublicJwk::empty("RSA", "RS256") };
        assert_eq!(jwk.thumbprint(), "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs");
    }
}
