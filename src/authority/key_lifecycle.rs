//! The key lifecycle applied to the database: every change reads the published keys afresh and
//! writes under the `keys` lock, so any number of instances agree (exactly one `current`, at
//! most one `next`). The timing rules themselves are the domain's (`keys::lifecycle`).

use super::Error;
use crate::keys::lifecycle::{KeyLifecycle, RotateRequest, Rotation, find};
use crate::keys::{KeyRing, KeyState};
use crate::store::keys as rows;
use crate::store::{self, DbConnection};

const KEYS_LOCK: &str = "keys";

/// Makes sure a `current` and a `next` key exist (first start, or after an emergency).
pub fn ensure_ready(conn: &mut DbConnection, lifecycle: &KeyLifecycle, now: i64) -> Result<(), Error> {
    let published = rows::published(conn)?;
    if find(&published, KeyState::Current).is_some() && find(&published, KeyState::Next).is_some() {
        return Ok(());
    }
    store::with_lock(conn, KEYS_LOCK, now, |conn| apply_due(conn, lifecycle, now).map(drop))
}

/// The published keys as a ring (blocking).
pub fn load(conn: &mut DbConnection, lifecycle: &KeyLifecycle) -> Result<KeyRing, Error> {
    Ok(lifecycle.ring(rows::published(conn)?)?)
}

/// A rotation asked for before the `next` key was published long enough.
#[derive(Debug, Clone, Copy)]
pub struct NotReady {
    pub ready_at: i64,
}

impl NotReady {
    /// The refusal as operators see it (`rotation_not_ready`, retry at the time it names).
    pub fn into_error(self, now: i64) -> Error {
        let ready_at = self.ready_at;
        Error::Conflict {
            code: "rotation_not_ready",
            description: format!(
                "the next key has not been published long enough for every verifier to know it; \
                 it may sign from {ready_at} (in {} s)",
                ready_at - now
            )
            .into(),
            retry_at: Some(ready_at),
        }
    }
}

/// Promotes `next` to `current` (refused until `next` was published long enough, unless the
/// current key is being revoked), demotes or revokes the old current, publishes a new `next`.
/// A refusal is an `Ok` so the caller commits it: a missing `next` key published now is what a
/// later retry promotes.
pub fn rotate(
    conn: &mut DbConnection,
    lifecycle: &KeyLifecycle,
    request: RotateRequest,
    now: i64,
) -> Result<Result<Rotation, NotReady>, Error> {
    store::with_lock(conn, KEYS_LOCK, now, |conn| {
        let published = rows::published(conn)?;
        let Some(next) = find(&published, KeyState::Next) else {
            insert(conn, lifecycle, request, KeyState::Next, now)?;
            return Ok(Err(NotReady { ready_at: now + lifecycle.schedule.publication_delay() }));
        };
        let ready_at = lifecycle.schedule.ready_at(next);
        if now < ready_at && !request.revoke_current {
            return Ok(Err(NotReady { ready_at }));
        }
        let (mut previous, mut revoked) = (None, None);
        if let Some(current) = find(&published, KeyState::Current) {
            if request.revoke_current {
                rows::retire(conn, current, now)?;
                revoked = Some(current.kid.clone());
            } else {
                rows::demote(conn, &current.kid, now)?;
                previous = Some(current.kid.clone());
            }
        }
        rows::promote(conn, &next.kid, now)?;
        let new_next = insert(conn, lifecycle, request, KeyState::Next, now)?;
        retire_expired(conn, lifecycle, now)?;
        Ok(Ok(Rotation { current: next.kid.clone(), next: new_next, previous, revoked }))
    })
}

/// Retires a `next` or `previous` key now (an operator's decision: tokens it signed stop
/// verifying); the current key is refused (`key_is_current`). A retired `next` is replaced at
/// once.
pub fn retire(conn: &mut DbConnection, lifecycle: &KeyLifecycle, kid: &str, now: i64) -> Result<(), Error> {
    store::with_lock(conn, KEYS_LOCK, now, |conn| {
        let key = rows::find(conn, kid)?.ok_or(Error::NotFound("key"))?;
        if key.state == KeyState::Current {
            return Err(Error::conflict(
                "key_is_current",
                "the current key cannot be retired; rotate first, or rotate with revoke_current=true \
                 if it is compromised",
            ));
        }
        rows::retire(conn, &key, now)?;
        apply_due(conn, lifecycle, now)?;
        Ok(())
    })
}

/// The background task's step: retires expired keys, replaces a missing `next`, rotates on
/// schedule. Takes the lock only when something is due. Returns whether anything changed.
pub fn maintain(conn: &mut DbConnection, lifecycle: &KeyLifecycle, now: i64) -> Result<bool, Error> {
    if !lifecycle.something_due(&rows::published(conn)?, now) {
        return Ok(false);
    }
    store::with_lock(conn, KEYS_LOCK, now, |conn| apply_due(conn, lifecycle, now))
}

/// Under the lock: whatever is due, from a fresh read.
fn apply_due(conn: &mut DbConnection, lifecycle: &KeyLifecycle, now: i64) -> Result<bool, Error> {
    let mut changed = retire_expired(conn, lifecycle, now)?;
    let published = rows::published(conn)?;
    let configured = RotateRequest::default();
    match (find(&published, KeyState::Current), find(&published, KeyState::Next)) {
        (Some(current), Some(next)) => {
            if lifecycle.schedule.rotation_due_at(current, next).is_some_and(|at| at <= now) {
                rows::demote(conn, &current.kid, now)?;
                rows::promote(conn, &next.kid, now)?;
                let new_next = insert(conn, lifecycle, configured, KeyState::Next, now)?;
                log::info!("scheduled rotation: {} now signs, {new_next} published as next", next.kid);
                changed = true;
            }
        }
        (None, next) => {
            // A key that signs at once: only on a new database, before any verifier exists.
            insert(conn, lifecycle, configured, KeyState::Current, now)?;
            if next.is_none() {
                insert(conn, lifecycle, configured, KeyState::Next, now)?;
            }
            changed = true;
        }
        (Some(_), None) => {
            insert(conn, lifecycle, configured, KeyState::Next, now)?;
            changed = true;
        }
    }
    Ok(changed)
}

fn retire_expired(conn: &mut DbConnection, lifecycle: &KeyLifecycle, now: i64) -> Result<bool, Error> {
    let mut changed = false;
    for key in rows::published(conn)?.iter().filter(|k| k.state == KeyState::Previous) {
        if lifecycle.schedule.retires_at(key) <= now {
            let cutoff = now - lifecycle.schedule.leeway;
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
    conn: &mut DbConnection,
    lifecycle: &KeyLifecycle,
    request: RotateRequest,
    state: KeyState,
    now: i64,
) -> Result<String, Error> {
    let key = lifecycle.generate(request.alg, request.rsa_bits, state, now)?;
    rows::insert(conn, &key)?;
    log::info!("generated {} key {} as {}", key.alg, key.kid, state.as_str());
    Ok(key.kid)
}
