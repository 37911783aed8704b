//! Routes. Handlers are thin: parse, call the domain, map the result.

pub mod client_auth;
pub mod discovery;
pub mod error;
pub mod health;
pub mod params;
pub mod token;

use actix_web::dev::ServiceResponse;
use actix_web::http::header;
use actix_web::middleware::{ErrorHandlerResponse, ErrorHandlers};
use actix_web::{ResponseError, web};

use error::ApiError;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/.well-known/openid-configuration", web::get().to(discovery::metadata))
        .route("/.well-known/oauth-authorization-server", web::get().to(discovery::metadata))
        .route("/.well-known/jwks.json", web::get().to(discovery::jwks))
        .route("/oauth2/token", web::post().to(token::token))
        .route("/healthz", web::get().to(health::healthz))
        .route("/readyz", web::get().to(health::readyz));
}

/// Turns every error response that is not JSON yet (actix's own 404, 405, 413 and extractor
/// failures) into the JSON shape of [`ApiError`]. A 405's `Allow` header is kept.
pub fn json_errors<B: 'static>() -> ErrorHandlers<B> {
    ErrorHandlers::new().default_handler(|res: ServiceResponse<B>| {
        let is_json = res
            .response()
            .headers()
            .get(header::CONTENT_TYPE)
            .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
        if is_json {
            return Ok(ErrorHandlerResponse::Response(res.map_into_left_body()));
        }
        if let Some(cause) = res.response().error() {
            log::debug!("{} {}: {cause}", res.request().method(), res.request().path());
        }
        let status = res.status();
        let allow = res.response().headers().get(header::ALLOW).cloned();
        let (req, _) = res.into_parts();
        let mut replacement = ApiError::for_status(status).error_response();
        if let Some(allow) = allow {
            replacement.headers_mut().insert(header::ALLOW, allow);
        }
        Ok(ErrorHandlerResponse::Response(ServiceResponse::new(req, replacement).map_into_right_body()))
    })
}
