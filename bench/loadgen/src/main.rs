//! A closed-loop HTTP/1.1 load generator for `bench/run.sh`: N keep-alive connections on one
//! thread, each sending its next request as soon as the previous response is in (as `wrk`
//! does), latencies in an HDR histogram, the peak resident memory of the server processes
//! sampled while the load runs, and the CPU time the servers (and their database) spent per
//! request in the measured window.
//!
//! Scenarios: `get` and `post` repeat one request; `login` cycles password-grant logins over a
//! pool of users; `refresh` logs a pool of users in once (not measured) and then has every
//! connection rotate its own refresh-token families, each response carrying the next token;
//! `code-flow` and `sign-in` are a browser per connection (see `browser.rs`): the authorization
//! code flow with a live single sign-on session, and the sign-in form posted over a pool of users;
//! `assertion` is `client_credentials` with `private_key_jwt`; `exchange` logs a pool of users in
//! once (not measured) and has a service trade their tokens for the next API's (see `exchange.rs`).
//! A code-flow cycle (authorization request, then token request) counts as one request: its
//! rate is cycles per second, its latency the cycle's, and `statuses` lists both answers.
//!
//! Prints one JSON line on stdout, a `jwtd_loadgen::LoadReport`; fails when no request succeeded or more than
//! `--max-error-ratio` of them failed, so a broken scenario cannot pass unnoticed.

mod assertion;
mod browser;
mod cpu;
mod exchange;
mod http;
mod rss;
mod tally;

use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::{Parser, ValueEnum};
pub use jwtd_loadgen::BoxError;
use jwtd_loadgen::{LoadReport, rounded, seeded};

use browser::{Browser, Flow};
use http::{Conn, Target};
use tally::{Tally, Turn, Window};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Scenario {
    Get,
    Post,
    Login,
    Refresh,
    CodeFlow,
    SignIn,
    /// `client_credentials` with `private_key_jwt`: a fresh signed assertion per request.
    Assertion,
    /// Token exchange (RFC 8693) of user tokens by a service, each for the next API.
    Exchange,
    /// Refresh rotations of the families `bench/growth/seed.sql` wrote (`--seeded-families`,
    /// `--seeded-gens`, `--seeded-master-key`), a random one each time (see `seeded.rs`).
    Seeded,
    /// `--body` (a secret-based `client_credentials` form) with a fresh DPoP proof (RFC 9449)
    /// for each request, signed with `--key` for `POST` at `--audience` (the token URL).
    Dpop,
}

