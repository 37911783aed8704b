//! The key cache: jwtd's JWKS, fetched, cached for the `max-age` jwtd announces (clamped to a
//! floor and a ceiling), refreshed ahead of expiry, refetched on an unknown `kid` at most once
//! per cool-down, and kept as it was whenever a fetch fails or returns something unusable.
//!
//! Reads are a lock-free-in-practice `RwLock` read and an `Arc` clone; every fetch goes
//! through one `tokio::sync::Mutex`, so concurrent callers share one fetch (single flight).

mod config;
mod key_set;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock, Weak};
use std::time::Duration;

use reqwest::Url;

use crate::fetch::{self, Fetched};
pub use config::JwksCacheBuilder;
use config::{CacheConfig, Source};
pub use key_set::KeySet;
pub(crate) use key_set::{MAX_KID_LEN, has_private_members, permitted_algorithms, verifying_key};

use crate::algorithm::Algorithm;
use crate::{Clock, Error};

/// A cached JWKS. Cloning is cheap and clones share the cache.
#[derive(Clone)]
pub struct JwksCache {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for JwksCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let snapshot = self.inner.snapshot();
        f.debug_struct("JwksCache")
            .field("keys", &snapshot.keys.len())
            .field("expires_at", &snapshot.expires_at)
            .field("last_success", &snapshot.last_success)
            .finish_non_exhaustive()
    }
}

struct Inner {
    config: CacheConfig,
    /// `None` for a fixed set, which never fetches.
    client: Option<reqwest::Client>,
    clock: Arc<dyn Clock>,
    snapshot: RwLock<Arc<Snapshot>>,
    /// Fetch attempts so far; a caller that waited for the fetch lock compares it to decide
    /// whether someone else already fetched on its behalf.
    attempts: AtomicU64,
    fetch: tokio::sync::Mutex<FetchState>,
}

/// What readers see: the keys and how long they are fresh.
#[derive(Debug, Default)]
struct Snapshot {
    keys: Arc<KeySet>,
    /// Unix seconds after which the set should be refetched; 0 when never fetched.
    expires_at: i64,
    last_success: Option<i64>,
}

/// Bookkeeping that only the fetch-lock holder touches.
#[derive(Debug, Default)]
struct FetchState {
    last_attempt: Option<i64>,
    /// When an unknown `kid` last caused a fetch. Only these fetches (and failures) start
    /// the cool-down: a routine refresh just before a rotation must not hold back the
    /// refetch that finds the new key.
    last_unknown_kid_fetch: Option<i64>,
    last_error: Option<Error>,
    etag: Option<String>,
    /// The JWKS URL: configured, or discovered once from the issuer.
    jwks_uri: Option<Url>,
}

impl JwksCache {
    /// A cache of the JWKS at `jwks_uri`.
    pub fn from_url(jwks_uri: &str) -> JwksCacheBuilder {
        JwksCacheBuilder::new(Source::Url(jwks_uri.to_owned()))
    }

    /// A cache of the JWKS named by `issuer`'s `/.well-known/openid-configuration`.
    pub fn discover(issuer: &str) -> JwksCacheBuilder {
        JwksCacheBuilder::new(Source::Issuer(issuer.to_owned()))
    }

    /// A fixed key set that is never fetched (pinned keys, tests), for tokens signed with
    /// one of `algorithms`.
    pub fn fixed(keys: KeySet, algorithms: &[Algorithm]) -> Self {
        let cache = JwksCacheBuilder::new(Source::Fixed).algorithms(algorithms).build_with_client(None);
        cache.install(keys, i64::MAX, None);
        cache
    }

    fn from_parts(config: CacheConfig, client: Option<reqwest::Client>, clock: Arc<dyn Clock>) -> Self {
        let jwks_uri = match &config.source {
            Source::Url(url) => Url::parse(url).ok(),
            Source::Issuer(_) | Source::Fixed => None,
        };
        let fetch = FetchState { jwks_uri, ..FetchState::default() };
        Self {
            inner: Arc::new(Inner {
                config,
                client,
                clock,
                snapshot: RwLock::new(Arc::default()),
                attempts: AtomicU64::new(0),
                fetch: tokio::sync::Mutex::new(fetch),
            }),
        }
    }

