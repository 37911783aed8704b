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
//! - [`dpop`]: DPoP proofs (RFC 9449), checked by [`Verifier::verify_request`] or on their own.
//! - `actix` feature (default): the [`Authenticated`] extractor answering RFC 6750 and
//!   RFC 9449 errors.
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
//!
//! # DPoP
//!
//! A token jwtd binds to a client's key (RFC 9449) carries `cnf.jkt`, the key's thumbprint
//! ([`AccessClaims::cnf`], [`AccessClaims::is_dpop_bound`]), and is sent as
//! `Authorization: DPoP <token>` with a `DPoP` header holding a fresh proof signed by that key.
//! Tell the verifier the URL clients call the resource server by:
//!
//! ```no_run
//! # fn run(keys: jwtd_verify::JwksCache) {
//! use jwtd_verify::Verifier;
//!
//! let verifier = Verifier::builder(keys, "https://auth.example.com", "https://api.example.com")
//!     .public_origin("https://api.example.com") // what proofs' htu name, behind any proxy
//!     .build();
//! # }
//! ```
//!
//! The proof's `htu` is compared with that origin followed by the request's path, never with a
//! URL built from the `Host` header, so a server behind a proxy or load balancer checks the URL
//! its clients used. [`Verifier::verify_request`] (and the actix extractor, which calls it with
//! the request's method and path) then checks, in order: the token as [`Verifier::verify`] does
//! (revocations included); that a bound token did not come as `Bearer`
//! ([`Error::DpopBoundTokenAsBearer`]) and a `DPoP` one is bound ([`Error::NotDpopBound`]); the
//! proof ([`dpop::check_proof`]: `typ dpop+jwt`, an allowed asymmetric `alg`, a public `jwk`
//! that verifies the signature, `htm`, `htu`, `iat` within [`dpop::ProofPolicy`]'s 60 s (+5 s
//! skew), `ath` the hash of this token); that the proof's key is the token's (`cnf.jkt`); and
//! last that its `jti` was not seen before. Each refusal is its own [`dpop::ProofError`] inside
//! [`Error::Dpop`]. Without a valid public origin, DPoP requests are refused with
//! [`Error::DpopNotConfigured`] (the server's fault, not the token's); bearer tokens work either
//! way. [`Verifier::verify`] alone checks a token without its proof.
//!
//! The replay cache ([`dpop::ReplayCache`]) is **per instance** and **bounded** (100,000
//! proofs by default, each remembered for the policy's window of 65 s): replicas do not share
//! it, so a proof replayed to another replica within its minute is accepted there, and a flood
//! of fresh proofs can push out an older one before its window ends. What bounds a stolen
//! proof is its method, its URL, its token and its minute.

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
