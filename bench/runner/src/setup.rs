//! What a run needs before it measures: the builds, the database, the clients and users created
//! through jwtd's CLI, and the peers.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::SystemTime;

use crate::servers::{self, Client, Instance, Jwtd, Peer};
use crate::teardown::Teardown;
use crate::tools::Loadgen;
use crate::{BoxError, Settings, log};

/// The users' password, and the browser client's redirect URI (never visited: no consent page
/// comes between a signed-in browser and its code, the load generator reads `Location`).
pub const PASSWORD: &str = "bench-password-1234";
pub const REDIRECT_URI: &str = "https://app.example/cb";
/// Token exchange: a front end logs the users in for the orders API; the orders service, which
/// serves it, trades their tokens for tokens for the payments API.
pub const ORDERS_API: &str = "https://orders.bench";
pub const PAYMENTS_API: &str = "https://payments.bench";

/// What a command works in: its temp dir, the guard that tears down everything it starts, and
/// a fresh PostgreSQL database (`jwtd_NAME_PID`) on the benchmark's server.
pub struct Scratch {
    pub teardown: Teardown,
    pub temp: PathBuf,
    pub admin_url: String,
    pub db_name: String,
    pub db_url: String,
}

impl Scratch {
    pub fn new(name: &str) -> Result<Self, BoxError> {
        let temp = tempfile::Builder::new().prefix(&format!("jwtd-{name}.")).tempdir()?;
        let temp_path = temp.path().to_path_buf();
        let teardown = Teardown::new(temp)?;
        let admin_url = std::env::var("JWTD_BENCH_DATABASE_URL")
            .or_else(|_| std::env::var("JWTD_TEST_DATABASE_URL"))
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned());
        let db_name = format!("jwtd_{name}_{}", std::process::id());
        let db_url =
            format!("{}/{db_name}", admin_url.rsplit_once('/').map_or(admin_url.as_str(), |(base, _)| base));
        Ok(Self { teardown, temp: temp_path, admin_url, db_name, db_url })
    }

    /// Creates the database, dropped by the teardown.
    pub fn create_database(&self) -> Result<(), BoxError> {
        psql(&self.admin_url, &format!("CREATE DATABASE {}", self.db_name))?;
        self.teardown.keep_database(&self.admin_url, &self.db_name);
        Ok(())
    }
}

/// The PostgreSQL settings a growth or soak result depends on, as a report shows them.
pub fn postgres_settings(admin_url: &str) -> String {
    ["shared_buffers", "autovacuum", "wal_compression", "checkpoint_timeout"]
        .iter()
        .map(|name| format!("{name} {}", psql(admin_url, &format!("SHOW {name}")).unwrap_or_default().trim()))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Where cargo puts the builds: `CARGO_TARGET_DIR` (relative to the repository), else `target`.
pub fn target_dir() -> Result<PathBuf, BoxError> {
    Ok(std::env::current_dir()?.join(std::env::var_os("CARGO_TARGET_DIR").unwrap_or_else(|| "target".into())))
}

/// A report's path: the one given, else a temp file for a quick run, else bench/RESULTS.md.
pub fn report_path(given: Option<&Path>, quick: bool, name: &str) -> PathBuf {
    match given {
        Some(path) => path.to_path_buf(),
        None if quick => std::env::temp_dir().join(format!("jwtd-bench-{name}-{}.md", std::process::id())),
        None => PathBuf::from("bench/RESULTS.md"),
    }
}

/// Builds jwtd and the two tools; the directory of their binaries. A quick run reuses the test
/// suite's debug jwtd unless the sources are newer.
pub fn build(settings: &Settings, target_dir: &Path) -> Result<PathBuf, BoxError> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let cargo_build = |args: &[&str]| -> Result<(), BoxError> {
        let status = Command::new(&cargo).arg("build").args(args).status()?;
        if status.success() { Ok(()) } else { Err(format!("cargo build {} failed", args.join(" ")).into()) }
    };
    if settings.quick {
        let bin = target_dir.join("debug");
        let jwtd = bin.join("jwtd");
        let built = std::fs::metadata(&jwtd).and_then(|m| m.modified()).ok();
        let stale = built.is_none_or(|built| {
            ["src", "migrations", "config", "Cargo.toml", "Cargo.lock"]
                .iter()
                .any(|p| newer_than(Path::new(p), built))
        });
        if stale {
            log("building jwtd (debug)");
            cargo_build(&["-p", "jwtd"])?;
        }
        cargo_build(&["-p", "jwtd-loadgen", "-p", "jwtd-limits"])?;
        Ok(bin)
    } else {
        log("building release: jwtd, then the bench tools");
        cargo_build(&["--release", "-p", "jwtd"])?;
        cargo_build(&["--release", "-p", "jwtd-loadgen", "-p", "jwtd-limits"])?;
        Ok(target_dir.join("release"))
    }
}

/// Whether `path`, or anything below it, was modified after `time` (`find PATH -newer`).
fn newer_than(path: &Path, time: SystemTime) -> bool {
    let Ok(meta) = std::fs::symlink_metadata(path) else { return false };
    if meta.modified().is_ok_and(|modified| modified > time) {
        return true;
    }
    meta.is_dir()
        && std::fs::read_dir(path)
            .map(|entries| entries.flatten().any(|entry| newer_than(&entry.path(), time)))
            .unwrap_or(false)
}

