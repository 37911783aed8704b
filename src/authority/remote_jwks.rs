//! Key sets jwtd fetches from others: a `private_key_jwt` client's `jwks_uri`, and the JWKS of
//! an external issuer (a Kubernetes service-account issuer, a CI system's OIDC issuer) found
//! through its discovery document.
//!
//! The rules are the domain's ([`crate::keys::remote`]): https only (plain http to a loopback
//! host only in development), freshness from `Cache-Control` within bounds, an unknown `kid`
//! fetched again at most once per cool-down, stale copies served while fetches fail (up to
//! `max_max_age`), private keys refused. This module does the I/O: through
//! [`crate::net::outbound_client`] (a timeout on the whole exchange, no redirects), reading at
//! most `max_bytes`, one fetch at a time per URL however many callers wait for it (single
//! flight), and a bounded cache.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use jsonwebtoken::jwk::JwkSet;
use prometheus::IntCounterVec;

use crate::keys::remote::{self, CacheState, Decision, DiscoveryRefusal, FreshnessRules, Wanted};

/// Documents cached of each kind (key sets; issuers' discovery documents); past it, the least
/// recently used is forgotten.
const MAX_DOCUMENTS: usize = 1024;

/// How remote documents are fetched and cached (`[remote_jwks]` in the configuration); ages in
/// seconds.
#[derive(Debug, Clone, Copy)]
pub struct RemoteJwksPolicy {
    /// One whole exchange: connecting, sending, reading the answer.
    pub timeout: Duration,
    /// The largest answer read.
    pub max_bytes: usize,
    pub min_max_age: i64,
    pub max_max_age: i64,
    pub default_max_age: i64,
    pub unknown_kid_cooldown: i64,
    /// Plain http to a loopback host (development only).
    pub allow_http_loopback: bool,
}

impl RemoteJwksPolicy {
    fn rules(&self) -> FreshnessRules {
        FreshnessRules {
            min_max_age: self.min_max_age,
            max_max_age: self.max_max_age,
            default_max_age: self.default_max_age,
            unknown_kid_cooldown: self.unknown_kid_cooldown,
        }
    }
}

/// Why no key set (or no key) came. Each says what an operator needs to fix it, and never
/// quotes what the remote answered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RemoteJwksError {
    #[error("not fetched: the URL {0}")]
    NotAllowed(String),
    #[error("unreachable: {0}")]
    Unreachable(String),
    #[error("answered HTTP {0} instead of 200{hint}", hint = status_hint(*.0))]
    Status(u16),
    #[error("answered with more than {0} bytes (remote_jwks.max_bytes)")]
    TooLarge(usize),
    #[error("{0}")]
    Malformed(String),
    #[error("the discovery document names the issuer {found:?}, not {expected:?}")]
    IssuerMismatch { expected: String, found: String },
    #[error(
        "no key with kid {0:?} in the key set (for an unknown kid the set is fetched again at most \
         once per remote_jwks.unknown_kid_cooldown)"
    )]
    UnknownKid(String),
}

fn status_hint(status: u16) -> &'static str {
    match status {
        300..=399 => " (redirects are not followed: register the URL it points to)",
        _ => "",
    }
}

/// The fetched key sets and issuers' `jwks_uri`s. Held by [`super::Authority`].
pub struct RemoteJwks {
    policy: RemoteJwksPolicy,
    http: reqwest::Client,
    key_sets: Documents<JwkSet>,
    /// Issuer → its discovery document's `jwks_uri`.
    issuers: Documents<String>,
    /// Fetches by outcome (`ok`, `failed`), when counted.
    fetches: Option<IntCounterVec>,
}

impl RemoteJwks {
    pub fn new(policy: RemoteJwksPolicy) -> reqwest::Result<Self> {
        Ok(Self {
            policy,
            http: crate::net::outbound_client(policy.timeout)?,
            key_sets: Documents::default(),
            issuers: Documents::default(),
            fetches: None,
        })
    }

    /// Counts fetches into `fetches`, labelled by outcome.
    pub fn counting(mut self, fetches: IntCounterVec) -> Self {
        self.fetches = Some(fetches);
        self
    }

    /// The key set at `uri`, fresh per its Cache-Control max-age (clamped to [min_max_age,
    /// max_max_age]; absent: default_max_age). With `kid` given and absent from the cached set,
    /// the set is fetched again once — unless it was fetched within `unknown_kid_cooldown`
    /// seconds (a flood of unknown kids causes at most one fetch per cool-down) — and
    /// UnknownKid if still absent.
    pub async fn key_set(
        &self,
        uri: &str,
        kid: Option<&str>,
        now: i64,
    ) -> Result<Arc<JwkSet>, RemoteJwksError> {
        let wanted = |set: Option<&JwkSet>| match (kid, set) {
            (None, _) => Wanted::AnyKey,
            (Some(kid), Some(set)) if set.find(kid).is_some() => Wanted::CachedKid,
            (Some(_), _) => Wanted::MissingKid,
        };
        let parse = |body: &[u8]| remote::public_key_set(body).map_err(RemoteJwksError::Malformed);
        self.get(&self.key_sets, uri, now, (kid, wanted), parse).await
    }

