//! The key lifecycle: `next → current → previous → retired`, with its timing enforced.
//!
//! - A `next` key is published before it signs, for `jwks_max_age + leeway + reload_interval`
//!   (`jwks_max_age` counted as at least [`VERIFIER_MIN_JWKS_TTL`]): every verifier that honours
//!   the JWKS max-age, and every instance that reloads on schedule, knows it before the first
//!   token it signs appears.
//! - A `previous` key stays published until the latest `exp` it signed (`last_exp`, reserved in
//!   the database before signing) plus the leeway has passed; then it retires, leaves the JWKS,
//!   and its private key is erased.
//! - Every change runs under the `keys` lock, so any number of instances agree: exactly one
//!   `current`, at most one `next`.

use std::sync::Arc;

use super::master::MasterKey;
use super::signing::{self, Algorithm};
use super::{KeyRing, KeyRingError};
use crate::store::keys::{self as rows, KeyRow, NewKey, STATE_CURRENT, STATE_NEXT, STATE_PREVIOUS};
use crate::store::{self, DbConnection};

const KEYS_LOCK: &str = "keys";

/// The shortest time `jwtd-verify` keeps a JWKS, whatever its `max-age` (its default
/// `ttl_bounds` floor, which stops a `max-age=0` from turning every request into a fetch). A
/// `next` key is published at least this long before it signs, or a verifier that fetched the
/// JWKS just before the key appeared would refuse its first tokens.
pub const VERIFIER_MIN_JWKS_TTL: i64 = 30;

/// The lifecycle's timing, in seconds.
#[derive(Debug, Clone, Copy)]
pub struct KeySchedule {
    pub jwks_max_age: i64,
    pub leeway: i64,
    pub reload_interval: i64,
    /// `None`: rotation only on request.
    pub rotate_every: Option<i64>,
}

impl KeySchedule {
    /// How long a `next` key is published before it may sign: as long as a verifier may keep a
    /// JWKS fetched just before it appeared, plus leeway and the instances' reload lag.
    pub fn publication_delay(&self) -> i64 {
        self.jwks_max_age.max(VERIFIER_MIN_JWKS_TTL) + self.leeway + self.reload_interval
    }

    pub fn ready_at(&self, next: &KeyRow) -> i64 {
        next.published_at.saturating_add(self.publication_delay())
    }

    /// When a `previous` key may retire: after the last token it signed expired, plus leeway.
    pub fn retires_at(&self, previous: &KeyRow) -> i64 {
        previous.last_exp.unwrap_or(0).max(previous.deactivated_at.unwrap_or(0)).saturating_add(self.leeway)
    }

    /// When scheduled rotation is due: the current key's age reached `rotate_every` and the
    /// next key is ready.
    fn rotation_due_at(&self, current: &KeyRow, next: &KeyRow) -> Option<i64> {
        let every = self.rotate_every?;
        let by_age = current.activated_at.unwrap_or(current.published_at).saturating_add(every);
        Some(by_age.max(self.ready_at(next)))
    }

    /// The next moment the published key set changes by schedule, if any.
    pub fn next_change_at(&self, published: &[KeyRow]) -> Option<i64> {
        let retirements = published.iter().filter(|k| k.state == STATE_PREVIOUS).map(|k| self.retires_at(k));
        let rotation = match (find(published, STATE_CURRENT), find(published, STATE_NEXT)) {
            (Some(current), Some(next)) => self.rotation_due_at(current, next),
            _ => None,
        };
        retirements.chain(rotation).min()
    }
}

fn find<'a>(keys: &'a [KeyRow], state: &str) -> Option<&'a KeyRow> {
    keys.iter().find(|k| k.state == state)
}

