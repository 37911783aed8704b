//! The key ring: which key signs, which keys the JWKS publishes, and how private keys are
//! sealed at rest.

pub mod jwk;
pub mod master;
pub mod signing;

use std::sync::{Arc, RwLock};

use actix_web::web::Bytes;
use aws_lc_rs::digest;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::store::keys::{self as key_rows, KeyRow, NewKey, STATE_CURRENT};
use crate::store::{DbConnection, StoreError};
use jwk::PublicJwk;
use master::MasterKey;
use signing::{Algorithm, SigningKey};

#[derive(Debug, thiserror::Error)]
pub enum KeyRingError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("signing key {kid}: {reason}")]
    Key { kid: String, reason: String },
    #[error(transparent)]
    Signing(#[from] signing::SigningError),
    #[error(transparent)]
    Master(#[from] master::MasterKeyError),
}

impl From<diesel::result::Error> for KeyRingError {
    fn from(e: diesel::result::Error) -> Self {
        Self::Store(StoreError::Query(e))
    }
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

/// One consistent view of the keys: the signer and the JWKS built from the same rows.
#[derive(Debug)]
pub struct KeyRing {
    pub signer: SigningKey,
    pub jwks: JwksDocument,
}

/// Key generation parameters.
#[derive(Debug, Clone, Copy)]
pub struct KeyPolicy {
    pub alg: Algorithm,
    pub rsa_bits: u32,
}

impl KeyRing {
    /// Loads the published keys; on a database with no current key, generates one first.
    /// Blocking: call it from `web::block` or before the server starts.
    pub fn load_or_create(
        conn: &mut DbConnection,
        master: &MasterKey,
        policy: KeyPolicy,
        now: i64,
    ) -> Result<Self, KeyRingError> {
        let rows = key_rows::published(conn)?;
        if rows.iter().any(|row| row.state == STATE_CURRENT) {
            return Self::from_rows(&rows, master);
        }
        create_current_key(conn, master, policy, now)?;
        Self::from_rows(&key_rows::published(conn)?, master)
    }

    pub fn from_rows(rows: &[KeyRow], master: &MasterKey) -> Result<Self, KeyRingError> {
        let mut public = Vec::with_capacity(rows.len());
        let mut signer = None;
        for row in rows {
            let jwk: PublicJwk = serde_json::from_str(&row.public_jwk)
                .map_err(|e| KeyRingError::Key { kid: row.kid.clone(), reason: e.to_string() })?;
            if row.state == STATE_CURRENT {
                signer = Some(unseal_signer(row, master)?);
            }
            public.push(jwk);
        }
        let signer = signer.ok_or_else(|| KeyRingError::Key {
            kid: String::new(),
            reason: "no current signing key".to_owned(),
        })?;
        let jwks = JwksDocument::new(&public)
            .map_err(|e| KeyRingError::Key { kid: signer.kid().to_owned(), reason: e.to_string() })?;
        Ok(Self { signer, jwks })
    }
}

fn unseal_signer(row: &KeyRow, master: &MasterKey) -> Result<SigningKey, KeyRingError> {
    let key_error = |reason: &str| KeyRingError::Key { kid: row.kid.clone(), reason: reason.to_owned() };
    let alg = Algorithm::parse(&row.alg).ok_or_else(|| key_error("unknown algorithm"))?;
    let sealed = row.private_key_sealed.as_deref().ok_or_else(|| key_error("private key erased"))?;
    let pkcs8 = master
        .unseal(sealed, row.kid.as_bytes())
        .map_err(|_| key_error("cannot unseal: wrong master key?"))?;
    Ok(SigningKey::from_pkcs8(row.kid.clone(), alg, &pkcs8)?)
}

/// Generates a key and inserts it as `current`. Another instance may win the race; its key
/// then stands and ours is dropped.
fn create_current_key(
    conn: &mut DbConnection,
    master: &MasterKey,
    policy: KeyPolicy,
    now: i64,
) -> Result<(), KeyRingError> {
    let generated = signing::generate(policy.alg, policy.rsa_bits)?;
    let kid = generated.jwk.kid.clone();
    let sealed = master.seal(&generated.pkcs8, kid.as_bytes())?;
    let public_jwk = serde_json::to_string(&generated.jwk)
        .map_err(|e| KeyRingError::Key { kid: kid.clone(), reason: e.to_string() })?;
    let row = NewKey {
        kid: &kid,
        alg: policy.alg.as_str(),
        state: STATE_CURRENT,
        public_jwk: &public_jwk,
        private_key_sealed: Some(&sealed),
        created_at: now,
        published_at: now,
        activated_at: Some(now),
    };
    match key_rows::insert(conn, &row) {
        Ok(()) => {
            log::info!("generated signing key {kid} ({})", policy.alg.as_str());
            Ok(())
        }
        Err(diesel::result::Error::DatabaseError(diesel::result::DatabaseErrorKind::UniqueViolation, _)) => {
            Ok(())
        }
        Err(e) => Err(e.into()),
    }
}

/// The ring every request reads; swapped whole when keys change.
#[derive(Debug)]
pub struct SharedKeyRing(RwLock<Arc<KeyRing>>);

impl SharedKeyRing {
    pub fn new(ring: KeyRing) -> Self {
        Self(RwLock::new(Arc::new(ring)))
    }

    pub fn get(&self) -> Arc<KeyRing> {
        match self.0.read() {
            Ok(guard) => Arc::clone(&guard),
            Err(poisoned) => Arc::clone(&poisoned.into_inner()),
        }
    }

    pub fn replace(&self, ring: KeyRing) {
        let ring = Arc::new(ring);
        match self.0.write() {
            Ok(mut guard) => *guard = ring,
            Err(poisoned) => *poisoned.into_inner() = ring,
        }
    }
}