    /// The current keys (possibly stale, possibly empty before the first fetch).
    pub fn keys(&self) -> Arc<KeySet> {
        Arc::clone(&self.inner.snapshot().keys)
    }

    /// Unix seconds of the last successful fetch (a 200 with a usable set, or a 304).
    pub fn last_success(&self) -> Option<i64> {
        self.inner.snapshot().last_success
    }

    /// Unix seconds after which the current set is stale.
    pub fn expires_at(&self) -> i64 {
        self.inner.snapshot().expires_at
    }

    /// The algorithms keys are loaded for; the verifier accepts no other.
    pub fn algorithms(&self) -> &[Algorithm] {
        &self.inner.config.algorithms
    }

    /// Fetches now, whatever the cache's age (single flight: callers that arrive while a
    /// fetch runs wait for it and share its outcome instead of fetching again).
    pub async fn refresh(&self) -> Result<(), Error> {
        let seen = self.inner.attempts.load(Ordering::SeqCst);
        let mut state = self.inner.fetch.lock().await;
        if self.inner.attempts.load(Ordering::SeqCst) != seen {
            return state.last_error.clone().map_or(Ok(()), Err);
        }
        self.fetch_locked(&mut state).await
    }

    /// Fetches if the set is stale, unless a fetch is already running (then the caller goes on
    /// with the stale set) or the last attempt failed less than a cool-down ago.
    pub async fn refresh_if_stale(&self) {
        let now = self.inner.clock.now();
        if now < self.expires_at() {
            return;
        }
        let Ok(mut state) = self.inner.fetch.try_lock() else { return };
        if now < self.expires_at() || self.in_failure_cooldown(&state, now) {
            return;
        }
        if let Err(error) = self.fetch_locked(&mut state).await {
            log::warn!("jwtd-verify: refreshing the key set failed, keeping the last good one: {error}");
        }
    }

    /// Starts a task on the current tokio runtime that refreshes the set before it expires,
    /// and retries after a cool-down when jwtd is unreachable. It stops when every clone of
    /// the cache is dropped, or when the returned handle is aborted.
    pub fn spawn_refresh_task(&self) -> tokio::task::JoinHandle<()> {
        let weak: Weak<Inner> = Arc::downgrade(&self.inner);
        tokio::spawn(async move {
            loop {
                let Some(inner) = weak.upgrade() else { return };
                let cache = Self { inner };
                let wait = match cache.refresh().await {
                    Ok(()) => cache.until_refresh_ahead(),
                    Err(error) => {
                        log::warn!("jwtd-verify: key set refresh failed, keeping the last good one: {error}");
                        cache.inner.config.unknown_kid_cooldown
                    }
                };
                drop(cache);
                tokio::time::sleep(wait).await;
            }
        })
    }

    /// Time until the set has used up `refresh_ahead_ratio` of its lifetime, at least 1 s.
    fn until_refresh_ahead(&self) -> Duration {
        let now = self.inner.clock.now();
        let lifetime = self.expires_at().saturating_sub(now).max(0);
        let lead =
            u64::try_from(lifetime).unwrap_or(0).saturating_mul(self.inner.config.refresh_ahead_percent)
                / 100;
        Duration::from_secs(u64::try_from(lifetime).unwrap_or(0).saturating_sub(lead).max(1))
    }

    /// The current set if it is fresh: the verifier's path for every token but the first
    /// after expiry or the first of a new key, which go to [`Self::key_set_with`].
    pub(crate) fn fresh_keys(&self) -> Option<Arc<KeySet>> {
        let slot = self.inner.snapshot.read().unwrap_or_else(std::sync::PoisonError::into_inner);
        // A fixed set never expires: no need to ask the clock.
        let fresh = slot.expires_at == i64::MAX || self.inner.clock.now() < slot.expires_at;
        fresh.then(|| Arc::clone(&slot.keys))
    }