    /// The same for an OpenID issuer: its `jwks_uri` from
    /// `{issuer}/.well-known/openid-configuration` (the document's `issuer` must equal `issuer`
    /// exactly; cached like the keys).
    pub async fn issuer_key_set(
        &self,
        issuer: &str,
        kid: Option<&str>,
        now: i64,
    ) -> Result<Arc<JwkSet>, RemoteJwksError> {
        let parse = |body: &[u8]| {
            remote::discovered_jwks_uri(body, issuer).map_err(|refusal| match refusal {
                DiscoveryRefusal::Malformed(why) => RemoteJwksError::Malformed(why),
                DiscoveryRefusal::IssuerMismatch(found) => {
                    RemoteJwksError::IssuerMismatch { expected: issuer.to_owned(), found }
                }
            })
        };
        let discovery = remote::discovery_uri(issuer);
        let any = (None, |_: Option<&String>| Wanted::AnyKey);
        let jwks_uri = self.get(&self.issuers, &discovery, now, any, parse).await?;
        self.key_set(&jwks_uri, kid, now).await
    }

    /// One document from the cache or, by the domain's rules, fetched: by one caller while the
    /// others for the same URL wait for it and then read the cache. `wanted` is the `kid` asked
    /// for and whether a document holds it.
    async fn get<T>(
        &self,
        documents: &Documents<T>,
        uri: &str,
        now: i64,
        wanted: (Option<&str>, impl Fn(Option<&T>) -> Wanted),
        parse: impl FnOnce(&[u8]) -> Result<T, RemoteJwksError>,
    ) -> Result<Arc<T>, RemoteJwksError> {
        let url = remote::check_fetch_uri(uri, self.policy.allow_http_loopback)
            .map_err(|why| RemoteJwksError::NotAllowed(format!("{uri} {why}")))?;
        let rules = self.policy.rules();
        let slot = documents.slot(uri);
        if let Some(answer) = slot.answer(&wanted, now, &rules) {
            return answer;
        }
        let _flight = slot.flight.lock().await;
        // Whoever held the flight before may have fetched it meanwhile.
        if let Some(answer) = slot.answer(&wanted, now, &rules) {
            return answer;
        }
        let fetched = self
            .fetch(url)
            .await
            .and_then(|(body, cache_control)| Ok((parse(&body)?, rules.max_age(cache_control.as_deref()))));
        self.count(if fetched.is_ok() { "ok" } else { "failed" });
        match fetched {
            Ok((document, max_age)) => {
                let document = slot.store(document, max_age, now);
                match (wanted.1)(Some(&document)) {
                    Wanted::MissingKid => Err(unknown_kid(wanted.0)),
                    Wanted::AnyKey | Wanted::CachedKid => Ok(document),
                }
            }
            Err(error) => {
                slot.failed(error.clone(), now);
                // A copy still young enough serves (stale-if-error); it is the decision's.
                let answer = slot.answer(&wanted, now, &rules).unwrap_or_else(|| Err(error.clone()));
                let served = if answer.is_ok() { "; the cached copy serves meanwhile" } else { "" };
                // Once per failed fetch; failed fetches are not repeated within the cool-down.
                log::warn!("fetching {uri} failed{served}: {error}");
                answer
            }
        }
    }

    /// One exchange: GET, 200 only, the body read up to `max_bytes`, all within the timeout.
    async fn fetch(&self, url: url::Url) -> Result<(Vec<u8>, Option<String>), RemoteJwksError> {
        let exchange = async {
            let response = self
                .http
                .get(url)
                .header(reqwest::header::ACCEPT, "application/jwk-set+json, application/json")
                .send()
                .await
                .map_err(unreachable)?;
            if response.status() != reqwest::StatusCode::OK {
                return Err(RemoteJwksError::Status(response.status().as_u16()));
            }
            let cache_control = response
                .headers()
                .get(reqwest::header::CACHE_CONTROL)
                .and_then(|value| value.to_str().ok())
                .map(str::to_owned);
            let body =
                crate::net::read_limited(response, self.policy.max_bytes).await.map_err(unreachable)?;
            let body = body.ok_or(RemoteJwksError::TooLarge(self.policy.max_bytes))?;
            Ok((body, cache_control))
        };
        // reqwest bounds the exchange too; this makes the bound not depend on how it counts.
        tokio::time::timeout(self.policy.timeout, exchange).await.unwrap_or_else(|_| {
            Err(RemoteJwksError::Unreachable(format!("no answer within {:?}", self.policy.timeout)))
        })
    }

