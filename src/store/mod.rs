//! Storage: PostgreSQL in production, SQLite as the embedded default, behind one
//! `#[derive(MultiConnection)]` so every query is written once. Repository functions take
//! `&mut DbConnection` and return `QueryResult`; the HTTP layer runs them inside `web::block`
//! so no query ever runs on an async worker.

pub mod audit;
pub mod clients;
pub mod consents;
pub mod family_heads;
pub mod jtis;
pub mod keys;
pub mod logout_deliveries;
pub mod meta;
mod pool;
pub mod refresh;
pub mod revocations;
pub mod schema;
pub mod sessions;
pub mod throttle;
pub mod users;

use std::path::Path;
use std::time::Duration;

use diesel::connection::SimpleConnection;
use diesel::r2d2;
use diesel::{Connection, PgConnection, SqliteConnection};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/postgres");
const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/sqlite");

/// Pragmas every SQLite connection gets: `busy_timeout` makes a writer wait for the lock
/// instead of failing at once. WAL (readers beside the one writer) is set once per database
/// file, before the pool opens (see [`prepare_sqlite_file`]): the mode is stored in the file,
/// and switching it takes a lock that connections opening together (the pool filling up on a
/// first start) failed on with "database is locked", busy timeout or not.
const SQLITE_PRAGMAS: &str = "PRAGMA busy_timeout = 5000; PRAGMA synchronous = NORMAL; \
     PRAGMA foreign_keys = ON;";

/// Makes a hand-written PostgreSQL statement type (`Name<'a>`, with a `QueryFragment<Pg>`) one
/// that diesel prepares once per connection, keyed by its type. diesel never caches `sql_query`,
/// `INSERT` or `UPDATE` statements, so PostgreSQL would parse and plan them on every call.
/// The type's SQL text and bind types must be the same for every value it holds (the first text
/// prepared is reused), and its result columns named, not `*`.
macro_rules! prepared_pg_statement {
    ($name:ident) => {
        impl diesel::query_builder::QueryId for $name<'_> {
            type QueryId = $name<'static>;
            const HAS_STATIC_QUERY_ID: bool = true;
        }

        impl diesel::query_builder::Query for $name<'_> {
            type SqlType = diesel::sql_types::Untyped;
        }

        impl diesel::RunQueryDsl<diesel::PgConnection> for $name<'_> {}
    };
}
pub(crate) use prepared_pg_statement;

/// Pushes bind parameters separated by commas into a hand-written statement:
/// `push_binds!(out, Text: &a, BigInt: &b)` writes `$1, $2`.
macro_rules! push_binds {
    ($out:ident, $first_type:ty: $first:expr $(, $type:ty: $value:expr)* $(,)?) => {
        $out.push_bind_param::<$first_type, _>($first)?;
        $(
            $out.push_sql(", ");
            $out.push_bind_param::<$type, _>($value)?;
        )*
    };
}
pub(crate) use push_binds;

#[derive(diesel::MultiConnection)]
pub enum DbConnection {
    Postgres(PgConnection),
    Sqlite(SqliteConnection),
}

pub type Pool = r2d2::Pool<DbManager>;
pub type PooledConnection = r2d2::PooledConnection<DbManager>;
pub use pool::{ALIVE_BYPASS, DbManager, PoolConnection};

/// Which backend a database URL names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DatabaseLocation {
    Postgres(String),
    /// A file path (`sqlite://data/jwtd.db`, `sqlite:data/jwtd.db` or a bare path).
    Sqlite(String),
}

impl DatabaseLocation {
    pub fn parse(url: &str) -> Self {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return Self::Postgres(url.to_owned());
        }
        let path = url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:")).unwrap_or(url);
        Self::Sqlite(path.to_owned())
    }

    pub fn backend_name(&self) -> &'static str {
        match self {
            Self::Postgres(_) => "postgres",
            Self::Sqlite(_) => "sqlite",
        }
    }
}

