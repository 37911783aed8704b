//! The password grant's throttle, against its counters in the database: the verdict before
//! the hash ([`crate::accounts::throttle::verdict`] decides), the failure or success after.

use crate::accounts::throttle::{Counter, Subjects, ThrottlePolicy, Verdict, loggable, verdict};
use crate::store::DbConnection;
use crate::store::throttle as rows;

/// What this attempt may do, from the counters as they stand.
pub fn check(
    conn: &mut DbConnection,
    subjects: &Subjects,
    now: i64,
    policy: &ThrottlePolicy,
) -> diesel::QueryResult<Verdict> {
    let counters: Vec<Counter> = rows::find_all(conn, &subjects.all())?
        .iter()
        .map(|r| Counter { failures: r.failures, window_start: r.window_start, locked_until: r.locked_until })
        .collect();
    Ok(verdict(&counters, now, policy))
}

/// Counts a failed attempt against every subject; locks those that reached their limit.
pub fn record_failure(
    conn: &mut DbConnection,
    subjects: &Subjects,
    now: i64,
    policy: &ThrottlePolicy,
) -> diesel::QueryResult<()> {
    let limits = std::iter::once((&subjects.account, policy.account_limit))
        .chain(subjects.address.as_ref().map(|a| (a, policy.address_limit)));
    for (subject, limit) in limits {
        let failures = rows::add_failure(conn, subject, now, now - policy.window + 1)?;
        if failures >= limit {
            rows::lock(conn, subject, now + policy.lockout)?;
            log::warn!(
                "login throttling: {} locked out for {} s after {failures} failures",
                loggable(subject),
                policy.lockout
            );
        }
    }
    Ok(())
}

/// A successful login clears the account's counter (the address keeps its own).
pub fn record_success(conn: &mut DbConnection, subjects: &Subjects) -> diesel::QueryResult<()> {
    rows::clear(conn, &subjects.account).map(drop)
}
