//! jwtd-verify: verify jwtd's access tokens offline, in the resource servers that receive them.
//!
//! ```no_run
//! # async fn run() -> Result<(), jwtd_verify::Error> {
//! use jwtd_verify::{JwksCache, RevocationFeed, Verifier};
//!
//! let keys = JwksCache::discover("https://auth.example.com").build()?;
//! keys.refresh().await?; // fail fast at start-up
//! let _refresher = keys.spawn_refresh_task();
//! // Optional: refuse revoked sessions' tokens within seconds (see `revocations`).
//! let feed = RevocationFeed::for_issuer("https://auth.example.com", keys.clone()).build()?;
//! let _poller = feed.spawn_refresh_task();
//! let verifier = Verifier::builder(keys, "https://auth.example.com", "https://api.example.com")
//!     .revocations(feed)
//!     .build();
//! let claims = verifier.verify("eyJ…").await?;
//! assert!(claims.scope.contains("invoices:read"));
//! # Ok(()) }
//! ```
//!
//! - [`JwksCache`]: the issuer's keys, cached per `Cache-Control`, refreshed ahead of expiry,
//!   refetched (single flight, with a cool-down) on an unknown `kid`, last good set kept.
//! - [`Verifier`]: a strict RFC 9068 / RFC 8725 check of compact JWS access tokens.
//! - [`RevocationFeed`]: jwtd's signed feed of revoked refresh families, subjects, clients
//!   and signing keys, polled, so revoked sessions' access tokens are refused within seconds;
//!   see [`revocations`].
//! - `actix` feature (default): the [`Authenticated`] extractor answering RFC 6750 errors.
//!
//! # Delegated tokens
//!
//! A token jwtd issued by token exchange (RFC 8693) carries the `act` claim: the services
//! that acted on the user's behalf, most recent first. [`AccessClaims::act`] holds it
//! typed as an [`Actor`] chain; [`AccessClaims::actors`] lists the chain's `sub`s and
//! [`AccessClaims::is_delegated`] says whether there is one. `sub` stays the user the call is
//! on behalf of and `client_id` the service holding the token. The verifier refuses an `act`
//! that is not an object with a non-empty string `sub` at every level, or that names more than
//! [`MAX_DELEGATION_DEPTH`] actors, with [`Error::InvalidClaim`]`("act")`; it never appears in
//! [`AccessClaims::extra`].

mod algorithm;
mod claims;
mod clock;
mod compact;
pub mod dpop;
mod error;
mod fetch;
mod header;
mod jwks;
mod member;
pub mod revocations;
mod strict_json;
mod verifier;

#[cfg(feature = "actix")]
mod actix;

#[cfg(feature = "actix")]
pub use actix::{Authenticated, BearerError};
pub use algorithm::{Algorithm, KeyRejected, VerifyingKey};
pub use claims::{AccessClaims, Actor, Confirmation, MAX_DELEGATION_DEPTH, Scope};
pub use clock::{Clock, ManualClock, SystemClock};
pub use error::Error;
pub use jwks::{JwksCache, JwksCacheBuilder, KeySet};
pub use revocations::{RevocationFeed, RevocationFeedBuilder, RevocationList, StalePolicy};
pub use verifier::{DEFAULT_MAX_TOKEN_BYTES, MAX_LEEWAY, Verified, Verifier, VerifierBuilder};