/// Why storage failed. Callers answer 503 for every variant; the cause goes to the log only.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("no database connection available: {0}")]
    Unavailable(#[from] r2d2::PoolError),
    #[error("database query failed: {0}")]
    Query(#[from] diesel::result::Error),
    #[error("database migration failed: {0}")]
    Migration(String),
    #[error("cannot prepare the database file or folder {path}: {source}")]
    Folder { path: String, source: std::io::Error },
}

/// Pool settings that matter for failure behaviour: a request waits `checkout_timeout` for a
/// connection (about a second, not r2d2's 30 s default) and then answers 503; a connection whose
/// last statement succeeded less than `alive_bypass` ago is handed out without a ping
/// ([`ALIVE_BYPASS`] in the server; see `pool.rs`).
#[derive(Debug, Clone)]
pub struct PoolOptions {
    pub max_size: u32,
    pub checkout_timeout: Duration,
    pub alive_bypass: Duration,
}

/// Opens the pool and runs pending migrations. SQLite's parent folder is created if missing.
pub fn open(url: &str, options: &PoolOptions) -> Result<Pool, StoreError> {
    let location = DatabaseLocation::parse(url);
    if let DatabaseLocation::Sqlite(path) = &location {
        prepare_sqlite_file(path)?;
    }
    let pool = r2d2::Pool::builder()
        .max_size(options.max_size)
        .min_idle(Some(1))
        .connection_timeout(options.checkout_timeout)
        .build(DbManager::new(location, options.alive_bypass))?;
    let mut conn = pool.get()?;
    migrate(&mut conn)?;
    Ok(pool)
}

/// Creates the database's folder and, if it is new, the database file, both accessible to their
/// owner only: they hold password hashes and sealed keys. SQLite gives its `-wal` and `-shm`
/// files the database file's permissions.
pub(crate) fn prepare_sqlite_file(path: &str) -> Result<(), StoreError> {
    use std::os::unix::fs::OpenOptionsExt;
    if path.is_empty() || path == ":memory:" || path.starts_with("file:") {
        return Ok(());
    }
    let failed = |at: &Path| {
        let at = at.display().to_string();
        move |source| StoreError::Folder { path: at, source }
    };
    let file = Path::new(path);
    if let Some(parent) = file.parent().filter(|p| !p.as_os_str().is_empty()) {
        crate::keys::master::create_private_dir(parent).map_err(failed(parent))?;
    }
    // Only a new file: an existing one (perhaps read-only, on read-only media) is left alone.
    match std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(file) {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(failed(file)(e)),
    }
    // WAL is stored in the file: one connection switches it (a no-op when it is WAL already)
    // before any other opens. A read-only database stays as it is.
    let mut conn = SqliteConnection::establish(path).map_err(|e| StoreError::Migration(e.to_string()))?;
    match conn.batch_execute("PRAGMA busy_timeout = 5000; PRAGMA journal_mode = WAL;") {
        Err(diesel::result::Error::DatabaseError(_, info)) if info.message().contains("readonly") => Ok(()),
        result => Ok(result?),
    }
}

/// Runs the migrations embedded for the connection's backend.
pub fn migrate(conn: &mut DbConnection) -> Result<(), StoreError> {
    let result = match conn {
        DbConnection::Postgres(pg) => pg.run_pending_migrations(POSTGRES_MIGRATIONS).map(drop),
        DbConnection::Sqlite(lite) => lite.run_pending_migrations(SQLITE_MIGRATIONS).map(drop),
    };
    result.map_err(|e| StoreError::Migration(e.to_string()))
}

/// A cheap round trip, for readiness checks.
pub fn ping(conn: &mut DbConnection) -> Result<(), StoreError> {
    conn.batch_execute("SELECT 1").map_err(StoreError::Query)
}

/// Runs `f` in a transaction that first takes the named lock (a row of `locks`): PostgreSQL
/// holds that row lock and SQLite its write lock until commit, so exactly one caller at a time,
/// across any number of instances, runs `f` for the same name.
pub fn with_lock<T, E>(
    conn: &mut DbConnection,
    name: &str,
    now: i64,
    f: impl FnOnce(&mut DbConnection) -> Result<T, E>,
) -> Result<T, E>
where
    E: From<diesel::result::Error>,
{
    use diesel::prelude::*;
    conn.transaction(|conn| {
        diesel::update(schema::locks::table.find(name)).set(schema::locks::held_at.eq(now)).execute(conn)?;
        f(conn)
    })
}

/// A stored space-separated list.
pub(crate) fn words(list: &str) -> Vec<String> {
    list.split(' ').filter(|a| !a.is_empty()).map(str::to_owned).collect()
}
