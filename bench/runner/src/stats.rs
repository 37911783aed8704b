//! Medians, of single measurements and of paired windows' ratios, and the combination of several
//! windows of one scenario into the one row the report shows.
//!
//! The host's speed changes between windows (seen here: the same argon2id hash taking 21 or 32 ms
//! of CPU a few seconds apart), so only the two windows of a pair share its state: the judged
//! ratio is the median of the pairs' ratios, never the ratio of each side's median, which can pair
//! one side's fast windows with the other's slow ones (bench/README.md).

use std::collections::BTreeMap;

use jwtd_loadgen::LoadReport;

/// The median of `values` (the mean of the middle two for an even count); `None` when empty.
pub fn median(values: &[f64]) -> Option<f64> {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let mid = sorted.len() / 2;
    match sorted.len() {
        0 => None,
        n if n % 2 == 1 => sorted.get(mid).copied(),
        _ => Some((sorted.get(mid - 1)? + sorted.get(mid)?) / 2.0),
    }
}

/// The median of the present values; `None` when none is.
pub fn median_of_known(values: &[Option<f64>]) -> Option<f64> {
    median(&values.iter().flatten().copied().collect::<Vec<_>>())
}

/// The median of the ratios `a[i] / b[i]` of paired windows, over the pairs where both sides are
/// known and `b[i]` is positive; `None` when no pair is.
pub fn paired_median(a: &[Option<f64>], b: &[Option<f64>]) -> Option<f64> {
    let ratios: Vec<f64> = a
        .iter()
        .zip(b)
        .filter_map(|pair| match pair {
            (Some(a), Some(b)) if *b > 0.0 => Some(a / b),
            _ => None,
        })
        .collect();
    median(&ratios)
}

/// One row out of several windows of a scenario: the counts (requests, successes, errors,
/// seconds) and the statuses summed, the highest resident memory, and the median of every other
/// measure (each taken separately: a row's p99 need not come from the window of its rate). The
/// label is the first window's. `None` for no windows.
pub fn combine(windows: &[LoadReport]) -> Option<LoadReport> {
    let first = windows.first()?;
    let median_of = |field: fn(&LoadReport) -> f64| median(&windows.iter().map(field).collect::<Vec<_>>());
    let known = |field: fn(&LoadReport) -> Option<f64>| {
        median_of_known(&windows.iter().map(field).collect::<Vec<_>>())
    };
    let mut statuses = BTreeMap::new();
    for window in windows {
        for (status, n) in &window.statuses {
            *statuses.entry(*status).or_insert(0) += n;
        }
    }
    Some(LoadReport {
        label: first.label.clone(),
        requests: windows.iter().map(|w| w.requests).sum(),
        ok: windows.iter().map(|w| w.ok).sum(),
        errors: windows.iter().map(|w| w.errors).sum(),
        io_errors: windows.iter().map(|w| w.io_errors).sum(),
        secs: windows.iter().map(|w| w.secs).sum(),
        rps: median_of(|w| w.rps)?,
        p50_ms: median_of(|w| w.p50_ms)?,
        p90_ms: median_of(|w| w.p90_ms)?,
        p99_ms: median_of(|w| w.p99_ms)?,
        max_ms: median_of(|w| w.max_ms)?,
        peak_rss_kib: windows.iter().map(|w| w.peak_rss_kib).max().unwrap_or(0),
        server_cpu_ms_per_req: known(|w| w.server_cpu_ms_per_req),
        db_cpu_ms_per_req: known(|w| w.db_cpu_ms_per_req),
        client_cpu_ms_per_req: known(|w| w.client_cpu_ms_per_req),
        statuses,
    })
}

#[cfg(test)]
pub mod tests {
    use super::*;

    /// A window of `rps` requests per second with the given p99, RSS and server CPU per request.
    pub fn window(rps: f64, p99_ms: f64, peak_rss_kib: u64, server_cpu: Option<f64>) -> LoadReport {
        LoadReport {
            label: "w".into(),
            requests: 100,
            ok: 99,
            errors: 1,
            io_errors: 0,
            secs: 4.0,
            rps,
            p50_ms: p99_ms / 4.0,
            p90_ms: p99_ms / 2.0,
            p99_ms,
            max_ms: p99_ms * 2.0,
            peak_rss_kib,
            server_cpu_ms_per_req: server_cpu,
            db_cpu_ms_per_req: None,
            client_cpu_ms_per_req: Some(0.03),
            statuses: BTreeMap::from([(200, 99), (503, 1)]),
        }
    }

    #[test]
    fn the_median_is_the_middle_value_or_the_mean_of_the_middle_two() {
        assert_eq!(median(&[]), None);
        assert_eq!(median(&[3.0]), Some(3.0));
        assert_eq!(median(&[9.0, 1.0, 5.0]), Some(5.0));
        assert_eq!(median(&[4.0, 1.0, 3.0, 2.0]), Some(2.5));
        assert_eq!(median(&[10.0, 2.0, 7.0, 100.0, 1.0]), Some(7.0));
    }

    #[test]
    fn unknown_values_are_left_out_of_a_median() {
        assert_eq!(median_of_known(&[None, Some(2.0), Some(4.0)]), Some(3.0));
        assert_eq!(median_of_known(&[None, None]), None);
    }

    #[test]
    fn the_paired_median_is_the_median_of_the_pairs_ratios_not_the_ratio_of_the_medians() {
        // A fast window on one side paired with a slow one on the other: the sides' medians give
        // 4/4 = 1.0, but no pair ran at that ratio.
        let a = [Some(2.0), Some(4.0), Some(6.0)];
        let b = [Some(1.0), Some(8.0), Some(4.0)];
        assert_eq!(paired_median(&a, &b), Some(1.5));
        assert_eq!(paired_median(&[Some(1.0), Some(3.0)], &[Some(2.0), Some(2.0)]), Some(1.0));
    }

    #[test]
    fn pairs_with_an_unknown_or_zero_side_do_not_count() {
        let a = [Some(1.0), None, Some(9.0), Some(2.0)];
        let b = [Some(0.0), Some(1.0), Some(3.0)];
        assert_eq!(paired_median(&a, &b), Some(3.0));
        assert_eq!(paired_median(&[Some(1.0)], &[None]), None);
        assert_eq!(paired_median(&[], &[]), None);
    }

    #[test]
    fn windows_combine_into_summed_counts_the_highest_rss_and_medians_of_the_rest() {
        let windows = [
            window(100.0, 9.0, 3000, Some(0.5)),
            window(300.0, 1.0, 1000, None),
            window(200.0, 5.0, 2000, Some(0.7)),
        ];
        let row = combine(&windows).unwrap();
        assert_eq!((row.requests, row.ok, row.errors, row.io_errors), (300, 297, 3, 0));
        assert_eq!(row.secs, 12.0);
        assert_eq!(row.peak_rss_kib, 3000);
        assert_eq!(row.rps, 200.0);
        assert_eq!(row.p99_ms, 5.0);
        assert_eq!(row.p50_ms, 1.25);
        assert_eq!(row.max_ms, 10.0);
        assert_eq!(row.server_cpu_ms_per_req, Some(0.6));
        assert_eq!(row.db_cpu_ms_per_req, None);
        assert_eq!(row.client_cpu_ms_per_req, Some(0.03));
        assert_eq!(row.statuses, BTreeMap::from([(200, 297), (503, 3)]));
        assert_eq!(combine(&[]), None);
    }

    #[test]
    fn one_window_combines_into_itself() {
        let one = window(123.4, 2.5, 512, Some(0.25));
        assert_eq!(combine(std::slice::from_ref(&one)), Some(one));
    }
}
