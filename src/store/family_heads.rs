//! The head of a refresh family of family tokens (`tokens::refresh`): the family row holds the
//! SHA-256 of its newest token, that token's generation and expiry, and the last rotation. A
//! rotation updates those columns, none of them indexed, and inserts nothing.

use diesel::pg::Pg;
use diesel::prelude::*;
use diesel::query_builder::{AstPass, QueryFragment};
use diesel::sql_types::{BigInt, Binary, Nullable, Text};

use super::refresh::{FamilyRow, ROTATED_FAMILY_COLUMNS, ROTATED_USER_COLUMNS, Rotated, Rotation};
use super::schema::{refresh_families, users};
use super::users::UserRow;
use super::{DbConnection, prepared_pg_statement};

/// A family's head. All `None` for a family of row tokens.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = refresh_families)]
pub struct HeadRow {
    pub head_hash: Option<Vec<u8>>,
    pub generation: Option<i64>,
    pub head_expires_at: Option<i64>,
    /// When the head's parent was used, from where: the last rotation.
    pub rotated_at: Option<i64>,
    pub rotated_ip: Option<String>,
    pub rotated_user_agent: Option<String>,
}

/// Makes `successor_hash` the head of family `family_id` at `generation`, if `hash` is its head:
/// the statement exactly one caller wins, on both backends and across instances. The head's
/// expiry is left as it was (the presented token's) for the caller to read and then set.
/// Returns the number of rows changed (1 = this caller won).
pub fn claim(
    conn: &mut DbConnection,
    family_id: &str,
    hash: &[u8],
    successor: (&[u8], i64),
    now: i64,
    (ip, user_agent): (Option<&str>, Option<&str>),
) -> QueryResult<usize> {
    let (successor_hash, generation) = successor;
    diesel::update(refresh_families::table.find(family_id).filter(refresh_families::head_hash.eq(hash)))
        .set((
            refresh_families::head_hash.eq(successor_hash),
            refresh_families::generation.eq(generation),
            refresh_families::rotated_at.eq(now),
            refresh_families::rotated_ip.eq(ip),
            refresh_families::rotated_user_agent.eq(user_agent),
        ))
        .execute(conn)
}

/// The family, its head and its user.
pub fn find(conn: &mut DbConnection, family_id: &str) -> QueryResult<Option<(FamilyRow, HeadRow, UserRow)>> {
    refresh_families::table
        .inner_join(users::table)
        .filter(refresh_families::id.eq(family_id))
        .select((FamilyRow::as_select(), HeadRow::as_select(), UserRow::as_select()))
        .first(conn)
        .optional()
}

/// Sets when the family's head expires.
pub fn set_expiry(conn: &mut DbConnection, family_id: &str, expires_at: i64) -> QueryResult<()> {
    diesel::update(refresh_families::table.find(family_id))
        .set(refresh_families::head_expires_at.eq(expires_at))
        .execute(conn)
        .map(drop)
}

/// One refresh of a family token as PostgreSQL can do it in a single statement (see [`rotate`]):
/// the presented token's family, the successor's generation, and the rest as for a row token.
#[derive(Debug)]
pub struct HeadRotation<'a> {
    pub family_id: &'a str,
    pub successor_generation: i64,
    pub rotation: Rotation<'a>,
}

/// The usual refresh in one statement, so in one round trip and its own transaction: moves the
/// head to the successor only if the presented token is the unexpired head of a live family of
/// this client (and, when asked, of a family started with this User-Agent), and returns the
/// family, its user and the successor's expiry. One row updated, no index touched. `None`
/// changed nothing: the caller takes the careful path. PostgreSQL only (the careful path is as
/// short on SQLite, which has no round trips).
pub fn rotate(
    conn: &mut diesel::PgConnection,
    rotation: &HeadRotation<'_>,
) -> QueryResult<Option<(FamilyRow, UserRow, i64)>> {
    let rotated: Option<Rotated> = RotateHead(rotation).get_result(conn).optional()?;
    Ok(rotated.map(Rotated::into_rows))
}

/// [`rotate`]'s statement, prepared once per connection.
struct RotateHead<'a>(&'a HeadRotation<'a>);

prepared_pg_statement!(RotateHead);

impl QueryFragment<Pg> for RotateHead<'_> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        let (head, r) = (self.0, &self.0.rotation);
        out.push_sql("UPDATE refresh_families AS f SET head_hash = ");
        out.push_bind_param::<Binary, _>(&r.successor_hash)?;
        out.push_sql(", generation = ");
        out.push_bind_param::<BigInt, _>(&head.successor_generation)?;
        out.push_sql(", head_expires_at = LEAST(");
        out.push_bind_param::<BigInt, _>(&r.idle_until)?;
        out.push_sql(", f.expires_at), rotated_at = ");
        out.push_bind_param::<BigInt, _>(&r.now)?;
        out.push_sql(", rotated_ip = ");
        out.push_bind_param::<Nullable<Text>, _>(&r.ip)?;
        out.push_sql(", rotated_user_agent = ");
        out.push_bind_param::<Nullable<Text>, _>(&r.user_agent)?;
        out.push_sql(" FROM users AS u WHERE f.id = ");
        out.push_bind_param::<Text, _>(&head.family_id)?;
        out.push_sql(" AND f.head_hash = ");
        out.push_bind_param::<Binary, _>(&r.hash)?;
        out.push_sql(" AND f.head_expires_at > ");
        out.push_bind_param::<BigInt, _>(&r.now)?;
        r.push_family_conditions(&mut out)?;
        // Columns by name, never `*` (see `store::refresh::RotateUnused`).
        out.push_sql(" AND u.id = f.user_id RETURNING ");
        out.push_sql(ROTATED_FAMILY_COLUMNS);
        out.push_sql(", f.head_expires_at AS successor_expires_at, ");
        out.push_sql(ROTATED_USER_COLUMNS);
        Ok(())
    }
}
