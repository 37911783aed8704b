//! The servers under load: jwtd on PostgreSQL and on SQLite (each with its own data dir, a random
//! master key, no config files, log level `warn`), configured through its real CLI, and the peers
//! started by `shared/bench/peers/start.sh`. Readiness is polled in bounded loops.

use std::collections::hash_map::RandomState;
use std::fs::File;
use std::hash::{BuildHasher, Hasher as _};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde::Deserialize;

use crate::teardown::{Teardown, alive};
use crate::{BoxError, http};

/// How long a server may take to answer its first request.
const READY_WITHIN: Duration = Duration::from_secs(60);

/// One jwtd instance.
#[derive(Debug, Clone)]
pub struct Instance {
    /// Its data dir's and log's name in the temp dir.
    pub name: &'static str,
    pub addr: SocketAddr,
    pub database_url: String,
    pub pid: u32,
}

impl Instance {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }
}

/// A client as `jwtd clients create --json` prints it.
#[derive(Debug, Clone, Deserialize)]
pub struct Client {
    pub client_id: String,
    #[serde(default)]
    pub client_secret: Option<String>,
}

impl Client {
    pub fn secret(&self) -> &str {
        self.client_secret.as_deref().unwrap_or("")
    }

    /// A `client_credentials` token request's body (`client_secret_post`).
    pub fn token_form(&self) -> String {
        format!("grant_type=client_credentials&client_id={}&client_secret={}", self.client_id, self.secret())
    }
}

/// The jwtd binary and what every instance shares.
pub struct Jwtd {
    pub bin: PathBuf,
    pub temp: PathBuf,
    master_key: String,
    /// Settings every instance gets on top of the defaults (`JWTD__…`), after the ones above.
    env: Vec<(String, String)>,
}

impl Jwtd {
    pub fn new(bin: PathBuf, temp: PathBuf) -> Result<Self, BoxError> {
        let mut key = [0u8; 32];
        File::open("/dev/urandom")?.read_exact(&mut key)?;
        Ok(Self {
            bin,
            temp,
            master_key: base64::engine::general_purpose::STANDARD.encode(key),
            env: Vec::new(),
        })
    }

    /// The master key every instance runs with (`JWTD_MASTER_KEY`, base64): what the growth
    /// command's seeded heads are tagged under.
    pub fn master_key(&self) -> &str {
        &self.master_key
    }

    /// The same with these variables set for every instance and CLI call (they override the
    /// defaults, the issuer included).
    pub fn with_env(mut self, vars: &[(&str, String)]) -> Self {
        self.env.extend(vars.iter().map(|(name, value)| ((*name).to_owned(), value.clone())));
        self
    }

    /// jwtd (server or CLI) for one instance: its environment added to this one's.
    fn command(&self, name: &str, addr: SocketAddr, database_url: &str) -> Command {
        let mut command = Command::new(&self.bin);
        command
            .env("JWTD_CONFIG_DIR", self.temp.join("no-config"))
            .env("JWTD__DATA_DIR", self.temp.join(name))
            .env("JWTD__HTTP__ADDR", addr.to_string())
            .env("JWTD__ISSUER", format!("http://{addr}"))
            .env("JWTD__DATABASE__URL", database_url)
            .env("JWTD_MASTER_KEY", &self.master_key)
            .env("JWTD__LOG__LEVEL", "warn")
            .envs(self.env.iter().map(|(name, value)| (name, value)));
        command
    }

    /// Starts `jwtd serve`, logging to `NAME.log` in the temp dir, and waits for `/readyz`.
    pub fn start(
        &self,
        teardown: &Teardown,
        name: &'static str,
        database_url: &str,
    ) -> Result<Instance, BoxError> {
        self.start_at(teardown, name, database_url, free_addr()?)
    }

    /// `start` on a given address (an instance restarted where its clients expect it); its log
    /// is appended to.
    pub fn start_at(
        &self,
        teardown: &Teardown,
        name: &'static str,
        database_url: &str,
        addr: SocketAddr,
    ) -> Result<Instance, BoxError> {
        std::fs::create_dir_all(self.temp.join(name))?;
        let log_path = self.temp.join(format!("{name}.log"));
        let log_file = File::options().create(true).append(true).open(&log_path)?;
        let child = self
            .command(name, addr, database_url)
            .arg("serve")
            .stdin(Stdio::null())
            .stdout(log_file.try_clone()?)
            .stderr(log_file)
            .spawn()?;
        let pid = teardown.keep_server(child)?;
        wait_ready(addr, "/readyz", pid, name, &log_path)?;
        Ok(Instance { name, addr, database_url: database_url.to_owned(), pid })
    }

