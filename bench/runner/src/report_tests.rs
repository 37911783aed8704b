//! The report's rendering (report.rs, targets.rs) on a made-up run.

use std::collections::BTreeMap;

use jwtd_limits::LimitsReport;
use jwtd_loadgen::LoadReport;

use crate::Settings;
use crate::report::{Machine, Row, Run, Windows, notes_of, render, with_section};
use crate::targets::targets;

fn load(rps: f64, p99_ms: f64, rss_kib: u64, cpu: [Option<f64>; 3]) -> LoadReport {
    LoadReport {
        label: "x".into(),
        requests: 100,
        ok: 100,
        errors: 0,
        io_errors: 0,
        secs: 4.0,
        rps,
        p50_ms: p99_ms / 2.0,
        p90_ms: p99_ms / 1.5,
        p99_ms,
        max_ms: p99_ms * 2.0,
        peak_rss_kib: rss_kib,
        server_cpu_ms_per_req: cpu[0],
        db_cpu_ms_per_req: cpu[1],
        client_cpu_ms_per_req: cpu[2],
        statuses: BTreeMap::from([(200, 100)]),
    }
}

fn row(key: &'static str, scenario: &str, load: LoadReport) -> Row {
    Row { key, scenario: scenario.into(), server: "jwtd (PostgreSQL)".into(), load }
}

fn limits(sign: Option<f64>, argon: Option<f64>) -> LimitsReport {
    LimitsReport {
        threads: 2,
        message_len: 415,
        rs256_sign_per_s: sign,
        rs256_verify_per_s: sign.map(|s| s * 10.0),
        argon2id_hash_per_s: argon,
    }
}

/// A full run with peers whose numbers are RESULTS.md's (two windows a side).
fn full_run() -> Run {
    let cc = load(4971.2, 11.399, 17_600, [Some(0.3611), None, Some(0.0302)]);
    let rows = vec![
        row("cc_pg", "client_credentials, median of 2 windows", cc.clone()),
        row("code_pg", "code flow", load(608.5, 93.183, 60_000, [Some(1.4749), Some(1.4462), Some(0.0698)])),
        row("signin_pg", "sign-in", load(75.2, 635.9, 61_000, [Some(24.186), Some(1.6263), Some(0.0997)])),
        row(
            "cc_oidc",
            "client_credentials",
            load(2227.5, 32.175, 336_589, [Some(0.8418), None, Some(0.0307)]),
        ),
        row(
            "cc_express",
            "client_credentials",
            load(905.5, 70.591, 262_451, [Some(2.085), None, Some(0.0607)]),
        ),
        row("jwks_pg", "JWKS", load(64294.1, 2.459, 17_500, [Some(0.0148), None, Some(0.01)])),
        row("jwks_oidc", "JWKS", load(15582.2, 12.087, 288_000, [Some(0.103), None, Some(0.018)])),
        row("cc_pg_beside", "beside", load(5454.8, 11.167, 58_000, [Some(0.335), None, Some(0.0263)])),
        row(
            "refresh_pg",
            "refresh",
            load(2074.2, 31.903, 58_600, [Some(0.4725), Some(0.3782), Some(0.0325)]),
        ),
        row("healthz_paced", "healthz", load(2073.8, 0.295, 58_000, [Some(0.0395), None, Some(0.0453)])),
        row("readyz_paced", "readyz", load(2074.1, 1.11, 58_000, [Some(0.1123), None, Some(0.0453)])),
        row("cc_key", "key", load(2769.3, 25.055, 60_900, [Some(0.499), Some(0.1332), Some(0.0538)])),
        row("cc_dpop", "dpop", load(3100.0, 20.5, 60_900, [Some(0.45), Some(0.12), Some(0.05)])),
        row(
            "exchange_pg",
            "exchange",
            load(1355.6, 48.799, 61_500, [Some(0.7982), Some(0.5451), Some(0.0406)]),
        ),
        row("login_pg", "login", load(78.5, 538.111, 61_500, [Some(24.0127), Some(0.8333), Some(0.1042)])),
        row("jwks_paced", "alone", load(1000.0, 0.727, 61_600, [Some(0.0775), None, Some(0.0775)])),
        row("jwks_flood", "during", load(1000.0, 2.979, 61_600, [Some(1.8125), None, Some(0.0725)])),
        row("flood", "flood", load(72.0, 634.367, 0, [None, None, Some(0.0794)])),
    ];
    let windows = Windows {
        cc_jwtd: vec![load(4971.2, 1.0, 0, [None; 3]), load(5395.5, 1.0, 0, [None; 3])],
        cc_oidc: vec![load(2114.2, 1.0, 0, [None; 3]), load(2440.0, 1.0, 0, [None; 3])],
        cc_beside: vec![load(5454.8, 1.0, 0, [None; 3]), load(5264.5, 1.0, 0, [None; 3])],
        refresh: vec![load(2153.2, 1.0, 0, [None; 3]), load(2093.2, 1.0, 0, [None; 3])],
        login: vec![load(78.5, 1.0, 0, [None; 3]), load(72.0, 1.0, 0, [None; 3])],
        login_argon: vec![Some(95.56), Some(85.82)],
        flow: vec![load(608.5, 1.0, 0, [None; 3]), load(552.2, 1.0, 0, [None; 3])],
        flow_bounds: vec![Some(3441.6), Some(2892.9)],
        signin: vec![load(77.8, 1.0, 0, [None; 3]), load(75.0, 1.0, 0, [None; 3])],
        signin_argon: vec![Some(94.01), Some(89.03)],
        jwks_alone: vec![load(1000.0, 1.383, 0, [None; 3]), load(1000.0, 0.584, 0, [None; 3])],
        jwks_during: vec![load(1000.0, 1.107, 0, [None; 3]), load(1000.0, 2.145, 0, [None; 3])],
    };
    Run {
        settings: Settings { rounds: 2, ..Settings::full() },
        date: "2026-12-03 07:41 UTC".into(),
        machine: Machine {
            cores: 2,
            cpu: "AMD EPYC".into(),
            memory: "24 GiB".into(),
            kernel: "6.18".into(),
            avx512_ifma: true,
            load_average: "2.27 3.03 2.84".into(),
            git: "abec8f2".into(),
            postgres: "15.20".into(),
            node: "v20.20.2".into(),
            peers: Some("express@5.3.0 oidc-provider@9.13.3".into()),
        },
        rows,
        limits: vec![
            limits(Some(6908.6), None),
            limits(Some(5983.7), None),
            limits(None, Some(95.56)),
            limits(None, Some(85.82)),
        ],
        windows,
        notes: Some("<!-- notes -->\n\nA finding.\n".into()),
    }
}

