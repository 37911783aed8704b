//! Signature algorithms and the public keys that check them.
//!
//! Signatures are checked with aws-lc-rs directly: each key is parsed once, when the key set
//! loads, into a [`ParsedPublicKey`] bound to one algorithm, so a verification is one call
//! into aws-lc and nothing else. A key can only ever check the algorithms its JWK allows,
//! which is what defeats algorithm confusion (an RSA public key used as an HMAC secret): there
//! is no HMAC code path at all.

use std::fmt;

use aws_lc_rs::signature::{
    self, ECDSA_P256_SHA256_FIXED, ECDSA_P384_SHA384_FIXED, ED25519, ParsedPublicKey, RsaParameters,
    RsaPublicKeyComponents, VerificationAlgorithm,
};

/// The asymmetric JWS algorithms (RFC 7518 §3.1, RFC 8037) this crate can check. `none` and the
/// HMAC family are deliberately not representable.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Algorithm {
    Rs256,
    Rs384,
    Rs512,
    Ps256,
    Ps384,
    Ps512,
    Es256,
    Es384,
    EdDsa,
}

/// The JWK key types (`kty`) the algorithms above need.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum KeyType {
    Rsa,
    Ec,
    Okp,
}

impl Algorithm {
    pub const ALL: [Self; 9] = [
        Self::Rs256,
        Self::Rs384,
        Self::Rs512,
        Self::Ps256,
        Self::Ps384,
        Self::Ps512,
        Self::Es256,
        Self::Es384,
        Self::EdDsa,
    ];

    /// The registered name, as it appears in `alg`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Rs256 => "RS256",
            Self::Rs384 => "RS384",
            Self::Rs512 => "RS512",
            Self::Ps256 => "PS256",
            Self::Ps384 => "PS384",
            Self::Ps512 => "PS512",
            Self::Es256 => "ES256",
            Self::Es384 => "ES384",
            Self::EdDsa => "EdDSA",
        }
    }

    /// Exact, case-sensitive match on the registered name: `none`, `NoNe`, `HS256` and
    /// `rs256` are all `None`.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|alg| alg.as_str() == name)
    }

    pub(crate) fn key_type(self) -> KeyType {
        match self {
            Self::Rs256 | Self::Rs384 | Self::Rs512 | Self::Ps256 | Self::Ps384 | Self::Ps512 => KeyType::Rsa,
            Self::Es256 | Self::Es384 => KeyType::Ec,
            Self::EdDsa => KeyType::Okp,
        }
    }

    fn rsa_parameters(self) -> Option<&'static RsaParameters> {
        match self {
            Self::Rs256 => Some(&signature::RSA_PKCS1_2048_8192_SHA256),
            Self::Rs384 => Some(&signature::RSA_PKCS1_2048_8192_SHA384),
            Self::Rs512 => Some(&signature::RSA_PKCS1_2048_8192_SHA512),
            Self::Ps256 => Some(&signature::RSA_PSS_2048_8192_SHA256),
            Self::Ps384 => Some(&signature::RSA_PSS_2048_8192_SHA384),
            Self::Ps512 => Some(&signature::RSA_PSS_2048_8192_SHA512),
            Self::Es256 | Self::Es384 | Self::EdDsa => None,
        }
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A public key parsed for exactly one algorithm.
#[derive(Clone)]
pub struct VerifyingKey {
    algorithm: Algorithm,
    key: ParsedPublicKey,
}

impl fmt::Debug for VerifyingKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VerifyingKey").field("algorithm", &self.algorithm).finish_non_exhaustive()
    }
}

/// Why a key could not be built; the key set loader turns this into "skip this key".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyRejected;

/// RSA moduli below 2048 bits are refused when the key loads, not just when it verifies.
const MIN_RSA_MODULUS_BYTES: usize = 256;

impl VerifyingKey {
    /// An RSA key from its big-endian modulus and exponent (leading zero bytes are tolerated,
    /// as some encoders emit them).
    pub fn rsa(algorithm: Algorithm, n: &[u8], e: &[u8]) -> Result<Self, KeyRejected> {
        let params = algorithm.rsa_parameters().ok_or(KeyRejected)?;
        let n = strip_leading_zeros(n);
        let e = strip_leading_zeros(e);
        if n.len() < MIN_RSA_MODULUS_BYTES || e.is_empty() {
            return Err(KeyRejected);
        }
        let key = RsaPublicKeyComponents { n, e }.to_parsed_public_key(params).map_err(|_| KeyRejected)?;
        Ok(Self { algorithm, key })
    }

    /// An EC key (P-256 for ES256, P-384 for ES384) from its affine coordinates.
    pub fn ec(algorithm: Algorithm, x: &[u8], y: &[u8]) -> Result<Self, KeyRejected> {
        let (verification, coordinate_len): (&'static dyn VerificationAlgorithm, usize) = match algorithm {
            Algorithm::Es256 => (&ECDSA_P256_SHA256_FIXED, 32),
            Algorithm::Es384 => (&ECDSA_P384_SHA384_FIXED, 48),
            _ => return Err(KeyRejected),
        };
        if x.len() != coordinate_len || y.len() != coordinate_len {
            return Err(KeyRejected);
        }
        let mut point = Vec::with_capacity(1 + 2 * coordinate_len);
        point.push(0x04);
        point.extend_from_slice(x);
        point.extend_from_slice(y);
        let key = ParsedPublicKey::new(verification, point).map_err(|_| KeyRejected)?;
        Ok(Self { algorithm, key })
    }

    /// An Ed25519 key (EdDSA, RFC 8037) from its 32-byte public value.
    pub fn ed25519(x: &[u8]) -> Result<Self, KeyRejected> {
        if x.len() != 32 {
            return Err(KeyRejected);
        }
        let key = ParsedPublicKey::new(&ED25519, x).map_err(|_| KeyRejected)?;
        Ok(Self { algorithm: Algorithm::EdDsa, key })
    }

    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    /// Checks `signature` over `message` (the JWS signing input). This is the one function
    /// every token signature goes through; the Wycheproof tests call it too.
    pub fn verify_signature(&self, message: &[u8], signature: &[u8]) -> Result<(), crate::Error> {
        self.key.verify_sig(message, signature).map_err(|_| crate::Error::BadSignature)
    }
}

fn strip_leading_zeros(bytes: &[u8]) -> &[u8] {
    let first = bytes.iter().position(|&b| b != 0).unwrap_or(bytes.len());
    bytes.get(first..).unwrap_or_default()
}
