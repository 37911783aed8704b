//! Refresh families and their tokens.

use diesel::prelude::*;

use super::DbConnection;
use super::schema::{refresh_families, refresh_tokens, users};
use super::users::UserRow;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = refresh_families)]
pub struct FamilyRow {
    pub id: String,
    pub user_id: String,
    pub client_id: String,
    pub scope: String,
    pub created_at: i64,
    pub expires_at: i64,
    pub created_ip: Option<String>,
    pub created_user_agent: Option<String>,
    pub revoked_at: Option<i64>,
    pub revoked_reason: Option<String>,
}

impl FamilyRow {
    pub fn is_active(&self, now: i64) -> bool {
        self.revoked_at.is_none() && now < self.expires_at
    }
}

#[derive(Debug, Insertable)]
#[diesel(table_name = refresh_families)]
pub struct NewFamily<'a> {
    pub id: &'a str,
    pub user_id: &'a str,
    pub client_id: &'a str,
    pub scope: &'a str,
    pub created_at: i64,
    pub expires_at: i64,
    pub created_ip: Option<&'a str>,
    pub created_user_agent: Option<&'a str>,
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = refresh_tokens)]
pub struct TokenRow {
    pub token_hash: Vec<u8>,
    pub family_id: String,
    pub generation: i64,
    pub issued_at: i64,
    pub expires_at: i64,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub rotated_at: Option<i64>,
    pub rotated_ip: Option<String>,
    pub rotated_user_agent: Option<String>,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = refresh_tokens)]
pub struct NewToken<'a> {
    pub token_hash: &'a [u8],
    pub family_id: &'a str,
    pub generation: i64,
    pub issued_at: i64,
    pub expires_at: i64,
    pub ip: Option<&'a str>,
    pub user_agent: Option<&'a str>,
}

pub fn insert_family(conn: &mut DbConnection, family: &NewFamily<'_>) -> QueryResult<()> {
    diesel::insert_into(refresh_families::table).values(family).execute(conn).map(drop)
}

pub fn insert_token(conn: &mut DbConnection, token: &NewToken<'_>) -> QueryResult<()> {
    diesel::insert_into(refresh_tokens::table).values(token).execute(conn).map(drop)
}

pub fn find_family(conn: &mut DbConnection, id: &str) -> QueryResult<Option<FamilyRow>> {
    refresh_families::table.find(id).select(FamilyRow::as_select()).first(conn).optional()
}

pub fn find_token(conn: &mut DbConnection, hash: &[u8]) -> QueryResult<Option<TokenRow>> {
    refresh_tokens::table.find(hash).select(TokenRow::as_select()).first(conn).optional()
}

pub fn find_generation(
    conn: &mut DbConnection,
    family_id: &str,
    generation: i64,
) -> QueryResult<Option<TokenRow>> {
    refresh_tokens::table
        .filter(refresh_tokens::family_id.eq(family_id))
        .filter(refresh_tokens::generation.eq(generation))
        .select(TokenRow::as_select())
        .first(conn)
        .optional()
}

/// Marks the token used, if nobody has: the one statement exactly one caller wins, on both
/// backends and across instances. Returns the number of rows changed (1 = this caller won).
pub fn mark_rotated(
    conn: &mut DbConnection,
    hash: &[u8],
    now: i64,
    ip: Option<&str>,
    user_agent: Option<&str>,
) -> QueryResult<usize> {
    diesel::update(refresh_tokens::table.find(hash).filter(refresh_tokens::rotated_at.is_null()))
        .set((
            refresh_tokens::rotated_at.eq(now),
            refresh_tokens::rotated_ip.eq(ip),
            refresh_tokens::rotated_user_agent.eq(user_agent),
        ))
        .execute(conn)
}

/// Revokes a family (idempotent: the first reason stands).
pub fn revoke_family(conn: &mut DbConnection, id: &str, now: i64, reason: &str) -> QueryResult<usize> {
    diesel::update(refresh_families::table.find(id).filter(refresh_families::revoked_at.is_null()))
        .set((refresh_families::revoked_at.eq(now), refresh_families::revoked_reason.eq(reason)))
        .execute(conn)
}

/// Revokes every live family of a user.
pub fn revoke_user_families(
    conn: &mut DbConnection,
    user_id: &str,
    now: i64,
    reason: &str,
) -> QueryResult<usize> {
    diesel::update(
        refresh_families::table
            .filter(refresh_families::user_id.eq(user_id))
            .filter(refresh_families::revoked_at.is_null())
            .filter(refresh_families::expires_at.gt(now)),
    )
    .set((refresh_families::revoked_at.eq(now), refresh_families::revoked_reason.eq(reason)))
    .execute(conn)
}

/// Deletes families that expired, or were revoked before `revoked_before` (their tokens go with
/// them). Returns how many.
pub fn purge(conn: &mut DbConnection, now: i64, revoked_before: i64) -> QueryResult<usize> {
    let dead = refresh_families::table
        .filter(refresh_families::expires_at.le(now).or(refresh_families::revoked_at.le(revoked_before)))
        .select(refresh_families::id);
    diesel::delete(refresh_tokens::table.filter(refresh_tokens::family_id.eq_any(dead))).execute(conn)?;
    diesel::delete(
        refresh_families::table
            .filter(refresh_families::expires_at.le(now).or(refresh_families::revoked_at.le(revoked_before))),
    )
    .execute(conn)
}

pub fn token_count(conn: &mut DbConnection, family_id: &str) -> QueryResult<i64> {
    refresh_tokens::table.filter(refresh_tokens::family_id.eq(family_id)).count().get_result(conn)
}

/// A token, its family and the family's user in one round trip.
pub fn find_token_with_family(
    conn: &mut DbConnection,
    hash: &[u8],
) -> QueryResult<Option<(TokenRow, FamilyRow, UserRow)>> {
    refresh_tokens::table
        .inner_join(refresh_families::table.inner_join(users::table))
        .filter(refresh_tokens::token_hash.eq(hash))
        .select((TokenRow::as_select(), FamilyRow::as_select(), UserRow::as_select()))
        .first(conn)
        .optional()
}