/// The line of the report that starts with `start`.
fn line<'a>(report: &'a str, start: &str) -> &'a str {
    report.lines().find(|l| l.starts_with(start)).unwrap_or_else(|| panic!("no line {start:?} in\n{report}"))
}

#[test]
fn the_table_has_a_row_per_scenario_in_order_with_its_units() {
    let mut run = full_run();
    run.rows[0].load.p50_ms = 6.315;
    let report = render(&run);
    assert!(report.contains(
        "| client_credentials, median of 2 windows | jwtd (PostgreSQL) | 4971.2 | 6.315 ms | 11.399 ms | 17.2 MiB \
         | 0.3611 ms | - | 0.0302 ms | 0 |\n| code flow |"
    ));
    // No RSS sampled, no CPU known: "-".
    assert_eq!(
        line(&report, "| flood |"),
        "| flood | jwtd (PostgreSQL) | 72.0 | 317.183 ms | 634.367 ms | - | - | - | 0.0794 ms | 0 |"
    );
    let table_rows = report.lines().filter(|l| l.ends_with("| 0 |")).count();
    assert_eq!(table_rows, 18);
}

#[test]
fn the_header_names_the_machine_and_the_build() {
    let report = render(&full_run());
    assert!(report.starts_with(
        "# jwtd benchmark results\n\nGenerated by `bench/run.sh` (see bench/README.md for method).\n"
    ));
    assert_eq!(
        line(&report, "- machine:"),
        "- machine: 2 cores, AMD EPYC, 24 GiB, Linux 6.18, AVX-512 IFMA (fast RSA in aws-lc and OpenSSL alike)"
    );
    assert_eq!(
        line(&report, "- jwtd:"),
        "- jwtd: release build, git abec8f2; PostgreSQL 15.20; node v20.20.2"
    );
    assert_eq!(line(&report, "- peers:"), "- peers: express@5.3.0 oidc-provider@9.13.3");
    assert_eq!(
        line(&report, "- load:"),
        "- load: one jwtd-loadgen thread, 32 keep-alive connections (closed loop) unless paced, 2 s warm-up, 10 s measured"
    );
}

