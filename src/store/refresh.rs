//! Refresh families and their tokens.

use diesel::pg::Pg;
use diesel::prelude::*;
use diesel::query_builder::{AstPass, QueryFragment};
use diesel::sql_types::{BigInt, Binary, Bool, Nullable, Text};

use super::schema::{refresh_families, refresh_tokens, users};
use super::users::UserRow;
use super::{DbConnection, prepared_pg_statement, push_binds};

#[derive(Debug, Clone, Queryable, QueryableByName, Selectable)]
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
    /// The single sign-on session the family was started in (browser sign-in), if any.
    pub session_id: Option<String>,
    /// When the user authenticated; `None` for families older than browser sign-in.
    pub auth_time: Option<i64>,
    /// The resources the grant named (space-separated; RFC 8707), every token's choice.
    pub resources: String,
    /// The DPoP key (RFC 7638 thumbprint) the family's refresh tokens are bound to, if any.
    pub dpop_jkt: Option<String>,
}

impl FamilyRow {
    pub fn is_active(&self, now: i64) -> bool {
        self.revoked_at.is_none() && now < self.expires_at
    }

    /// The resources the family's grant named (RFC 8707), in order.
    pub fn granted_resources(&self) -> Vec<String> {
        super::words(&self.resources)
    }

    /// When the user authenticated for this family (OpenID Connect `auth_time`).
    pub fn authenticated_at(&self) -> i64 {
        self.auth_time.unwrap_or(self.created_at)
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
    pub session_id: Option<&'a str>,
    pub auth_time: Option<i64>,
    pub resources: &'a str,
    pub dpop_jkt: Option<&'a str>,
    /// The SHA-256 of the family's first family token; `None` for a family of row tokens
    /// (whose first token is a `refresh_tokens` row instead).
    pub head_hash: Option<&'a [u8]>,
    pub generation: Option<i64>,
    pub head_expires_at: Option<i64>,
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

/// Revokes every live family of a user with one client (the grant behind them was withdrawn).
/// Returns their ids.
pub fn revoke_user_client_families(
    conn: &mut DbConnection,
    user_id: &str,
    client_id: &str,
    now: i64,
    reason: &str,
) -> QueryResult<Vec<String>> {
    let ids: Vec<String> = refresh_families::table
        .filter(refresh_families::user_id.eq(user_id))
        .filter(refresh_families::client_id.eq(client_id))
        .filter(refresh_families::revoked_at.is_null())
        .select(refresh_families::id)
        .load(conn)?;
    diesel::update(refresh_families::table.filter(refresh_families::id.eq_any(&ids)))
        .set((refresh_families::revoked_at.eq(now), refresh_families::revoked_reason.eq(reason)))
        .execute(conn)?;
    Ok(ids)
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

/// What [`find_claimed`] reads of the token one generation after a claimed one.
#[derive(Debug, Clone, Queryable)]
pub struct NextTokenRow {
    pub token_hash: Vec<u8>,
    pub rotated_at: Option<i64>,
    pub expires_at: i64,
}

/// A claimed token with all a refresh decides on: its family, the family's user, and the
/// family's next generation if it has one (what a grace replay answers with).
#[derive(Debug)]
pub struct ClaimedRows {
    pub token: TokenRow,
    pub family: FamilyRow,
    pub user: UserRow,
    pub next: Option<NextTokenRow>,
}

/// Reads a token and what [`ClaimedRows`] lists in one round trip (the next generation through
/// the `UNIQUE (family_id, generation)` index).
pub fn find_claimed(conn: &mut DbConnection, hash: &[u8]) -> QueryResult<Option<ClaimedRows>> {
    let next = diesel::alias!(refresh_tokens as next_token);
    let next_generation = next
        .field(refresh_tokens::family_id)
        .eq(refresh_tokens::family_id)
        .and(next.field(refresh_tokens::generation).eq(refresh_tokens::generation + 1_i64));
    let next_columns = (refresh_tokens::token_hash, refresh_tokens::rotated_at, refresh_tokens::expires_at);
    let found: Option<(TokenRow, FamilyRow, UserRow, Option<NextTokenRow>)> = refresh_tokens::table
        .inner_join(refresh_families::table.inner_join(users::table))
        .left_join(next.on(next_generation))
        .filter(refresh_tokens::token_hash.eq(hash))
        .select((
            TokenRow::as_select(),
            FamilyRow::as_select(),
            UserRow::as_select(),
            next.fields(next_columns).nullable(),
        ))
        .first(conn)
        .optional()?;
    Ok(found.map(|(token, family, user, next)| ClaimedRows { token, family, user, next }))
}

/// One refresh as PostgreSQL can do it in a single statement (see [`rotate_unused`]).
#[derive(Debug)]
pub struct Rotation<'a> {
    pub hash: &'a [u8],
    pub successor_hash: &'a [u8],
    pub client_id: &'a str,
    pub now: i64,
    /// When the successor expires unless the family ends first.
    pub idle_until: i64,
    pub ip: Option<&'a str>,
    pub user_agent: Option<&'a str>,
    /// Rotate only if the family was started with this same User-Agent.
    pub same_user_agent: bool,
    /// The request's DPoP key: rotate only a family bound to no key or to this one.
    pub dpop_jkt: Option<&'a str>,
}

impl Rotation<'_> {
    /// The conditions on the family `f` both one-statement rotations share: of this client, live,
    /// started with this User-Agent when asked, bound to no DPoP key or to the request's.
    pub(super) fn push_family_conditions<'b>(&'b self, out: &mut AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        out.push_sql(" AND f.client_id = ");
        out.push_bind_param::<Text, _>(&self.client_id)?;
        out.push_sql(" AND f.revoked_at IS NULL AND f.expires_at > ");
        out.push_bind_param::<BigInt, _>(&self.now)?;
        out.push_sql(" AND (NOT ");
        out.push_bind_param::<Bool, _>(&self.same_user_agent)?;
        out.push_sql(" OR f.created_user_agent IS NOT DISTINCT FROM ");
        out.push_bind_param::<Nullable<Text>, _>(&self.user_agent)?;
        out.push_sql(") AND (f.dpop_jkt IS NULL OR f.dpop_jkt = ");
        out.push_bind_param::<Nullable<Text>, _>(&self.dpop_jkt)?;
        out.push_sql(")");
        Ok(())
    }
}

