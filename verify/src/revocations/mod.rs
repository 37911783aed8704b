//! jwtd's revocation feed, polled, so a verifier refuses the access tokens of a revoked
//! refresh family (logout, refresh-token reuse, an operator revoking a user), of a deleted
//! client, or signed by a compromised key within seconds instead of when they expire.
//!
//! jwtd serves `GET {issuer}/revocations`: a compact JWS (`typ: jwtd-revocations+jwt`) signed
//! by a key of its JWKS. Its payload, version 2:
//!
//! ```json
//! {"iss": "https://auth.example.com", "iat": 1700000000, "window": 960, "ver": 2,
//!  "sids": ["fam1"],
//!  "subjects": {"user-or-client-id": 1700000001},
//!  "clients": {"client-id": 1700000001},
//!  "kids": ["kid1"]}
//! ```
//!
//! - `sids`: every refresh family revoked since `iat - window`; a token whose `sid` is listed
//!   is revoked. `window` is jwtd's access-token lifetime plus leeway, so a token of a family
//!   revoked before the window has expired anyway.
//! - `subjects`: `sub` → a time before which all that subject's tokens, by `iat`, are revoked.
//! - `clients`: `client_id` → a time before which every token issued to that client, by
//!   `iat`, is revoked whatever its `sub`, so a deleted client's users' tokens stop too.
//! - `kids`: signing keys revoked in an emergency (compromised). Every token whose header
//!   `kid` is listed is refused, even while the cached JWKS still holds the key; a feed signed
//!   by a listed key, or by a key the feed in force lists, is refused as well.
//! - `ver`: absent in version 1, which has neither `clients` nor `kids`. Version 2 requires
//!   both. A later version is read for the members this crate knows (forward compatible); any
//!   of them that is present must still be well-typed, or the whole feed is refused.
//!
//! An older jwtd-verify (a version 1 reader) ignores `ver`, `clients` and `kids`: it does not
//! refuse a deleted client's users' tokens, nor tokens signed by a revoked key until its JWKS
//! cache drops that key (after jwtd stops publishing it, within the cache's lifetime).
//!
//! Responses carry `Cache-Control: max-age` (5 s by default), an `ETag` over the content and
//! answer 304 to `If-None-Match`.
//!
//! # How fresh
//!
//! The feed is polled every `max-age` seconds, clamped to `[floor, ceiling]` (default 1 s to
//! 60 s). A family revoked at time *t* is in every feed jwtd builds from *t* + 1 s on (jwtd
//! rebuilds at most once a second), so a verifier whose refresh task runs refuses its tokens
//! from at most **`max-age` + poll interval + one request timeout** after *t* (`max-age`
//! covers a shared cache between jwtd and the verifier): with jwtd's defaults about 5 + 5 + 1
//! seconds, and never more than the ceiling (60 s) + `max-age` + the timeout while jwtd
//! answers. While jwtd does not answer, the last good feed stays in force; past
//! [`RevocationFeedBuilder::max_staleness`] the [`StalePolicy`] decides (default: keep it and
//! log; or fail closed).
//!
//! A feed is taken only if its signature verifies with a JWKS key (the key's JWK decides the
//! algorithm), its `typ` and `iss` are exactly jwtd's, its `iat` is not in the future beyond
//! the leeway, it is not older than the feed held (a replayed old feed cannot un-revoke), and
//! neither it nor the feed held lists its signing key.
//! Anything else is logged and the last good feed kept. A 304 confirms the held feed; it is
//! as trustworthy as the channel (use https, as for the JWKS).

mod config;
mod document;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock, Weak};
use std::time::Duration;

use config::FeedConfig;
pub use config::{RevocationFeedBuilder, StalePolicy};
use document::FeedPolicy;
pub(crate) use document::Revocable;
pub use document::{FEED_TYPE, RevocationList};

use crate::fetch::{self, Fetched};
use crate::{Clock, Error, JwksCache};

/// A polled revocation feed. Cloning is cheap and clones share the feed; hand one to
/// [`crate::VerifierBuilder::revocations`].
#[derive(Clone)]
pub struct RevocationFeed {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for RevocationFeed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let snapshot = self.inner.snapshot();
        f.debug_struct("RevocationFeed")
            .field("url", &self.inner.config.url.as_str())
            .field("issued_at", &snapshot.list.as_ref().map(|l| l.issued_at()))
            .field("last_success", &snapshot.last_success)
            .finish_non_exhaustive()
    }
}

