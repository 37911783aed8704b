//! Failure counters for login throttling, shared by every instance through the database.
//! Each change is one atomic statement, so concurrent failures on several instances all count.

use diesel::prelude::*;

use super::DbConnection;
use super::schema::login_failures;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = login_failures)]
pub struct FailureRow {
    pub subject: String,
    pub failures: i64,
    pub window_start: i64,
    pub locked_until: i64,
}

pub fn find_all(conn: &mut DbConnection, subjects: &[String]) -> QueryResult<Vec<FailureRow>> {
    login_failures::table
        .filter(login_failures::subject.eq_any(subjects))
        .select(FailureRow::as_select())
        .load(conn)
}

/// Counts one failure for `subject` in the window starting at or after `window_start_min`;
/// returns the count. Increments atomically; a stale window restarts at 1; a new subject is
/// inserted (a concurrent insert makes us increment instead).
pub fn add_failure(
    conn: &mut DbConnection,
    subject: &str,
    now: i64,
    window_start_min: i64,
) -> QueryResult<i64> {
    conn.transaction(|conn| {
        for _ in 0..3 {
            let counted = diesel::update(
                login_failures::table.find(subject).filter(login_failures::window_start.ge(window_start_min)),
            )
            .set(login_failures::failures.eq(login_failures::failures + 1))
            .execute(conn)?;
            if counted > 0 {
                return login_failures::table.find(subject).select(login_failures::failures).first(conn);
            }
            let restarted = diesel::update(
                login_failures::table.find(subject).filter(login_failures::window_start.lt(window_start_min)),
            )
            .set((login_failures::failures.eq(1), login_failures::window_start.eq(now)))
            .execute(conn)?;
            if restarted > 0 {
                return Ok(1);
            }
            // In a savepoint: a concurrent insert's unique violation must not abort the
            // enclosing transaction (PostgreSQL would refuse every later statement).
            let inserted = conn.transaction(|conn| {
                diesel::insert_into(login_failures::table)
                    .values((
                        login_failures::subject.eq(subject),
                        login_failures::failures.eq(1),
                        login_failures::window_start.eq(now),
                        login_failures::locked_until.eq(0),
                    ))
                    .execute(conn)
            });
            match inserted {
                Ok(_) => return Ok(1),
                Err(diesel::result::Error::DatabaseError(
                    diesel::result::DatabaseErrorKind::UniqueViolation,
                    _,
                )) => {}
                Err(e) => return Err(e),
            }
        }
        Err(diesel::result::Error::RollbackTransaction)
    })
}

pub fn lock(conn: &mut DbConnection, subject: &str, until: i64) -> QueryResult<usize> {
    diesel::update(login_failures::table.find(subject))
        .set(login_failures::locked_until.eq(until))
        .execute(conn)
}

pub fn clear(conn: &mut DbConnection, subject: &str) -> QueryResult<usize> {
    diesel::delete(login_failures::table.find(subject)).execute(conn)
}

/// Deletes counters whose window and lock both ended before `before`.
pub fn purge(conn: &mut DbConnection, before: i64) -> QueryResult<usize> {
    diesel::delete(
        login_failures::table
            .filter(login_failures::window_start.lt(before))
            .filter(login_failures::locked_until.lt(before)),
    )
    .execute(conn)
}
