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

/// Events deleted per statement by [`purge`].
const PURGE_BATCH: i64 = 5000;

/// Deletes the events that happened before `before`, oldest first, a batch per statement: no
/// statement holds many rows (the first purge after a long time finds a backlog), and none reads
/// more than a batch when nothing is due. Ids grow with time, so the oldest ids are the oldest
/// events. Returns how many.
pub fn purge(conn: &mut DbConnection, before: i64) -> QueryResult<usize> {
    let mut deleted = 0;
    loop {
        let oldest: Vec<(i64, i64)> = audit_events::table
            .select((audit_events::id, audit_events::at))
            .order(audit_events::id.asc())
            .limit(PURGE_BATCH)
            .load(conn)?;
        let Some(upto) = oldest.iter().filter(|(_, at)| *at < before).map(|(id, _)| *id).max() else {
            return Ok(deleted);
        };
        let batch = diesel::delete(
            audit_events::table.filter(audit_events::id.le(upto)).filter(audit_events::at.lt(before)),
        )
        .execute(conn)?;
        deleted += batch;
        if batch == 0 || i64::try_from(oldest.len()).unwrap_or(0) < PURGE_BATCH {
            return Ok(deleted);
        }
    }
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
