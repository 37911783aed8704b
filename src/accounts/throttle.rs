//! Brute-force throttling of the password grant, per account and per client address: after
//! `slow_after` failures in the window each attempt waits (doubling, capped), and at the limit
//! the subject is locked out (429 with Retry-After). Counters live in the database, so they
//! hold across instances.
//!
//! The counters are read before the (slow) hash and written after it, so attempts on one account
//! take turns ([`AccountGate`]): otherwise a burst of parallel guesses would all read "allowed"
//! before the first failure was written, and the limit would count none of them.

use std::hash::{BuildHasher, RandomState};
use std::net::{IpAddr, Ipv6Addr};
use std::time::Duration;

use tokio::sync::{Mutex, MutexGuard};

/// The throttle as configured (`throttle.*`).
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ThrottleSettings {
    #[serde(with = "humantime_serde")]
    pub window: Duration,
    pub slow_after: i64,
    #[serde(with = "humantime_serde")]
    pub slow_delay: Duration,
    pub account_limit: i64,
    pub address_limit: i64,
    #[serde(with = "humantime_serde")]
    pub lockout: Duration,
    pub ipv6_prefix: u8,
}

#[derive(Debug, Clone, Copy)]
pub struct ThrottlePolicy {
    pub window: i64,
    pub slow_after: i64,
    pub slow_delay: Duration,
    pub account_limit: i64,
    pub address_limit: i64,
    pub lockout: i64,
    /// IPv6 clients are counted per network of this prefix length: one host usually holds a
    /// whole /64, and counting its addresses one by one would give it 2^64 fresh counters.
    pub ipv6_prefix: u8,
}

impl ThrottlePolicy {
    pub fn from_settings(s: &ThrottleSettings) -> Self {
        let secs = |d: Duration| i64::try_from(d.as_secs()).unwrap_or(i64::MAX / 4);
        Self {
            window: secs(s.window),
            slow_after: s.slow_after,
            slow_delay: s.slow_delay,
            account_limit: s.account_limit,
            address_limit: s.address_limit,
            lockout: secs(s.lockout),
            ipv6_prefix: s.ipv6_prefix,
        }
    }
}

/// Lock stripes of the gate: accounts share one only by hash collision, which merely makes two
/// of their logins take turns.
const GATE_STRIPES: usize = 1024;
/// How long an attempt waits for the account's earlier attempts before it is refused (429).
const GATE_WAIT: Duration = Duration::from_secs(10);

/// Makes the password attempts on one account take turns in this instance: each reads the
/// counters the previous one wrote. (Instances each take their own turn: N instances let at most
/// N attempts on one account run at once.)
pub struct AccountGate {
    stripes: Box<[Mutex<()>]>,
    hasher: RandomState,
}

/// The account's turn; the next attempt goes on when this is dropped.
pub struct Turn<'a> {
    _guard: MutexGuard<'a, ()>,
}

impl AccountGate {
    pub fn new() -> Self {
        Self { stripes: (0..GATE_STRIPES).map(|_| Mutex::new(())).collect(), hasher: RandomState::new() }
    }

    /// Waits for `account`'s turn, or `None` if its earlier attempts kept it longer than
    /// [`GATE_WAIT`].
    pub async fn turn(&self, account: &str) -> Option<Turn<'_>> {
        let index = usize::try_from(self.hasher.hash_one(account) % GATE_STRIPES as u64).unwrap_or(0);
        let stripe = self.stripes.get(index)?;
        tokio::time::timeout(GATE_WAIT, stripe.lock()).await.ok().map(|guard| Turn { _guard: guard })
    }
}

impl Default for AccountGate {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for AccountGate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccountGate").field("stripes", &self.stripes.len()).finish()
    }
}

/// The subjects one login attempt counts against.
#[derive(Debug, Clone)]
pub struct Subjects {
    pub account: String,
    pub address: Option<String>,
}

impl Subjects {
    /// The account, and the client's address: an IPv4 address as it is, an IPv6 address as its
    /// network of `ipv6_prefix` bits (IPv4-mapped IPv6 addresses count as IPv4).
    pub fn new(email: &str, ip: Option<&str>, ipv6_prefix: u8) -> Self {
        let address = ip.map(|ip| match ip.parse::<IpAddr>().map(|ip| ip.to_canonical()) {
            Ok(IpAddr::V6(v6)) => {
                let bits = u32::from(ipv6_prefix.min(128));
                let mask = u128::MAX.checked_shl(128 - bits).unwrap_or(0);
                format!("address:{}/{bits}", Ipv6Addr::from(u128::from(v6) & mask))
            }
            Ok(IpAddr::V4(v4)) => format!("address:{v4}"),
            Err(_) => format!("address:{ip}"),
        });
        Self { account: format!("account:{email}"), address }
    }

