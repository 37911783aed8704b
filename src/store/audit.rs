//! Audit events: who did what, when, from where. Written in the same transaction or block as
//! the action they describe.

use diesel::prelude::*;

use super::DbConnection;
use super::schema::audit_events;

#[derive(Debug, Insertable)]
#[diesel(table_name = audit_events)]
pub struct AuditEvent<'a> {
    pub at: i64,
    pub kind: &'a str,
    pub actor: Option<&'a str>,
    pub subject: Option<&'a str>,
    pub ip: Option<&'a str>,
    /// A JSON object with the event's particulars; never a secret.
    pub detail: String,
}

pub fn record(conn: &mut DbConnection, event: &AuditEvent<'_>) -> QueryResult<()> {
    diesel::insert_into(audit_events::table).values(event).execute(conn).map(drop)
}

#[derive(Debug, Clone, Queryable, Selectable, serde::Serialize)]
#[diesel(table_name = audit_events)]
pub struct AuditRow {
    pub id: i64,
    pub at: i64,
    pub kind: String,
    pub actor: Option<String>,
    pub subject: Option<String>,
    pub ip: Option<String>,
    pub detail: String,
}

pub fn recent(conn: &mut DbConnection, limit: i64) -> QueryResult<Vec<AuditRow>> {
    audit_events::table.order(audit_events::id.desc()).limit(limit).select(AuditRow::as_select()).load(conn)
}
