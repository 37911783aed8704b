//! CPU time the servers (and the database behind them) spend during the measured window, from
//! `utime + stime` in `/proc/PID/stat`, so a report can say what one request costs and where; and
//! the load generator's own, which shares the cores with them.

use std::collections::HashMap;

use tokio::task::JoinHandle;
use tokio::time::Instant;

/// `/proc` counts CPU time in USER_HZ ticks, 100 per second on Linux whatever the kernel's HZ.
const MS_PER_TICK: u64 = 10;

/// CPU milliseconds used between `from` and `to`: of the watched processes (with their children,
/// as for memory), of the database processes, and of this process.
pub struct CpuWindow {
    pub server_ms: u64,
    pub db_ms: u64,
    pub client_ms: u64,
}

/// Snapshots at `from` and at `to`; the task returns the differences, per process, of those
/// alive at both (one that exits or starts in between would otherwise count its whole life).
pub fn spawn(
    servers: Vec<u32>,
    db: Vec<u32>,
    from: std::time::Instant,
    to: std::time::Instant,
) -> JoinHandle<CpuWindow> {
    let me = [std::process::id()];
    tokio::spawn(async move {
        tokio::time::sleep_until(Instant::from_std(from)).await;
        let (server0, db0, me0) = (snapshot(&servers, true), snapshot(&db, false), snapshot(&me, false));
        tokio::time::sleep_until(Instant::from_std(to)).await;
        let (server1, db1, me1) = (snapshot(&servers, true), snapshot(&db, false), snapshot(&me, false));
        CpuWindow {
            server_ms: used(&server0, &server1) * MS_PER_TICK,
            db_ms: used(&db0, &db1) * MS_PER_TICK,
            client_ms: used(&me0, &me1) * MS_PER_TICK,
        }
    })
}

/// Ticks of each live process: the given ones and, when asked, their children.
fn snapshot(pids: &[u32], with_children: bool) -> HashMap<u32, u64> {
    let mut ticks = HashMap::new();
    for &pid in pids {
        let children = if with_children { crate::rss::children(pid).collect() } else { Vec::new() };
        for pid in std::iter::once(pid).chain(children) {
            if let Some(t) = process_ticks(pid) {
                ticks.insert(pid, t);
            }
        }
    }
    ticks
}

fn used(before: &HashMap<u32, u64>, after: &HashMap<u32, u64>) -> u64 {
    after.iter().filter_map(|(pid, t)| before.get(pid).map(|t0| t.saturating_sub(*t0))).sum()
}

/// `utime + stime` of a live process (all its threads); `None` once it is gone.
fn process_ticks(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces; fields count from after its closing ')'.
    let (_, rest) = stat.rsplit_once(')')?;
    let mut fields = rest.split_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(utime + stime)
}
