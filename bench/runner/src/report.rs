//! The Markdown report (bench/RESULTS.md): the machine, the table of scenarios, the raw limits,
//! the alternating windows, the targets with their ceilings (`targets.rs`) and the notes people
//! wrote below `<!-- notes -->`, kept on a re-run. Pure: everything measured comes in a [`Run`].

use std::fmt::Write as _;

use jwtd_limits::LimitsReport;
use jwtd_loadgen::LoadReport;

use crate::Settings;
use crate::stats::median_of_known;
use crate::targets;

/// The line after which RESULTS.md holds what people wrote; kept on a re-run.
pub const NOTES_MARK: &str = "<!-- notes -->";

/// One row of the table: a scenario on a server (`key` names it for the targets).
#[derive(Debug, Clone)]
pub struct Row {
    pub key: &'static str,
    pub scenario: String,
    pub server: String,
    pub load: LoadReport,
}

/// The facts about this machine and these builds that the report opens with.
#[derive(Debug, Clone, Default)]
pub struct Machine {
    pub cores: usize,
    pub cpu: String,
    /// "24 GiB"
    pub memory: String,
    pub kernel: String,
    pub avx512_ifma: bool,
    pub load_average: String,
    /// The short commit, and whether `src` has uncommitted changes.
    pub git: String,
    pub postgres: String,
    pub node: String,
    /// The peers' packages that float below their pinned top level (None: peers skipped).
    pub peers: Option<String>,
}

/// Each alternating scenario's windows, in the order they ran (a pair shares its index).
#[derive(Debug, Clone, Default)]
pub struct Windows {
    pub cc_jwtd: Vec<LoadReport>,
    pub cc_oidc: Vec<LoadReport>,
    pub cc_beside: Vec<LoadReport>,
    pub refresh: Vec<LoadReport>,
    pub login: Vec<LoadReport>,
    /// argon2id hashes/s measured right before each logins window.
    pub login_argon: Vec<Option<f64>>,
    pub flow: Vec<LoadReport>,
    /// Raw RS256 signs/s ÷ 2 measured right before each code-flow window.
    pub flow_bounds: Vec<Option<f64>>,
    pub signin: Vec<LoadReport>,
    /// argon2id hashes/s measured right before each sign-in window.
    pub signin_argon: Vec<Option<f64>>,
    pub jwks_alone: Vec<LoadReport>,
    pub jwks_during: Vec<LoadReport>,
}

/// Everything one run measured.
#[derive(Debug, Clone)]
pub struct Run {
    pub settings: Settings,
    /// "2026-12-03 07:41 UTC"
    pub date: String,
    pub machine: Machine,
    pub rows: Vec<Row>,
    /// Every limits measurement, in the order taken.
    pub limits: Vec<LimitsReport>,
    pub windows: Windows,
    /// What followed the notes mark in the previous report (the mark included).
    pub notes: Option<String>,
}

impl Run {
    /// The row of `key`'s scenario.
    pub fn load(&self, key: &str) -> Option<&LoadReport> {
        self.rows.iter().find(|row| row.key == key).map(|row| &row.load)
    }

    pub fn rps(&self, key: &str) -> Option<f64> {
        self.load(key).map(|load| load.rps)
    }

    pub fn peers(&self) -> bool {
        self.machine.peers.is_some()
    }

    /// The higher of the RS256 signing measurements (noise only ever lowers a ceiling).
    pub fn sign_rate(&self) -> Option<f64> {
        self.limits.iter().filter_map(|l| l.rs256_sign_per_s).reduce(f64::max)
    }

    fn verify_rate(&self) -> Option<f64> {
        self.limits.iter().filter_map(|l| l.rs256_verify_per_s).reduce(f64::max)
    }

    /// The median of the argon2id rates measured before the logins windows.
    pub fn argon_rate(&self) -> Option<f64> {
        median_of_known(&self.windows.login_argon)
    }

    /// The median of the raw RS256 signs/s ÷ 2 measured before the code-flow windows.
    pub fn flow_bound(&self) -> Option<f64> {
        median_of_known(&self.windows.flow_bounds)
    }

    pub fn signin_argon_rate(&self) -> Option<f64> {
        median_of_known(&self.windows.signin_argon)
    }
}

/// ", median of N windows" for a row combined from N windows (nothing for one).
pub fn median_of(rounds: usize) -> String {
    if rounds > 1 { format!(", median of {rounds} windows") } else { String::new() }
}