struct Inner {
    config: FeedConfig,
    keys: JwksCache,
    client: reqwest::Client,
    clock: Arc<dyn Clock>,
    snapshot: RwLock<Arc<Snapshot>>,
    /// Polls finished so far; a caller that waited for the fetch lock compares it to see
    /// whether a poll ended while it waited, and then takes that poll's outcome. Counted at
    /// the end, not the start, so a caller arriving in the middle of a poll shares it too.
    completed: AtomicU64,
    fetch: tokio::sync::Mutex<FetchState>,
    /// Becomes true with the first good feed.
    loaded: tokio::sync::watch::Sender<bool>,
    /// Set while the feed is stale and that has been logged, so it is logged once.
    stale_logged: AtomicBool,
}

/// What verifications read.
#[derive(Debug, Default)]
struct Snapshot {
    list: Option<Arc<RevocationList>>,
    /// Unix seconds of the last 200 with a good feed, or 304.
    last_success: Option<i64>,
    /// Unix seconds from which the next poll is due; 0 before the first.
    next_poll_at: i64,
}

/// Bookkeeping that only the fetch-lock holder touches.
#[derive(Debug, Default)]
struct FetchState {
    etag: Option<String>,
    /// Seconds between polls as of the last answer.
    interval: Option<i64>,
    last_error: Option<Error>,
}

impl RevocationFeed {
    /// The feed at `{issuer}/revocations`, verified with `keys` (the same cache the
    /// verifier uses, so a feed signed by a just-rotated key is found the same way).
    pub fn for_issuer(issuer: &str, keys: JwksCache) -> RevocationFeedBuilder {
        let url = format!("{}/revocations", issuer.trim_end_matches('/'));
        RevocationFeedBuilder::new(issuer, &url, keys)
    }

    /// The feed at `url` (a proxy, a mirror), still demanding `iss` = `issuer`.
    pub fn from_url(url: &str, issuer: &str, keys: JwksCache) -> RevocationFeedBuilder {
        RevocationFeedBuilder::new(issuer, url, keys)
    }

