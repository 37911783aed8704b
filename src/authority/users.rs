//! User operations: create (the admin API and the CLI call the same function), import, list,
//! show, update, delete, and revoke every session of a user. Each change commits together with
//! its audit event. Passwords arrive hashed: hashing is slow and runs on the hashing threads
//! before the operation, never inside its transaction.
//!
//! A change whose existence check reads comes after a write (SQLite: a transaction that read
//! first may fail to start writing when another connection wrote meanwhile); the transaction
//! makes the order invisible.

use diesel::Connection;
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::Error;
use super::audit::Actor;
use crate::accounts::passwords;
use crate::accounts::sessions::SessionSummary;
use crate::accounts::users::{self, User};
use crate::store::users::CreateError;
use crate::store::{self, DbConnection};

const MAX_IMPORT: usize = 1000;
const DEFAULT_PAGE: i64 = 50;
const MAX_PAGE: i64 = 200;

/// Checks a new account's email and custom claims before its password is read or hashed;
/// returns the email in the form it is stored in.
pub fn check_new(email: &str, claims: &Map<String, Value>) -> Result<String, Error> {
    let email = users::normalize_email(email).map_err(|e| Error::invalid(&e))?;
    users::validate_claims(claims).map_err(|e| Error::invalid(&e))?;
    Ok(email)
}

/// Checks a new password's length before it is hashed (the slow part).
pub fn check_password(password: &str) -> Result<(), Error> {
    passwords::check_length(password).map_err(|e| Error::invalid(&e))
}

/// Creates a user (email checked by [`check_new`], password hashed) and its audit event in one
/// transaction.
pub fn create(
    conn: &mut DbConnection,
    actor: &Actor,
    email: &str,
    password_hash: &str,
    claims: &Map<String, Value>,
    now: i64,
) -> Result<User, Error> {
    conn.transaction(|conn| {
        let user = store::users::create(conn, email, password_hash, claims, now).map_err(create_error)?;
        actor.audit(conn, now, "user.created", Some(&user.id), json!({ "email": user.email }))?;
        Ok(user)
    })
}

fn create_error(e: CreateError) -> Error {
    match e {
        CreateError::Taken => Error::conflict("email_taken", "an account with this email exists"),
        CreateError::Store(e) => e.into(),
        CreateError::Random => Error::internal(&e),
    }
}

/// A user brought from an existing application with its password hash (bcrypt or argon2id),
/// upgraded to jwtd's argon2id on the first successful login. `Debug` leaves out the hash.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImportedUser {
    pub email: String,
    pub password_hash: String,
    #[serde(default)]
    pub claims: Map<String, Value>,
}

impl std::fmt::Debug for ImportedUser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ImportedUser").field("email", &self.email).finish_non_exhaustive()
    }
}

/// What an import did: how many users it created, and which it skipped (email, reason).
#[derive(Debug, Default)]
pub struct ImportReport {
    pub imported: usize,
    pub skipped: Vec<(String, String)>,
}

impl ImportReport {
    pub fn describe(&self) -> Value {
        let skipped: Vec<_> =
            self.skipped.iter().map(|(email, reason)| json!({ "email": email, "reason": reason })).collect();
        json!({ "imported": self.imported, "skipped": skipped })
    }
}

/// Imports users with their existing password hashes, and the import's audit event, in one
/// transaction. A user that cannot be imported is reported, not fatal.
pub fn import(
    conn: &mut DbConnection,
    actor: &Actor,
    imported: &[ImportedUser],
    now: i64,
) -> Result<ImportReport, Error> {
    if imported.len() > MAX_IMPORT {
        return Err(Error::Invalid(format!("at most {MAX_IMPORT} users per import").into()));
    }
    conn.transaction(|conn| {
        let mut report = ImportReport::default();
        for user in imported {
            match import_one(conn, user, now)? {
                None => report.imported += 1,
                Some(reason) => report.skipped.push((user.email.chars().take(254).collect(), reason)),
            }
        }
        let detail = json!({ "imported": report.imported, "skipped": report.skipped.len() });
        actor.audit(conn, now, "user.imported", None, detail)?;
        Ok(report)
    })
}