#[derive(Debug, Parser)]
#[command(name = "jwtd-loadgen", about = "Closed-loop HTTP/1.1 load for jwtd's benchmark")]
struct Opts {
    /// `http://127.0.0.1:PORT/path` (plain HTTP, IP literal); for `code-flow` and `sign-in`
    /// jwtd's `/oauth2/authorize` (`/login` and `/oauth2/token` are then on the same server).
    url: String,
    #[arg(long, value_enum, default_value = "get")]
    scenario: Scenario,
    /// Keep-alive connections.
    #[arg(long, short = 'c', default_value_t = 32)]
    connections: usize,
    /// Seconds measured.
    #[arg(long, short = 'd', default_value_t = 10.0)]
    duration: f64,
    /// Total requests per second across all connections, paced evenly (0 = as fast as the
    /// server answers). Paced load measures latency at a fixed, unsaturated rate.
    #[arg(long, default_value_t = 0.0)]
    rate: f64,
    /// Seconds of load before measuring starts (not counted).
    #[arg(long, default_value_t = 1.0)]
    warmup: f64,
    /// An extra request header, `Name: value`; repeat for several.
    #[arg(long = "header", short = 'H')]
    headers: Vec<String>,
    /// Form body of `post` requests.
    #[arg(long, default_value = "")]
    body: String,
    /// Client credentials for `login`, `refresh`, `code-flow` and the users' logins of
    /// `exchange` (sent as client_secret_post); `sign-in` needs the client id.
    #[arg(long, default_value = "")]
    client_id: String,
    #[arg(long, default_value = "")]
    client_secret: String,
    /// The client's redirect URI (`code-flow`, `sign-in`); never visited.
    #[arg(long, default_value = "https://app.example/cb")]
    redirect_uri: String,
    /// The scope the browser scenarios ask for.
    #[arg(long, default_value = "openid")]
    scope: String,
    /// Users the scenarios log in as: the pattern with `{}` replaced by 1..=users.
    #[arg(long, default_value = "u{}@example.com")]
    user_pattern: String,
    #[arg(long, default_value_t = 64)]
    users: usize,
    #[arg(long, default_value = "")]
    password: String,
    /// Name printed with the result.
    #[arg(long, default_value = "load")]
    label: String,
    /// A server process whose resident memory (with its child processes) is sampled.
    /// Its CPU time per request is reported too.
    #[arg(long = "watch-pid")]
    watch_pids: Vec<u32>,
    /// A database process (a PostgreSQL backend serving the server) whose CPU time per request
    /// is reported; repeat for several.
    #[arg(long = "db-pid")]
    db_pids: Vec<u32>,
    /// `assertion`: the client's ES256 key (PKCS#8 DER), as `--write-key` made it.
    #[arg(long, default_value = "")]
    key: String,
    /// `assertion`: the `aud` of the assertions (jwtd's issuer).
    #[arg(long, default_value = "")]
    audience: String,
    /// `exchange`: the service that exchanges the users' tokens (sent as client_secret_basic).
    #[arg(long, default_value = "")]
    exchange_client_id: String,
    #[arg(long, default_value = "")]
    exchange_client_secret: String,
    /// `exchange`: the API the users' tokens are for (one the service serves).
    #[arg(long, default_value = "")]
    subject_resource: String,
    /// `exchange`: the API each exchange asks a token for.
    #[arg(long, default_value = "")]
    resource: String,
    /// Write a new ES256 key to this path and its public JWK set to `PATH.jwks.json`, and exit.
    #[arg(long)]
    write_key: Option<String>,
    /// `seeded`: how many families the seed wrote, and how many generations deep.
    #[arg(long, default_value_t = 0)]
    seeded_families: u64,
    #[arg(long, default_value_t = 4)]
    seeded_gens: u64,
    /// `seeded`: the master key jwtd runs with (`JWTD_MASTER_KEY`, base64), whose tag key the
    /// seeded heads are tagged with.
    #[arg(long, value_name = "BASE64")]
    seeded_master_key: Option<String>,
    /// `seeded`: where the families' current tokens are kept between runs (read, then rewritten).
    #[arg(long)]
    seeded_state: Option<std::path::PathBuf>,
    /// Fail when more than this share of the measured requests failed.
    #[arg(long, default_value_t = 0.01)]
    max_error_ratio: f64,
}

fn main() -> ExitCode {
    let opts = Opts::parse();
    if let Some(path) = &opts.write_key {
        return match assertion::write_key(path) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => fail(e.as_ref()),
        };
    }
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => return fail(&e),
    };
    match runtime.block_on(run(opts)) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => fail(e.as_ref()),
    }
}

fn fail(e: &dyn std::fmt::Display) -> ExitCode {
    eprintln!("jwtd-loadgen: {e}");
    ExitCode::FAILURE
}

/// Per-run settings every connection shares.
struct Plan {
    target: Target,
    scenario: Scenario,
    extra_headers: String,
    body: String,
    client: String,
    users: Vec<String>,
    password: String,
    /// The browser scenarios' endpoints and client.
    flow: Flow,
    connections: usize,
    /// Time between two requests of one connection, when paced.
    pace: Option<Duration>,
    /// `assertion`: signs each request's client assertion.
    signer: Option<assertion::Signer>,
    /// `exchange`: the service's exchanges, and the resource its users log in for.
    exchanger: Option<exchange::Exchanger>,
    /// `seeded`: the families to rotate.
    seed: Option<seeded::Seed>,
}

impl Plan {
    /// User `user` of the pool, which wraps around.
    fn user(&self, user: usize) -> &str {
        self.users.get(user % self.users.len().max(1)).map_or("", String::as_str)
    }

    fn login_request(&self, user: usize) -> Vec<u8> {
        let email = self.user(user);
        let body = format!(
            "grant_type=password&{}&username={}&password={}",
            self.client,
            form_encode(email),
            form_encode(&self.password)
        ) + self.exchanger.as_ref().map_or("", exchange::Exchanger::login_param);
        self.target.post(&self.extra_headers, &body)
    }

    fn refresh_request(&self, token: &str) -> Vec<u8> {
        self.refresh_request_of(&self.client, token)
    }

    fn refresh_request_of(&self, client: &str, token: &str) -> Vec<u8> {
        let body = format!("grant_type=refresh_token&{client}&refresh_token={}", form_encode(token));
        self.target.post(&self.extra_headers, &body)
    }
}

