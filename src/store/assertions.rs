//! Client assertion `jti`s already used, kept until the assertion expires: an assertion is good
//! once, across every instance sharing the database.

use diesel::prelude::*;

use super::DbConnection;
use super::schema::client_assertion_jtis;

/// Records `jti` as used by `client_id` until `expires_at`. Returns `false` when it was used
/// before (the primary key refused the row): the caller refuses the assertion. Not to be run
/// inside a transaction (on PostgreSQL the refused insert would abort it).
pub fn use_once(conn: &mut DbConnection, client_id: &str, jti: &str, expires_at: i64) -> QueryResult<bool> {
    let inserted = diesel::insert_into(client_assertion_jtis::table)
        .values((
            client_assertion_jtis::client_id.eq(client_id),
            client_assertion_jtis::jti.eq(jti),
            client_assertion_jtis::expires_at.eq(expires_at),
        ))
        .execute(conn);
    match inserted {
        Ok(_) => Ok(true),
        Err(diesel::result::Error::DatabaseError(diesel::result::DatabaseErrorKind::UniqueViolation, _)) => {
            Ok(false)
        }
        Err(e) => Err(e),
    }
}

/// Forgets `jti`s of assertions expired before `before` (they cannot be replayed any more).
pub fn purge(conn: &mut DbConnection, before: i64) -> QueryResult<usize> {
    diesel::delete(client_assertion_jtis::table.filter(client_assertion_jtis::expires_at.lt(before)))
        .execute(conn)
}
