//! Passwords: argon2id PHC strings at OWASP's parameters; bcrypt hashes (imported from an
//! Express/bcrypt app) are accepted and upgraded to argon2id on the next successful login.
//!
//! Hashing is deliberately slow, so it never runs on the async workers: a fixed number of
//! hashing threads run them, a bounded number of logins may wait for one, and the rest are
//! refused. A login flood then slows logins, not the JWKS or token refresh.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use argon2::password_hash::phc::PasswordHash;
use argon2::{Argon2, Block, Params};
use base64::Engine;
use base64::engine::general_purpose::STANDARD_NO_PAD;
use zeroize::Zeroizing;

/// argon2id's cost and how many hashes run at once (`passwords.*`).
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PasswordSettings {
    pub memory_kib: u32,
    pub iterations: u32,
    pub parallelism: u32,
    pub hash_concurrency: usize,
    pub max_queue: usize,
}

/// Longest password accepted, checked before any hashing (a megabyte password costs no more
/// to argon2, but there is no reason to accept one).
pub const MAX_PASSWORD_BYTES: usize = 1024;
pub const MIN_PASSWORD_CHARS: usize = 8;
const SALT_BYTES: usize = 16;
const OUTPUT_BYTES: usize = 32;

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

/// The most an imported hash may cost to check: any login for its email pays it, before any
/// password is known. 256 MiB and 10 passes cover every published argon2id recommendation but
/// RFC 9106's 2 GiB one; bcrypt 14 takes about a second.
const MAX_IMPORTED_ARGON2_MEMORY_KIB: u32 = 256 * 1024;
const MAX_IMPORTED_ARGON2_PASSES: u32 = 10;
const MAX_IMPORTED_ARGON2_LANES: u32 = 16;
const MAX_IMPORTED_BCRYPT_COST: u32 = 14;
const MAX_IMPORTED_HASH_BYTES: usize = 256;

/// Whether `hash` is a PHC or bcrypt string jwtd can verify, at a bounded cost.
pub fn is_supported_hash(hash: &str) -> bool {
    if hash.len() > MAX_IMPORTED_HASH_BYTES {
        return false;
    }
    if is_bcrypt(hash) {
        return hash.parse::<bcrypt::HashParts>().is_ok_and(|h| h.get_cost() <= MAX_IMPORTED_BCRYPT_COST);
    }
    let Ok(parsed) = PasswordHash::new(hash) else { return false };
    parsed.algorithm.as_str() == "argon2id"
        && Params::try_from(&parsed).is_ok_and(|p| {
            p.m_cost() <= MAX_IMPORTED_ARGON2_MEMORY_KIB
                && p.t_cost() <= MAX_IMPORTED_ARGON2_PASSES
                && p.p_cost() <= MAX_IMPORTED_ARGON2_LANES
        })
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
        let blocks = params.block_count();
        let concurrency = match settings.hash_concurrency {
            0 => std::thread::available_parallelism().map_or(1, usize::from),
            n => n,
        };
        let mut hasher = Self {
            argon2,
            params,
            dummy_hash: String::new(),
            threads: HashingThreads::start(concurrency, blocks)?,
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

    /// Working memory for one hash at the configured parameters (`memory_kib` KiB).
    fn working_memory(&self) -> Vec<Block> {
        vec![Block::new(); self.params.block_count()]
    }

    /// Hashes with fresh working memory (the CLI, start-up); requests use `hash`.
    pub fn hash_blocking(&self, password: &str) -> Result<String, PasswordError> {
        self.hash_in(password, &mut self.working_memory())
    }

    /// Checks with fresh working memory (tests); requests use `verify`.
    pub fn verify_blocking(&self, password: &str, stored: Option<&str>) -> Verification {
        self.verify_in(password, stored, &mut self.working_memory())
    }

    /// An argon2id PHC string, computed in `memory` (reused by each hashing thread, so no
    /// 19 MiB allocation, zeroing and page faults per login).
    fn hash_in(&self, password: &str, memory: &mut [Block]) -> Result<String, PasswordError> {
        let mut salt = [0u8; SALT_BYTES];
        aws_lc_rs::rand::fill(&mut salt).map_err(|_| PasswordError::Hash("no randomness".into()))?;
        let mut output = [0u8; OUTPUT_BYTES];
        self.argon2
            .hash_password_into_with_memory(password.as_bytes(), &salt, &mut output, memory)
            .map_err(|e| PasswordError::Hash(e.to_string()))?;
        Ok(format!(
            "$argon2id$v=19$m={},t={},p={}${}${}",
            self.params.m_cost(),
            self.params.t_cost(),
            self.params.p_cost(),
            STANDARD_NO_PAD.encode(salt),
            STANDARD_NO_PAD.encode(output)
        ))
    }

    /// Checks `password` against `stored`, or against the dummy hash when there is no account.
    fn verify_in(&self, password: &str, stored: Option<&str>, memory: &mut [Block]) -> Verification {
        if let Some(counter) = &self.verifications {
            counter.inc();
        }
        let Some(stored) = stored else {
            let _ = self.check(password, &self.dummy_hash, memory);
            return Verification::Invalid;
        };
        match self.check(password, stored, memory) {
            Ok(true) => {
                let rehash =
                    if self.needs_rehash(stored) { self.hash_in(password, memory).ok() } else { None };
                Verification::Valid { rehash }
            }
            Ok(false) | Err(_) => Verification::Invalid,
        }
    }

    /// Recomputes the stored hash with its own parameters and salt and compares in constant time.
    fn check(&self, password: &str, stored: &str, memory: &mut [Block]) -> Result<bool, PasswordError> {
        let failed = |e: &dyn std::fmt::Display| PasswordError::Hash(e.to_string());
        if is_bcrypt(stored) {
            return bcrypt::verify(password, stored).map_err(|e| failed(&e));
        }
        let parsed = PasswordHash::new(stored).map_err(|e| failed(&e))?;
        let algorithm = argon2::Algorithm::new(parsed.algorithm.as_str()).map_err(|e| failed(&e))?;
        let version = match parsed.version {
            Some(v) => argon2::Version::try_from(v).map_err(|e| failed(&e))?,
            None => argon2::Version::V0x13,
        };
        let params = Params::try_from(&parsed).map_err(|e| failed(&e))?;
        let (Some(salt), Some(expected)) = (&parsed.salt, &parsed.hash) else {
            return Err(PasswordError::Hash("the stored hash has no salt or output".into()));
        };
        let expected: &[u8] = expected.as_ref();
        let blocks = params.block_count();
        let argon2 = Argon2::new(algorithm, version, params);
        let mut output = vec![0u8; expected.len()];
        // A stored hash with more memory than configured gets a one-off buffer.
        let computed = match memory.get_mut(..blocks) {
            Some(memory) => {
                argon2.hash_password_into_with_memory(password.as_bytes(), salt.as_ref(), &mut output, memory)
            }
            None => argon2.hash_password_into_with_memory(
                password.as_bytes(),
                salt.as_ref(),
                &mut output,
                vec![Block::new(); blocks],
            ),
        };
        computed.map_err(|e| failed(&e))?;
        Ok(aws_lc_rs::constant_time::verify_slices_are_equal(&output, expected).is_ok())
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
        self.run(move |memory| Ok(hasher.verify_in(&password, stored.as_deref(), memory))).await
    }

    /// `hash_blocking` on the hashing threads.
    pub async fn hash(self: &Arc<Self>, password: Zeroizing<String>) -> Result<String, PasswordError> {
        let hasher = Arc::clone(self);
        self.run(move |memory| hasher.hash_in(&password, memory)).await
    }

    async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce(&mut [Block]) -> Result<T, PasswordError> + Send + 'static,
    ) -> Result<T, PasswordError> {
        if self.waiting.fetch_add(1, Ordering::AcqRel) >= self.max_queue {
            self.waiting.fetch_sub(1, Ordering::AcqRel);
            return Err(PasswordError::Busy);
        }
        let (done, result) = tokio::sync::oneshot::channel();
        let sent = self.threads.submit(Box::new(move |memory: &mut [Block]| {
            let _ = done.send(work(memory));
        }));
        let outcome = match sent {
            Ok(()) => result.await.map_err(|_| PasswordError::Interrupted).and_then(|r| r),
            Err(()) => Err(PasswordError::Interrupted),
        };
        self.waiting.fetch_sub(1, Ordering::AcqRel);
        outcome
    }
}

