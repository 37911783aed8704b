//! Back-channel logout notices not delivered yet (OpenID Connect Back-Channel Logout 1.0): one
//! row per login (refresh family) of an ended session whose client has a back-channel logout
//! URI. A row's id is its family's: a login is logged out once. `next_attempt_at` is both the
//! retry schedule and the claim: an instance that takes a row first moves it into the future,
//! in a statement only one instance can win. Rows are deleted once delivered or given up.

use diesel::prelude::*;
use diesel::sql_types::BigInt;

use super::DbConnection;
use super::schema::{clients, logout_deliveries, refresh_families};

/// A notice as stored: for which client, who logged out of which login, and how it went so far.
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable)]
#[diesel(table_name = logout_deliveries)]
pub struct DeliveryRow {
    pub id: String,
    pub client_id: String,
    pub user_id: String,
    pub sid: String,
    pub next_attempt_at: i64,
    pub attempts: i64,
}

/// Adds a notice, due at `now`, for each of these families whose client has a back-channel
/// logout URI and is not disabled: one `INSERT … SELECT`. Returns how many were added.
pub fn enqueue(conn: &mut DbConnection, family_ids: &[&str], now: i64) -> QueryResult<usize> {
    if family_ids.is_empty() {
        return Ok(0);
    }
    let notices = refresh_families::table
        .inner_join(clients::table)
        .filter(refresh_families::id.eq_any(family_ids))
        .filter(clients::backchannel_logout_uri.is_not_null())
        .filter(clients::disabled.eq(false))
        .select((
            refresh_families::id,
            refresh_families::client_id,
            refresh_families::user_id,
            refresh_families::id,
            now.into_sql::<BigInt>(),
            now.into_sql::<BigInt>(),
        ));
    diesel::insert_into(logout_deliveries::table)
        .values(notices)
        .into_columns((
            logout_deliveries::id,
            logout_deliveries::client_id,
            logout_deliveries::user_id,
            logout_deliveries::sid,
            logout_deliveries::created_at,
            logout_deliveries::next_attempt_at,
        ))
        .execute(conn)
}

/// Up to `limit` notices due at `now`, the longest waiting first. Not claimed yet: see [`claim`].
pub fn due(conn: &mut DbConnection, now: i64, limit: i64) -> QueryResult<Vec<DeliveryRow>> {
    logout_deliveries::table
        .filter(logout_deliveries::next_attempt_at.le(now))
        .order(logout_deliveries::next_attempt_at.asc())
        .limit(limit)
        .select(DeliveryRow::as_select())
        .load(conn)
}

/// Takes the notice `seen` (as [`due`] read it) until `until`, if nobody took or changed it since:
/// of two instances that read the same row, exactly one wins. Returns whether this call won.
pub fn claim(conn: &mut DbConnection, seen: &DeliveryRow, until: i64) -> QueryResult<bool> {
    let won = diesel::update(
        logout_deliveries::table
            .find(&seen.id)
            .filter(logout_deliveries::next_attempt_at.eq(seen.next_attempt_at))
            .filter(logout_deliveries::attempts.eq(seen.attempts)),
    )
    .set(logout_deliveries::next_attempt_at.eq(until))
    .execute(conn)?;
    Ok(won == 1)
}

/// A failed attempt: `attempts` made so far, the next one at `at`.
pub fn reschedule(conn: &mut DbConnection, id: &str, attempts: i64, at: i64) -> QueryResult<usize> {
    diesel::update(logout_deliveries::table.find(id))
        .set((logout_deliveries::attempts.eq(attempts), logout_deliveries::next_attempt_at.eq(at)))
        .execute(conn)
}

/// Removes a notice: delivered, given up, or its client no longer wants notices.
pub fn delete(conn: &mut DbConnection, id: &str) -> QueryResult<usize> {
    diesel::delete(logout_deliveries::table.find(id)).execute(conn)
}
