//! Keys: the ring of published keys (which one signs, what the JWKS shows), their lifecycle,
//! and how private keys are sealed at rest.

pub mod jwk;
pub mod lifecycle;
pub mod master;
pub mod remote;
pub mod signing;

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};

use aws_lc_rs::digest;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use bytes::Bytes;
use jsonwebtoken::DecodingKey;

use jwk::PublicJwk;
use lifecycle::KeySchedule;
use master::MasterKey;
use signing::{Algorithm, SigningKey};

/// Where a key is in its lifecycle: `next → current → previous → retired`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyState {
    /// Published, not signing yet.
    Next,
    /// Signing (exactly one).
    Current,
    /// Published until the last token it signed expired.
    Previous,
    /// Out of the JWKS; its private key erased.
    Retired,
}

impl KeyState {
    /// The states whose keys the JWKS publishes.
    pub const PUBLISHED: [Self; 3] = [Self::Next, Self::Current, Self::Previous];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Next => "next",
            Self::Current => "current",
            Self::Previous => "previous",
            Self::Retired => "retired",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        [Self::Next, Self::Current, Self::Previous, Self::Retired].into_iter().find(|s| s.as_str() == name)
    }
}

/// A signing key as stored: its public half, its sealed private half (erased once retired) and
/// its timeline, in seconds since the epoch.
#[derive(Debug, Clone)]
pub struct KeyRecord {
    pub kid: String,
    pub alg: String,
    pub state: KeyState,
    pub public_jwk: String,
    pub private_key_sealed: Option<Vec<u8>>,
    pub created_at: i64,
    pub published_at: i64,
    pub activated_at: Option<i64>,
    pub deactivated_at: Option<i64>,
    /// The latest `exp` of a token this key may have signed (reserved before signing).
    pub last_exp: Option<i64>,
    pub retired_at: Option<i64>,
    /// Set when the key was retired before its tokens expired.
    pub revoked_at: Option<i64>,
}

#[derive(Debug, thiserror::Error)]
pub enum KeyRingError {
    #[error("signing key {kid}: {reason}")]
    Key { kid: String, reason: String },
    #[error(transparent)]
    Signing(#[from] signing::SigningError),
    #[error(transparent)]
    Master(#[from] master::MasterKeyError),
}

/// The JWKS as the bytes every response sends, with their entity tag.
#[derive(Debug, Clone)]
pub struct JwksDocument {
    pub body: Bytes,
    pub etag: String,
}

impl JwksDocument {
    fn new(keys: &[PublicJwk]) -> Result<Self, serde_json::Error> {
        let body = serde_json::to_vec(&serde_json::json!({ "keys": keys }))?;
        let digest = digest::digest(&digest::SHA256, &body);
        let tag = digest.as_ref().get(..16).unwrap_or(digest.as_ref());
        Ok(Self { body: Bytes::from(body), etag: format!("\"{}\"", URL_SAFE_NO_PAD.encode(tag)) })
    }
}

/// What identifies a ring's content: a reload that reads the same rows keeps the ring.
type Fingerprint = Vec<(String, KeyState, Option<i64>)>;

/// One consistent view of the published keys: the signer, the JWKS and the keys jwtd verifies
/// its own tokens with, all built from the same rows.
pub struct KeyRing {
    pub signer: SigningKey,
    pub jwks: JwksDocument,
    verifiers: HashMap<String, (DecodingKey, jsonwebtoken::Algorithm)>,
    fingerprint: Fingerprint,
    /// Tokens signed by `signer` may expire up to this time: the signer's `last_exp` in the
    /// database, raised there before any token would exceed it.
    reserved_until: AtomicI64,
    /// When the published set next changes by schedule (a retirement or a rotation).
    pub next_change_at: Option<i64>,
}

impl std::fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyRing")
            .field("signer", &self.signer)
            .field("etag", &self.jwks.etag)
            .finish_non_exhaustive()
    }
}

