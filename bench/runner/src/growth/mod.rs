//! `jwtd-bench growth`: how a rotation's cost grows with the number of refresh families (issue
//! 21). One PostgreSQL database grows size by size (`bench/growth/seed.sql`, in bulk, no HTTP:
//! one row per family, its head a family token tagged under jwtd's master key); at each size
//! jwtd rotates random seeded families through HTTP (`jwtd-loadgen --scenario seeded`) and logs
//! seeded users in, with jwtd's and PostgreSQL's CPU per request counted. The table goes into its
//! section of bench/RESULTS.md (`report.rs`).

mod report;

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Instant;

use jwtd_loadgen::LoadReport;
use jwtd_loadgen::seeded::{tag_key, tag_pads};

use crate::servers::{Instance, Jwtd};
use crate::setup::{PASSWORD, Scratch, build, database_backends, psql, report_path, target_dir};
use crate::stats::combine;
use crate::teardown::Teardown;
use crate::tools::{Load, Loadgen};
use crate::{BoxError, Settings, log, machine};
use report::{Size, Statement, Storage, families_label};

const SEED_SQL: &str = "bench/growth/seed.sql";
/// The user whose password hash (made by jwtd's own CLI) every seeded user gets.
const TEMPLATE_USER: &str = "template@bench.example";
/// Seeded users the logins cycle over (fewer at a size with fewer users).
const LOGIN_USERS: u64 = 1000;

#[derive(Debug, clap::Args)]
pub struct Opts {
    /// The sizes, in refresh families, ascending (each a multiple of 10 and at least 100); the
    /// database grows from one to the next.
    #[arg(long, value_delimiter = ',', default_value = "10000,100000,1000000,10000000")]
    sizes: Vec<u64>,
    /// The generation each seeded family's head is at.
    #[arg(long, default_value_t = 4)]
    gens: u64,
    /// Smoke test for CI: the debug build, 1 s windows, sizes 1000 and 3000 unless given; writes a
    /// temp file.
    #[arg(long)]
    quick: bool,
    /// Where the section goes (default: bench/RESULTS.md; with --quick, a temp file).
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
}

pub fn run(opts: &Opts) -> Result<(), BoxError> {
    let settings = if opts.quick { Settings::quick() } else { Settings::full() };
    let sizes =
        if opts.quick && opts.sizes == Opts::default_sizes() { vec![1000, 3000] } else { opts.sizes.clone() };
    if sizes.is_empty()
        || sizes.iter().zip(sizes.iter().skip(1)).any(|(a, b)| a >= b)
        || sizes.iter().any(|n| n % 10 != 0 || *n < 100)
    {
        return Err("--sizes must ascend, each a multiple of 10 and at least 100".into());
    }
    let out = report_path(opts.out.as_deref(), opts.quick, "growth");
    let scratch = Scratch::new("growth")?;
    let (teardown, temp_path) = (&scratch.teardown, scratch.temp.clone());
    let (admin_url, db_url) = (&scratch.admin_url, &scratch.db_url);
    let bin = build(&settings, &target_dir()?)?;
    scratch.create_database()?;
    let jwtd = Jwtd::new(bin.join("jwtd"), temp_path.clone())?;
    let pg = jwtd.start(teardown, "pg", db_url)?;
    log(format!("jwtd on PostgreSQL: {} (pid {})", pg.addr, pg.pid));
    jwtd.cli(&pg, &["users", "create", "--email", TEMPLATE_USER, "--password-stdin"], Some(PASSWORD))?;
    // The host's reference: a request that touches no table that grows.
    let reference = jwtd
        .create_client(&pg, &["--name", "reference", "--scope", "read", "--grant", "client_credentials"])?;
    let password_hash =
        psql(db_url, &format!("SELECT password_hash FROM users WHERE email = '{TEMPLATE_USER}'"))?;
    let (tag_ipad, tag_opad) = tag_pads(&tag_key(jwtd.master_key())?);
    let grower = Grower {
        settings: &settings,
        loadgen: Loadgen { bin: bin.join("jwtd-loadgen"), teardown },
        teardown,
        pg: &pg,
        db_url,
        gens: opts.gens,
        password_hash: password_hash.trim().to_owned(),
        master_key: jwtd.master_key().to_owned(),
        tag_pads: (tag_ipad, tag_opad),
        state: temp_path.join("seeded-state"),
        reference: reference.token_form(),
    };

    let mut measured = Vec::new();
    let mut from = 0;
    for &families in &sizes {
        let seed_secs = grower.seed(from, families)?;
        from = families;
        measured.push(grower.measure(families, seed_secs)?);
    }

    let m = machine::facts(admin_url, None);
    let when = format!(
        "{}, {} ({} cores, {}), PostgreSQL {} ({}), jwtd {}",
        machine::utc_now().0,
        m.cpu,
        m.cores,
        m.memory,
        m.postgres,
        crate::setup::postgres_settings(admin_url),
        m.git
    );
    let mut command = String::from("bench/run.sh growth");
    if opts.quick {
        command.push_str(" --quick");
    }
    if opts.sizes != Opts::default_sizes() {
        command.push_str(&format!(
            " --sizes {}",
            sizes.iter().map(u64::to_string).collect::<Vec<_>>().join(",")
        ));
    }
    let section = report::render(&measured, opts.gens, &command, &when);
    crate::report::write_section(&out, "growth", &section)?;
    print!("{section}");
    log(format!("written to {}", out.display()));
    teardown.run();
    Ok(())
}

