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
//! The token is read from `Authorization: Bearer` or `Authorization: DPoP` (RFC 9449, with its
//! one `DPoP` proof header; the verifier needs a public origin for that, see
//! [`crate::VerifierBuilder::public_origin`]). A token in the query string (RFC 6750 §2.3) is
//! refused: URLs end up in logs, proxies and browser history.
//!
//! Refusals answer as the scheme the client used: `Bearer error="invalid_token"` (RFC 6750),
//! or `DPoP error="invalid_dpop_proof"` / `DPoP error="invalid_token"` with the accepted
//! `algs` (RFC 9449 §7.1). A request without credentials is challenged with both schemes
//! when the verifier accepts DPoP, with `Bearer` alone otherwise.

use std::future::Future;
use std::ops::Deref;
use std::pin::Pin;

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{FromRequest, HttpRequest, HttpResponse, ResponseError, dev::Payload, web};
use serde::de::DeserializeOwned;

use crate::claims::{AccessClaims, Scope};
use crate::verifier::{Credential, CredentialError, Scheme};
use crate::{Error, Verifier};

/// A request whose access token (and, with DPoP, proof) verified. `C` is what the claims decode to: the crate's
/// [`AccessClaims`] by default, or any `Deserialize` type of the application's.
///
/// The [`Verifier`] comes from `web::Data<Verifier>` (or plain app data of type `Verifier`).
#[derive(Debug, Clone)]
pub struct Authenticated<C = AccessClaims> {
    claims: C,
    scope: Scope,
    /// With DPoP, the `algs` of this verifier's challenges.
    dpop_algs: Option<String>,
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

    /// Whether the request came with the DPoP scheme and a proof of the token's key.
    pub fn is_dpop(&self) -> bool {
        self.dpop_algs.is_some()
    }

