//! `private_key_jwt`: authenticating a client by an assertion signed with its own key (RFC 7523
//! §2.2). The pure checks are [`crate::tokens::client_assertion`]'s; this operation finds the
//! client and its keys, and makes each assertion good once (its `jti` recorded until it
//! expires, in the database all instances share). A refusal says what to fix, is counted by
//! reason, and is audited when it names a known client.

use std::sync::Arc;

use serde_json::json;

use super::remote_jwks::RemoteJwksError;
use super::{Authority, Error, OAuthCode};
use crate::accounts::clients::{AuthMethod, Client};
use crate::store;
use crate::tokens::client_assertion::{self, Refused};

fn refused(reason: impl Into<std::borrow::Cow<'static, str>>) -> Error {
    Error::oauth(OAuthCode::InvalidClient, reason)
}

impl Authority {
    /// The client that signed `assertion` (`client_assertion`), which must be `client_id` when the
    /// request named one.
    pub async fn authenticate_with_assertion(
        &self,
        client_id: Option<&str>,
        assertion: &str,
    ) -> Result<Client, Error> {
        let Some(claimed) = client_assertion::claimed_client(assertion) else {
            return Err(self.assertion_refused(None, &Refused::Malformed).await);
        };
        if client_id.is_some_and(|id| id != claimed) {
            return Err(refused("client_id is not the client_assertion's iss"));
        }
        let client = self.client_row(&claimed).await?.map(|row| row.to_client());
        let client = match client {
            Some(client) if client.auth_method == AuthMethod::PrivateKeyJwt && !client.disabled => client,
            Some(client) if client.auth_method != AuthMethod::PrivateKeyJwt => {
                self.metrics.client_assertions.with_label_values(&["wrong_method"]).inc();
                return Err(refused("this client is not registered for private_key_jwt"));
            }
            _ => {
                self.metrics.client_assertions.with_label_values(&["unknown_client"]).inc();
                return Err(refused("client authentication failed"));
            }
        };
        let now = self.clock.now();
        let keys = match (&client.jwks, &client.jwks_uri) {
            (Some(keys), _) => Arc::new(keys.clone()),
            (None, Some(uri)) => {
                let kid = client_assertion::key_id(assertion);
                match self.remote_jwks.key_set(uri, kid.as_deref(), now).await {
                    Ok(keys) => keys,
                    Err(RemoteJwksError::UnknownKid(_)) => {
                        return Err(self.assertion_refused(Some(&client), &Refused::UnknownKey).await);
                    }
                    Err(e) => {
                        self.metrics.client_assertions.with_label_values(&["keys_unavailable"]).inc();
                        return Err(refused(format!(
                            "the client's keys could not be read from its jwks_uri: {e}"
                        )));
                    }
                }
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
        let first_use =
            self.with_conn(move |conn| Ok(store::assertions::use_once(conn, &id, &jti, expires_at)?)).await?;
        if !first_use {
            return Err(self.assertion_refused(Some(&client), &Refused::Replayed).await);
        }
        self.metrics.client_assertions.with_label_values(&["accepted"]).inc();
        Ok(client)
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
