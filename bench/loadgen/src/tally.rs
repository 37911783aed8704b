//! What the connections measured, and which answers count: those that arrive inside the
//! measured window.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;

use crate::BoxError;

/// What one measured turn (a request, or a code-flow cycle of two) saw: the status of each
/// response, and whether the turn did what the scenario expects (a 200 sign-in page where a
/// redirect with a code belongs is a failure).
pub struct Turn {
    pub statuses: [Option<u16>; 2],
    pub ok: bool,
}

/// What one connection measured.
pub struct Tally {
    pub histogram: Histogram<u64>,
    /// Of every response (a code-flow cycle has two).
    pub statuses: BTreeMap<u16, u64>,
    /// Turns answered (a request, or a code-flow cycle), and those that did what was expected.
    pub turns: u64,
    pub ok: u64,
    pub io_errors: u64,
}

impl Tally {
    pub fn new() -> Result<Self, BoxError> {
        // 1 µs to 60 s at 3 significant digits.
        Ok(Self {
            histogram: Histogram::new_with_bounds(1, 60_000_000, 3)?,
            statuses: BTreeMap::new(),
            turns: 0,
            ok: 0,
            io_errors: 0,
        })
    }

    pub fn record(&mut self, turn: &Turn, latency: Duration) {
        for status in turn.statuses.iter().flatten() {
            *self.statuses.entry(*status).or_default() += 1;
        }
        self.turns += 1;
        self.ok += u64::from(turn.ok);
        self.histogram.saturating_record(u64::try_from(latency.as_micros()).unwrap_or(u64::MAX));
    }

    pub fn merge(&mut self, other: Self) -> Result<(), BoxError> {
        self.histogram.add(other.histogram)?;
        for (status, n) in other.statuses {
            *self.statuses.entry(status).or_default() += n;
        }
        self.turns += other.turns;
        self.ok += other.ok;
        self.io_errors += other.io_errors;
        Ok(())
    }
}

/// The measured part of the run: the answers that arrive from `measure_from` to `end`.
#[derive(Clone, Copy)]
pub struct Window {
    pub measure_from: Instant,
    pub end: Instant,
}

impl Window {
    /// Whether an answer arriving at `done_at` counts: every answer that arrives inside the
    /// window, whenever its request was sent. Counting only requests sent inside the window as
    /// well would leave out the first latency's worth of answers (those sent during the warm-up),
    /// so a closed loop whose requests wait long (logins queued for the hashing threads: 0.3 to
    /// 0.5 s in a 4 s window) would report 8-12% fewer requests per second than it served.
    pub fn counts(&self, done_at: Instant) -> bool {
        done_at >= self.measure_from && done_at <= self.end
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_answer_counts_when_it_arrives_inside_the_window_whenever_it_was_sent() {
        let start = Instant::now();
        let window =
            Window { measure_from: start + Duration::from_secs(2), end: start + Duration::from_secs(6) };
        // Sent during the warm-up, answered inside the window: served in the window.
        assert!(window.counts(start + Duration::from_millis(2300)));
        assert!(window.counts(start + Duration::from_secs(6)));
        // Answered during the warm-up or after the end: not.
        assert!(!window.counts(start + Duration::from_millis(1900)));
        assert!(!window.counts(start + Duration::from_millis(6001)));
    }
}
