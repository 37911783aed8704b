//! The growth section of bench/RESULTS.md: one row per database size, the cost per rotation at
//! the largest size against the smallest (the goal: within 1.25×), and the storage per family
//! and per session with their projections to 100M. Pure: everything measured comes in a [`Size`].

use std::fmt::Write as _;

use jwtd_loadgen::LoadReport;

use crate::report::{cpu_ms, show};

/// The goal: the cost per rotation at the largest size within this factor of the smallest's.
pub const GOAL: f64 = 1.25;
/// One measure of a size, by name.
type Measure = (&'static str, fn(&Size) -> Option<f64>);

/// The storage projection's population: families, one per session.
const PROJECTED_SESSIONS: f64 = 100e6;

/// Bytes of the tables a session keeps, indexes and TOAST included (`pg_total_relation_size`).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Storage {
    /// `refresh_families`: one row per family, its head included.
    pub families: u64,
    /// `refresh_tokens`: only the row tokens of families started before family tokens, so
    /// none of the seeded ones (an empty table's few pages).
    pub tokens: u64,
    /// Users, sessions and consents (one each per five families).
    pub accounts: u64,
    /// Rows of `refresh_tokens` (the planner's count after `VACUUM ANALYZE`).
    pub token_rows: u64,
}

impl Storage {
    pub fn total(&self) -> u64 {
        self.families + self.tokens + self.accounts
    }

    /// Bytes of `refresh_families` per family, at `families` families.
    pub fn per_family(&self, families: u64) -> Option<f64> {
        (families > 0).then(|| self.families as f64 / families as f64)
    }
}

/// PostgreSQL's account of the rotation statement (`pg_stat_statements`), per rotation.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Statement {
    /// Execution time, ms.
    pub ms: f64,
    /// Shared buffers found, read (from the OS or the disk), dirtied, and written out by the
    /// backend itself to make room.
    pub hit: f64,
    pub read: f64,
    pub dirtied: f64,
    pub written: f64,
    pub wal_bytes: f64,
    /// Full-page images in the WAL (the first change of a page after a checkpoint).
    pub wal_fpi: f64,
}

/// One size measured.
#[derive(Debug, Clone)]
pub struct Size {
    pub families: u64,
    /// Seconds the seed of this size's new families took (and its `VACUUM ANALYZE`).
    pub seed_secs: f64,
    pub storage: Storage,
    /// The rotation windows combined (`stats::combine`).
    pub rotations: LoadReport,
    /// Share of `refresh_families`' updates during the rotations that were HOT (0–1): a
    /// rotation is one update of its family's row.
    pub hot: Option<f64>,
    pub logins: LoadReport,
    /// `client_credentials` right after the rotations: its jwtd CPU per token touches no table
    /// that grows, so it shows how the host's speed moved between sizes.
    pub reference: LoadReport,
    /// `None` where the server does not preload `pg_stat_statements`.
    pub statement: Option<Statement>,
}

impl Size {
    /// jwtd's and PostgreSQL's CPU per rotation: what a rotation costs, whatever the host's
    /// speed did to the rate.
    pub fn cost_ms(&self) -> Option<f64> {
        Some(self.rotations.server_cpu_ms_per_req? + self.rotations.db_cpu_ms_per_req?)
    }
}

/// `1000000` → "1M", `10000` → "10k".
pub fn families_label(n: u64) -> String {
    match n {
        n if n >= 1_000_000 && n % 1_000_000 == 0 => format!("{}M", n / 1_000_000),
        n if n >= 1_000 && n % 1_000 == 0 => format!("{}k", n / 1_000),
        n => n.to_string(),
    }
}

/// The largest size's value over the smallest's, when both are known and the smallest positive.
pub fn growth(sizes: &[Size], value: fn(&Size) -> Option<f64>) -> Option<f64> {
    let (first, last) = (value(sizes.first()?)?, value(sizes.last()?)?);
    (first > 0.0 && sizes.len() > 1).then(|| last / first)
}

fn mib(bytes: u64) -> String {
    format!("{:.0} MiB", bytes as f64 / 1_048_576.0)
}

