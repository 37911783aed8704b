//! Builds the server. `main` and the tests use the same builder: `Application::build` opens
//! the database, loads (or creates) the key ring, binds the listener and exposes the port.

use std::net::TcpListener;
use std::sync::Arc;

use actix_web::dev::{Server, ServerHandle};
use actix_web::web;
use actix_web::{App, HttpServer};
use secrecy::ExposeSecret;

use crate::accounts::clients::Deployment;
use crate::accounts::passwords::PasswordHasher;
use crate::accounts::sessions::SessionPolicy;
use crate::accounts::throttle::{AccountGate, ThrottlePolicy};
use crate::authority::Authority;
use crate::authority::backchannel::{self, DeliveryPolicy, LogoutNotices};
use crate::authority::bootstrap;
use crate::authority::client_cache::ClientCache;
use crate::authority::feed::FeedCache;
use crate::authority::key_lifecycle;
use crate::authority::key_ring::LiveKeyRing;
use crate::authority::remote_jwks::{RemoteJwks, RemoteJwksPolicy};
use crate::authority::web_origins::WebOrigins;
use crate::clock::{Clock, SystemClock};
use crate::config::{Environment, Settings};
use crate::housekeeping::{self, PurgePolicy};
use crate::http;
use crate::keys::KeyRing;
use crate::keys::lifecycle::{KeyLifecycle, KeySchedule};
use crate::keys::master::{MasterKey, MasterKeyError};
use crate::metrics::{Metrics, RequestTimer};
use crate::store::{self, Pool, PoolOptions, StoreError};
use crate::tokens::TokenIssuer;
use crate::tokens::families::FamilyPolicy;

