//! The soak's judgement and its section of bench/RESULTS.md: requests per minute by outcome, the
//! servers' memory and the tables' sizes per minute, the fault windows, and the goals. Pure:
//! everything observed comes in a [`Soak`].

use std::fmt::Write as _;

/// What a request was for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    ClientCredentials,
    Login,
    Refresh,
    /// A used refresh token sent again: must be refused, and revoke its family.
    Replay,
    Jwks,
    /// The burst of bad input: must be refused with a 4xx.
    BadInput,
}

/// One request: when it started (seconds since the soak's start), how long it took, what it
/// was, which instance answered and how (`status` 0: no answer at all).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Event {
    pub at: f64,
    pub ms: f64,
    pub kind: Kind,
    pub instance: usize,
    pub status: u16,
}

impl Event {
    fn end(&self) -> f64 {
        self.at + self.ms / 1000.0
    }

    /// A failure of the server: a 5xx, or no answer.
    pub fn failed(&self) -> bool {
        self.status == 0 || self.status >= 500
    }
}

/// A fault, from its start until everything answered again.
#[derive(Debug, Clone, PartialEq)]
pub struct Fault {
    pub what: String,
    pub start: f64,
    pub end: f64,
    /// Which instance it takes down (`None`: both, as a database outage does; `Some` with
    /// `outage: false` is the bad-input burst, which takes nothing down).
    pub instance: Option<usize>,
    pub outage: bool,
}

impl Fault {
    /// Whether a request of `instance` from `start` to `end` overlapped this fault.
    fn covers(&self, instance: Option<usize>, start: f64, end: f64) -> bool {
        let on_it = match (self.instance, instance) {
            (Some(a), Some(b)) => a == b,
            _ => true,
        };
        on_it && start <= self.end && end >= self.start
    }
}

/// One sample of the servers and the database (each minute).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Sample {
    pub at: f64,
    /// Resident memory of each instance (`None`: not running when sampled).
    pub rss_kib: Vec<Option<u64>>,
    pub pg_connections: u64,
    /// `(table, rows, bytes with indexes)`.
    pub tables: Vec<(String, u64, u64)>,
}

/// An access token checked by the caching verifier right after it was issued.
#[derive(Debug, Clone, PartialEq)]
pub struct Verification {
    /// When its request started.
    pub at: f64,
    pub instance: usize,
    pub error: Option<String>,
}

/// Everything one soak observed.
#[derive(Debug, Clone, Default)]
pub struct Soak {
    pub secs: f64,
    /// Width of a row of the per-minute table (60 s; shorter for a smoke run).
    pub bucket_secs: f64,
    pub events: Vec<Event>,
    pub faults: Vec<Fault>,
    pub samples: Vec<Sample>,
    pub verifications: Vec<Verification>,
    /// Replays answered 400 (refused), and the reuse detections jwtd's audit log recorded.
    pub replays_refused: u64,
    pub reuse_detected: u64,
    /// Refresh answers of 400 that were not replays: a family lost (when outside the faults).
    pub refreshes_refused: Vec<f64>,
    /// Successors returned with a 200 and looked up in the database, and those not found.
    pub successors_checked: u64,
    pub successors_missing: u64,
    /// Key rotations done and refused (the next key not published long enough), and the keys
    /// created and retired over the run.
    pub rotations: (u64, u64),
    pub keys_created: u64,
    pub keys_retired: u64,
    /// When each instance last (re)started, for its memory's series.
    pub started_at: Vec<f64>,
}

/// Memory grows "flat within noise" when it grows by less than this share or this much.
const RSS_SHARE: f64 = 0.10;
const RSS_KIB: u64 = 8 * 1024;

/// A goal, judged.
#[derive(Debug, Clone, PartialEq)]
pub struct Goal {
    pub what: String,
    pub observed: String,
    /// `None`: not judged (too short a run).
    pub met: Option<bool>,
}

fn goal(what: &str, observed: String, met: Option<bool>) -> Goal {
    Goal { what: what.to_owned(), observed, met }
}

impl Soak {
    fn in_fault(&self, instance: Option<usize>, start: f64, end: f64, outages_only: bool) -> bool {
        self.faults.iter().any(|f| (f.outage || !outages_only) && f.covers(instance, start, end))
    }

