//! CPU time the servers (and the database behind them) spend during the measured window, from
//! `utime + stime` in `/proc/PID/stat`, so a report can say what one request costs and where.

use tokio::task::JoinHandle;
use tokio::time::Instant;

/// `/proc` counts CPU time in USER_HZ ticks, 100 per second on Linux whatever the kernel's HZ.
const MS_PER_TICK: u64 = 10;

/// CPU milliseconds used between `from` and `to`: of the watched processes (with their children,
/// as for memory) and of the database processes.
pub struct CpuWindow {
    pub server_ms: u64,
    pub db_ms: u64,
}

/// Snapshots at `from` and at `to`; the task returns the differences.
pub fn spawn(
    servers: Vec<u32>,
    db: Vec<u32>,
    from: std::time::Instant,
    to: std::time::Instant,
) -> JoinHandle<CpuWindow> {
    tokio::spawn(async move {
        tokio::time::sleep_until(Instant::from_std(from)).await;
        let (server0, db0) = (total_ticks(&servers, true), total_ticks(&db, false));
        tokio::time::sleep_until(Instant::from_std(to)).await;
        let (server1, db1) = (total_ticks(&servers, true), total_ticks(&db, false));
        CpuWindow {
            server_ms: server1.saturating_sub(server0) * MS_PER_TICK,
            db_ms: db1.saturating_sub(db0) * MS_PER_TICK,
        }
    })
}

fn total_ticks(pids: &[u32], with_children: bool) -> u64 {
    let mut total = 0;
    for &pid in pids {
        total += ticks(pid);
        if with_children {
            total += crate::rss::children(pid).map(ticks).sum::<u64>();
        }
    }
    total
}

/// `utime + stime` of a live process (all its threads), 0 once it is gone.
fn ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // The command name (field 2) may hold spaces; fields count from after its closing ')'.
    let rest = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let mut fields = rest.split_whitespace().skip(11);
    let mut next = || fields.next().and_then(|f| f.parse::<u64>().ok()).unwrap_or(0);
    next() + next()
}