/// What [`rotate_unused`] and `family_heads::rotate` return: the family, its user and when the
/// successor expires.
#[derive(QueryableByName)]
pub(super) struct Rotated {
    #[diesel(embed)]
    family: FamilyRow,
    #[diesel(sql_type = BigInt)]
    successor_expires_at: i64,
    #[diesel(sql_type = Text)]
    user_email: String,
    #[diesel(sql_type = Text)]
    user_password_hash: String,
    #[diesel(sql_type = Text)]
    user_claims: String,
    #[diesel(sql_type = Bool)]
    user_disabled: bool,
    #[diesel(sql_type = BigInt)]
    user_created_at: i64,
    #[diesel(sql_type = BigInt)]
    user_updated_at: i64,
}

/// The usual refresh in one statement, so in one round trip and its own transaction: marks the
/// token used only if it is unused, unexpired, of a live family of this client (and, when asked,
/// of a family started with this User-Agent), inserts the successor, and returns the family, its
/// user and the successor's expiry. `None` changed nothing: the caller takes the careful path,
/// which tells reuse, grace, expiry and the rest apart. PostgreSQL only (SQLite's `WITH` cannot
/// hold an `UPDATE`).
pub fn rotate_unused(
    conn: &mut diesel::PgConnection,
    rotation: &Rotation<'_>,
) -> QueryResult<Option<(FamilyRow, UserRow, i64)>> {
    let rotated: Option<Rotated> = RotateUnused(rotation).get_result(conn).optional()?;
    Ok(rotated.map(Rotated::into_rows))
}

