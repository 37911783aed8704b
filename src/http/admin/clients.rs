//! `/admin/clients`: register, list, show, delete, and rotate a client's secret, through the
//! operations the CLI uses too. Secrets are returned once, in the response that creates them.

use actix_web::web;
use actix_web::{HttpResponse, Responder};
use serde::Deserialize;
use serde_json::json;

use super::AdminCaller;
use crate::accounts::clients::{Client, ClientRegistration};
use crate::authority::{Authority, clients};
use crate::http::error::ApiError;

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

pub async fn create(
    caller: AdminCaller,
    body: web::Json<CreateClient>,
    state: web::Data<Authority>,
) -> Result<HttpResponse, ApiError> {
    let mut registration =
        ClientRegistration::new(&body.name, &body.scope, &body.audiences, &body.grant_types)
            .and_then(|r| r.with_introspection(&body.introspection_audiences))
            .map_err(|e| ApiError::invalid_request(e.to_string()))?;
    registration.refresh_cookie = body.refresh_cookie;
    let (actor, now) = (caller.actor(), state.clock.now());
    let (client, secret) =
        state.with_conn(move |conn| clients::register(conn, &actor, &registration, now)).await?;
    Ok(HttpResponse::Created()
        .insert_header(("cache-control", "no-store"))
        .json(client.describe_with_secret(&secret)))
}

pub async fn list(_caller: AdminCaller, state: web::Data<Authority>) -> Result<HttpResponse, ApiError> {
    let clients = state.with_conn(clients::list).await?;
    let clients: Vec<_> = clients.iter().map(Client::describe).collect();
    Ok(HttpResponse::Ok().json(json!({ "clients": clients })))
}

pub async fn get(
    _caller: AdminCaller,
    id: web::Path<String>,
    state: web::Data<Authority>,
) -> Result<HttpResponse, ApiError> {
    let client = state.with_conn(move |conn| clients::find(conn, &id)).await?;
    Ok(HttpResponse::Ok().json(client.describe()))
}

pub async fn delete(
    caller: AdminCaller,
    id: web::Path<String>,
    state: web::Data<Authority>,
) -> Result<impl Responder, ApiError> {
    let (actor, now, id) = (caller.actor(), state.clock.now(), id.into_inner());
    let deleted = id.clone();
    state.with_conn(move |conn| clients::delete(conn, &actor, &deleted, now)).await?;
    state.clients.forget(&id);
    Ok(HttpResponse::NoContent().finish())
}

pub async fn rotate_secret(
    caller: AdminCaller,
    id: web::Path<String>,
    state: web::Data<Authority>,
) -> Result<HttpResponse, ApiError> {
    let (actor, now, id) = (caller.actor(), state.clock.now(), id.into_inner());
    let rotated = id.clone();
    let (client, secret) =
        state.with_conn(move |conn| clients::rotate_secret(conn, &actor, &rotated, now)).await?;
    state.clients.forget(&id);
    Ok(HttpResponse::Ok()
        .insert_header(("cache-control", "no-store"))
        .json(client.describe_with_secret(&secret)))
}
