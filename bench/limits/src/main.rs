//! The ceilings jwtd's token endpoint is measured against, on this machine, in this run:
//! raw RS256 signing and verifying with aws-lc-rs (2048-bit, a message the size of a jwtd
//! access token's signing input) and raw argon2id hashing at jwtd's parameters, each on every
//! core at once (one thread per core, no HTTP, no database). Each thread reuses its argon2
//! working memory, as jwtd's hashing threads do: the ceiling is the fastest way to hash at these
//! parameters, not a fresh 19 MiB allocation (and its zeroing) per hash.
//!
//! Prints one JSON line, a `jwtd_limits::LimitsReport`, for the benchmark's runner to read.

use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use argon2::{Algorithm, Argon2, Block, Params, Version};
use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{
    KeyPair, RSA_PKCS1_2048_8192_SHA256, RSA_PKCS1_SHA256, RsaKeyPair, UnparsedPublicKey,
};
use clap::{Parser, ValueEnum};
use jwtd_limits::LimitsReport;

/// Which ceilings to measure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Only {
    /// RS256 signing and verifying.
    Rs256,
    /// argon2id hashing.
    Argon2id,
}

#[derive(Debug, Parser)]
#[command(name = "jwtd-limits", about = "Raw RS256 and argon2id rates on all cores")]
struct Opts {
    /// Seconds each measurement runs.
    #[arg(long, default_value_t = 5.0)]
    secs: f64,
    /// Length of the signed message: a jwtd access token's `header.payload`.
    #[arg(long, default_value_t = 420)]
    message_len: usize,
    /// Threads (0 = one per core).
    #[arg(long, default_value_t = 0)]
    threads: usize,
    /// argon2id memory in KiB, iterations and lanes (jwtd's defaults: OWASP's minimum).
    #[arg(long, default_value_t = 19456)]
    memory_kib: u32,
    #[arg(long, default_value_t = 2)]
    iterations: u32,
    #[arg(long, default_value_t = 1)]
    parallelism: u32,
    /// Measure only these (default: all), so a run can measure each ceiling right beside the
    /// scenarios compared with it.
    #[arg(long, value_enum)]
    only: Option<Only>,
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

fn main() -> ExitCode {
    match run(&Opts::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("jwtd-limits: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(opts: &Opts) -> Result<(), BoxError> {
    let threads = match opts.threads {
        0 => thread::available_parallelism().map_or(1, usize::from),
        n => n,
    };
    let secs = Duration::from_secs_f64(opts.secs);
    let mut report = LimitsReport {
        threads,
        message_len: opts.message_len,
        rs256_sign_per_s: None,
        rs256_verify_per_s: None,
        argon2id_hash_per_s: None,
    };
    if opts.only != Some(Only::Argon2id) {
        let (sign, verify) = rs256(threads, secs, opts.message_len)?;
        report.rs256_sign_per_s = Some(rounded(sign, 1));
        report.rs256_verify_per_s = Some(rounded(verify, 1));
    }
    if opts.only != Some(Only::Rs256) {
        let params = Params::new(opts.memory_kib, opts.iterations, opts.parallelism, None)
            .map_err(|e| format!("argon2 parameters: {e}"))?;
        let blocks = params.block_count();
        let argon2 = Arc::new(Argon2::new(Algorithm::Argon2id, Version::V0x13, params));
        let hash = per_second(threads, secs, move || {
            let (argon2, mut memory, mut output) =
                (Arc::clone(&argon2), vec![Block::new(); blocks], [0u8; 32]);
            move || {
                argon2
                    .hash_password_into_with_memory(
                        b"correct horse battery",
                        b"sixteen byte salt",
                        &mut output,
                        &mut memory,
                    )
                    .is_ok()
            }
        })?;
        report.argon2id_hash_per_s = Some(rounded(hash, 2));
    }
    println!("{}", serde_json::to_string(&report)?);
    Ok(())
}

/// `value` rounded to `decimals` places: all a rate on a shared machine can say.
fn rounded(value: f64, decimals: i32) -> f64 {
    let scale = 10f64.powi(decimals);
    (value * scale).round() / scale
}

/// RS256 signatures and verifications per second on `threads` threads.
fn rs256(threads: usize, secs: Duration, message_len: usize) -> Result<(f64, f64), BoxError> {
    let key = Arc::new(RsaKeyPair::generate(KeySize::Rsa2048).map_err(|e| format!("keygen: {e}"))?);
    let public = key.public_key().as_der().map_err(|e| format!("public key: {e}"))?.as_ref().to_vec();
    // A base64url-looking message, like a JWT's signing input.
    let message: Arc<Vec<u8>> = Arc::new((0..message_len).map(|i| b'A' + (i % 26) as u8).collect());
    let mut signature = vec![0u8; key.public_modulus_len()];
    key.sign(&RSA_PKCS1_SHA256, &SystemRandom::new(), &message, &mut signature)
        .map_err(|e| format!("sign: {e}"))?;
    let signature = Arc::new(signature);

    let sign = {
        let (key, message) = (Arc::clone(&key), Arc::clone(&message));
        per_second(threads, secs, move || {
            let (key, message, rng) = (Arc::clone(&key), Arc::clone(&message), SystemRandom::new());
            let mut out = vec![0u8; key.public_modulus_len()];
            move || key.sign(&RSA_PKCS1_SHA256, &rng, &message, &mut out).is_ok()
        })?
    };
    let verify = {
        let (public, message, signature) = (Arc::new(public), Arc::clone(&message), Arc::clone(&signature));
        per_second(threads, secs, move || {
            let (public, message, signature) =
                (Arc::clone(&public), Arc::clone(&message), Arc::clone(&signature));
            move || {
                UnparsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, public.as_slice())
                    .verify(&message, &signature)
                    .is_ok()
            }
        })?
    };
    Ok((sign, verify))
}

/// Runs an operation on `threads` threads for `secs` and returns the total successful operations
/// per second. `make_op` builds each thread's operation (with whatever state it reuses) before
/// the clock starts. Each thread finishes the operation it is in when time is up; the rate counts
/// the operations and the time actually spent.
fn per_second<M, F>(threads: usize, secs: Duration, make_op: M) -> Result<f64, BoxError>
where
    M: Fn() -> F,
    F: FnMut() -> bool + Send + 'static,
{
    let ops: Vec<F> = (0..threads).map(|_| make_op()).collect();
    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let handles: Vec<_> = ops
        .into_iter()
        .map(|mut op| {
            let (stop, done, failed) = (Arc::clone(&stop), Arc::clone(&done), Arc::clone(&failed));
            thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    if op() {
                        done.fetch_add(1, Ordering::Relaxed);
                    } else {
                        failed.fetch_add(1, Ordering::Relaxed);
                    }
                }
            })
        })
        .collect();
    thread::sleep(secs);
    stop.store(true, Ordering::Relaxed);
    for handle in handles {
        handle.join().map_err(|_| "a benchmark thread panicked")?;
    }
    let elapsed = start.elapsed().as_secs_f64();
    if failed.load(Ordering::Relaxed) > 0 {
        return Err("an operation failed".into());
    }
    Ok(done.load(Ordering::Relaxed) as f64 / elapsed)
}