/// `psql URL -qtAc SQL`: its output.
pub fn psql(url: &str, sql: &str) -> Result<String, BoxError> {
    let output = Command::new("psql").args([url, "-qtAc", sql]).stdin(Stdio::null()).output()?;
    if !output.status.success() {
        return Err(format!("psql: {sql}: {}", String::from_utf8_lossy(&output.stderr).trim()).into());
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// What the scenarios need, created through the real CLI.
pub struct Clients {
    pub cc_pg: Client,
    pub cc_sqlite: Client,
    /// `password` + `refresh_token`.
    pub app: Client,
    /// First-party, `authorization_code` + `refresh_token`, for the browser scenarios.
    pub web: Client,
    /// `private_key_jwt` with the load generator's ES256 key.
    pub key: Client,
    pub key_path: PathBuf,
    /// Token exchange's front end (`password`, resource orders) and orders service.
    pub front: Client,
    pub orders: Client,
}

impl Clients {
    pub fn create(
        jwtd: &Jwtd,
        loadgen: &Loadgen<'_>,
        pg: &Instance,
        sqlite: &Instance,
        temp: &Path,
        users: usize,
    ) -> Result<Self, BoxError> {
        let cc = ["--name", "bench", "--scope", "read", "--grant", "client_credentials"];
        let key_path = temp.join("bench-key.pk8");
        loadgen.write_key(&key_path)?;
        let jwks_file = format!("{}.jwks.json", key_path.display());
        let clients = Self {
            cc_pg: jwtd.create_client(pg, &cc)?,
            cc_sqlite: jwtd.create_client(sqlite, &cc)?,
            app: jwtd.create_client(
                pg,
                &[
                    "--name",
                    "bench-app",
                    "--scope",
                    "read",
                    "--grant",
                    "password",
                    "--grant",
                    "refresh_token",
                ],
            )?,
            web: jwtd.create_client(
                pg,
                &[
                    "--name",
                    "bench-web",
                    "--scope",
                    "openid profile",
                    "--grant",
                    "authorization_code",
                    "--grant",
                    "refresh_token",
                    "--redirect-uri",
                    REDIRECT_URI,
                    "--first-party",
                ],
            )?,
            key: jwtd.create_client(
                pg,
                &[
                    "--name",
                    "bench-key",
                    "--scope",
                    "read",
                    "--grant",
                    "client_credentials",
                    "--auth-method",
                    "private_key_jwt",
                    "--jwks-file",
                    &jwks_file,
                ],
            )?,
            key_path,
            front: jwtd.create_client(
                pg,
                &[
                    "--name",
                    "bench-front",
                    "--scope",
                    "read",
                    "--grant",
                    "password",
                    "--resource",
                    ORDERS_API,
                ],
            )?,
            orders: jwtd.create_client(
                pg,
                &[
                    "--name",
                    "bench-orders",
                    "--scope",
                    "read",
                    "--grant",
                    "token_exchange",
                    "--served-resource",
                    ORDERS_API,
                    "--resource",
                    PAYMENTS_API,
                ],
            )?,
        };
        log(format!("creating {users} users"));
        for i in 1..=users {
            let email = format!("u{i}@example.com");
            jwtd.cli(pg, &["users", "create", "--email", &email, "--password-stdin"], Some(PASSWORD))?;
        }
        Ok(clients)
    }
}

/// The two peers, or `None` when a quick run cannot have them (no node/npm, or the install failed).
pub struct Peers {
    pub oidc: Peer,
    pub express: Peer,
}

pub fn start_peers(
    settings: &Settings,
    teardown: &Teardown,
    work: &Path,
    temp: &Path,
) -> Result<Option<Peers>, BoxError> {
    let source = peers_source();
    let start_sh = source.join("start.sh");
    let runs = |program: &str| Command::new(program).arg("--version").stdout(Stdio::null()).status().is_ok();
    if !runs("node") || !runs("npm") || !is_executable(&start_sh) {
        if !settings.quick {
            return Err(format!("the peers need node, npm and {}", source.display()).into());
        }
        log("no node/npm or peers: skipping the peers");
        return Ok(None);
    }
    let started = servers::start_peer(teardown, &start_sh, "oidc-provider", work, temp).and_then(|oidc| {
        Ok(Peers { oidc, express: servers::start_peer(teardown, &start_sh, "express-design", work, temp)? })
    });
    match started {
        Ok(peers) => {
            log(format!(
                "oidc-provider on {} (pid {}), express-design on {} (pid {})",
                peers.oidc.addr, peers.oidc.pid, peers.express.addr, peers.express.pid
            ));
            Ok(Some(peers))
        }
        Err(e) if settings.quick => {
            log(format!("the peers did not start (npm install?): skipping them: {e}"));
            Ok(None)
        }
        Err(e) => Err(format!("the peers did not start: {e}").into()),
    }
}

/// `JWTD_BENCH_PEERS_SRC`, else `shared/bench/peers` beside the repository, else /work's.
fn peers_source() -> PathBuf {
    if let Some(source) = std::env::var_os("JWTD_BENCH_PEERS_SRC") {
        return PathBuf::from(source);
    }
    let beside = Path::new("../shared/bench/peers");
    if is_executable(&beside.join("start.sh")) {
        return std::fs::canonicalize(beside).unwrap_or_else(|_| beside.to_path_buf());
    }
    PathBuf::from("/work/shared/bench/peers")
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// `--db-pid` of each PostgreSQL backend serving jwtd's pool, when PostgreSQL runs on this
/// machine (same pid namespace): otherwise the pids name other processes or none, and its share
/// is left out (shown as "-").
pub fn database_backends(db_url: &str) -> Result<Vec<String>, BoxError> {
    let pids = psql(
        db_url,
        "SELECT pid FROM pg_stat_activity WHERE datname = current_database() \
         AND backend_type = 'client backend' AND pid <> pg_backend_pid()",
    )?;
    Ok(pids
        .split_whitespace()
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/comm")).is_ok_and(|comm| comm.trim() == "postgres")
        })
        .map(|pid| format!("--db-pid={pid}"))
        .collect())
}
