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
    /// Set when the key was retired before its tokens expired (see [`retire`]).
    pub revoked_at: Option<i64>,
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

/// Keys that belong in the JWKS: everything not yet retired. Ordered by kid, so every instance
/// serves the same bytes and the same ETag.
pub fn published(conn: &mut DbConnection) -> QueryResult<Vec<KeyRow>> {
    signing_keys::table
        .filter(signing_keys::state.eq_any([STATE_NEXT, STATE_CURRENT, STATE_PREVIOUS]))
        .order(signing_keys::kid.asc())
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

pub fn find(conn: &mut DbConnection, kid: &str) -> QueryResult<Option<KeyRow>> {
    signing_keys::table.find(kid).select(KeyRow::as_select()).first(conn).optional()
}

/// `current → previous`: the key stops signing and stays published until its tokens expired.
pub fn demote(conn: &mut DbConnection, kid: &str, now: i64) -> QueryResult<usize> {
    diesel::update(signing_keys::table.find(kid).filter(signing_keys::state.eq(STATE_CURRENT)))
        .set((signing_keys::state.eq(STATE_PREVIOUS), signing_keys::deactivated_at.eq(now)))
        .execute(conn)
}

/// `next → current`.
pub fn promote(conn: &mut DbConnection, kid: &str, now: i64) -> QueryResult<usize> {
    diesel::update(signing_keys::table.find(kid).filter(signing_keys::state.eq(STATE_NEXT)))
        .set((signing_keys::state.eq(STATE_CURRENT), signing_keys::activated_at.eq(now)))
        .execute(conn)
}

/// Any state `→ retired` at once, before the tokens it signed expired (an emergency rotation,
/// an operator's retire): it leaves the JWKS, its sealed private key is erased for good, and it
/// counts as revoked (`revoked_at`), so the revocation feed tells verifiers that still cache it.
/// `deactivated_at` is kept if set, else set to `now`.
pub fn retire(conn: &mut DbConnection, key: &KeyRow, now: i64) -> QueryResult<usize> {
    diesel::update(signing_keys::table.find(&key.kid).filter(signing_keys::state.ne(STATE_RETIRED)))
        .set((
            signing_keys::state.eq(STATE_RETIRED),
            signing_keys::retired_at.eq(now),
            signing_keys::revoked_at.eq(now),
            signing_keys::deactivated_at.eq(key.deactivated_at.unwrap_or(now)),
            signing_keys::private_key_sealed.eq(None::<Vec<u8>>),
        ))
        .execute(conn)
}

/// Kids of keys revoked at or after `since`, in order.
pub fn revoked_since(conn: &mut DbConnection, since: i64) -> QueryResult<Vec<String>> {
    signing_keys::table
        .filter(signing_keys::revoked_at.ge(since))
        .order(signing_keys::kid.asc())
        .select(signing_keys::kid)
        .load(conn)
}

/// `previous → retired`, only if no token it signed is still valid: `last_exp` (re-read by the
/// statement itself, so a concurrent signer raising it wins) is at most `cutoff`.
pub fn retire_if_expired(conn: &mut DbConnection, key: &KeyRow, cutoff: i64, now: i64) -> QueryResult<usize> {
    diesel::update(
        signing_keys::table
            .find(&key.kid)
            .filter(signing_keys::state.eq(STATE_PREVIOUS))
            .filter(signing_keys::last_exp.is_null().or(signing_keys::last_exp.le(cutoff))),
    )
    .set((
        signing_keys::state.eq(STATE_RETIRED),
        signing_keys::retired_at.eq(now),
        signing_keys::private_key_sealed.eq(None::<Vec<u8>>),
    ))
    .execute(conn)
}

/// Raises the key's `last_exp` to `until` if it is lower, while the key may still sign.
/// Returns the number of rows changed: 0 when `last_exp` was already as high, or the key retired.
pub fn raise_last_exp(conn: &mut DbConnection, kid: &str, until: i64) -> QueryResult<usize> {
    diesel::update(
        signing_keys::table
            .find(kid)
            .filter(signing_keys::state.eq_any([STATE_CURRENT, STATE_PREVIOUS]))
            .filter(signing_keys::last_exp.is_null().or(signing_keys::last_exp.lt(until))),
    )
    .set(signing_keys::last_exp.eq(until))
    .execute(conn)
}