impl Opts {
    fn default_sizes() -> Vec<u64> {
        vec![10_000, 100_000, 1_000_000, 10_000_000]
    }
}

struct Grower<'a> {
    settings: &'a Settings,
    loadgen: Loadgen<'a>,
    teardown: &'a Teardown,
    pg: &'a Instance,
    db_url: &'a str,
    gens: u64,
    password_hash: String,
    /// jwtd's master key (base64), from which the load generator derives the heads' tag key,
    /// and that key's HMAC pads in hex, with which the seed computes the tags.
    master_key: String,
    tag_pads: (String, String),
    /// Where the load generator keeps the rotated families' tokens between its runs.
    state: PathBuf,
    /// A `client_credentials` request's body.
    reference: String,
}

impl Grower<'_> {
    /// Seeds families `from..to` and settles the database as a live one would be (statistics
    /// current, dead rows gone, a checkpoint behind): the seconds it took.
    fn seed(&self, from: u64, to: u64) -> Result<f64, BoxError> {
        log(format!("seeding families {from}..{to}"));
        let started = Instant::now();
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_secs();
        let vars = [
            format!("from={from}"),
            format!("to={to}"),
            format!("gens={}", self.gens),
            format!("now={now}"),
            format!("password_hash={}", self.password_hash),
            format!("tag_ipad={}", self.tag_pads.0),
            format!("tag_opad={}", self.tag_pads.1),
        ];
        let mut command = Command::new("psql");
        command.args([self.db_url, "-q", "-f", SEED_SQL]).stdin(Stdio::null()).stderr(Stdio::inherit());
        for var in &vars {
            command.args(["-v", var]);
        }
        let output = self.teardown.run_tool(&mut command)?;
        if !output.status.success() {
            return Err(format!("seeding {from}..{to} failed ({})", output.status).into());
        }
        psql(self.db_url, "VACUUM ANALYZE")?;
        let secs = started.elapsed().as_secs_f64();
        psql(self.db_url, "CHECKPOINT")?;
        Ok(secs)
    }

    fn load(&self, label: &'static str, secs: f64, warmup: f64, args: Vec<String>) -> Load<'_> {
        Load { label, url: self.pg.url("/oauth2/token"), secs, warmup, watch_pid: Some(self.pg.pid), args }
    }

    /// Rotations in windows, then logins, at this size.
    fn measure(&self, families: u64, seed_secs: f64) -> Result<Size, BoxError> {
        let s = self.settings;
        let label = families_label(families);
        let storage = storage(self.db_url)?;
        let mut rotate = vec![
            "--scenario".to_owned(),
            "seeded".to_owned(),
            "-c".to_owned(),
            s.conns.to_string(),
            format!("--seeded-families={families}"),
            format!("--seeded-gens={}", self.gens),
            format!("--seeded-master-key={}", self.master_key),
            format!("--seeded-state={}", self.state.display()),
        ];
        // jwtd's pool grows to the load's size first, so that its backends can be counted.
        self.loadgen.run(
            &format!("{label}: growing jwtd's pool (not measured)"),
            &self.load("pool", s.warmup.max(0.5), 0.0, rotate.clone()),
        )?;
        rotate.extend(database_backends(self.db_url)?);
        let updates_before = family_updates(self.db_url)?;
        let statements = reset_statements(self.db_url);
        let mut windows = Vec::new();
        for round in 1..=s.rounds {
            let what =
                format!("{label}: rotations of random seeded families, window {round} of {}", s.rounds);
            windows
                .push(self.loadgen.run(&what, &self.load("seeded", s.round_secs, s.warmup, rotate.clone()))?);
        }
        let updates_after = family_updates(self.db_url)?;
        let statement = if statements { rotation_statement(self.db_url) } else { None };
        let args = vec![
            "--scenario".to_owned(),
            "post".to_owned(),
            "-c".to_owned(),
            s.conns.to_string(),
            format!("--body={}", self.reference),
        ];
        let reference = self.loadgen.run(
            &format!("{label}: client_credentials (the host's reference)"),
            &self.load("reference", s.round_secs, s.warmup, args),
        )?;
        let rotations = combine(&windows).ok_or("no windows")?;
        let users = (families / 5).saturating_sub(1).clamp(1, LOGIN_USERS);
        let mut login = vec![
            "--scenario".to_owned(),
            "login".to_owned(),
            "-c".to_owned(),
            s.conns.to_string(),
            "--client-id=bench-client-0".to_owned(),
            "--client-secret=bench-secret-0".to_owned(),
            "--user-pattern=u{}@bench.example".to_owned(),
            format!("--users={users}"),
            format!("--password={PASSWORD}"),
        ];
        login.extend(database_backends(self.db_url)?);
        let logins: LoadReport = self
            .loadgen
            .run(&format!("{label}: password-grant logins"), &self.load("logins", s.secs, s.warmup, login))?;
        Ok(Size {
            families,
            seed_secs,
            storage,
            rotations,
            hot: hot_share(updates_before, updates_after),
            logins,
            reference,
            statement,
        })
    }
}

