//! Background purge: expired and long-revoked refresh families (with their tokens), finished
//! throttling counters, subject revocations older than any token they could refuse, and audit
//! events past their retention.

use std::sync::Arc;
use std::time::Duration;

use actix_web::web;

use crate::clock::Clock;
use crate::store::{self, Pool, StoreError};

#[derive(Debug, Clone, Copy)]
pub struct PurgePolicy {
    pub interval: Duration,
    /// Revoked families are kept this long (audit, introspection), in seconds.
    pub keep_revoked: i64,
    /// Throttling counters and subject revocations older than this are dead, in seconds.
    pub horizon: i64,
    /// Audit events are kept this long, in seconds; `None`: for ever.
    pub keep_audit: Option<i64>,
}

/// One purge; returns the number of families removed.
pub fn purge_once(
    conn: &mut store::DbConnection,
    now: i64,
    policy: &PurgePolicy,
) -> Result<usize, StoreError> {
    let families = store::refresh::purge(conn, now, now - policy.keep_revoked)?;
    store::throttle::purge(conn, now - policy.horizon)?;
    store::revocations::purge(conn, now - policy.horizon)?;
    // Used codes stay as long as revoked families (a late replay still revokes what it issued).
    store::sessions::purge(conn, now - policy.keep_revoked)?;
    // A jti matters until what carried it expires (each row says when, leeway included); five
    // minutes more cover instances whose clocks run behind this one's.
    store::jtis::purge(conn, now - 300)?;
    if let Some(keep) = policy.keep_audit {
        store::audit::purge(conn, now.saturating_sub(keep))?;
    }
    Ok(families)
}

/// Purges every `policy.interval`, restarted if it ever fails (see [`crate::background`]).
pub fn spawn(
    pool: Pool,
    clock: Arc<dyn Clock>,
    policy: PurgePolicy,
    restarts: prometheus::IntCounterVec,
) -> tokio::task::JoinHandle<()> {
    crate::background::supervise("purge", restarts, move || {
        let (pool, clock) = (pool.clone(), Arc::clone(&clock));
        async move {
            let mut ticker = tokio::time::interval(policy.interval);
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticker.tick().await;
                let (pool, now) = (pool.clone(), clock.now());
                let result = web::block(move || -> Result<usize, StoreError> {
                    purge_once(&mut *pool.get()?, now, &policy)
                })
                .await;
                match result {
                    Ok(Ok(0)) => {}
                    Ok(Ok(n)) => log::info!("purged {n} expired or revoked refresh families"),
                    Ok(Err(e)) => log::warn!("purge failed (will retry): {e}"),
                    Err(e) => log::warn!("purge failed (will retry): {e}"),
                }
            }
        }
    })
}
