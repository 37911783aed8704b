//! How a [`RevocationFeed`] is set up. The defaults suit jwtd's own feed (`max-age` 5 s).

use std::sync::Arc;
use std::time::Duration;

use reqwest::Url;

use super::RevocationFeed;
use crate::fetch::RequestLimits;
use crate::{Clock, Error, JwksCache, SystemClock};

/// What a verifier does with tokens once the feed has not been confirmed for longer than
/// [`RevocationFeedBuilder::max_staleness`] (jwtd unreachable, the refresh task stopped).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum StalePolicy {
    /// Keep refusing what the last good feed lists, accept everything else, and log a
    /// warning (once per stale spell). Availability first: a jwtd outage does not take the
    /// resource servers down, at the price of missing revocations made during it.
    #[default]
    KeepLastAndLog,
    /// Refuse every token with [`Error::RevocationsStale`] (a 503 from the extractor, not a
    /// 401: the token is not at fault). Revocation first: no token is accepted that could
    /// have been revoked without this verifier knowing.
    FailClosed,
}

#[derive(Debug, Clone)]
pub(crate) struct FeedConfig {
    pub issuer: String,
    pub url: Url,
    pub floor: Duration,
    pub ceiling: Duration,
    pub leeway_secs: i64,
    pub max_staleness: Duration,
    pub stale_policy: StalePolicy,
    pub limits: RequestLimits,
}

impl FeedConfig {
    /// Seconds until the next poll: the server's `max-age` clamped to `[floor, ceiling]`
    /// (no `max-age`, `no-cache` and `no-store` all count as 0, so the floor).
    pub fn interval(&self, max_age: Option<u64>) -> i64 {
        let floor = self.floor.as_secs().max(1);
        let secs = max_age.unwrap_or(0).clamp(floor, self.ceiling.as_secs().max(floor));
        i64::try_from(secs).unwrap_or(i64::MAX)
    }

    pub fn max_staleness_secs(&self) -> i64 {
        i64::try_from(self.max_staleness.as_secs()).unwrap_or(i64::MAX)
    }
}

/// Configures a [`RevocationFeed`]; start from [`RevocationFeed::for_issuer`] or
/// [`RevocationFeed::from_url`].
#[must_use]
pub struct RevocationFeedBuilder {
    config: Result<FeedConfig, Error>,
    keys: JwksCache,
    clock: Arc<dyn Clock>,
    client: Option<reqwest::Client>,
}

impl RevocationFeedBuilder {
    pub(super) fn new(issuer: &str, url: &str, keys: JwksCache) -> Self {
        let config = Url::parse(url)
            .map_err(|_| Error::RevocationsInvalid("the feed URL does not parse"))
            .map(|url| FeedConfig {
                issuer: issuer.to_owned(),
                url,
                floor: Duration::from_secs(1),
                ceiling: Duration::from_secs(60),
                leeway_secs: 60,
                max_staleness: Duration::from_secs(300),
                stale_policy: StalePolicy::default(),
                limits: RequestLimits { timeout: Duration::from_secs(5), max_body: 1024 * 1024 },
            });
        Self { config, keys, clock: Arc::new(SystemClock), client: None }
    }

    fn with(mut self, change: impl FnOnce(&mut FeedConfig)) -> Self {
        if let Ok(config) = &mut self.config {
            change(config);
        }
        self
    }

    /// Bounds on the poll interval, whatever `max-age` says (default 1 s to 60 s; whole
    /// seconds, the floor at least 1 s). The floor keeps a `max-age=0` from becoming a
    /// flood; the ceiling bounds how late a revocation can be seen.
    pub fn poll_bounds(self, floor: Duration, ceiling: Duration) -> Self {
        self.with(|c| {
            c.floor = floor;
            c.ceiling = ceiling;
        })
    }

    /// Tolerance for clock skew on the feed's `iat` (default 60 s).
    pub fn leeway(self, leeway: Duration) -> Self {
        self.with(|c| c.leeway_secs = i64::try_from(leeway.as_secs()).unwrap_or(i64::MAX))
    }

    /// How long after the last confirmed poll (a 200 with a good feed, or a 304) the feed
    /// counts as stale (default 5 min), and what happens then (default: keep and log).
    pub fn max_staleness(self, max: Duration, policy: StalePolicy) -> Self {
        self.with(|c| {
            c.max_staleness = max;
            c.stale_policy = policy;
        })
    }

    /// Deadline for one whole request, connect to last body byte (default 5 s).
    pub fn request_timeout(self, timeout: Duration) -> Self {
        self.with(|c| c.limits.timeout = timeout)
    }

    /// Largest feed body accepted (default 1 MiB, about 25 000 listed families).
    pub fn max_body_bytes(self, max: usize) -> Self {
        self.with(|c| c.limits.max_body = max)
    }

    /// The clock for polling, `iat` and staleness (default: the system clock).
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// A preconfigured HTTP client (proxies, root certificates).
    pub fn http_client(mut self, client: reqwest::Client) -> Self {
        self.client = Some(client);
        self
    }

    /// Builds the feed. Nothing is fetched yet: call [`RevocationFeed::refresh`] to fail
    /// fast at start-up, and [`RevocationFeed::spawn_refresh_task`] to keep it current.
    pub fn build(self) -> Result<RevocationFeed, Error> {
        let config = self.config?;
        let client = match self.client {
            Some(client) => client,
            None => crate::fetch::default_client(config.limits.timeout)
                .map_err(|e| Error::RevocationsTransport(e.to_string()))?,
        };
        Ok(RevocationFeed::from_parts(config, self.keys, client, self.clock))
    }
}
