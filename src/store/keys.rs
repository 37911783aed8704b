//! Signing-key rows.

use diesel::prelude::*;

use super::DbConnection;
use super::schema::signing_keys;
use crate::keys::{KeyRecord, KeyState};

const STATE_NEXT: &str = "next";
const STATE_CURRENT: &str = "current";
const STATE_PREVIOUS: &str = "previous";
const STATE_RETIRED: &str = "retired";

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = signing_keys)]
struct KeyRow {
    kid: String,
    alg: String,
    state: String,
    public_jwk: String,
    private_key_sealed: Option<Vec<u8>>,
    created_at: i64,
    published_at: i64,
    activated_at: Option<i64>,
    deactivated_at: Option<i64>,
    last_exp: Option<i64>,
    retired_at: Option<i64>,
    revoked_at: Option<i64>,
}

impl TryFrom<KeyRow> for KeyRecord {
    type Error = diesel::result::Error;

    fn try_from(row: KeyRow) -> QueryResult<Self> {
        let state = KeyState::parse(&row.state).ok_or_else(|| {
            diesel::result::Error::DeserializationError(
                format!("key {}: unknown state {:?}", row.kid, row.state).into(),
            )
        })?;
        Ok(Self {
            kid: row.kid,
            alg: row.alg,
            state,
            public_jwk: row.public_jwk,
            private_key_sealed: row.private_key_sealed,
            created_at: row.created_at,
            published_at: row.published_at,
            activated_at: row.activated_at,
            deactivated_at: row.deactivated_at,
            last_exp: row.last_exp,
            retired_at: row.retired_at,
            revoked_at: row.revoked_at,
        })
    }
}

#[derive(Debug, Insertable)]
#[diesel(table_name = signing_keys)]
struct NewKey<'a> {
    kid: &'a str,
    alg: &'a str,
    state: &'a str,
    public_jwk: &'a str,
    private_key_sealed: Option<&'a [u8]>,
    created_at: i64,
    published_at: i64,
    activated_at: Option<i64>,
}

fn records(rows: Vec<KeyRow>) -> QueryResult<Vec<KeyRecord>> {
    rows.into_iter().map(KeyRecord::try_from).collect()
}

/// Keys that belong in the JWKS: everything not yet retired. Ordered by kid, so every instance
/// serves the same bytes and the same ETag.
pub fn published(conn: &mut DbConnection) -> QueryResult<Vec<KeyRecord>> {
    records(
        signing_keys::table
            .filter(signing_keys::state.eq_any([STATE_NEXT, STATE_CURRENT, STATE_PREVIOUS]))
            .order(signing_keys::kid.asc())
            .select(KeyRow::as_select())
            .load(conn)?,
    )
}

pub fn all(conn: &mut DbConnection) -> QueryResult<Vec<KeyRecord>> {
    records(signing_keys::table.order(signing_keys::created_at.asc()).select(KeyRow::as_select()).load(conn)?)
}

/// Inserts a new key (its timeline beyond `activated_at` starts empty). Inserting a second
/// `current` key fails with a unique violation, which is how concurrent instances agree on
/// exactly one.
pub fn insert(conn: &mut DbConnection, key: &KeyRecord) -> QueryResult<()> {
    let row = NewKey {
        kid: &key.kid,
        alg: &key.alg,
        state: key.state.as_str(),
        public_jwk: &key.public_jwk,
        private_key_sealed: key.private_key_sealed.as_deref(),
        created_at: key.created_at,
        published_at: key.published_at,
        activated_at: key.activated_at,
    };
    diesel::insert_into(signing_keys::table).values(&row).execute(conn).map(drop)
}

pub fn find(conn: &mut DbConnection, kid: &str) -> QueryResult<Option<KeyRecord>> {
    signing_keys::table
        .find(kid)
        .select(KeyRow::as_select())
        .first(conn)
        .optional()?
        .map(KeyRecord::try_from)
        .transpose()
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
pub fn retire(conn: &mut DbConnection, key: &KeyRecord, now: i64) -> QueryResult<usize> {
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
pub fn retire_if_expired(
    conn: &mut DbConnection,
    key: &KeyRecord,
    cutoff: i64,
    now: i64,
) -> QueryResult<usize> {
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