/// What a rotation asks for: the new `next` key's algorithm and size, and whether the current
/// key is compromised.
#[derive(Debug, Clone, Copy, Default)]
pub struct RotateRequest {
    pub alg: Option<Algorithm>,
    pub rsa_bits: Option<u32>,
    pub revoke_current: bool,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct Rotation {
    pub current: String,
    pub next: String,
    /// The key that stopped signing and stays published until its tokens expire.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub previous: Option<String>,
    /// The compromised key, removed from the JWKS at once (emergency rotation).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub revoked: Option<String>,
}

impl Rotation {
    /// The audit event's kind and subject: an emergency rotation is about the key it revoked
    /// (what an investigation searches for), a scheduled one about the key now signing.
    pub fn audit_kind_and_subject(&self) -> (&'static str, &str) {
        match &self.revoked {
            Some(revoked) => ("key.revoked", revoked),
            None => ("key.rotated", &self.current),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RotateError {
    #[error("the next key has not been published long enough; it may sign from {ready_at}")]
    NotReady { ready_at: i64 },
    #[error(transparent)]
    Keys(#[from] KeyRingError),
}

impl From<diesel::result::Error> for RotateError {
    fn from(e: diesel::result::Error) -> Self {
        Self::Keys(e.into())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RetireError {
    #[error("no such key")]
    NotFound,
    #[error("the current key cannot be retired; rotate first (or rotate with revoke_current)")]
    Current,
    #[error(transparent)]
    Keys(#[from] KeyRingError),
}

impl From<diesel::result::Error> for RetireError {
    fn from(e: diesel::result::Error) -> Self {
        Self::Keys(e.into())
    }
}

/// Applies the lifecycle to the database. Every method is blocking.
pub struct KeyLifecycle {
    pub schedule: KeySchedule,
    pub alg: Algorithm,
    pub rsa_bits: u32,
    pub master: Arc<MasterKey>,
}

impl KeyLifecycle {
    /// Makes sure a `current` and a `next` key exist (first start, or after an emergency).
    pub fn ensure_ready(&self, conn: &mut DbConnection, now: i64) -> Result<(), KeyRingError> {
        let published = rows::published(conn)?;
        if find(&published, STATE_CURRENT).is_some() && find(&published, STATE_NEXT).is_some() {
            return Ok(());
        }
        store::with_lock(conn, KEYS_LOCK, now, |conn| self.apply_due(conn, now).map(drop))
    }

    /// Promotes `next` to `current` (refused until `next` was published long enough, unless the
    /// current key is being revoked), demotes or revokes the old current, publishes a new `next`.
    pub fn rotate(
        &self,
        conn: &mut DbConnection,
        now: i64,
        request: RotateRequest,
    ) -> Result<Rotation, RotateError> {
        store::with_lock(conn, KEYS_LOCK, now, |conn| {
            let published = rows::published(conn)?;
            let Some(next) = find(&published, STATE_NEXT) else {
                self.insert(conn, request.alg, request.rsa_bits, STATE_NEXT, now)?;
                return Err(RotateError::NotReady { ready_at: now + self.schedule.publication_delay() });
            };
            let ready_at = self.schedule.ready_at(next);
            if now < ready_at && !request.revoke_current {
                return Err(RotateError::NotReady { ready_at });
            }
            let current = find(&published, STATE_CURRENT);
            let (mut previous, mut revoked) = (None, None);
            if let Some(current) = current {
                if request.revoke_current {
                    rows::retire(conn, current, now)?;
                    revoked = Some(current.kid.clone());
                } else {
                    rows::demote(conn, &current.kid, now)?;
                    previous = Some(current.kid.clone());
                }
            }
            rows::promote(conn, &next.kid, now)?;
            let new_next = self.insert(conn, request.alg, request.rsa_bits, STATE_NEXT, now)?;
            self.retire_expired(conn, now)?;
            Ok(Rotation { current: next.kid.clone(), next: new_next, previous, revoked })
        })
    }

    /// Retires a `next` or `previous` key now (an operator's decision: tokens it signed stop
    /// verifying). A retired `next` is replaced at once.
    pub fn retire(&self, conn: &mut DbConnection, kid: &str, now: i64) -> Result<(), RetireError> {
        store::with_lock(conn, KEYS_LOCK, now, |conn| {
            let key = rows::find(conn, kid)?.ok_or(RetireError::NotFound)?;
            if key.state == STATE_CURRENT {
                return Err(RetireError::Current);
            }
            rows::retire(conn, &key, now)?;
            self.apply_due(conn, now)?;
            Ok(())
        })
    }

    /// The background task's step: retires expired keys, replaces a missing `next`, rotates on
    /// schedule. Takes the lock only when something is due. Returns whether anything changed.
    pub fn maintain(&self, conn: &mut DbConnection, now: i64) -> Result<bool, KeyRingError> {
        if !self.something_due(&rows::published(conn)?, now) {
            return Ok(false);
        }
        store::with_lock(conn, KEYS_LOCK, now, |conn| self.apply_due(conn, now))
    }

    fn something_due(&self, published: &[KeyRow], now: i64) -> bool {
        let (current, next) = (find(published, STATE_CURRENT), find(published, STATE_NEXT));
        let rotation_due = match (current, next) {
            (Some(c), Some(n)) => self.schedule.rotation_due_at(c, n).is_some_and(|at| at <= now),
            _ => true,
        };
        rotation_due
            || published.iter().any(|k| k.state == STATE_PREVIOUS && self.schedule.retires_at(k) <= now)
    }

    /// Under the lock: whatever is due, from a fresh read.
    fn apply_due(&self, conn: &mut DbConnection, now: i64) -> Result<bool, KeyRingError> {
        let mut changed = self.retire_expired(conn, now)?;
        let published = rows::published(conn)?;
        let current = find(&published, STATE_CURRENT);
        let next = find(&published, STATE_NEXT);
        match (current, next) {
            (Some(current), Some(next)) => {
                if self.schedule.rotation_due_at(current, next).is_some_and(|at| at <= now) {
                    rows::demote(conn, &current.kid, now)?;
                    rows::promote(conn, &next.kid, now)?;
                    let new_next = self.insert(conn, None, None, STATE_NEXT, now)?;
                    log::info!("scheduled rotation: {} now signs, {new_next} published as next", next.kid);
                    changed = true;
                }
            }
            (None, _) => {
                // A key that signs at once: only on a new database, before any verifier exists.
                self.insert(conn, None, None, STATE_CURRENT, now)?;
                if next.is_none() {
                    self.insert(conn, None, None, STATE_NEXT, now)?;
                }
                changed = true;
            }
            (Some(_), None) => {
                self.insert(conn, None, None, STATE_NEXT, now)?;
                changed = true;
            }
        }
        Ok(changed)
    }

    fn retire_expired(&self, conn: &mut DbConnection, now: i64) -> Result<bool, KeyRingError> {
        let mut changed = false;
        for key in rows::published(conn)?.iter().filter(|k| k.state == STATE_PREVIOUS) {
            if self.schedule.retires_at(key) <= now {
                let cutoff = now - self.schedule.leeway;
                if rows::retire_if_expired(conn, key, cutoff, now)? > 0 {
                    log::info!("retired key {}: every token it signed has expired", key.kid);
                    changed = true;
                }
            }
        }
        Ok(changed)
    }

    /// Generates, seals and inserts a key; returns its kid.
    fn insert(
        &self,
        conn: &mut DbConnection,
        alg: Option<Algorithm>,
        rsa_bits: Option<u32>,
        state: &str,
        now: i64,
    ) -> Result<String, KeyRingError> {
        let alg = alg.unwrap_or(self.alg);
        let generated = signing::generate(alg, rsa_bits.unwrap_or(self.rsa_bits))?;
        let kid = generated.jwk.kid.clone();
        let sealed = self.master.seal(&generated.pkcs8, kid.as_bytes())?;
        let public_jwk = serde_json::to_string(&generated.jwk)
            .map_err(|e| KeyRingError::Key { kid: kid.clone(), reason: e.to_string() })?;
        rows::insert(
            conn,
            &NewKey {
                kid: &kid,
                alg: alg.as_str(),
                state,
                public_jwk: &public_jwk,
                private_key_sealed: Some(&sealed),
                created_at: now,
                published_at: now,
                activated_at: (state == STATE_CURRENT).then_some(now),
            },
        )?;
        log::info!("generated {} key {kid} as {state}", alg.as_str());
        Ok(kid)
    }

    /// Loads the published keys into a ring (blocking).
    pub fn load(&self, conn: &mut DbConnection) -> Result<KeyRing, KeyRingError> {
        let published = rows::published(conn)?;
        KeyRing::from_rows(published, &self.master, &self.schedule)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// jwtd-verify keeps a JWKS at least 30 s whatever its max-age: a next key published for
    /// less would sign tokens such a verifier, having fetched just before it appeared, refuses.
    #[test]
    fn a_next_key_is_published_at_least_as_long_as_a_verifier_keeps_a_jwks() {
        let schedule =
            |jwks_max_age| KeySchedule { jwks_max_age, leeway: 1, reload_interval: 1, rotate_every: None };
        assert_eq!(schedule(1).publication_delay(), VERIFIER_MIN_JWKS_TTL + 2);
        assert_eq!(schedule(0).publication_delay(), VERIFIER_MIN_JWKS_TTL + 2);
        assert_eq!(schedule(300).publication_delay(), 302);
    }
}
