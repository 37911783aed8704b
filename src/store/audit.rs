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

/// Filters for reading the audit log, newest first.
#[derive(Debug, Default, Clone)]
pub struct AuditQuery {
    pub kind: Option<String>,
    pub subject: Option<String>,
    pub since: Option<i64>,
    /// Paging: only events older than this id.
    pub before_id: Option<i64>,
    pub limit: i64,
}

pub fn search(conn: &mut DbConnection, query: &AuditQuery) -> QueryResult<Vec<AuditRow>> {
    let mut select = audit_events::table.into_boxed();
    if let Some(kind) = &query.kind {
        select = select.filter(audit_events::kind.eq(kind.clone()));
    }
    if let Some(subject) = &query.subject {
        select = select.filter(audit_events::subject.eq(subject.clone()));
    }
    if let Some(since) = query.since {
        select = select.filter(audit_events::at.ge(since));
    }
    if let Some(before) = query.before_id {
        select = select.filter(audit_events::id.lt(before));
    }
    select.order(audit_events::id.desc()).limit(query.limit).select(AuditRow::as_select()).load(conn)
}
