//! jwtd's benchmark (`bench/run.sh` runs this): jwtd on PostgreSQL and SQLite against
//! node-oidc-provider and an Express + jsonwebtoken server, and against the raw RS256 and argon2id
//! limits of this machine, in one run with one load generator; writes bench/RESULTS.md. See
//! bench/README.md for the method.
//!
//! The measuring is done by two tools run as processes, `jwtd-loadgen` and `jwtd-limits`, whose
//! JSON reports are typed by their own crates; this program builds them and jwtd, starts the
//! servers, creates the clients and users through jwtd's CLI, runs the scenarios in order
//! (`bench.rs`), and turns the results into the report with pure, tested functions (`stats.rs`,
//! `judge.rs`, `report.rs`, `targets.rs`).

mod bench;
mod growth;
mod http;
mod judge;
mod machine;
mod report;
#[cfg(test)]
mod report_tests;
mod scenarios;
mod servers;
mod setup;
mod soak;
mod stats;
mod targets;
mod teardown;
mod tools;

use std::fmt::Display;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

#[derive(Debug, Parser)]
#[command(
    name = "jwtd-bench",
    about = "jwtd's benchmark: jwtd (PostgreSQL, SQLite) against node-oidc-provider, an Express design and this \
             machine's raw RS256 and argon2id limits; writes bench/RESULTS.md (see bench/README.md)",
    after_help = "Environment:\n  \
        JWTD_BENCH_DATABASE_URL  a PostgreSQL server where a fresh database is created and dropped\n                           \
        (else JWTD_TEST_DATABASE_URL, else postgres://postgres@127.0.0.1:5432/postgres)\n  \
        CARGO_TARGET_DIR         where the builds go and are found (default: target)\n  \
        JWTD_BENCH_PEERS_DIR     the peers' npm install (default: $CARGO_TARGET_DIR/bench-peers)\n  \
        JWTD_BENCH_PEERS_SRC     the peers' sources (default: ../shared/bench/peers beside the repository)"
)]
struct Opts {
    #[command(subcommand)]
    command: Option<Command>,
    /// Smoke test for CI: the debug build, ~1 s per scenario, no thresholds; the peers when node and
    /// npm can install them, skipped otherwise; writes a temp file and ends with "bench: N passed, 0 failed".
    #[arg(long)]
    quick: bool,
    /// Where the report goes (default: bench/RESULTS.md; with --quick, a temp file).
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
}

/// The benchmark's other measurements, each with its own section of the report.
#[derive(Debug, clap::Subcommand)]
enum Command {
    /// Growth with data: seeds refresh families in bulk (10k … 10M) into one PostgreSQL database
    /// and measures refresh rotations and logins at each size; writes its section of bench/RESULTS.md.
    Growth(growth::Opts),
    /// Growth with time, under faults: two jwtd instances on one PostgreSQL under a steady mix
    /// for --minutes, with PostgreSQL restarted, an instance killed and a burst of bad input;
    /// every access token checked by a caching verifier; writes its section of bench/RESULTS.md.
    Soak(soak::Opts),
}

/// How long and how hard a run measures.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    pub quick: bool,
    /// Seconds of a single-window scenario.
    pub secs: f64,
    /// Seconds of load before each measured window.
    pub warmup: f64,
    pub conns: usize,
    pub users: usize,
    /// Seconds of each raw-limit measurement not beside a window.
    pub limit_secs: f64,
    /// Alternating pairs of windows, and each window's seconds: the ratios closest to their line
    /// on a shared machine are the median of the pairs' ratios (bench/README.md).
    pub rounds: usize,
    pub round_secs: f64,
}

impl Settings {
    pub fn quick() -> Self {
        Self {
            quick: true,
            secs: 1.0,
            warmup: 0.3,
            conns: 4,
            users: 8,
            limit_secs: 0.5,
            rounds: 1,
            round_secs: 1.0,
        }
    }

    pub fn full() -> Self {
        Self {
            quick: false,
            secs: 10.0,
            warmup: 2.0,
            conns: 32,
            users: 64,
            limit_secs: 5.0,
            rounds: 5,
            round_secs: 4.0,
        }
    }

    pub fn profile(&self) -> &'static str {
        if self.quick { "debug" } else { "release" }
    }

    /// A raw limit measured right before each window of a scenario compared with it: 0.6 of a window.
    pub fn before_window(&self) -> f64 {
        self.round_secs * 0.6
    }
}

/// `[bench HH:MM:SS] message` on stderr.
pub fn log(message: impl Display) {
    eprintln!("[bench {}] {message}", machine::utc_now().1);
}

fn main() -> ExitCode {
    let opts = Opts::parse();
    let settings = if opts.quick { Settings::quick() } else { Settings::full() };
    // The repository: builds, `git` and the default report are relative to it, as relative
    // paths given on the command line were for the bash version (which ran from there).
    let root = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."));
    if let Err(e) = std::env::set_current_dir(&root) {
        eprintln!("jwtd-bench: {}: {e}", root.display());
        return ExitCode::FAILURE;
    }
    match opts.command {
        Some(Command::Growth(growth)) => return exit_with(growth::run(&growth)),
        Some(Command::Soak(soak)) => return exit_with(soak::run(&soak)),
        None => {}
    }
    let out = opts.out.unwrap_or_else(|| {
        if settings.quick {
            std::env::temp_dir().join(format!("jwtd-bench-quick-{}.md", std::process::id()))
        } else {
            PathBuf::from("bench/RESULTS.md")
        }
    });
    match bench::run(&settings, &out) {
        Ok(scenarios) => {
            // Every scenario that got here answered without errors (a failing one ends the run).
            if settings.quick {
                println!("bench: {scenarios} passed, 0 failed");
            }
            ExitCode::SUCCESS
        }
        Err(failure) => {
            eprintln!("jwtd-bench: {}", failure.error);
            if settings.quick {
                println!("bench: {} passed, 1 failed", failure.passed);
            }
            ExitCode::FAILURE
        }
    }
}

/// A subcommand's end: its error on stderr.
fn exit_with(result: Result<(), BoxError>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("jwtd-bench: {e}");
            ExitCode::FAILURE
        }
    }
}
