//! A request's credentials: the `Authorization` scheme (RFC 6750 `Bearer`, RFC 9449 `DPoP`)
//! and, for DPoP, the proof, checked against the token's `cnf.jkt`.
//!
//! The rules, in the order they are applied:
//! - `Bearer <token>`: the token is verified; if it is DPoP-bound (`cnf.jkt`), it is refused
//!   ([`Error::DpopBoundTokenAsBearer`]): sending it as a bearer token is a downgrade. A `DPoP`
//!   header sent with an unbound bearer token is ignored.
//! - `DPoP <token>`: the verifier must have a public origin ([`Error::DpopNotConfigured`]) and
//!   the request a proof ([`Error::DpopProofMissing`]); the token is verified (every check of
//!   [`Verifier::verify`], revocations included) and must be bound ([`Error::NotDpopBound`]);
//!   then the proof is checked for this method, origin + path and token, its key must be the
//!   token's (`KeyMismatch`), and last its `jti` must be new to the replay cache (`Replayed`),
//!   so a refused request never uses up a proof.

use serde::de::DeserializeOwned;

use super::{Verified, Verifier};
use crate::Error;
use crate::claims::AccessClaims;
use crate::dpop::{ProofError, ProofPolicy, ProofRequest, ReplayCache, check_proof, normalize_htu};

/// The DPoP part of a verifier's configuration.
pub(super) struct Dpop {
    pub origin: PublicOrigin,
    pub policy: ProofPolicy,
    pub replay: ReplayCache,
}

/// The origin proofs' `htu` must name, `scheme://host[:port]` without a trailing slash.
pub(super) enum PublicOrigin {
    Unset,
    /// Configured, but not an origin: DPoP requests are refused as a misconfiguration.
    Invalid,
    Valid(String),
}

impl PublicOrigin {
    pub fn parse(origin: &str) -> Self {
        let trimmed = origin.strip_suffix('/').unwrap_or(origin);
        // An origin has no path, query or fragment: its normal form is itself plus "/".
        let is_origin = !trimmed.contains(['?', '#'])
            && trimmed.split_once("://").is_some_and(|(_, authority)| !authority.contains('/'))
            && normalize_htu(trimmed).is_some();
        if is_origin {
            Self::Valid(trimmed.to_owned())
        } else {
            log::error!(
                "jwtd-verify: the public origin is not scheme://host[:port]; DPoP requests will be refused"
            );
            Self::Invalid
        }
    }
}

/// The two schemes a token may be sent with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scheme {
    Bearer,
    Dpop,
}

/// `Authorization: <scheme> <token>`, scheme and token as sent.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Credential<'a> {
    pub scheme: Scheme,
    pub token: &'a str,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CredentialError {
    /// Not `Bearer` or `DPoP` (case-insensitive), or no token after it.
    UnknownScheme,
    /// One of ours, but the token is not an RFC 6750 `b64token`.
    InvalidToken(Scheme),
}

impl<'a> Credential<'a> {
    pub fn parse(authorization: &'a str) -> Result<Self, CredentialError> {
        let (name, token) = authorization.split_once(' ').ok_or(CredentialError::UnknownScheme)?;
        let scheme = if name.eq_ignore_ascii_case("bearer") {
            Scheme::Bearer
        } else if name.eq_ignore_ascii_case("dpop") {
            Scheme::Dpop
        } else {
            return Err(CredentialError::UnknownScheme);
        };
        let token = token.trim_start_matches(' ');
        if !is_b64token(token) {
            return Err(CredentialError::InvalidToken(scheme));
        }
        Ok(Self { scheme, token })
    }
}

/// RFC 6750 §2.1: `b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="`.
fn is_b64token(token: &str) -> bool {
    let body = token.trim_end_matches('=');
    !body.is_empty() && body.bytes().all(|b| b.is_ascii_alphanumeric() || b"-._~+/".contains(&b))
}

impl From<CredentialError> for Error {
    fn from(error: CredentialError) -> Self {
        match error {
            CredentialError::UnknownScheme => Error::UnsupportedScheme,
            CredentialError::InvalidToken(_) => Error::Malformed,
        }
    }
}

/// What the token's binding must fit, decided from the request before the token is read.
enum Binding<'r> {
    Bearer,
    Dpop { proof: &'r str, method: &'r str, url: String, token: &'r str },
}