/// The section's Markdown: `command` is what produced it, `when` its date and host line.
pub fn render(sizes: &[Size], gens: u64, command: &str, when: &str) -> String {
    let mut out = String::new();
    let range = match (sizes.first(), sizes.last()) {
        (Some(first), Some(last)) => {
            format!(" from {} to {} families", families_label(first.families), families_label(last.families))
        }
        _ => String::new(),
    };
    let _ = writeln!(out, "## Growth with data: refresh rotations and logins{range}\n");
    let _ = writeln!(
        out,
        "`{command}`, {when}.\n\nEach size is seeded in bulk into the same database (`bench/growth/seed.sql`: \
         one row per family, its head at generation {gens}, one user, session and consent per five \
         families, 1000 clients), \
         then `VACUUM ANALYZE` and `CHECKPOINT`. The rotations are `jwtd-loadgen --scenario seeded`, each of \
         a random seeded family through HTTP. A rotation's cost is jwtd's CPU plus PostgreSQL's (the \
         backends serving jwtd) per rotation. \"B per family\" is `refresh_families` with its indexes \
         ÷ families. \"cc jwtd ms\" is jwtd's CPU per `client_credentials` token \
         right after the rotations: it touches no table that grows, so it shows how the host's speed \
         moved between sizes.\n"
    );
    out.push_str(
        "| families | B per family | tables (MiB) | seed (s) | rotations/s | jwtd ms | PostgreSQL ms | \
         cost ms | p99 ms | HOT | logins/s | cc jwtd ms |\n",
    );
    out.push_str("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n");
    for size in sizes {
        let hot = size.hot.map_or_else(|| "-".to_owned(), |hot| format!("{:.0}%", hot * 100.0));
        let _ = writeln!(
            out,
            "| {} | {} | {} | {:.0} | {} | {} | {} | {} | {} | {hot} | {} | {} |",
            families_label(size.families),
            show(size.storage.per_family(size.families), 0),
            mib(size.storage.total()),
            size.seed_secs,
            show(Some(size.rotations.rps), 1),
            cpu_ms(size.rotations.server_cpu_ms_per_req),
            cpu_ms(size.rotations.db_cpu_ms_per_req),
            cpu_ms(size.cost_ms()),
            show(Some(size.rotations.p99_ms), 2),
            show(Some(size.logins.rps), 1),
            cpu_ms(size.reference.server_cpu_ms_per_req),
        );
    }
    out.push('\n');
    statements(&mut out, sizes);
    verdicts(&mut out, sizes);
    storage(&mut out, sizes);
    out
}

/// PostgreSQL's view of the rotation statement at each size, when it was available.
fn statements(out: &mut String, sizes: &[Size]) {
    if sizes.iter().all(|s| s.statement.is_none()) {
        return;
    }
    out.push_str(
        "PostgreSQL's own account of jwtd's rotation statement (`pg_stat_statements`, per rotation: \
         execution time, shared buffers found, read from the OS or disk, dirtied, and written by the \
         backend to make room; WAL bytes and full-page images):\n\n\
         | families | statement ms | hit | read | dirtied | written | WAL bytes | full pages |\n\
         | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n",
    );
    for size in sizes {
        let Some(s) = size.statement else { continue };
        let _ = writeln!(
            out,
            "| {} | {:.3} | {:.1} | {:.2} | {:.2} | {:.2} | {:.0} | {:.2} |",
            families_label(size.families),
            s.ms,
            s.hit,
            s.read,
            s.dirtied,
            s.written,
            s.wal_bytes,
            s.wal_fpi
        );
    }
    out.push('\n');
}

fn verdicts(out: &mut String, sizes: &[Size]) {
    let (Some(first), Some(last)) = (sizes.first(), sizes.last()) else { return };
    let (small, large) = (families_label(first.families), families_label(last.families));
    match growth(sizes, Size::cost_ms) {
        Some(ratio) => {
            let verdict = if ratio <= GOAL { "PASS" } else { "MISS" };
            let _ = writeln!(
                out,
                "- Cost per rotation at {large} ÷ at {small}: **{ratio:.2}** (goal ≤ {GOAL}): **{verdict}**."
            );
        }
        None => {
            let _ =
                writeln!(out, "- Cost per rotation at {large} ÷ at {small}: not measured (no CPU figures).");
        }
    }
    let parts: [Measure; 4] = [
        ("jwtd's CPU", |s| s.rotations.server_cpu_ms_per_req),
        ("the host's reference (cc jwtd ms)", |s| s.reference.server_cpu_ms_per_req),
        ("PostgreSQL's CPU", |s| s.rotations.db_cpu_ms_per_req),
        ("p99", |s| Some(s.rotations.p99_ms)),
    ];
    let shown: Vec<String> = parts
        .iter()
        .filter_map(|(name, value)| Some(format!("{name} {:.2}×", growth(sizes, *value)?)))
        .collect();
    if !shown.is_empty() {
        let _ = writeln!(out, "- Of which, {large} ÷ {small}: {}.", shown.join(", "));
    }
    if let Some(ratio) = growth(sizes, |s| Some(s.logins.rps)) {
        let _ = writeln!(out, "- Logins/s at {large} ÷ at {small}: {ratio:.2} (argon2id bounds them).");
    }
}

