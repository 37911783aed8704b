//! The r2d2 side of storage: how a connection is opened, and when it is checked before use.
//!
//! r2d2 tests a connection on checkout, which costs a round trip (`SELECT 1`) before every
//! request's statement: on PostgreSQL, half the round trips of a refresh. A connection whose
//! last statement succeeded moments ago is as alive as a ping would show, so the check is
//! skipped within [`ALIVE_BYPASS`] of that success (HikariCP's `aliveBypassWindowMs` does the
//! same, with the same 500 ms). A connection whose last statement failed, or that sat idle
//! longer, is pinged as before, so a dead connection never serves twice and the pool heals
//! after an outage.

use std::ops::{Deref, DerefMut};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use diesel::connection::{Instrumentation, InstrumentationEvent, SimpleConnection};
use diesel::r2d2::{self, ManageConnection, R2D2Connection};
use diesel::{Connection, PgConnection, SqliteConnection};

use super::{DatabaseLocation, DbConnection, SQLITE_PRAGMAS};

/// How recently a statement must have succeeded for a checkout to skip the ping, in the server.
pub const ALIVE_BYPASS: Duration = Duration::from_millis(500);

/// Opens connections to exactly the backend the URL names. The derived `establish` would try
/// every backend in turn, and SQLite accepts any string as a file name.
#[derive(Debug)]
pub struct DbManager {
    location: DatabaseLocation,
    alive_bypass: Duration,
}

impl DbManager {
    pub fn new(location: DatabaseLocation, alive_bypass: Duration) -> Self {
        Self { location, alive_bypass }
    }

    fn open(&self) -> Result<DbConnection, r2d2::Error> {
        match &self.location {
            DatabaseLocation::Postgres(url) => {
                PgConnection::establish(url).map(DbConnection::Postgres).map_err(r2d2::Error::ConnectionError)
            }
            DatabaseLocation::Sqlite(path) => {
                let mut conn = SqliteConnection::establish(path).map_err(r2d2::Error::ConnectionError)?;
                conn.batch_execute(SQLITE_PRAGMAS).map_err(r2d2::Error::QueryError)?;
                Ok(DbConnection::Sqlite(conn))
            }
        }
    }
}

impl ManageConnection for DbManager {
    type Connection = PoolConnection;
    type Error = r2d2::Error;

    fn connect(&self) -> Result<PoolConnection, r2d2::Error> {
        self.open().map(PoolConnection::new)
    }

    fn is_valid(&self, conn: &mut PoolConnection) -> Result<(), r2d2::Error> {
        if conn.proven_within(self.alive_bypass) {
            return Ok(());
        }
        conn.conn.ping().map_err(r2d2::Error::QueryError)
    }

    fn has_broken(&self, conn: &mut PoolConnection) -> bool {
        conn.conn.is_broken()
    }
}

/// A pooled connection that knows when a statement on it last succeeded. Dereferences to the
/// [`DbConnection`] every repository function takes.
pub struct PoolConnection {
    conn: DbConnection,
    last_success: Arc<LastSuccess>,
}

impl PoolConnection {
    fn new(mut conn: DbConnection) -> Self {
        let last_success = Arc::new(LastSuccess::new());
        conn.set_instrumentation(Recorder(Arc::clone(&last_success)));
        Self { conn, last_success }
    }

    /// Whether the last statement on this connection succeeded, less than `window` ago.
    pub fn proven_within(&self, window: Duration) -> bool {
        self.last_success.within(window)
    }
}

impl Deref for PoolConnection {
    type Target = DbConnection;

    fn deref(&self) -> &DbConnection {
        &self.conn
    }
}

impl DerefMut for PoolConnection {
    fn deref_mut(&mut self) -> &mut DbConnection {
        &mut self.conn
    }
}

/// When the connection's last statement succeeded, in microseconds after `since` (plus one);
/// zero while its last statement failed or none has run.
struct LastSuccess {
    since: Instant,
    micros: AtomicU64,
}

impl LastSuccess {
    fn new() -> Self {
        #[allow(
            clippy::disallowed_methods,
            reason = "a monotonic reference for the alive bypass's milliseconds, not a time of day"
        )]
        let since = Instant::now();
        Self { since, micros: AtomicU64::new(0) }
    }

    fn now(&self) -> u64 {
        u64::try_from(self.since.elapsed().as_micros()).unwrap_or(u64::MAX).saturating_add(1)
    }

    fn record(&self, succeeded: bool) {
        self.micros.store(if succeeded { self.now() } else { 0 }, Ordering::Relaxed);
    }

    fn within(&self, window: Duration) -> bool {
        let at = self.micros.load(Ordering::Relaxed);
        let window = u64::try_from(window.as_micros()).unwrap_or(u64::MAX);
        at != 0 && self.now().saturating_sub(at) < window
    }
}

/// diesel reports statements' ends to the connection's instrumentation, with their errors. On
/// PostgreSQL every failure is reported (a dead connection also marks itself broken, so r2d2
/// drops it on return). SQLite reports some failures met while stepping a statement as
/// successes; harmless, as its connection is a file handle a `SELECT 1` would not find dead.
struct Recorder(Arc<LastSuccess>);

impl Instrumentation for Recorder {
    fn on_connection_event(&mut self, event: InstrumentationEvent<'_>) {
        if let InstrumentationEvent::FinishQuery { error, .. } = event {
            self.0.record(error.is_none());
        }
    }
}

#[cfg(test)]
mod tests {
    use diesel::connection::SimpleConnection;

    use super::*;

    fn sqlite() -> PoolConnection {
        DbManager::new(DatabaseLocation::Sqlite(":memory:".into()), ALIVE_BYPASS).connect().unwrap()
    }

    #[test]
    fn a_success_proves_the_connection_for_the_window_only() {
        let mut conn = sqlite();
        assert!(!conn.proven_within(ALIVE_BYPASS), "opening is not a statement of the caller's");
        conn.batch_execute("SELECT 1").unwrap();
        assert!(conn.proven_within(ALIVE_BYPASS));
        assert!(!conn.proven_within(Duration::ZERO));
    }

    /// A new database file (prepared as `store::open` does) opened by several connections at
    /// once, as the pool fills up on a first start: none fails with "database is locked", which
    /// r2d2 would log as an error on a newcomer's first screen.
    #[test]
    fn connections_opening_a_new_database_together_all_succeed() {
        for _ in 0..20 {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("jwtd.db").display().to_string();
            crate::store::prepare_sqlite_file(&path).unwrap();
            let barrier = std::sync::Arc::new(std::sync::Barrier::new(8));
            let openers: Vec<_> = (0..8)
                .map(|_| {
                    let (path, barrier) = (path.clone(), std::sync::Arc::clone(&barrier));
                    std::thread::spawn(move || {
                        barrier.wait();
                        let mut conn =
                            DbManager::new(DatabaseLocation::Sqlite(path), ALIVE_BYPASS).connect()?;
                        conn.batch_execute("SELECT 1").map_err(r2d2::Error::QueryError)
                    })
                })
                .collect();
            for opener in openers {
                if let Err(e) = opener.join().unwrap() {
                    panic!("a connection failed: {e}");
                }
            }
        }
    }

    #[test]
    fn a_failed_statement_takes_the_proof_back() {
        let mut conn = sqlite();
        conn.batch_execute("SELECT 1").unwrap();
        assert!(conn.batch_execute("SELECT * FROM no_such_table").is_err());
        assert!(!conn.proven_within(ALIVE_BYPASS));
        conn.batch_execute("SELECT 1").unwrap();
        assert!(conn.proven_within(ALIVE_BYPASS));
    }
}