/// `value` to `places`, or "-" when unknown.
pub fn show(value: Option<f64>, places: usize) -> String {
    value.map_or_else(|| "-".to_owned(), |v| format!("{v:.places$}"))
}

/// A CPU time per request: "0.3611 ms", or "-".
pub fn cpu_ms(value: Option<f64>) -> String {
    value.map_or_else(|| "-".to_owned(), |v| format!("{v:.4} ms"))
}

/// Resident memory: "17.2 MiB", or "-" when none was sampled.
pub fn mib(kib: u64) -> String {
    if kib == 0 { "-".to_owned() } else { format!("{:.1} MiB", kib as f64 / 1024.0) }
}

/// The whole report.
pub fn render(run: &Run) -> String {
    let mut out = String::new();
    header(&mut out, run);
    table(&mut out, run);
    limits(&mut out, run);
    if run.settings.rounds > 1 {
        windows(&mut out, run);
    }
    targets::render(&mut out, run);
    if !run.peers() {
        out.push_str("\nThe peers were skipped (no node/npm, or their install failed).\n");
    }
    if let Some(notes) = &run.notes {
        out.push('\n');
        out.push_str(notes);
    }
    out
}

/// What follows the notes mark in a previous report (from the mark on), if it has one.
pub fn notes_of(previous: &str) -> Option<String> {
    let mut offset = 0;
    for line in previous.split_inclusive('\n') {
        if line.starts_with(NOTES_MARK) {
            return previous.get(offset..).map(str::to_owned);
        }
        offset += line.len();
    }
    None
}

/// `report` with the section `name` (between `<!-- NAME -->` and `<!-- /NAME -->`, marks
/// included) replaced by `body`, or, the first time, put right below the notes mark (or at the
/// end without one). The growth and soak commands write their sections so; being below the notes
/// mark, a full run keeps them.
pub fn with_section(report: &str, name: &str, body: &str) -> String {
    let (open, close) = (format!("<!-- {name} -->"), format!("<!-- /{name} -->"));
    let section = format!("{open}\n{}\n{close}\n", body.trim_end());
    let line_start = |mark: &str| {
        let mut offset = 0;
        for line in report.split_inclusive('\n') {
            if line.trim_end() == mark {
                return Some((offset, offset + line.len()));
            }
            offset += line.len();
        }
        None
    };
    if let (Some((start, _)), Some((_, end))) = (line_start(&open), line_start(&close))
        && start < end
    {
        return format!("{}{section}{}", &report[..start], &report[end..]);
    }
    match line_start(NOTES_MARK) {
        Some((_, after)) => format!("{}\n{section}{}", &report[..after], &report[after..]),
        None => format!("{}\n{NOTES_MARK}\n\n{section}", report.trim_end()),
    }
}

/// Replaces (or adds) the section `name` of the report at `path` (see [`with_section`]).
pub fn write_section(path: &std::path::Path, name: &str, body: &str) -> std::io::Result<()> {
    let report = std::fs::read_to_string(path).unwrap_or_default();
    std::fs::write(path, with_section(&report, name, body))
}

fn header(out: &mut String, run: &Run) {
    let (s, m) = (&run.settings, &run.machine);
    out.push_str(if s.quick {
        "# jwtd benchmark (--quick smoke run: debug build, ~1 s per scenario; numbers mean nothing)\n\n"
    } else {
        "# jwtd benchmark results\n\n"
    });
    let _ = writeln!(
        out,
        "Generated by `bench/run.sh{}` (see bench/README.md for method).\n",
        if s.quick { " --quick" } else { "" }
    );
    let _ = writeln!(out, "- date: {}", run.date);
    let ifma = if m.avx512_ifma { ", AVX-512 IFMA (fast RSA in aws-lc and OpenSSL alike)" } else { "" };
    let _ = writeln!(out, "- machine: {} cores, {}, {}, Linux {}{ifma}", m.cores, m.cpu, m.memory, m.kernel);
    let _ = writeln!(out, "- load average at the end: {} (the machine is shared)", m.load_average);
    let _ = writeln!(
        out,
        "- jwtd: {} build, git {}; PostgreSQL {}; node {}",
        s.profile(),
        m.git,
        m.postgres,
        m.node
    );
    if let Some(peers) = &m.peers {
        let _ = writeln!(out, "- peers: {peers}");
    }
    let _ = writeln!(
        out,
        "- load: one jwtd-loadgen thread, {} keep-alive connections (closed loop) unless paced, {} s warm-up, {} s measured\n",
        s.conns, s.warmup, s.secs
    );
}

