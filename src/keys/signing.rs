//! Signing keys and JWS compact serialization.
//!
//! jwtd signs with aws-lc-rs directly instead of `jsonwebtoken::encode`: that function parses
//! and copies the private key on every call and takes RSA keys only as PKCS#1, while aws-lc-rs
//! generates PKCS#8. Here the key is parsed once, when the key ring loads. Verification (in
//! tests, in the admin guard and in `jwtd-verify`) goes through jsonwebtoken.

use std::fmt;

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rsa::{KeyPair as RsaKeyPair, KeySize};
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, Ed25519KeyPair, KeyPair, RSA_PKCS1_SHA256,
};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Serialize;
use zeroize::Zeroizing;

use super::jwk::PublicJwk;

/// Signature algorithms jwtd signs with. Symmetric algorithms and `none` are not representable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    Rs256,
    Es256,
    EdDsa,
}

impl Algorithm {
    pub const ALL: [Algorithm; 3] = [Self::Rs256, Self::Es256, Self::EdDsa];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Rs256 => "RS256",
            Self::Es256 => "ES256",
            Self::EdDsa => "EdDSA",
        }
    }

    /// Exact, case-sensitive names (RFC 7518 §3.1); anything else is refused.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.as_str() == name)
    }
}

/// In configuration, a key's algorithm is read by its exact name too.
impl<'de> serde::Deserialize<'de> for Algorithm {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = String::deserialize(deserializer)?;
        Self::parse(&name)
            .ok_or_else(|| serde::de::Error::custom(format!("{name:?} is not RS256, ES256 or EdDSA")))
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SigningError {
    #[error("unsupported RSA key size {0}; use 2048, 3072 or 4096")]
    KeySize(u32),
    #[error("key generation failed")]
    Generate,
    #[error("stored private key does not parse: {0}")]
    Parse(String),
    #[error("signing failed")]
    Sign,
    #[error("claims do not serialize: {0}")]
    Claims(#[from] serde_json::Error),
}

/// A freshly generated key: its PKCS#8 private half (to be sealed) and its public JWK.
pub struct GeneratedKey {
    pub pkcs8: Zeroizing<Vec<u8>>,
    pub jwk: PublicJwk,
}

/// Generates a key for `alg`; `rsa_bits` matters for RS256 only.
pub fn generate(alg: Algorithm, rsa_bits: u32) -> Result<GeneratedKey, SigningError> {
    let failed = |_| SigningError::Generate;
    match alg {
        Algorithm::Rs256 => {
            let size = match rsa_bits {
                2048 => KeySize::Rsa2048,
                3072 => KeySize::Rsa3072,
                4096 => KeySize::Rsa4096,
                other => return Err(SigningError::KeySize(other)),
            };
            let pair = RsaKeyPair::generate(size).map_err(failed)?;
            let pkcs8 = pair.as_der().map_err(failed)?;
            let public = pair.public_key();
            let jwk = PublicJwk::rsa(
                alg.as_str(),
                public.modulus().big_endian_without_leading_zero(),
                public.exponent().big_endian_without_leading_zero(),
            );
            Ok(GeneratedKey { pkcs8: Zeroizing::new(pkcs8.as_ref().to_vec()), jwk })
        }
        Algorithm::Es256 => {
            let pair = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING).map_err(failed)?;
            let pkcs8 = pair.to_pkcs8v1().map_err(failed)?;
            let jwk = PublicJwk::p256(pair.public_key().as_ref()).ok_or(SigningError::Generate)?;
            Ok(GeneratedKey { pkcs8: Zeroizing::new(pkcs8.as_ref().to_vec()), jwk })
        }
        Algorithm::EdDsa => {
            let pair = Ed25519KeyPair::generate().map_err(failed)?;
            let pkcs8 = pair.to_pkcs8().map_err(failed)?;
            let jwk = PublicJwk::ed25519(pair.public_key().as_ref());
            Ok(GeneratedKey { pkcs8: Zeroizing::new(pkcs8.as_ref().to_vec()), jwk })
        }
    }
}

enum KeyMaterial {
    Rsa(RsaKeyPair),
    Ecdsa(EcdsaKeyPair),
    Ed25519(Ed25519KeyPair),
}

/// The key that signs: parsed once, shared by every request.
pub struct SigningKey {
    kid: String,
    alg: Algorithm,
    material: KeyMaterial,
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey").field("kid", &self.kid).field("alg", &self.alg).finish_non_exhaustive()
    }
}

