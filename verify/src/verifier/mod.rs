//! The token check itself: compact JWS parsing, header rules, signature, claims.
//!
//! Every step refuses rather than guesses. The header's `alg` is only a claim by the token;
//! the key (chosen by `kid`) decides which algorithm may check it. Headers that would point
//! the verifier at other keys (`jku`, `x5u`, `jwk`, `x5c`) are ignored, never fetched or
//! trusted. The payload is parsed only after the signature verifies.

mod request;
mod signed;

use std::sync::Arc;
use std::time::Duration;

use serde::de::DeserializeOwned;

use crate::claims::{AccessClaims, ClaimsPolicy, RegisteredClaims, Scope};
use crate::dpop::{ProofPolicy, ReplayCache};
use crate::jwks::JwksCache;
use crate::revocations::RevocationFeed;
use crate::strict_json::StrictJsonError;
use crate::{Clock, Error, SystemClock};
#[cfg(feature = "actix")]
pub(crate) use request::{Credential, CredentialError, Scheme};
use request::{Dpop, PublicOrigin};
use signed::{KeySource, Pass};

/// Largest token accepted by default. jwtd's tokens are about 1 KiB; anything near this is an
/// attempt to make the verifier work for nothing.
pub const DEFAULT_MAX_TOKEN_BYTES: usize = 8 * 1024;

/// The most clock skew tolerated on `exp`, `nbf` and `iat`, and the default. Clocks further
/// apart than a minute are broken, not skewed; and jwtd's revocation feed lists a revoked
/// family only as long as a token of it could still verify with at most this leeway, so a
/// longer one would let a revoked token verify after the feed stopped listing it.
pub const MAX_LEEWAY: Duration = Duration::from_secs(60);

/// What a verification makes of a payload whose signature verified, given the `kid` that
/// signed it.
type Finish<'a, T> = dyn Fn(&[u8], &str) -> Result<T, Error> + Sync + 'a;

/// The last check of a verification, given the token's `cnf.jkt`: how the token was sent
/// must fit what it is bound to (see `request`).
type Bound<'a> = dyn Fn(Option<&str>) -> Result<(), Error> + Sync + 'a;

/// Verifies jwtd access tokens against a [`JwksCache`]. Cloning is cheap.
#[derive(Clone)]
pub struct Verifier {
    inner: Arc<VerifierInner>,
}

struct VerifierInner {
    keys: JwksCache,
    policy: ClaimsPolicy,
    clock: Arc<dyn Clock>,
    accept_jwt_type: bool,
    max_token_bytes: usize,
    revocations: Option<RevocationFeed>,
    dpop: Dpop,
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Verifier")
            .field("issuer", &self.inner.policy.issuer)
            .field("audience", &self.inner.policy.audience)
            .field("keys", &self.inner.keys)
            .finish_non_exhaustive()
    }
}

/// A verified token's claims decoded as `C`, plus its scope (kept apart so scope checks work
/// whatever `C` is).
#[derive(Debug, Clone)]
pub struct Verified<C> {
    pub claims: C,
    pub scope: Scope,
}

/// Configures a [`Verifier`]; start from [`Verifier::builder`].
#[must_use]
pub struct VerifierBuilder {
    keys: JwksCache,
    policy: ClaimsPolicy,
    clock: Arc<dyn Clock>,
    accept_jwt_type: bool,
    max_token_bytes: usize,
    revocations: Option<RevocationFeed>,
    public_origin: PublicOrigin,
    dpop_policy: ProofPolicy,
    dpop_replay_cache: Option<ReplayCache>,
}

impl VerifierBuilder {
    /// Tolerance for clock skew on `exp`, `nbf` and `iat` (default and most: [`MAX_LEEWAY`];
    /// a larger value is lowered to it, with a warning).
    pub fn leeway(mut self, leeway: Duration) -> Self {
        if leeway > MAX_LEEWAY {
            log::warn!("jwtd-verify: a leeway of {leeway:?} is lowered to {MAX_LEEWAY:?}");
        }
        self.policy.leeway_secs = leeway_secs(leeway.min(MAX_LEEWAY));
        self
    }

