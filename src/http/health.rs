//! Liveness and readiness.

use actix_web::http::StatusCode;
use actix_web::web;
use actix_web::{HttpResponse, ResponseError};

use super::error::ApiError;
use crate::authority::Authority;

/// The process answers: nothing more is checked.
pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({ "status": "ok" }))
}

/// Ready when the database answers (a signing key is loaded before the server starts).
pub async fn readyz(state: web::Data<Authority>) -> HttpResponse {
    match state.check_ready().await {
        Ok(()) => HttpResponse::Ok().json(serde_json::json!({ "status": "ready" })),
        Err(e) => {
            log::warn!("not ready: {e}");
            not_ready()
        }
    }
}

fn not_ready() -> HttpResponse {
    ApiError::Status {
        status: StatusCode::SERVICE_UNAVAILABLE,
        code: "not_ready",
        description: "the database is unreachable".into(),
    }
    .error_response()
}