#[test]
fn the_limits_are_the_best_signing_rate_and_the_median_hashing_rate() {
    let report = render(&full_run());
    assert_eq!(
        line(&report, "RS256 sign"),
        "RS256 sign 6908.6/s and verify 69086.0/s (aws-lc-rs, 2048-bit, 415-byte message);"
    );
    assert_eq!(line(&report, "argon2id hash"), "argon2id hash 90.69/s (argon2 0.6, m=19456 KiB, t=2, p=1).");
    assert!(
        report.contains(
            "(sign/verify/hash, in order: 6908.6/69086.0/-; 5983.7/59837.0/-; -/-/95.56; -/-/85.82)."
        )
    );
}

#[test]
fn the_alternating_windows_are_listed_pair_by_pair() {
    let report = render(&full_run());
    assert!(report.contains("Alternating windows of 4 s, in order"));
    assert_eq!(
        line(&report, "client_credentials req/s, jwtd"),
        "client_credentials req/s, jwtd (PostgreSQL) / oidc-provider: 4971.2/2114.2, 5395.5/2440.0;"
    );
    assert_eq!(
        line(&report, "logins/s / raw argon2id/s:"),
        "logins/s / raw argon2id/s: 78.5/95.56, 72.0/85.82;"
    );
    assert_eq!(
        line(&report, "code-flow cycles/s"),
        "code-flow cycles/s / raw RS256 signs/s ÷ 2: 608.5/3441.6, 552.2/2892.9;"
    );
    assert_eq!(
        line(&report, "JWKS p99 during the flood"),
        "JWKS p99 during the flood / alone (ms): 1.107/1.383, 2.145/0.584."
    );
}

#[test]
fn targets_are_judged_on_the_median_of_the_pairs_ratios() {
    let report = render(&full_run());
    // Pairs 4971.2/2114.2 = 2.35 and 5395.5/2440.0 = 2.21: median 2.28 (the rows' 4971.2/2227.5 is 2.23).
    assert_eq!(
        line(&report, "| client_credentials vs oidc-provider"),
        "| client_credentials vs oidc-provider (median of 2 paired windows' ratios) | 4971.2 vs 2227.5 req/s | 2.28 | >= 2.0 | PASS |"
    );
    assert_eq!(
        line(&report, "| client_credentials vs raw RS256"),
        "| client_credentials vs raw RS256 signing | 4971.2 vs 6908.6 /s | 0.72 | >= 0.75 | MISS |"
    );
    assert_eq!(
        line(&report, "| refresh rotations"),
        "| refresh rotations vs own client_credentials (PostgreSQL) (median of 2 paired windows' ratios) | 2074.2 vs 5454.8 /s \
         | 0.40 | >= 0.60 | MISS, out of reach here (ceiling 0.45, below) |"
    );
    assert_eq!(
        line(&report, "| code flow cycles"),
        "| code flow cycles vs raw RS256 signs/2 (median of 2 paired windows' ratios) | 608.5 vs 3167.2 /s | 0.18 | - | no goal |"
    );
    assert_eq!(
        line(&report, "| JWKS p99 during"),
        "| JWKS p99 during login flood vs alone (median of 2 paired windows' ratios) | 2.979 vs 0.727 ms | 2.24 | <= 3.0 | PASS |"
    );
    assert_eq!(
        line(&report, "| jwtd peak RSS"),
        "| jwtd peak RSS (any load) vs oidc-provider's (all workers) | 60.2 MiB vs 328.7 MiB | 0.18 | <= 0.5 | PASS |"
    );
    assert_eq!(
        line(&report, "| client_credentials with a DPoP proof"),
        "| client_credentials with a DPoP proof vs without (PostgreSQL) | 3100.0 vs 4971.2 /s | 0.62 | - | no goal |"
    );
    assert_eq!(targets(&full_run()).len(), 13);
}

