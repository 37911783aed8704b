//! What the revocation feed publishes: recently revoked families, and the not-before times of
//! subjects and of clients.

use diesel::prelude::*;

use super::DbConnection;
use super::schema::{client_revocations, refresh_families, revoked_sids, subject_revocations};

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

/// Records that every token issued through `client_id` before `not_before` is revoked, whatever
/// its subject (the client was deleted). As with subjects, a later time wins.
pub fn revoke_client(conn: &mut DbConnection, client_id: &str, not_before: i64) -> QueryResult<()> {
    conn.transaction(|conn| {
        let found = client_revocations::table.find(client_id).select(client_revocations::not_before);
        match found.first::<i64>(conn).optional()? {
            Some(at) if at >= not_before => {}
            Some(_) => {
                diesel::update(client_revocations::table.find(client_id))
                    .set(client_revocations::not_before.eq(not_before))
                    .execute(conn)?;
            }
            None => {
                diesel::insert_into(client_revocations::table)
                    .values((
                        client_revocations::client_id.eq(client_id),
                        client_revocations::not_before.eq(not_before),
                    ))
                    .execute(conn)?;
            }
        }
        Ok(())
    })
}

/// Client not-before times set at or after `since`.
pub fn clients_since(conn: &mut DbConnection, since: i64) -> QueryResult<Vec<(String, i64)>> {
    client_revocations::table
        .filter(client_revocations::not_before.ge(since))
        .order(client_revocations::client_id.asc())
        .select((client_revocations::client_id, client_revocations::not_before))
        .load(conn)
}

/// The latest time before which the tokens of `subject`, or of `client_id`, are revoked.
pub fn not_before(conn: &mut DbConnection, subject: &str, client_id: &str) -> QueryResult<Option<i64>> {
    let of_subject = subject_revocations::table
        .find(subject)
        .select(subject_revocations::not_before)
        .first::<i64>(conn)
        .optional()?;
    let of_client = client_revocations::table
        .find(client_id)
        .select(client_revocations::not_before)
        .first::<i64>(conn)
        .optional()?;
    Ok(of_subject.max(of_client))
}

/// Families revoked at or after `since`: those whose rows say so, and those whose rows went
/// with their client (see [`remember_client_families`]), in order, each once.
pub fn families_revoked_since(conn: &mut DbConnection, since: i64) -> QueryResult<Vec<String>> {
    let mut sids: Vec<String> = refresh_families::table
        .filter(refresh_families::revoked_at.ge(since))
        .select(refresh_families::id)
        .load(conn)?;
    sids.extend(
        revoked_sids::table
            .filter(revoked_sids::revoked_at.ge(since))
            .select(revoked_sids::sid)
            .load::<String>(conn)?,
    );
    sids.sort();
    sids.dedup();
    Ok(sids)
}

/// Keeps the ids of `client_id`'s live families as revoked at `now`, before the client's
/// deletion takes their rows: tokens exchanged from them carry only their `sid`.
pub fn remember_client_families(conn: &mut DbConnection, client_id: &str, now: i64) -> QueryResult<usize> {
    use diesel::dsl::sql;
    use diesel::sql_types::BigInt;
    let live = refresh_families::table
        .filter(refresh_families::client_id.eq(client_id))
        .filter(refresh_families::revoked_at.is_null())
        .filter(refresh_families::expires_at.gt(now))
        .select((refresh_families::id, sql::<BigInt>("").bind::<BigInt, _>(now)));
    diesel::insert_into(revoked_sids::table)
        .values(live)
        .into_columns((revoked_sids::sid, revoked_sids::revoked_at))
        .execute(conn)
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
    let subjects =
        diesel::delete(subject_revocations::table.filter(subject_revocations::not_before.lt(before)))
            .execute(conn)?;
    let clients = diesel::delete(client_revocations::table.filter(client_revocations::not_before.lt(before)))
        .execute(conn)?;
    let sids =
        diesel::delete(revoked_sids::table.filter(revoked_sids::revoked_at.lt(before))).execute(conn)?;
    Ok(subjects + clients + sids)
}