/// Starts counting the statements anew with `pg_stat_statements`, when the server preloads it
/// (`shared_preload_libraries`): whether it does.
fn reset_statements(db_url: &str) -> bool {
    psql(db_url, "CREATE EXTENSION IF NOT EXISTS pg_stat_statements").is_ok()
        && psql(db_url, "SELECT pg_stat_statements_reset()").is_ok()
}

/// PostgreSQL's own account of jwtd's rotation statement (`store::family_heads::rotate`, which
/// moves a family's head) since the reset, per call.
fn rotation_statement(db_url: &str) -> Option<Statement> {
    let line = psql(
        db_url,
        "SELECT calls, total_exec_time, shared_blks_hit, shared_blks_read, shared_blks_dirtied, \
         shared_blks_written, wal_bytes, wal_fpi FROM pg_stat_statements \
         WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database()) \
         AND query LIKE 'UPDATE refresh_families AS f SET head_hash%' ORDER BY calls DESC LIMIT 1",
    )
    .ok()?;
    let numbers: Vec<f64> = line.trim().split('|').map(str::parse).collect::<Result<_, _>>().ok()?;
    match numbers[..] {
        [calls, ms, hit, read, dirtied, written, wal_bytes, wal_fpi] if calls > 0.0 => Some(Statement {
            ms: ms / calls,
            hit: hit / calls,
            read: read / calls,
            dirtied: dirtied / calls,
            written: written / calls,
            wal_bytes: wal_bytes / calls,
            wal_fpi: wal_fpi / calls,
        }),
        _ => None,
    }
}

/// `refresh_families`' updates so far (a rotation is one), and how many of them were HOT.
fn family_updates(db_url: &str) -> Result<(u64, u64), BoxError> {
    let line = psql(
        db_url,
        "SELECT n_tup_upd || ' ' || n_tup_hot_upd FROM pg_stat_user_tables WHERE relname = 'refresh_families'",
    )?;
    let mut numbers = line.split_whitespace().map(str::parse::<u64>);
    match (numbers.next(), numbers.next()) {
        (Some(Ok(updates)), Some(Ok(hot))) => Ok((updates, hot)),
        _ => Err(format!("pg_stat_user_tables answered {line:?}").into()),
    }
}

fn hot_share(before: (u64, u64), after: (u64, u64)) -> Option<f64> {
    let updates = after.0.checked_sub(before.0)?;
    let hot = after.1.checked_sub(before.1)?;
    (updates > 0).then(|| hot as f64 / updates as f64)
}

fn storage(db_url: &str) -> Result<Storage, BoxError> {
    let line = psql(
        db_url,
        "SELECT pg_total_relation_size('refresh_families') || ' ' || pg_total_relation_size('refresh_tokens') \
         || ' ' || (pg_total_relation_size('users') + pg_total_relation_size('sessions') \
         + pg_total_relation_size('consents')) \
         || ' ' || (SELECT reltuples::bigint FROM pg_class WHERE relname = 'refresh_tokens')",
    )?;
    let numbers: Vec<u64> = line.split_whitespace().map(str::parse).collect::<Result<_, _>>()?;
    match numbers[..] {
        [families, tokens, accounts, token_rows] => Ok(Storage { families, tokens, accounts, token_rows }),
        _ => Err(format!("table sizes: {line:?}").into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hot_share_is_of_the_updates_between_the_two_readings() {
        assert_eq!(hot_share((100, 10), (300, 200)), Some(0.95));
        assert_eq!(hot_share((100, 10), (100, 10)), None);
        // Statistics reset in between: nothing to say.
        assert_eq!(hot_share((100, 10), (50, 5)), None);
    }
}
