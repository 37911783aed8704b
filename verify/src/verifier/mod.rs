//! The token check itself: compact JWS parsing, header rules, signature, claims.
//!
//! Every step refuses rather than guesses. The header's `alg` is only a claim by the token;
//! the key (chosen by `kid`) decides which algorithm may check it. Headers that would point
//! the verifier at other keys (`jku`, `x5u`, `jwk`, `x5c`) are ignored, never fetched or
//! trusted. The payload is parsed only after the signature verifies.

mod signed;

use std::sync::Arc;
use std::time::Duration;

use serde::de::DeserializeOwned;

use crate::claims::{AccessClaims, ClaimsPolicy, RegisteredClaims, Scope};
use crate::jwks::JwksCache;
use crate::revocations::RevocationFeed;
use crate::strict_json::StrictJsonError;
use crate::{Clock, Error, SystemClock};
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

    pub fn build(self) -> Verifier {
        Verifier {
            inner: Arc::new(VerifierInner {
                keys: self.keys,
                policy: self.policy,
                clock: self.clock,
                accept_jwt_type: self.accept_jwt_type,
                max_token_bytes: self.max_token_bytes,
                revocations: self.revocations,
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
        }
    }

    pub fn keys(&self) -> &JwksCache {
        &self.inner.keys
    }

    /// Verifies `token` and returns its typed claims.
    pub async fn verify(&self, token: &str) -> Result<AccessClaims, Error> {
        self.verify_with(token, &|payload, kid| {
            let mut claims = RegisteredClaims::new(true);
            self.check_claims(&mut claims, payload, kid)?;
            claims.take_access_claims()
        })
        .await
    }

    /// Verifies `token` and decodes its claims as `C` (all checks of [`Self::verify`] apply
    /// first, so `C` only needs the fields the application cares about).
    pub async fn verify_as<C: DeserializeOwned>(&self, token: &str) -> Result<Verified<C>, Error> {
        self.verify_with(token, &|payload, kid| {
            let mut registered = RegisteredClaims::new(false);
            self.check_claims(&mut registered, payload, kid)?;
            let scope = registered.scope()?;
            // The strict pass above already refused repeated names, so serde_json's
            // last-one-wins never comes into play here.
            let claims = serde_json::from_slice(payload).map_err(|_| Error::InvalidClaim("custom claims"))?;
            Ok(Verified { claims, scope })
        })
        .await
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
