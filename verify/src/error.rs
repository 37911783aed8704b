//! The one error type of this crate.
//!
//! Messages are fixed strings: they never repeat a token, a claim value or a key, so an error
//! can be logged or shown without leaking what an attacker sent or what a token carried.

/// Why a token was refused, or why the key set or the revocation feed could not be refreshed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    // --- the token's shape ---
    #[error("token is larger than the allowed maximum")]
    TokenTooLarge,
    #[error("token is not a compact JWS (three base64url segments)")]
    Malformed,
    #[error("token header is not a valid JSON object")]
    MalformedHeader,
    #[error("token claims are not a valid JSON object")]
    MalformedClaims,
    #[error("a JSON member name appears twice")]
    DuplicateMember,

    // --- the header ---
    #[error("signature algorithm is not allowed")]
    AlgorithmNotAllowed,
    #[error("token type is not an access token (typ at+jwt)")]
    WrongType,
    #[error("token has critical header parameters, none are supported")]
    CriticalHeader,
    #[error("token header has no usable key id")]
    InvalidKeyId,

    // --- keys and signature ---
    #[error("no key with the token's key id is known")]
    UnknownKey,
    #[error("the key with the token's key id does not allow the token's algorithm")]
    KeyAlgorithmMismatch,
    #[error("signature does not verify")]
    BadSignature,

    // --- the claims ---
    #[error("a required claim is missing: {0}")]
    MissingClaim(&'static str),
    #[error("a claim has the wrong type or value: {0}")]
    InvalidClaim(&'static str),
    #[error("token has expired")]
    Expired,
    #[error("token is not valid yet")]
    NotYetValid,
    #[error("token was issued in the future")]
    IssuedInFuture,
    #[error("token was issued by another issuer")]
    WrongIssuer,
    #[error("token is not meant for this audience")]
    WrongAudience,
    /// The token's `sid` (refresh family) or signing key (`kid`) is in the revocation feed,
    /// or it was issued before its subject's or its client's not-before time there.
    #[error("token has been revoked")]
    Revoked,

    // --- the request (scheme and DPoP, RFC 9449) ---
    /// The `Authorization` value is neither `Bearer <token>` nor `DPoP <token>`.
    #[error("authorization is not a Bearer or DPoP credential")]
    UnsupportedScheme,
    /// The DPoP proof was refused; the variant says why.
    #[error("DPoP proof refused: {0}")]
    Dpop(crate::dpop::ProofError),
    /// A token bound to a DPoP key (`cnf.jkt`) was sent with the `Bearer` scheme: a downgrade
    /// that would let whoever holds the token use it without the key.
    #[error("a DPoP-bound token was sent as a bearer token")]
    DpopBoundTokenAsBearer,
    #[error("the DPoP scheme was used without a DPoP proof")]
    DpopProofMissing,
    #[error("a token that is not DPoP-bound was sent with the DPoP scheme")]
    NotDpopBound,
    /// A DPoP request reached a verifier without a valid public origin
    /// ([`crate::VerifierBuilder::public_origin`]): the server's fault, not the token's.
    #[error("the verifier is misconfigured: DPoP needs a valid public origin")]
    DpopNotConfigured,

    // --- the key set ---
    #[error("key set request failed: {0}")]
    JwksTransport(String),
    #[error("key set request timed out")]
    JwksTimeout,
    #[error("key set endpoint answered HTTP {0}")]
    JwksStatus(u16),
    #[error("key set response is larger than the allowed maximum")]
    JwksTooLarge,
    #[error("key set document is invalid: {0}")]
    JwksInvalid(&'static str),
    #[error("key set holds private key material")]
    JwksPrivateKey,
    #[error("key set holds no usable signing key")]
    JwksNoUsableKey,
    #[error("discovery document is invalid: {0}")]
    DiscoveryInvalid(&'static str),

    // --- the revocation feed ---
    #[error("revocation feed request failed: {0}")]
    RevocationsTransport(String),
    #[error("revocation feed request timed out")]
    RevocationsTimeout,
    #[error("revocation feed endpoint answered HTTP {0}")]
    RevocationsStatus(u16),
    #[error("revocation feed response is larger than the allowed maximum")]
    RevocationsTooLarge,
    #[error("revocation feed is invalid: {0}")]
    RevocationsInvalid(&'static str),
    /// No feed confirmed within the configured staleness, and the policy is to refuse.
    #[error("revocation feed is stale, tokens cannot be checked against it")]
    RevocationsStale,
}

impl Error {
    /// True when the token itself was refused (an RFC 6750 `invalid_token`, [`Self::Revoked`]
    /// and the DPoP refusals included), false when the fault is ours: the key set or the
    /// revocation feed could not be fetched or was unusable, or DPoP is not configured.
    pub fn is_token_error(&self) -> bool {
        !matches!(
            self,
            Self::JwksTransport(_)
                | Self::JwksTimeout
                | Self::JwksStatus(_)
                | Self::JwksTooLarge
                | Self::JwksInvalid(_)
                | Self::JwksPrivateKey
                | Self::JwksNoUsableKey
                | Self::DiscoveryInvalid(_)
                | Self::RevocationsTransport(_)
                | Self::RevocationsTimeout
                | Self::RevocationsStatus(_)
                | Self::RevocationsTooLarge
                | Self::RevocationsInvalid(_)
                | Self::RevocationsStale
                | Self::DpopNotConfigured
        )
    }
}