    /// The goals of issue 21's soak.
    pub fn goals(&self) -> Vec<Goal> {
        let failed_outside = self
            .verifications
            .iter()
            .filter(|v| v.error.is_some() && !self.in_fault(Some(v.instance), v.at, v.at, false))
            .count();
        let failed_inside = self.verifications.iter().filter(|v| v.error.is_some()).count() - failed_outside;
        let server_errors = self
            .events
            .iter()
            // An oversized body may be refused before it is all sent: the connection reset is
            // the refusal, not a failure (a crash shows in the traffic that follows).
            .filter(|e| e.failed() && !(e.kind == Kind::BadInput && e.status == 0))
            .filter(|e| !self.in_fault(Some(e.instance), e.at, e.end(), true))
            .count();
        let bad: Vec<&Event> = self.events.iter().filter(|e| e.kind == Kind::BadInput).collect();
        let bad_input_5xx = bad.iter().filter(|e| e.status >= 500).count();
        let bad_4xx = bad.iter().filter(|e| (400..500).contains(&e.status)).count();
        let lost = self.refreshes_refused.iter().filter(|at| !self.in_fault(None, **at, **at, true)).count();
        let mut goals = vec![
            goal(
                "failed verifications outside the faults (0)",
                format!(
                    "{failed_outside} of {} ({failed_inside} inside the faults)",
                    self.verifications.len()
                ),
                Some(failed_outside == 0 && !self.verifications.is_empty()),
            ),
            goal(
                "5xx or no answer outside the outages (0)",
                format!("{server_errors} of {}", self.events.len()),
                Some(server_errors == 0),
            ),
            goal(
                "5xx to the bad input (0)",
                format!(
                    "{bad_input_5xx} of {} ({bad_4xx} answered 4xx, {} reset)",
                    bad.len(),
                    bad.iter().filter(|e| e.status == 0).count()
                ),
                Some(bad_input_5xx == 0),
            ),
            goal(
                "every successor answered with a 200 is in the database (its family reached its generation)",
                format!(
                    "{} of {} found",
                    self.successors_checked - self.successors_missing,
                    self.successors_checked
                ),
                Some(self.successors_missing == 0 && self.successors_checked > 0),
            ),
            goal("refreshes refused outside the outages, not replays (0)", lost.to_string(), Some(lost == 0)),
            goal(
                "reuse detections = replays refused",
                format!("{} detected, {} replays refused", self.reuse_detected, self.replays_refused),
                Some(self.reuse_detected == self.replays_refused && self.replays_refused > 0),
            ),
        ];
        for instance in 0..self.started_at.len() {
            goals.push(self.rss_goal(instance));
        }
        goals
    }

    /// Memory of `instance` from its second minute since it (re)started to the end.
    fn rss_goal(&self, instance: usize) -> Goal {
        let since = self.started_at.get(instance).copied().unwrap_or(0.0) + 60.0;
        let series: Vec<u64> = self
            .samples
            .iter()
            .filter(|s| s.at >= since)
            .filter_map(|s| s.rss_kib.get(instance).copied().flatten())
            .collect();
        let what = format!("memory of instance {} flat from its minute 2 (< 10% or < 8 MiB)", name(instance));
        match (series.first(), series.last()) {
            (Some(&first), Some(&last)) if series.len() >= 2 => {
                let grown = last.saturating_sub(first);
                let flat = grown < RSS_KIB || (grown as f64) < first as f64 * RSS_SHARE;
                goal(&what, format!("{} → {}", mib(first), mib(last)), Some(flat))
            }
            _ => goal(&what, "too short to judge".to_owned(), None),
        }
    }

    pub fn passed(&self) -> bool {
        self.goals().iter().all(|g| g.met != Some(false))
    }
}

pub fn name(instance: usize) -> &'static str {
    ["A", "B"].get(instance).copied().unwrap_or("?")
}

fn mib(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}

/// The `q` quantile of `values` (sorted here), nearest rank.
fn quantile(values: &mut [f64], q: f64) -> Option<f64> {
    values.sort_by(f64::total_cmp);
    let rank = ((q * values.len() as f64).ceil() as usize).saturating_sub(1);
    values.get(rank.min(values.len().saturating_sub(1))).copied()
}

/// One row of the per-minute table.
#[derive(Debug, Clone, PartialEq)]
pub struct Bucket {
    pub from: f64,
    pub requests: usize,
    /// Answers by class: 2xx (and 304), 4xx, 5xx, none.
    pub classes: [usize; 4],
    pub p50_ms: Option<f64>,
    pub p99_ms: Option<f64>,
}

pub fn buckets(events: &[Event], secs: f64, width: f64) -> Vec<Bucket> {
    let count = (secs / width).ceil().max(1.0) as usize;
    (0..count)
        .map(|i| {
            let from = i as f64 * width;
            let inside: Vec<&Event> =
                events.iter().filter(|e| e.at >= from && (e.at < from + width || i + 1 == count)).collect();
            let mut classes = [0; 4];
            for e in &inside {
                let class = match e.status {
                    0 => 3,
                    s if s >= 500 => 2,
                    s if s >= 400 => 1,
                    _ => 0,
                };
                if let Some(n) = classes.get_mut(class) {
                    *n += 1;
                }
            }
            let mut ms: Vec<f64> = inside.iter().map(|e| e.ms).collect();
            Bucket {
                from,
                requests: inside.len(),
                classes,
                p50_ms: quantile(&mut ms, 0.50),
                p99_ms: quantile(&mut ms, 0.99),
            }
        })
        .collect()
}