/// Creates one imported user, in a savepoint of its own: an email already taken skips that user,
/// not the import (PostgreSQL refuses every statement after a failed one in a transaction).
/// Returns why the user was skipped, if it was.
fn import_one(conn: &mut DbConnection, user: &ImportedUser, now: i64) -> Result<Option<String>, Error> {
    let email = match (users::normalize_email(&user.email), users::validate_claims(&user.claims)) {
        (Err(e), _) | (_, Err(e)) => return Ok(Some(e.to_string())),
        (Ok(email), Ok(())) => email,
    };
    if !passwords::is_supported_hash(&user.password_hash) {
        return Ok(Some(
            "password_hash must be bcrypt ($2a$/$2b$/$2y$) or an argon2id PHC string".to_owned(),
        ));
    }
    match conn.transaction(|conn| store::users::create(conn, &email, &user.password_hash, &user.claims, now))
    {
        Ok(_) => Ok(None),
        Err(CreateError::Taken) => Ok(Some(CreateError::Taken.to_string())),
        Err(e) => Err(create_error(e)),
    }
}

/// One page of users, ordered by email; `next_after` continues it when the page is full.
#[derive(Debug)]
pub struct UserPage {
    pub users: Vec<User>,
    pub next_after: Option<String>,
}

impl UserPage {
    pub fn describe(&self) -> Value {
        let users: Vec<_> = self.users.iter().map(User::describe).collect();
        json!({ "users": users, "next_after": self.next_after })
    }
}

/// The users whose email sorts after `after`: `limit` of them (50 if `None`, at most 200).
pub fn list(conn: &mut DbConnection, after: &str, limit: Option<i64>) -> Result<UserPage, Error> {
    let limit = limit.unwrap_or(DEFAULT_PAGE).clamp(1, MAX_PAGE);
    let users: Vec<User> = store::users::page(conn, after, limit)?.iter().map(|r| r.to_user()).collect();
    let next_after = (i64::try_from(users.len()).unwrap_or(0) == limit)
        .then(|| users.last().map(|u| u.email.clone()))
        .flatten();
    Ok(UserPage { users, next_after })
}

/// One user by id.
pub fn find(conn: &mut DbConnection, id: &str) -> Result<User, Error> {
    store::users::find(conn, id)?.map(|row| row.to_user()).ok_or(Error::NotFound("user"))
}

/// What an update changes; `None` leaves a field as it is.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserChange {
    pub disabled: Option<bool>,
    pub claims: Option<Map<String, Value>>,
}

/// Disables/enables a user or replaces their custom claims, with its audit event, in one
/// transaction. Disabling also revokes every session: no refresh token of theirs works any
/// more, and their access tokens are reported revoked.
pub fn update(
    conn: &mut DbConnection,
    actor: &Actor,
    id: &str,
    change: &UserChange,
    now: i64,
) -> Result<User, Error> {
    if let Some(claims) = &change.claims {
        users::validate_claims(claims).map_err(|e| Error::invalid(&e))?;
    }
    conn.transaction(|conn| {
        if let Some(disabled) = change.disabled {
            if store::users::set_disabled(conn, id, disabled, now)? == 0 {
                return Err(Error::NotFound("user"));
            }
            if disabled {
                let ended = store::sessions::end_sessions(conn, id, None, now, "user_disabled")?;
                super::backchannel::enqueue(conn, &ended.logins, now)?;
                store::refresh::revoke_user_families(conn, id, now, "user_disabled")?;
                store::revocations::revoke_subject(conn, id, now + 1)?;
            }
        }
        if let Some(claims) = &change.claims {
            store::users::set_claims(conn, id, &Value::Object(claims.clone()).to_string(), now)?;
        }
        let detail = json!({ "disabled": change.disabled, "claims": change.claims.is_some() });
        actor.audit(conn, now, "user.updated", Some(id), detail)?;
        find(conn, id)
    })
}