type Job = Box<dyn FnOnce(&mut [Block]) + Send>;

/// The threads password hashes run on: a fixed number, each with its own argon2 working memory
/// (19 MiB), allocated on its first hash and reused for every later one, so memory stays at
/// `threads × memory_kib` however many logins come (the shared blocking pool would grow to
/// hundreds of threads, and the allocator keeps a freed buffer resident in each); and at a
/// lower scheduling priority (nice 13), so a login flood leaves CPU for the JWKS and token
/// requests. They end when the hasher is dropped.
struct HashingThreads {
    jobs: std::sync::Mutex<std::sync::mpsc::Sender<Job>>,
}

impl HashingThreads {
    fn start(count: usize, blocks: usize) -> Result<Self, PasswordError> {
        let (jobs, queue) = std::sync::mpsc::channel::<Job>();
        let queue = Arc::new(std::sync::Mutex::new(queue));
        for n in 0..count {
            let queue = Arc::clone(&queue);
            std::thread::Builder::new()
                .name(format!("jwtd-hash-{n}"))
                .spawn(move || {
                    // 15 of 0..=99 maps to nice 13 for normal threads.
                    if let Ok(priority) = thread_priority::ThreadPriorityValue::try_from(15u8) {
                        let _ = thread_priority::set_current_thread_priority(
                            thread_priority::ThreadPriority::Crossplatform(priority),
                        );
                    }
                    let mut memory: Vec<Block> = Vec::new();
                    loop {
                        let job = match queue.lock() {
                            Ok(queue) => queue.recv(),
                            Err(_) => return,
                        };
                        let Ok(job) = job else { return };
                        if memory.is_empty() {
                            memory = vec![Block::new(); blocks];
                        }
                        job(&mut memory);
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
mod tests {
    use super::*;
    use argon2::password_hash::PasswordHasher as _;

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

    /// Hashes made by the argon2 crate's own PHC path verify through jwtd's in-memory path, and
    /// the other way round: the two agree on the format.
    #[test]
    fn the_in_memory_path_agrees_with_the_phc_implementation() {
        let hasher = PasswordHasher::new(&settings()).unwrap();
        let theirs = Argon2::default().hash_password(b"interoperable").unwrap().to_string();
        assert!(matches!(
            hasher.verify_blocking("interoperable", Some(&theirs)),
            Verification::Valid { rehash: None }
        ));
        let ours = hasher.hash_blocking("interoperable").unwrap();
        let parsed = PasswordHash::new(&ours).unwrap();
        use argon2::password_hash::PasswordVerifier as _;
        assert!(Argon2::default().verify_password(b"interoperable", &parsed).is_ok());
        assert!(Argon2::default().verify_password(b"something else", &parsed).is_err());
    }

    #[test]
    fn lengths_are_bounded() {
        assert!(check_length("short").is_err());
        assert!(check_length(&"x".repeat(1025)).is_err());
        assert!(check_length("long enough").is_ok());
    }
}
