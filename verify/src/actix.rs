//! actix-web integration: the [`Authenticated`] extractor and RFC 6750 error answers.
//!
//! ```ignore
//! async fn invoices(auth: Authenticated) -> Result<HttpResponse, BearerError> {
//!     auth.require_scope("invoices:read")?;
//!     Ok(HttpResponse::Ok().body(format!("hello {}", auth.sub)))
//! }
//! // App::new().app_data(web::Data::new(verifier)).route("/invoices", web::get().to(invoices))
//! ```
//!
//! The token is read from `Authorization: Bearer` only. A token in the query string
//! (RFC 6750 §2.3) is refused: URLs end up in logs, proxies and browser history.

use std::future::Future;
use std::ops::Deref;
use std::pin::Pin;

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{FromRequest, HttpRequest, HttpResponse, ResponseError, dev::Payload, web};
use serde::de::DeserializeOwned;

use crate::claims::{AccessClaims, Scope};
use crate::{Error, Verifier};

/// A request whose bearer token verified. `C` is what the claims decode to: the crate's
/// [`AccessClaims`] by default, or any `Deserialize` type of the application's.
///
/// The [`Verifier`] comes from `web::Data<Verifier>` (or plain app data of type `Verifier`).
#[derive(Debug, Clone)]
pub struct Authenticated<C = AccessClaims> {
    claims: C,
    scope: Scope,
}

impl<C> Authenticated<C> {
    pub fn claims(&self) -> &C {
        &self.claims
    }

    pub fn into_claims(self) -> C {
        self.claims
    }

    pub fn scope(&self) -> &Scope {
        &self.scope
    }

    /// `Ok` when the token was granted `scope`, otherwise the RFC 6750 403 answer naming it.
    pub fn require_scope(&self, scope: &str) -> Result<(), BearerError> {
        if self.scope.contains(scope) {
            Ok(())
        } else {
            Err(BearerError::InsufficientScope(scope.to_owned()))
        }
    }
}

impl<C> Deref for Authenticated<C> {
    type Target = C;

    fn deref(&self) -> &C {
        &self.claims
    }
}

impl<C: DeserializeOwned + 'static> FromRequest for Authenticated<C> {
    type Error = BearerError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, BearerError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let verifier = req
            .app_data::<web::Data<Verifier>>()
            .map(|data| data.get_ref().clone())
            .or_else(|| req.app_data::<Verifier>().cloned());
        let token = bearer_token(req);
        Box::pin(async move {
            let Some(verifier) = verifier else {
                log::error!("jwtd-verify: no Verifier in the app data; add web::Data<Verifier>");
                return Err(BearerError::Misconfigured);
            };
            let verified = verifier.verify_as::<C>(&token?).await.map_err(|error| {
                log::debug!("jwtd-verify: bearer token refused: {error}");
                if error.is_token_error() { BearerError::InvalidToken } else { BearerError::Unavailable }
            })?;
            Ok(Self { claims: verified.claims, scope: verified.scope })
        })
    }
}

/// The token from `Authorization: Bearer <token>`, refusing every other way to send one.
fn bearer_token(req: &HttpRequest) -> Result<String, BearerError> {
    let in_query = req.query_string().split('&').any(|pair| pair.split('=').next() == Some("access_token"));
    if in_query {
        return Err(BearerError::TokenInQuery);
    }
    let mut values = req.headers().get_all(header::AUTHORIZATION);
    let (Some(value), None) = (values.next(), values.next()) else {
        // None, or several (which RFC 6750 §2 forbids): neither is a usable credential.
        return Err(BearerError::MissingToken);
    };
    let value = value.to_str().map_err(|_| BearerError::InvalidToken)?;
    let Some((scheme, token)) = value.split_once(' ') else { return Err(BearerError::MissingToken) };
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(BearerError::MissingToken);
    }
    let token = token.trim_start_matches(' ');
    if !is_b64token(token) {
        return Err(BearerError::InvalidToken);
    }
    Ok(token.to_owned())
}

/// RFC 6750 §2.1: `b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="`.
fn is_b64token(token: &str) -> bool {
    let body = token.trim_end_matches('=');
    !body.is_empty() && body.bytes().all(|b| b.is_ascii_alphanumeric() || b"-._~+/".contains(&b))
}

/// Why a request was not authenticated, as an RFC 6750 answer. No variant says *what* was
/// wrong with a token: that would help whoever is probing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BearerError {
    #[error("no bearer token")]
    MissingToken,
    #[error("bearer token in the query string")]
    TokenInQuery,
    #[error("invalid bearer token")]
    InvalidToken,
    #[error("the token lacks a required scope")]
    InsufficientScope(String),
    #[error("the issuer's keys are unavailable")]
    Unavailable,
    #[error("no verifier configured")]
    Misconfigured,
}

impl BearerError {
    fn parts(&self) -> (&'static str, &'static str, Option<String>) {
        match self {
            Self::MissingToken => {
                ("invalid_request", "an access token is required", Some("Bearer".to_owned()))
            }
            Self::TokenInQuery => (
                "invalid_request",
                "send the access token in the Authorization header, not in the URL",
                Some(r#"Bearer error="invalid_request""#.to_owned()),
            ),
            Self::InvalidToken => (
                "invalid_token",
                "the access token is not valid",
                Some(r#"Bearer error="invalid_token""#.to_owned()),
            ),
            Self::InsufficientScope(scope) => (
                "insufficient_scope",
                "the access token does not grant the required scope",
                Some(format!(r#"Bearer error="insufficient_scope", scope="{}""#, quotable(scope))),
            ),
            Self::Unavailable => ("temporarily_unavailable", "the token cannot be checked right now", None),
            Self::Misconfigured => ("server_error", "the server cannot check tokens", None),
        }
    }
}

/// Keeps only the characters RFC 6749 §3.3 allows in a scope (`NQCHAR` and space), so the
/// quoted string in `WWW-Authenticate` cannot be broken out of.
fn quotable(scope: &str) -> String {
    scope.chars().filter(|&c| c == ' ' || (c.is_ascii_graphic() && c != '"' && c != '\\')).collect()
}

impl ResponseError for BearerError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::MissingToken | Self::TokenInQuery | Self::InvalidToken => StatusCode::UNAUTHORIZED,
            Self::InsufficientScope(_) => StatusCode::FORBIDDEN,
            Self::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            Self::Misconfigured => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let (error, description, challenge) = self.parts();
        let mut response = HttpResponse::build(self.status_code());
        response.insert_header((header::CACHE_CONTROL, HeaderValue::from_static("no-store")));
        if let Some(challenge) = challenge.and_then(|c| HeaderValue::from_str(&c).ok()) {
            response.insert_header((header::WWW_AUTHENTICATE, challenge));
        }
        response.json(serde_json::json!({ "error": error, "error_description": description }))
    }
}

impl From<Error> for BearerError {
    fn from(error: Error) -> Self {
        if error.is_token_error() { Self::InvalidToken } else { Self::Unavailable }
    }
}
