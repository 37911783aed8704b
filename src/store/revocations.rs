//! What the revocation feed publishes: recently revoked families and subject not-before times.

use diesel::prelude::*;

use super::DbConnection;
use super::schema::{refresh_families, subject_revocations};

/// Records that every token of `subject` issued before `not_before` is revoked. Callers pass
/// the revocation time plus one second: `iat` has one-second resolution, so a token issued in
/// the very second of the revocation is refused too (verifiers compare `iat < not_before`). A later
/// revocation moves the time forward; an earlier one never moves it back).
pub fn revoke_subject(conn: &mut DbConnection, subject: &str, not_before: i64) -> QueryResult<()> {
    conn.transaction(|conn| {
        let updated = diesel::update(
            subject_revocations::table.find(subject).filter(subject_revocations::not_before.lt(not_before)),
        )
        .set(subject_revocations::not_before.eq(not_before))
        .execute(conn)?;
        let exists =
            updated > 0 || subject_revocations::table.find(subject).count().get_result::<i64>(conn)? > 0;
        if !exists {
            diesel::insert_into(subject_revocations::table)
                .values((
                    subject_revocations::subject.eq(subject),
                    subject_revocations::not_before.eq(not_before),
                ))
                .execute(conn)?;
        }
        Ok(())
    })
}

/// Families revoked at or after `since`.
pub fn families_revoked_since(conn: &mut DbConnection, since: i64) -> QueryResult<Vec<String>> {
    refresh_families::table
        .filter(refresh_families::revoked_at.ge(since))
        .order(refresh_families::id.asc())
        .select(refresh_families::id)
        .load(conn)
}

/// Subject not-before times set at or after `since`.
pub fn subjects_since(conn: &mut DbConnection, since: i64) -> QueryResult<Vec<(String, i64)>> {
    subject_revocations::table
        .filter(subject_revocations::not_before.ge(since))
        .order(subject_revocations::subject.asc())
        .select((subject_revocations::subject, subject_revocations::not_before))
        .load(conn)
}

/// Forgets not-before times older than `before` (every token they could refuse has expired).
pub fn purge(conn: &mut DbConnection, before: i64) -> QueryResult<usize> {
    diesel::delete(subject_revocations::table.filter(subject_revocations::not_before.lt(before)))
        .execute(conn)
}
