//! `jwtd-bench soak`: two jwtd instances on one PostgreSQL under a steady mix for a long time,
//! with faults (issue 21, "Growth with time, under faults"). Short lifetimes and frequent key
//! rotations make hours of a real deployment's key and family turnover happen in minutes; a
//! caching verifier checks every access token issued; each minute the servers' memory and the
//! tables are sampled. The goals are judged in `summary.rs`, which also writes the section.

mod faults;
mod summary;
mod traffic;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::servers::{Instance, Jwtd};
use crate::setup::{PASSWORD, Scratch, build, psql, report_path, target_dir};
use crate::{BoxError, Settings, log, machine};
use summary::{Fault, Sample, Soak};
use traffic::Shared;

/// The users whose logins the refresh families are (each logs in again and again).
const USERS: usize = 20;
/// Families rotated in turn.
const FAMILIES: usize = 40;
/// A family token's bytes: family id (16), generation (8), secret (32), tag (16).
const FAMILY_TOKEN_BYTES: usize = 72;
const TABLES: [&str; 7] = [
    "refresh_families",
    "refresh_tokens",
    "sessions",
    "audit_events",
    "used_jtis",
    "signing_keys",
    "revoked_sids",
];

#[derive(Debug, clap::Args)]
pub struct Opts {
    /// How long the steady mix runs (fractions allowed).
    #[arg(long, default_value_t = 30.0)]
    minutes: f64,
    /// Smoke test for CI: the debug build, 10 s rows; writes a temp file.
    #[arg(long)]
    quick: bool,
    /// Where the section goes (default: bench/RESULTS.md; with --quick, a temp file).
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
    /// Leave PostgreSQL running (the restart needs Debian's pg_ctlcluster and a local cluster).
    #[arg(long)]
    no_pg_restart: bool,
}

/// The soak's settings: the shortest lifetimes and publication delays jwtd accepts (or near),
/// so that keys are published, activated and retired and families end and are purged many
/// times in a run. A `next` key signs after max(jwks_max_age, 30 s, the verifiers' floor) +
/// leeway + reload_interval = 36 s here (`keys::lifecycle::KeySchedule::publication_delay`).
fn soak_settings(issuer: &str) -> Vec<(&'static str, String)> {
    [
        ("JWTD__ISSUER", issuer),
        ("JWTD__TOKENS__ACCESS_TTL", "1m"),
        ("JWTD__KEYS__JWKS_MAX_AGE", "30s"),
        ("JWTD__KEYS__LEEWAY", "5s"),
        ("JWTD__KEYS__RELOAD_INTERVAL", "1s"),
        ("JWTD__KEYS__ROTATE_EVERY", "0s"),
        ("JWTD__REFRESH__IDLE_TTL", "2m"),
        ("JWTD__REFRESH__ABSOLUTE_TTL", "5m"),
        ("JWTD__REFRESH__REUSE_GRACE", "10s"),
        ("JWTD__REFRESH__KEEP_REVOKED", "2m"),
        ("JWTD__REFRESH__PURGE_INTERVAL", "10s"),
        // Audit events too are purged on the short clock, so every table the mix writes is bounded.
        ("JWTD__AUDIT__KEEP", "5m"),
    ]
    .iter()
    .map(|(name, value)| (*name, (*value).to_owned()))
    .collect()
}

