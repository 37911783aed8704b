//! `/admin/keys`: list, rotate (scheduled timing enforced; emergency with `revoke_current`),
//! retire.

use actix_web::http::StatusCode;
use actix_web::web::{self, Bytes};
use actix_web::{HttpResponse, Responder};
use serde::Deserialize;
use serde_json::json;

use super::AdminCaller;
use crate::authority::Authority;
use crate::http::error::ApiError;
use crate::keys::lifecycle::{RetireError, RotateError, RotateRequest};
use crate::keys::signing::Algorithm;
use crate::store::keys::{STATE_NEXT, STATE_PREVIOUS};
use crate::store::{self, StoreError};

pub async fn list(_caller: AdminCaller, state: web::Data<Authority>) -> Result<HttpResponse, ApiError> {
    let pool = state.pool.clone();
    let rows =
        web::block(move || -> Result<_, StoreError> { Ok(store::keys::all(&mut *pool.get()?)?) }).await??;
    let schedule = state.keys.lifecycle.schedule;
    let keys: Vec<_> = rows
        .iter()
        .map(|k| {
            json!({
                "kid": k.kid,
                "alg": k.alg,
                "state": k.state,
                "created_at": k.created_at,
                "published_at": k.published_at,
                "activated_at": k.activated_at,
                "deactivated_at": k.deactivated_at,
                "signs_from": (k.state == STATE_NEXT).then(|| schedule.ready_at(k)),
                "retires_at": (k.state == STATE_PREVIOUS).then(|| schedule.retires_at(k)),
                "retired_at": k.retired_at,
            })
        })
        .collect();
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

/// Parses and checks the body: `alg` exactly one of jwtd's algorithms (never `none` or HS*),
/// `bits` only for RS256 and only 2048, 3072 or 4096.
fn rotate_request(body: &[u8], revoke_current: bool) -> Result<RotateRequest, ApiError> {
    let body: RotateBody = if body.iter().all(u8::is_ascii_whitespace) {
        RotateBody::default()
    } else {
        serde_json::from_slice(body).map_err(|e| bad_request(format!("invalid JSON body: {e}")))?
    };
    let alg = match body.alg.as_deref() {
        None => None,
        Some(name) => Some(Algorithm::parse(name).ok_or_else(|| {
            bad_request("alg must be RS256, ES256 or EdDSA; none and symmetric algorithms are refused".into())
        })?),
    };
    if let Some(bits) = body.bits {
        if !matches!(bits, 2048 | 3072 | 4096) {
            return Err(bad_request("bits must be 2048, 3072 or 4096".into()));
        }
        if alg.is_some_and(|a| a != Algorithm::Rs256) {
            return Err(bad_request("bits applies to RS256 keys only".into()));
        }
    }
    Ok(RotateRequest { alg, rsa_bits: body.bits, revoke_current })
}

pub async fn rotate(
    caller: AdminCaller,
    query: web::Query<RotateQuery>,
    body: Bytes,
    state: web::Data<Authority>,
) -> Result<HttpResponse, ApiError> {
    let request = rotate_request(&body, query.revoke_current)?;
    let pool = state.pool.clone();
    let lifecycle = std::sync::Arc::clone(&state.keys.lifecycle);
    let now = state.clock.now();
    let outcome = web::block(move || -> Result<_, ApiError> {
        let mut conn = pool.get().map_err(StoreError::from)?;
        let rotation = match lifecycle.rotate(&mut conn, now, request) {
            Ok(rotation) => rotation,
            Err(RotateError::NotReady { ready_at }) => return Ok(Err(ready_at)),
            Err(RotateError::Keys(e)) => return Err(e.into()),
        };
        let (kind, subject) = rotation.audit_kind_and_subject();
        caller.actor().audit(&mut conn, now, kind, Some(subject), json!(rotation))?;
        Ok(Ok(rotation))
    })
    .await??;
    let rotation = match outcome {
        Ok(rotation) => rotation,
        Err(ready_at) => {
            return Err(ApiError::Status {
                status: StatusCode::CONFLICT,
                code: "rotation_not_ready",
                description: format!(
                    "the next key has not been published long enough for every verifier to know it; \
                     it may sign from {ready_at} (in {} s)",
                    ready_at - now
                )
                .into(),
            });
        }
    };
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
    let kid = kid.into_inner();
    let pool = state.pool.clone();
    let lifecycle = std::sync::Arc::clone(&state.keys.lifecycle);
    let now = state.clock.now();
    let retired = kid.clone();
    web::block(move || -> Result<_, ApiError> {
        let mut conn = pool.get().map_err(StoreError::from)?;
        match lifecycle.retire(&mut conn, &retired, now) {
            Ok(()) => {}
            Err(RetireError::NotFound) => {
                return Err(ApiError::Status {
                    status: StatusCode::NOT_FOUND,
                    code: "not_found",
                    description: "no such key".into(),
                });
            }
            Err(RetireError::Current) => {
                return Err(ApiError::Status {
                    status: StatusCode::CONFLICT,
                    code: "key_is_current",
                    description: "the current key cannot be retired; rotate first, or rotate with \
                                  revoke_current=true if it is compromised"
                        .into(),
                });
            }
            Err(RetireError::Keys(e)) => return Err(e.into()),
        }
        caller.actor().audit(&mut conn, now, "key.retired", Some(&retired), json!({}))?;
        Ok(())
    })
    .await??;
    state.keys.reload().await?;
    Ok(HttpResponse::Ok().json(json!({ "kid": kid, "state": "retired" })))
}
