//! The scenarios, in the order they run, each on its server with `jwtd-loadgen`; the ratios
//! closest to their line in alternating pairs of windows (bench/README.md), every raw limit
//! measured right beside the windows compared with it.

use jwtd_limits::LimitsReport;
use jwtd_loadgen::LoadReport;

use crate::report::{Row, Windows, median_of};
use crate::servers::Instance;
use crate::setup::{self, Clients, ORDERS_API, PASSWORD, PAYMENTS_API, Peers, REDIRECT_URI};
use crate::stats::combine;
use crate::tools::{Limit, Limits, Load, Loadgen};
use crate::{BoxError, Settings};

/// JWKS latency is measured at a fixed, unsaturated rate (alone and during a login flood).
const JWKS_RATE: u32 = 1000;
const JWKS_CONNS: &str = "8";
/// The peers' client (client_secret_post), as shared/bench/peers/start.sh documents it.
const PEER_FORM: &str =
    "grant_type=client_credentials&client_id=bench&client_secret=bench-secret-0123456789abcdef0123456789";
const PG: &str = "jwtd (PostgreSQL)";

/// A load on one server: its row's key, the server's pid, the URL and the scenario's arguments.
#[derive(Debug, Clone)]
struct Target {
    key: &'static str,
    pid: u32,
    url: String,
    args: Vec<String>,
}

fn target(key: &'static str, pid: u32, url: String, args: &[&str]) -> Target {
    Target { key, pid, url, args: args.iter().map(|s| (*s).to_owned()).collect() }
}

impl Target {
    fn with(mut self, more: &[String]) -> Self {
        self.args.extend_from_slice(more);
        self
    }
}

/// `["--flag=value", …]`: `=` because a random id or secret may begin with "-".
fn flags(pairs: &[(&str, &str)]) -> Vec<String> {
    pairs.iter().map(|(flag, value)| format!("--{flag}={value}")).collect()
}

/// What the scenarios share: the tools, and what the report is made of.
pub struct Bench<'a> {
    pub settings: &'a Settings,
    pub loadgen: &'a Loadgen<'a>,
    pub limits: &'a Limits<'a>,
    /// The limits the report lists (RS256 around the client_credentials scenarios, argon2id
    /// before each logins window).
    pub kept_limits: Vec<LimitsReport>,
    pub rows: &'a mut Vec<Row>,
    pub windows: Windows,
}

