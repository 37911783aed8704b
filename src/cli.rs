//! The `jwtd` command line: `serve` (the default), `migrate`, `clients …`, `keys …`.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use serde_json::json;

use crate::authority::{self, audit::Actor};
use crate::clock::{Clock, SystemClock};
use crate::config::Settings;
use crate::keys::lifecycle::{KeyLifecycle, RotateRequest};
use crate::keys::master::MasterKey;
use crate::startup::{self, Application};

mod clients;
mod users;

#[derive(Debug, Parser)]
#[command(name = "jwtd", version, about = "A standalone token authority")]
pub struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the server (the default).
    Serve,
    /// Apply pending database migrations and exit.
    Migrate,
    /// Exit 0 if the local server answers GET /readyz with 200 (for container healthchecks).
    Healthcheck {
        /// Check another server instead (e.g. a resource server): `host:port`. Then no jwtd
        /// configuration is read.
        #[arg(long)]
        addr: Option<String>,
        #[arg(long, default_value = "/readyz")]
        path: String,
        /// The status that means healthy.
        #[arg(long, default_value_t = 200)]
        expect: u16,
    },
    /// Manage OAuth clients.
    #[command(subcommand)]
    Clients(clients::ClientsCommand),
    /// Inspect and rotate signing keys.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Manage users.
    #[command(subcommand)]
    Users(users::UsersCommand),
}

#[derive(Debug, Subcommand)]
enum KeysCommand {
    /// List signing keys and their states (never private material).
    List {
        #[arg(long)]
        json: bool,
    },
    /// Promote the pre-published next key and publish a new next key. Refused until the next
    /// key was published long enough for every verifier to know it.
    Rotate {
        /// Emergency: the current key is compromised. It leaves the JWKS at once and tokens it
        /// signed stop verifying; the next key signs immediately.
        #[arg(long)]
        revoke_current: bool,
        /// Algorithm of the new next key: RS256, ES256 or EdDSA.
        #[arg(long)]
        alg: Option<String>,
        /// RSA size of the new next key: 2048, 3072 or 4096.
        #[arg(long)]
        bits: Option<u32>,
    },
    /// Retire a next or previous key now: it leaves the JWKS and its private key is erased.
    Retire {
        /// A kid may start with `-` (base64url), so it is taken as a value as it stands.
        #[arg(allow_hyphen_values = true)]
        kid: String,
    },
}

/// Parses the command line, runs the command, and turns any failure into one line on stderr.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Some(Command::Healthcheck { addr: Some(addr), path, expect }) = &cli.command {
        return match healthcheck(addr, path, *expect) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => fail(e.as_ref()),
        };
    }
    let settings = match Settings::load() {
        Ok(settings) => settings,
        Err(e) => return fail(&e),
    };
    crate::logging::init(&settings.log);
    let result = match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => serve(settings),
        Command::Migrate => {
            startup::open_pool(&settings).map(|_| println!("migrations applied")).map_err(Box::from)
        }
        Command::Healthcheck { addr: _, path, expect } => {
            let addr = settings.http.addr.replace("0.0.0.0", "127.0.0.1").replace("[::]", "[::1]");
            healthcheck(&addr, &path, expect)
        }
        Command::Clients(command) => clients::run(&settings, command),
        Command::Keys(KeysCommand::List { json }) => list_keys(&settings, json),
        Command::Keys(KeysCommand::Rotate { revoke_current, alg, bits }) => {
            rotate_keys(&settings, revoke_current, alg.as_deref(), bits)
        }
        Command::Keys(KeysCommand::Retire { kid }) => retire_key(&settings, &kid),
        Command::Users(command) => users::run(&settings, command),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(e.as_ref()),
    }
}

type CliResult = Result<(), Box<dyn std::error::Error>>;

fn fail(e: &dyn std::fmt::Display) -> ExitCode {
    eprintln!("jwtd: {e}");
    ExitCode::FAILURE
}

