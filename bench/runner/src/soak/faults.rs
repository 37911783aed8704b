//! The soak's faults: PostgreSQL restarted under the instances, an instance killed with SIGKILL
//! and started again on its port, and a burst of bad input. Each ends when every instance
//! answers `/readyz` again (polled, bounded).

use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use super::summary::Kind;
use super::traffic::Shared;
use crate::BoxError;
use crate::http;

/// How long the instances may take to answer `/readyz` after a fault.
const RECOVERY: Duration = Duration::from_secs(120);

/// Polls `/readyz` of every address until all answer 200.
pub fn wait_ready(addrs: &[SocketAddr]) -> Result<(), BoxError> {
    let deadline = Instant::now() + RECOVERY;
    for addr in addrs {
        while !http::get(*addr, "/readyz").is_ok_and(|r| r.status == 200) {
            if Instant::now() > deadline {
                return Err(format!("{addr} not ready {} s after the fault", RECOVERY.as_secs()).into());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    Ok(())
}

/// The local cluster's restart command, when PostgreSQL is Debian's `pg_ctlcluster` one.
pub fn restart_command() -> Option<Command> {
    let version = std::fs::read_dir("/etc/postgresql")
        .ok()?
        .flatten()
        .filter_map(|entry| entry.file_name().into_string().ok())
        .max_by_key(|name| name.parse::<u32>().unwrap_or(0))?;
    let found = Command::new("sh").args(["-c", "command -v pg_ctlcluster"]).stdout(Stdio::null()).status();
    found.is_ok_and(|s| s.success()).then(|| {
        let mut command = Command::new("pg_ctlcluster");
        command.args(["--skip-systemctl-redirect", &version, "main", "restart"]);
        command
    })
}

pub fn restart_postgres(mut command: Command) -> Result<(), BoxError> {
    let status = command.stdin(Stdio::null()).stdout(Stdio::null()).status()?;
    if status.success() { Ok(()) } else { Err(format!("restarting PostgreSQL failed ({status})").into()) }
}

/// SIGKILL to `pid`, and waits (bounded) until it is gone, its port with it.
pub fn kill(pid: u32, addr: std::net::SocketAddr) -> Result<(), BoxError> {
    let status = Command::new("kill").args(["-KILL", &pid.to_string()]).status()?;
    if !status.success() {
        return Err(format!("kill -KILL {pid} failed").into());
    }
    // The process's main thread shows as a zombie while its other threads, which share its
    // listening socket, may still be exiting: the address is free only once it can be bound.
    let deadline = Instant::now() + Duration::from_secs(10);
    while crate::teardown::alive(pid) || std::net::TcpListener::bind(addr).is_err() {
        if Instant::now() > deadline {
            return Err(format!("{pid} still runs, or holds {addr}, 10 s after SIGKILL").into());
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    Ok(())
}

/// A compact JWS of `header` with a payload and a signature that mean nothing.
fn jws(header: &str) -> String {
    let part = |text: &str| URL_SAFE_NO_PAD.encode(text);
    format!("{}.{}.{}", part(header), part(r#"{"sub":"x","exp":4102444800}"#), part("not a signature"))
}

/// The bad requests, each sent `rounds` times to every instance: oversized and malformed bodies,
/// garbage refresh tokens, tokens naming unknown keys, and broken JSON at the admin API. Every
/// answer must be a 4xx.
pub fn bad_input(shared: &Shared, instances: usize, client: &str, rounds: usize) {
    let big = "a".repeat(300 * 1024);
    let unknown_kid = jws(r#"{"alg":"RS256","typ":"at+jwt","kid":"no-such-key"}"#);
    let none_alg = jws(r#"{"alg":"none","typ":"at+jwt"}"#);
    let refresh = |value: &str| format!("grant_type=refresh_token&{client}&refresh_token={value}");
    let bearer = |path: &'static str, value: String| {
        move |addr: SocketAddr| {
            http::send(
                addr,
                &format!(
                    "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nAuthorization: Bearer {value}\r\n\r\n"
                ),
            )
        }
    };
    let admin_json = |addr: SocketAddr| {
        http::send(
            addr,
            &format!(
                "POST /admin/clients HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nAuthorization: Bearer {unknown_kid}\r\n\
                 Content-Type: application/json\r\nContent-Length: 9\r\n\r\n{{\"name\":["
            ),
        )
    };
    let bodies = [
        format!("grant_type=client_credentials&{client}&pad={big}"),
        refresh("garbage"),
        refresh("jwtd_rt_"),
        refresh(&format!("jwtd_rt_{}", "A".repeat(43))),
        refresh(&"x".repeat(5000)),
        "grant_type=%ZZ&&&=&client_id=%".to_owned(),
        "grant_type=password&username=&password=".to_owned(),
    ];
    for round in 0..rounds {
        for instance in 0..instances {
            let i = round * instances + instance;
            for body in &bodies {
                shared.send(Kind::BadInput, i, |addr| http::post_form(addr, "/oauth2/token", body));
            }
            shared.send(Kind::BadInput, i, bearer("/userinfo", unknown_kid.clone()));
            shared.send(Kind::BadInput, i, bearer("/userinfo", none_alg.clone()));
            shared.send(Kind::BadInput, i, bearer("/userinfo", "%%%".repeat(2000)));
            shared.send(Kind::BadInput, i, admin_json);
        }
    }
}
