//! `GET /metrics`: Prometheus text format. Always on the admin listener (`admin.addr`); on the
//! main listener only as `admin.metrics` decides (by default: in development without an admin
//! listener, never in production).

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};

use super::error::ApiError;
use crate::authority::Authority;

pub async fn metrics(
    req: HttpRequest,
    state: web::Data<Authority>,
    edge: web::Data<super::Edge>,
) -> Result<HttpResponse, ApiError> {
    let on_admin_listener = edge.admin_port == Some(req.app_config().local_addr().port());
    if !on_admin_listener && !edge.public_metrics {
        return Err(ApiError::for_status(StatusCode::NOT_FOUND));
    }
    let now = state.clock.now();
    let keys = state.published_keys().await?;
    let metrics = &state.metrics;
    metrics.key_age.reset();
    for key in &keys {
        metrics
            .key_age
            .with_label_values(&[key.state.as_str(), key.kid.as_str()])
            .set(now - key.in_state_since().unwrap_or(now));
    }
    let pool = state.pool.state();
    metrics
        .db_connections
        .with_label_values(&["in_use"])
        .set(i64::from(pool.connections - pool.idle_connections));
    metrics.db_connections.with_label_values(&["idle"]).set(i64::from(pool.idle_connections));
    metrics.db_connections.with_label_values(&["max"]).set(i64::from(state.pool.max_size()));
    metrics.password_queue.set(i64::try_from(state.passwords.queue_depth()).unwrap_or(i64::MAX));
    if let Ok(live) = state.live_sessions().await {
        metrics.sign_in.sessions_live.set(live);
    }
    let body = metrics.render().map_err(|e| ApiError::internal(&e))?;
    Ok(HttpResponse::Ok().content_type("text/plain; version=0.0.4; charset=utf-8").body(body))
}