    /// The CLI against one instance's database: its stdout.
    pub fn cli(&self, instance: &Instance, args: &[&str], stdin: Option<&str>) -> Result<String, BoxError> {
        let mut child = self
            .command(instance.name, instance.addr, &instance.database_url)
            .args(args)
            .stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() })
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()?;
        if let (Some(input), Some(mut pipe)) = (stdin, child.stdin.take()) {
            writeln!(pipe, "{input}")?;
        }
        let output = child.wait_with_output()?;
        if !output.status.success() {
            return Err(format!("jwtd {} failed ({})", args.join(" "), output.status).into());
        }
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    }

    /// `jwtd clients create ARGS --json`.
    pub fn create_client(&self, instance: &Instance, args: &[&str]) -> Result<Client, BoxError> {
        let mut all = vec!["clients", "create"];
        all.extend_from_slice(args);
        all.push("--json");
        let out = self.cli(instance, &all, None)?;
        serde_json::from_str(out.trim()).map_err(|e| format!("clients create {}: {e}", args.join(" ")).into())
    }
}

/// A peer started: its token endpoint's server and its node primary's pid.
#[derive(Debug, Clone, Copy)]
pub struct Peer {
    pub addr: SocketAddr,
    pub pid: u32,
}

/// Starts a peer with `start.sh NAME PORT WORKDIR` (which installs once, starts node in the
/// background, polls and prints the pid), then checks that it answers HTTP at all.
pub fn start_peer(
    teardown: &Teardown,
    start_sh: &Path,
    name: &str,
    work: &Path,
    temp: &Path,
) -> Result<Peer, BoxError> {
    let addr = free_addr()?;
    let output = Command::new(start_sh)
        .arg(name)
        .arg(addr.port().to_string())
        .arg(work)
        .stdin(Stdio::null())
        .stderr(File::create(temp.join(format!("{name}.log")))?)
        .output()?;
    if !output.status.success() {
        return Err(format!(
            "{name} did not start ({}); see {}",
            output.status,
            temp.join(format!("{name}.log")).display()
        )
        .into());
    }
    let pid: u32 = String::from_utf8_lossy(&output.stdout).trim().parse()?;
    teardown.keep_peer(pid)?;
    // Any HTTP answer (404 at / included) means it listens.
    http::get(addr, "/").map_err(|e| {
        format!("{name} does not answer ({e}); see {}", work.join(format!("{name}.log")).display())
    })?;
    Ok(Peer { addr, pid })
}

/// Polls `path` until it answers 200, while the server runs, for at most [`READY_WITHIN`].
fn wait_ready(addr: SocketAddr, path: &str, pid: u32, name: &str, log_path: &Path) -> Result<(), BoxError> {
    let deadline = Instant::now() + READY_WITHIN;
    while Instant::now() < deadline {
        if !alive(pid) {
            let log_text = std::fs::read_to_string(log_path).unwrap_or_default();
            return Err(format!("{name} exited; its log:\n{log_text}").into());
        }
        if http::get(addr, path).is_ok_and(|r| r.status == 200) {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Err(format!("{name} not ready after {} s", READY_WITHIN.as_secs()).into())
}

/// A free loopback port below the kernel's ephemeral range (`ip_local_port_range`, 32768 and up
/// by default), so an outgoing connection cannot take it between this check and the server's bind.
pub fn free_addr() -> Result<SocketAddr, BoxError> {
    let low: u16 = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|range| range.split_whitespace().next()?.parse().ok())
        .unwrap_or(32768);
    let span = if low > 12000 { u64::from(low) - 11000 } else { 20000 };
    for _ in 0..50 {
        let port = u16::try_from(10000 + random() % span)?;
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        if TcpListener::bind(addr).is_ok() {
            return Ok(addr);
        }
    }
    Err("no free port found".into())
}

/// A random number from the standard library's random hash keys (no crate for one number).
fn random() -> u64 {
    RandomState::new().build_hasher().finish()
}
