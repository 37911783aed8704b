//! Single sign-on sessions and authorization codes.

use diesel::prelude::*;

use super::DbConnection;
use super::schema::{authorization_codes, refresh_families, sessions, users};
use crate::accounts::sessions::{Session, SessionSummary};

/// At most this many sessions are listed for one user (the newest).
const MAX_LISTED: i64 = 200;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = sessions)]
struct SessionRow {
    id: String,
    user_id: String,
    auth_time: i64,
    created_at: i64,
    last_seen_at: i64,
    expires_at: i64,
    ended_at: Option<i64>,
}

impl From<SessionRow> for Session {
    fn from(row: SessionRow) -> Self {
        Self {
            id: row.id,
            user_id: row.user_id,
            auth_time: row.auth_time,
            created_at: row.created_at,
            last_seen_at: row.last_seen_at,
            expires_at: row.expires_at,
            ended_at: row.ended_at,
        }
    }
}

/// A new session: its public id, the SHA-256 of its cookie secret, and where it began.
#[derive(Debug, Insertable)]
#[diesel(table_name = sessions)]
pub struct NewSession<'a> {
    pub id: &'a str,
    pub secret_hash: &'a [u8],
    pub user_id: &'a str,
    pub auth_time: i64,
    pub created_at: i64,
    pub last_seen_at: i64,
    pub expires_at: i64,
    pub ip: Option<&'a str>,
    pub user_agent: Option<&'a str>,
}

pub fn insert_session(conn: &mut DbConnection, session: &NewSession<'_>) -> QueryResult<()> {
    diesel::insert_into(sessions::table).values(session).execute(conn).map(drop)
}

/// The session whose cookie secret hashes to `secret_hash`, live or not, unless its user is
/// disabled (a disabled person is signed in nowhere).
pub fn find_session(conn: &mut DbConnection, secret_hash: &[u8]) -> QueryResult<Option<Session>> {
    let row = sessions::table
        .inner_join(users::table)
        .filter(sessions::secret_hash.eq(secret_hash))
        .filter(users::disabled.eq(false))
        .select(SessionRow::as_select())
        .first(conn)
        .optional()?;
    Ok(row.map(Session::from))
}

pub fn session_by_id(conn: &mut DbConnection, id: &str) -> QueryResult<Option<Session>> {
    let row = sessions::table.find(id).select(SessionRow::as_select()).first(conn).optional()?;
    Ok(row.map(Session::from))
}

/// The same browser's person signed in again: a new cookie secret (the old one stops working),
/// a new `auth_time`. The session keeps its id, so the families started in it stay linked.
pub fn renew_session(conn: &mut DbConnection, id: &str, secret_hash: &[u8], now: i64) -> QueryResult<usize> {
    diesel::update(sessions::table.find(id).filter(sessions::ended_at.is_null()))
        .set((
            sessions::secret_hash.eq(secret_hash),
            sessions::auth_time.eq(now),
            sessions::last_seen_at.eq(now),
        ))
        .execute(conn)
}

pub fn touch_session(conn: &mut DbConnection, id: &str, now: i64) -> QueryResult<usize> {
    diesel::update(sessions::table.find(id)).set(sessions::last_seen_at.eq(now)).execute(conn)
}

/// How many sessions have not ended and are not past their absolute end.
pub fn count_live(conn: &mut DbConnection, now: i64) -> QueryResult<i64> {
    sessions::table
        .filter(sessions::ended_at.is_null())
        .filter(sessions::expires_at.gt(now))
        .count()
        .get_result(conn)
}

/// A user's sessions that have not ended, newest first, with where each began and the clients
/// of its live families.
pub fn list_for_user(conn: &mut DbConnection, user_id: &str, now: i64) -> QueryResult<Vec<SessionSummary>> {
    let rows: Vec<(SessionRow, Option<String>, Option<String>)> = sessions::table
        .filter(sessions::user_id.eq(user_id))
        .filter(sessions::ended_at.is_null())
        .filter(sessions::expires_at.gt(now))
        .order(sessions::created_at.desc())
        .limit(MAX_LISTED)
        .select((SessionRow::as_select(), sessions::ip, sessions::user_agent))
        .load(conn)?;
    let ids: Vec<&str> = rows.iter().map(|(row, _, _)| row.id.as_str()).collect();
    let families: Vec<(Option<String>, String)> = refresh_families::table
        .filter(refresh_families::session_id.eq_any(&ids))
        .filter(refresh_families::revoked_at.is_null())
        .filter(refresh_families::expires_at.gt(now))
        .select((refresh_families::session_id, refresh_families::client_id))
        .distinct()
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|(row, ip, user_agent)| {
            let clients = families
                .iter()
                .filter(|(session, _)| session.as_deref() == Some(row.id.as_str()))
                .map(|(_, client)| client.clone())
                .collect();
            SessionSummary { session: row.into(), ip, user_agent, clients }
        })
        .collect())
}

/// What ending sessions ended: how many sessions, and the logins (refresh families) started in
/// them that were live until now, each with its client (for back-channel logout).
#[derive(Debug, Default)]
pub struct Ended {
    pub sessions: usize,
    pub logins: Vec<EndedLogin>,
}

