//! Signing a person in: the password check shared by the password grant and the sign-in page
//! (throttled per account and address, one answer for every kind of failure), and the single
//! sign-on sessions the page starts and later requests find again.

use serde_json::json;
use zeroize::Zeroizing;

use super::grants::RequestOrigin;
use super::throttle;
use super::{Authority, Error, OAuthCode};
use crate::accounts::clients::random_id;
use crate::accounts::passwords::{PasswordError, Verification};
use crate::accounts::sessions::Session;
use crate::accounts::throttle::{Subjects, Verdict};
use crate::accounts::users::{User, normalize_email};
use crate::store::sessions::NewSession;
use crate::store::{self, DbConnection, users::UserRow};
use crate::tokens::authorization::BrowserSecret;

/// One failure answer for unknown user, wrong password and disabled user alike.
pub(super) fn bad_credentials() -> Error {
    Error::oauth(OAuthCode::InvalidGrant, "invalid username or password")
}

/// A person whose password was right, and what that success still has to write (in the
/// caller's transaction, so a login costs no extra round trip).
pub(super) struct Authenticated {
    pub user: User,
    subjects: Subjects,
    had_failures: bool,
    rehash: Option<String>,
}

impl Authenticated {
    /// Clears the throttle's failures and stores a rehashed password, when there are any.
    pub(super) fn record(&self, conn: &mut DbConnection, now: i64) -> Result<(), Error> {
        if self.had_failures {
            throttle::record_success(conn, &self.subjects)?;
        }
        if let Some(hash) = &self.rehash {
            store::users::set_password_hash(conn, &self.user.id, hash, now)?;
        }
        Ok(())
    }
}

impl Authority {
    /// Checks a password: throttled per account and address (a lockout answers
    /// [`Error::Throttled`]), the same answer for an unknown user, a wrong password and a
    /// disabled user, the failure recorded.
    pub(super) async fn check_password(
        &self,
        username: &str,
        password: Zeroizing<String>,
        origin: &RequestOrigin,
    ) -> Result<Authenticated, Error> {
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
        match (row, verification) {
            (Some(row), Verification::Valid { rehash }) if !row.disabled => Ok(Authenticated {
                user: row.to_user(),
                subjects,
                had_failures: verdict != Verdict::Clean,
                rehash,
            }),
            _ => {
                let policy = self.throttle;
                self.with_conn(move |conn| Ok(throttle::record_failure(conn, &subjects, now, &policy)?))
                    .await?;
                Err(bad_credentials())
            }
        }
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

    /// The sign-in page's login: checks the password and starts a single sign-on session, with
    /// its audit event; or, when the browser's live session (`current`) is the same person's,
    /// renews it (a new `auth_time` and a new cookie secret, so a secret seen before the
    /// sign-in is worth nothing after it). Returns the cookie's secret (for the browser alone)
    /// and the session.
    pub async fn sign_in(
        &self,
        username: &str,
        password: Zeroizing<String>,
        origin: RequestOrigin,
        current: Option<Session>,
    ) -> Result<(BrowserSecret, Session), Error> {
        let authenticated = self.check_password(username, password, &origin).await?;
        let now = self.clock.now();
        let secret = BrowserSecret::generate().map_err(|_| Error::Internal("random generator".into()))?;
        let renewed = current.filter(|s| s.user_id == authenticated.user.id);
        let session = match &renewed {
            Some(current) => Session { auth_time: now, last_seen_at: now, ..current.clone() },
            None => Session {
                id: random_id().map_err(|_| Error::Internal("random generator".into()))?,
                user_id: authenticated.user.id.clone(),
                auth_time: now,
                created_at: now,
                last_seen_at: now,
                expires_at: now.saturating_add(self.sessions.absolute_ttl),
                ended_at: None,
            },
        };
        let (stored, hash, renew) = (session.clone(), secret.hash(), renewed.is_some());
        self.with_conn(move |conn| {
            use diesel::Connection;
            conn.transaction(|conn| {
                authenticated.record(conn, now)?;
                if renew {
                    store::sessions::renew_session(conn, &stored.id, &hash, now)?;
                } else {
                    start_session(conn, &stored, &hash, &origin)?;
                }
                let event = store::audit::AuditEvent {
                    at: now,
                    kind: if renew { "session.renewed" } else { "session.started" },
                    actor: Some(&stored.user_id),
                    subject: Some(&stored.id),
                    ip: origin.ip.as_deref(),
                    detail: json!({ "user_agent": origin.user_agent }).to_string(),
                };
                Ok(store::audit::record(conn, &event)?)
            })
        })
        .await?;
        Ok((secret, session))
    }

    /// How many single sign-on sessions have not ended (for the metrics).
    pub async fn live_sessions(&self) -> Result<i64, Error> {
        let now = self.clock.now();
        self.with_conn(move |conn| Ok(store::sessions::count_live(conn, now)?)).await
    }

    /// The live session a browser's cookie names, if any; its use is recorded (at most once a
    /// minute).
    pub async fn session(&self, secret: &BrowserSecret) -> Result<Option<Session>, Error> {
        let (hash, now, policy) = (secret.hash(), self.clock.now(), self.sessions);
        self.with_conn(move |conn| {
            let Some(session) = store::sessions::find_session(conn, &hash)? else {
                return Ok(None);
            };
            if !session.is_live(now, &policy) {
                return Ok(None);
            }
            if session.needs_touch(now) {
                store::sessions::touch_session(conn, &session.id, now)?;
            }
            Ok(Some(session))
        })
        .await
    }
}

fn start_session(
    conn: &mut DbConnection,
    session: &Session,
    hash: &[u8],
    origin: &RequestOrigin,
) -> Result<(), Error> {
    let row = NewSession {
        id: &session.id,
        secret_hash: hash,
        user_id: &session.user_id,
        auth_time: session.auth_time,
        created_at: session.created_at,
        last_seen_at: session.last_seen_at,
        expires_at: session.expires_at,
        ip: origin.ip.as_deref(),
        user_agent: origin.user_agent.as_deref(),
    };
    Ok(store::sessions::insert_session(conn, &row)?)
}
