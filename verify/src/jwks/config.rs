//! How a [`JwksCache`] is set up. Every knob has a default that suits jwtd's own JWKS
//! (`max-age` 5 minutes, keys pre-published before they sign).

use std::sync::Arc;
use std::time::Duration;

use super::JwksCache;
use crate::algorithm::Algorithm;
use crate::fetch::RequestLimits;
use crate::{Clock, Error, SystemClock};

#[derive(Debug, Clone)]
pub(crate) enum Source {
    Url(String),
    Issuer(String),
    Fixed,
}

#[derive(Debug, Clone)]
pub(crate) struct CacheConfig {
    pub source: Source,
    pub algorithms: Vec<Algorithm>,
    pub min_ttl: Duration,
    pub max_ttl: Duration,
    pub default_ttl: Duration,
    pub unknown_kid_cooldown: Duration,
    /// The background task refreshes once this share (in percent) of the lifetime is left.
    pub refresh_ahead_percent: u64,
    pub limits: RequestLimits,
}

impl CacheConfig {
    /// Seconds the set stays fresh: the server's `max-age` (or the default without one),
    /// clamped to `[min_ttl, max_ttl]`.
    pub fn lifetime(&self, max_age: Option<u64>) -> i64 {
        let secs = max_age
            .unwrap_or(self.default_ttl.as_secs())
            .clamp(self.min_ttl.as_secs(), self.max_ttl.as_secs().max(self.min_ttl.as_secs()));
        i64::try_from(secs).unwrap_or(i64::MAX)
    }
}

/// Configures a [`JwksCache`]; start from [`JwksCache::from_url`] or [`JwksCache::discover`].
#[derive(Clone)]
#[must_use]
pub struct JwksCacheBuilder {
    config: CacheConfig,
    clock: Arc<dyn Clock>,
    client: Option<reqwest::Client>,
}

impl JwksCacheBuilder {
    pub(crate) fn new(source: Source) -> Self {
        Self {
            config: CacheConfig {
                source,
                algorithms: vec![Algorithm::Rs256],
                min_ttl: Duration::from_secs(30),
                max_ttl: Duration::from_secs(3600),
                default_ttl: Duration::from_secs(300),
                unknown_kid_cooldown: Duration::from_secs(30),
                refresh_ahead_percent: 20,
                limits: RequestLimits { timeout: Duration::from_secs(5), max_body: 64 * 1024 },
            },
            clock: Arc::new(SystemClock),
            client: None,
        }
    }

    /// Algorithms keys are loaded for and tokens may use (default: RS256 only).
    pub fn algorithms(mut self, algorithms: &[Algorithm]) -> Self {
        self.config.algorithms = algorithms.to_vec();
        self
    }

    /// Bounds on how long a fetched set is trusted, whatever `max-age` says (default 30 s to
    /// 1 h). The floor stops a `max-age=0` from turning every request into a fetch.
    pub fn ttl_bounds(mut self, min: Duration, max: Duration) -> Self {
        self.config.min_ttl = min;
        self.config.max_ttl = max;
        self
    }

    /// Lifetime when the response has no `max-age` (default 5 min).
    pub fn default_ttl(mut self, ttl: Duration) -> Self {
        self.config.default_ttl = ttl;
        self
    }

    /// Least time between two fetches caused by unknown kids or failures (default 30 s), so
    /// tokens with made-up kids cannot turn the verifier into a flood against jwtd.
    pub fn unknown_kid_cooldown(mut self, cooldown: Duration) -> Self {
        self.config.unknown_kid_cooldown = cooldown;
        self
    }

    /// Deadline for one whole request, connect to last body byte (default 5 s).
    pub fn request_timeout(mut self, timeout: Duration) -> Self {
        self.config.limits.timeout = timeout;
        self
    }

    /// Largest JWKS or discovery body accepted (default 64 KiB).
    pub fn max_body_bytes(mut self, max: usize) -> Self {
        self.config.limits.max_body = max;
        self
    }

    /// Share of a set's lifetime left when the background task refreshes it (default 20 %).
    pub fn refresh_ahead_percent(mut self, percent: u8) -> Self {
        self.config.refresh_ahead_percent = u64::from(percent.min(100));
        self
    }

    /// The clock for lifetimes and cool-downs (default: the system clock).
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// A preconfigured HTTP client (proxies, root certificates). Its own timeouts apply in
    /// addition to [`Self::request_timeout`].
    pub fn http_client(mut self, client: reqwest::Client) -> Self {
        self.client = Some(client);
        self
    }

    /// Builds the cache. Nothing is fetched yet: call [`JwksCache::refresh`] to fail fast at
    /// start-up, or let the first verification fetch.
    pub fn build(self) -> Result<JwksCache, Error> {
        let client = match self.client.clone() {
            Some(client) => client,
            None => crate::fetch::default_client(self.config.limits.timeout)
                .map_err(|e| Error::JwksTransport(e.to_string()))?,
        };
        Ok(self.build_with_client(Some(client)))
    }

    pub(crate) fn build_with_client(self, client: Option<reqwest::Client>) -> JwksCache {
        JwksCache::from_parts(self.config, client, self.clock)
    }
}
