//! Facts about this machine and this checkout for the report's header, and the UTC clock of the
//! log lines and the report's date.

use std::process::Command;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::report::Machine;

/// What the report says about where it ran; `peers_dir` when the peers ran.
pub fn facts(admin_url: &str, peers_dir: Option<&std::path::Path>) -> Machine {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let git = output("git", &["rev-parse", "--short", "HEAD"]).unwrap_or_else(|| "?".to_owned());
    let src_clean =
        Command::new("git").args(["diff", "--quiet", "--", "src"]).status().is_ok_and(|s| s.success());
    Machine {
        cores: cores(),
        cpu: cpu_model(&cpuinfo).unwrap_or_else(|| "unknown CPU".to_owned()),
        memory: memory_gib(&meminfo).map_or_else(|| "?".to_owned(), |gib| format!("{gib:.0} GiB")),
        kernel: read_trimmed("/proc/sys/kernel/osrelease"),
        avx512_ifma: has_cpu_flag(&cpuinfo, "avx512ifma"),
        load_average: read_trimmed("/proc/loadavg").split(' ').take(3).collect::<Vec<_>>().join(" "),
        git: if src_clean { git } else { format!("{git} + uncommitted src changes") },
        postgres: output("psql", &[admin_url, "-qtAc", "SHOW server_version"])
            .and_then(|v| v.split(' ').next().map(str::to_owned))
            .unwrap_or_default(),
        node: output("node", &["--version"]).unwrap_or_else(|| "-".to_owned()),
        peers: peers_dir.map(|dir| {
            let listing = Command::new("npm")
                .args(["ls", "--all", "--parseable", "--long"])
                .current_dir(dir)
                .output()
                .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
                .unwrap_or_default();
            peer_packages(&listing)
        }),
    }
}

/// The cores this process may run on (`nproc`).
pub fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, usize::from)
}

fn read_trimmed(path: &str) -> String {
    std::fs::read_to_string(path).map(|s| s.trim().to_owned()).unwrap_or_default()
}

/// A command's trimmed stdout, when it succeeded.
fn output(program: &str, args: &[&str]) -> Option<String> {
    let out = Command::new(program).args(args).output().ok()?;
    out.status.success().then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

fn cpu_model(cpuinfo: &str) -> Option<String> {
    cpuinfo.lines().find_map(|line| {
        let (key, value) = line.split_once(':')?;
        (key.trim() == "model name").then(|| value.trim().to_owned())
    })
}

fn memory_gib(meminfo: &str) -> Option<f64> {
    let line = meminfo.lines().find(|line| line.starts_with("MemTotal:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1_048_576.0)
}

fn has_cpu_flag(cpuinfo: &str, flag: &str) -> bool {
    cpuinfo.split_whitespace().any(|word| word == flag)
}

/// The peers' packages that float with each npm install below their pinned top level, from
/// `npm ls --all --parseable --long` (`PATH:NAME@VERSION[:…]` lines): sorted, once each.
pub fn peer_packages(listing: &str) -> String {
    const NAMES: [&str; 5] = ["oidc-provider", "jose", "koa", "express", "jsonwebtoken"];
    let mut found: Vec<&str> = listing
        .lines()
        .filter_map(|line| line.split(':').nth(1))
        .filter(|package| {
            package
                .split_once('@')
                .is_some_and(|(name, version)| NAMES.contains(&name) && !version.is_empty())
        })
        .collect();
    found.sort_unstable();
    found.dedup();
    found.join(" ")
}

/// The UTC time now: (date "2026-12-03 07:41 UTC", time of day "07:41:05").
pub fn utc_now() -> (String, String) {
    let secs = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    utc(secs)
}

/// `utc_now` of a Unix time.
pub fn utc(secs: u64) -> (String, String) {
    let (days, rest) = (secs / 86_400, secs % 86_400);
    let (hour, minute, second) = (rest / 3600, rest % 3600 / 60, rest % 60);
    let (year, month, day) = civil_from_days(days);
    (
        format!("{year:04}-{month:02}-{day:02} {hour:02}:{minute:02} UTC"),
        format!("{hour:02}:{minute:02}:{second:02}"),
    )
}

/// The proleptic Gregorian date `days` after 1970-01-01 (Howard Hinnant's `civil_from_days`).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unix_times_read_as_utc_dates() {
        assert_eq!(utc(0), ("1970-01-01 00:00 UTC".to_owned(), "00:00:00".to_owned()));
        // 2026-12-03 07:41:05 UTC; a leap day; the last second of a year.
        assert_eq!(utc(1_796_283_665).0, "2026-12-03 07:41 UTC");
        assert_eq!(utc(1_796_283_665).1, "07:41:05");
        assert_eq!(utc(951_782_400).0, "2000-02-29 00:00 UTC");
        assert_eq!(utc(1_735_689_599), ("2024-12-31 23:59 UTC".to_owned(), "23:59:59".to_owned()));
    }

    #[test]
    fn the_floating_peer_packages_are_named_once_each_in_order() {
        let listing = "/w:bench-peers@1.0.0:undefined\n\
                       /w/node_modules/oidc-provider:oidc-provider@9.13.3:/w/node_modules/oidc-provider\n\
                       /w/node_modules/koa:koa@3.3.0\n\
                       /w/node_modules/jose:jose@6.2.18:x\n\
                       /w/node_modules/oidc-provider/node_modules/jose:jose@6.2.18:y\n\
                       /w/node_modules/express:express@5.3.0\n\
                       /w/node_modules/express-session:express-session@1.0.0\n\
                       /w/node_modules/jsonwebtoken:jsonwebtoken@9.0.3";
        assert_eq!(
            peer_packages(listing),
            "express@5.3.0 jose@6.2.18 jsonwebtoken@9.0.3 koa@3.3.0 oidc-provider@9.13.3"
        );
    }

    #[test]
    fn the_cpu_facts_are_read_from_proc() {
        let cpuinfo = "processor\t: 0\nmodel name\t: AMD EPYC\nflags\t\t: fpu avx512f avx512ifma\n";
        assert_eq!(cpu_model(cpuinfo).as_deref(), Some("AMD EPYC"));
        assert!(has_cpu_flag(cpuinfo, "avx512ifma"));
        assert!(!has_cpu_flag(cpuinfo, "avx512"));
        assert_eq!(memory_gib("MemTotal:       25165824 kB\n"), Some(24.0));
    }
}
