//! The key ring as a running instance holds it: reloaded from the database on an interval
//! (so a rotation made through any instance reaches every instance within seconds), with the
//! lifecycle's scheduled work done on the same tick, and `last_exp` reserved before signing.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use super::{Error, key_lifecycle};
use crate::clock::Clock;
use crate::keys::lifecycle::KeyLifecycle;
use crate::keys::{KeyRing, KeyRingError, KeyState};
use crate::metrics::Metrics;
use crate::store::{self, Pool, StoreError};

/// How far beyond a token's `exp` one reservation reaches: one database write per minute per
/// instance, at most, whatever the token rate.
const RESERVE_AHEAD_SECS: i64 = 60;

pub struct LiveKeyRing {
    ring: RwLock<Arc<KeyRing>>,
    pub lifecycle: Arc<KeyLifecycle>,
    pool: Pool,
    clock: Arc<dyn Clock>,
    jwks_max_age: i64,
    metrics: Arc<Metrics>,
}

enum Reservation {
    Held(i64),
    /// The key no longer signs (rotated out and retired, e.g. by an emergency rotation).
    Gone,
}

impl LiveKeyRing {
    pub fn new(
        ring: KeyRing,
        lifecycle: Arc<KeyLifecycle>,
        pool: Pool,
        clock: Arc<dyn Clock>,
        metrics: Arc<Metrics>,
    ) -> Self {
        let jwks_max_age = lifecycle.schedule.jwks_max_age;
        Self { ring: RwLock::new(Arc::new(ring)), lifecycle, pool, clock, jwks_max_age, metrics }
    }

    pub fn current(&self) -> Arc<KeyRing> {
        match self.ring.read() {
            Ok(guard) => Arc::clone(&guard),
            Err(poisoned) => Arc::clone(&poisoned.into_inner()),
        }
    }

    fn replace(&self, ring: KeyRing) {
        if ring.signer.kid() != self.current().signer.kid() {
            self.metrics.key_rotations.inc();
        }
        let ring = Arc::new(ring);
        match self.ring.write() {
            Ok(mut guard) => *guard = ring,
            Err(poisoned) => *poisoned.into_inner() = ring,
        }
    }

    /// The JWKS max-age to send now: the configured one, but never past the next scheduled
    /// change of the published keys.
    pub fn jwks_max_age(&self, ring: &KeyRing) -> i64 {
        let until_change = ring.next_change_at.map_or(i64::MAX, |at| at - self.clock.now());
        self.jwks_max_age.min(until_change).max(0)
    }

    /// A ring whose signer may sign a token expiring at `exp`: the signer's `last_exp` is raised
    /// in the database first when needed. If the signer was retired meanwhile, reloads.
    pub async fn signer_until(&self, exp: i64) -> Result<Arc<KeyRing>, Error> {
        for _ in 0..3 {
            let ring = self.current();
            if exp <= ring.reserved_until() {
                return Ok(ring);
            }
            let pool = self.pool.clone();
            let kid = ring.signer.kid().to_owned();
            let until = exp + RESERVE_AHEAD_SECS;
            let reservation = tokio::task::spawn_blocking(move || -> Result<Reservation, Error> {
                let mut conn = pool.get().map_err(StoreError::from)?;
                if store::keys::raise_last_exp(&mut conn, &kid, until)? > 0 {
                    return Ok(Reservation::Held(until));
                }
                // Not raised: someone raised it higher already, or the key stopped signing.
                Ok(match store::keys::find(&mut conn, &kid)? {
                    Some(row) if matches!(row.state, KeyState::Current | KeyState::Previous) => {
                        Reservation::Held(row.last_exp.unwrap_or(0))
                    }
                    _ => Reservation::Gone,
                })
            })
            .await
            .map_err(|e| Error::Interrupted(e.to_string()))??;
            match reservation {
                Reservation::Held(until) if until >= exp => {
                    ring.extend_reservation(until);
                    return Ok(ring);
                }
                _ => self.reload().await?,
            }
        }
        Err(Error::Keys(KeyRingError::Key {
            kid: String::new(),
            reason: "no key may sign: the ring keeps changing".into(),
        }))
    }

    /// Re-reads the published keys; swaps the ring when they changed.
    pub async fn reload(&self) -> Result<(), Error> {
        self.tick(false).await.map(drop)
    }

    /// One step of the background task: scheduled lifecycle work (when `maintain`), then reload.
    /// Returns whether the ring changed.
    pub async fn tick(&self, maintain: bool) -> Result<bool, Error> {
        let pool = self.pool.clone();
        let now = self.clock.now();
        let current = self.current();
        let this = Arc::clone(&self.lifecycle);
        let loaded = tokio::task::spawn_blocking(move || -> Result<Option<KeyRing>, Error> {
            let mut conn = pool.get().map_err(StoreError::from)?;
            if maintain {
                key_lifecycle::maintain(&mut conn, &this, now)?;
            }
            let published = store::keys::published(&mut conn)?;
            if current.same_rows(&published) {
                return Ok(None);
            }
            Ok(Some(this.ring(published)?))
        })
        .await
        .map_err(|e| Error::Interrupted(e.to_string()))??;
        let changed = loaded.is_some();
        if let Some(ring) = loaded {
            self.replace(ring);
        }
        Ok(changed)
    }

    /// Runs `tick` every `interval` until the returned task is aborted.
    pub fn spawn_maintenance(self: &Arc<Self>, interval: Duration) -> tokio::task::JoinHandle<()> {
        let live = Arc::clone(self);
        let restarts = self.metrics.background_restarts.clone();
        crate::background::supervise("key_maintenance", restarts, move || {
            let live = Arc::clone(&live);
            async move {
                let mut ticker = tokio::time::interval(interval);
                ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                loop {
                    ticker.tick().await;
                    if let Err(e) = live.tick(true).await {
                        log::warn!("key ring maintenance failed (will retry): {e}");
                    }
                }
            }
        })
    }
}
