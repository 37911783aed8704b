//! Signing keys and JWS compact serialization.
//!
//! jwtd signs with aws-lc-rs directly instead of `jsonwebtoken::encode`: that function parses
//! and copies the private key on every call and takes RSA keys only as PKCS#1, while aws-lc-rs
//! generates PKCS#8. Here the key is parsed once, when the key ring loads. Verification (in
//! tests and in `jwtd-verify`) still goes through jsonwebtoken.

use std::fmt;

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rsa::{KeyPair as RsaKeyPair, KeySize};
use aws_lc_rs::signature::{KeyPair, RSA_PKCS1_SHA256};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Serialize;
use zeroize::Zeroizing;

use super::jwk::PublicJwk;

/// Signature algorithms jwtd signs with. Symmetric and `none` algorithms are not representable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    Rs256,
}

impl Algorithm {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Rs256 => "RS256",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "RS256" => Some(Self::Rs256),
            _ => None,
        }
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

pub fn generate(alg: Algorithm, rsa_bits: u32) -> Result<GeneratedKey, SigningError> {
    let size = match rsa_bits {
        2048 => KeySize::Rsa2048,
        3072 => KeySize::Rsa3072,
        4096 => KeySize::Rsa4096,
        other => return Err(SigningError::KeySize(other)),
    };
    let pair = RsaKeyPair::generate(size).map_err(|_| SigningError::Generate)?;
    let pkcs8 = pair.as_der().map_err(|_| SigningError::Generate)?;
    let public = pair.public_key();
    let jwk = PublicJwk::rsa(
        alg.as_str(),
        public.modulus().big_endian_without_leading_zero(),
        public.exponent().big_endian_without_leading_zero(),
    );
    Ok(GeneratedKey { pkcs8: Zeroizing::new(pkcs8.as_ref().to_vec()), jwk })
}

/// The key that signs: parsed once, shared by every request.
pub struct SigningKey {
    kid: String,
    alg: Algorithm,
    pair: RsaKeyPair,
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
        let pair = RsaKeyPair::from_pkcs8(pkcs8).map_err(|e| SigningError::Parse(e.to_string()))?;
        Ok(Self { kid, alg, pair })
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
        let mut signature = vec![0; self.pair.public_modulus_len()];
        let rng = aws_lc_rs::rand::SystemRandom::new();
        self.pair
            .sign(&RSA_PKCS1_SHA256, &rng, token.as_bytes(), &mut signature)
            .map_err(|_| SigningError::Sign)?;
        token.push('.');
        URL_SAFE_NO_PAD.encode_string(&signature, &mut token);
        Ok(token)
    }
}
