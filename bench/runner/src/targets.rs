//! The targets table (PASS/MISS, or "not judged" in a quick run) and the sentences under it that
//! say what this machine's cores allow at most (bench/README.md, "Targets").

use jwtd_loadgen::LoadReport;

use crate::judge::{self, Goal, Verdict};
use crate::report::{Run, cpu_ms, mib, show};
use crate::stats::paired_median;

/// What a row of the targets table compares.
#[derive(Debug, Clone, PartialEq)]
pub struct Target {
    pub name: String,
    pub measured: String,
    pub ratio: Option<f64>,
    /// `None`: reported against its ceiling without a goal.
    pub judged: Option<(Goal, Verdict)>,
}

impl Target {
    fn judged(name: String, measured: String, ratio: Option<f64>, goal: Goal, ceiling: Option<f64>) -> Self {
        Self { name, measured, ratio, judged: Some((goal, judge::verdict(ratio, goal, ceiling))) }
    }

    fn bounded(name: String, measured: String, ratio: Option<f64>) -> Self {
        Self { name, measured, ratio, judged: None }
    }

    /// The table's row; a quick run judges nothing.
    pub fn row(&self, quick: bool) -> String {
        let (goal, result) = match (&self.judged, quick) {
            (Some((goal, verdict)), false) => (goal.to_string(), verdict.to_string()),
            (Some((goal, verdict)), true) => (goal.to_string(), format!("({verdict}, not judged)")),
            (None, false) => ("-".to_owned(), "no goal".to_owned()),
            (None, true) => ("-".to_owned(), "(not judged)".to_owned()),
        };
        format!("| {} | {} | {} | {goal} | {result} |", self.name, self.measured, show(self.ratio, 2))
    }
}

fn rps_of(loads: &[LoadReport]) -> Vec<Option<f64>> {
    loads.iter().map(|l| Some(l.rps)).collect()
}

fn paired(a: &[Option<f64>], b: &[Option<f64>]) -> Option<f64> {
    paired_median(a, b).map(judge::round2)
}

/// The highest sampled RSS over the given rows (0: none sampled).
fn peak_of(run: &Run, keys: &[&str]) -> u64 {
    keys.iter().filter_map(|key| run.load(key)).map(|l| l.peak_rss_kib).max().unwrap_or(0)
}

fn token_ceiling(run: &Run) -> judge::TokenCeiling {
    let client = run.load("cc_pg").and_then(|l| l.client_cpu_ms_per_req);
    judge::token_ceiling(run.machine.cores, run.sign_rate(), client, run.rps("cc_oidc"))
}

/// Rotations against the `client_credentials` windows paired with them.
fn rotation_ceiling(run: &Run) -> judge::RotationCeiling {
    let cpu = |key: &str, f: fn(&LoadReport) -> Option<f64>| run.load(key).and_then(f);
    let trip = judge::round_trip_ms(
        cpu("readyz_paced", |l| l.server_cpu_ms_per_req),
        cpu("healthz_paced", |l| l.server_cpu_ms_per_req),
    );
    let parts = [
        cpu("cc_pg_beside", |l| l.server_cpu_ms_per_req),
        trip,
        cpu("refresh_pg", |l| l.db_cpu_ms_per_req),
        cpu("refresh_pg", |l| l.client_cpu_ms_per_req),
    ];
    judge::rotation_ceiling(run.machine.cores, parts, run.rps("cc_pg_beside"))
}

