//! Integration tests: the real server on port 0, a fresh database per test, on SQLite always
//! and on PostgreSQL when `JWTD_TEST_DATABASE_URL` names a server (required when `CI=true`).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

mod helpers;

mod admin;
mod backchannel;
mod browser;
mod cli;
mod clients;
mod cluster;
mod code_flow;
mod consent_logout;
mod discovery;
mod dpop;
mod flow_clients;
mod keys;
mod operations;
mod private_key_jwt;
mod refresh;
mod relying_party;
mod remote_jwks;
mod resource_indicators;
mod resource_server;
mod rotation;
mod sign_in;
mod storage;
mod token;
mod token_exchange;
mod users;
mod workload_identity;
