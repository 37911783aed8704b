//! What one `jwtd-loadgen` run measured, as the one JSON line it prints on stdout: the type the
//! benchmark's runner (`bench/runner`, `jwtd-bench`) reads back, shared so the two cannot drift.
//! And the conventions of the families `bench/growth/seed.sql` writes ([`seeded`]), which the
//! runner passes on to the seed.

pub mod seeded;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// One run's (or, combined by the runner, several windows') measurements.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LoadReport {
    pub label: String,
    /// Turns answered in the measured window (a request, or a code-flow cycle) plus I/O errors.
    pub requests: u64,
    /// Turns that did what the scenario expects.
    pub ok: u64,
    /// `requests - ok`.
    pub errors: u64,
    pub io_errors: u64,
    /// Seconds measured.
    pub secs: f64,
    /// Successful turns per second.
    pub rps: f64,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
    /// Highest sampled resident memory of the watched processes (0: none watched).
    pub peak_rss_kib: u64,
    /// CPU per successful turn of the watched server, of the database backends and of the load
    /// generator itself; `None` where no such process was named or nothing succeeded.
    pub server_cpu_ms_per_req: Option<f64>,
    pub db_cpu_ms_per_req: Option<f64>,
    pub client_cpu_ms_per_req: Option<f64>,
    /// Responses by status (a code-flow cycle has two).
    pub statuses: BTreeMap<u16, u64>,
}

/// `value` rounded to `decimals` places: what a report shows (microseconds of a latency, 0.1 of
/// a request per second) is all a measurement on a shared machine can say.
pub fn rounded(value: f64, decimals: i32) -> f64 {
    let scale = 10f64.powi(decimals);
    (value * scale).round() / scale
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_report_survives_its_json_line() {
        let report = LoadReport {
            label: "cc_pg".into(),
            requests: 10,
            ok: 9,
            errors: 1,
            io_errors: 0,
            secs: 1.0,
            rps: 9.0,
            p50_ms: 1.5,
            p90_ms: 2.0,
            p99_ms: 3.25,
            max_ms: 4.0,
            peak_rss_kib: 1024,
            server_cpu_ms_per_req: Some(0.25),
            db_cpu_ms_per_req: None,
            client_cpu_ms_per_req: Some(0.0123),
            statuses: BTreeMap::from([(200, 9), (503, 1)]),
        };
        let line = serde_json::to_string(&report).unwrap();
        assert!(!line.contains('\n'));
        assert_eq!(serde_json::from_str::<LoadReport>(&line).unwrap(), report);
    }

    #[test]
    fn rounding_keeps_the_places_shown() {
        assert_eq!(rounded(1234.56, 1), 1234.6);
        assert_eq!(rounded(0.123_456, 4), 0.1235);
        assert_eq!(rounded(7.0, 3), 7.0);
    }
}
