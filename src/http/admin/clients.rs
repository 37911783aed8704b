//! `/admin/clients`: register, list, show, change, delete, and rotate a client's secret, through
//! the operations the CLI uses too. Secrets are returned once, in the response that creates them.

use actix_web::web;
use actix_web::{HttpResponse, Responder};
use serde::Deserialize;
use serde_json::{Value, json};

use super::AdminCaller;
use crate::accounts::clients::{Client, ClientChange, ClientRegistration};
use crate::authority::{Authority, clients};
use crate::http::error::ApiError;

/// A client's fields, as `POST /admin/clients` registers them (`name` required; absent fields
/// take their defaults: a confidential web client with the `client_credentials` grant) and
/// `PATCH /admin/clients/{id}` changes them (a present field replaces that field).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientFields {
    name: Option<String>,
    scope: Option<String>,
    audiences: Option<Vec<String>>,
    grant_types: Option<Vec<String>>,
    refresh_cookie: Option<bool>,
    /// Audiences of other clients' tokens this client may introspect.
    introspection_audiences: Option<Vec<String>>,
    /// `client_secret_basic` (the default), `client_secret_post` (the same) or `none` (a public
    /// client). Fixed at registration.
    token_endpoint_auth_method: Option<String>,
    application_type: Option<String>,
    redirect_uris: Option<Vec<String>>,
    web_origins: Option<Vec<String>>,
    first_party: Option<bool>,
    post_logout_redirect_uris: Option<Vec<String>>,
    /// An empty string removes it.
    backchannel_logout_uri: Option<String>,
    /// `private_key_jwt`: a JWK set of public keys; `null` removes it.
    #[serde(default, deserialize_with = "present")]
    jwks: Option<Value>,
    /// `private_key_jwt`: where the client publishes its keys; an empty string removes it.
    jwks_uri: Option<String>,
    /// `workload_identity`: the trusted issuer, the subject (or `prefix*`), the audience its
    /// tokens carry (default jwtd's issuer), where its keys are (default: its discovery
    /// document) and the longest token lifetime accepted (default 3600 s).
    workload_issuer: Option<String>,
    workload_subject: Option<String>,
    workload_audience: Option<String>,
    workload_jwks_uri: Option<String>,
    workload_max_lifetime: Option<i64>,
    /// The APIs (absolute URIs) the client may ask tokens for with `resource` (RFC 8707) and
    /// exchange tokens for (RFC 8693).
    resources: Option<Vec<String>>,
    /// The audiences of the API the client serves: tokens sent to it that it may exchange.
    served_resources: Option<Vec<String>>,
    /// DPoP (RFC 9449): `off`, `optional` (the default) or `required`.
    dpop: Option<String>,
    /// RFC 9449 §5.2's name for it: `true` is `dpop: required`, `false` `dpop: optional`.
    dpop_bound_access_tokens: Option<bool>,
    /// DPoP proofs must carry a nonce jwtd provided (RFC 9449 §8).
    dpop_nonce: Option<bool>,
}

/// A field that is present, `null` included (absent is `None`, `null` is `Some(Value::Null)`).
fn present<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Option<Value>, D::Error> {
    Value::deserialize(deserializer).map(Some)
}

impl ClientFields {
    fn into_change(self) -> ClientChange {
        ClientChange {
            name: self.name,
            scope: self.scope,
            audiences: self.audiences,
            grant_types: self.grant_types,
            auth_method: self.token_endpoint_auth_method,
            application_type: self.application_type,
            redirect_uris: self.redirect_uris,
            web_origins: self.web_origins,
            first_party: self.first_party,
            introspection_audiences: self.introspection_audiences,
            refresh_cookie: self.refresh_cookie,
            post_logout_redirect_uris: self.post_logout_redirect_uris,
            backchannel_logout_uri: self.backchannel_logout_uri,
            jwks: self.jwks,
            jwks_uri: self.jwks_uri,
            workload_issuer: self.workload_issuer,
            workload_subject: self.workload_subject,
            workload_audience: self.workload_audience,
            workload_jwks_uri: self.workload_jwks_uri,
            workload_max_lifetime: self.workload_max_lifetime,
            resources: self.resources,
            served_resources: self.served_resources,
            dpop: self.dpop,
            dpop_bound_access_tokens: self.dpop_bound_access_tokens,
            dpop_nonce: self.dpop_nonce,
        }
    }
}

pub async fn create(
    caller: AdminCaller,
    body: web::Json<ClientFields>,
    state: web::Data<Authority>,
) -> Result<HttpResponse, ApiError> {
    let registration = ClientRegistration::create(&body.into_inner().into_change(), state.deployment)
        .map_err(|e| ApiError::invalid_request(e.to_string()))?;
    let (actor, now) = (caller.actor(), state.clock.now());
    let (client, secret) =
        state.with_conn(move |conn| clients::register(conn, &actor, &registration, now)).await?;
    state.web_origins.forget();
    Ok(HttpResponse::Created()
        .insert_header(("cache-control", "no-store"))
        .json(client.describe_with_secret(secret.as_ref())))
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

/// Changes the fields the body names (see [`clients::update`]): at once on this instance, on
/// the others within their caches' few seconds.
pub async fn update(
    caller: AdminCaller,
    id: web::Path<String>,
    body: web::Json<ClientFields>,
    state: web::Data<Authority>,
) -> Result<HttpResponse, ApiError> {
    let change = body.into_inner().into_change();
    let (actor, now, deployment, id) = (caller.actor(), state.clock.now(), state.deployment, id.into_inner());
    let changed = id.clone();
    let client = state
        .with_conn(move |conn| clients::update(conn, &actor, &changed, &change, deployment, now))
        .await?;
    state.clients.forget(&id);
    state.web_origins.forget();
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
    state.web_origins.forget();
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
        .json(client.describe_with_secret(Some(&secret))))
}