#[derive(Serialize)]
struct JwsHeader<'a> {
    alg: &'static str,
    typ: &'a str,
    kid: &'a str,
}

impl SigningKey {
    pub fn from_pkcs8(kid: String, alg: Algorithm, pkcs8: &[u8]) -> Result<Self, SigningError> {
        let parse = |e: aws_lc_rs::error::KeyRejected| SigningError::Parse(e.to_string());
        let material = match alg {
            Algorithm::Rs256 => KeyMaterial::Rsa(RsaKeyPair::from_pkcs8(pkcs8).map_err(parse)?),
            Algorithm::Es256 => KeyMaterial::Ecdsa(
                EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8).map_err(parse)?,
            ),
            Algorithm::EdDsa => KeyMaterial::Ed25519(Ed25519KeyPair::from_pkcs8(pkcs8).map_err(parse)?),
        };
        Ok(Self { kid, alg, material })
    }

    pub fn kid(&self) -> &str {
        &self.kid
    }

    pub fn alg(&self) -> Algorithm {
        self.alg
    }

    /// `base64url(header) . base64url(claims) . base64url(signature)` (RFC 7515 §7.1).
    pub fn sign_jwt<C: Serialize>(&self, typ: &str, claims: &C) -> Result<String, SigningError> {
        let header = serde_json::to_vec(&JwsHeader { alg: self.alg.as_str(), typ, kid: &self.kid })?;
        let payload = serde_json::to_vec(claims)?;
        let mut token = String::with_capacity((header.len() + payload.len()) * 4 / 3 + 360);
        URL_SAFE_NO_PAD.encode_string(&header, &mut token);
        token.push('.');
        URL_SAFE_NO_PAD.encode_string(&payload, &mut token);
        let signature = self.sign(token.as_bytes())?;
        token.push('.');
        URL_SAFE_NO_PAD.encode_string(&signature, &mut token);
        Ok(token)
    }

    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, SigningError> {
        let rng = aws_lc_rs::rand::SystemRandom::new();
        match &self.material {
            KeyMaterial::Rsa(pair) => {
                let mut signature = vec![0; pair.public_modulus_len()];
                pair.sign(&RSA_PKCS1_SHA256, &rng, message, &mut signature)
                    .map_err(|_| SigningError::Sign)?;
                Ok(signature)
            }
            KeyMaterial::Ecdsa(pair) => {
                pair.sign(&rng, message).map(|s| s.as_ref().to_vec()).map_err(|_| SigningError::Sign)
            }
            KeyMaterial::Ed25519(pair) => Ok(pair.sign(message).as_ref().to_vec()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::{DecodingKey, Validation, jwk::Jwk};

    /// Every algorithm's tokens verify with jsonwebtoken from the published JWK alone.
    #[test]
    fn every_algorithm_signs_what_its_jwk_verifies() {
        for alg in Algorithm::ALL {
            let generated = generate(alg, 2048).unwrap();
            let key = SigningKey::from_pkcs8(generated.jwk.kid.clone(), alg, &generated.pkcs8).unwrap();
            let token =
                key.sign_jwt("at+jwt", &serde_json::json!({"sub": "s", "exp": 4_000_000_000u64})).unwrap();
            let jwk: Jwk = serde_json::from_value(serde_json::to_value(&generated.jwk).unwrap()).unwrap();
            assert_eq!(jwk.thumbprint(jsonwebtoken::jwk::ThumbprintHash::SHA256).unwrap(), generated.jwk.kid);
            let decoding = DecodingKey::from_jwk(&jwk).unwrap();
            let mut validation = Validation::new(alg_name(alg));
            validation.required_spec_claims.clear();
            jsonwebtoken::decode::<serde_json::Value>(&token, &decoding, &validation).unwrap();
        }
    }

    fn alg_name(alg: Algorithm) -> jsonwebtoken::Algorithm {
        alg.as_str().parse().unwrap()
    }

    #[test]
    fn refuses_weak_or_unknown_choices() {
        assert!(matches!(generate(Algorithm::Rs256, 1024), Err(SigningError::KeySize(1024))));
        for name in ["none", "HS256", "rs256", "RS512", ""] {
            assert_eq!(Algorithm::parse(name), None, "{name}");
        }
    }
}