    /// A key set holding `kid`, refreshing it first when stale, and refetching once when the
    /// `kid` is unknown and the cool-down allows it. Concurrent callers with unknown kids
    /// share that one fetch.
    pub(crate) async fn key_set_with(&self, kid: &str) -> Result<Arc<KeySet>, Error> {
        let seen = self.inner.attempts.load(Ordering::SeqCst);
        let now = self.inner.clock.now();
        let snapshot = self.inner.snapshot();
        let stale = now >= snapshot.expires_at;
        if !stale && snapshot.keys.contains_kid(kid) {
            return Ok(Arc::clone(&snapshot.keys));
        }
        drop(snapshot);
        if stale {
            self.refresh_if_stale().await;
        }
        let keys = self.keys();
        if keys.contains_kid(kid) || matches!(self.inner.config.source, Source::Fixed) {
            return Ok(keys);
        }
        {
            let mut state = self.inner.fetch.lock().await;
            let someone_fetched = self.inner.attempts.load(Ordering::SeqCst) != seen;
            let now = self.inner.clock.now();
            let cooling = self.within_cooldown(state.last_unknown_kid_fetch, now)
                || self.in_failure_cooldown(&state, now);
            if !someone_fetched && !cooling {
                state.last_unknown_kid_fetch = Some(now);
                if let Err(error) = self.fetch_locked(&mut state).await {
                    log::warn!("jwtd-verify: refetch for an unknown kid failed: {error}");
                }
            }
        }
        Ok(self.keys())
    }

    fn cooldown_secs(&self) -> i64 {
        i64::try_from(self.inner.config.unknown_kid_cooldown.as_secs()).unwrap_or(i64::MAX)
    }

    fn in_failure_cooldown(&self, state: &FetchState, now: i64) -> bool {
        state.last_error.is_some() && self.within_cooldown(state.last_attempt, now)
    }

    /// Whether less than a cool-down has passed since `at`.
    fn within_cooldown(&self, at: Option<i64>, now: i64) -> bool {
        at.is_some_and(|at| now < at.saturating_add(self.cooldown_secs()))
    }

    /// One fetch, with the fetch lock held. On success the new set replaces the old one; on
    /// any failure the old one stays.
    async fn fetch_locked(&self, state: &mut FetchState) -> Result<(), Error> {
        if matches!(self.inner.config.source, Source::Fixed) {
            return Ok(());
        }
        self.inner.attempts.fetch_add(1, Ordering::SeqCst);
        state.last_attempt = Some(self.inner.clock.now());
        let outcome = self.fetch_and_install(state).await;
        state.last_error = outcome.as_ref().err().cloned();
        outcome
    }

    async fn fetch_and_install(&self, state: &mut FetchState) -> Result<(), Error> {
        let config = &self.inner.config;
        let Some(client) = &self.inner.client else { return Ok(()) };
        let url = match (&state.jwks_uri, &config.source) {
            (Some(url), _) => url.clone(),
            (None, Source::Issuer(issuer)) => {
                let url = fetch::discover_jwks_uri(client, issuer, config.limits).await?;
                state.jwks_uri = Some(url.clone());
                url
            }
            (None, _) => return Err(Error::JwksInvalid("the JWKS URL does not parse")),
        };
        let fetched =
            fetch::get(client, &url, "application/json", state.etag.as_deref(), config.limits).await?;
        let now = self.inner.clock.now();
        match fetched {
            Fetched::NotModified { max_age } => {
                let keys = self.keys();
                self.install_arc(keys, now.saturating_add(config.lifetime(max_age)), Some(now));
            }
            Fetched::Modified { body, max_age, etag } => {
                let keys = KeySet::from_jwks(&body, &config.algorithms)?;
                state.etag = etag;
                self.install(keys, now.saturating_add(config.lifetime(max_age)), Some(now));
            }
        }
        Ok(())
    }

    fn install(&self, keys: KeySet, expires_at: i64, success_at: Option<i64>) {
        self.install_arc(Arc::new(keys), expires_at, success_at);
    }

    fn install_arc(&self, keys: Arc<KeySet>, expires_at: i64, success_at: Option<i64>) {
        let snapshot = Arc::new(Snapshot { keys, expires_at, last_success: success_at });
        let mut slot = self.inner.snapshot.write().unwrap_or_else(std::sync::PoisonError::into_inner);
        *slot = snapshot;
    }
}

impl Inner {
    fn snapshot(&self) -> Arc<Snapshot> {
        Arc::clone(&self.snapshot.read().unwrap_or_else(std::sync::PoisonError::into_inner))
    }
}
