//! Signing-key rows.

use diesel::prelude::*;

use super::DbConnection;
use super::schema::signing_keys;

/// States a key moves through: `next → current → previous → retired`.
pub const STATE_NEXT: &str = "next";
pub const STATE_CURRENT: &str = "current";
pub const STATE_PREVIOUS: &str = "previous";
pub const STATE_RETIRED: &str = "retired";

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = signing_keys)]
pub struct KeyRow {
    pub kid: String,
    pub alg: String,
    pub state: String,
    pub public_jwk: String,
    pub private_key_sealed: Option<Vec<u8>>,
    pub created_at: i64,
    pub published_at: i64,
    pub activated_at: Option<i64>,
    pub deactivated_at: Option<i64>,
    pub last_exp: Option<i64>,
    pub retired_at: Option<i64>,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = signing_keys)]
pub struct NewKey<'a> {
    pub kid: &'a str,
    pub alg: &'a str,
    pub state: &'a str,
    pub public_jwk: &'a str,
    pub private_key_sealed: Option<&'a [u8]>,
    pub created_at: i64,
    pub published_at: i64,
    pub activated_at: Option<i64>,
}

/// Keys that belong in the JWKS: everything not yet retired.
pub fn published(conn: &mut DbConnection) -> QueryResult<Vec<KeyRow>> {
    signing_keys::table
        .filter(signing_keys::state.eq_any([STATE_NEXT, STATE_CURRENT, STATE_PREVIOUS]))
        .order(signing_keys::published_at.asc())
        .select(KeyRow::as_select())
        .load(conn)
}

pub fn all(conn: &mut DbConnection) -> QueryResult<Vec<KeyRow>> {
    signing_keys::table.order(signing_keys::created_at.asc()).select(KeyRow::as_select()).load(conn)
}

/// Inserts a key. Inserting a second `current` key fails with a unique violation, which is
/// how concurrent instances agree on exactly one.
pub fn insert(conn: &mut DbConnection, key: &NewKey<'_>) -> QueryResult<()> {
    diesel::insert_into(signing_keys::table).values(key).execute(conn).map(drop)
}