impl KeyRing {
    pub fn from_rows(
        rows: Vec<KeyRecord>,
        master: &MasterKey,
        schedule: &KeySchedule,
    ) -> Result<Self, KeyRingError> {
        let mut public = Vec::with_capacity(rows.len());
        let mut verifiers = HashMap::with_capacity(rows.len());
        let mut signer = None;
        let mut reserved_until = 0;
        for row in &rows {
            let key_error = |reason: String| KeyRingError::Key { kid: row.kid.clone(), reason };
            let jwk: PublicJwk =
                serde_json::from_str(&row.public_jwk).map_err(|e| key_error(e.to_string()))?;
            let verifier = verification_key(&jwk).map_err(key_error)?;
            if row.state == KeyState::Current {
                signer = Some(unseal_signer(row, master)?);
                reserved_until = row.last_exp.unwrap_or(0);
            }
            verifiers.insert(row.kid.clone(), verifier);
            public.push(jwk);
        }
        let signer = signer.ok_or_else(|| KeyRingError::Key {
            kid: String::new(),
            reason: "no current signing key".to_owned(),
        })?;
        let jwks = JwksDocument::new(&public)
            .map_err(|e| KeyRingError::Key { kid: signer.kid().to_owned(), reason: e.to_string() })?;
        Ok(Self {
            signer,
            jwks,
            verifiers,
            next_change_at: schedule.next_change_at(&rows),
            fingerprint: fingerprint(&rows),
            reserved_until: AtomicI64::new(reserved_until),
        })
    }

    /// The key a token with this `kid` must verify with, and the only algorithm it may use.
    pub fn verification_key(&self, kid: &str) -> Option<&(DecodingKey, jsonwebtoken::Algorithm)> {
        self.verifiers.get(kid)
    }

    pub fn reserved_until(&self) -> i64 {
        self.reserved_until.load(Ordering::Acquire)
    }

    /// Records that the signer's `last_exp` was raised to `until` in the database, so tokens
    /// expiring by then sign without another write.
    pub fn extend_reservation(&self, until: i64) {
        self.reserved_until.fetch_max(until, Ordering::AcqRel);
    }

    /// Whether `rows` (as just read) are the rows this ring was built from: a reload that
    /// finds nothing changed keeps the ring.
    pub fn same_rows(&self, rows: &[KeyRecord]) -> bool {
        self.fingerprint == fingerprint(rows)
    }
}

fn fingerprint(rows: &[KeyRecord]) -> Fingerprint {
    rows.iter().map(|r| (r.kid.clone(), r.state, r.last_exp)).collect()
}

fn verification_key(jwk: &PublicJwk) -> Result<(DecodingKey, jsonwebtoken::Algorithm), String> {
    let value = serde_json::to_value(jwk).map_err(|e| e.to_string())?;
    let parsed: jsonwebtoken::jwk::Jwk = serde_json::from_value(value).map_err(|e| e.to_string())?;
    let key = DecodingKey::from_jwk(&parsed).map_err(|e| e.to_string())?;
    let alg = jwk.alg.parse::<jsonwebtoken::Algorithm>().map_err(|e| e.to_string())?;
    Ok((key, alg))
}

fn unseal_signer(row: &KeyRecord, master: &MasterKey) -> Result<SigningKey, KeyRingError> {
    let key_error = |reason: &str| KeyRingError::Key { kid: row.kid.clone(), reason: reason.to_owned() };
    let alg = Algorithm::parse(&row.alg).ok_or_else(|| key_error("unknown algorithm"))?;
    let sealed = row.private_key_sealed.as_deref().ok_or_else(|| key_error("private key erased"))?;
    let pkcs8 = master
        .unseal(sealed, row.kid.as_bytes())
        .map_err(|_| key_error("cannot unseal: wrong master key?"))?;
    Ok(SigningKey::from_pkcs8(row.kid.clone(), alg, &pkcs8)?)
}