async fn run(opts: Opts) -> Result<bool, BoxError> {
    if opts.connections == 0 || opts.duration <= 0.0 {
        return Err("need at least one connection and a positive duration".into());
    }
    let target = Target::parse(&opts.url)?;
    let mut extra_headers = String::new();
    for header in &opts.headers {
        extra_headers.push_str(header.trim());
        extra_headers.push_str("\r\n");
    }
    let users: Vec<String> =
        (1..=opts.users).map(|i| opts.user_pattern.replace("{}", &i.to_string())).collect();
    let client = format!(
        "client_id={}&client_secret={}",
        form_encode(&opts.client_id),
        form_encode(&opts.client_secret)
    );

    // Refresh and exchange: every family is logged in once before the clock starts; connection k
    // owns families k, k + connections, … (exchange: their access tokens, one exchange checked).
    let mut conns = Vec::with_capacity(opts.connections);
    let mut families: Vec<Vec<String>> = vec![Vec::new(); opts.connections];
    let plan = Arc::new(Plan {
        target: target.clone(),
        scenario: opts.scenario,
        extra_headers,
        body: opts.body.clone(),
        flow: Flow::new(target.clone(), &opts.client_id, client.clone(), &opts.redirect_uri, &opts.scope),
        client,
        users,
        password: opts.password.clone(),
        connections: opts.connections,
        pace: (opts.rate > 0.0).then(|| Duration::from_secs_f64(opts.connections as f64 / opts.rate)),
        signer: match opts.scenario {
            Scenario::Assertion | Scenario::Dpop => {
                Some(assertion::Signer::load(&opts.key, &opts.client_id, &opts.audience)?)
            }
            _ => None,
        },
        exchanger: match opts.scenario {
            Scenario::Exchange => Some(exchange::Exchanger::new(
                (&opts.exchange_client_id, &opts.exchange_client_secret),
                &opts.subject_resource,
                &opts.resource,
                opts.warmup.max(0.0) + opts.duration,
            )?),
            _ => None,
        },
        seed: match opts.scenario {
            Scenario::Seeded => match (opts.seeded_families, &opts.seeded_master_key) {
                (0, _) | (_, None) => {
                    return Err("seeded needs --seeded-families and --seeded-master-key".into());
                }
                (families, Some(key)) => Some(seeded::Seed::new(families, opts.seeded_gens, key)?),
            },
            _ => None,
        },
    });
    for _ in 0..opts.connections {
        conns.push(Conn::new(target.addr));
    }
    if matches!(opts.scenario, Scenario::Refresh | Scenario::Exchange) {
        let mut logins = Vec::new();
        for (k, conn) in conns.drain(..).enumerate() {
            let plan = Arc::clone(&plan);
            let owned: Vec<usize> = (k..plan.users.len()).step_by(opts.connections).collect();
            logins.push(tokio::spawn(async move {
                let (mut conn, tokens) = log_in(&plan, conn, &owned).await?;
                if let (Some(exchanger), Some(token)) = (&plan.exchanger, tokens.first()) {
                    exchanger.check((&plan.target, &plan.extra_headers), &mut conn, token).await?;
                }
                Ok::<_, BoxError>((conn, tokens))
            }));
        }
        for (k, login) in logins.into_iter().enumerate() {
            let (conn, tokens) = login.await??;
            conns.push(conn);
            if let Some(slot) = families.get_mut(k) {
                *slot = tokens;
            }
        }
        if families.iter().any(Vec::is_empty) {
            return Err("refresh and exchange need at least as many users (families) as connections".into());
        }
    }
    // Browsers: each opens the sign-in page once before the clock starts and, for the code flow,
    // signs in as its own user of the pool.
    let mut browsers: Vec<Option<Browser>> = Vec::with_capacity(opts.connections);
    if matches!(opts.scenario, Scenario::CodeFlow | Scenario::SignIn) {
        let mut opened = Vec::new();
        for (k, mut conn) in conns.drain(..).enumerate() {
            let plan = Arc::clone(&plan);
            opened.push(tokio::spawn(async move {
                let mut browser = browser::open(&plan.flow, &mut conn, k).await?;
                if plan.scenario == Scenario::CodeFlow {
                    browser::sign_in(&plan.flow, &mut conn, &mut browser, plan.user(k), &plan.password)
                        .await?;
                }
                Ok::<_, BoxError>((conn, browser))
            }));
        }
        for task in opened {
            let (conn, browser) = task.await??;
            conns.push(conn);
            browsers.push(Some(browser));
        }
    }
    browsers.resize_with(opts.connections, || None);

    let start = Instant::now();
    let measure_from = start + Duration::from_secs_f64(opts.warmup.max(0.0));
    let end = measure_from + Duration::from_secs_f64(opts.duration);
    let window = Window { measure_from, end };
    let rotated = match &opts.seeded_state {
        Some(path) => seeded::load_state(path)?,
        None => std::collections::HashMap::new(),
    };
    let watcher = rss::PeakWatcher::spawn(opts.watch_pids.clone(), end);
    let cpu = cpu::spawn(opts.watch_pids.clone(), opts.db_pids.clone(), measure_from, end);

    let mut tasks = Vec::new();
    for (k, ((conn, tokens), browser)) in conns.into_iter().zip(families).zip(browsers).enumerate() {
        let plan = Arc::clone(&plan);
        let share = plan.seed.as_ref().map(|seed| seeded::Families::new(seed, k, opts.connections, &rotated));
        tasks.push(tokio::spawn(async move { drive(&plan, window, conn, k, tokens, browser, share).await }));
    }
    let mut tally = Tally::new()?;
    let mut rotated = std::collections::HashMap::new();
    for task in tasks {
        let (turns, share) = task.await??;
        tally.merge(turns)?;
        rotated.extend(share.map(seeded::Families::into_rotated).unwrap_or_default());
    }
    if let Some(path) = &opts.seeded_state {
        seeded::save_state(path, &rotated)?;
    }
    let peak_rss_kib = watcher.await?;
    let cpu = cpu.await?;

    let secs = opts.duration;
    let ok = tally.ok;
    let per_request =
        |ms: u64, pids: &[u32]| (!pids.is_empty() && ok > 0).then(|| rounded(ms as f64 / ok as f64, 4));
    let total = tally.turns + tally.io_errors;
    let errors = total - ok;
    let ms = |q: f64| rounded(tally.histogram.value_at_quantile(q) as f64 / 1000.0, 3);
    let report = LoadReport {
        label: opts.label.clone(),
        requests: total,
        ok,
        errors,
        io_errors: tally.io_errors,
        secs,
        rps: rounded(ok as f64 / secs, 1),
        p50_ms: ms(0.50),
        p90_ms: ms(0.90),
        p99_ms: ms(0.99),
        max_ms: rounded(tally.histogram.max() as f64 / 1000.0, 3),
        peak_rss_kib,
        server_cpu_ms_per_req: per_request(cpu.server_ms, &opts.watch_pids),
        db_cpu_ms_per_req: per_request(cpu.db_ms, &opts.db_pids),
        client_cpu_ms_per_req: per_request(cpu.client_ms, &[std::process::id()]),
        statuses: tally.statuses.clone(),
    };
    println!("{}", serde_json::to_string(&report)?);
    let passed = ok > 0 && errors as f64 <= opts.max_error_ratio * total as f64;
    if !passed {
        eprintln!("jwtd-loadgen: {}: {errors} of {total} requests failed", opts.label);
    }
    Ok(passed)
}