    fn count(&self, outcome: &str) {
        if let Some(fetches) = &self.fetches {
            fetches.with_label_values(&[outcome]).inc();
        }
    }
}

/// A transport error with its causes (connection refused, TLS, timeout), not what the remote
/// sent.
fn unreachable(error: reqwest::Error) -> RemoteJwksError {
    if error.is_timeout() {
        return RemoteJwksError::Unreachable("timed out (remote_jwks.timeout)".to_owned());
    }
    let mut text = error.to_string();
    let mut source = std::error::Error::source(&error);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    RemoteJwksError::Unreachable(text)
}

/// Documents of one kind by URL, at most [`MAX_DOCUMENTS`].
struct Documents<T> {
    slots: Mutex<Recency<T>>,
}

/// Each URL's slot and when it was last asked for, as a count of requests (not a time: ties
/// within a second would make the least recently used ambiguous).
struct Recency<T> {
    requests: u64,
    slots: HashMap<String, (u64, Arc<Slot<T>>)>,
}

impl<T> Default for Documents<T> {
    fn default() -> Self {
        Self { slots: Mutex::new(Recency { requests: 0, slots: HashMap::new() }) }
    }
}

impl<T> Documents<T> {
    /// The slot of `uri`, made if new (forgetting the least recently used one when full).
    fn slot(&self, uri: &str) -> Arc<Slot<T>> {
        let mut guard = self.slots.lock().unwrap_or_else(PoisonError::into_inner);
        let Recency { requests: tick, slots } = &mut *guard;
        *tick += 1;
        if let Some((used, slot)) = slots.get_mut(uri) {
            *used = *tick;
            return Arc::clone(slot);
        }
        if slots.len() >= MAX_DOCUMENTS {
            let oldest = slots.iter().min_by_key(|(_, (used, _))| *used).map(|(uri, _)| uri.clone());
            if let Some(oldest) = oldest {
                slots.remove(&oldest);
            }
        }
        let slot = Arc::new(Slot::default());
        slots.insert(uri.to_owned(), (*tick, Arc::clone(&slot)));
        slot
    }
}

/// One URL's cached document, its last fetch, and its flight: the lock a fetch is made under.
struct Slot<T> {
    state: Mutex<SlotState<T>>,
    flight: tokio::sync::Mutex<()>,
}

impl<T> Default for Slot<T> {
    fn default() -> Self {
        Self { state: Mutex::new(SlotState { cached: None, last_attempt: None }), flight: Default::default() }
    }
}

struct SlotState<T> {
    /// The document, when it was fetched, and for how many seconds it is fresh.
    cached: Option<(Arc<T>, i64, i64)>,
    /// The last fetch: when, and its error if it failed.
    last_attempt: Option<(i64, Option<RemoteJwksError>)>,
}

impl<T> Slot<T> {
    /// The answer the cache gives now, or `None` when the document must be fetched.
    fn answer(
        &self,
        (kid, wanted): &(Option<&str>, impl Fn(Option<&T>) -> Wanted),
        now: i64,
        rules: &FreshnessRules,
    ) -> Option<Result<Arc<T>, RemoteJwksError>> {
        let state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let cached = state.cached.as_ref();
        let view = CacheState {
            cached: cached.map(|(_, fetched_at, max_age)| (*fetched_at, *max_age)),
            last_attempt: state.last_attempt.as_ref().map(|(at, error)| (*at, error.is_some())),
        };
        match remote::decide(view, wanted(cached.map(|(document, ..)| &**document)), now, rules) {
            Decision::Fetch => None,
            Decision::Serve => cached.map(|(document, ..)| Ok(Arc::clone(document))),
            Decision::UnknownKid => Some(Err(unknown_kid(*kid))),
            Decision::Failing => state.last_attempt.as_ref().and_then(|(_, error)| error.clone()).map(Err),
        }
    }

    /// A copy fetched at `now`, fresh for `max_age` seconds.
    fn store(&self, document: T, max_age: i64, now: i64) -> Arc<T> {
        let document = Arc::new(document);
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        state.cached = Some((Arc::clone(&document), now, max_age));
        state.last_attempt = Some((now, None));
        document
    }

    /// A fetch at `now` failed; the copy there was stays.
    fn failed(&self, error: RemoteJwksError, now: i64) {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        state.last_attempt = Some((now, Some(error)));
    }
}

/// The `kid` asked for, bounded (it comes from a token's header, so from anyone).
fn unknown_kid(kid: Option<&str>) -> RemoteJwksError {
    RemoteJwksError::UnknownKid(kid.unwrap_or_default().chars().take(64).collect())
}