fn table(out: &mut String, run: &Run) {
    out.push_str(
        "| scenario | server | req/s | p50 | p99 | peak RSS | server CPU/req | PostgreSQL CPU/req | load generator CPU/req | errors |\n\
         | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n",
    );
    for Row { scenario, server, load, .. } in &run.rows {
        let _ = writeln!(
            out,
            "| {scenario} | {server} | {:.1} | {:.3} ms | {:.3} ms | {} | {} | {} | {} | {} |",
            load.rps,
            load.p50_ms,
            load.p99_ms,
            mib(load.peak_rss_kib),
            cpu_ms(load.server_cpu_ms_per_req),
            cpu_ms(load.db_cpu_ms_per_req),
            cpu_ms(load.client_cpu_ms_per_req),
            load.errors
        );
    }
    out.push_str(
        "\nCPU/req: CPU time of the server process (with its workers), of the PostgreSQL backends serving it or of the\n\
         load generator (which shares the cores), in the measured window, per successful request (from /proc, 10 ms ticks).\n\n",
    );
}

fn limits(out: &mut String, run: &Run) {
    let first = run.limits.first();
    let seen: Vec<String> = run
        .limits
        .iter()
        .map(|l| {
            format!(
                "{}/{}/{}",
                show(l.rs256_sign_per_s, 1),
                show(l.rs256_verify_per_s, 1),
                show(l.argon2id_hash_per_s, 2)
            )
        })
        .collect();
    let _ = writeln!(
        out,
        "Raw limits on all {} cores (jwtd-limits, no HTTP, no database):\n\
         RS256 sign {}/s and verify {}/s (aws-lc-rs, 2048-bit, {}-byte message);\n\
         argon2id hash {}/s (argon2 0.6, m=19456 KiB, t=2, p=1).\n\
         RS256: the higher of two measurements, right before and after the client_credentials scenarios; argon2id: the\n\
         median of {}, each right before a logins window (sign/verify/hash, in order: {}).",
        first.map_or_else(|| "-".to_owned(), |l| l.threads.to_string()),
        show(run.sign_rate(), 1),
        show(run.verify_rate(), 1),
        first.map_or_else(|| "-".to_owned(), |l| l.message_len.to_string()),
        show(run.argon_rate(), 2),
        run.settings.rounds,
        seen.join("; ")
    );
}

/// "a1/b1, a2/b2, …" of two sides' values, pair by pair.
pub fn pairs(a: &[String], b: &[String]) -> String {
    a.iter()
        .enumerate()
        .map(|(i, a)| format!("{a}/{}", b.get(i).map_or("-", String::as_str)))
        .collect::<Vec<_>>()
        .join(", ")
}

fn windows(out: &mut String, run: &Run) {
    let w = &run.windows;
    let rps = |loads: &[LoadReport]| loads.iter().map(|l| format!("{:.1}", l.rps)).collect::<Vec<_>>();
    let p99 = |loads: &[LoadReport]| loads.iter().map(|l| format!("{:.3}", l.p99_ms)).collect::<Vec<_>>();
    let rates = |rates: &[Option<f64>], places| rates.iter().map(|r| show(*r, places)).collect::<Vec<_>>();
    let _ = writeln!(
        out,
        "\nAlternating windows of {} s, in order (their medians are the rows above; each ratio below is the\n\
         median of its pairs' ratios):",
        run.settings.round_secs
    );
    if run.peers() {
        let _ = writeln!(
            out,
            "client_credentials req/s, jwtd (PostgreSQL) / oidc-provider: {};",
            pairs(&rps(&w.cc_jwtd), &rps(&w.cc_oidc))
        );
    }
    let _ = writeln!(
        out,
        "refresh rotations/s / client_credentials req/s, jwtd (PostgreSQL): {};\n\
         logins/s / raw argon2id/s: {};\n\
         code-flow cycles/s / raw RS256 signs/s ÷ 2: {};\n\
         sign-in form posts/s / raw argon2id/s: {};\n\
         JWKS p99 during the flood / alone (ms): {}.",
        pairs(&rps(&w.refresh), &rps(&w.cc_beside)),
        pairs(&rps(&w.login), &rates(&w.login_argon, 2)),
        pairs(&rps(&w.flow), &rates(&w.flow_bounds, 1)),
        pairs(&rps(&w.signin), &rates(&w.signin_argon, 2)),
        pairs(&p99(&w.jwks_during), &p99(&w.jwks_alone)),
    );
}
