//! The token endpoint's grants as operations: a client's own token (`client_credentials`), a
//! password login (RFC 6749 §4.3, throttled), and a refresh (§6, rotating the family's token).
//! The edge parses the request and shapes the answer (body or cookie); everything between is
//! here.

use zeroize::Zeroizing;

use super::families::{self, FamilyError, FamilyOwner, Outcome};
use super::{Authority, Error, OAuthCode};
use crate::accounts::clients::Client;
use crate::accounts::users::User;
use crate::scope::Scope;
use crate::tokens::families::{Origin, Refusal};
use crate::tokens::refresh::RefreshToken;
use crate::tokens::refresh_decision::RefreshRequest;
use crate::tokens::resource::{self, TargetRefusal};
use crate::tokens::{IdTokenFacts, IssuedToken, Requested, TokenFamily};

/// Where a request came from: its client address (as the edge determined it, trusting only
/// configured proxies) and User-Agent (bounded).
#[derive(Debug, Clone, Default)]
pub struct RequestOrigin {
    pub ip: Option<String>,
    pub user_agent: Option<String>,
}

impl RequestOrigin {
    pub fn as_origin(&self) -> Origin<'_> {
        Origin { ip: self.ip.as_deref(), user_agent: self.user_agent.as_deref() }
    }
}

/// What a user's login or refresh hands out.
#[derive(Debug)]
pub struct UserTokens {
    pub access: IssuedToken,
    /// With scope `openid`.
    pub id_token: Option<String>,
    /// `None` for a third-party client's sign-in without `offline_access`.
    pub refresh: Option<RefreshToken>,
    pub refresh_expires_at: i64,
}

fn invalid_refresh() -> Error {
    Error::oauth(OAuthCode::InvalidGrant, "the refresh token is invalid, expired or revoked")
}

impl From<FamilyError> for Error {
    fn from(e: FamilyError) -> Self {
        match e {
            FamilyError::ScopeExceeded => {
                Error::oauth(OAuthCode::InvalidScope, "the requested scope exceeds what was granted")
            }
            FamilyError::TargetNotGranted => Error::from(TargetRefusal::NotGranted),
            FamilyError::KeyMismatch => Error::oauth(
                OAuthCode::InvalidGrant,
                "the refresh token is bound to a DPoP key; send a DPoP proof of that key",
            ),
            FamilyError::Store(e) => e.into(),
            FamilyError::Random => Error::internal(&e),
        }
    }
}

/// The login a user's tokens belong to: its refresh family, as the token endpoint saw it.
pub(super) struct Login<'a> {
    pub family_id: &'a str,
    /// When the user authenticated (`auth_time`).
    pub authenticated_at: i64,
    /// The family's absolute end, which no token outlives.
    pub ends_at: i64,
    /// The authorization request's `nonce`, repeated in the ID token.
    pub nonce: Option<&'a str>,
    /// `None` when the client gets no refresh token (a third-party client without
    /// `offline_access`).
    pub refresh: Option<RefreshToken>,
    pub refresh_expires_at: i64,
    /// The access token's resources (RFC 8707); empty: the client's usual audiences.
    pub resources: Vec<String>,
    /// The DPoP key the request proved (RFC 9449), which the access token is bound to.
    pub dpop_jkt: Option<String>,
}

impl From<TargetRefusal> for Error {
    fn from(refusal: TargetRefusal) -> Self {
        Error::oauth(OAuthCode::InvalidTarget, refusal.description())
    }
}

impl Authority {
    /// `client_credentials`: a token for the client itself, with `scope` (already checked to be
    /// within the client's), for the `resource` it named (RFC 8707; at most one, registered),
    /// bound to the DPoP key the request proved, if any.
    pub async fn issue_for_client(
        &self,
        client: &Client,
        (scope, resource): (Scope, &[&str]),
        dpop_jkt: Option<String>,
    ) -> Result<IssuedToken, Error> {
        let resources = resource::audience(resource, &[], &client.resources)?;
        let now = self.clock.now();
        let ring = self.keys.signer_until(now + self.issuer.access_ttl_secs).await?;
        let requested = Requested { scope, resources, dpop_jkt };
        self.issuer.client_token(&ring.signer, client, requested, now).map_err(|e| Error::internal(&e))
    }

