//! Who did an administrative action, and the one way it is recorded: every operation writes its
//! audit event in the same transaction as the change it describes.

use crate::store::DbConnection;
use crate::store::audit::{AuditEvent, record};

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