fn is_success(status: u16) -> bool {
    (200..300).contains(&status) || status == 304
}

/// Logs each of `users` in once and returns their refresh tokens (`exchange`: their access tokens).
async fn log_in(plan: &Plan, mut conn: Conn, users: &[usize]) -> Result<(Conn, Vec<String>), BoxError> {
    let mut tokens = Vec::with_capacity(users.len());
    for &user in users {
        let response = conn.send(&plan.login_request(user), true).await?;
        if response.status != 200 {
            return Err(format!("login of user {} answered {}", user + 1, response.status).into());
        }
        tokens.push(match &plan.exchanger {
            Some(exchanger) => exchanger.subject_token_of(&response.body)?,
            None => refresh_token_of(&response.body)?,
        });
    }
    Ok((conn, tokens))
}

fn refresh_token_of(body: &[u8]) -> Result<String, BoxError> {
    let value: serde_json::Value = serde_json::from_slice(body)?;
    value
        .get("refresh_token")
        .and_then(serde_json::Value::as_str)
        .map(str::to_owned)
        .ok_or_else(|| "a token response without refresh_token".into())
}

/// One connection's loop until the end of the run.
async fn drive(
    plan: &Plan,
    window: Window,
    mut conn: Conn,
    index: usize,
    mut families: Vec<String>,
    browser: Option<Browser>,
    mut seeded: Option<seeded::Families>,
) -> Result<(Tally, Option<seeded::Families>), BoxError> {
    let mut tally = Tally::new()?;
    let fixed = match plan.scenario {
        Scenario::Get => plan.target.get(&plan.extra_headers),
        Scenario::Post => plan.target.post(&plan.extra_headers, &plan.body),
        Scenario::Login
        | Scenario::Refresh
        | Scenario::CodeFlow
        | Scenario::SignIn
        | Scenario::Assertion
        | Scenario::Exchange
        | Scenario::Seeded
        | Scenario::Dpop => Vec::new(),
    };
    let mut seeded_family = None;
    let mut turn = 0usize;
    // Paced connections start spread over one interval.
    let mut next_at =
        plan.pace.map(|pace| Instant::now() + pace.mul_f64(index as f64 / plan.connections.max(1) as f64));
    loop {
        if let (Some(at), Some(pace)) = (next_at.as_mut(), plan.pace) {
            tokio::time::sleep_until(tokio::time::Instant::from_std(*at)).await;
            // Behind schedule (a slow answer): carry on from now rather than burst to catch up.
            *at = (*at + pace).max(Instant::now());
        }
        let sent_at = Instant::now();
        if sent_at >= window.end {
            break;
        }
        // Connections interleave over the user pool.
        let user = index + turn * 7919;
        let family = turn % families.len().max(1);
        let mut family_lost = false;
        let outcome = match (&browser, plan.scenario) {
            (Some(browser), Scenario::CodeFlow) => browser::code_flow(&plan.flow, &mut conn, browser).await,
            (Some(browser), _) => {
                browser::sign_in_turn(&plan.flow, &mut conn, browser, plan.user(user), &plan.password).await
            }
            (None, _) => {
                let dynamic;
                let request: &[u8] = match plan.scenario {
                    Scenario::Login => {
                        dynamic = plan.login_request(user);
                        &dynamic
                    }
                    Scenario::Refresh => {
                        dynamic = plan.refresh_request(families.get(family).map_or("", String::as_str));
                        &dynamic
                    }
                    Scenario::Seeded => {
                        let share = seeded.as_mut().ok_or("no seed")?;
                        let picked = share.pick().ok_or("more connections than seeded families")?;
                        seeded_family = Some(picked);
                        dynamic =
                            plan.refresh_request_of(&seeded::client_fields(picked), &share.token(picked));
                        &dynamic
                    }
                    Scenario::Assertion => {
                        let body = plan.signer.as_ref().ok_or("no signer")?.token_body()?;
                        dynamic = plan.target.post(&plan.extra_headers, &body);
                        &dynamic
                    }
                    Scenario::Dpop => {
                        let proof = plan.signer.as_ref().ok_or("no signer")?.dpop_proof()?;
                        let headers = format!("{}DPoP: {proof}\r\n", plan.extra_headers);
                        dynamic = plan.target.post(&headers, &plan.body);
                        &dynamic
                    }
                    Scenario::Exchange => {
                        let subject = families.get(family).map_or("", String::as_str);
                        dynamic = plan.exchanger.as_ref().ok_or("no exchanger")?.request(
                            &plan.target,
                            &plan.extra_headers,
                            subject,
                        );
                        &dynamic
                    }
                    _ => &fixed,
                };
                let need_body = matches!(plan.scenario, Scenario::Refresh | Scenario::Seeded);
                conn.send(request, need_body).await.map(|response| {
                    if let (Some(share), Some(family), 200, Ok(next)) =
                        (seeded.as_mut(), seeded_family, response.status, refresh_token_of(&response.body))
                    {
                        share.advance(family, next);
                    }
                    if plan.scenario == Scenario::Refresh {
                        match (response.status, refresh_token_of(&response.body)) {
                            (200, Ok(next)) => {
                                if let Some(slot) = families.get_mut(family) {
                                    *slot = next;
                                }
                            }
                            _ => family_lost = true,
                        }
                    }
                    Turn { statuses: [Some(response.status), None], ok: is_success(response.status) }
                })
            }
        };
        let done_at = Instant::now();
        if family_lost {
            // The family is lost (a bug, or a refusal): start a new one.
            let user = index + families.len() * turn;
            if let Ok((again, mut tokens)) = log_in(plan, conn, &[user]).await {
                conn = again;
                if let (Some(slot), Some(token)) = (families.get_mut(family), tokens.pop()) {
                    *slot = token;
                }
            } else {
                conn = Conn::new(plan.target.addr);
            }
        }
        let counted = window.counts(done_at);
        match outcome {
            Ok(seen) => {
                if counted {
                    tally.record(&seen, done_at.duration_since(sent_at));
                }
            }
            Err(_) => {
                if counted {
                    tally.io_errors += 1;
                }
                // Do not spin on a refused connection.
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
        turn = turn.wrapping_add(1);
    }
    Ok((tally, seeded))
}

/// `application/x-www-form-urlencoded` encoding of one value.
fn form_encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for byte in value.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'*' => out.push(char::from(byte)),
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{byte:02X}")),
        }
    }
    out
}