    /// The password grant: throttled per account and address, the same answer for every kind
    /// of failure, a new refresh family on success, granted the `resource` it named (RFC 8707),
    /// bound to the DPoP key the request proved (the family too, when the client's refresh
    /// tokens are bound).
    pub async fn password_login(
        &self,
        client: &Client,
        (username, password): (&str, Zeroizing<String>),
        (scope, resource): (Scope, &[&str]),
        dpop_jkt: Option<String>,
        origin: RequestOrigin,
    ) -> Result<UserTokens, Error> {
        let resources = resource::audience(resource, &[], &client.resources)?;
        let granted = resources.join(" ");
        let authenticated = self.check_password(username, password, &origin).await?;
        let now = self.clock.now();
        let family_policy = self.families;
        let (user_id, client_id, scope_text) =
            (authenticated.user.id.clone(), client.id.clone(), scope.to_string());
        let keys = std::sync::Arc::clone(&self.keys);
        let family_key = dpop_jkt.clone().filter(|_| client.binds_refresh_tokens());
        let (login, authenticated) = self
            .with_conn(move |conn| {
                authenticated.record(conn, now)?;
                let owner = FamilyOwner {
                    user_id: &user_id,
                    client_id: &client_id,
                    scope: &scope_text,
                    session_id: None,
                    auth_time: now,
                    resources: &granted,
                    dpop_jkt: family_key.as_deref(),
                };
                let login = families::start(
                    conn,
                    &keys.lifecycle.master,
                    owner,
                    origin.as_origin(),
                    now,
                    &family_policy,
                )?;
                Ok((login, authenticated))
            })
            .await?;
        let session = Login {
            family_id: &login.family_id,
            authenticated_at: now,
            ends_at: login.family_expires_at,
            nonce: None,
            refresh: Some(login.token),
            refresh_expires_at: login.token_expires_at,
            resources,
            dpop_jkt,
        };
        self.user_tokens(client, &authenticated.user, scope, session, now).await
    }

    /// The refresh grant: rotates `presented` in its family (a replay revokes the family), and
    /// issues new tokens with `requested` scope (at most the family's) or the family's, for the
    /// `resource` named (one of the family's grant, RFC 8707) or the grant's. A family bound to
    /// a DPoP key refreshes only with a proof of that key (`dpop_jkt`, RFC 9449 §5); the new
    /// access token is bound to the proof's key.
    pub async fn refresh(
        &self,
        client: &Client,
        presented: RefreshToken,
        (requested, resource): (Option<Scope>, &[&str]),
        dpop_jkt: Option<String>,
        origin: RequestOrigin,
    ) -> Result<UserTokens, Error> {
        // Malformed, unregistered or several: refused before the token is used.
        resource::audience(resource, &[], &client.resources)?;
        let now = self.clock.now();
        let (family_policy, client_id) = (self.families, client.id.clone());
        let (keys, requested_scope) = (std::sync::Arc::clone(&self.keys), requested.clone());
        let named = resource.first().map(|r| (*r).to_owned());
        let proved = dpop_jkt.clone();
        let outcome = self
            .with_conn(move |conn| {
                let master = &keys.lifecycle.master;
                let request = RefreshRequest {
                    client_id: &client_id,
                    requested: requested_scope.as_ref(),
                    resource: named.as_deref(),
                    dpop_jkt: proved.as_deref(),
                    origin: origin.as_origin(),
                    now,
                };
                Ok(families::rotate(conn, master, &presented, request, &family_policy)?)
            })
            .await?;
        let (family, user, refresh, refresh_expires_at) = match outcome {
            Outcome::Rotated { family, user, token, token_expires_at }
            | Outcome::Replayed { family, user, token, token_expires_at } => {
                (family, user, token, token_expires_at)
            }
            Outcome::Refused(refusal) => {
                self.count_refusal(&refusal);
                return Err(invalid_refresh());
            }
        };
        if user.disabled {
            return Err(invalid_refresh());
        }
        let scope = requested.unwrap_or_else(|| Scope::parse(&family.scope).unwrap_or_default());
        let session = Login {
            family_id: &family.id,
            authenticated_at: family.authenticated_at(),
            ends_at: family.expires_at,
            nonce: None,
            refresh: Some(refresh),
            refresh_expires_at,
            resources: resource::audience(resource, &family.granted_resources(), &client.resources)?,
            dpop_jkt,
        };
        self.user_tokens(client, &user.to_user(), scope, session, now).await
    }

    fn count_refusal(&self, refusal: &Refusal) {
        if let Refusal::Reused { family_id } = refusal {
            log::warn!("refresh token reuse detected: family {family_id} revoked");
            self.metrics.refresh_reuse.inc();
        }
        if let Some((_, reason)) = refusal.revokes() {
            self.metrics.families_revoked.with_label_values(&[reason]).inc();
        }
    }

    /// Signs the access token and, for scope `openid`, the ID token of a user's login.
    pub(super) async fn user_tokens(
        &self,
        client: &Client,
        user: &User,
        scope: Scope,
        session: Login<'_>,
        now: i64,
    ) -> Result<UserTokens, Error> {
        let ring = self.keys.signer_until(now + self.issuer.access_ttl_secs).await?;
        let family = TokenFamily { family_id: session.family_id, ends_at: session.ends_at };
        let signer = &ring.signer;
        let requested = Requested { scope, resources: session.resources, dpop_jkt: session.dpop_jkt };
        let access = self
            .issuer
            .user_token(signer, (client, user), requested, &family, now)
            .map_err(|e| Error::internal(&e))?;
        let id_token = match access.scope.contains("openid") {
            true => {
                let facts = IdTokenFacts {
                    auth_time: session.authenticated_at,
                    nonce: session.nonce,
                    access_token: &access.token,
                    scope: &access.scope,
                };
                Some(
                    self.issuer
                        .id_token(signer, client, user, &family, &facts, now)
                        .map_err(|e| Error::internal(&e))?,
                )
            }
            false => None,
        };
        Ok(UserTokens {
            access,
            id_token,
            refresh: session.refresh,
            refresh_expires_at: session.refresh_expires_at,
        })
    }
}
