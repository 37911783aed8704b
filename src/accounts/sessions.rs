//! Single sign-on sessions: one per person and browser, named by a cookie whose secret only the
//! browser holds (jwtd stores its SHA-256). A session lets a second app sign the person in
//! without a password, until it ends: idle too long, too old, or ended (logout, an admin).

/// A session's lifetimes, in seconds.
#[derive(Debug, Clone, Copy)]
pub struct SessionPolicy {
    /// Unused this long, the session ends.
    pub idle_ttl: i64,
    /// This long after sign-in, the session ends however often it is used.
    pub absolute_ttl: i64,
}

/// A session as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// The session's public name (admin API, audit, the families started in it); never the
    /// cookie's secret.
    pub id: String,
    pub user_id: String,
    /// When the person last proved who they are (OpenID Connect `auth_time`).
    pub auth_time: i64,
    pub created_at: i64,
    pub last_seen_at: i64,
    pub expires_at: i64,
    pub ended_at: Option<i64>,
}

/// A session as an administrator sees it: where it began, and the apps signed in through it
/// (clients of its live refresh families).
#[derive(Debug, Clone)]
pub struct SessionSummary {
    pub session: Session,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub clients: Vec<String>,
}

impl SessionSummary {
    pub fn describe(&self) -> serde_json::Value {
        let s = &self.session;
        serde_json::json!({
            "id": s.id,
            "auth_time": s.auth_time,
            "created_at": s.created_at,
            "last_seen_at": s.last_seen_at,
            "expires_at": s.expires_at,
            "ended_at": s.ended_at,
            "ip": self.ip,
            "user_agent": self.user_agent,
            "clients": self.clients,
        })
    }
}

/// How often a session's `last_seen_at` is written: reads within this long of the last write
/// do not write again, so a busy session costs no write per sign-in.
pub const LAST_SEEN_GRANULARITY: i64 = 60;

impl Session {
    /// Whether the session may sign the person in at `now`.
    pub fn is_live(&self, now: i64, policy: &SessionPolicy) -> bool {
        self.ended_at.is_none()
            && now < self.expires_at
            && now < self.last_seen_at.saturating_add(policy.idle_ttl)
    }

    /// Whether using the session at `now` should record it (see [`LAST_SEEN_GRANULARITY`]).
    pub fn needs_touch(&self, now: i64) -> bool {
        now.saturating_sub(self.last_seen_at) >= LAST_SEEN_GRANULARITY
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session() -> Session {
        Session {
            id: "s".into(),
            user_id: "u".into(),
            auth_time: 100,
            created_at: 100,
            last_seen_at: 100,
            expires_at: 1_000,
            ended_at: None,
        }
    }

    #[test]
    fn a_session_ends_when_idle_too_long_too_old_or_ended() {
        let policy = SessionPolicy { idle_ttl: 300, absolute_ttl: 900 };
        assert!(session().is_live(399, &policy));
        assert!(!session().is_live(400, &policy), "idle");
        let busy = Session { last_seen_at: 950, ..session() };
        assert!(busy.is_live(999, &policy));
        assert!(!busy.is_live(1_000, &policy), "absolute");
        let ended = Session { ended_at: Some(150), ..session() };
        assert!(!ended.is_live(160, &policy), "ended");
    }

    #[test]
    fn last_seen_is_written_at_most_once_a_minute() {
        assert!(!session().needs_touch(159));
        assert!(session().needs_touch(160));
    }
}
