//! Builds the server. `main` and the tests use the same builder: `Application::build` opens
//! the database, loads (or creates) the key ring, binds the listener and exposes the port.

use std::net::TcpListener;
use std::sync::Arc;

use actix_web::dev::{Server, ServerHandle};
use actix_web::http::header::HeaderValue;
use actix_web::web::{self, Bytes};
use actix_web::{App, HttpServer};
use secrecy::ExposeSecret;

use crate::clock::{Clock, SystemClock};
use crate::config::Settings;
use crate::http;
use crate::keys::master::{MasterKey, MasterKeyError};
use crate::keys::signing::Algorithm;
use crate::keys::{KeyPolicy, KeyRing, KeyRingError, SharedKeyRing};
use crate::store::{self, Pool, PoolOptions, StoreError};
use crate::tokens::TokenIssuer;

/// What every request handler can reach. Built per application, never global, so each test
/// runs its own.
pub struct AppState {
    pub pool: Pool,
    pub keys: Arc<SharedKeyRing>,
    pub clock: Arc<dyn Clock>,
    pub issuer: TokenIssuer,
    pub metadata: Bytes,
    pub public_cache_control: HeaderValue,
}

#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error("master key: {0}")]
    MasterKey(#[from] MasterKeyError),
    #[error("database: {0}")]
    Store(#[from] StoreError),
    #[error("key ring: {0}")]
    Keys(#[from] KeyRingError),
    #[error("cannot listen on {addr}: {source}")]
    Bind { addr: String, source: std::io::Error },
    #[error("{0}")]
    Other(String),
}

pub struct Application {
    port: u16,
    server: Server,
}

impl Application {
    pub async fn build(settings: Settings) -> Result<Self, StartupError> {
        Self::build_with_clock(settings, Arc::new(SystemClock)).await
    }

    pub async fn build_with_clock(settings: Settings, clock: Arc<dyn Clock>) -> Result<Self, StartupError> {
        let settings = Arc::new(settings);
        let startup_settings = Arc::clone(&settings);
        let startup_clock = Arc::clone(&clock);
        let (pool, ring) = web::block(move || open_storage(&startup_settings, startup_clock.now()))
            .await
            .map_err(|e| StartupError::Other(e.to_string()))??;

        let metadata = http::discovery::metadata_document(&settings.issuer)
            .map_err(|e| StartupError::Other(e.to_string()))?;
        let state = web::Data::new(AppState {
            pool,
            keys: Arc::new(SharedKeyRing::new(ring)),
            clock,
            issuer: TokenIssuer {
                issuer: settings.issuer.clone(),
                access_ttl_secs: i64::try_from(settings.tokens.access_ttl.as_secs()).unwrap_or(900),
                default_audience: settings.default_audience().to_owned(),
            },
            metadata,
            public_cache_control: http::discovery::cache_control(settings.keys.jwks_max_age.as_secs()),
        });

        let addr = settings.http.addr.clone();
        let listener =
            TcpListener::bind(&addr).map_err(|source| StartupError::Bind { addr: addr.clone(), source })?;
        let port = listener.local_addr().map_err(|source| StartupError::Bind { addr, source })?.port();
        let max_body = settings.http.max_body_bytes;
        let mut server = HttpServer::new(move || {
            App::new()
                .app_data(state.clone())
                .app_data(web::PayloadConfig::new(max_body))
                .wrap(http::json_errors())
                .configure(http::routes)
        })
        .shutdown_timeout(settings.http.shutdown_timeout.as_secs());
        if settings.http.workers > 0 {
            server = server.workers(settings.http.workers);
        }
        let server = server
            .listen(listener)
            .map_err(|source| StartupError::Bind { addr: settings.http.addr.clone(), source })?
            .run();
        Ok(Self { port, server })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Stops the server (gracefully with `stop(true)`), e.g. from a test.
    pub fn handle(&self) -> ServerHandle {
        self.server.handle()
    }

    /// Serves until stopped; SIGINT and SIGTERM stop gracefully, letting in-flight requests finish.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.server.await
    }
}

/// Opens the pool (running migrations) and loads the key ring, generating the first key on a
/// new database. Blocking.
fn open_storage(settings: &Settings, now: i64) -> Result<(Pool, KeyRing), StartupError> {
    let master = MasterKey::load(settings.master_key_source())?;
    let pool = open_pool(settings)?;
    let mut conn = pool.get().map_err(StoreError::from)?;
    let policy = KeyPolicy { alg: Algorithm::Rs256, rsa_bits: settings.keys.rsa_bits };
    let ring = KeyRing::load_or_create(&mut conn, &master, policy, now)?;
    drop(conn);
    Ok((pool, ring))
}

/// The pool with migrations applied, for the server and the CLI alike.
pub fn open_pool(settings: &Settings) -> Result<Pool, StoreError> {
    store::open(
        settings.database.url.expose_secret(),
        &PoolOptions {
            max_size: settings.database.pool_size,
            checkout_timeout: settings.database.checkout_timeout,
        },
    )
}