/// A refresh family revoked because its session ended: `sid` of its tokens, and its client.
#[derive(Debug, Clone, PartialEq, Eq, Queryable)]
pub struct EndedLogin {
    pub family_id: String,
    pub client_id: String,
    pub user_id: String,
}

/// Ends a user's session (or every session of the user, with `id` `None`) and revokes the
/// refresh families started in it.
pub fn end_sessions(
    conn: &mut DbConnection,
    user_id: &str,
    id: Option<&str>,
    now: i64,
    reason: &str,
) -> QueryResult<Ended> {
    let mut ending: Vec<String> = sessions::table
        .filter(sessions::user_id.eq(user_id))
        .filter(sessions::ended_at.is_null())
        .select(sessions::id)
        .load(conn)?;
    if let Some(id) = id {
        ending.retain(|s| s == id);
    }
    if ending.is_empty() {
        return Ok(Ended::default());
    }
    let ended = diesel::update(sessions::table.filter(sessions::id.eq_any(&ending)))
        .set((sessions::ended_at.eq(now), sessions::ended_reason.eq(reason)))
        .execute(conn)?;
    let logins: Vec<EndedLogin> = refresh_families::table
        .filter(refresh_families::session_id.eq_any(&ending))
        .filter(refresh_families::revoked_at.is_null())
        .select((refresh_families::id, refresh_families::client_id, refresh_families::user_id))
        .load(conn)?;
    let ids: Vec<&str> = logins.iter().map(|l| l.family_id.as_str()).collect();
    diesel::update(refresh_families::table.filter(refresh_families::id.eq_any(&ids)))
        .set((refresh_families::revoked_at.eq(now), refresh_families::revoked_reason.eq(reason)))
        .execute(conn)?;
    Ok(Ended { sessions: ended, logins })
}

/// An authorization code as stored: what it was issued for, never the code itself.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = authorization_codes)]
pub struct CodeRow {
    pub client_id: String,
    pub redirect_uri: String,
    pub code_challenge: String,
    pub nonce: Option<String>,
    pub scope: String,
    pub session_id: String,
    pub user_id: String,
    pub auth_time: i64,
    pub expires_at: i64,
    pub used_at: Option<i64>,
    pub family_id: Option<String>,
    /// The resources the authorization request named (space-separated; RFC 8707).
    pub resources: String,
    /// The DPoP key the authorization request named (`dpop_jkt`, RFC 9449 §10).
    pub dpop_jkt: Option<String>,
}

impl CodeRow {
    /// The resources the authorization request named, in order.
    pub fn granted_resources(&self) -> Vec<String> {
        super::words(&self.resources)
    }
}

#[derive(Debug, Insertable)]
#[diesel(table_name = authorization_codes)]
pub struct NewCode<'a> {
    pub code_hash: &'a [u8],
    pub client_id: &'a str,
    pub redirect_uri: &'a str,
    pub code_challenge: &'a str,
    pub nonce: Option<&'a str>,
    pub scope: &'a str,
    pub session_id: &'a str,
    pub user_id: &'a str,
    pub auth_time: i64,
    pub created_at: i64,
    pub expires_at: i64,
    pub resources: &'a str,
    pub dpop_jkt: Option<&'a str>,
}

pub fn insert_code(conn: &mut DbConnection, code: &NewCode<'_>) -> QueryResult<()> {
    diesel::insert_into(authorization_codes::table).values(code).execute(conn).map(drop)
}

/// Marks the code used if nobody did before: the one statement only one caller wins. Returns
/// the code's row when this call won.
pub fn claim_code(conn: &mut DbConnection, code_hash: &[u8], now: i64) -> QueryResult<Option<CodeRow>> {
    let won = diesel::update(
        authorization_codes::table.find(code_hash).filter(authorization_codes::used_at.is_null()),
    )
    .set(authorization_codes::used_at.eq(now))
    .execute(conn)?;
    if won == 0 {
        return Ok(None);
    }
    find_code(conn, code_hash)
}

pub fn find_code(conn: &mut DbConnection, code_hash: &[u8]) -> QueryResult<Option<CodeRow>> {
    authorization_codes::table.find(code_hash).select(CodeRow::as_select()).first(conn).optional()
}

/// Records the family a redeemed code started, so a second use can revoke it.
pub fn set_code_family(conn: &mut DbConnection, code_hash: &[u8], family_id: &str) -> QueryResult<usize> {
    diesel::update(authorization_codes::table.find(code_hash))
        .set(authorization_codes::family_id.eq(family_id))
        .execute(conn)
}

/// Removes codes expired before `before`, and sessions that ended or expired before it. Families
/// keep their own lifetimes: one that outlives its session keeps the session's id as a name.
pub fn purge(conn: &mut DbConnection, before: i64) -> QueryResult<usize> {
    let codes = diesel::delete(authorization_codes::table.filter(authorization_codes::expires_at.lt(before)))
        .execute(conn)?;
    let sessions = diesel::delete(
        sessions::table.filter(sessions::expires_at.lt(before).or(sessions::ended_at.lt(before))),
    )
    .execute(conn)?;
    Ok(codes + sessions)
}
