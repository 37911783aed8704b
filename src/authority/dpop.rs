//! DPoP proofs (RFC 9449) at jwtd's own endpoints, as operations: the token endpoint's (which
//! key, if any, the tokens of a request are bound to) and a protected endpoint's (`/userinfo`,
//! the admin API: the proof that goes with a DPoP-bound access token).
//!
//! The proof's stateless checks are `jwtd_verify::dpop::check_proof`, the code resource servers
//! run too; `htu` is compared with the URL derived from the issuer (jwtd's public origin), never
//! from the request's `Host`, so jwtd behind a proxy checks what the client signed. What needs
//! state is here: the nonce a client must use (`tokens::dpop`, stateless across instances) and
//! each proof's `jti`, recorded once in the database, so a proof is good once across every
//! instance sharing it. Every outcome is counted (`jwtd_dpop_proofs_total{outcome}`).

use jwtd_verify::dpop::{self, ProofError, ProofRequest};

use super::{Authority, Error, OAuthCode};
use crate::accounts::clients::Client;
use crate::store;
use crate::store::jtis::JtiKind;
use crate::tokens::dpop::{Refusal, nonce, nonce_is_fresh, takes_proof};

/// The path of the token endpoint, whose `htu` is the issuer's origin and this.
pub const TOKEN_PATH: &str = "/oauth2/token";

impl Authority {
    /// The token endpoint's DPoP step for `client`, given the request's `DPoP` header values:
    /// `Ok(None)` for Bearer tokens (no proof where none is required, or DPoP off for the
    /// client), `Ok(Some(jkt))` when the one proof checked and the tokens are bound to its key.
    pub async fn token_request_key(&self, client: &Client, proofs: &[&str]) -> Result<Option<String>, Error> {
        let checked = match takes_proof(client.dpop, proofs.len()) {
            Ok(false) => return Ok(None),
            Ok(true) => proofs.first().copied().unwrap_or_default(),
            Err(refusal) => {
                self.count_proof(refusal_label(refusal));
                return Err(Error::oauth(OAuthCode::InvalidDpopProof, refusal.description()));
            }
        };
        let url = format!("{}{TOKEN_PATH}", self.issuer.issuer);
        let request = ProofRequest { method: "POST", url: &url, access_token: None };
        self.accept_proof(checked, &request, client.dpop_nonce).await.map(Some)
    }

    /// A protected endpoint's DPoP step: the request's one proof, for `method` and `path` at
    /// jwtd's public origin, made for `access_token`; the key's thumbprint, which the caller
    /// compares with the token's `cnf.jkt`.
    pub async fn resource_request_key(
        &self,
        proof: &str,
        (method, path): (&str, &str),
        access_token: &str,
    ) -> Result<String, Error> {
        let url = format!("{}{path}", self.issuer.issuer);
        let request = ProofRequest { method, url: &url, access_token: Some(access_token) };
        self.accept_proof(proof, &request, false).await
    }

    /// A fresh nonce (RFC 9449 §8), good at every instance for one to two minutes.
    pub fn dpop_nonce(&self) -> String {
        nonce(&self.keys.lifecycle.master, self.clock.now())
    }

    /// Checks `proof` for `request`, its nonce when `nonce_required`, and records its `jti`.
    async fn accept_proof(
        &self,
        proof: &str,
        request: &ProofRequest<'_>,
        nonce_required: bool,
    ) -> Result<String, Error> {
        let now = self.clock.now();
        let checked = dpop::check_proof(proof, request, &self.dpop, u64::try_from(now).unwrap_or(0))
            .map_err(|refusal| self.proof_refused(refusal))?;
        let master = &self.keys.lifecycle.master;
        if nonce_required && !checked.nonce.as_deref().is_some_and(|n| nonce_is_fresh(master, n, now)) {
            self.count_proof("use_nonce");
            return Err(Error::UseDpopNonce { nonce: self.dpop_nonce() });
        }
        // Kept as long as the proof could be accepted: its iat plus the acceptance window.
        let window = i64::try_from(self.dpop.window().as_secs()).unwrap_or(i64::MAX);
        let expires_at = i64::try_from(checked.iat).unwrap_or(now).saturating_add(window);
        let (jkt, jti) = (checked.jkt.clone(), checked.jti);
        let first_use = self
            .with_conn(move |conn| {
                Ok(store::jtis::use_once(conn, JtiKind::DpopProof, &jkt, &jti, expires_at)?)
            })
            .await?;
        if !first_use {
            return Err(self.proof_refused(ProofError::Replayed));
        }
        self.count_proof("accepted");
        Ok(checked.jkt)
    }

    fn proof_refused(&self, refusal: ProofError) -> Error {
        self.count_proof(proof_error_label(refusal));
        log::info!("DPoP proof refused: {refusal}");
        Error::oauth(OAuthCode::InvalidDpopProof, proof_error_description(refusal))
    }

    fn count_proof(&self, outcome: &str) {
        self.metrics.dpop_proofs.with_label_values(&[outcome]).inc();
    }
}

fn refusal_label(refusal: Refusal) -> &'static str {
    match refusal {
        Refusal::ProofRequired => "missing",
        Refusal::SeveralProofs => "several",
    }
}

/// The metric label of a refused proof: one per kind of check, a small fixed set.
fn proof_error_label(refusal: ProofError) -> &'static str {
    match refusal {
        ProofError::Replayed => "replayed",
        ProofError::IssuedInFuture | ProofError::TooOld => "iat",
        ProofError::MethodMismatch | ProofError::UrlMismatch => "htm_htu",
        ProofError::MissingTokenHash | ProofError::TokenHashMismatch | ProofError::UnexpectedTokenHash => {
            "ath"
        }
        ProofError::BadSignature => "signature",
        ProofError::UnsupportedAlgorithm => "algorithm",
        ProofError::PrivateKey | ProofError::MissingKey | ProofError::InvalidKey => "key",
        _ => "malformed",
    }
}

/// What the client hears: which check failed, never what the proof said.
fn proof_error_description(refusal: ProofError) -> &'static str {
    match refusal {
        ProofError::Replayed => "the DPoP proof was used before; make a new one for each request",
        ProofError::IssuedInFuture | ProofError::TooOld => {
            "the DPoP proof's iat is outside the accepted window"
        }
        ProofError::MethodMismatch => "the DPoP proof's htm is not this request's method",
        ProofError::UrlMismatch => "the DPoP proof's htu is not this endpoint's URL",
        ProofError::MissingTokenHash | ProofError::TokenHashMismatch => {
            "the DPoP proof's ath does not match the access token"
        }
        ProofError::UnexpectedTokenHash => "a DPoP proof at the token endpoint carries no ath",
        ProofError::BadSignature => "the DPoP proof's signature does not verify with the key in its header",
        ProofError::UnsupportedAlgorithm => "the DPoP proof's alg is not supported",
        ProofError::PrivateKey => "the DPoP proof's jwk holds private key material",
        ProofError::MissingKey | ProofError::InvalidKey => "the DPoP proof's jwk is missing or unusable",
        ProofError::WrongType => "the DPoP proof's typ must be dpop+jwt",
        _ => "the DPoP proof is malformed",
    }
}
