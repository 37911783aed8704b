//! The master key seals every private signing key with AES-256-GCM before it reaches the
//! database, so a copy of the database alone never yields a signing key.
//!
//! Reads, in order: `JWTD_MASTER_KEY` (base64 of 32 bytes), `JWTD_MASTER_KEY_FILE` (a file
//! holding that text). Without either, the embedded default generates `{data_dir}/master.key`
//! (mode 0600) and warns; production mode refuses to start instead.

use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};

use aws_lc_rs::aead::{AES_256_GCM, Aad, NONCE_LEN, Nonce, RandomizedNonceKey};
use aws_lc_rs::hmac;
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use secrecy::{ExposeSecret, SecretString};
use zeroize::Zeroizing;

pub const MASTER_KEY_LEN: usize = 32;
/// First byte of every sealed blob, so the format can change without guessing.
const SEAL_FORMAT_V1: u8 = 1;

pub struct MasterKey {
    key: RandomizedNonceKey,
    /// Derives refresh-token successors (see `tokens::refresh`): a key of its own, so the
    /// sealing key is used for nothing else.
    successor_key: hmac::Key,
    /// Authenticates a refresh token's family and generation (see `tokens::refresh`), so a token
    /// nobody issued is told from an old one without a stored row.
    refresh_tag_key: hmac::Key,
    /// Makes and checks DPoP nonces (see `tokens::dpop`): every instance holding the master key
    /// derives the same one, so a nonce one instance gave out is good at all of them.
    nonce_key: hmac::Key,
}

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MasterKey(<redacted>)")
    }
}

#[derive(Debug, thiserror::Error)]
pub enum MasterKeyError {
    #[error("the master key must be base64 of exactly {MASTER_KEY_LEN} bytes")]
    Malformed,
    #[error("cannot read the master key file {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("cannot write the generated master key to {path}: {source}")]
    Write { path: PathBuf, source: std::io::Error },
    #[error("the system random generator failed")]
    Random,
}

#[derive(Debug, thiserror::Error)]
#[error("sealed key material is malformed or was sealed under another master key")]
pub struct UnsealError;