/// The targets, in the report's order.
pub fn targets(run: &Run) -> Vec<Target> {
    let w = &run.windows;
    let rps = |key| show(run.rps(key), 1);
    let paired_text = if run.settings.rounds > 1 {
        format!(" (median of {} paired windows' ratios)", run.settings.rounds)
    } else {
        String::new()
    };
    let name = |text: &str| format!("{text}{paired_text}");
    let (sign_rate, argon_rate) = (run.sign_rate(), run.argon_rate());
    let mut out = Vec::new();
    if run.peers() {
        out.push(Target::judged(
            name("client_credentials vs oidc-provider"),
            format!("{} vs {} req/s", rps("cc_pg"), rps("cc_oidc")),
            paired(&rps_of(&w.cc_jwtd), &rps_of(&w.cc_oidc)),
            Goal::AtLeast(2.0, 1),
            token_ceiling(run).ratio,
        ));
        out.push(Target::judged(
            "client_credentials vs express-design".into(),
            format!("{} vs {} req/s", rps("cc_pg"), rps("cc_express")),
            judge::ratio(run.rps("cc_pg"), run.rps("cc_express")),
            Goal::AtLeast(4.0, 1),
            None,
        ));
    }
    out.push(Target::judged(
        "client_credentials vs raw RS256 signing".into(),
        format!("{} vs {} /s", rps("cc_pg"), show(sign_rate, 1)),
        judge::ratio(run.rps("cc_pg"), sign_rate),
        Goal::AtLeast(0.75, 2),
        None,
    ));
    if run.peers() {
        out.push(Target::judged(
            "JWKS vs oidc-provider's JWKS".into(),
            format!("{} vs {} req/s", rps("jwks_pg"), rps("jwks_oidc")),
            judge::ratio(run.rps("jwks_pg"), run.rps("jwks_oidc")),
            Goal::AtLeast(3.0, 1),
            None,
        ));
    }
    out.push(Target::judged(
        name("refresh rotations vs own client_credentials (PostgreSQL)"),
        format!("{} vs {} /s", rps("refresh_pg"), rps("cc_pg_beside")),
        paired(&rps_of(&w.refresh), &rps_of(&w.cc_beside)),
        Goal::AtLeast(0.60, 2),
        rotation_ceiling(run).ratio,
    ));
    out.push(Target::judged(
        name("password logins vs raw argon2id"),
        format!("{} vs {} /s", rps("login_pg"), show(argon_rate, 2)),
        paired(&rps_of(&w.login), &w.login_argon),
        Goal::AtLeast(0.85, 2),
        None,
    ));
    out.push(Target::bounded(
        name("code flow cycles vs raw RS256 signs/2"),
        format!("{} vs {} /s", rps("code_pg"), show(run.flow_bound(), 1)),
        paired(&rps_of(&w.flow), &w.flow_bounds),
    ));
    out.push(Target::bounded(
        name("sign-in form posts vs raw argon2id"),
        format!("{} vs {} /s", rps("signin_pg"), show(run.signin_argon_rate(), 2)),
        paired(&rps_of(&w.signin), &w.signin_argon),
    ));
    out.push(Target::bounded(
        "client_credentials with private_key_jwt vs with a secret (PostgreSQL)".into(),
        format!("{} vs {} /s", rps("cc_key"), rps("cc_pg")),
        judge::ratio(run.rps("cc_key"), run.rps("cc_pg")),
    ));
    out.push(Target::bounded(
        "client_credentials with a DPoP proof vs without (PostgreSQL)".into(),
        format!("{} vs {} /s", rps("cc_dpop"), rps("cc_pg")),
        judge::ratio(run.rps("cc_dpop"), run.rps("cc_pg")),
    ));
    out.push(Target::bounded(
        "token exchange vs client_credentials (PostgreSQL)".into(),
        format!("{} vs {} /s", rps("exchange_pg"), rps("cc_pg")),
        judge::ratio(run.rps("exchange_pg"), run.rps("cc_pg")),
    ));
    let p99 = |key| show(run.load(key).map(|l| l.p99_ms), 3);
    let p99_of = |loads: &[LoadReport]| loads.iter().map(|l| Some(l.p99_ms)).collect::<Vec<_>>();
    out.push(Target::judged(
        name("JWKS p99 during login flood vs alone"),
        format!("{} vs {} ms", p99("jwks_flood"), p99("jwks_paced")),
        paired(&p99_of(&w.jwks_during), &p99_of(&w.jwks_alone)),
        Goal::AtMost(3.0, 1),
        None,
    ));
    if run.peers() {
        let jwtd = peak_of(
            run,
            &[
                "cc_pg",
                "cc_pg_beside",
                "jwks_pg",
                "jwks_pg_304",
                "refresh_pg",
                "login_pg",
                "code_pg",
                "cc_key",
                "cc_dpop",
                "exchange_pg",
                "signin_pg",
                "jwks_paced",
                "jwks_flood",
            ],
        );
        let oidc = peak_of(run, &["cc_oidc", "jwks_oidc"]);
        out.push(Target::judged(
            "jwtd peak RSS (any load) vs oidc-provider's (all workers)".into(),
            format!("{} vs {}", mib(jwtd), mib(oidc)),
            judge::ratio(Some(jwtd as f64), Some(oidc as f64)),
            Goal::AtMost(0.5, 1),
            None,
        ));
    }
    out
}

/// The targets table and the ceiling sentences.
pub fn render(out: &mut String, run: &Run) {
    out.push_str("\n| target | measured | ratio | goal | result |\n| --- | --- | ---: | ---: | --- |\n");
    for target in targets(run) {
        out.push_str(&target.row(run.settings.quick));
        out.push('\n');
    }
    out.push('\n');
    for sentence in ceilings(run) {
        out.push_str(&sentence);
        out.push('\n');
    }
}