    /// Claims that must be present beyond those RFC 9068 requires (`iss exp aud sub client_id
    /// iat jti` are always required), e.g. `sid` to accept only user tokens.
    pub fn require_claims<I, S>(mut self, names: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.policy.required.extend(names.into_iter().map(Into::into));
        self
    }

    /// Compatibility switch: also accept `typ: JWT` (issuers that predate RFC 9068). Off by
    /// default, because it lets an ID token pass as an access token.
    pub fn accept_jwt_type(mut self, accept: bool) -> Self {
        self.accept_jwt_type = accept;
        self
    }

    /// The clock for `exp`/`nbf`/`iat` (default: the system clock).
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Largest token accepted (default 8 KiB).
    pub fn max_token_bytes(mut self, max: usize) -> Self {
        self.max_token_bytes = max;
        self
    }

    /// Refuse tokens that jwtd's revocation feed revokes, with [`Error::Revoked`]: a listed
    /// `sid`, an `iat` before its subject's or its client's not-before time, or a header `kid`
    /// naming a revoked signing key. The check reads the feed's
    /// current list and never waits for it; keep it current with
    /// [`RevocationFeed::spawn_refresh_task`] (see [`crate::revocations`] for how fresh).
    pub fn revocations(mut self, feed: RevocationFeed) -> Self {
        self.revocations = Some(feed);
        self
    }

    /// The resource server's public origin, e.g. `https://api.example.com`: what clients call
    /// it by, so what their DPoP proofs' `htu` name. A proof's `htu` is compared with this
    /// origin followed by the request's path, never with a URL made from the `Host` header,
    /// so a server behind a proxy or a load balancer checks the URL its clients used. Without
    /// it (or with an origin that is not `scheme://host[:port]`), DPoP requests are refused
    /// with [`Error::DpopNotConfigured`]; bearer tokens work either way.
    pub fn public_origin(mut self, origin: &str) -> Self {
        self.public_origin = PublicOrigin::parse(origin);
        self
    }

    /// Limits on DPoP proofs (default: [`ProofPolicy::default`]).
    pub fn dpop_policy(mut self, policy: ProofPolicy) -> Self {
        self.dpop_policy = policy;
        self
    }

    /// The cache of seen proofs (default: one of [`crate::dpop::DEFAULT_REPLAY_CAPACITY`]
    /// entries over the policy's [`ProofPolicy::window`]). Pass a clone to share one cache
    /// between verifiers of the same server.
    pub fn dpop_replay_cache(mut self, cache: ReplayCache) -> Self {
        self.dpop_replay_cache = Some(cache);
        self
    }

    pub fn build(self) -> Verifier {
        let replay = self.dpop_replay_cache.unwrap_or_else(|| {
            ReplayCache::new(crate::dpop::DEFAULT_REPLAY_CAPACITY, self.dpop_policy.window())
        });
        Verifier {
            inner: Arc::new(VerifierInner {
                keys: self.keys,
                policy: self.policy,
                clock: self.clock,
                accept_jwt_type: self.accept_jwt_type,
                max_token_bytes: self.max_token_bytes,
                revocations: self.revocations,
                dpop: Dpop { origin: self.public_origin, policy: self.dpop_policy, replay },
            }),
        }
    }
}

impl Verifier {
    /// A verifier for tokens issued by `issuer` (compared as an exact string) for `audience`.
    pub fn builder(
        keys: JwksCache,
        issuer: impl Into<String>,
        audience: impl Into<String>,
    ) -> VerifierBuilder {
        VerifierBuilder {
            keys,
            policy: ClaimsPolicy {
                issuer: issuer.into(),
                audience: audience.into(),
                leeway_secs: leeway_secs(MAX_LEEWAY),
                required: Vec::new(),
            },
            clock: Arc::new(SystemClock),
            accept_jwt_type: false,
            max_token_bytes: DEFAULT_MAX_TOKEN_BYTES,
            revocations: None,
            public_origin: PublicOrigin::Unset,
            dpop_policy: ProofPolicy::default(),
            dpop_replay_cache: None,
        }
    }

