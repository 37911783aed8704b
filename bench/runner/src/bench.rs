//! One run, in order: the builds, the servers, the clients and users, the peers, the limits and
//! the scenarios (`scenarios.rs`), then the report; torn down however it ends (`teardown.rs`).

use std::path::{Path, PathBuf};

use crate::report::{self, Row, Run, Windows};
use crate::scenarios::Bench;
use crate::servers::Jwtd;
use crate::setup::{Clients, Scratch, build, start_peers, target_dir};
use crate::tools::{Limits, Loadgen};
use crate::{BoxError, Settings, log, machine};

/// A failed run: why, and how many scenarios had passed before.
pub struct Failure {
    pub error: BoxError,
    pub passed: usize,
}

/// Runs the benchmark and writes the report to `out`: the number of scenarios (table rows).
pub fn run(settings: &Settings, out: &Path) -> Result<usize, Failure> {
    let mut rows = Vec::new();
    let result = run_into(settings, out, &mut rows);
    result.map_err(|error| Failure { error, passed: rows.len() })
}

fn run_into(settings: &Settings, out: &Path, rows: &mut Vec<Row>) -> Result<usize, BoxError> {
    let scratch = Scratch::new("bench")?;
    let (teardown, temp_path) = (&scratch.teardown, scratch.temp.clone());
    let (admin_url, db_url) = (&scratch.admin_url, &scratch.db_url);
    let target_dir = target_dir()?;
    let bin = build(settings, &target_dir)?;
    scratch.create_database()?;
    let jwtd = Jwtd::new(bin.join("jwtd"), temp_path.clone())?;
    let pg = jwtd.start(teardown, "pg", db_url)?;
    let sqlite_url = format!("sqlite://{}", temp_path.join("sqlite/jwtd.db").display());
    let sqlite = jwtd.start(teardown, "sqlite", &sqlite_url)?;
    log(format!(
        "jwtd on PostgreSQL: {} (pid {}); on SQLite: {} (pid {})",
        pg.addr, pg.pid, sqlite.addr, sqlite.pid
    ));
    let loadgen = Loadgen { bin: bin.join("jwtd-loadgen"), teardown };
    let clients = Clients::create(&jwtd, &loadgen, &pg, &sqlite, &temp_path, settings.users)?;

    let peers_dir = std::env::var_os("JWTD_BENCH_PEERS_DIR")
        .map_or_else(|| target_dir.join("bench-peers"), PathBuf::from);
    let peers = start_peers(settings, teardown, &peers_dir, &temp_path)?;

    // The limits' signed message is exactly as long as a real access token's signing input.
    let token = crate::http::post_form(pg.addr, "/oauth2/token", &clients.cc_pg.token_form())?;
    let token: serde_json::Value = serde_json::from_slice(&token.body)?;
    let token = token.get("access_token").and_then(serde_json::Value::as_str).ok_or("no access token")?;
    let message_len = token.rfind('.').ok_or("an access token without a signature")?;
    let limits = Limits { bin: bin.join("jwtd-limits"), teardown, message_len };

    let mut bench = Bench {
        settings,
        loadgen: &loadgen,
        limits: &limits,
        kept_limits: Vec::new(),
        rows,
        windows: Windows::default(),
    };
    bench.run(&pg, &sqlite, peers.as_ref(), &clients, db_url)?;

    let notes = if settings.quick {
        None
    } else {
        std::fs::read_to_string(out).ok().and_then(|text| report::notes_of(&text))
    };
    let facts = machine::facts(admin_url, peers.is_some().then_some(peers_dir.as_path()));
    let run = Run {
        settings: settings.clone(),
        date: machine::utc_now().0,
        machine: facts,
        rows: bench.rows.clone(),
        limits: bench.kept_limits,
        windows: bench.windows,
        notes,
    };
    let text = report::render(&run);
    std::fs::write(out, &text)?;
    print!("{text}");
    log(format!("written to {}", out.display()));
    teardown.run();
    Ok(run.rows.len())
}
