//! Back-channel logout (OpenID Connect Back-Channel Logout 1.0): when a session ends, every
//! client signed in through it that registered a `backchannel_logout_uri` is sent a signed
//! logout token naming the user (`sub`) and the login (`sid`, the refresh family).
//!
//! Ending a session only records the notices ([`enqueue`], inside the operation's transaction),
//! so nobody waits on a client's server. A background task delivers them ([`spawn`]): it looks
//! every `poll_interval`, and at once when this instance ended a session
//! ([`Authority::wake_logout_notices`]). Each notice is claimed before it is sent, so instances
//! sharing a database never send one twice at the same time; a failed attempt is retried later,
//! waiting twice as long each time, until `max_attempts`.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;
use tokio::task::JoinSet;

use super::{Authority, Error};
use crate::store::logout_deliveries::{self, DeliveryRow};
use crate::store::sessions::EndedLogin;
use crate::store::{self, DbConnection};
use crate::tokens::LOGOUT_TOKEN_TTL_SECS;

/// Notices taken (and sent at once, concurrently) in one pass.
const BATCH: usize = 16;

/// The longest wait between two attempts, however many failed.
const MAX_BACKOFF_SECS: i64 = 3_600;

/// How much of a client's answer is read (and discarded): enough to reuse the connection,
/// never more than that.
const MAX_ANSWER_BYTES: usize = 4_096;

/// How deliveries are attempted and retried.
#[derive(Debug, Clone, Copy)]
pub struct DeliveryPolicy {
    /// One attempt, connecting included.
    pub timeout: Duration,
    pub max_attempts: u32,
    /// The wait after the first failed attempt, in seconds; doubled after each further one.
    pub retry_base_secs: i64,
    pub poll_interval: Duration,
}

impl DeliveryPolicy {
    /// After `attempts` failed attempts: the seconds to wait before the next one, or `None` to
    /// give up.
    pub fn retry_after(&self, attempts: i64) -> Option<i64> {
        if attempts >= i64::from(self.max_attempts) {
            return None;
        }
        let doublings = u32::try_from(attempts.saturating_sub(1).clamp(0, 30)).unwrap_or(30);
        Some(self.retry_base_secs.saturating_mul(1 << doublings).clamp(1, MAX_BACKOFF_SECS))
    }

    /// How long a claimed notice stays taken: longer than an attempt can last, so no other
    /// instance takes it while it is being sent; short enough that a notice whose instance died
    /// mid-attempt is sent by another soon after.
    fn lease_secs(&self) -> i64 {
        i64::try_from(self.timeout.as_secs()).unwrap_or(60).saturating_add(30)
    }
}

/// The delivery task's state in [`Authority`]: its policy, its HTTP client, and its alarm.
pub struct LogoutNotices {
    pub policy: DeliveryPolicy,
    http: reqwest::Client,
    wake: Notify,
}

impl LogoutNotices {
    pub fn new(policy: DeliveryPolicy) -> reqwest::Result<Self> {
        Ok(Self { policy, http: crate::net::outbound_client(policy.timeout)?, wake: Notify::new() })
    }
}

/// Records a logout notice for each of these logins whose client wants one, due now. Runs inside
/// the caller's transaction: the notices exist exactly when the session's end does. Returns how
/// many were recorded.
pub fn enqueue(conn: &mut DbConnection, logins: &[EndedLogin], now: i64) -> Result<usize, Error> {
    let families: Vec<&str> = logins.iter().map(|login| login.family_id.as_str()).collect();
    Ok(logout_deliveries::enqueue(conn, &families, now)?)
}

/// A claimed notice and where its client wants it now (`None`: nowhere any more).
type Claimed = (DeliveryRow, Option<String>);

/// Claims up to [`BATCH`] notices due at `now` until `until`, each with its client's current
/// back-channel logout URI (none when the client was disabled or dropped its URI meanwhile).
fn claim_due(conn: &mut DbConnection, now: i64, until: i64) -> Result<Vec<Claimed>, Error> {
    let mut claimed = Vec::new();
    for notice in logout_deliveries::due(conn, now, BATCH as i64)? {
        if !logout_deliveries::claim(conn, &notice, until)? {
            continue; // another instance took it
        }
        let uri = store::clients::find(conn, &notice.client_id)?
            .filter(|client| !client.disabled)
            .and_then(|client| client.backchannel_logout_uri);
        claimed.push((notice, uri));
    }
    Ok(claimed)
}

/// Why one attempt failed. The logout token is never part of it.
#[derive(Debug, thiserror::Error)]
enum AttemptError {
    #[error("answered {0}")]
    Status(reqwest::StatusCode),
    #[error("{0}")]
    Transport(#[from] reqwest::Error),
    #[error("signing: {0}")]
    Signing(String),
}

impl Authority {
    /// Makes this instance's delivery task look for notices now (after a transaction that
    /// ended sessions committed), instead of at its next poll.
    pub fn wake_logout_notices(&self) {
        self.logout_notices.wake.notify_one();
    }