fn serve(settings: Settings) -> CliResult {
    actix_web::rt::System::new().block_on(async move {
        let backend = settings.database.backend_name();
        let issuer = settings.issuer.clone();
        let host = settings.http.addr.rsplit_once(':').map_or("127.0.0.1", |(h, _)| h).to_owned();
        let app = Application::build(settings).await?;
        log::info!("jwtd listening on http://{host}:{} (issuer {issuer}, {backend})", app.port());
        app.run_until_stopped().await?;
        log::info!("jwtd stopped");
        Ok(())
    })
}

/// One plain HTTP/1.0 request, so a container image needs no curl.
fn healthcheck(addr: &str, path: &str, expect: u16) -> CliResult {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(addr)?;
    stream.set_read_timeout(Some(std::time::Duration::from_secs(3)))?;
    stream.write_all(format!("GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n").as_bytes())?;
    let mut head = [0u8; 12];
    stream.read_exact(&mut head)?;
    let status = String::from_utf8_lossy(&head);
    if status.get(9..12) == Some(expect.to_string().as_str()) {
        Ok(())
    } else {
        Err(format!("unhealthy: {status}").into())
    }
}

/// The lifecycle with the master key loaded: what key changes need.
fn key_lifecycle(settings: &Settings) -> Result<KeyLifecycle, Box<dyn std::error::Error>> {
    let master = std::sync::Arc::new(MasterKey::load(settings.master_key_source())?);
    Ok(startup::key_lifecycle(settings, master))
}

fn rotate_keys(settings: &Settings, revoke_current: bool, alg: Option<&str>, bits: Option<u32>) -> CliResult {
    let request = RotateRequest::new(alg, bits, revoke_current).map_err(|e| format!("--{e}"))?;
    let lifecycle = key_lifecycle(settings)?;
    let pool = startup::open_pool(settings)?;
    let now = SystemClock.now();
    let rotation = match authority::keys::rotate(&mut *pool.get()?, &lifecycle, &Actor::cli(), request, now) {
        Ok(rotation) => rotation,
        Err(authority::Error::Conflict { retry_at: Some(ready_at), .. }) => {
            return Err(format!(
                "not rotated: the next key has not been published long enough; retry in {} s",
                ready_at - now
            )
            .into());
        }
        Err(e) => return Err(e.into()),
    };
    println!("{}", json!(rotation));
    if let Some(revoked) = &rotation.revoked {
        eprintln!("key {revoked} left the JWKS: tokens it signed no longer verify");
    }
    Ok(())
}

fn retire_key(settings: &Settings, kid: &str) -> CliResult {
    let (lifecycle, pool) = (key_lifecycle(settings)?, startup::open_pool(settings)?);
    match authority::keys::retire(&mut *pool.get()?, &lifecycle, &Actor::cli(), kid, SystemClock.now()) {
        Ok(()) => {
            println!("{kid} retired");
            Ok(())
        }
        Err(authority::Error::Conflict { code: "key_is_current", .. }) => {
            Err("the current key cannot be retired; rotate first (or rotate with revoke_current)".into())
        }
        Err(e) => Err(e.into()),
    }
}

fn list_keys(settings: &Settings, as_json: bool) -> CliResult {
    let pool = startup::open_pool(settings)?;
    let schedule = startup::key_schedule(&settings.keys);
    let keys = authority::keys::list(&mut *pool.get()?, &schedule)?;
    if as_json {
        let list: Vec<_> = keys
            .iter()
            .map(|k| {
                json!({ "kid": k.kid, "alg": k.alg, "state": k.state.as_str(), "created_at": k.created_at,
                        "published_at": k.published_at, "activated_at": k.activated_at })
            })
            .collect();
        println!("{}", serde_json::Value::Array(list));
        return Ok(());
    }
    println!("{:<44} {:<6} {:<9} CREATED_AT", "KID", "ALG", "STATE");
    for k in &keys {
        println!("{:<44} {:<6} {:<9} {}", k.kid, k.alg, k.state.as_str(), k.created_at);
    }
    Ok(())
}