    pub fn keys(&self) -> &JwksCache {
        &self.inner.keys
    }

    /// Verifies `token` and returns its typed claims.
    ///
    /// This checks the token alone, not how it was sent: a DPoP-bound token
    /// ([`AccessClaims::is_dpop_bound`]) verifies here without its proof. A resource server
    /// answering requests uses [`Self::verify_request`], which checks both.
    pub async fn verify(&self, token: &str) -> Result<AccessClaims, Error> {
        self.verify_with(token, &|payload, kid| self.access_claims(payload, kid, &|_| Ok(()))).await
    }

    /// Verifies `token` and decodes its claims as `C` (all checks of [`Self::verify`] apply
    /// first, so `C` only needs the fields the application cares about).
    pub async fn verify_as<C: DeserializeOwned>(&self, token: &str) -> Result<Verified<C>, Error> {
        self.verify_with(token, &|payload, kid| self.claims_as(payload, kid, &|_| Ok(()))).await
    }

    /// The typed claims of a payload signed by `kid`, once `bound` accepted the token's
    /// `cnf.jkt`.
    fn access_claims(&self, payload: &[u8], kid: &str, bound: &Bound<'_>) -> Result<AccessClaims, Error> {
        let mut claims = RegisteredClaims::new(true);
        self.check_claims(&mut claims, payload, kid)?;
        let claims = claims.take_access_claims()?;
        bound(claims.cnf.as_ref().and_then(|cnf| cnf.jkt.as_deref()))?;
        Ok(claims)
    }

    /// The claims of a payload signed by `kid` decoded as `C`, once `bound` accepted the
    /// token's `cnf.jkt`.
    fn claims_as<C: DeserializeOwned>(
        &self,
        payload: &[u8],
        kid: &str,
        bound: &Bound<'_>,
    ) -> Result<Verified<C>, Error> {
        let mut registered = RegisteredClaims::new(false);
        self.check_claims(&mut registered, payload, kid)?;
        let scope = registered.scope()?;
        // The strict pass above already refused repeated names, so serde_json's
        // last-one-wins never comes into play here.
        let claims = serde_json::from_slice(payload).map_err(|_| Error::InvalidClaim("custom claims"))?;
        bound(registered.confirmation_jkt()?)?;
        Ok(Verified { claims, scope })
    }

    /// One synchronous pass with the cached keys; only when they are stale or lack the
    /// token's `kid` does this wait for the key cache, then make a second pass with the keys
    /// it got. Keeping the pass out of the `async` body keeps the future small: the decode
    /// buffers live on the stack of a plain call, not in a future that gets moved around.
    async fn verify_with<T>(&self, token: &str, finish: &Finish<'_, T>) -> Result<T, Error> {
        let kid = match self.signed_pass(token, KeySource::Cached, finish)? {
            Pass::Done(value) => return Ok(value),
            Pass::NeedKeys(kid) => kid,
        };
        let key_set = self.inner.keys.key_set_with(&kid).await?;
        match self.signed_pass(token, KeySource::Given(&key_set), finish)? {
            Pass::Done(value) => Ok(value),
            Pass::NeedKeys(_) => Err(Error::UnknownKey),
        }
    }

    /// The claims of a payload signed by `kid`, parsed strictly into `claims` and checked
    /// against the policy and the revocation feed.
    fn check_claims<'p>(
        &self,
        claims: &mut RegisteredClaims<'p>,
        payload: &'p [u8],
        kid: &str,
    ) -> Result<(), Error> {
        claims.parse_into(payload).map_err(|e| match e {
            StrictJsonError::DuplicateMember => Error::DuplicateMember,
            StrictJsonError::Invalid => Error::MalformedClaims,
        })?;
        self.inner.policy.check(claims, self.inner.clock.now())?;
        if let Some(feed) = &self.inner.revocations {
            feed.check(&claims.revocable(kid))?;
        }
        Ok(())
    }
}

/// Whole seconds of a leeway no longer than [`MAX_LEEWAY`].
fn leeway_secs(leeway: Duration) -> i64 {
    i64::try_from(leeway.as_secs()).unwrap_or(i64::MAX)
}
