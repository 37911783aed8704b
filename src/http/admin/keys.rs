//! `/admin/keys`: list, rotate (scheduled timing enforced; emergency with `revoke_current`),
//! retire.

use std::sync::Arc;

use actix_web::http::StatusCode;
use actix_web::web::{self, Bytes};
use actix_web::{HttpResponse, Responder};
use serde::Deserialize;
use serde_json::json;

use super::AdminCaller;
use crate::authority::{Authority, keys};
use crate::http::error::ApiError;
use crate::keys::lifecycle::RotateRequest;

pub async fn list(_caller: AdminCaller, state: web::Data<Authority>) -> Result<HttpResponse, ApiError> {
    let schedule = state.keys.lifecycle.schedule;
    let statuses = state.with_conn(move |conn| keys::list(conn, &schedule)).await?;
    let keys: Vec<_> = statuses.iter().map(keys::KeyStatus::describe).collect();
    Ok(HttpResponse::Ok().json(json!({ "keys": keys })))
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RotateQuery {
    #[serde(default)]
    revoke_current: bool,
}

/// The optional body of a rotation: the new `next` key's algorithm and RSA size.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RotateBody {
    alg: Option<String>,
    bits: Option<u32>,
}

fn bad_request(description: String) -> ApiError {
    ApiError::Status {
        status: StatusCode::BAD_REQUEST,
        code: "invalid_request",
        description: description.into(),
    }
}

/// Parses the body (empty, or JSON naming `alg` and `bits`); the request checks the values.
fn rotate_request(body: &[u8], revoke_current: bool) -> Result<RotateRequest, ApiError> {
    let body: RotateBody = if body.iter().all(u8::is_ascii_whitespace) {
        RotateBody::default()
    } else {
        serde_json::from_slice(body).map_err(|e| bad_request(format!("invalid JSON body: {e}")))?
    };
    RotateRequest::new(body.alg.as_deref(), body.bits, revoke_current).map_err(|e| bad_request(e.to_owned()))
}

pub async fn rotate(
    caller: AdminCaller,
    query: web::Query<RotateQuery>,
    body: Bytes,
    state: web::Data<Authority>,
) -> Result<HttpResponse, ApiError> {
    let request = rotate_request(&body, query.revoke_current)?;
    let (actor, now, lifecycle) = (caller.actor(), state.clock.now(), Arc::clone(&state.keys.lifecycle));
    let rotation = state.with_conn(move |conn| keys::rotate(conn, &lifecycle, &actor, request, now)).await?;
    state.keys.reload().await?;
    let mut body = json!(rotation);
    if let (Some(revoked), Some(fields)) = (&rotation.revoked, body.as_object_mut()) {
        let note = format!("key {revoked} left the JWKS: tokens it signed no longer verify");
        fields.insert("note".to_owned(), json!(note));
    }
    Ok(HttpResponse::Ok().json(body))
}

pub async fn retire(
    caller: AdminCaller,
    kid: web::Path<String>,
    state: web::Data<Authority>,
) -> Result<impl Responder, ApiError> {
    let (actor, now, lifecycle) = (caller.actor(), state.clock.now(), Arc::clone(&state.keys.lifecycle));
    let kid = kid.into_inner();
    let retired = kid.clone();
    state.with_conn(move |conn| keys::retire(conn, &lifecycle, &actor, &retired, now)).await?;
    state.keys.reload().await?;
    Ok(HttpResponse::Ok().json(json!({ "kid": kid, "state": "retired" })))
}