    /// One pass: claims the notices due and sends them, concurrently. Returns how many it took.
    pub async fn deliver_logout_notices(self: &Arc<Self>) -> Result<usize, Error> {
        let now = self.clock.now();
        let until = now + self.logout_notices.policy.lease_secs();
        let claimed = self.with_conn(move |conn| claim_due(conn, now, until)).await?;
        let taken = claimed.len();
        let mut sending = JoinSet::new();
        for (notice, uri) in claimed {
            let authority = Arc::clone(self);
            sending.spawn(async move { authority.deliver(notice, uri).await });
        }
        while let Some(done) = sending.join_next().await {
            match done {
                Ok(Ok(())) => {}
                Ok(Err(e)) => {
                    log::warn!("recording a back-channel logout attempt failed (it is retried): {e}")
                }
                Err(e) => log::error!("a back-channel logout attempt failed (it is retried): {e}"),
            }
        }
        Ok(taken)
    }

    /// Sends one claimed notice and records the outcome: delivered or dropped (deleted),
    /// retried later, or given up.
    async fn deliver(&self, notice: DeliveryRow, uri: Option<String>) -> Result<(), Error> {
        let Some(uri) = uri else {
            return self
                .with_conn(move |conn| Ok(logout_deliveries::delete(conn, &notice.id)?))
                .await
                .map(drop);
        };
        let outcome = self.attempt(&notice, &uri).await;
        let metrics = &self.metrics.sign_in.backchannel_deliveries;
        let attempts = notice.attempts + 1;
        let retry = match &outcome {
            Ok(()) => {
                metrics.with_label_values(&["delivered"]).inc();
                None
            }
            Err(e) => match self.logout_notices.policy.retry_after(attempts) {
                Some(wait) => {
                    log::info!(
                        "back-channel logout to client {} failed (attempt {attempts}, retried in {wait}s): {e}",
                        notice.client_id
                    );
                    metrics.with_label_values(&["failed"]).inc();
                    Some(self.clock.now() + wait)
                }
                None => {
                    log::warn!(
                        "back-channel logout to client {} given up after {attempts} attempts: {e}",
                        notice.client_id
                    );
                    metrics.with_label_values(&["gave_up"]).inc();
                    None
                }
            },
        };
        self.with_conn(move |conn| {
            match retry {
                Some(at) => logout_deliveries::reschedule(conn, &notice.id, attempts, at)?,
                None => logout_deliveries::delete(conn, &notice.id)?,
            };
            Ok(())
        })
        .await
    }

    /// One attempt: a fresh logout token, POSTed as a form; any 2xx answer is delivered.
    async fn attempt(&self, notice: &DeliveryRow, uri: &str) -> Result<(), AttemptError> {
        let now = self.clock.now();
        let signing = |e: &dyn std::fmt::Display| AttemptError::Signing(e.to_string());
        let ring = self.keys.signer_until(now + LOGOUT_TOKEN_TTL_SECS).await.map_err(|e| signing(&e))?;
        let token = self
            .issuer
            .logout_token(&ring.signer, &notice.client_id, &notice.user_id, &notice.sid, now)
            .map_err(|e| signing(&e))?;
        let http = &self.logout_notices.http;
        let response = http.post(uri).form(&[("logout_token", token.as_str())]).send().await?;
        let status = response.status();
        // Read (bounded) only so the connection can be reused; what it says does not matter.
        let _ = crate::net::read_limited(response, MAX_ANSWER_BYTES).await;
        if status.is_success() { Ok(()) } else { Err(AttemptError::Status(status)) }
    }
}

/// The delivery task: a pass whenever woken or every `poll_interval`, and straight on while
/// passes find full batches. Restarted if it ever panics (see [`crate::background`]).
pub fn spawn(authority: Arc<Authority>) -> tokio::task::JoinHandle<()> {
    let restarts = authority.metrics.background_restarts.clone();
    crate::background::supervise("backchannel_logout", restarts, move || {
        let authority = Arc::clone(&authority);
        async move {
            let interval = authority.logout_notices.policy.poll_interval;
            loop {
                let taken = authority.deliver_logout_notices().await.unwrap_or_else(|e| {
                    log::warn!("back-channel logout delivery failed (will retry): {e}");
                    0
                });
                if taken < BATCH {
                    // Woken, or the poll interval passed: either way, look again.
                    let _ = tokio::time::timeout(interval, authority.logout_notices.wake.notified()).await;
                }
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failed_attempts_wait_twice_as_long_each_time_until_given_up() {
        let policy = DeliveryPolicy {
            timeout: Duration::from_secs(5),
            max_attempts: 5,
            retry_base_secs: 2,
            poll_interval: Duration::from_secs(2),
        };
        let waits: Vec<Option<i64>> = (1..=6).map(|attempts| policy.retry_after(attempts)).collect();
        assert_eq!(waits, [Some(2), Some(4), Some(8), Some(16), None, None]);
        let patient = DeliveryPolicy { max_attempts: 50, retry_base_secs: 600, ..policy };
        assert_eq!(patient.retry_after(3), Some(2_400));
        assert_eq!(patient.retry_after(4), Some(MAX_BACKOFF_SECS), "capped");
        assert_eq!(patient.retry_after(49), Some(MAX_BACKOFF_SECS), "no overflow");
        let once = DeliveryPolicy { max_attempts: 1, ..policy };
        assert_eq!(once.retry_after(1), None);
        assert!(policy.lease_secs() > 5, "a claim outlasts an attempt");
    }
}