/// Storage at the largest size: a family's row, then a session's share of everything that grows
/// with families (`refresh_tokens` does not: only families of row tokens have rows there).
fn storage(out: &mut String, sizes: &[Size]) {
    let Some(last) = sizes.iter().rev().find(|s| s.families > 0 && s.storage.families > 0) else { return };
    let (n, gib) = (last.families as f64, |bytes: f64| bytes * PROJECTED_SESSIONS / 1_073_741_824.0);
    let per_family = last.storage.families as f64 / n;
    let per_session = (last.storage.families + last.storage.accounts) as f64 / n;
    let _ = writeln!(
        out,
        "- Storage at {} families, indexes included: **{per_family:.0} B per family** (its one \
         `refresh_families` row), so {:.1} GiB for {millions}M families; with {:.0} B of user, session \
         and consent per family, {per_session:.0} B per session, so {:.1} GiB for {millions}M sessions. \
         `refresh_tokens` holds {} rows ({} KiB).",
        families_label(last.families),
        gib(per_family),
        last.storage.accounts as f64 / n,
        gib(per_session),
        last.storage.token_rows,
        last.storage.tokens / 1024,
        millions = PROJECTED_SESSIONS / 1e6,
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::tests::window;

    fn size(families: u64, jwtd: f64, pg: f64) -> Size {
        let mut rotations = window(2000.0, 12.5, 40_000, Some(jwtd));
        rotations.db_cpu_ms_per_req = Some(pg);
        Size {
            families,
            seed_secs: 1.4,
            storage: Storage {
                families: 260 * families,
                tokens: 24_576,
                accounts: 128 * families,
                token_rows: 0,
            },
            rotations,
            hot: Some(0.995),
            logins: window(30.0, 200.0, 40_000, Some(60.0)),
            reference: window(5000.0, 3.0, 40_000, Some(0.3)),
            statement: None,
        }
    }

    #[test]
    fn sizes_are_labelled_as_people_say_them() {
        assert_eq!(families_label(10_000), "10k");
        assert_eq!(families_label(10_000_000), "10M");
        assert_eq!(families_label(2_500), "2500");
        assert_eq!(families_label(1_500_000), "1500k");
    }

    #[test]
    fn the_cost_is_jwtd_plus_postgresql_and_the_goal_compares_the_ends() {
        let sizes = [size(10_000, 0.5, 0.2), size(100_000, 0.5, 0.3), size(10_000_000, 0.55, 0.3)];
        assert_eq!(sizes[0].cost_ms(), Some(0.7));
        let ratio = growth(&sizes, Size::cost_ms).unwrap();
        assert!((ratio - 0.85 / 0.7).abs() < 1e-9);
        let text = render(&sizes, 4, "bench/run.sh growth", "2026-12-03");
        assert!(text.contains("at 10M ÷ at 10k: **1.21** (goal ≤ 1.25): **PASS**"), "{text}");
        assert!(text.contains("PostgreSQL's CPU 1.50×"), "{text}");
        assert!(text.contains("| 10k | 260 |"), "{text}");
        assert!(text.contains("| 100% | 30.0 | 0.3000 ms |"), "{text}");
        assert!(text.contains("## Growth with data: refresh rotations and logins from 10k to 10M families"));

        let worse = [size(10_000, 0.5, 0.2), size(1_000_000, 0.6, 0.4)];
        assert!(render(&worse, 4, "c", "d").contains("**1.43** (goal ≤ 1.25): **MISS**"));
    }

    #[test]
    fn postgresqls_account_is_shown_where_it_was_taken() {
        let plain = render(&[size(10_000, 0.5, 0.2)], 4, "c", "d");
        assert!(!plain.contains("pg_stat_statements"));
        let mut measured = size(10_000, 0.5, 0.2);
        measured.statement = Some(Statement {
            ms: 0.0581,
            hit: 15.7,
            read: 0.004,
            dirtied: 0.02,
            written: 0.0,
            wal_bytes: 303.4,
            wal_fpi: 0.01,
        });
        let text = render(&[measured, size(100_000, 0.5, 0.2)], 4, "c", "d");
        assert!(text.contains("| 10k | 0.058 | 15.7 | 0.00 | 0.02 | 0.00 | 303 | 0.01 |"), "{text}");
        assert!(!text.contains("| 100k | 0."), "{text}");
    }

    #[test]
    fn no_cpu_figures_or_one_size_give_no_verdict() {
        let mut blind = size(10_000, 0.5, 0.2);
        blind.rotations.db_cpu_ms_per_req = None;
        assert_eq!(growth(&[blind.clone(), size(100_000, 0.5, 0.2)], Size::cost_ms), None);
        assert!(render(&[blind, size(1_000_000, 0.5, 0.2)], 4, "c", "d").contains("not measured"));
        assert_eq!(growth(&[size(10_000, 0.5, 0.2)], Size::cost_ms), None);
    }

    #[test]
    fn storage_is_per_family_and_per_session_at_the_largest_size_and_projected() {
        let text = render(&[size(10_000, 0.5, 0.2), size(1_000_000, 0.5, 0.2)], 4, "c", "d");
        // 260 B per family: 100M of them are 24.2 GiB; with 128 B of accounts, 388 B per session
        // and 36.1 GiB. The empty refresh_tokens is not per session.
        assert!(text.contains("Storage at 1M families"), "{text}");
        assert!(text.contains(
            "**260 B per family** (its one `refresh_families` row), so 24.2 GiB for 100M families"
        ));
        assert!(
            text.contains(
                "with 128 B of user, session and consent per family, 388 B per session, so 36.1 GiB"
            )
        );
        assert!(text.contains("`refresh_tokens` holds 0 rows (24 KiB)."), "{text}");
        assert!(!render(&[], 4, "c", "d").contains("Storage"));
    }
}
