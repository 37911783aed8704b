//! Passwords: argon2id PHC strings at OWASP's parameters; bcrypt hashes (imported from an
//! Express/bcrypt app) are accepted and upgraded to argon2id on the next successful login.
//!
//! Hashing is deliberately slow, so it never runs on the async workers: a fixed number of
//! hashing threads run them, a bounded number of logins may wait for one, and the rest are
//! refused. A login flood then slows logins, not the JWKS or token refresh.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher as _, PasswordVerifier as _};
use argon2::{Argon2, Params};
use zeroize::Zeroizing;

use crate::config::PasswordSettings;

/// Longest password accepted, checked before any hashing (a megabyte password costs no more
/// to argon2, but there is no reason to accept one).
pub const MAX_PASSWORD_BYTES: usize = 1024;
pub const MIN_PASSWORD_CHARS: usize = 8;

#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    #[error("passwords must be {MIN_PASSWORD_CHARS} characters to {MAX_PASSWORD_BYTES} bytes long")]
    Length,
    #[error("password hashing failed: {0}")]
    Hash(String),
    #[error("too many logins are waiting for a password check")]
    Busy,
    #[error("password check interrupted")]
    Interrupted,
}

/// The outcome of a check. `rehash` carries an upgraded hash to store (bcrypt or weaker argon2
/// parameters than configured).
#[derive(Debug)]
pub enum Verification {
    Valid { rehash: Option<String> },
    Invalid,
}

pub fn check_length(password: &str) -> Result<(), PasswordError> {
    if password.len() > MAX_PASSWORD_BYTES || password.chars().count() < MIN_PASSWORD_CHARS {
        return Err(PasswordError::Length);
    }
    Ok(())
}

/// Whether `hash` is a PHC or bcrypt string jwtd can verify.
pub fn is_supported_hash(hash: &str) -> bool {
    if is_bcrypt(hash) {
        return hash.parse::<bcrypt::HashParts>().is_ok();
    }
    PasswordHash::new(hash).is_ok_and(|h| h.algorithm.as_str() == "argon2id")
}

fn is_bcrypt(hash: &str) -> bool {
    ["$2a$", "$2b$", "$2y$"].iter().any(|p| hash.starts_with(p))
}

pub struct PasswordHasher {
    argon2: Argon2<'static>,
    params: Params,
    /// Verified against when the account does not exist, so that case costs the same.
    dummy_hash: String,
    threads: HashingThreads,
    waiting: AtomicUsize,
    max_queue: usize,
    /// Counts every check, the dummy ones included (a metric, and what tests observe).
    verifications: Option<prometheus::IntCounter>,
}

impl std::fmt::Debug for PasswordHasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PasswordHasher").field("params", &self.params).finish_non_exhaustive()
    }
}

impl PasswordHasher {
    /// Builds the hasher; computes one hash (the dummy), so call it off the async workers.
    pub fn new(settings: &PasswordSettings) -> Result<Self, PasswordError> {
        let params = Params::new(settings.memory_kib, settings.iterations, settings.parallelism, None)
            .map_err(|e| PasswordError::Hash(e.to_string()))?;
        let argon2 = Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params.clone());
        let concurrency = match settings.hash_concurrency {
            0 => std::thread::available_parallelism().map_or(1, usize::from),
            n => n,
        };
        let mut hasher = Self {
            argon2,
            params,
            dummy_hash: String::new(),
            threads: HashingThreads::start(concurrency)?,
            waiting: AtomicUsize::new(0),
            max_queue: settings.max_queue,
            verifications: None,
        };
        let mut random = [0u8; 32];
        aws_lc_rs::rand::fill(&mut random).map_err(|_| PasswordError::Hash("no randomness".into()))?;
        hasher.dummy_hash = hasher.hash_blocking(&base64_random(&random))?;
        Ok(hasher)
    }

    /// Counts checks into `counter`.
    pub fn counting(mut self, counter: prometheus::IntCounter) -> Self {
        self.verifications = Some(counter);
        self
    }

    /// Logins waiting for or in a hash (for metrics and load shedding).
    pub fn queue_depth(&self) -> usize {
        self.waiting.load(Ordering::Relaxed)
    }

    pub fn hash_blocking(&self, password: &str) -> Result<String, PasswordError> {
        self.argon2
            .hash_password(password.as_bytes())
            .map(|h| h.to_string())
            .map_err(|e| PasswordError::Hash(e.to_string()))
    }

    /// Checks `password` against `stored`, or against the dummy hash when there is no account.
    pub fn verify_blocking(&self, password: &str, stored: Option<&str>) -> Verification {
        if let Some(counter) = &self.verifications {
            counter.inc();
        }
        let Some(stored) = stored else {
            let _ = self.check(password, &self.dummy_hash);
            return Verification::Invalid;
        };
        match self.check(password, stored) {
            Ok(true) => {
                let rehash = if self.needs_rehash(stored) { self.hash_blocking(password).ok() } else { None };
                Verification::Valid { rehash }
            }
            Ok(false) | Err(_) => Verification::Invalid,
        }
    }

    fn check(&self, password: &str, stored: &str) -> Result<bool, PasswordError> {
        if is_bcrypt(stored) {
            return bcrypt::verify(password, stored).map_err(|e| PasswordError::Hash(e.to_string()));
        }
        let parsed = PasswordHash::new(stored).map_err(|e| PasswordError::Hash(e.to_string()))?;
        Ok(self.argon2.verify_password(password.as_bytes(), &parsed).is_ok())
    }

    fn needs_rehash(&self, stored: &str) -> bool {
        if is_bcrypt(stored) {
            return true;
        }
        let Ok(parsed) = PasswordHash::new(stored) else { return true };
        match Params::try_from(&parsed) {
            Ok(p) => {
                p.m_cost() < self.params.m_cost()
                    || p.t_cost() < self.params.t_cost()
                    || parsed.algorithm.as_str() != "argon2id"
            }
            Err(_) => true,
        }
    }

    /// `verify_blocking` on the hashing threads.
    pub async fn verify(
        self: &Arc<Self>,
        password: Zeroizing<String>,
        stored: Option<String>,
    ) -> Result<Verification, PasswordError> {
        let hasher = Arc::clone(self);
        self.run(move || Ok(hasher.verify_blocking(&password, stored.as_deref()))).await
    }

    /// `hash_blocking` on the hashing threads.
    pub async fn hash(self: &Arc<Self>, password: Zeroizing<String>) -> Result<String, PasswordError> {
        let hasher = Arc::clone(self);
        self.run(move || hasher.hash_blocking(&password)).await
    }

    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> Result<T, PasswordError> + Send + 'static,
    ) -> Result<T, PasswordError> {
        if self.waiting.fetch_add(1, Ordering::AcqRel) >= self.max_queue {
            self.waiting.fetch_sub(1, Ordering::AcqRel);
            return Err(PasswordError::Busy);
        }
        let (done, result) = tokio::sync::oneshot::channel();
        let sent = self.threads.submit(Box::new(move || {
            let _ = done.send(work());
        }));
        let outcome = match sent {
            Ok(()) => result.await.map_err(|_| PasswordError::Interrupted).and_then(|r| r),
            Err(()) => Err(PasswordError::Interrupted),
        };
        self.waiting.fetch_sub(1, Ordering::AcqRel);
        outcome
    }
}

