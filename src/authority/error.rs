//! What an operation can fail with, in the operation's terms. The HTTP edge maps each variant
//! to one answer (`http::error`); the CLI prints it. Causes stay inside the error, never in a
//! client's answer.

use std::borrow::Cow;

use crate::keys::KeyRingError;
use crate::store::StoreError;

/// Error codes of RFC 6749 §5.2, and RFC 7009 §2.2.1's `unsupported_token_type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OAuthCode {
    InvalidRequest,
    InvalidClient,
    InvalidGrant,
    UnauthorizedClient,
    UnsupportedGrantType,
    InvalidScope,
    UnsupportedTokenType,
    /// RFC 8707 §2, RFC 8693 §2.2.2: the requested resource or audience is not acceptable.
    InvalidTarget,
    /// RFC 9449 §5: the DPoP proof is missing where required, or invalid.
    InvalidDpopProof,
}

impl OAuthCode {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InvalidRequest => "invalid_request",
            Self::InvalidClient => "invalid_client",
            Self::InvalidGrant => "invalid_grant",
            Self::UnauthorizedClient => "unauthorized_client",
            Self::UnsupportedGrantType => "unsupported_grant_type",
            Self::InvalidScope => "invalid_scope",
            Self::UnsupportedTokenType => "unsupported_token_type",
            Self::InvalidTarget => "invalid_target",
            Self::InvalidDpopProof => "invalid_dpop_proof",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Storage failed or is unreachable: retry later.
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("key ring: {0}")]
    Keys(#[from] KeyRingError),
    /// The blocking task running the operation's statements did not finish.
    #[error("blocking task: {0}")]
    Interrupted(String),
    /// A fault of jwtd itself.
    #[error("internal: {0}")]
    Internal(String),
    /// No such thing (a client, a user, a key), named by what it is.
    #[error("no such {0}")]
    NotFound(&'static str),
    /// The request asks for something malformed or out of bounds.
    #[error("{0}")]
    Invalid(Cow<'static, str>),
    /// Too many failed logins for this account or address: retry after this many seconds.
    #[error("too many failed attempts")]
    Throttled { retry_after: i64 },
    /// A bounded queue (password hashing) is full: retry shortly.
    #[error("busy")]
    Busy,
    /// The request conflicts with the present state (an email taken, a key that signs), named by
    /// a stable `code`; `retry_at` when the conflict ends by itself then (a rotation asked for
    /// before the next key may sign).
    #[error("{description}")]
    Conflict { code: &'static str, description: Cow<'static, str>, retry_at: Option<i64> },
    /// The DPoP proof lacks a fresh server-provided nonce (RFC 9449 §8): `use_dpop_nonce`, with
    /// the nonce to use in the `DPoP-Nonce` header.
    #[error("use_dpop_nonce")]
    UseDpopNonce { nonce: String },
    /// An OAuth protocol error, answered as RFC 6749 §5.2 says.
    #[error("{}: {description}", code.as_str())]
    OAuth { code: OAuthCode, description: Cow<'static, str> },
}

impl Error {
    pub fn oauth(code: OAuthCode, description: impl Into<Cow<'static, str>>) -> Self {
        Self::OAuth { code, description: description.into() }
    }

    pub fn internal(cause: &dyn std::fmt::Display) -> Self {
        Self::Internal(cause.to_string())
    }

    /// A conflict that waiting does not resolve.
    pub fn conflict(code: &'static str, description: impl Into<Cow<'static, str>>) -> Self {
        Self::Conflict { code, description: description.into(), retry_at: None }
    }

    /// A request whose `cause` (a validation error) makes it malformed.
    pub fn invalid(cause: &dyn std::fmt::Display) -> Self {
        Self::Invalid(cause.to_string().into())
    }
}

impl From<diesel::result::Error> for Error {
    fn from(e: diesel::result::Error) -> Self {
        Self::Store(StoreError::Query(e))
    }
}