#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error("master key: {0}")]
    MasterKey(#[from] MasterKeyError),
    #[error("database: {0}")]
    Store(#[from] StoreError),
    #[error("key ring: {0}")]
    Keys(#[from] crate::authority::Error),
    #[error("cannot listen on {addr}: {source}")]
    Bind { addr: String, source: std::io::Error },
    #[error("password hashing: {0}")]
    Passwords(#[from] crate::accounts::passwords::PasswordError),
    #[error("metrics: {0}")]
    Metrics(#[from] prometheus::Error),
    #[error("discovery document: {0}")]
    Discovery(#[from] serde_json::Error),
    #[error("bootstrap admin: {0}")]
    Bootstrap(#[from] bootstrap::BootstrapError),
    #[error("bootstrap admin: {0} exists already; move it away or name another file")]
    BootstrapFileExists(std::path::PathBuf),
    #[error("a start-up task did not finish: {0}")]
    Interrupted(#[from] actix_web::error::BlockingError),
    #[error("outbound HTTP client: {0}")]
    Outbound(#[from] reqwest::Error),
}

pub struct Application {
    port: u16,
    admin_port: Option<u16>,
    server: Server,
    /// Key-ring maintenance, the purge, back-channel logout delivery: stopped with the server.
    background: Vec<tokio::task::JoinHandle<()>>,
}

impl Application {
    pub async fn build(settings: Settings) -> Result<Self, StartupError> {
        Self::build_with_clock(settings, Arc::new(SystemClock)).await
    }

    pub async fn build_with_clock(settings: Settings, clock: Arc<dyn Clock>) -> Result<Self, StartupError> {
        // The ports first: a taken port fails the start before any database, key or bootstrap
        // secret is created.
        let listeners = Listeners::bind(&settings)?;
        let settings = Arc::new(settings);
        let (startup_settings, startup_clock) = (Arc::clone(&settings), Arc::clone(&clock));
        let (pool, lifecycle, ring) =
            web::block(move || open_storage(&startup_settings, startup_clock.now())).await??;
        let password_settings = Arc::clone(&settings);
        let passwords = web::block(move || PasswordHasher::new(&password_settings.passwords)).await??;
        let metrics = Arc::new(Metrics::new()?);
        let keys = Arc::new(LiveKeyRing::new(
            ring,
            lifecycle,
            pool.clone(),
            Arc::clone(&clock),
            Arc::clone(&metrics),
        ));
        let mut background = vec![
            keys.spawn_maintenance(settings.keys.reload_interval),
            spawn_purge(&settings, pool.clone(), Arc::clone(&clock), &metrics),
        ];
        let passwords = Arc::new(passwords.counting(metrics.password_verifications.clone()));
        let state = web::Data::new(authority(&settings, pool, keys, clock, passwords, Arc::clone(&metrics))?);
        background.push(backchannel::spawn(state.clone().into_inner()));
        let edge = web::Data::new(edge(&settings, listeners.admin_port())?);
        let (port, admin_port) = (listeners.port, listeners.admin_port());
        let server = http_server(&settings, state, edge, metrics, listeners)?;
        Ok(Self { port, admin_port, server, background })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The admin API's own port, when `admin.addr` is set.
    pub fn admin_port(&self) -> Option<u16> {
        self.admin_port
    }

    /// Stops the server (gracefully with `stop(true)`), e.g. from a test.
    pub fn handle(&self) -> ServerHandle {
        self.server.handle()
    }

    /// Serves until stopped; SIGINT and SIGTERM stop gracefully, letting in-flight requests finish.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let result = self.server.await;
        self.background.iter().for_each(tokio::task::JoinHandle::abort);
        result
    }
}

/// The main listener and, with `admin.addr`, the admin API's own.
struct Listeners {
    main: TcpListener,
    port: u16,
    admin: Option<(TcpListener, u16)>,
}

impl Listeners {
    fn bind(settings: &Settings) -> Result<Self, StartupError> {
        let (main, port) = bind(&settings.http.addr)?;
        let admin = match settings.admin.addr.as_str() {
            "" => None,
            addr => Some(bind(addr)?),
        };
        Ok(Self { main, port, admin })
    }

    fn admin_port(&self) -> Option<u16> {
        self.admin.as_ref().map(|(_, port)| *port)
    }
}

fn secs(d: std::time::Duration) -> i64 {
    i64::try_from(d.as_secs()).unwrap_or(i64::MAX / 4)
}

/// The purge of expired and long-revoked rows, on its schedule.
fn spawn_purge(
    settings: &Settings,
    pool: Pool,
    clock: Arc<dyn Clock>,
    metrics: &Metrics,
) -> tokio::task::JoinHandle<()> {
    let policy = PurgePolicy {
        interval: settings.refresh.purge_interval,
        keep_revoked: secs(settings.refresh.keep_revoked),
        keep_audit: (!settings.audit.keep.is_zero()).then(|| secs(settings.audit.keep)),
        horizon: secs(settings.throttle.window.max(settings.throttle.lockout))
            .max(secs(settings.revocation_window())),
    };
    housekeeping::spawn(pool, clock, policy, metrics.background_restarts.clone())
}

/// The operations' shared state, from the settings and what start-up opened.
fn authority(
    settings: &Settings,
    pool: Pool,
    keys: Arc<LiveKeyRing>,
    clock: Arc<dyn Clock>,
    passwords: Arc<PasswordHasher>,
    metrics: Arc<Metrics>,
) -> Result<Authority, StartupError> {
    let remote_jwks =
        RemoteJwks::new(remote_jwks_policy(settings))?.counting(metrics.remote_jwks_fetches.clone());
    Ok(Authority {
        pool,
        keys,
        clock,
        issuer: TokenIssuer {
            issuer: settings.issuer.clone(),
            access_ttl_secs: secs(settings.tokens.access_ttl),
            default_audience: settings.default_audience().to_owned(),
        },
        leeway_secs: secs(settings.keys.leeway),
        passwords,
        families: family_policy(settings),
        throttle: ThrottlePolicy::from_settings(&settings.throttle),
        login_gate: AccountGate::new(),
        feed: FeedCache::default(),
        revocation_window_secs: secs(settings.revocation_window()),
        verifier_leeway_secs: secs(settings.verifier_leeway()),
        metrics,
        clients: ClientCache::default(),
        sessions: SessionPolicy {
            idle_ttl: secs(settings.sessions.idle_ttl),
            absolute_ttl: secs(settings.sessions.absolute_ttl),
        },
        web_origins: WebOrigins::default(),
        deployment: settings.deployment(),
        logout_notices: LogoutNotices::new(delivery_policy(settings))?,
        remote_jwks,
        dpop: jwtd_verify::dpop::ProofPolicy::default(),
    })
}

/// How others' key sets are fetched, from the configuration: plain http to a loopback host
/// only in development.
fn remote_jwks_policy(settings: &Settings) -> RemoteJwksPolicy {
    let configured = &settings.remote_jwks;
    RemoteJwksPolicy {
        timeout: configured.timeout,
        max_bytes: configured.max_bytes,
        min_max_age: secs(configured.min_max_age),
        max_max_age: secs(configured.max_max_age),
        default_max_age: secs(configured.default_max_age),
        unknown_kid_cooldown: secs(configured.unknown_kid_cooldown),
        allow_http_loopback: settings.deployment() == Deployment::Development,
    }
}

/// How back-channel logout notices are delivered, from the configuration.
fn delivery_policy(settings: &Settings) -> DeliveryPolicy {
    let configured = &settings.backchannel_logout;
    DeliveryPolicy {
        timeout: configured.timeout,
        max_attempts: configured.max_attempts,
        // Rounded up: the retry schedule counts whole seconds.
        retry_base_secs: secs(configured.retry_base) + i64::from(configured.retry_base.subsec_nanos() > 0),
        poll_interval: configured.poll_interval,
    }
}

/// What only the HTTP edge needs.
fn edge(settings: &Settings, admin_port: Option<u16>) -> Result<http::Edge, StartupError> {
    Ok(http::Edge {
        metadata: http::discovery::metadata_document(&settings.issuer)?,
        public_cache_control: http::discovery::cache_control(settings.keys.jwks_max_age.as_secs()),
        feed_cache_control: http::discovery::cache_control(settings.revocations.max_age.as_secs()),
        admin_port,
        public_metrics: settings.public_metrics(),
        trusted_proxies: settings.http.trusted_proxies.clone(),
        brand: Arc::new(http::pages::Brand::new(&settings.login)),
        stylesheet: http::pages::stylesheet(&settings.login).into(),
    })
}

/// The HTTP server on the bound listeners: routes, JSON errors, latency metrics, and HSTS when
/// reached over https (production insists: browsers must never try plain http, RFC 6797).
fn http_server(
    settings: &Settings,
    state: web::Data<Authority>,
    edge: web::Data<http::Edge>,
    metrics: Arc<Metrics>,
    listeners: Listeners,
) -> Result<Server, StartupError> {
    let max_body = settings.http.max_body_bytes;
    let hsts = settings.issuer.starts_with("https://");
    let mut server = HttpServer::new(move || {
        App::new()
            .app_data(state.clone())
            .app_data(edge.clone())
            .app_data(web::PayloadConfig::new(max_body))
            .wrap(http::json_errors())
            .wrap(RequestTimer(Arc::clone(&metrics)))
            // Outermost, so the JSON error pages get it too.
            .wrap(actix_web::middleware::Condition::new(
                hsts,
                actix_web::middleware::DefaultHeaders::new()
                    .add((actix_web::http::header::STRICT_TRANSPORT_SECURITY, "max-age=31536000")),
            ))
            .configure(http::routes)
    })
    .shutdown_timeout(settings.http.shutdown_timeout.as_secs());
    if settings.http.workers > 0 {
        server = server.workers(settings.http.workers);
    }
    let bind_error = |addr: &str| {
        let addr = addr.to_owned();
        move |source| StartupError::Bind { addr, source }
    };
    server = server.listen(listeners.main).map_err(bind_error(&settings.http.addr))?;
    if let Some((admin, _)) = listeners.admin {
        server = server.listen(admin).map_err(bind_error(&settings.admin.addr))?;
    }
    Ok(server.run())
}

fn bind(addr: &str) -> Result<(TcpListener, u16), StartupError> {
    let bind_error = |source| StartupError::Bind { addr: addr.to_owned(), source };
    let listener = TcpListener::bind(addr).map_err(bind_error)?;
    let port = listener.local_addr().map_err(bind_error)?.port();
    Ok((listener, port))
}

/// Opens the pool (running migrations), makes sure a current and a next key exist, and loads
/// the key ring. Blocking.
fn open_storage(settings: &Settings, now: i64) -> Result<(Pool, Arc<KeyLifecycle>, KeyRing), StartupError> {
    let master = Arc::new(MasterKey::load(settings.master_key_source())?);
    let pool = open_pool(settings)?;
    let lifecycle = Arc::new(key_lifecycle(settings, master));
    let mut conn = pool.get().map_err(StoreError::from)?;
    key_lifecycle::ensure_ready(&mut conn, &lifecycle, now)?;
    let ring = key_lifecycle::load(&mut conn, &lifecycle)?;
    if settings.admin.bootstrap {
        bootstrap_admin(&mut conn, settings, now)?;
    }
    drop(conn);
    Ok((pool, lifecycle, ring))
}

/// Creates the bootstrap admin client on a new database and shows its secret, once. In
/// development: on standard output (not the log) and in `{data_dir}/bootstrap-admin.json` (or
/// `JWTD_BOOTSTRAP_ADMIN_FILE`), mode 0600. In production a secret is never printed (it would
/// land in container logs): the client is created only when `JWTD_BOOTSTRAP_ADMIN_FILE` names a
/// file to write it to; otherwise the operator creates one with the CLI.
fn bootstrap_admin(
    conn: &mut crate::store::DbConnection,
    settings: &Settings,
    now: i64,
) -> Result<(), StartupError> {
    let production = settings.environment == Environment::Production;
    let path = match (&settings.bootstrap_admin_file, production) {
        (Some(path), _) => path.clone(),
        (None, false) => settings.data_dir.join("bootstrap-admin.json"),
        (None, true) => {
            if !bootstrap::has_admin_client(conn).map_err(StoreError::from)? {
                log::warn!(
                    "no admin client is created automatically in production: create one with                      `jwtd clients create --name admin --scope jwtd:admin` (its secret is shown on                      that terminal), or set JWTD_BOOTSTRAP_ADMIN_FILE to a path for jwtd to write it to"
                );
            }
            return Ok(());
        }
    };
    if !bootstrap::is_done(conn).map_err(StoreError::from)? && path.exists() {
        return Err(StartupError::BootstrapFileExists(path));
    }
    let Some((client, secret)) = bootstrap::ensure_admin_client(conn, now)? else {
        return Ok(());
    };
    bootstrap::write_credentials(&path, &client, &secret)?;
    log::warn!(
        "bootstrap admin client {} created; its credentials are in {} (mode 0600)",
        client.id,
        path.display()
    );
    if !production {
        println!(
            "jwtd: created the bootstrap admin client (scope jwtd:admin). Its secret is shown once:\n  \
             client_id={}\n  client_secret={}",
            client.id,
            secret.expose()
        );
    }
    Ok(())
}

fn family_policy(settings: &Settings) -> FamilyPolicy {
    let secs = |d: std::time::Duration| i64::try_from(d.as_secs()).unwrap_or(i64::MAX / 4);
    FamilyPolicy {
        idle_ttl: secs(settings.refresh.idle_ttl),
        absolute_ttl: secs(settings.refresh.absolute_ttl),
        reuse_grace: secs(settings.refresh.reuse_grace),
        binding: settings.refresh.binding,
        binding_ip: settings.refresh.binding_ip,
        token_format: settings.refresh.token_format,
    }
}

/// The key lifecycle's timing, in seconds, from the configuration.
pub fn key_schedule(keys: &crate::config::KeySettings) -> KeySchedule {
    let secs = |d: std::time::Duration| i64::try_from(d.as_secs()).unwrap_or(i64::MAX / 4);
    KeySchedule {
        jwks_max_age: secs(keys.jwks_max_age),
        leeway: secs(keys.leeway),
        // Rounded up: a 100 ms interval still counts as a second of lag.
        reload_interval: secs(keys.reload_interval) + i64::from(keys.reload_interval.subsec_nanos() > 0),
        rotate_every: Some(secs(keys.rotate_every)).filter(|s| *s > 0),
    }
}

/// The key lifecycle as configured, for the server and the CLI alike.
pub fn key_lifecycle(settings: &Settings, master: Arc<MasterKey>) -> KeyLifecycle {
    KeyLifecycle {
        schedule: key_schedule(&settings.keys),
        alg: settings.keys.alg,
        rsa_bits: settings.keys.rsa_bits,
        master,
    }
}

/// The pool with migrations applied, for the server and the CLI alike.
pub fn open_pool(settings: &Settings) -> Result<Pool, StoreError> {
    store::open(
        settings.database.url.expose_secret(),
        &PoolOptions {
            max_size: settings.database.pool_size,
            checkout_timeout: settings.database.checkout_timeout,
            alive_bypass: store::ALIVE_BYPASS,
        },
    )
}
