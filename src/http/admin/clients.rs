//! `/admin/clients`: register, list, show, delete, and rotate a client's secret. Secrets are
//! returned once, in the response that creates them.

use actix_web::http::StatusCode;
use actix_web::web;
use actix_web::{HttpResponse, Responder};
use diesel::Connection;
use serde::Deserialize;
use serde_json::json;

use super::AdminCaller;
use crate::accounts::clients::{self, ClientRegistration, ClientSecret};
use crate::app::AppState;
use crate::http::error::ApiError;
use crate::store::{self, StoreError};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateClient {
    name: String,
    #[serde(default)]
    scope: String,
    #[serde(default)]
    audiences: Vec<String>,
    #[serde(default = "default_grants")]
    grant_types: Vec<String>,
    #[serde(default)]
    refresh_cookie: bool,
    /// Audiences of other clients' tokens this client may introspect.
    #[serde(default)]
    introspection_audiences: Vec<String>,
}

fn default_grants() -> Vec<String> {
    vec!["client_credentials".to_owned()]
}

fn not_found() -> ApiError {
    ApiError::Status {
        status: StatusCode::NOT_FOUND,
        code: "not_found",
        description: "no such client".into(),
    }
}

pub async fn create(
    caller: AdminCaller,
    body: web::Json<CreateClient>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let mut registration =
        ClientRegistration::new(&body.name, &body.scope, &body.audiences, &body.grant_types)
            .and_then(|r| r.with_introspection(&body.introspection_audiences))
            .map_err(|e| ApiError::Status {
                status: StatusCode::BAD_REQUEST,
                code: "invalid_request",
                description: e.to_string().into(),
            })?;
    registration.refresh_cookie = body.refresh_cookie;
    let pool = state.pool.clone();
    let now = state.clock.now();
    let (client, secret) = web::block(move || -> Result<_, ApiError> {
        let mut conn = pool.get().map_err(StoreError::from)?;
        let (client, secret) =
            clients::register(&mut conn, &registration, now).map_err(|e| ApiError::internal(&e))?;
        caller.audit(&mut conn, now, "client.created", Some(&client.id), client.describe())?;
        Ok((client, secret))
    })
    .await??;
    Ok(HttpResponse::Created()
        .insert_header(("cache-control", "no-store"))
        .json(client.describe_with_secret(&secret)))
}

pub async fn list(_caller: AdminCaller, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let pool = state.pool.clone();
    let rows = web::block(move || -> Result<_, StoreError> { Ok(store::clients::list(&mut *pool.get()?)?) })
        .await??;
    let clients: Vec<_> = rows.iter().map(|r| r.to_client().describe()).collect();
    Ok(HttpResponse::Ok().json(json!({ "clients": clients })))
}

pub async fn get(
    _caller: AdminCaller,
    id: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let pool = state.pool.clone();
    let id = id.into_inner();
    let row =
        web::block(move || -> Result<_, StoreError> { Ok(store::clients::find(&mut *pool.get()?, &id)?) })
            .await??;
    let row = row.ok_or_else(not_found)?;
    Ok(HttpResponse::Ok().json(row.to_client().describe()))
}

pub async fn delete(
    caller: AdminCaller,
    id: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<impl Responder, ApiError> {
    let pool = state.pool.clone();
    let id = id.into_inner();
    let forget_id = id.clone();
    let now = state.clock.now();
    web::block(move || -> Result<_, ApiError> {
        let mut conn = pool.get().map_err(StoreError::from)?;
        // One transaction: a client deleted without its revocations would leave its users'
        // tokens verifying at resource servers.
        conn.transaction(|conn| -> Result<_, ApiError> { delete_and_revoke(conn, &caller, &id, now) })
    })
    .await??;
    state.clients.forget(&forget_id);
    Ok(HttpResponse::NoContent().finish())
}

/// Deletes the client and revokes every access token issued through it: its users' (by
/// `client_id`, feed version 2; their refresh families went with the client row) and its own
/// (`sub` = client id, which version-1 readers see too).
fn delete_and_revoke(
    conn: &mut store::DbConnection,
    caller: &AdminCaller,
    id: &str,
    now: i64,
) -> Result<(), ApiError> {
    if store::clients::delete(conn, id)? == 0 {
        return Err(not_found());
    }
    store::revocations::revoke_client(conn, id, now + 1)?;
    store::revocations::revoke_subject(conn, id, now + 1)?;
    caller.audit(conn, now, "client.deleted", Some(id), json!({}))?;
    Ok(())
}

pub async fn rotate_secret(
    caller: AdminCaller,
    id: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let pool = state.pool.clone();
    let id = id.into_inner();
    let forget_id = id.clone();
    let now = state.clock.now();
    let (client, secret) = web::block(move || -> Result<_, ApiError> {
        let mut conn = pool.get().map_err(StoreError::from)?;
        let secret = ClientSecret::generate().map_err(|_| ApiError::internal(&"random generator failed"))?;
        if store::clients::set_secret_hash(&mut conn, &id, &secret.hash(), now)? == 0 {
            return Err(not_found());
        }
        let client = store::clients::find(&mut conn, &id)?.ok_or_else(not_found)?.to_client();
        caller.audit(&mut conn, now, "client.secret_rotated", Some(&id), json!({}))?;
        Ok((client, secret))
    })
    .await??;
    state.clients.forget(&forget_id);
    Ok(HttpResponse::Ok()
        .insert_header(("cache-control", "no-store"))
        .json(client.describe_with_secret(&secret)))
}