    /// `Ok` when the token was granted `scope`, otherwise the 403 answer naming it, in the
    /// scheme the request used.
    pub fn require_scope(&self, scope: &str) -> Result<(), BearerError> {
        match &self.dpop_algs {
            _ if self.scope.contains(scope) => Ok(()),
            None => Err(BearerError::InsufficientScope(scope.to_owned())),
            Some(algs) => {
                Err(BearerError::InsufficientDpopScope { scope: scope.to_owned(), algs: algs.clone() })
            }
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
        let Some(verifier) = verifier else {
            log::error!("jwtd-verify: no Verifier in the app data; add web::Data<Verifier>");
            return Box::pin(std::future::ready(Err(BearerError::Misconfigured)));
        };
        let request = RequestCredentials::read(req, &verifier);
        let (method, path) = (req.method().as_str().to_owned(), req.path().to_owned());
        Box::pin(async move {
            let RequestCredentials { scheme, token, proof } = request?;
            let credential = Credential { scheme, token: &token };
            let verified = verifier
                .verify_credential_as::<C>(credential, proof.as_deref(), &method, &path)
                .await
                .map_err(|error| {
                    log::debug!("jwtd-verify: request refused: {error}");
                    refusal(&error, scheme, &verifier)
                })?;
            let dpop_algs = (scheme == Scheme::Dpop).then(|| verifier.dpop_algorithm_names());
            Ok(Self { claims: verified.claims, scope: verified.scope, dpop_algs })
        })
    }
}

/// A request's token and DPoP proof, copied out of it.
struct RequestCredentials {
    scheme: Scheme,
    token: String,
    proof: Option<String>,
}

impl RequestCredentials {
    /// The token from `Authorization: Bearer|DPoP <token>` and, for DPoP, the one `DPoP`
    /// header; every other way to send a token is refused.
    fn read(req: &HttpRequest, verifier: &Verifier) -> Result<Self, BearerError> {
        let in_query =
            req.query_string().split('&').any(|pair| pair.split('=').next() == Some("access_token"));
        if in_query {
            return Err(BearerError::TokenInQuery);
        }
        let missing = || {
            if verifier.accepts_dpop() {
                BearerError::MissingCredentials { dpop_algs: verifier.dpop_algorithm_names() }
            } else {
                BearerError::MissingToken
            }
        };
        let mut values = req.headers().get_all(header::AUTHORIZATION);
        let (Some(value), None) = (values.next(), values.next()) else {
            // None, or several (which RFC 6750 §2 forbids): neither is a usable credential.
            return Err(missing());
        };
        let value = value.to_str().map_err(|_| BearerError::InvalidToken)?;
        let credential = Credential::parse(value).map_err(|error| match error {
            CredentialError::UnknownScheme => missing(),
            CredentialError::InvalidToken(Scheme::Bearer) => BearerError::InvalidToken,
            CredentialError::InvalidToken(Scheme::Dpop) => {
                BearerError::InvalidDpopToken { algs: verifier.dpop_algorithm_names() }
            }
        })?;
        let proof = match credential.scheme {
            Scheme::Bearer => None,
            Scheme::Dpop => {
                let invalid_proof =
                    || BearerError::InvalidDpopProof { algs: verifier.dpop_algorithm_names() };
                let mut proofs = req.headers().get_all("dpop");
                match (proofs.next(), proofs.next()) {
                    // RFC 9449 §4.3: not more than one DPoP header.
                    (Some(_), Some(_)) => return Err(invalid_proof()),
                    (Some(proof), None) => Some(proof.to_str().map_err(|_| invalid_proof())?.to_owned()),
                    (None, _) => None,
                }
            }
        };
        Ok(Self { scheme: credential.scheme, token: credential.token.to_owned(), proof })
    }
}

/// The answer to a refused request: in the scheme the client used, and for DPoP telling a
/// bad proof from a bad token (RFC 9449 §7.1).
fn refusal(error: &Error, scheme: Scheme, verifier: &Verifier) -> BearerError {
    let algs = || verifier.dpop_algorithm_names();
    match error {
        // A server that does not take DPoP answers as one that never heard of it (a Bearer
        // challenge, never a 500); the operator who meant to take it sees why in the log.
        Error::DpopNotConfigured => {
            log::error!("jwtd-verify: a DPoP request arrived, but the verifier has no valid public origin");
            BearerError::InvalidToken
        }
        Error::Dpop(_) | Error::DpopProofMissing => BearerError::InvalidDpopProof { algs: algs() },
        // The token is good, but only with DPoP: say so in that scheme.
        Error::DpopBoundTokenAsBearer => BearerError::InvalidDpopToken { algs: algs() },
        error if !error.is_token_error() => BearerError::Unavailable,
        _ if scheme == Scheme::Dpop => BearerError::InvalidDpopToken { algs: algs() },
        _ => BearerError::InvalidToken,
    }
}

/// Why a request was not authenticated, as an RFC 6750 or RFC 9449 answer. No variant says
/// *what* was wrong with a token or a proof: that would help whoever is probing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BearerError {
    #[error("no bearer token")]
    MissingToken,
    /// No credentials, and the verifier accepts DPoP too: the challenge names both schemes.
    #[error("no access token")]
    MissingCredentials { dpop_algs: String },
    #[error("bearer token in the query string")]
    TokenInQuery,
    #[error("invalid bearer token")]
    InvalidToken,
    #[error("the token lacks a required scope")]
    InsufficientScope(String),
    /// A DPoP proof missing, repeated or refused.
    #[error("invalid DPoP proof")]
    InvalidDpopProof { algs: String },
    /// A token sent with the DPoP scheme was refused, or a DPoP-bound token came as Bearer.
    #[error("invalid DPoP-bound token")]
    InvalidDpopToken { algs: String },
    /// [`Self::InsufficientScope`] of a DPoP request.
    #[error("the token lacks a required scope")]
    InsufficientDpopScope { scope: String, algs: String },
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
            Self::MissingCredentials { dpop_algs } => (
                "invalid_request",
                "an access token is required",
                Some(format!(r#"Bearer, DPoP algs="{}""#, quotable(dpop_algs))),
            ),
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
            Self::InvalidDpopProof { algs } => (
                "invalid_dpop_proof",
                "the DPoP proof is not valid",
                Some(format!(r#"DPoP error="invalid_dpop_proof", algs="{}""#, quotable(algs))),
            ),
            Self::InvalidDpopToken { algs } => (
                "invalid_token",
                "the access token is not valid",
                Some(format!(r#"DPoP error="invalid_token", algs="{}""#, quotable(algs))),
            ),
            Self::InsufficientDpopScope { scope, algs } => (
                "insufficient_scope",
                "the access token does not grant the required scope",
                Some(format!(
                    r#"DPoP error="insufficient_scope", scope="{}", algs="{}""#,
                    quotable(scope),
                    quotable(algs)
                )),
            ),
            Self::Unavailable => ("temporarily_unavailable", "the token cannot be checked right now", None),
            Self::Misconfigured => ("server_error", "the server cannot check tokens", None),
        }
    }
}

/// Keeps only the characters RFC 6749 §3.3 allows in a scope (`NQCHAR` and space), so the
/// quoted string in `WWW-Authenticate` cannot be broken out of (algorithm names pass as they
/// are).
fn quotable(scope: &str) -> String {
    scope.chars().filter(|&c| c == ' ' || (c.is_ascii_graphic() && c != '"' && c != '\\')).collect()
}

impl ResponseError for BearerError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::MissingToken
            | Self::MissingCredentials { .. }
            | Self::TokenInQuery
            | Self::InvalidToken
            | Self::InvalidDpopProof { .. }
            | Self::InvalidDpopToken { .. } => StatusCode::UNAUTHORIZED,
            Self::InsufficientScope(_) | Self::InsufficientDpopScope { .. } => StatusCode::FORBIDDEN,
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
