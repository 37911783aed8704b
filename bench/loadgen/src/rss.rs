//! Peak resident memory of the servers under load: every 100 ms, the sum of `VmRSS` over each
//! watched process and its children (node's cluster workers), read from `/proc`.

use std::time::Duration;

use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::BoxError;

const EVERY: Duration = Duration::from_millis(100);

pub struct PeakWatcher;

impl PeakWatcher {
    /// Samples until `end`; the task returns the highest sum seen, in KiB (0 with no pids).
    pub fn spawn(pids: Vec<u32>, end: std::time::Instant) -> JoinHandle<u64> {
        let end = Instant::from_std(end);
        tokio::spawn(async move {
            let mut peak = 0;
            if pids.is_empty() {
                return peak;
            }
            let mut ticker = tokio::time::interval(EVERY);
            while Instant::now() < end {
                ticker.tick().await;
                let sum: u64 = pids.iter().map(|&pid| tree_rss_kib(pid)).sum();
                peak = peak.max(sum);
            }
            peak
        })
    }
}

/// `VmRSS` of `pid` plus that of its direct children, in KiB.
pub fn tree_rss_kib(pid: u32) -> u64 {
    status_kib(pid, "VmRSS:").unwrap_or(0)
        + children(pid).map(|child| status_kib(child, "VmRSS:").unwrap_or(0)).sum::<u64>()
}

/// The direct children of `pid` (node's cluster workers).
pub fn children(pid: u32) -> impl Iterator<Item = u32> {
    let children = std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children")).unwrap_or_default();
    children.split_whitespace().filter_map(|c| c.parse::<u32>().ok()).collect::<Vec<_>>().into_iter()
}

fn status_kib(pid: u32, field: &str) -> Result<u64, BoxError> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let line = status.lines().find(|l| l.starts_with(field)).ok_or("no such field")?;
    let value = line.trim_start_matches(field).trim().trim_end_matches("kB").trim();
    Ok(value.parse()?)
}
