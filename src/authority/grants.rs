//! The token endpoint's grants as operations: a client's own token (`client_credentials`), a
//! password login (RFC 6749 §4.3, throttled), and a refresh (§6, rotating the family's token).
//! The edge parses the request and shapes the answer (body or cookie); everything between is
//! here.

use zeroize::Zeroizing;

use super::families::{self, FamilyError, Outcome};
use super::throttle;
use super::{Authority, Error, OAuthCode};
use crate::accounts::clients::Client;
use crate::accounts::passwords::{PasswordError, Verification};
use crate::accounts::throttle::{Subjects, Verdict};
use crate::accounts::users::{User, normalize_email};
use crate::scope::Scope;
use crate::store::{self, users::UserRow};
use crate::tokens::families::{Origin, Refusal};
use crate::tokens::refresh::RefreshToken;
use crate::tokens::{IssuedToken, TokenFamily};

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
    pub refresh: RefreshToken,
    pub refresh_expires_at: i64,
}

/// One failure answer for unknown user, wrong password and disabled user alike.
fn bad_credentials() -> Error {
    Error::oauth(OAuthCode::InvalidGrant, "invalid username or password")
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
            FamilyError::Store(e) => e.into(),
            FamilyError::Random => Error::internal(&e),
        }
    }
}

/// The login a user's tokens belong to: its refresh family, as the token endpoint saw it.
struct Session<'a> {
    family_id: &'a str,
    /// When the user authenticated (`auth_time`).
    authenticated_at: i64,
    /// The family's absolute end, which no token outlives.
    ends_at: i64,
    refresh: RefreshToken,
    refresh_expires_at: i64,
}

impl Authority {
    /// `client_credentials`: a token for the client itself, with `scope` (already checked to be
    /// within the client's).
    pub async fn issue_for_client(&self, client: &Client, scope: Scope) -> Result<IssuedToken, Error> {
        let now = self.clock.now();
        let ring = self.keys.signer_until(now + self.issuer.access_ttl_secs).await?;
        self.issuer.client_token(&ring.signer, client, scope, now).map_err(|e| Error::internal(&e))
    }

    /// The password grant: throttled per account and address, the same answer for every kind
    /// of failure, a new refresh family on success.
    pub async fn password_login(
        &self,
        client: &Client,
        username: &str,
        password: Zeroizing<String>,
        scope: Scope,
        origin: RequestOrigin,
    ) -> Result<UserTokens, Error> {
        let email = normalize_email(username).ok();
        let account = email.as_deref().unwrap_or(&username.to_lowercase()).to_owned();
        let subjects = Subjects::new(&account, origin.ip.as_deref(), self.throttle.ipv6_prefix);
        // Held until this attempt's outcome is written, so the next attempt on the account reads it.
        let _turn =
            self.login_gate.turn(&subjects.account).await.ok_or(Error::Throttled { retry_after: 1 })?;
        let now = self.clock.now();
        let (verdict, row) = self.throttle_and_find(&subjects, email, now).await?;
        let stored = row.as_ref().map(|r| r.password_hash.clone());
        let verification = self.passwords.verify(password, stored).await.map_err(|e| match e {
            PasswordError::Busy => Error::Busy,
            other => Error::internal(&other),
        })?;
        let (user, rehash) = match (row, verification) {
            (Some(row), Verification::Valid { rehash }) if !row.disabled => (row.to_user(), rehash),
            _ => {
                let policy = self.throttle;
                self.with_conn(move |conn| Ok(throttle::record_failure(conn, &subjects, now, &policy)?))
                    .await?;
                return Err(bad_credentials());
            }
        };
        let (family_policy, had_failures) = (self.families, verdict != Verdict::Clean);
        let (user_id, client_id, scope_text) = (user.id.clone(), client.id.clone(), scope.to_string());
        let login = self
            .with_conn(move |conn| {
                if had_failures {
                    throttle::record_success(conn, &subjects)?;
                }
                if let Some(hash) = rehash {
                    store::users::set_password_hash(conn, &user_id, &hash, now)?;
                }
                Ok(families::start(
                    conn,
                    &user_id,
                    &client_id,
                    &scope_text,
                    origin.as_origin(),
                    now,
                    &family_policy,
                )?)
            })
            .await?;
        let session = Session {
            family_id: &login.family_id,
            authenticated_at: now,
            ends_at: login.family_expires_at,
            refresh: login.token,
            refresh_expires_at: login.token_expires_at,
        };
        self.user_tokens(client, &user, scope, session, now).await
    }

    /// Reads the throttle's verdict and, unless locked out, the account; waits out a delay.
    async fn throttle_and_find(
        &self,
        subjects: &Subjects,
        email: Option<String>,
        now: i64,
    ) -> Result<(Verdict, Option<UserRow>), Error> {
        let (policy, check_subjects) = (self.throttle, subjects.clone());
        let (verdict, row) = self
            .with_conn(move |conn| {
                let verdict = throttle::check(conn, &check_subjects, now, &policy)?;
                let row = match (&verdict, email) {
                    (Verdict::Locked { .. }, _) | (_, None) => None,
                    (_, Some(email)) => store::users::find_by_email(conn, &email)?,
                };
                Ok((verdict, row))
            })
            .await?;
        match verdict {
            Verdict::Locked { retry_after } => return Err(Error::Throttled { retry_after }),
            Verdict::Delay(delay) => tokio::time::sleep(delay).await,
            Verdict::Allow | Verdict::Clean => {}
        }
        Ok((verdict, row))
    }

    /// The refresh grant: rotates `presented` in its family (a replay revokes the family), and
    /// issues new tokens with `requested` scope (at most the family's) or the family's.
    pub async fn refresh(
        &self,
        client: &Client,
        presented: RefreshToken,
        requested: Option<Scope>,
        origin: RequestOrigin,
    ) -> Result<UserTokens, Error> {
        let now = self.clock.now();
        let (family_policy, client_id) = (self.families, client.id.clone());
        let (keys, requested_scope) = (std::sync::Arc::clone(&self.keys), requested.clone());
        let outcome = self
            .with_conn(move |conn| {
                let master = &keys.lifecycle.master;
                let (requested, origin) = (requested_scope.as_ref(), origin.as_origin());
                Ok(families::rotate(
                    conn,
                    master,
                    &presented,
                    &client_id,
                    requested,
                    origin,
                    now,
                    &family_policy,
                )?)
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
        let session = Session {
            family_id: &family.id,
            authenticated_at: family.created_at,
            ends_at: family.expires_at,
            refresh,
            refresh_expires_at,
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

    /// Signs the access token and, for scope `openid`, the ID token of a user's session.
    async fn user_tokens(
        &self,
        client: &Client,
        user: &User,
        scope: Scope,
        session: Session<'_>,
        now: i64,
    ) -> Result<UserTokens, Error> {
        let ring = self.keys.signer_until(now + self.issuer.access_ttl_secs).await?;
        let openid = scope.contains("openid");
        let family = TokenFamily { family_id: session.family_id, ends_at: session.ends_at };
        let signer = &ring.signer;
        let access = self
            .issuer
            .user_token(signer, client, user, scope, &family, now)
            .map_err(|e| Error::internal(&e))?;
        let id_token = match openid {
            true => Some(
                self.issuer
                    .id_token(signer, client, user, &family, session.authenticated_at, now)
                    .map_err(|e| Error::internal(&e))?,
            ),
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
