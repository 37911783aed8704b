//! Logout (OpenID Connect RP-Initiated Logout 1.0): a person leaves, and with them every login
//! their single sign-on session started. The session ends (no app signs them in silently any
//! more), the refresh families started in it are revoked (resource servers learn it through
//! `/revocations`), and each app that registered a back-channel logout URI is told.

use diesel::Connection;
use serde_json::json;

use super::audit::Actor;
use super::grants::RequestOrigin;
use super::{Authority, Error};
use crate::store::sessions::EndedLogin;
use crate::store::{self, DbConnection};
use crate::tokens::verify::{IdTokenHint, verify_id_token_hint};

/// Why a session ends on logout, in the sessions' and families' records.
const REASON: &str = "logout";

/// Whom a logout is for: the person, the single sign-on sessions to end (the browser's own, and
/// the one an ID token hint names), and a login outside any session that the hint names (a
/// refresh family of the password grant).
#[derive(Debug, Clone, Default)]
pub struct Leaving {
    pub user_id: String,
    pub sessions: Vec<String>,
    pub family_id: Option<String>,
}

/// What a logout ended.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LoggedOut {
    pub sessions: usize,
    pub families: usize,
}

impl Authority {
    /// The ID token an app sent as `id_token_hint`, if jwtd issued it (expired or not).
    pub fn id_token_hint(&self, token: &str) -> Option<IdTokenHint> {
        verify_id_token_hint(&self.keys.current(), &self.issuer.issuer, token).ok()
    }

    /// Where the login an ID token hint names was started: its single sign-on session, if it
    /// belongs to the hint's person.
    pub async fn hinted_session(&self, hint: &IdTokenHint) -> Result<Option<String>, Error> {
        let Some(family_id) = hint.sid.clone() else {
            return Ok(None);
        };
        let user_id = hint.sub.clone();
        self.with_conn(move |conn| {
            let family = store::refresh::find_family(conn, &family_id)?.filter(|f| f.user_id == user_id);
            Ok(family.and_then(|f| f.session_id))
        })
        .await
    }

    /// Logs `leaving` out: ends its sessions and revokes their families (and the hinted login
    /// outside a session), with the audit event, in one transaction.
    pub async fn log_out(&self, leaving: Leaving, origin: RequestOrigin) -> Result<LoggedOut, Error> {
        let now = self.clock.now();
        let logged_out = self
            .with_conn(move |conn| conn.transaction(|conn| end_logins(conn, &leaving, &origin, now)))
            .await?;
        self.wake_logout_notices();
        self.metrics.families_revoked.with_label_values(&[REASON]).inc_by(logged_out.families as u64);
        Ok(logged_out)
    }
}

fn end_logins(
    conn: &mut DbConnection,
    leaving: &Leaving,
    origin: &RequestOrigin,
    now: i64,
) -> Result<LoggedOut, Error> {
    let mut logins: Vec<EndedLogin> = Vec::new();
    let mut sessions = 0;
    for session in &leaving.sessions {
        let ended = store::sessions::end_sessions(conn, &leaving.user_id, Some(session), now, REASON)?;
        sessions += ended.sessions;
        logins.extend(ended.logins);
    }
    if let Some(family_id) = &leaving.family_id {
        let family = store::refresh::find_family(conn, family_id)?;
        let alone = family.filter(|f| f.user_id == leaving.user_id && f.session_id.is_none());
        if let Some(family) = alone
            && store::refresh::revoke_family(conn, &family.id, now, REASON)? > 0
        {
            logins.push(EndedLogin {
                family_id: family.id,
                client_id: family.client_id,
                user_id: family.user_id,
            });
        }
    }
    super::backchannel::enqueue(conn, &logins, now)?;
    let actor = Actor { id: leaving.user_id.clone(), ip: origin.ip.clone() };
    let families: Vec<&str> = logins.iter().map(|l| l.family_id.as_str()).collect();
    let detail = json!({ "sessions": leaving.sessions, "families": families });
    actor.audit(conn, now, "user.logged_out", Some(&leaving.user_id), detail)?;
    Ok(LoggedOut { sessions, families: logins.len() })
}
