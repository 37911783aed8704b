//! Signing-key operations: list, rotate (scheduled timing enforced; an emergency with
//! `revoke_current`), retire. The admin API and the CLI call the same functions. Each change
//! runs under the `keys` lock ([`KeyLifecycle`]) in one transaction with its audit event.

use diesel::Connection;
use serde_json::{Value, json};

use super::audit::Actor;
use super::key_lifecycle;
use super::{Authority, Error};
use crate::keys::lifecycle::{KeyLifecycle, KeySchedule, RotateRequest, Rotation};
use crate::keys::{KeyRecord, KeyState};
use crate::store::{self, DbConnection};

/// A signing key as operators see it: its state and timeline, never its private material.
#[derive(Debug, Clone)]
pub struct KeyStatus {
    pub kid: String,
    pub alg: String,
    pub state: KeyState,
    pub created_at: i64,
    pub published_at: i64,
    pub activated_at: Option<i64>,
    pub deactivated_at: Option<i64>,
    pub retired_at: Option<i64>,
    /// A `next` key's first moment to sign.
    pub signs_from: Option<i64>,
    /// When a `previous` key retires: its last token expired, plus leeway.
    pub retires_at: Option<i64>,
}

impl KeyStatus {
    fn new(row: &KeyRecord, schedule: &KeySchedule) -> Self {
        Self {
            kid: row.kid.clone(),
            alg: row.alg.clone(),
            state: row.state,
            created_at: row.created_at,
            published_at: row.published_at,
            activated_at: row.activated_at,
            deactivated_at: row.deactivated_at,
            retired_at: row.retired_at,
            signs_from: (row.state == KeyState::Next).then(|| schedule.ready_at(row)),
            retires_at: (row.state == KeyState::Previous).then(|| schedule.retires_at(row)),
        }
    }

    /// Since when the key is in its state: signing since activation, `previous` since it stopped
    /// signing, `next` since publication. `None` if that moment is unknown.
    pub fn in_state_since(&self) -> Option<i64> {
        match self.state {
            KeyState::Current => self.activated_at,
            KeyState::Previous => self.deactivated_at,
            KeyState::Next | KeyState::Retired => Some(self.published_at),
        }
    }

    pub fn describe(&self) -> Value {
        json!({
            "kid": self.kid,
            "alg": self.alg,
            "state": self.state.as_str(),
            "created_at": self.created_at,
            "published_at": self.published_at,
            "activated_at": self.activated_at,
            "deactivated_at": self.deactivated_at,
            "signs_from": self.signs_from,
            "retires_at": self.retires_at,
            "retired_at": self.retired_at,
        })
    }
}

/// Every key, retired ones too, oldest first.
pub fn list(conn: &mut DbConnection, schedule: &KeySchedule) -> Result<Vec<KeyStatus>, Error> {
    Ok(store::keys::all(conn)?.iter().map(|row| KeyStatus::new(row, schedule)).collect())
}

/// Promotes the pre-published `next` key and publishes a new one, with the audit event, in one
/// transaction. Refused with a conflict (`rotation_not_ready`, retry at the time it names)
/// until the next key was published long enough for every verifier to know it, unless the
/// current key is being revoked.
pub fn rotate(
    conn: &mut DbConnection,
    lifecycle: &KeyLifecycle,
    actor: &Actor,
    request: RotateRequest,
    now: i64,
) -> Result<Rotation, Error> {
    let outcome = conn.transaction(|conn| {
        let outcome = key_lifecycle::rotate(conn, lifecycle, request, now)?;
        if let Ok(rotation) = &outcome {
            let (kind, subject) = rotation.audit_kind_and_subject();
            actor.audit(conn, now, kind, Some(subject), json!(rotation))?;
        }
        Ok::<_, Error>(outcome)
    })?;
    outcome.map_err(|refused| refused.into_error(now))
}

/// Retires a `next` or `previous` key now (tokens it signed stop verifying), with the audit
/// event, in one transaction. The current key is refused (`key_is_current`).
pub fn retire(
    conn: &mut DbConnection,
    lifecycle: &KeyLifecycle,
    actor: &Actor,
    kid: &str,
    now: i64,
) -> Result<(), Error> {
    conn.transaction(|conn| {
        key_lifecycle::retire(conn, lifecycle, kid, now)?;
        actor.audit(conn, now, "key.retired", Some(kid), json!({}))?;
        Ok(())
    })
}

impl Authority {
    /// The keys in the JWKS (`next`, `current`, `previous`), for the key-age gauges.
    pub async fn published_keys(&self) -> Result<Vec<KeyStatus>, Error> {
        let schedule = self.keys.lifecycle.schedule;
        self.with_conn(move |conn| {
            Ok(store::keys::published(conn)?.iter().map(|row| KeyStatus::new(row, &schedule)).collect())
        })
        .await
    }
}
