//! jwtd-verify integration tests: one binary, one module per concern.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

mod attacks;
mod claims;
mod delegation;
mod dpop;
mod extractor;
mod fake_issuer;
mod helpers;
mod jwks;
mod revocations;
mod wycheproof_rsa;