impl Bench<'_> {
    /// One window of `secs` on a target, `what` logged.
    fn measure(&self, target: &Target, what: &str, secs: f64) -> Result<LoadReport, BoxError> {
        let load = Load {
            label: target.key,
            url: target.url.clone(),
            secs,
            warmup: self.settings.warmup,
            watch_pid: Some(target.pid),
            args: target.args.clone(),
        };
        self.loadgen.run(what, &load)
    }

    /// One window of an alternating scenario.
    fn window(&self, target: &Target, what: &str, round: usize) -> Result<LoadReport, BoxError> {
        let what = format!("{what}, window {round} of {}", self.settings.rounds);
        self.measure(target, &what, self.settings.round_secs)
    }

    /// A single-window scenario, as a row.
    fn single(&mut self, target: &Target, scenario: &str, server: &str) -> Result<(), BoxError> {
        let load = self.measure(target, &format!("{scenario} on {server}"), self.settings.secs)?;
        self.rows.push(Row {
            key: target.key,
            scenario: scenario.to_owned(),
            server: server.to_owned(),
            load,
        });
        Ok(())
    }

    /// The row of several windows.
    fn combined(
        &self,
        key: &'static str,
        scenario: &str,
        server: &str,
        windows: &[LoadReport],
    ) -> Result<Row, BoxError> {
        let load = combine(windows).ok_or("no windows")?;
        let scenario = format!("{scenario}{}", median_of(self.settings.rounds));
        Ok(Row { key, scenario, server: server.to_owned(), load })
    }

    fn keep_limit(&mut self, limit: Limit, secs: f64) -> Result<LimitsReport, BoxError> {
        let measured = self.limits.measure(limit, secs)?;
        self.kept_limits.push(measured.clone());
        Ok(measured)
    }

    pub fn run(
        &mut self,
        pg: &Instance,
        sqlite: &Instance,
        peers: Option<&Peers>,
        clients: &Clients,
        db_url: &str,
    ) -> Result<(), BoxError> {
        let s = self.settings;
        let (rounds, conns, users) = (s.rounds, s.conns.to_string(), s.users.to_string());
        let token = pg.url("/oauth2/token");
        let cc = target(
            "cc_pg",
            pg.pid,
            token.clone(),
            &["--scenario", "post", "--body", &clients.cc_pg.token_form(), "-c", &conns],
        );
        self.keep_limit(Limit::Rs256, s.limit_secs)?;

        // client_credentials: jwtd against oidc-provider in alternating windows, jwtd first.
        let peer_post = ["--scenario", "post", "--body", PEER_FORM, "-c", &conns];
        if let Some(peers) = peers {
            let oidc =
                target("cc_oidc", peers.oidc.pid, format!("http://{}/token", peers.oidc.addr), &peer_post);
            for round in 1..=rounds {
                let jwtd = self.window(&cc, "client_credentials on jwtd (PostgreSQL)", round)?;
                self.windows.cc_jwtd.push(jwtd);
                let oidc = self.window(&oidc, "client_credentials on oidc-provider", round)?;
                self.windows.cc_oidc.push(oidc);
            }
            let row = self.combined("cc_pg", "client_credentials", PG, &self.windows.cc_jwtd)?;
            self.rows.push(row);
        } else {
            self.single(&cc, "client_credentials", PG)?;
        }
        let sqlite_form = clients.cc_sqlite.token_form();
        let on_sqlite = target(
            "cc_sqlite",
            sqlite.pid,
            sqlite.url("/oauth2/token"),
            &["--scenario", "post", "--body", &sqlite_form, "-c", &conns],
        );
        self.single(&on_sqlite, "client_credentials", "jwtd (SQLite)")?;
        if let Some(peers) = peers {
            let row =
                self.combined("cc_oidc", "client_credentials", "oidc-provider", &self.windows.cc_oidc)?;
            self.rows.push(row);
            let express = target(
                "cc_express",
                peers.express.pid,
                format!("http://{}/token", peers.express.addr),
                &peer_post,
            );
            self.single(&express, "client_credentials", "express-design")?;
        }
        self.keep_limit(Limit::Rs256, s.limit_secs)?;

        // JWKS: 200 with the body, 304 to If-None-Match, and oidc-provider's.
        let jwks_url = pg.url("/.well-known/jwks.json");
        let jwks = crate::http::get(pg.addr, "/.well-known/jwks.json")?;
        let if_none_match = format!("If-None-Match: {}", jwks.header("etag").ok_or("the JWKS has no ETag")?);
        self.single(&target("jwks_pg", pg.pid, jwks_url.clone(), &["-c", &conns]), "JWKS", PG)?;
        let not_modified =
            target("jwks_pg_304", pg.pid, jwks_url.clone(), &["-c", &conns, "-H", &if_none_match]);
        self.single(&not_modified, "JWKS, If-None-Match (304)", PG)?;
        if let Some(peers) = peers {
            let oidc = target(
                "jwks_oidc",
                peers.oidc.pid,
                format!("http://{}/jwks", peers.oidc.addr),
                &["-c", &conns],
            );
            self.single(&oidc, "JWKS", "oidc-provider")?;
        }

        let app = &clients.app;
        let user_args = flags(&[
            ("client-id", &app.client_id),
            ("client-secret", app.secret()),
            ("password", PASSWORD),
            ("users", &users),
        ]);
        // PostgreSQL's share: the backends serving jwtd's pool, grown to this load's size by a
        // short unmeasured run first, have their CPU time counted per request.
        let mut warm_up = vec!["--scenario".to_owned(), "refresh".to_owned(), "-c".to_owned(), conns.clone()];
        warm_up.extend_from_slice(&user_args);
        let load = Load {
            label: "pool-warm-up",
            url: token.clone(),
            secs: s.warmup,
            warmup: 0.0,
            watch_pid: None,
            args: warm_up,
        };
        self.loadgen.run("growing jwtd's pool (not measured)", &load)?;
        let db_args = setup::database_backends(db_url)?;

        // Rotations against jwtd's own client_credentials: alternating windows, the token first.
        let beside = Target { key: "cc_pg_beside", ..cc.clone() };
        let refresh = target("refresh_pg", pg.pid, token.clone(), &["--scenario", "refresh", "-c", &conns])
            .with(&user_args)
            .with(&db_args);
        for round in 1..=rounds {
            let token =
                self.window(&beside, "client_credentials on jwtd (PostgreSQL), beside refresh", round)?;
            self.windows.cc_beside.push(token);
            let rotation = self.window(&refresh, &format!("refresh rotation ({users} families)"), round)?;
            self.windows.refresh.push(rotation);
        }
        let row = self.combined(
            "cc_pg_beside",
            "client_credentials, beside the refresh windows",
            PG,
            &self.windows.cc_beside,
        )?;
        self.rows.push(row);
        let row = self.combined(
            "refresh_pg",
            &format!("refresh rotation ({users} families)"),
            PG,
            &self.windows.refresh,
        )?;
        let trip_rate = (row.load.rps.max(100.0) as u64).to_string();
        self.rows.push(row);
        // One database round trip in jwtd at the rate the rotations ran: /readyz is /healthz plus
        // exactly that round trip.
        let paced = ["-c", conns.as_str(), "--rate", trip_rate.as_str()];
        let healthz = target("healthz_paced", pg.pid, pg.url("/healthz"), &paced);
        self.single(&healthz, &format!("GET /healthz at the refresh rate ({trip_rate}/s)"), PG)?;
        let readyz = target("readyz_paced", pg.pid, pg.url("/readyz"), &paced);
        self.single(&readyz, "GET /readyz (one database round trip) at the refresh rate", PG)?;

        let web = &clients.web;
        let web_args = flags(&[
            ("client-id", &web.client_id),
            ("client-secret", web.secret()),
            ("redirect-uri", REDIRECT_URI),
            ("password", PASSWORD),
            ("users", &users),
        ]);
        let code_row = self.code_flow(pg, &web_args, &db_args)?;
        self.private_key_jwt_and_exchange(pg, clients, &db_args)?;

        // Logins against raw argon2id: alternating windows, the ceiling right before each.
        let login = target("login_pg", pg.pid, token.clone(), &["--scenario", "login", "-c", &conns])
            .with(&user_args)
            .with(&db_args);
        for round in 1..=rounds {
            let hashes = self.keep_limit(Limit::Argon2id, s.before_window())?.argon2id_hash_per_s;
            self.windows.login_argon.push(hashes);
            let logins = self.window(&login, "password grant (login)", round)?;
            self.windows.login.push(logins);
        }
        let row = self.combined("login_pg", "password grant (login)", PG, &self.windows.login)?;
        self.rows.push(row);

        // The sign-in form posted (a new session and a code each) against raw argon2id, as the logins.
        let sign_in = target(
            "signin_pg",
            pg.pid,
            pg.url("/oauth2/authorize"),
            &["--scenario", "sign-in", "-c", &conns],
        )
        .with(&web_args)
        .with(&db_args);
        for round in 1..=rounds {
            let hashes = self.limits.measure(Limit::Argon2id, s.before_window())?.argon2id_hash_per_s;
            self.windows.signin_argon.push(hashes);
            let posts = self.window(&sign_in, "sign-in form (POST /login)", round)?;
            self.windows.signin.push(posts);
        }
        let signin_row =
            self.combined("signin_pg", "sign-in form (POST /login)", PG, &self.windows.signin)?;
        // Their rows go beside jwtd's client_credentials (the first row), whatever the order they ran in.
        let at = self.rows.len().min(1);
        self.rows.splice(at..at, [code_row, signin_row]);

        self.jwks_during_a_flood(pg, &user_args)
    }

    /// Code-flow cycles (every connection a browser with its own PKCE verifier, signed in once
    /// before its window) against raw RS256 signing ÷ 2, a cycle signing an access token and an ID
    /// token: alternating windows, the signing rate right before each. Its row.
    fn code_flow(&mut self, pg: &Instance, web_args: &[String], db_args: &[String]) -> Result<Row, BoxError> {
        let conns = self.settings.conns.to_string();
        let flow = target(
            "code_pg",
            pg.pid,
            pg.url("/oauth2/authorize"),
            &["--scenario", "code-flow", "-c", &conns],
        )
        .with(web_args)
        .with(db_args);
        for round in 1..=self.settings.rounds {
            let signs = self.limits.measure(Limit::Rs256, self.settings.before_window())?.rs256_sign_per_s;
            self.windows.flow_bounds.push(signs.map(|r| (r / 2.0 * 10.0).round() / 10.0));
            let cycles = self.window(&flow, "authorization code flow with a live session", round)?;
            self.windows.flow.push(cycles);
        }
        self.combined(
            "code_pg",
            "authorization code flow with a live session (cycles: authorize + token)",
            PG,
            &self.windows.flow,
        )
    }

    /// `client_credentials` with `private_key_jwt` (per token one ES256 verification and one
    /// `jti` insert more than with a secret, and the load generator's signature on the same
    /// cores), the same with a DPoP proof instead (the same costs, for binding), and token
    /// exchange (the users log in before the window, not measured).
    fn private_key_jwt_and_exchange(
        &mut self,
        pg: &Instance,
        clients: &Clients,
        db_args: &[String],
    ) -> Result<(), BoxError> {
        let (conns, users) = (self.settings.conns.to_string(), self.settings.users.to_string());
        let token = pg.url("/oauth2/token");
        let key_path = clients.key_path.display().to_string();
        let key = target("cc_key", pg.pid, token.clone(), &["-c", &conns, "--scenario", "assertion"])
            .with(&flags(&[
                ("client-id", &clients.key.client_id),
                ("key", &key_path),
                ("audience", &pg.url("")),
            ]))
            .with(db_args);
        self.single(&key, "client_credentials with private_key_jwt", PG)?;
        // The secret-based request with a fresh DPoP proof each (RFC 9449): one ES256 verification
        // and one jti insert more per token, and the proof's signature on the same cores.
        let dpop = target("cc_dpop", pg.pid, token.clone(), &["-c", &conns, "--scenario", "dpop"])
            .with(&flags(&[
                ("body", &clients.cc_pg.token_form()),
                ("client-id", &clients.cc_pg.client_id),
                ("key", &key_path),
                ("audience", &token),
            ]))
            .with(db_args);
        self.single(&dpop, "client_credentials with a DPoP proof (ES256), bound tokens", PG)?;
        let (front, orders) = (&clients.front, &clients.orders);
        let exchange = target("exchange_pg", pg.pid, token, &["-c", &conns, "--scenario", "exchange"])
            .with(&flags(&[
                ("client-id", &front.client_id),
                ("client-secret", front.secret()),
                ("exchange-client-id", &orders.client_id),
                ("exchange-client-secret", orders.secret()),
                ("subject-resource", ORDERS_API),
                ("resource", PAYMENTS_API),
                ("password", PASSWORD),
                ("users", &users),
            ]))
            .with(db_args);
        self.single(&exchange, &format!("token exchange (RFC 8693) of user tokens ({users} live logins)"), PG)
    }

    /// The JWKS tail at a fixed rate alone and during a login flood: alternating windows; each
    /// flood runs from before its JWKS window's warm-up until after the window.
    fn jwks_during_a_flood(&mut self, pg: &Instance, user_args: &[String]) -> Result<(), BoxError> {
        let s = self.settings;
        let rate = JWKS_RATE.to_string();
        let alone = target(
            "jwks_paced",
            pg.pid,
            pg.url("/.well-known/jwks.json"),
            &["-c", JWKS_CONNS, "--rate", &rate],
        );
        let during = Target { key: "jwks_flood", ..alone.clone() };
        let mut flood_args =
            vec!["--scenario".to_owned(), "login".to_owned(), "-c".to_owned(), s.conns.to_string()];
        flood_args.extend_from_slice(user_args);
        let mut floods = Vec::new();
        for round in 1..=s.rounds {
            let window = self.window(&alone, &format!("JWKS at {JWKS_RATE}/s alone"), round)?;
            self.windows.jwks_alone.push(window);
            let flood = Load {
                label: "flood",
                url: pg.url("/oauth2/token"),
                secs: s.round_secs + s.warmup + 1.0,
                warmup: 0.0,
                watch_pid: None,
                args: flood_args.clone(),
            };
            let flood = self.loadgen.spawn(&flood)?;
            let window =
                self.window(&during, &format!("JWKS at {JWKS_RATE}/s during a password-grant flood"), round)?;
            self.windows.jwks_during.push(window);
            floods.push(self.loadgen.finish("flood", flood)?);
        }
        let rows = [
            self.combined(
                "jwks_paced",
                &format!("JWKS at {JWKS_RATE}/s, alone"),
                PG,
                &self.windows.jwks_alone,
            )?,
            self.combined(
                "jwks_flood",
                &format!("JWKS at {JWKS_RATE}/s, during a login flood"),
                PG,
                &self.windows.jwks_during,
            )?,
            self.combined("flood", "password grant (the flood itself)", PG, &floods)?,
        ];
        self.rows.extend(rows);
        Ok(())
    }
}