    pub(super) fn from_parts(
        config: FeedConfig,
        keys: JwksCache,
        client: reqwest::Client,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                config,
                keys,
                client,
                clock,
                snapshot: RwLock::new(Arc::default()),
                completed: AtomicU64::new(0),
                fetch: tokio::sync::Mutex::new(FetchState::default()),
                loaded: tokio::sync::watch::Sender::new(false),
                stale_logged: AtomicBool::new(false),
            }),
        }
    }

    /// The feed in force, `None` before the first good one.
    pub fn current(&self) -> Option<Arc<RevocationList>> {
        self.inner.snapshot().list.clone()
    }

    /// Unix seconds of the last successful poll (a 200 with a good feed, or a 304).
    pub fn last_success(&self) -> Option<i64> {
        self.inner.snapshot().last_success
    }

    /// Unix seconds from which the next poll is due.
    pub fn next_poll_at(&self) -> i64 {
        self.inner.snapshot().next_poll_at
    }

    /// Resolves once a good feed has been loaded (at once if one has).
    pub async fn loaded(&self) {
        let mut loaded = self.inner.loaded.subscribe();
        // Err only when the sender is gone, which cannot happen while `self` holds it.
        drop(loaded.wait_for(|&loaded| loaded).await);
    }

    /// Polls now (single flight: callers that arrive during a poll wait for it and share
    /// its outcome). On any failure the feed in force stays.
    pub async fn refresh(&self) -> Result<(), Error> {
        let seen = self.inner.completed.load(Ordering::SeqCst);
        let mut state = self.inner.fetch.lock().await;
        if self.inner.completed.load(Ordering::SeqCst) != seen {
            return state.last_error.clone().map_or(Ok(()), Err);
        }
        self.poll_locked(&mut state).await
    }

    /// Polls if a poll is due and none is running; failures are logged.
    pub async fn refresh_if_due(&self) {
        if self.inner.clock.now() < self.next_poll_at() {
            return;
        }
        let Ok(mut state) = self.inner.fetch.try_lock() else { return };
        if self.inner.clock.now() < self.next_poll_at() {
            return;
        }
        if let Err(error) = self.poll_locked(&mut state).await {
            log::warn!("jwtd-verify: revocation feed poll failed, keeping the last good feed: {error}");
        }
    }

    /// Starts a task on the current tokio runtime that polls whenever a poll is due (at
    /// least a second apart). It stops when every clone of the feed is dropped, or when the
    /// returned handle is aborted.
    pub fn spawn_refresh_task(&self) -> tokio::task::JoinHandle<()> {
        let weak: Weak<Inner> = Arc::downgrade(&self.inner);
        tokio::spawn(async move {
            loop {
                let Some(inner) = weak.upgrade() else { return };
                let feed = Self { inner };
                feed.refresh_if_due().await;
                let wait = feed.next_poll_at().saturating_sub(feed.inner.clock.now()).max(1);
                drop(feed);
                tokio::time::sleep(Duration::from_secs(u64::try_from(wait).unwrap_or(1))).await;
            }
        })
    }

    /// Refuses a token the feed revokes, and applies the stale policy.
    pub(crate) fn check(&self, token: &Revocable<'_>) -> Result<(), Error> {
        let snapshot = self.inner.snapshot();
        if snapshot.list.as_ref().is_some_and(|list| list.revokes(token)) {
            return Err(Error::Revoked);
        }
        let now = self.inner.clock.now();
        let max = self.inner.config.max_staleness_secs();
        if snapshot.last_success.is_some_and(|at| now.saturating_sub(at) <= max) {
            return Ok(());
        }
        match self.inner.config.stale_policy {
            StalePolicy::FailClosed => Err(Error::RevocationsStale),
            StalePolicy::KeepLastAndLog => {
                if !self.inner.stale_logged.swap(true, Ordering::Relaxed) {
                    log::warn!(
                        "jwtd-verify: the revocation feed has not been confirmed for over {max} s; \
                         accepting tokens it does not list"
                    );
                }
                Ok(())
            }
        }
    }

    /// One poll with the fetch lock held; schedules the next whatever the outcome.
    async fn poll_locked(&self, state: &mut FetchState) -> Result<(), Error> {
        let outcome = self.fetch_and_install(state).await;
        let interval = match &outcome {
            Ok(interval) => *interval,
            Err(_) => state.interval.unwrap_or_else(|| self.inner.config.interval(None)),
        };
        state.interval = Some(interval);
        state.last_error = outcome.as_ref().err().cloned();
        let next_poll_at = self.inner.clock.now().saturating_add(interval);
        self.update(|snapshot| snapshot.next_poll_at = next_poll_at);
        self.inner.completed.fetch_add(1, Ordering::SeqCst);
        outcome.map(|_| ())
    }

    /// Fetches, verifies and installs; returns the poll interval the answer asks for.
    async fn fetch_and_install(&self, state: &mut FetchState) -> Result<i64, Error> {
        let config = &self.inner.config;
        let fetched = fetch::get(
            &self.inner.client,
            &config.url,
            "application/jwt",
            state.etag.as_deref(),
            config.limits,
        )
        .await
        .map_err(feed_error)?;
        let now = self.inner.clock.now();
        match fetched {
            Fetched::NotModified { max_age } => {
                self.update(|snapshot| snapshot.last_success = Some(now));
                self.inner.stale_logged.store(false, Ordering::Relaxed);
                Ok(config.interval(max_age))
            }
            Fetched::Modified { body, max_age, etag } => {
                let held = self.inner.snapshot().list.clone();
                let policy = FeedPolicy {
                    issuer: &config.issuer,
                    now,
                    leeway_secs: config.leeway_secs,
                    held: held.as_deref(),
                };
                let list = document::verify_feed(&body, &self.inner.keys, &policy).await?;
                if held.is_some_and(|held| list.issued_at() < held.issued_at()) {
                    return Err(Error::RevocationsInvalid("older than the feed held"));
                }
                state.etag = etag;
                let list = Arc::new(list);
                self.update(|snapshot| {
                    snapshot.list = Some(list);
                    snapshot.last_success = Some(now);
                });
                self.inner.stale_logged.store(false, Ordering::Relaxed);
                self.inner.loaded.send_replace(true);
                Ok(config.interval(max_age))
            }
        }
    }

    /// Replaces the snapshot with a changed copy (readers keep the one they hold).
    fn update(&self, change: impl FnOnce(&mut Snapshot)) {
        let mut slot = self.inner.snapshot.write().unwrap_or_else(PoisonError::into_inner);
        let mut next = Snapshot {
            list: slot.list.clone(),
            last_success: slot.last_success,
            next_poll_at: slot.next_poll_at,
        };
        change(&mut next);
        *slot = Arc::new(next);
    }
}

impl Inner {
    fn snapshot(&self) -> Arc<Snapshot> {
        Arc::clone(&self.snapshot.read().unwrap_or_else(PoisonError::into_inner))
    }
}

/// The shared HTTP code speaks of the key set; say which document failed.
fn feed_error(error: Error) -> Error {
    match error {
        Error::JwksTransport(message) => Error::RevocationsTransport(message),
        Error::JwksTimeout => Error::RevocationsTimeout,
        Error::JwksStatus(status) => Error::RevocationsStatus(status),
        Error::JwksTooLarge => Error::RevocationsTooLarge,
        other => other,
    }
}
