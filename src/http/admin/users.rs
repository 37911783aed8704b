//! `/admin/users`: create, import (bcrypt or argon2id hashes from an existing app), list, show,
//! update, delete, and revoke every session of a user, through the operations of
//! [`crate::authority::users`] (user creation is the CLI's too).

use actix_web::{HttpResponse, web};
use serde::Deserialize;
use serde_json::{Map, Value, json};
use zeroize::Zeroizing;

use super::AdminCaller;
use crate::accounts::passwords::PasswordError;
use crate::authority::users::{self, ImportedUser, UserChange};
use crate::authority::{Authority, consent};
use crate::http::error::ApiError;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateUser {
    email: String,
    password: String,
    #[serde(default)]
    claims: Map<String, Value>,
}

impl std::fmt::Debug for CreateUser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CreateUser").field("email", &self.email).finish_non_exhaustive()
    }
}

/// Checks the new account, hashes its password on the hashing threads, then creates it.
pub async fn create(
    caller: AdminCaller,
    body: web::Json<CreateUser>,
    state: web::Data<Authority>,
) -> Result<HttpResponse, ApiError> {
    let CreateUser { email, password, claims } = body.into_inner();
    let email = users::check_new(&email, &claims)?;
    users::check_password(&password)?;
    let hash = state.passwords.hash(Zeroizing::new(password)).await.map_err(|e| match e {
        PasswordError::Busy => ApiError::Unavailable,
        other => ApiError::internal(&other),
    })?;
    let (actor, now) = (caller.actor(), state.clock.now());
    let user = state.with_conn(move |conn| users::create(conn, &actor, &email, &hash, &claims, now)).await?;
    Ok(HttpResponse::Created().json(user.describe()))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Import {
    users: Vec<ImportedUser>,
}

/// Imports users with their existing password hashes; each is upgraded to argon2id on its
/// next successful login. Rows that cannot be imported are reported, not fatal.
pub async fn import(
    caller: AdminCaller,
    body: web::Json<Import>,
    state: web::Data<Authority>,
) -> Result<HttpResponse, ApiError> {
    let (actor, now, imported) = (caller.actor(), state.clock.now(), body.into_inner().users);
    let report = state.with_conn(move |conn| users::import(conn, &actor, &imported, now)).await?;
    Ok(HttpResponse::Ok().json(report.describe()))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Page {
    #[serde(default)]
    after: String,
    limit: Option<i64>,
}

pub async fn list(
    _caller: AdminCaller,
    page: web::Query<Page>,
    state: web::Data<Authority>,
) -> Result<HttpResponse, ApiError> {
    let Page { after, limit } = page.into_inner();
    let page = state.with_conn(move |conn| users::list(conn, &after, limit)).await?;
    Ok(HttpResponse::Ok().json(page.describe()))
}

pub async fn get(
    _caller: AdminCaller,
    id: web::Path<String>,
    state: web::Data<Authority>,
) -> Result<HttpResponse, ApiError> {
    let user = state.with_conn(move |conn| users::find(conn, &id)).await?;
    Ok(HttpResponse::Ok().json(user.describe()))
}

/// Disables/enables a user or replaces their custom claims. Disabling also revokes every
/// session, so no refresh token of theirs works any more.
pub async fn update(
    caller: AdminCaller,
    id: web::Path<String>,
    body: web::Json<UserChange>,
    state: web::Data<Authority>,
) -> Result<HttpResponse, ApiError> {
    let (actor, now, change) = (caller.actor(), state.clock.now(), body.into_inner());
    let user = state.with_conn(move |conn| users::update(conn, &actor, &id, &change, now)).await?;
    state.wake_logout_notices();
    Ok(HttpResponse::Ok().json(user.describe()))
}

pub async fn delete(
    caller: AdminCaller,
    id: web::Path<String>,
    state: web::Data<Authority>,
) -> Result<HttpResponse, ApiError> {
    let (actor, now) = (caller.actor(), state.clock.now());
    state.with_conn(move |conn| users::delete(conn, &actor, &id, now)).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Revokes every live refresh family of the user: their refresh tokens stop working at once,
/// and introspection and the revocation feed report their access tokens as revoked.
pub async fn revoke_sessions(
    caller: AdminCaller,
    id: web::Path<String>,
    state: web::Data<Authority>,
) -> Result<HttpResponse, ApiError> {
    let (actor, now) = (caller.actor(), state.clock.now());
    let revoked = state.with_conn(move |conn| users::revoke_sessions(conn, &actor, &id, now)).await?;
    state.wake_logout_notices();
    state
        .metrics
        .families_revoked
        .with_label_values(&["revoked_by_admin"])
        .inc_by(u64::try_from(revoked).unwrap_or(0));
    Ok(HttpResponse::Ok().json(json!({ "revoked": revoked })))
}

/// `GET /admin/users/{id}/sessions`: the user's sign-in sessions that have not ended.
pub async fn sessions(
    _caller: AdminCaller,
    id: web::Path<String>,
    state: web::Data<Authority>,
) -> Result<HttpResponse, ApiError> {
    let now = state.clock.now();
    let listed = state.with_conn(move |conn| users::sessions(conn, &id, now)).await?;
    let sessions: Vec<Value> = listed.iter().map(|s| s.describe()).collect();
    Ok(HttpResponse::Ok().json(json!({ "sessions": sessions })))
}

/// `DELETE /admin/users/{id}/sessions/{session}`: ends one session and revokes its families.
pub async fn end_session(
    caller: AdminCaller,
    path: web::Path<(String, String)>,
    state: web::Data<Authority>,
) -> Result<HttpResponse, ApiError> {
    let (actor, now) = (caller.actor(), state.clock.now());
    let (user_id, session_id) = path.into_inner();
    let revoked =
        state.with_conn(move |conn| users::end_session(conn, &actor, &user_id, &session_id, now)).await?;
    state.wake_logout_notices();
    state
        .metrics
        .families_revoked
        .with_label_values(&["ended_by_admin"])
        .inc_by(u64::try_from(revoked).unwrap_or(0));
    Ok(HttpResponse::NoContent().finish())
}

/// `DELETE /admin/users/{id}/sessions`: ends every session of the user and revokes the
/// families started in them (families of the password grant, outside any session, stay; the
/// `revoke-sessions` action revokes those too).
pub async fn end_sessions(
    caller: AdminCaller,
    id: web::Path<String>,
    state: web::Data<Authority>,
) -> Result<HttpResponse, ApiError> {
    let (actor, now) = (caller.actor(), state.clock.now());
    let (sessions, families) =
        state.with_conn(move |conn| users::end_all_sessions(conn, &actor, &id, now)).await?;
    state.wake_logout_notices();
    state
        .metrics
        .families_revoked
        .with_label_values(&["ended_by_admin"])
        .inc_by(u64::try_from(families).unwrap_or(0));
    Ok(HttpResponse::Ok().json(json!({ "ended": sessions, "revoked": families })))
}

/// `GET /admin/users/{id}/consents`: the apps the user allowed, and what each may have.
pub async fn consents(
    _caller: AdminCaller,
    id: web::Path<String>,
    state: web::Data<Authority>,
) -> Result<HttpResponse, ApiError> {
    let listed = state.with_conn(move |conn| consent::list(conn, &id)).await?;
    let consents: Vec<Value> = listed.iter().map(consent::describe).collect();
    Ok(HttpResponse::Ok().json(json!({ "consents": consents })))
}

/// `DELETE /admin/users/{id}/consents/{client}`: withdraws what the user allowed the app; its
/// refresh families of the user are revoked and it asks again next time.
pub async fn revoke_consent(
    caller: AdminCaller,
    path: web::Path<(String, String)>,
    state: web::Data<Authority>,
) -> Result<HttpResponse, ApiError> {
    let (actor, now) = (caller.actor(), state.clock.now());
    let (user_id, client_id) = path.into_inner();
    let revoked =
        state.with_conn(move |conn| consent::revoke(conn, &actor, &user_id, &client_id, now)).await?;
    state.wake_logout_notices();
    state
        .metrics
        .families_revoked
        .with_label_values(&["consent_revoked"])
        .inc_by(u64::try_from(revoked).unwrap_or(0));
    Ok(HttpResponse::NoContent().finish())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn debug_leaves_out_passwords() {
        let create: CreateUser =
            serde_json::from_str(r#"{"email": "a@example.com", "password": "hunter2-secret"}"#).unwrap();
        let shown = format!("{create:?}");
        assert!(shown.contains("a@example.com") && !shown.contains("hunter2"), "{shown}");
    }
}
