//! Why a DPoP proof was refused, one variant per reason.

/// Why a DPoP proof (RFC 9449) was refused. Each refusal has its own variant, so callers and
/// tests can tell them apart; the messages are fixed and never repeat anything the proof held.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProofError {
    #[error("DPoP proof is larger than the allowed maximum")]
    TooLarge,
    /// Not three base64url segments, or a header or claims set that is not one strict JSON
    /// object (a repeated member name included).
    #[error("DPoP proof is not a compact JWS with JSON header and claims")]
    Malformed,
    #[error("DPoP proof type is not dpop+jwt")]
    WrongType,
    /// `none`, an HMAC algorithm, or any algorithm the policy does not list.
    #[error("DPoP proof algorithm is not allowed")]
    UnsupportedAlgorithm,
    #[error("DPoP proof header has no jwk")]
    MissingKey,
    #[error("DPoP proof header jwk holds private key material")]
    PrivateKey,
    /// A `jwk` that is not an object, of another key type than `alg` needs, too small (RSA
    /// under 2048 bits), or whose members do not make a key.
    #[error("DPoP proof header jwk is not a usable public key for its algorithm")]
    InvalidKey,
    #[error("DPoP proof has critical header parameters, none are supported")]
    CriticalHeader,
    #[error("DPoP proof signature does not verify with its jwk")]
    BadSignature,
    #[error("DPoP proof lacks a required claim: {0}")]
    MissingClaim(&'static str),
    #[error("DPoP proof claim has the wrong type or value: {0}")]
    InvalidClaim(&'static str),
    #[error("DPoP proof is for another HTTP method")]
    MethodMismatch,
    #[error("DPoP proof is for another URL")]
    UrlMismatch,
    #[error("DPoP proof was issued in the future")]
    IssuedInFuture,
    #[error("DPoP proof is too old")]
    TooOld,
    #[error("DPoP proof lacks the access token hash (ath)")]
    MissingTokenHash,
    #[error("DPoP proof is for another access token (ath)")]
    TokenHashMismatch,
    #[error("DPoP proof carries an access token hash (ath) where no token is sent")]
    UnexpectedTokenHash,
    /// Its `jti` was seen before within the replay window.
    #[error("DPoP proof was used before")]
    Replayed,
    /// The proof's key is not the one the access token is bound to (`cnf.jkt`).
    #[error("DPoP proof key is not the key the access token is bound to")]
    KeyMismatch,
}
