//! One-off facts about this installation (the `meta` table), e.g. that the bootstrap admin
//! client was created.

use diesel::prelude::*;

use super::DbConnection;
use super::schema::meta;

pub fn get(conn: &mut DbConnection, name: &str) -> QueryResult<Option<String>> {
    meta::table.find(name).select(meta::value).first(conn).optional()
}

pub fn insert(conn: &mut DbConnection, name: &str, value: &str) -> QueryResult<()> {
    diesel::insert_into(meta::table)
        .values((meta::name.eq(name), meta::value.eq(value)))
        .execute(conn)
        .map(drop)
}
