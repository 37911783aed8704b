//! `private_key_jwt`: authenticating a client by an assertion signed with its own key (RFC 7523
//! §2.2); and workload identity federation, by a token the workload's platform issued. The pure checks are [`crate::tokens::client_assertion`]'s; this operation finds the
//! client and its keys, and makes each assertion good once (its `jti` recorded until it
//! expires, in the database all instances share). A refusal says what to fix, is counted by
//! reason, and is audited when it names a known client.

use std::sync::Arc;

use serde_json::json;

use super::remote_jwks::RemoteJwksError;
use super::{Authority, Error, OAuthCode};
use crate::accounts::clients::workload::SubjectPattern;
use crate::accounts::clients::{AuthMethod, Client};
use crate::store;
use crate::store::jtis::JtiKind;
use crate::tokens::client_assertion::{self, Refused};
use crate::tokens::workload_token::{self, Trust};
use jsonwebtoken::jwk::JwkSet;

fn refused(reason: impl Into<std::borrow::Cow<'static, str>>) -> Error {
    Error::oauth(OAuthCode::InvalidClient, reason)
}

impl Authority {
    /// The client a `client_assertion` authenticates: a `private_key_jwt` client by an assertion
    /// it signed (its `iss` is the client id), or a `workload_identity` client by its workload's
    /// token (found by the token's issuer and subject when the request names no `client_id`).
    pub async fn authenticate_with_assertion(
        &self,
        client_id: Option<&str>,
        assertion: &str,
    ) -> Result<Client, Error> {
        let Some(claimed) = client_assertion::claimed_client(assertion) else {
            return Err(self.assertion_refused(None, &Refused::Malformed).await);
        };
        let client = match client_id {
            Some(id) => self.client_row(id).await?.map(|row| row.to_client()),
            None => match self.client_row(&claimed).await? {
                Some(row) => Some(row.to_client()),
                None => self.workload_client(assertion).await?,
            },
        };
        match client {
            Some(client) if client.disabled => Err(self.unknown_client()),
            Some(client) if client.auth_method == AuthMethod::PrivateKeyJwt => {
                if client_id.is_some_and(|id| id != claimed) {
                    return Err(refused("client_id is not the client_assertion's iss"));
                }
                self.key_assertion(client, assertion).await
            }
            Some(client) if client.auth_method == AuthMethod::WorkloadIdentity => {
                self.workload_assertion(client, assertion).await
            }
            Some(_) => {
                self.metrics.client_assertions.with_label_values(&["wrong_method"]).inc();
                Err(refused("this client is not registered for private_key_jwt or workload_identity"))
            }
            None => Err(self.unknown_client()),
        }
    }

    fn unknown_client(&self) -> Error {
        self.metrics.client_assertions.with_label_values(&["unknown_client"]).inc();
        refused("client authentication failed")
    }

    /// `private_key_jwt`: the assertion verified with the client's keys, its `jti` used once.
    async fn key_assertion(&self, client: Client, assertion: &str) -> Result<Client, Error> {
        let now = self.clock.now();
        let keys = match (&client.jwks, &client.jwks_uri) {
            (Some(keys), _) => Arc::new(keys.clone()),
            (None, Some(uri)) => {
                let fetched =
                    self.remote_jwks.key_set(uri, client_assertion::key_id(assertion).as_deref(), now).await;
                self.fetched_keys(&client, fetched).await?
            }
            (None, None) => return Err(refused("this client has no registered keys")),
        };
        let verified = client_assertion::verify(
            assertion,
            &keys,
            &client.id,
            &self.issuer.issuer,
            now,
            self.leeway_secs,
        );
        let verified = match verified {
            Ok(verified) => verified,
            Err(refusal) => return Err(self.assertion_refused(Some(&client), &refusal).await),
        };
        let (id, jti) = (client.id.clone(), verified.jti.clone());
        let expires_at = verified.exp.saturating_add(self.leeway_secs);
        let first_use = self
            .with_conn(move |conn| {
                Ok(store::jtis::use_once(conn, JtiKind::ClientAssertion, &id, &jti, expires_at)?)
            })
            .await?;
        if !first_use {
            return Err(self.assertion_refused(Some(&client), &Refused::Replayed).await);
        }
        self.metrics.client_assertions.with_label_values(&["accepted"]).inc();
        Ok(client)
    }

