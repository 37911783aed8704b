//! The key lifecycle: `next → current → previous → retired`, with its timing enforced.
//!
//! - A `next` key is published before it signs, for `jwks_max_age + leeway + reload_interval`
//!   (`jwks_max_age` counted as at least [`VERIFIER_MIN_JWKS_TTL`]): every verifier that honours
//!   the JWKS max-age, and every instance that reloads on schedule, knows it before the first
//!   token it signs appears.
//! - A `previous` key stays published until the latest `exp` it signed (`last_exp`, reserved in
//!   the database before signing) plus the leeway has passed; then it retires, leaves the JWKS,
//!   and its private key is erased.
//! - Every change runs under the `keys` lock (`authority::key_lifecycle`), so any number of
//!   instances agree: exactly one `current`, at most one `next`.

use std::sync::Arc;

use super::master::MasterKey;
use super::signing::{self, Algorithm};
use super::{KeyRecord, KeyRing, KeyRingError, KeyState};

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

    pub fn ready_at(&self, next: &KeyRecord) -> i64 {
        next.published_at.saturating_add(self.publication_delay())
    }

    /// When a `previous` key may retire: after the last token it signed expired, plus leeway.
    pub fn retires_at(&self, previous: &KeyRecord) -> i64 {
        previous.last_exp.unwrap_or(0).max(previous.deactivated_at.unwrap_or(0)).saturating_add(self.leeway)
    }

    /// When scheduled rotation is due: the current key's age reached `rotate_every` and the
    /// next key is ready.
    pub fn rotation_due_at(&self, current: &KeyRecord, next: &KeyRecord) -> Option<i64> {
        let every = self.rotate_every?;
        let by_age = current.activated_at.unwrap_or(current.published_at).saturating_add(every);
        Some(by_age.max(self.ready_at(next)))
    }

    /// The next moment the published key set changes by schedule, if any.
    pub fn next_change_at(&self, published: &[KeyRecord]) -> Option<i64> {
        let retirements =
            published.iter().filter(|k| k.state == KeyState::Previous).map(|k| self.retires_at(k));
        let rotation = match (find(published, KeyState::Current), find(published, KeyState::Next)) {
            (Some(current), Some(next)) => self.rotation_due_at(current, next),
            _ => None,
        };
        retirements.chain(rotation).min()
    }
}

/// The published key in `state`, if any.
pub fn find(keys: &[KeyRecord], state: KeyState) -> Option<&KeyRecord> {
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

impl RotateRequest {
    /// Checks what an operator asked for, the same way through the admin API and the CLI: `alg`
    /// exactly one of jwtd's algorithms (never `none` or a symmetric one), `bits` only for RS256
    /// and only 2048, 3072 or 4096.
    pub fn new(alg: Option<&str>, rsa_bits: Option<u32>, revoke_current: bool) -> Result<Self, &'static str> {
        let alg = match alg {
            None => None,
            Some(name) => Some(
                Algorithm::parse(name)
                    .ok_or("alg must be RS256, ES256 or EdDSA; none and symmetric algorithms are refused")?,
            ),
        };
        if let Some(bits) = rsa_bits {
            if !matches!(bits, 2048 | 3072 | 4096) {
                return Err("bits must be 2048, 3072 or 4096");
            }
            if alg.is_some_and(|a| a != Algorithm::Rs256) {
                return Err("bits applies to RS256 keys only");
            }
        }
        Ok(Self { alg, rsa_bits, revoke_current })
    }
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

/// What key changes need: the schedule, the configured algorithm and size for new keys, and the
/// master key that seals them. The operations apply it to the database under the `keys` lock
/// (`authority::key_lifecycle`).
pub struct KeyLifecycle {
    pub schedule: KeySchedule,
    pub alg: Algorithm,
    pub rsa_bits: u32,
    pub master: Arc<MasterKey>,
}

impl KeyLifecycle {
    /// Generates a key (the configured algorithm and size unless asked otherwise) and seals its
    /// private half, as a record in `state` published at `now`.
    pub fn generate(
        &self,
        alg: Option<Algorithm>,
        rsa_bits: Option<u32>,
        state: KeyState,
        now: i64,
    ) -> Result<KeyRecord, KeyRingError> {
        let alg = alg.unwrap_or(self.alg);
        let generated = signing::generate(alg, rsa_bits.unwrap_or(self.rsa_bits))?;
        let kid = generated.jwk.kid.clone();
        let sealed = self.master.seal(&generated.pkcs8, kid.as_bytes())?;
        let public_jwk = serde_json::to_string(&generated.jwk)
            .map_err(|e| KeyRingError::Key { kid: kid.clone(), reason: e.to_string() })?;
        Ok(KeyRecord {
            kid,
            alg: alg.as_str().to_owned(),
            state,
            public_jwk,
            private_key_sealed: Some(sealed),
            created_at: now,
            published_at: now,
            activated_at: (state == KeyState::Current).then_some(now),
            deactivated_at: None,
            last_exp: None,
            retired_at: None,
            revoked_at: None,
        })
    }

    /// The ring the published keys make.
    pub fn ring(&self, published: Vec<KeyRecord>) -> Result<KeyRing, KeyRingError> {
        KeyRing::from_rows(published, &self.master, &self.schedule)
    }

    /// Whether the background step has anything to do with these published keys at `now`: a
    /// rotation due (or a `current` or `next` missing), or a `previous` key whose tokens expired.
    pub fn something_due(&self, published: &[KeyRecord], now: i64) -> bool {
        let (current, next) = (find(published, KeyState::Current), find(published, KeyState::Next));
        let rotation_due = match (current, next) {
            (Some(c), Some(n)) => self.schedule.rotation_due_at(c, n).is_some_and(|at| at <= now),
            _ => true,
        };
        rotation_due
            || published.iter().any(|k| k.state == KeyState::Previous && self.schedule.retires_at(k) <= now)
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
