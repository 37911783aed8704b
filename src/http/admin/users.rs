//! `/admin/users`: create, import (bcrypt or argon2id hashes from an existing app), list, show,
//! update, delete, and revoke every session of a user.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, web};
use serde::Deserialize;
use serde_json::{Map, Value, json};
use zeroize::Zeroizing;

use super::AdminCaller;
use crate::accounts::passwords::{self, PasswordError};
use crate::accounts::users::{self, CreateError, normalize_email, validate_claims};
use crate::authority::Authority;
use crate::http::error::ApiError;
use crate::store::{self, StoreError};

const MAX_IMPORT: usize = 1000;
const MAX_PAGE: i64 = 200;

fn bad_request(description: impl Into<String>) -> ApiError {
    ApiError::Status {
        status: StatusCode::BAD_REQUEST,
        code: "invalid_request",
        description: description.into().into(),
    }
}

fn not_found() -> ApiError {
    ApiError::Status { status: StatusCode::NOT_FOUND, code: "not_found", description: "no such user".into() }
}

fn create_error(e: CreateError) -> ApiError {
    match e {
        CreateError::Taken => ApiError::Status {
            status: StatusCode::CONFLICT,
            code: "email_taken",
            description: "an account with this email exists".into(),
        },
        CreateError::Store(e) => e.into(),
        CreateError::Random => ApiError::internal(&e),
    }
}

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

pub async fn create(
    caller: AdminCaller,
    body: web::Json<CreateUser>,
    state: web::Data<Authority>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    let email = normalize_email(&body.email).map_err(|e| bad_request(e.to_string()))?;
    validate_claims(&body.claims).map_err(|e| bad_request(e.to_string()))?;
    passwords::check_length(&body.password).map_err(|e| bad_request(e.to_string()))?;
    let hash = state.passwords.hash(Zeroizing::new(body.password)).await.map_err(|e| match e {
        PasswordError::Busy => ApiError::Unavailable,
        other => ApiError::internal(&other),
    })?;
    let (pool, now, claims) = (state.pool.clone(), state.clock.now(), body.claims);
    let user = web::block(move || -> Result<_, ApiError> {
        let mut conn = pool.get().map_err(StoreError::from)?;
        let user = users::create(&mut conn, &email, &hash, &claims, now).map_err(create_error)?;
        caller.actor().audit(
            &mut conn,
            now,
            "user.created",
            Some(&user.id),
            json!({ "email": user.email }),
        )?;
        Ok(user)
    })
    .await??;
    Ok(HttpResponse::Created().json(user.describe()))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImportedUser {
    email: String,
    password_hash: String,
    #[serde(default)]
    claims: Map<String, Value>,
}

impl std::fmt::Debug for ImportedUser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ImportedUser").field("email", &self.email).finish_non_exhaustive()
    }
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
    let body = body.into_inner();
    if body.users.len() > MAX_IMPORT {
        return Err(bad_request(format!("at most {MAX_IMPORT} users per import")));
    }
    let (pool, now) = (state.pool.clone(), state.clock.now());
    let report = web::block(move || -> Result<_, ApiError> {
        let mut conn = pool.get().map_err(StoreError::from)?;
        let mut imported = 0;
        let mut skipped = Vec::new();
        for user in &body.users {
            let reason = match (normalize_email(&user.email), validate_claims(&user.claims)) {
                (Err(e), _) => Some(e.to_string()),
                (_, Err(e)) => Some(e.to_string()),
                (Ok(_), Ok(())) if !passwords::is_supported_hash(&user.password_hash) => {
                    Some("password_hash must be bcrypt ($2a$/$2b$/$2y$) or an argon2id PHC string".to_owned())
                }
                (Ok(email), Ok(())) => {
                    match users::create(&mut conn, &email, &user.password_hash, &user.claims, now) {
                        Ok(_) => None,
                        Err(CreateError::Taken) => Some("an account with this email exists".to_owned()),
                        Err(e) => return Err(create_error(e)),
                    }
                }
            };
            match reason {
                None => imported += 1,
                Some(reason) => skipped.push(
                    json!({ "email": user.email.chars().take(254).collect::<String>(), "reason": reason }),
                ),
            }
        }
        caller.actor().audit(
            &mut conn,
            now,
            "user.imported",
            None,
            json!({ "imported": imported, "skipped": skipped.len() }),
        )?;
        Ok(json!({ "imported": imported, "skipped": skipped }))
    })
    .await??;
    Ok(HttpResponse::Ok().json(report))
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
    let limit = page.limit.unwrap_or(50).clamp(1, MAX_PAGE);
    let (pool, after) = (state.pool.clone(), page.after.clone());
    let rows = web::block(move || -> Result<_, StoreError> {
        Ok(store::users::page(&mut *pool.get()?, &after, limit)?)
    })
    .await??;
    let next = (i64::try_from(rows.len()).unwrap_or(0) == limit)
        .then(|| rows.last().map(|r| r.email.clone()))
        .flatten();
    let users: Vec<_> = rows.iter().map(|r| r.to_user().describe()).collect();
    Ok(HttpResponse::Ok().json(json!({ "users": users, "next_after": next })))
}