    /// `workload_identity`: the workload's token verified with its issuer's keys against what the
    /// client trusts. Workloads reuse their tokens, so `jti` is not single-use here.
    async fn workload_assertion(&self, client: Client, token: &str) -> Result<Client, Error> {
        let Some(trust) = client.workload.clone() else {
            return Err(refused("this client has no workload trust registered"));
        };
        // Another issuer's token is refused before any key is fetched for it.
        if workload_token::claimed_identity(token).is_none_or(|(issuer, _)| issuer != trust.issuer) {
            return Err(self.assertion_refused(Some(&client), &Refused::Untrusted).await);
        }
        let now = self.clock.now();
        let kid = client_assertion::key_id(token);
        let fetched = match &trust.jwks_uri {
            Some(uri) => self.remote_jwks.key_set(uri, kid.as_deref(), now).await,
            None => self.remote_jwks.issuer_key_set(&trust.issuer, kid.as_deref(), now).await,
        };
        let keys = self.fetched_keys(&client, fetched).await?;
        let audience = trust.audience.as_deref().unwrap_or(&self.issuer.issuer);
        let expected = Trust {
            issuer: &trust.issuer,
            audience,
            subject: &trust.subject,
            max_lifetime: trust.max_lifetime,
        };
        match workload_token::verify(token, &keys, &expected, now, self.leeway_secs) {
            Ok(_) => {
                self.metrics.client_assertions.with_label_values(&["accepted"]).inc();
                Ok(client)
            }
            Err(refusal) => Err(self.assertion_refused(Some(&client), &refusal).await),
        }
    }

    /// The client trusting the issuer and subject a workload token claims, if one does.
    async fn workload_client(&self, token: &str) -> Result<Option<Client>, Error> {
        let Some((issuer, subject)) = workload_token::claimed_identity(token) else {
            return Ok(None);
        };
        let trusting =
            self.with_conn(move |conn| Ok(store::clients::trusting_issuer(conn, &issuer)?)).await?;
        let found = trusting
            .into_iter()
            .find(|(_, pattern)| SubjectPattern::parse(pattern).is_ok_and(|p| p.matches(&subject)));
        match found {
            Some((id, _)) => Ok(self.client_row(&id).await?.map(|row| row.to_client())),
            None => Ok(None),
        }
    }

    /// Keys read from a remote: an unknown `kid` is a refused assertion; a remote that cannot be
    /// read says so.
    async fn fetched_keys(
        &self,
        client: &Client,
        fetched: Result<Arc<JwkSet>, RemoteJwksError>,
    ) -> Result<Arc<JwkSet>, Error> {
        match fetched {
            Ok(keys) => Ok(keys),
            Err(RemoteJwksError::UnknownKid(_)) => {
                Err(self.assertion_refused(Some(client), &Refused::UnknownKey).await)
            }
            Err(e) => {
                self.metrics.client_assertions.with_label_values(&["keys_unavailable"]).inc();
                Err(refused(format!("the keys to verify this client's assertion could not be read: {e}")))
            }
        }
    }

    /// Counts a refused assertion and audits it against the client it names (if known); the
    /// error to answer with.
    async fn assertion_refused(&self, client: Option<&Client>, refusal: &Refused) -> Error {
        self.metrics.client_assertions.with_label_values(&[refusal.reason()]).inc();
        if let Some(client) = client {
            let (id, now, reason) = (client.id.clone(), self.clock.now(), refusal.reason());
            let audited = self
                .with_conn(move |conn| {
                    let event = store::audit::AuditEvent {
                        at: now,
                        kind: "client.assertion_refused",
                        actor: Some(&id),
                        subject: Some(&id),
                        ip: None,
                        detail: json!({ "reason": reason }).to_string(),
                    };
                    Ok(store::audit::record(conn, &event)?)
                })
                .await;
            if let Err(e) = audited {
                log::warn!("a refused client assertion could not be audited: {e}");
            }
        }
        refused(refusal.to_string())
    }
}
