//! What each person allowed each app (the scopes granted), one row per user and client.

use diesel::prelude::*;

use super::DbConnection;
use super::schema::{clients, consents};

/// A remembered consent as the admin API shows it.
#[derive(Debug, Clone, Queryable)]
pub struct ConsentRow {
    pub client_id: String,
    pub client_name: String,
    pub scope: String,
    pub granted_at: i64,
    pub updated_at: i64,
}

/// At most this many consents are listed for one user.
const MAX_LISTED: i64 = 500;

/// The scope `user_id` allowed `client_id`, if they did.
pub fn find(conn: &mut DbConnection, user_id: &str, client_id: &str) -> QueryResult<Option<String>> {
    consents::table.find((user_id, client_id)).select(consents::scope).first(conn).optional()
}

/// Remembers that `user_id` allowed `client_id` `scope` (replacing what was remembered).
pub fn put(
    conn: &mut DbConnection,
    user_id: &str,
    client_id: &str,
    scope: &str,
    now: i64,
) -> QueryResult<()> {
    let updated = diesel::update(consents::table.find((user_id, client_id)))
        .set((consents::scope.eq(scope), consents::updated_at.eq(now)))
        .execute(conn)?;
    if updated == 0 {
        diesel::insert_into(consents::table)
            .values((
                consents::user_id.eq(user_id),
                consents::client_id.eq(client_id),
                consents::scope.eq(scope),
                consents::granted_at.eq(now),
                consents::updated_at.eq(now),
            ))
            .execute(conn)?;
    }
    Ok(())
}

/// The user's consents, most recent first, with each app's name.
pub fn list_for_user(conn: &mut DbConnection, user_id: &str) -> QueryResult<Vec<ConsentRow>> {
    consents::table
        .inner_join(clients::table)
        .filter(consents::user_id.eq(user_id))
        .order(consents::updated_at.desc())
        .limit(MAX_LISTED)
        .select((
            consents::client_id,
            clients::name,
            consents::scope,
            consents::granted_at,
            consents::updated_at,
        ))
        .load(conn)
}

/// Forgets what `user_id` allowed `client_id`. Returns whether there was anything.
pub fn delete(conn: &mut DbConnection, user_id: &str, client_id: &str) -> QueryResult<bool> {
    diesel::delete(consents::table.find((user_id, client_id))).execute(conn).map(|n| n > 0)
}
