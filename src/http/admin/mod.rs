//! The admin API under `/admin/`, guarded by jwtd's own access tokens with scope `jwtd:admin`.
//! Every action writes an audit event: who (the token's client), what, when, from where.

pub mod audit;
pub mod clients;
pub mod keys;
pub mod users;

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest, web};

use super::error::ApiError;
use crate::authority::Authority;
use crate::authority::audit::Actor;

/// The scope an access token needs for the admin API.
pub use crate::scope::ADMIN_SCOPE;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/admin")
            .app_data(web::JsonConfig::default().limit(16 * 1024).error_handler(json_error))
            .service(web::resource("/audit").get(audit::list))
            .service(web::resource("/keys").get(keys::list))
            .service(web::resource("/keys/rotate").post(keys::rotate))
            .service(web::resource("/keys/{kid}/retire").post(keys::retire))
            // A client's lists at their bounds (16 redirect URIs and 16 origins of 512
            // characters) take more than the 16 KiB of the other bodies.
            .service(
                web::resource("/clients").app_data(client_json()).get(clients::list).post(clients::create),
            )
            .service(
                web::resource("/clients/{id}")
                    .app_data(client_json())
                    .get(clients::get)
                    .patch(clients::update)
                    .delete(clients::delete),
            )
            .service(web::resource("/clients/{id}/secret").post(clients::rotate_secret))
            .service(web::resource("/users").get(users::list).post(users::create))
            .service(
                web::resource("/users/import")
                    .app_data(web::JsonConfig::default().limit(1024 * 1024).error_handler(json_error))
                    .post(users::import),
            )
            .service(web::resource("/users/{id}").get(users::get).patch(users::update).delete(users::delete))
            .service(web::resource("/users/{id}/revoke-sessions").post(users::revoke_sessions))
            .service(web::resource("/users/{id}/sessions").get(users::sessions).delete(users::end_sessions))
            .service(web::resource("/users/{id}/consents").get(users::consents))
            .service(web::resource("/users/{id}/consents/{client}").delete(users::revoke_consent))
            .service(web::resource("/users/{id}/sessions/{session}").delete(users::end_session)),
    );
}

fn client_json() -> web::JsonConfig {
    web::JsonConfig::default().limit(64 * 1024).error_handler(json_error)
}

fn json_error(err: actix_web::error::JsonPayloadError, _req: &HttpRequest) -> actix_web::Error {
    let status = match err {
        actix_web::error::JsonPayloadError::Overflow { .. }
        | actix_web::error::JsonPayloadError::OverflowKnownLength { .. } => {
            return ApiError::for_status(actix_web::http::StatusCode::PAYLOAD_TOO_LARGE).into();
        }
        _ => actix_web::http::StatusCode::BAD_REQUEST,
    };
    ApiError::Status {
        status,
        code: "invalid_request",
        description: format!("invalid JSON body: {}", short(&err.to_string())).into(),
    }
    .into()
}

fn short(text: &str) -> String {
    text.chars().filter(|c| !c.is_control()).take(200).collect()
}

/// An authenticated operator: the client whose token carried `jwtd:admin`.
#[derive(Debug, Clone)]
pub struct AdminCaller {
    pub client_id: String,
    pub ip: Option<String>,
}

impl FromRequest for AdminCaller {
    type Error = ApiError;
    type Future = std::pin::Pin<Box<dyn std::future::Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move { authenticate(&req).await })
    }
}

/// A valid token with `jwtd:admin` is not enough: it must be live (its client still exists and
/// is enabled, so deleting a compromised admin client stops its tokens at once, not at their
/// expiry; a user's token belongs to a live login).
async fn authenticate(req: &HttpRequest) -> Result<AdminCaller, ApiError> {
    let state = req.app_data::<web::Data<Authority>>().ok_or(ApiError::Internal)?;
    let edge = req.app_data::<web::Data<crate::http::Edge>>().ok_or(ApiError::Internal)?;
    // With a listener of its own, the admin API does not exist on the public one.
    if edge.admin_port.is_some_and(|port| req.app_config().local_addr().port() != port) {
        return Err(ApiError::for_status(actix_web::http::StatusCode::NOT_FOUND));
    }
    let claims = crate::http::bearer::authorize(req, state, Some(&state.issuer.issuer), ADMIN_SCOPE).await?;
    let ip = crate::http::grants::request_origin(req).ip;
    Ok(AdminCaller { client_id: claims.client_id, ip })
}

impl AdminCaller {
    /// The caller as the audit trail names it.
    pub fn actor(&self) -> Actor {
        Actor { id: self.client_id.clone(), ip: self.ip.clone() }
    }
}