impl Rotated {
    pub(super) fn into_rows(self) -> (FamilyRow, UserRow, i64) {
        let user = UserRow {
            id: self.family.user_id.clone(),
            email: self.user_email,
            password_hash: self.user_password_hash,
            claims: self.user_claims,
            disabled: self.user_disabled,
            created_at: self.user_created_at,
            updated_at: self.user_updated_at,
        };
        (self.family, user, self.successor_expires_at)
    }
}

/// The columns [`Rotated`] reads of the updated family `f` and its user `u`, after the family's
/// and before the successor's expiry.
pub(super) const ROTATED_FAMILY_COLUMNS: &str = "f.id, f.user_id, f.client_id, f.scope, f.created_at, \
    f.expires_at, f.created_ip, f.created_user_agent, f.revoked_at, f.revoked_reason, f.session_id, \
    f.auth_time, f.resources, f.dpop_jkt";
pub(super) const ROTATED_USER_COLUMNS: &str = "u.email AS user_email, u.password_hash AS user_password_hash, \
    u.claims AS user_claims, u.disabled AS user_disabled, u.created_at AS user_created_at, \
    u.updated_at AS user_updated_at";

/// [`rotate_unused`]'s statement, prepared once per connection: parsing and planning it on every
/// refresh cost PostgreSQL more than running it.
struct RotateUnused<'a>(&'a Rotation<'a>);

prepared_pg_statement!(RotateUnused);

impl QueryFragment<Pg> for RotateUnused<'_> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        let r = self.0;
        out.push_sql("WITH won AS (UPDATE refresh_tokens AS t SET rotated_at = ");
        out.push_bind_param::<BigInt, _>(&r.now)?;
        out.push_sql(", rotated_ip = ");
        out.push_bind_param::<Nullable<Text>, _>(&r.ip)?;
        out.push_sql(", rotated_user_agent = ");
        out.push_bind_param::<Nullable<Text>, _>(&r.user_agent)?;
        out.push_sql(" FROM refresh_families AS f WHERE t.token_hash = ");
        out.push_bind_param::<Binary, _>(&r.hash)?;
        out.push_sql(" AND t.rotated_at IS NULL AND t.expires_at > ");
        out.push_bind_param::<BigInt, _>(&r.now)?;
        out.push_sql(" AND f.id = t.family_id");
        r.push_family_conditions(&mut out)?;
        // Columns by name, never `*`: a prepared statement whose result shape changed under it
        // (a column added by a migration during a rolling deploy) fails until re-prepared.
        out.push_sql(
            " RETURNING f.id, f.user_id, f.client_id, f.scope, f.created_at, f.expires_at, \
             f.created_ip, f.created_user_agent, f.revoked_at, f.revoked_reason, f.session_id, \
             f.auth_time, f.resources, f.dpop_jkt, t.generation + 1 AS successor_generation, LEAST(",
        );
        out.push_bind_param::<BigInt, _>(&r.idle_until)?;
        out.push_sql(
            ", f.expires_at) AS successor_expires_at), successor AS (INSERT INTO refresh_tokens \
             (token_hash, family_id, generation, issued_at, expires_at, ip, user_agent) SELECT ",
        );
        out.push_bind_param::<Binary, _>(&r.successor_hash)?;
        out.push_sql(", id, successor_generation, ");
        out.push_bind_param::<BigInt, _>(&r.now)?;
        out.push_sql(", successor_expires_at, ");
        push_binds!(out, Nullable<Text>: &r.ip, Nullable<Text>: &r.user_agent);
        out.push_sql(
            " FROM won) SELECT won.id, won.user_id, won.client_id, won.scope, won.created_at, \
             won.expires_at, won.created_ip, won.created_user_agent, won.revoked_at, won.revoked_reason, \
             won.session_id, won.auth_time, won.resources, won.dpop_jkt, won.successor_expires_at, u.email AS user_email, u.password_hash AS user_password_hash, \
             u.claims AS user_claims, u.disabled AS user_disabled, u.created_at AS user_created_at, \
             u.updated_at AS user_updated_at FROM won JOIN users AS u ON u.id = won.user_id",
        );
        Ok(())
    }
}