/// Where the master key comes from.
pub enum MasterKeySource<'a> {
    Inline(&'a SecretString),
    File(&'a Path),
    /// Embedded default: generated into this file on first start.
    Generated(PathBuf),
}

impl MasterKey {
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, MasterKeyError> {
        if bytes.len() != MASTER_KEY_LEN {
            return Err(MasterKeyError::Malformed);
        }
        let key = RandomizedNonceKey::new(&AES_256_GCM, bytes).map_err(|_| MasterKeyError::Malformed)?;
        let derive = |label: &[u8]| {
            let derived = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, bytes), label);
            hmac::Key::new(hmac::HMAC_SHA256, derived.as_ref())
        };
        let successor_key = derive(b"jwtd refresh-token successors v1");
        let refresh_tag_key = derive(b"jwtd refresh-token tags v2");
        let nonce_key = derive(b"jwtd dpop nonces v1");
        Ok(Self { key, successor_key, refresh_tag_key, nonce_key })
    }

    /// Accepts standard or URL-safe base64, padded or not, surrounded by whitespace.
    pub fn from_base64(text: &str) -> Result<Self, MasterKeyError> {
        let text = text.trim();
        let bytes = Zeroizing::new(
            STANDARD
                .decode(text)
                .or_else(|_| URL_SAFE_NO_PAD.decode(text.trim_end_matches('=')))
                .map_err(|_| MasterKeyError::Malformed)?,
        );
        Self::from_bytes(&bytes)
    }

    /// A new random key, as the base64 text `JWTD_MASTER_KEY` expects.
    pub fn generate_base64() -> Result<Zeroizing<String>, MasterKeyError> {
        let mut bytes = Zeroizing::new([0u8; MASTER_KEY_LEN]);
        aws_lc_rs::rand::fill(bytes.as_mut()).map_err(|_| MasterKeyError::Random)?;
        Ok(Zeroizing::new(STANDARD.encode(bytes.as_ref())))
    }

    /// Loads the key from its source; a `Generated` source creates the file on first use.
    pub fn load(source: MasterKeySource<'_>) -> Result<Self, MasterKeyError> {
        match source {
            MasterKeySource::Inline(text) => Self::from_base64(text.expose_secret()),
            MasterKeySource::File(path) => Self::from_base64(&read_key_file(path)?),
            MasterKeySource::Generated(path) => {
                if path.exists() {
                    return Self::from_base64(&read_key_file(&path)?);
                }
                let text = Self::generate_base64()?;
                write_private_file(&path, text.as_bytes())
                    .map_err(|source| MasterKeyError::Write { path: path.clone(), source })?;
                log::warn!(
                    "generated a master key in {}: fine for development, but production must \
                     provide JWTD_MASTER_KEY or JWTD_MASTER_KEY_FILE",
                    path.display()
                );
                Self::from_base64(&text)
            }
        }
    }

    /// HMAC-SHA256 of `message` under the successor key.
    pub fn successor_mac(&self, message: &[u8]) -> hmac::Tag {
        hmac::sign(&self.successor_key, message)
    }

    /// HMAC-SHA256 of `message` under the refresh-token tag key.
    pub fn refresh_tag_mac(&self, message: &[u8]) -> hmac::Tag {
        hmac::sign(&self.refresh_tag_key, message)
    }

    /// HMAC-SHA256 of `message` under the DPoP nonce key.
    pub fn nonce_mac(&self, message: &[u8]) -> hmac::Tag {
        hmac::sign(&self.nonce_key, message)
    }

    /// Seals `plaintext` bound to `context` (the key's `kid`), so a sealed blob moved to
    /// another row fails to open.
    pub fn seal(&self, plaintext: &[u8], context: &[u8]) -> Result<Vec<u8>, MasterKeyError> {
        let mut in_out = plaintext.to_vec();
        let nonce = self
            .key
            .seal_in_place_append_tag(Aad::from(context), &mut in_out)
            .map_err(|_| MasterKeyError::Random)?;
        let mut sealed = Vec::with_capacity(1 + NONCE_LEN + in_out.len());
        sealed.push(SEAL_FORMAT_V1);
        sealed.extend_from_slice(nonce.as_ref());
        sealed.extend_from_slice(&in_out);
        in_out.iter_mut().for_each(|b| *b = 0);
        Ok(sealed)
    }

    pub fn unseal(&self, sealed: &[u8], context: &[u8]) -> Result<Zeroizing<Vec<u8>>, UnsealError> {
        let (&format, rest) = sealed.split_first().ok_or(UnsealError)?;
        if format != SEAL_FORMAT_V1 || rest.len() < NONCE_LEN {
            return Err(UnsealError);
        }
        let (nonce, ciphertext) = rest.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| UnsealError)?;
        let mut in_out = Zeroizing::new(ciphertext.to_vec());
        let len =
            self.key.open_in_place(nonce, Aad::from(context), &mut in_out).map_err(|_| UnsealError)?.len();
        in_out.truncate(len);
        Ok(in_out)
    }
}

fn read_key_file(path: &Path) -> Result<Zeroizing<String>, MasterKeyError> {
    std::fs::read_to_string(path)
        .map(Zeroizing::new)
        .map_err(|source| MasterKeyError::Read { path: path.to_owned(), source })
}

/// Creates `dir` (and its parents) accessible to its owner only, if it does not exist yet.
pub fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir)
}

/// Creates `path` readable by its owner only; never overwrites an existing file.
pub fn write_private_file(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        create_private_dir(parent)?;
    }
    let mut file = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path)?;
    file.write_all(contents)?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_bytes_open_only_with_the_same_key_and_context() {
        let key = MasterKey::from_bytes(&[7; 32]).unwrap();
        let sealed = key.seal(b"private key bytes", b"kid-1").unwrap();
        assert!(!sealed.windows(17).any(|w| w == b"private key bytes"));
        assert_eq!(key.unseal(&sealed, b"kid-1").unwrap().as_slice(), b"private key bytes");
        assert!(key.unseal(&sealed, b"kid-2").is_err());
        let other = MasterKey::from_bytes(&[8; 32]).unwrap();
        assert!(other.unseal(&sealed, b"kid-1").is_err());
    }

    #[test]
    fn malformed_keys_are_refused() {
        assert!(MasterKey::from_base64("c2hvcnQ=").is_err());
        assert!(MasterKey::from_base64("not base64 at all!").is_err());
        let text = MasterKey::generate_base64().unwrap();
        assert!(MasterKey::from_base64(&format!("  {}\n", text.as_str())).is_ok());
    }
}