#[test]
fn the_ceilings_count_every_consumer_of_the_cores() {
    let report = render(&full_run());
    assert!(report.contains(
        "+ the load generator's CPU per request: 0.2895 + 0.0302 ms) = 6255.9 tokens/s, 2.81x oidc-provider's 2227.5/s; \
         jwtd spends 0.3611 ms per token."
    ));
    assert!(report.contains(": 0.3350 + 0.0728 + 0.3782 + 0.0325 ms) = 2443.5 rotations/s, 0.45 of the client_credentials windows beside them (5454.8/s)."));
    assert!(report.contains(
        "rotate at 0.71 (jwtd's CPU per client_credentials token / per rotation: 0.3350 / 0.4725 ms)"
    ));
    assert!(report.contains("at most raw signing / 2 = 3167.2 cycles/s; it ran at 608.5/s. Per cycle jwtd spent 1.4749 ms of CPU (the two signatures alone: 0.6315 ms)"));
    assert!(report.contains("their sum (0.7982 + 0.5451 + 0.0406 ms) = 1445.2 exchanges/s on this machine, and it ran at 1355.6/s."));
}

#[test]
fn the_notes_are_kept_at_the_end() {
    let report = render(&full_run());
    assert!(report.ends_with("1355.6/s.\n\n<!-- notes -->\n\nA finding.\n"));
    assert_eq!(notes_of("# old\n\n<!-- notes -->\nkept\n").as_deref(), Some("<!-- notes -->\nkept\n"));
    assert_eq!(notes_of("# old\nnot <!-- notes -->\n"), None);
}

#[test]
fn a_quick_run_judges_nothing_and_lists_no_windows() {
    let mut run = full_run();
    run.settings = Settings::quick();
    run.notes = None;
    let report = render(&run);
    assert!(report.starts_with("# jwtd benchmark (--quick smoke run"));
    assert!(report.contains("Generated by `bench/run.sh --quick`"));
    assert!(!report.contains("Alternating windows"));
    assert!(report.contains("| >= 2.0 | (PASS, not judged) |"));
    assert!(report.contains("| >= 0.75 | (MISS, not judged) |"));
    assert!(report.contains("| - | (not judged) |"));
    assert!(!report.contains("| PASS |") && !report.contains("| MISS |"));
    assert!(!report.contains("paired windows"));
}

#[test]
fn without_the_peers_their_targets_and_sentence_are_left_out_and_said_so() {
    let mut run = full_run();
    run.machine.peers = None;
    let report = render(&run);
    assert!(!report.contains("- peers:"));
    assert!(!report.contains("oidc-provider /"));
    assert!(!report.contains("vs oidc-provider"));
    assert!(!report.contains("peak RSS (any load)"));
    assert!(report.contains("\nThe peers were skipped (no node/npm, or their install failed).\n"));
    assert_eq!(targets(&run).len(), 9);
}

#[test]
fn a_section_goes_below_the_notes_mark_once_and_is_replaced_in_place() {
    let report = "# table\n\n<!-- notes -->\n## by hand\n";
    let first = with_section(report, "growth", "| a |\n");
    assert_eq!(first, "# table\n\n<!-- notes -->\n\n<!-- growth -->\n| a |\n<!-- /growth -->\n## by hand\n");
    let again = with_section(&first, "growth", "| b |");
    assert_eq!(again, first.replace("| a |", "| b |"));
    // Another section leaves this one alone, and a full run keeps both (they are notes).
    let both = with_section(&again, "soak", "s");
    assert!(
        both.contains("<!-- growth -->\n| b |\n<!-- /growth -->")
            && both.contains("<!-- soak -->\ns\n<!-- /soak -->")
    );
    assert!(notes_of(&both).is_some_and(|notes| notes.contains("| b |") && notes.contains("\ns\n")));
}

#[test]
fn a_report_without_notes_gets_the_mark_and_the_section_at_its_end() {
    assert_eq!(with_section("", "soak", "x"), "\n<!-- notes -->\n\n<!-- soak -->\nx\n<!-- /soak -->\n");
    // A mark quoted inside a line is not the section's.
    let quoted = "say <!-- soak --> here\n<!-- notes -->\n";
    assert!(
        with_section(quoted, "soak", "x")
            .starts_with("say <!-- soak --> here\n<!-- notes -->\n\n<!-- soak -->")
    );
}