pub async fn get(
    _caller: AdminCaller,
    id: web::Path<String>,
    state: web::Data<Authority>,
) -> Result<HttpResponse, ApiError> {
    let (pool, id) = (state.pool.clone(), id.into_inner());
    let row =
        web::block(move || -> Result<_, StoreError> { Ok(store::users::find(&mut *pool.get()?, &id)?) })
            .await??;
    Ok(HttpResponse::Ok().json(row.ok_or_else(not_found)?.to_user().describe()))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpdateUser {
    disabled: Option<bool>,
    claims: Option<Map<String, Value>>,
}

/// Disables/enables a user or replaces their custom claims. Disabling also revokes every
/// session, so no refresh token of theirs works any more.
pub async fn update(
    caller: AdminCaller,
    id: web::Path<String>,
    body: web::Json<UpdateUser>,
    state: web::Data<Authority>,
) -> Result<HttpResponse, ApiError> {
    let body = body.into_inner();
    if let Some(claims) = &body.claims {
        validate_claims(claims).map_err(|e| bad_request(e.to_string()))?;
    }
    let (pool, now, id) = (state.pool.clone(), state.clock.now(), id.into_inner());
    let user = web::block(move || -> Result<_, ApiError> {
        let mut conn = pool.get().map_err(StoreError::from)?;
        store::users::find(&mut conn, &id)?.ok_or_else(not_found)?;
        if let Some(disabled) = body.disabled {
            store::users::set_disabled(&mut conn, &id, disabled, now)?;
            if disabled {
                store::refresh::revoke_user_families(&mut conn, &id, now, "user_disabled")?;
                store::revocations::revoke_subject(&mut conn, &id, now + 1)?;
            }
        }
        if let Some(claims) = &body.claims {
            store::users::set_claims(&mut conn, &id, &Value::Object(claims.clone()).to_string(), now)?;
        }
        caller.actor().audit(
            &mut conn,
            now,
            "user.updated",
            Some(&id),
            json!({ "disabled": body.disabled, "claims": body.claims.is_some() }),
        )?;
        Ok(store::users::find(&mut conn, &id)?.ok_or_else(not_found)?.to_user())
    })
    .await??;
    Ok(HttpResponse::Ok().json(user.describe()))
}

pub async fn delete(
    caller: AdminCaller,
    id: web::Path<String>,
    state: web::Data<Authority>,
) -> Result<HttpResponse, ApiError> {
    let (pool, now, id) = (state.pool.clone(), state.clock.now(), id.into_inner());
    web::block(move || -> Result<_, ApiError> {
        let mut conn = pool.get().map_err(StoreError::from)?;
        if store::users::delete(&mut conn, &id)? == 0 {
            return Err(not_found());
        }
        store::revocations::revoke_subject(&mut conn, &id, now + 1)?;
        caller.actor().audit(&mut conn, now, "user.deleted", Some(&id), json!({}))?;
        Ok(())
    })
    .await??;
    Ok(HttpResponse::NoContent().finish())
}

/// Revokes every live refresh family of the user: their refresh tokens stop working at once,
/// and introspection and the revocation feed report their access tokens as revoked.
pub async fn revoke_sessions(
    caller: AdminCaller,
    id: web::Path<String>,
    state: web::Data<Authority>,
) -> Result<HttpResponse, ApiError> {
    let (pool, now, id) = (state.pool.clone(), state.clock.now(), id.into_inner());
    let revoked = web::block(move || -> Result<_, ApiError> {
        let mut conn = pool.get().map_err(StoreError::from)?;
        store::users::find(&mut conn, &id)?.ok_or_else(not_found)?;
        let revoked = store::refresh::revoke_user_families(&mut conn, &id, now, "revoked_by_admin")?;
        store::revocations::revoke_subject(&mut conn, &id, now + 1)?;
        caller.actor().audit(
            &mut conn,
            now,
            "user.sessions_revoked",
            Some(&id),
            json!({ "families": revoked }),
        )?;
        Ok(revoked)
    })
    .await??;
    state
        .metrics
        .families_revoked
        .with_label_values(&["revoked_by_admin"])
        .inc_by(u64::try_from(revoked).unwrap_or(0));
    Ok(HttpResponse::Ok().json(json!({ "revoked": revoked })))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn debug_leaves_out_passwords_and_hashes() {
        let create: CreateUser =
            serde_json::from_str(r#"{"email": "a@example.com", "password": "hunter2-secret"}"#).unwrap();
        let imported: ImportedUser = serde_json::from_str(
            r#"{"email": "a@example.com", "password_hash": "$2b$10$abcdefghijklmnopqrstuv"}"#,
        )
        .unwrap();
        let row = crate::store::users::UserRow {
            id: "u1".into(),
            email: "a@example.com".into(),
            password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".into(),
            claims: "{}".into(),
            disabled: false,
            created_at: 0,
            updated_at: 0,
        };
        for shown in [format!("{create:?}"), format!("{imported:?}"), format!("{row:?}")] {
            assert!(shown.contains("a@example.com"), "{shown}");
            assert!(!shown.contains("hunter2") && !shown.contains('$'), "{shown}");
        }
    }
}