pub fn run(opts: &Opts) -> Result<(), BoxError> {
    let settings = if opts.quick { Settings::quick() } else { Settings::full() };
    let secs = opts.minutes * 60.0;
    if secs.is_nan() || secs < 20.0 {
        return Err("--minutes must be at least 1/3 (20 s)".into());
    }
    let out = report_path(opts.out.as_deref(), opts.quick, "soak");
    let scratch = Scratch::new("soak")?;
    let (teardown, temp_path) = (&scratch.teardown, scratch.temp.clone());
    let (admin_url, db_url) = (&scratch.admin_url, &scratch.db_url);
    let bin = build(&settings, &target_dir()?)?;
    let pg_restart = if opts.no_pg_restart { None } else { faults::restart_command() };

    scratch.create_database()?;
    let (addr_a, addr_b) = (crate::servers::free_addr()?, crate::servers::free_addr()?);
    let issuer = format!("http://{addr_a}");
    let jwtd = Jwtd::new(bin.join("jwtd"), temp_path.clone())?.with_env(&soak_settings(&issuer));
    let a = jwtd.start_at(teardown, "a", db_url, addr_a)?;
    let mut b = jwtd.start_at(teardown, "b", db_url, addr_b)?;
    log(format!(
        "jwtd A: {} (pid {}), B: {} (pid {}), one database, issuer {issuer}",
        a.addr, a.pid, b.addr, b.pid
    ));
    let cc = jwtd
        .create_client(&a, &["--name", "soak-service", "--scope", "read", "--grant", "client_credentials"])?;
    let app = jwtd.create_client(
        &a,
        &["--name", "soak-app", "--scope", "read", "--grant", "password", "--grant", "refresh_token"],
    )?;
    let users: Vec<String> = (1..=USERS).map(|i| format!("soak{i}@example.com")).collect();
    for email in &users {
        jwtd.cli(&a, &["users", "create", "--email", email, "--password-stdin"], Some(PASSWORD))?;
    }
    let client = format!("client_id={}&client_secret={}", app.client_id, app.secret());
    let keys_before = count(db_url, "SELECT count(*) FROM signing_keys")?;

    let (shared, tokens) = Shared::new(vec![a.addr, b.addr]);
    let mut threads = Vec::new();
    let verifier = {
        let shared = Arc::clone(&shared);
        std::thread::spawn(move || traffic::verify(shared, tokens, issuer))
    };
    let (one, form) = (Arc::clone(&shared), cc.token_form());
    threads.push(std::thread::spawn(move || traffic::client_credentials(one, form, 60.0)));
    let two = Arc::clone(&shared);
    threads.push(std::thread::spawn(move || traffic::jwks(two, 40.0)));
    let logins = traffic::Logins { client: client.clone(), users, password: PASSWORD.to_owned() };
    let three = Arc::clone(&shared);
    threads.push(std::thread::spawn(move || traffic::refresh(three, logins, FAMILIES, 50.0)));

    // The schedule: faults at a quarter, a half and three quarters; key rotations, successor
    // checks and samples on their own periods.
    let bucket_secs = if opts.quick { 10.0 } else { 60.0 };
    // A rotation is asked for more often than the publication delay allows: the refused ones
    // show the delay holds, and every key is promoted as soon as it may be.
    let rotate_every = if opts.quick { 10.0 } else { 20.0 };
    let mut soak = Soak { secs, bucket_secs, started_at: vec![0.0, 0.0], ..Soak::default() };
    let mut pending_faults = vec![0.25, 0.5, 0.75];
    let (mut next_rotation, mut next_check, mut next_sample) = (rotate_every, 5.0, bucket_secs / 2.0);
    let mut reuse = ReuseEvents::default();
    while shared.now() < secs {
        let now = shared.now();
        if pending_faults.first().is_some_and(|at| now >= at * secs) {
            let which = pending_faults.remove(0);
            let start = shared.now();
            let fault = if which < 0.4 {
                match pg_restart.as_ref() {
                    Some(_) => {
                        log("fault: restarting PostgreSQL");
                        faults::restart_postgres(faults::restart_command().ok_or("no pg_ctlcluster")?)?;
                        Some(("PostgreSQL restarted".to_owned(), None, true))
                    }
                    None => None,
                }
            } else if which < 0.6 {
                log(format!("fault: SIGKILL to instance B (pid {})", b.pid));
                faults::kill(b.pid, b.addr)?;
                b = jwtd.start_at(teardown, "b", db_url, b.addr)?;
                if let Some(started) = soak.started_at.get_mut(1) {
                    *started = shared.now();
                }
                Some((
                    format!("instance B killed with SIGKILL and started again (pid {})", b.pid),
                    Some(1),
                    true,
                ))
            } else {
                log("fault: a burst of bad input");
                faults::bad_input(&shared, 2, &client, if opts.quick { 3 } else { 20 });
                Some(("a burst of bad input to both instances".to_owned(), None, false))
            };
            faults::wait_ready(&[a.addr, b.addr])?;
            if let Some((what, instance, outage)) = fault {
                soak.faults.push(Fault { what, start, end: shared.now(), instance, outage });
            }
        }
        if now >= next_rotation {
            next_rotation += rotate_every;
            match jwtd.cli(&a, &["keys", "rotate"], None) {
                Ok(_) => soak.rotations.0 += 1,
                Err(_) => soak.rotations.1 += 1,
            }
        }
        if now >= next_check {
            next_check += 5.0;
            check_successors(&shared, db_url, &mut soak);
            reuse.count_new(db_url, &mut soak);
        }
        if now >= next_sample {
            next_sample += bucket_secs;
            if let Ok(sample) = sample(db_url, &[&a, &b], shared.now()) {
                log(format!(
                    "sample at {:.0} s: {} requests so far",
                    sample.at,
                    shared.events.lock().map_or(0, |e| e.len())
                ));
                soak.samples.push(sample);
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }

    shared.stop.store(true, Ordering::Relaxed);
    for thread in threads {
        thread.join().map_err(|_| "a traffic thread panicked")?;
    }
    shared.close_tokens();
    verifier.join().map_err(|_| "the verifier panicked")??;
    faults::wait_ready(&[a.addr, b.addr])?;
    check_successors(&shared, db_url, &mut soak);
    reuse.count_new(db_url, &mut soak);
    if !shared.successors.lock().map_or(true, |s| s.is_empty()) {
        return Err("successors left unchecked".into());
    }
    soak.events = std::mem::take(&mut *shared.events.lock().map_err(|_| "poisoned")?);
    soak.verifications = std::mem::take(&mut *shared.verifications.lock().map_err(|_| "poisoned")?);
    soak.refreshes_refused = std::mem::take(&mut *shared.refreshes_refused.lock().map_err(|_| "poisoned")?);
    soak.replays_refused = shared.replays_refused.load(Ordering::Relaxed);
    soak.keys_created = count(db_url, "SELECT count(*) FROM signing_keys")?.saturating_sub(keys_before);
    soak.keys_retired = count(db_url, "SELECT count(*) FROM signing_keys WHERE state = 'retired'")?;

    let m = machine::facts(admin_url, None);
    let when = format!(
        "{}, {} ({} cores), PostgreSQL {} ({}), jwtd {}",
        machine::utc_now().0,
        m.cpu,
        m.cores,
        m.postgres,
        crate::setup::postgres_settings(admin_url),
        m.git
    );
    let mut command = format!("bench/run.sh soak --minutes {}", opts.minutes);
    if opts.quick {
        command.push_str(" --quick");
    }
    if pg_restart.is_none() {
        command.push_str(" (PostgreSQL not restarted)");
    }
    let section = summary::render(&soak, &command, &when);
    crate::report::write_section(&out, "soak", &section)?;
    print!("{section}");
    log(format!("written to {}", out.display()));
    teardown.run();
    if soak.passed() { Ok(()) } else { Err("the soak missed a goal (see the section)".into()) }
}

fn count(db_url: &str, sql: &str) -> Result<u64, BoxError> {
    Ok(psql(db_url, sql)?.trim().parse()?)
}

/// Looks the successors answered so far up in the database (they are put back when it does not
/// answer, during an outage): a successor is there when its family's row has reached its
/// generation (a family holds only its newest token's hash, so an older one is found by its
/// family having gone on from it). One that is not a family token counts as missing.
fn check_successors(shared: &Shared, db_url: &str, soak: &mut Soak) {
    let batch =
        std::mem::take(&mut *shared.successors.lock().unwrap_or_else(std::sync::PoisonError::into_inner));
    for chunk in batch.chunks(500) {
        let values: Vec<String> = chunk
            .iter()
            .filter_map(|token| position(token))
            .map(|(family_id, generation)| format!("('{family_id}', {generation})"))
            .collect();
        let sql = if values.is_empty() {
            "SELECT 0".to_owned()
        } else {
            format!(
                "SELECT count(*) FROM (VALUES {}) AS s (id, generation) \
                 JOIN refresh_families AS f ON f.id = s.id AND f.generation >= s.generation",
                values.join(",")
            )
        };
        match count(db_url, &sql) {
            Ok(found) => {
                soak.successors_checked += chunk.len() as u64;
                soak.successors_missing += (chunk.len() as u64).saturating_sub(found);
            }
            Err(_) => shared
                .successors
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .extend_from_slice(chunk),
        }
    }
}

/// The family id (base64url of bytes 0..16, as its row's `id`) and generation (bytes 16..24, big
/// endian) a family token (`jwtd_rt_` + base64url of 72 bytes) carries. jwtd answered with it,
/// so its tag is not checked.
fn position(token: &str) -> Option<(String, u64)> {
    let bytes = URL_SAFE_NO_PAD.decode(token.strip_prefix("jwtd_rt_")?).ok()?;
    if bytes.len() != FAMILY_TOKEN_BYTES {
        return None;
    }
    let generation = <[u8; 8]>::try_from(bytes.get(16..24)?).ok()?;
    Some((URL_SAFE_NO_PAD.encode(bytes.get(..16)?), u64::from_be_bytes(generation)))
}

/// Counts jwtd's reuse detections (`refresh.revoked.reuse` audit events) as they are recorded:
/// the purge removes audit events after `audit.keep`, shorter than a long soak, so they are
/// counted every few seconds, each once by its id. Ids are taken in one order and committed in
/// another (two instances write), so each look goes back a margin below the highest id seen.
#[derive(Default)]
struct ReuseEvents {
    seen: std::collections::HashSet<i64>,
    highest: i64,
}

/// How far below the highest id seen each look goes back.
const ID_MARGIN: i64 = 1000;

impl ReuseEvents {
    /// Adds the events recorded since the last call (none while the database does not answer:
    /// they are counted at the next).
    fn count_new(&mut self, db_url: &str, soak: &mut Soak) {
        let sql = format!(
            "SELECT id FROM audit_events WHERE kind = 'refresh.revoked.reuse' AND id > {}",
            self.highest.saturating_sub(ID_MARGIN)
        );
        let Ok(lines) = psql(db_url, &sql) else { return };
        for id in lines.lines().filter_map(|line| line.trim().parse::<i64>().ok()) {
            if self.seen.insert(id) {
                soak.reuse_detected += 1;
                self.highest = self.highest.max(id);
            }
        }
    }
}

fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status.lines().find_map(|line| line.strip_prefix("VmRSS:"))?.split_whitespace().next()?.parse().ok()
}

fn sample(db_url: &str, instances: &[&Instance], at: f64) -> Result<Sample, BoxError> {
    let pg_connections =
        count(db_url, "SELECT count(*) - 1 FROM pg_stat_activity WHERE datname = current_database()")?;
    let sql = TABLES
        .iter()
        .map(|t| format!("SELECT '{t}', (SELECT count(*) FROM {t}), pg_total_relation_size('{t}')"))
        .collect::<Vec<_>>()
        .join(" UNION ALL ");
    let tables = psql(db_url, &sql)?
        .lines()
        .filter_map(|line| {
            let mut parts = line.split('|');
            Some((parts.next()?.to_owned(), parts.next()?.parse().ok()?, parts.next()?.parse().ok()?))
        })
        .collect();
    Ok(Sample { at, rss_kib: instances.iter().map(|i| rss_kib(i.pid)).collect(), pg_connections, tables })
}

#[cfg(test)]
mod tests {
    use super::*;
    use jwtd_loadgen::seeded::{Seed, family_id};

    #[test]
    fn a_family_token_says_its_family_and_generation() {
        let seed = Seed::new(10, 6, "BwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc=").unwrap();
        assert_eq!(position(&seed.head_token(7)), Some((family_id(7), 6)));
        // A row token (32 bytes), another prefix, or no base64: not a family token.
        assert_eq!(position(&format!("jwtd_rt_{}", URL_SAFE_NO_PAD.encode([1u8; 32]))), None);
        assert_eq!(position(&seed.head_token(7).replacen("jwtd_rt_", "jwtd_xx_", 1)), None);
        assert_eq!(position("jwtd_rt_!!!"), None);
    }
}