    /// Every counter this attempt counts against.
    pub fn all(&self) -> Vec<String> {
        std::iter::once(self.account.clone()).chain(self.address.clone()).collect()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// No failure on record: a success has nothing to clear.
    Clean,
    Allow,
    /// Allowed after waiting this long.
    Delay(Duration),
    /// Refused for this many more seconds.
    Locked {
        retry_after: i64,
    },
}

/// One subject's failure counter, as stored.
#[derive(Debug, Clone, Copy)]
pub struct Counter {
    pub failures: i64,
    pub window_start: i64,
    pub locked_until: i64,
}

/// What this attempt may do, from the counters of its subjects as they stand.
pub fn verdict(counters: &[Counter], now: i64, policy: &ThrottlePolicy) -> Verdict {
    if counters.is_empty() {
        return Verdict::Clean;
    }
    if let Some(until) = counters.iter().map(|c| c.locked_until).filter(|until| *until > now).max() {
        return Verdict::Locked { retry_after: until - now };
    }
    let failures = counters
        .iter()
        .filter(|c| c.window_start > now - policy.window)
        .map(|c| c.failures)
        .max()
        .unwrap_or(0);
    if failures < policy.slow_after {
        return Verdict::Allow;
    }
    let doublings = u32::try_from((failures - policy.slow_after).min(3)).unwrap_or(3);
    Verdict::Delay(policy.slow_delay.saturating_mul(1 << doublings))
}

/// A subject as the log may show it: an address, or an account that is an email. Any other
/// username is left out: people type passwords into the username field, and a raw username
/// could carry line breaks that forge log lines.
pub fn loggable(subject: &str) -> String {
    match subject.strip_prefix("account:") {
        Some(name) if crate::accounts::users::normalize_email(name).is_err() => {
            "account:(a username that is not an email)".to_owned()
        }
        _ => subject.chars().filter(|c| !c.is_control()).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_verdict_follows_the_counters() {
        let policy = ThrottlePolicy {
            window: 900,
            slow_after: 3,
            slow_delay: Duration::from_secs(1),
            account_limit: 10,
            address_limit: 100,
            lockout: 900,
            ipv6_prefix: 64,
        };
        let now = 10_000;
        let counter = |failures, window_start, locked_until| Counter { failures, window_start, locked_until };
        let cases = [
            ("no counter", vec![], Verdict::Clean),
            ("under slow_after", vec![counter(2, now - 10, 0)], Verdict::Allow),
            ("at slow_after", vec![counter(3, now - 10, 0)], Verdict::Delay(Duration::from_secs(1))),
            ("doubling", vec![counter(5, now - 10, 0)], Verdict::Delay(Duration::from_secs(4))),
            ("capped at 8x", vec![counter(9, now - 10, 0)], Verdict::Delay(Duration::from_secs(8))),
            ("an old window counts nothing", vec![counter(9, now - 900, 0)], Verdict::Allow),
            (
                "the worst subject counts",
                vec![counter(1, now, 0), counter(4, now, 0)],
                Verdict::Delay(Duration::from_secs(2)),
            ),
            ("locked", vec![counter(1, now, now + 60)], Verdict::Locked { retry_after: 60 }),
            ("a lockout that ended", vec![counter(1, now, now)], Verdict::Allow),
        ];
        for (name, counters, expected) in cases {
            assert_eq!(verdict(&counters, now, &policy), expected, "{name}");
        }
    }

    #[test]
    fn ipv6_clients_count_per_network_and_ipv4_per_address() {
        let address =
            |ip: &str, prefix: u8| Subjects::new("a@example.com", Some(ip), prefix).address.unwrap();
        assert_eq!(address("2001:db8:1:2:ffff::1", 64), "address:2001:db8:1:2::/64");
        assert_eq!(address("2001:db8:1:2::99", 64), address("2001:db8:1:2:abcd::7", 64), "same /64");
        assert_ne!(address("2001:db8:1:2::1", 64), address("2001:db8:1:3::1", 64), "another /64");
        assert_eq!(address("2001:db8:1:2::1", 48), address("2001:db8:1:3::1", 48), "same /48");
        assert_eq!(address("2001:db8::1", 128), "address:2001:db8::1/128");
        assert_eq!(address("203.0.113.9", 64), "address:203.0.113.9");
        assert_eq!(address("::ffff:203.0.113.9", 64), "address:203.0.113.9", "IPv4-mapped");
        assert_eq!(address("2001:db8::1", 0), "address:::/0");
    }

    #[test]
    fn logs_show_emails_and_addresses_but_no_other_usernames() {
        assert_eq!(loggable("account:alice@example.com"), "account:alice@example.com");
        assert_eq!(loggable("address:203.0.113.9"), "address:203.0.113.9");
        for typed in ["account:hunter2-my-password", "account:x\nforged line", "account:"] {
            assert_eq!(loggable(typed), "account:(a username that is not an email)", "{typed}");
        }
    }
}
