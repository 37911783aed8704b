//! jwtd: a standalone token authority. It signs short-lived JWT access tokens (RFC 9068),
//! publishes its keys as a JWKS, and keeps clients and keys in PostgreSQL or SQLite.
//!
//! `main.rs` is a thin CLI over this library; `startup::Application` builds the server for it
//! and for the integration tests alike. `docs/architecture.md` maps the layers.

pub mod accounts;
pub mod authority;
pub mod background;
pub mod cli;
pub mod clock;
pub mod config;
pub mod housekeeping;
pub mod http;
pub mod keys;
mod layers;
pub mod logging;
pub mod metrics;
pub mod net;
pub mod scope;
pub mod startup;
pub mod store;
pub mod tokens;