type Job = Box<dyn FnOnce() + Send>;

/// The threads password hashes run on: a fixed number, so argon2's 19 MiB working memory stays
/// resident in that many allocator arenas at most (the shared blocking pool can grow to hundreds
/// of threads, each keeping its own copy), and at a lower scheduling priority (nice ≈ 9), so a
/// login flood leaves CPU for the JWKS and token requests. They end when the hasher is dropped.
struct HashingThreads {
    jobs: std::sync::Mutex<std::sync::mpsc::Sender<Job>>,
}

impl HashingThreads {
    fn start(count: usize) -> Result<Self, PasswordError> {
        let (jobs, queue) = std::sync::mpsc::channel::<Job>();
        let queue = Arc::new(std::sync::Mutex::new(queue));
        for n in 0..count {
            let queue = Arc::clone(&queue);
            std::thread::Builder::new()
                .name(format!("jwtd-hash-{n}"))
                .spawn(move || {
                    if let Ok(priority) = thread_priority::ThreadPriorityValue::try_from(25u8) {
                        let _ = thread_priority::set_current_thread_priority(
                            thread_priority::ThreadPriority::Crossplatform(priority),
                        );
                    }
                    loop {
                        let job = match queue.lock() {
                            Ok(queue) => queue.recv(),
                            Err(_) => return,
                        };
                        match job {
                            Ok(job) => job(),
                            Err(_) => return,
                        }
                    }
                })
                .map_err(|e| PasswordError::Hash(format!("cannot start a hashing thread: {e}")))?;
        }
        Ok(Self { jobs: std::sync::Mutex::new(jobs) })
    }

    fn submit(&self, job: Job) -> Result<(), ()> {
        self.jobs.lock().map_err(drop)?.send(job).map_err(drop)
    }
}

fn base64_random(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    fn settings() -> PasswordSettings {
        PasswordSettings {
            memory_kib: 19_456,
            iterations: 2,
            parallelism: 1,
            hash_concurrency: 1,
            max_queue: 4,
        }
    }

    #[test]
    fn argon2id_hashes_verify_and_carry_owasp_parameters() {
        let hasher = PasswordHasher::new(&settings()).unwrap();
        let hash = hasher.hash_blocking("correct horse").unwrap();
        assert!(hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{hash}");
        assert!(matches!(
            hasher.verify_blocking("correct horse", Some(&hash)),
            Verification::Valid { rehash: None }
        ));
        assert!(matches!(hasher.verify_blocking("wrong horse", Some(&hash)), Verification::Invalid));
        assert!(matches!(hasher.verify_blocking("correct horse", None), Verification::Invalid));
        assert!(matches!(hasher.verify_blocking("x", Some("garbage")), Verification::Invalid));
    }

    #[test]
    fn bcrypt_hashes_verify_and_are_upgraded() {
        let hasher = PasswordHasher::new(&settings()).unwrap();
        let legacy = bcrypt::hash("from express", 4).unwrap();
        assert!(is_supported_hash(&legacy));
        match hasher.verify_blocking("from express", Some(&legacy)) {
            Verification::Valid { rehash: Some(new) } => assert!(new.starts_with("$argon2id$")),
            other => panic!("{other:?}"),
        }
        assert!(matches!(hasher.verify_blocking("not it", Some(&legacy)), Verification::Invalid));
    }

    #[test]
    fn weaker_argon2_parameters_are_upgraded() {
        let weak = Argon2::new(
            argon2::Algorithm::Argon2id,
            argon2::Version::V0x13,
            Params::new(8, 1, 1, None).unwrap(),
        )
        .hash_password(b"pw123456")
        .unwrap()
        .to_string();
        let hasher = PasswordHasher::new(&settings()).unwrap();
        assert!(matches!(
            hasher.verify_blocking("pw123456", Some(&weak)),
            Verification::Valid { rehash: Some(_) }
        ));
    }

    #[test]
    fn lengths_are_bounded() {
        assert!(check_length("short").is_err());
        assert!(check_length(&"x".repeat(1025)).is_err());
        assert!(check_length("long enough").is_ok());
    }
}
