//! The operations layer: one function per thing jwtd does, between the edges (HTTP handlers,
//! the admin API, the CLI) and storage. An operation runs its reads and writes in one
//! transaction together with its audit event; the edges parse, call one operation and map the
//! result. [`Authority`] is what the operations share at run time: the pool, the live key ring,
//! the clock, the token and family policies, and the caches (remote key sets among them). It knows nothing of HTTP.

pub mod audit;
pub mod backchannel;
pub mod bootstrap;
pub mod client_assertion;
pub mod client_cache;
pub mod clients;
pub mod codes;
pub mod consent;
pub mod dpop;
mod error;
pub mod exchange;
pub mod families;
pub mod feed;
pub mod grants;
pub mod key_lifecycle;
pub mod key_ring;
pub mod keys;
pub mod logout;
pub mod remote_jwks;
pub mod revocation;
pub mod signin;
pub mod throttle;
pub mod userinfo;
pub mod users;
pub mod web_origins;

pub use error::{Error, OAuthCode};

use std::sync::Arc;

use crate::accounts::clients::Deployment;
use crate::accounts::passwords::PasswordHasher;
use crate::accounts::sessions::SessionPolicy;
use crate::accounts::throttle::{AccountGate, ThrottlePolicy};
use crate::clock::Clock;
use crate::metrics::Metrics;
use crate::store::{self, DbConnection, Pool, StoreError};
use crate::tokens::TokenIssuer;
use crate::tokens::families::FamilyPolicy;
use backchannel::LogoutNotices;
use client_cache::ClientCache;
use feed::FeedCache;
use key_ring::LiveKeyRing;
use remote_jwks::RemoteJwks;
use web_origins::WebOrigins;

/// The running authority. Built per application, never global, so each test runs its own.
pub struct Authority {
    pub pool: Pool,
    pub keys: Arc<LiveKeyRing>,
    pub clock: Arc<dyn Clock>,
    pub issuer: TokenIssuer,
    /// Clock skew tolerated when jwtd checks its own tokens (admin API).
    pub leeway_secs: i64,
    pub passwords: Arc<PasswordHasher>,
    pub families: FamilyPolicy,
    pub throttle: ThrottlePolicy,
    /// Password attempts on one account take turns (see [`AccountGate`]).
    pub login_gate: AccountGate,
    pub feed: FeedCache,
    /// How far back the revocation feed reaches: the access-token lifetime plus the leeway a
    /// verifier may allow (see [`crate::config::Settings::revocation_window`]).
    pub revocation_window_secs: i64,
    /// The leeway a verifier may allow past `exp` (see
    /// [`crate::config::Settings::verifier_leeway`]).
    pub verifier_leeway_secs: i64,
    pub metrics: Arc<Metrics>,
    pub clients: ClientCache,
    /// Single sign-on sessions' lifetimes.
    pub sessions: SessionPolicy,
    /// The web origins clients registered, for CORS.
    pub web_origins: WebOrigins,
    /// Production or not: the client rules (redirect URIs, web origins) depend on it.
    pub deployment: Deployment,
    /// Back-channel logout notices: how they are delivered, and the delivery task's alarm.
    pub logout_notices: LogoutNotices,
    /// Key sets fetched from others (clients' `jwks_uri`, external issuers), cached.
    pub remote_jwks: RemoteJwks,
    /// What DPoP proofs (RFC 9449) jwtd accepts: algorithms, `iat` window, size.
    pub dpop: jwtd_verify::dpop::ProofPolicy,
}

impl Authority {
    /// Runs `work` with a pooled connection on the blocking pool (statements, and so
    /// transactions, never run on the async workers).
    pub async fn with_conn<T, F>(&self, work: F) -> Result<T, Error>
    where
        T: Send + 'static,
        F: FnOnce(&mut DbConnection) -> Result<T, Error> + Send + 'static,
    {
        let pool = self.pool.clone();
        tokio::task::spawn_blocking(move || work(&mut *pool.get().map_err(StoreError::from)?))
            .await
            .map_err(|e| Error::Interrupted(e.to_string()))?
    }

    /// Ready when the database answers (a signing key is loaded before the server starts).
    pub async fn check_ready(&self) -> Result<(), Error> {
        self.with_conn(|conn| Ok(store::ping(conn)?)).await
    }
}