/// Deletes a user and revokes their access tokens (`sub`), with its audit event, in one
/// transaction; their refresh families go with the user row.
pub fn delete(conn: &mut DbConnection, actor: &Actor, id: &str, now: i64) -> Result<(), Error> {
    conn.transaction(|conn| {
        if store::users::delete(conn, id)? == 0 {
            return Err(Error::NotFound("user"));
        }
        store::revocations::revoke_subject(conn, id, now + 1)?;
        actor.audit(conn, now, "user.deleted", Some(id), json!({}))?;
        Ok(())
    })
}

/// Revokes every live refresh family of the user and their access tokens (`sub`), with its
/// audit event, in one transaction: their refresh tokens stop working at once, and
/// introspection and the revocation feed report their access tokens as revoked. Returns how
/// many families were revoked.
pub fn revoke_sessions(conn: &mut DbConnection, actor: &Actor, id: &str, now: i64) -> Result<usize, Error> {
    conn.transaction(|conn| {
        let ended = store::sessions::end_sessions(conn, id, None, now, "revoked_by_admin")?;
        super::backchannel::enqueue(conn, &ended.logins, now)?;
        let revoked = store::refresh::revoke_user_families(conn, id, now, "revoked_by_admin")?;
        find(conn, id)?;
        store::revocations::revoke_subject(conn, id, now + 1)?;
        let detail = json!({ "families": revoked, "sign_in_sessions": ended.sessions });
        actor.audit(conn, now, "user.sessions_revoked", Some(id), detail)?;
        Ok(revoked)
    })
}

/// The user's single sign-on sessions that have not ended, newest first.
pub fn sessions(conn: &mut DbConnection, id: &str, now: i64) -> Result<Vec<SessionSummary>, Error> {
    let listed = store::sessions::list_for_user(conn, id, now)?;
    find(conn, id)?;
    Ok(listed)
}

/// Ends one of the user's sessions: a browser signed in through it must sign in again, and the
/// refresh families started in it are revoked (resource servers learn it through the feed).
/// Returns how many families were revoked.
pub fn end_session(
    conn: &mut DbConnection,
    actor: &Actor,
    user_id: &str,
    session_id: &str,
    now: i64,
) -> Result<usize, Error> {
    conn.transaction(|conn| {
        let ended = store::sessions::end_sessions(conn, user_id, Some(session_id), now, "ended_by_admin")?;
        super::backchannel::enqueue(conn, &ended.logins, now)?;
        let families = ended.logins.len();
        if ended.sessions == 0 {
            return Err(Error::NotFound("session"));
        }
        let detail = json!({ "user_id": user_id, "families": families });
        actor.audit(conn, now, "session.ended", Some(session_id), detail)?;
        Ok(families)
    })
}

/// Ends every session of the user, revoking the families started in them, with one audit event.
/// Returns (sessions ended, families revoked).
pub fn end_all_sessions(
    conn: &mut DbConnection,
    actor: &Actor,
    user_id: &str,
    now: i64,
) -> Result<(usize, usize), Error> {
    conn.transaction(|conn| {
        find(conn, user_id)?;
        let ended = store::sessions::end_sessions(conn, user_id, None, now, "ended_by_admin")?;
        super::backchannel::enqueue(conn, &ended.logins, now)?;
        let families = ended.logins.len();
        let detail = json!({ "sessions": ended.sessions, "families": families });
        actor.audit(conn, now, "user.sessions_ended", Some(user_id), detail)?;
        Ok((ended.sessions, families))
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn debug_leaves_out_password_hashes() {
        let imported: ImportedUser = serde_json::from_str(
            r#"{"email": "a@example.com", "password_hash": "$2b$10$abcdefghijklmnopqrstuv"}"#,
        )
        .unwrap();
        let row = store::users::UserRow {
            id: "u1".into(),
            email: "a@example.com".into(),
            password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".into(),
            claims: "{}".into(),
            disabled: false,
            created_at: 0,
            updated_at: 0,
        };
        for shown in [format!("{imported:?}"), format!("{row:?}")] {
            assert!(shown.contains("a@example.com"), "{shown}");
            assert!(!shown.contains('$'), "{shown}");
        }
    }
}
