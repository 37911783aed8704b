//! Who did an administrative action, and the one way it is recorded: every operation writes its
//! audit event in the same transaction as the change it describes. [`search`] reads the log back.

use serde_json::{Value, json};

use super::Error;
use crate::store::DbConnection;
use crate::store::audit::{self, AuditEvent, AuditQuery, AuditRow, record};

const DEFAULT_LIMIT: i64 = 100;
const MAX_LIMIT: i64 = 500;

/// Who acts: an admin client through the API (with the address it called from), the CLI, or
/// jwtd itself (bootstrap, schedules).
#[derive(Debug, Clone)]
pub struct Actor {
    pub id: String,
    pub ip: Option<String>,
}

impl Actor {
    /// The command line, run by an operator on the host.
    pub fn cli() -> Self {
        Self { id: "cli".to_owned(), ip: None }
    }

    /// jwtd itself (the bootstrap client, scheduled work).
    pub fn jwtd() -> Self {
        Self { id: "jwtd".to_owned(), ip: None }
    }

    /// Records that this actor did `kind` to `subject` at `now`.
    pub fn audit(
        &self,
        conn: &mut DbConnection,
        now: i64,
        kind: &str,
        subject: Option<&str>,
        detail: serde_json::Value,
    ) -> diesel::QueryResult<()> {
        let event = AuditEvent {
            at: now,
            kind,
            actor: Some(&self.id),
            subject,
            ip: self.ip.as_deref(),
            detail: detail.to_string(),
        };
        record(conn, &event)
    }
}

/// Which events to read, newest first; `None` leaves a filter out.
#[derive(Debug, Default, Clone)]
pub struct Search {
    pub kind: Option<String>,
    pub subject: Option<String>,
    /// Events at or after this time.
    pub since: Option<i64>,
    /// Paging: only events older than this id.
    pub before_id: Option<i64>,
    /// 100 if `None`, at most 500.
    pub limit: Option<i64>,
}

/// One page of events; `next_before_id` continues it when the page is full.
#[derive(Debug)]
pub struct AuditPage {
    events: Vec<AuditRow>,
    next_before_id: Option<i64>,
}

impl AuditPage {
    pub fn describe(&self) -> Value {
        let events: Vec<Value> = self
            .events
            .iter()
            .map(|r| {
                let detail: Value = serde_json::from_str(&r.detail).unwrap_or(Value::Null);
                json!({ "id": r.id, "at": r.at, "kind": r.kind, "actor": r.actor, "subject": r.subject,
                        "ip": r.ip, "detail": detail })
            })
            .collect();
        json!({ "events": events, "next_before_id": self.next_before_id })
    }
}

/// Reads the audit log, newest first. Text filters are cut to a bounded length.
pub fn search(conn: &mut DbConnection, search: Search) -> Result<AuditPage, Error> {
    let limit = search.limit.unwrap_or(DEFAULT_LIMIT).clamp(1, MAX_LIMIT);
    let cut = |value: Option<String>, max: usize| value.map(|v| v.chars().take(max).collect());
    let query = AuditQuery {
        kind: cut(search.kind, 100),
        subject: cut(search.subject, 300),
        since: search.since,
        before_id: search.before_id,
        limit,
    };
    let events = audit::search(conn, &query)?;
    let next_before_id =
        (i64::try_from(events.len()).unwrap_or(0) == limit).then(|| events.last().map(|r| r.id)).flatten();
    Ok(AuditPage { events, next_before_id })
}