/// The section's Markdown.
pub fn render(soak: &Soak, command: &str, when: &str) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "## Soak: two instances on one PostgreSQL, under faults\n");
    let _ = writeln!(out, "`{command}`, {when}.\n");
    let _ = writeln!(
        out,
        "{} requests in {:.1} min; {} access tokens verified by a caching `jwtd-verify`; key rotations: {} \
         done, {} refused as too early; {} keys created and {} retired.\n",
        soak.events.len(),
        soak.secs / 60.0,
        soak.verifications.len(),
        soak.rotations.0,
        soak.rotations.1,
        soak.keys_created,
        soak.keys_retired,
    );
    out.push_str("| goal | observed | |\n| --- | --- | --- |\n");
    for g in soak.goals() {
        let verdict = match g.met {
            Some(true) => "PASS",
            Some(false) => "**MISS**",
            None => "-",
        };
        let _ = writeln!(out, "| {} | {} | {verdict} |", g.what, g.observed);
    }
    out.push_str("\nFaults (each from its start until both instances answered `/readyz` again):\n\n");
    for f in &soak.faults {
        let _ = writeln!(out, "- {:.0}–{:.0} s: {}", f.start, f.end, f.what);
    }
    out.push_str(
        "\n| from (s) | requests | 2xx | 4xx | 5xx | no answer | p50 ms | p99 ms | RSS A | RSS B | PG conns | \
         families | tokens | audit events | tables MiB |\n",
    );
    out.push_str("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n");
    for b in buckets(&soak.events, soak.secs, soak.bucket_secs) {
        let sample = soak.samples.iter().find(|s| s.at >= b.from && s.at < b.from + soak.bucket_secs);
        let rss = |i: usize| {
            sample.and_then(|s| s.rss_kib.get(i).copied().flatten()).map_or_else(|| "-".to_owned(), mib)
        };
        let rows = |table: &str| {
            sample
                .and_then(|s| s.tables.iter().find(|(name, _, _)| name == table))
                .map_or_else(|| "-".to_owned(), |(_, rows, _)| rows.to_string())
        };
        let bytes: u64 = sample.map_or(0, |s| s.tables.iter().map(|(_, _, bytes)| bytes).sum());
        let ms = |v: Option<f64>| v.map_or_else(|| "-".to_owned(), |v| format!("{v:.1}"));
        let _ = writeln!(
            out,
            "| {:.0} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {:.1} |",
            b.from,
            b.requests,
            b.classes[0],
            b.classes[1],
            b.classes[2],
            b.classes[3],
            ms(b.p50_ms),
            ms(b.p99_ms),
            rss(0),
            rss(1),
            sample.map_or_else(|| "-".to_owned(), |s| s.pg_connections.to_string()),
            rows("refresh_families"),
            rows("refresh_tokens"),
            rows("audit_events"),
            bytes as f64 / 1_048_576.0,
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(at: f64, instance: usize, status: u16) -> Event {
        Event { at, ms: 5.0, kind: Kind::ClientCredentials, instance, status }
    }

    fn soak() -> Soak {
        Soak {
            secs: 120.0,
            bucket_secs: 60.0,
            events: vec![event(1.0, 0, 200), event(2.0, 1, 200)],
            faults: vec![
                Fault {
                    what: "PostgreSQL restarted".into(),
                    start: 30.0,
                    end: 35.0,
                    instance: None,
                    outage: true,
                },
                Fault { what: "B killed".into(), start: 60.0, end: 62.0, instance: Some(1), outage: true },
                Fault { what: "bad input".into(), start: 90.0, end: 91.0, instance: None, outage: false },
            ],
            verifications: vec![Verification { at: 1.0, instance: 0, error: None }],
            replays_refused: 3,
            reuse_detected: 3,
            successors_checked: 10,
            started_at: vec![0.0, 62.0],
            ..Soak::default()
        }
    }

    fn met(soak: &Soak, what: &str) -> Option<bool> {
        soak.goals().into_iter().find(|g| g.what.starts_with(what)).and_then(|g| g.met)
    }

    #[test]
    fn a_clean_soak_passes() {
        assert!(soak().passed(), "{:?}", soak().goals());
    }

    #[test]
    fn failures_count_only_outside_their_faults() {
        let mut s = soak();
        // A 503 during the database's restart, no answer from B while it was down: expected.
        s.events.push(event(31.0, 0, 503));
        s.events.push(event(61.0, 1, 0));
        assert_eq!(met(&s, "5xx or no answer"), Some(true));
        // A's answers while B was down were not B's fault; a request that ended inside counts.
        s.events.push(event(61.0, 0, 502));
        assert_eq!(met(&s, "5xx or no answer"), Some(false));
        let mut s = soak();
        s.events.push(Event { at: 29.9, ms: 200.0, kind: Kind::Refresh, instance: 0, status: 503 });
        assert_eq!(met(&s, "5xx or no answer"), Some(true));
        // The bad-input burst takes nothing down: a 5xx during it is a failure.
        s.events.push(event(90.5, 0, 500));
        assert_eq!(met(&s, "5xx or no answer"), Some(false));
        assert!(!s.passed());
    }

    #[test]
    fn the_bad_input_must_get_4xx_and_verifications_must_not_fail() {
        let mut s = soak();
        s.events.push(Event { at: 31.0, ms: 1.0, kind: Kind::BadInput, instance: 0, status: 500 });
        assert_eq!(met(&s, "5xx to the bad input"), Some(false));
        let mut s = soak();
        s.verifications.push(Verification { at: 32.0, instance: 0, error: Some("unknown kid".into()) });
        assert_eq!(met(&s, "failed verifications"), Some(true));
        s.verifications.push(Verification { at: 100.0, instance: 1, error: Some("unknown kid".into()) });
        assert_eq!(met(&s, "failed verifications"), Some(false));
    }

    #[test]
    fn replays_detections_successors_and_lost_families_are_judged() {
        let mut s = soak();
        s.reuse_detected = 2;
        assert_eq!(met(&s, "reuse detections"), Some(false));
        let mut s = soak();
        s.successors_missing = 1;
        assert_eq!(met(&s, "every successor"), Some(false));
        let mut s = soak();
        s.refreshes_refused = vec![33.0];
        assert_eq!(met(&s, "refreshes refused"), Some(true));
        s.refreshes_refused.push(80.0);
        assert_eq!(met(&s, "refreshes refused"), Some(false));
    }

    #[test]
    fn memory_is_judged_from_each_instances_second_minute() {
        let sample =
            |at: f64, a: u64, b: Option<u64>| Sample { at, rss_kib: vec![Some(a), b], ..Sample::default() };
        let mut s = soak();
        s.samples = vec![
            sample(60.0, 50_000, Some(90_000)),
            sample(120.0, 52_000, Some(30_000)),
            sample(180.0, 53_000, Some(31_000)),
            sample(240.0, 54_000, Some(32_000)),
        ];
        // A: 50 → 54 MB is < 8 MiB; B is judged from 122 s on (its restart + 60): 31 → 32.
        assert_eq!(met(&s, "memory of instance A"), Some(true));
        assert_eq!(met(&s, "memory of instance B"), Some(true));
        s.samples.push(sample(300.0, 70_000, Some(32_000)));
        assert_eq!(met(&s, "memory of instance A"), Some(false));
        s.samples.truncate(2);
        assert_eq!(met(&s, "memory of instance B"), None);
    }

    #[test]
    fn buckets_count_outcomes_and_quantiles() {
        let events: Vec<Event> =
            (0..100).map(|i| Event { ms: f64::from(i + 1), ..event(f64::from(i) * 0.5, 0, 200) }).collect();
        let mut more = events.clone();
        more.push(event(10.0, 1, 0));
        more.push(event(70.0, 1, 404));
        let b = buckets(&more, 60.0, 30.0);
        assert_eq!(b.len(), 2);
        assert_eq!(b[0].classes, [60, 0, 0, 1]);
        // The last bucket takes what ran past the end.
        assert_eq!(b[1].classes, [40, 1, 0, 0]);
        // 1…60 ms and one of 5 ms: the 31st of 61 is 30.
        assert_eq!(b[0].p50_ms, Some(30.0));
        assert_eq!(buckets(&events, 50.0, 100.0)[0].p99_ms, Some(99.0));
    }

    #[test]
    fn the_section_shows_goals_faults_and_minutes() {
        let mut s = soak();
        s.samples = vec![Sample {
            at: 60.0,
            rss_kib: vec![Some(51_200), None],
            pg_connections: 12,
            tables: vec![("refresh_families".into(), 40, 1_048_576), ("audit_events".into(), 7, 1_048_576)],
        }];
        let text = render(&s, "bench/run.sh soak --minutes 2", "2026-12-03");
        assert!(
            text.contains("| reuse detections = replays refused | 3 detected, 3 replays refused | PASS |"),
            "{text}"
        );
        assert!(text.contains("- 60–62 s: B killed"), "{text}");
        assert!(
            text.contains("| 60 | 0 | 0 | 0 | 0 | 0 | - | - | 50.0 MiB | - | 12 | 40 | - | 7 | 2.0 |"),
            "{text}"
        );
    }
}
