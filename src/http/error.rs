//! The one error policy of the HTTP API.
//!
//! Every error answers JSON of one shape, `{"error": code, "error_description": text}`: RFC 6749
//! §5.2 at the token endpoint, and the same shape everywhere else. The body never carries an
//! internal cause: a server-side failure keeps its cause inside the error ([`ApiError::Fault`])
//! to the one place that logs it, with the request's method and path ([`super::json_errors`]).
//! Storage failures answer 503, so clients retry.

use std::borrow::Cow;
use std::fmt;

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;

pub use crate::authority::OAuthCode;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BearerError {
    InvalidToken,
    InsufficientScope,
    /// RFC 9449 §7.1: the DPoP proof is missing, invalid, or proves another key.
    InvalidDpopProof,
}

#[derive(Debug)]
pub enum ApiError {
    /// `invalid_client` answers 401 with a Basic challenge (RFC 6749 §5.2, RFC 9110 §15.5.2:
    /// a 401 always names a scheme), whichever way the client tried to authenticate.
    OAuth { code: OAuthCode, description: Cow<'static, str> },
    /// RFC 6750: a protected endpoint without a valid bearer token (401), or with one that
    /// lacks `scope` (403). `error` is `None` when no token was sent (RFC 6750 §3.1): the
    /// challenge then names both schemes. `dpop`: the token came with the DPoP scheme, whose
    /// challenge answers (RFC 9449 §7.1).
    Bearer { error: Option<BearerError>, scope: Option<&'static str>, dpop: bool },
    /// RFC 9449 §8: the token endpoint wants a DPoP proof with this nonce (400 `use_dpop_nonce`,
    /// the nonce in `DPoP-Nonce`).
    UseDpopNonce { nonce: String },
    /// Too many failed logins for this account or address: 429 with `Retry-After`.
    Throttled { retry_after: i64 },
    /// Storage is unreachable or failed; the cause was logged where it happened.
    Unavailable,
    /// A fault of jwtd itself; the cause was logged where it happened.
    Internal,
    /// A server-side failure with its cause: answered as `Unavailable` (503, retry) or
    /// `Internal` (500), and logged once, where the answer leaves, with method and path.
    Fault { retry: bool, cause: String },
    /// Any other status with a stable code, e.g. 404 `not_found`.
    Status { status: StatusCode, code: &'static str, description: Cow<'static, str> },
}

impl ApiError {
    pub fn oauth(code: OAuthCode, description: impl Into<Cow<'static, str>>) -> Self {
        Self::OAuth { code, description: description.into() }
    }

    pub fn invalid_request(description: impl Into<Cow<'static, str>>) -> Self {
        Self::oauth(OAuthCode::InvalidRequest, description)
    }

    /// A 401 for a refused access token, in the scheme it came with.
    pub fn bearer(error: BearerError, dpop: bool) -> Self {
        Self::Bearer { error: Some(error), scope: None, dpop }
    }

    pub fn invalid_client() -> Self {
        Self::oauth(OAuthCode::InvalidClient, "client authentication failed")
    }

    /// An opaque 500 whose cause is logged with the request.
    pub fn internal(cause: &dyn fmt::Display) -> Self {
        Self::Fault { retry: false, cause: format!("internal error: {cause}") }
    }

    /// An opaque 503 whose cause is logged with the request.
    pub fn unavailable(cause: &dyn fmt::Display) -> Self {
        Self::Fault { retry: true, cause: cause.to_string() }
    }

    /// The cause of a server-side failure, for the log.
    pub fn cause(&self) -> Option<&str> {
        match self {
            Self::Fault { cause, .. } => Some(cause),
            _ => None,
        }
    }

    /// The JSON body this error answers with, for a bare status (used for errors actix raises
    /// before a handler runs: 404, 405, 413, malformed bodies).
    pub fn for_status(status: StatusCode) -> Self {
        let (code, description) = match status {
            StatusCode::NOT_FOUND => ("not_found", "no such endpoint"),
            StatusCode::METHOD_NOT_ALLOWED => ("method_not_allowed", "method not allowed on this endpoint"),
            StatusCode::PAYLOAD_TOO_LARGE => ("request_too_large", "request body too large"),
            StatusCode::UNSUPPORTED_MEDIA_TYPE => ("unsupported_media_type", "unsupported content type"),
            StatusCode::SERVICE_UNAVAILABLE => return Self::Unavailable,
            s if s.is_server_error() => return Self::Internal,
            _ => ("invalid_request", "malformed request"),
        };
        Self::Status { status, code, description: Cow::Borrowed(description) }
    }

    pub fn code(&self) -> &str {
        match self {
            Self::OAuth { code, .. } => code.as_str(),
            Self::Bearer { error: None, .. } => "unauthorized",
            Self::Bearer { error: Some(BearerError::InvalidToken), .. } => "invalid_token",
            Self::Bearer { error: Some(BearerError::InsufficientScope), .. } => "insufficient_scope",
            Self::Bearer { error: Some(BearerError::InvalidDpopProof), .. } => "invalid_dpop_proof",
            Self::UseDpopNonce { .. } => "use_dpop_nonce",
            Self::Throttled { .. } => "too_many_attempts",
            Self::Unavailable | Self::Fault { retry: true, .. } => "temporarily_unavailable",
            Self::Internal | Self::Fault { retry: false, .. } => "server_error",
            Self::Status { code, .. } => code,
        }
    }

    pub fn description(&self) -> &str {
        match self {
            Self::OAuth { description, .. } | Self::Status { description, .. } => description,
            Self::Bearer { error: None, .. } => "a bearer access token is required",
            Self::Bearer { error: Some(BearerError::InvalidToken), .. } => "the access token is invalid",
            Self::Bearer { error: Some(BearerError::InsufficientScope), .. } => {
                "the access token lacks the required scope"
            }
            Self::Bearer { error: Some(BearerError::InvalidDpopProof), .. } => {
                "the DPoP proof is missing or invalid, or proves another key than the token's"
            }
            Self::UseDpopNonce { .. } => "send a DPoP proof with the nonce in the DPoP-Nonce header",
            Self::Throttled { .. } => "too many failed attempts; retry later",
            Self::Unavailable | Self::Fault { retry: true, .. } => {
                "the service is temporarily unavailable; retry shortly"
            }
            Self::Internal | Self::Fault { retry: false, .. } => "internal error",
        }
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code(), self.description())
    }
}

impl From<crate::authority::Error> for ApiError {
    fn from(e: crate::authority::Error) -> Self {
        use crate::authority::Error;
        match e {
            Error::Store(e) => Self::unavailable(&format!("storage: {e}")),
            Error::Keys(e) => Self::unavailable(&format!("key ring: {e}")),
            Error::Interrupted(cause) => Self::unavailable(&format!("blocking task failed: {cause}")),
            Error::Internal(cause) => Self::internal(&cause),
            Error::NotFound(what) => Self::Status {
                status: StatusCode::NOT_FOUND,
                code: "not_found",
                description: format!("no such {what}").into(),
            },
            Error::Invalid(description) => {
                Self::Status { status: StatusCode::BAD_REQUEST, code: "invalid_request", description }
            }
            Error::Conflict { code, description, retry_at: _ } => {
                Self::Status { status: StatusCode::CONFLICT, code, description }
            }
            Error::OAuth { code, description } => Self::OAuth { code, description },
            Error::UseDpopNonce { nonce } => Self::UseDpopNonce { nonce },
            Error::Throttled { retry_after } => Self::Throttled { retry_after },
            Error::Busy => Self::unavailable(&"password hashing queue full: refusing a login"),
        }
    }
}

impl From<actix_web::error::BlockingError> for ApiError {
    fn from(e: actix_web::error::BlockingError) -> Self {
        Self::unavailable(&format!("blocking task failed: {e}"))
    }
}

/// The proof algorithms jwtd accepts, as a challenge's `algs` lists them.
fn dpop_algs() -> String {
    jwtd_verify::dpop::ProofPolicy::default().algorithm_names()
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    error: &'a str,
    error_description: &'a str,
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::OAuth { code: OAuthCode::InvalidClient, .. } => StatusCode::UNAUTHORIZED,
            Self::OAuth { .. } | Self::UseDpopNonce { .. } => StatusCode::BAD_REQUEST,
            Self::Bearer { error: Some(BearerError::InsufficientScope), .. } => StatusCode::FORBIDDEN,
            Self::Bearer { .. } => StatusCode::UNAUTHORIZED,
            Self::Throttled { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::Unavailable | Self::Fault { retry: true, .. } => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal | Self::Fault { retry: false, .. } => StatusCode::INTERNAL_SERVER_ERROR,
            Self::Status { status, .. } => *status,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = HttpResponse::build(self.status_code());
        response.insert_header((header::CACHE_CONTROL, HeaderValue::from_static("no-store")));
        match self {
            Self::OAuth { code: OAuthCode::InvalidClient, .. } => {
                response.insert_header((
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Basic realm=\"jwtd\""),
                ));
            }
            Self::Bearer { error, scope, dpop } => {
                let dpop_challenge = format!("DPoP realm=\"jwtd\", algs=\"{}\"", dpop_algs());
                let mut challenge =
                    if *dpop { dpop_challenge.clone() } else { String::from("Bearer realm=\"jwtd\"") };
                if error.is_some() {
                    challenge.push_str(&format!(", error=\"{}\"", self.code()));
                }
                if let Some(scope) = scope {
                    challenge.push_str(&format!(", scope=\"{scope}\""));
                }
                if let Ok(value) = HeaderValue::from_str(&challenge) {
                    response.insert_header((header::WWW_AUTHENTICATE, value));
                }
                // No credentials at all: both schemes are offered (RFC 9449 §7.1).
                if let (None, Ok(value)) = (error, HeaderValue::from_str(&dpop_challenge)) {
                    response.append_header((header::WWW_AUTHENTICATE, value));
                }
            }
            Self::UseDpopNonce { nonce } => {
                if let Ok(value) = HeaderValue::from_str(nonce) {
                    response.insert_header((super::dpop::DPOP_NONCE, value));
                }
            }
            Self::Throttled { retry_after } => {
                if let Ok(value) = HeaderValue::from_str(&(*retry_after).max(1).to_string()) {
                    response.insert_header((header::RETRY_AFTER, value));
                }
            }
            Self::Unavailable | Self::Fault { retry: true, .. } => {
                response.insert_header((header::RETRY_AFTER, HeaderValue::from_static("1")));
            }
            _ => {}
        }
        response.json(ErrorBody { error: self.code(), error_description: self.description() })
    }
}