/// What this machine allows at most, from the run's own CPU times.
pub fn ceilings(run: &Run) -> Vec<String> {
    let cores = run.machine.cores;
    let cpu = |key: &str, f: fn(&LoadReport) -> Option<f64>| run.load(key).and_then(f);
    let server = |key: &str| cpu(key, |l| l.server_cpu_ms_per_req);
    let db = |key: &str| cpu(key, |l| l.db_cpu_ms_per_req);
    let client = |key: &str| cpu(key, |l| l.client_cpu_ms_per_req);
    let rps = |key| show(run.rps(key), 1);
    let mut out = Vec::new();
    if run.peers() {
        let token = token_ceiling(run);
        out.push(format!(
            "client_credentials vs oidc-provider on this machine: a server whose only cost were the RS256 signature would \
             issue at most {cores} cores / (one signature's CPU, {cores} cores / raw signing rate, + the load generator's \
             CPU per request: {} + {} ms) = {} tokens/s, {}x oidc-provider's {}/s; jwtd spends {} ms per token.",
            show(token.signature_ms, 4),
            show(token.client_ms, 4),
            show(token.most, 1),
            show(token.ratio, 2),
            rps("cc_oidc"),
            show(server("cc_pg"), 4),
        ));
    }
    let rotation = rotation_ceiling(run);
    let parts = rotation.parts.iter().map(|p| show(*p, 4)).collect::<Vec<_>>().join(" + ");
    out.push(format!(
        "Refresh rotations on this machine, with PostgreSQL on the same cores: at most {cores} cores / (jwtd's CPU per \
         client_credentials token + jwtd's CPU for one database round trip + PostgreSQL's CPU per rotation + the load \
         generator's CPU per rotation: {parts} ms) = {} rotations/s, {} of the client_credentials windows beside them ({}/s).",
        show(rotation.most, 1),
        show(rotation.ratio, 2),
        rps("cc_pg_beside"),
    ));
    // With PostgreSQL on a host of its own (production), only jwtd's CPU counts.
    out.push(format!(
        "With PostgreSQL on a host of its own, jwtd's cores would rotate at {} (jwtd's CPU per client_credentials token / \
         per rotation: {} / {} ms) of their client_credentials rate.",
        show(judge::ratio(server("cc_pg_beside"), server("refresh_pg")), 2),
        show(server("cc_pg_beside"), 4),
        show(server("refresh_pg"), 4),
    ));
    // Two signatures' CPU at the rate measured beside the code-flow windows, against a cycle's.
    let flow_bound = run.flow_bound();
    out.push(format!(
        "Code flow: each cycle signs an access token and an ID token, so at most raw signing / 2 = {} cycles/s; it ran \
         at {}/s. Per cycle jwtd spent {} of CPU (the two signatures alone: {} ms), PostgreSQL {}, the load generator {}.",
        show(flow_bound, 1),
        rps("code_pg"),
        cpu_ms(server("code_pg")),
        show(judge::cpu_ms_per_op(cores, flow_bound), 4),
        cpu_ms(db("code_pg")),
        cpu_ms(client("code_pg")),
    ));
    out.push(format!(
        "client_credentials with private_key_jwt: per token jwtd spent {} of CPU (with a secret: {}; the difference is \
         the ES256 verification and the assertion's parsing), PostgreSQL {} (the jti insert; a secret's token writes \
         nothing), the load generator {} (signing the assertion); at most {cores} cores / their sum per token on this machine.",
        cpu_ms(server("cc_key")),
        cpu_ms(server("cc_pg")),
        cpu_ms(db("cc_key")),
        cpu_ms(client("cc_key")),
    ));
    out.push(format!(
        "client_credentials with a DPoP proof: per token jwtd spent {} of CPU (without one: {}; the difference is the \
         proof's ES256 verification and parsing), PostgreSQL {} (the proof's jti insert; a bearer token writes nothing), \
         the load generator {} (signing the proof).",
        cpu_ms(server("cc_dpop")),
        cpu_ms(server("cc_pg")),
        cpu_ms(db("cc_dpop")),
        cpu_ms(client("cc_dpop")),
    ));
    // Every consumer of the cores counted (PostgreSQL and the load generator share them).
    let exchange = [server("exchange_pg"), db("exchange_pg"), client("exchange_pg")];
    out.push(format!(
        "Token exchange: per exchange jwtd spent {} of CPU (a client_credentials token: {}; the difference is the subject \
         token's RS256 verification, the client lookups and the transaction's round trip), PostgreSQL {} (the refresh \
         family read, the revocation lookup and the audit insert; a client_credentials token writes nothing), the load \
         generator {}; at most {cores} cores / their sum ({} ms) = {} exchanges/s on this machine, and it ran at {}/s.",
        cpu_ms(server("exchange_pg")),
        cpu_ms(server("cc_pg")),
        cpu_ms(db("exchange_pg")),
        cpu_ms(client("exchange_pg")),
        exchange.iter().map(|p| show(*p, 4)).collect::<Vec<_>>().join(" + "),
        show(judge::cores_allow(cores, &exchange), 1),
        rps("exchange_pg"),
    ));
    out
}