impl Verifier {
    /// Verifies a request's credentials: `authorization` is the `Authorization` header's value
    /// (`Bearer <token>` or `DPoP <token>`), `dpop` the request's one `DPoP` header if it has
    /// one (a request with several must be refused by the caller), `method` and `path` the
    /// request's (the path as received, percent-encoded; a query is ignored). See the module
    /// documentation of [`crate::dpop`] and the crate's "DPoP" section for what is checked.
    pub async fn verify_request(
        &self,
        authorization: &str,
        dpop: Option<&str>,
        method: &str,
        path: &str,
    ) -> Result<Verified<AccessClaims>, Error> {
        self.verify_credential(Credential::parse(authorization)?, dpop, method, path).await
    }

    /// [`Self::verify_request`], decoding the claims as `C` like [`Self::verify_as`].
    pub async fn verify_request_as<C: DeserializeOwned>(
        &self,
        authorization: &str,
        dpop: Option<&str>,
        method: &str,
        path: &str,
    ) -> Result<Verified<C>, Error> {
        self.verify_credential_as(Credential::parse(authorization)?, dpop, method, path).await
    }

    pub(crate) async fn verify_credential(
        &self,
        credential: Credential<'_>,
        dpop: Option<&str>,
        method: &str,
        path: &str,
    ) -> Result<Verified<AccessClaims>, Error> {
        let binding = self.binding(credential, dpop, method, path)?;
        let bound = |jkt: Option<&str>| self.check_binding(&binding, jkt);
        let claims = self
            .verify_with(credential.token, &|payload, kid| self.access_claims(payload, kid, &bound))
            .await?;
        Ok(Verified { scope: claims.scope.clone(), claims })
    }

    pub(crate) async fn verify_credential_as<C: DeserializeOwned>(
        &self,
        credential: Credential<'_>,
        dpop: Option<&str>,
        method: &str,
        path: &str,
    ) -> Result<Verified<C>, Error> {
        let binding = self.binding(credential, dpop, method, path)?;
        let bound = |jkt: Option<&str>| self.check_binding(&binding, jkt);
        self.verify_with(credential.token, &|payload, kid| self.claims_as(payload, kid, &bound)).await
    }

    /// Whether DPoP requests can be verified (a valid public origin is configured).
    #[cfg(feature = "actix")]
    pub(crate) fn accepts_dpop(&self) -> bool {
        matches!(self.inner.dpop.origin, PublicOrigin::Valid(_))
    }

    /// The proof algorithms, as a `DPoP` challenge's `algs`.
    #[cfg(feature = "actix")]
    pub(crate) fn dpop_algorithm_names(&self) -> String {
        self.inner.dpop.policy.algorithm_names()
    }

    /// For a DPoP request, the proof and the public URL (origin + path) it must name.
    fn binding<'r>(
        &self,
        credential: Credential<'r>,
        dpop: Option<&'r str>,
        method: &'r str,
        path: &str,
    ) -> Result<Binding<'r>, Error> {
        if credential.scheme == Scheme::Bearer {
            return Ok(Binding::Bearer);
        }
        let PublicOrigin::Valid(origin) = &self.inner.dpop.origin else {
            return Err(Error::DpopNotConfigured);
        };
        let proof = dpop.ok_or(Error::DpopProofMissing)?;
        let slash = if path.starts_with('/') { "" } else { "/" };
        Ok(Binding::Dpop { proof, method, url: format!("{origin}{slash}{path}"), token: credential.token })
    }

    fn check_binding(&self, binding: &Binding<'_>, jkt: Option<&str>) -> Result<(), Error> {
        let (proof, request) = match binding {
            Binding::Bearer if jkt.is_some() => return Err(Error::DpopBoundTokenAsBearer),
            Binding::Bearer => return Ok(()),
            Binding::Dpop { proof, method, url, token } => {
                (proof, ProofRequest { method, url, access_token: Some(token) })
            }
        };
        let jkt = jkt.ok_or(Error::NotDpopBound)?;
        let now = u64::try_from(self.inner.clock.now()).unwrap_or(0);
        let dpop = &self.inner.dpop;
        let proof = check_proof(proof, &request, &dpop.policy, now).map_err(Error::Dpop)?;
        if proof.jkt != jkt {
            return Err(Error::Dpop(ProofError::KeyMismatch));
        }
        dpop.replay.check_and_remember(&proof.jkt, &proof.jti, now).map_err(Error::Dpop)
    }
}
