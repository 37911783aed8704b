//! The HTTP edge: routes, extractors, the error policy. Handlers are thin: parse, call one
//! operation of [`crate::authority`], map the result. [`Edge`] holds what only HTTP needs.

pub mod admin;
pub mod authorize;
pub mod bearer;
pub mod client_auth;
pub mod client_ip;
pub mod consent;
pub mod cors;
pub mod discovery;
pub mod dpop;
pub mod error;
pub mod exchange;
pub mod feed;
pub mod grants;
pub mod health;
pub mod logout;
pub mod metrics;
pub mod pages;
pub mod params;
pub mod revocation;
pub mod token;
pub mod userinfo;

use actix_web::dev::ServiceResponse;
use actix_web::http::header;
use actix_web::middleware::{ErrorHandlerResponse, ErrorHandlers};
use actix_web::{ResponseError, web};

use actix_web::http::header::HeaderValue;
use actix_web::web::Bytes;
use error::ApiError;

use crate::net::TrustedProxies;

/// What the HTTP edge alone needs, beside the [`crate::authority::Authority`]: documents built
/// at start-up, listeners, and who may name the client's address.
pub struct Edge {
    /// The discovery document (nothing in it changes while jwtd runs).
    pub metadata: Bytes,
    /// `Cache-Control` of the public documents (discovery).
    pub public_cache_control: HeaderValue,
    /// `Cache-Control` of the revocation feed.
    pub feed_cache_control: HeaderValue,
    /// When the admin API has a listener of its own: its port. The admin API answers only there.
    pub admin_port: Option<u16>,
    /// Whether `/metrics` answers on the main listener (see
    /// [`crate::config::Settings::public_metrics`]).
    pub public_metrics: bool,
    pub trusted_proxies: TrustedProxies,
    /// How the sign-in pages look.
    pub brand: std::sync::Arc<pages::Brand>,
    /// `/assets/jwtd.css`, in the configured accent colour.
    pub stylesheet: Bytes,
}

/// Each path is a resource, so a wrong method answers 405 with `Allow` rather than 404. The
/// public documents and probes answer HEAD as GET without the body (RFC 9110 §9.3.2: uptime
/// checks and cache validators use it); actix leaves the body out of a HEAD response.
///
/// CORS ([`cors`]): the public documents answer any origin; the endpoints browser apps call
/// (token, revocation, userinfo) only their clients' registered web origins. Introspection is
/// for resource servers, never browsers, and has none.
pub fn routes(cfg: &mut web::ServiceConfig) {
    use cors::Cors;
    cfg.service(get_and_head("/.well-known/openid-configuration", discovery::metadata).wrap(Cors::anyone()))
        .service(
            get_and_head("/.well-known/oauth-authorization-server", discovery::metadata).wrap(Cors::anyone()),
        )
        .service(get_and_head("/.well-known/jwks.json", discovery::jwks).wrap(Cors::anyone()))
        .service(web::resource("/oauth2/authorize").get(authorize::authorize).post(authorize::authorize))
        .service(web::resource("/login").post(authorize::login))
        .service(web::resource("/consent").post(consent::decide))
        .service(web::resource("/oauth2/logout").get(logout::end_session).post(logout::end_session))
        .service(web::resource("/logout").post(logout::confirm))
        .service(get_and_head("/assets/jwtd.css", pages::serve_stylesheet))
        .service(
            web::resource("/oauth2/token").post(token::token).wrap(Cors::registered_with_cookies("POST")),
        )
        .service(web::resource("/oauth2/revoke").post(revocation::revoke).wrap(Cors::registered("POST")))
        .service(web::resource("/oauth2/introspect").post(revocation::introspect))
        .service(get_and_head("/revocations", feed::revocations).wrap(Cors::anyone()))
        .service(
            web::resource("/userinfo")
                .get(userinfo::userinfo)
                .post(userinfo::userinfo)
                .wrap(Cors::registered("GET, POST")),
        )
        .service(get_and_head("/healthz", health::healthz))
        .service(get_and_head("/readyz", health::readyz))
        .service(web::resource("/metrics").get(metrics::metrics))
        .configure(admin::routes);
}

fn get_and_head<F, Args>(path: &str, handler: F) -> actix_web::Resource
where
    F: actix_web::Handler<Args> + Clone,
    Args: actix_web::FromRequest + 'static,
    F::Output: actix_web::Responder + 'static,
{
    web::resource(path).route(web::get().to(handler.clone())).route(web::head().to(handler))
}

/// Turns every error response that is not JSON yet (actix's own 404, 405, 413 and extractor
/// failures) into the JSON shape of [`ApiError`]. A 405's `Allow` header is kept, and the CORS
/// headers, so a browser app can read why it failed.
pub fn json_errors<B: 'static>() -> ErrorHandlers<B> {
    ErrorHandlers::new().default_handler(|res: ServiceResponse<B>| {
        // The one place a server-side failure's cause is logged: with the request it failed.
        let error = res.response().error();
        let cause = error.and_then(|e| e.as_error::<ApiError>()).and_then(ApiError::cause).or_else(|| {
            error.and_then(|e| e.as_error::<pages::PageError>()).and_then(|e| e.cause.as_deref())
        });
        if let Some(cause) = cause {
            log::error!("{} {}: {cause}", res.request().method(), res.request().path());
        }
        // JSON answers, and the sign-in pages' own HTML error pages, are final.
        let is_final = res.response().headers().get(header::CONTENT_TYPE).is_some_and(|v| {
            v.as_bytes().starts_with(b"application/json") || v.as_bytes().starts_with(b"text/html")
        });
        if is_final {
            return Ok(ErrorHandlerResponse::Response(res.map_into_left_body()));
        }
        if let Some(cause) = res.response().error() {
            log::debug!("{} {}: {cause}", res.request().method(), res.request().path());
        }
        let status = res.status();
        // What the answer says beside its body: the methods of a 405, and its CORS headers.
        let kept: Vec<_> = [header::ALLOW, header::ACCESS_CONTROL_ALLOW_ORIGIN, header::VARY]
            .into_iter()
            .filter_map(|name| res.response().headers().get(&name).cloned().map(|value| (name, value)))
            .collect();
        let (req, _) = res.into_parts();
        let mut replacement = ApiError::for_status(status).error_response();
        for (name, value) in kept {
            replacement.headers_mut().insert(name, value);
        }
        Ok(ErrorHandlerResponse::Response(ServiceResponse::new(req, replacement).map_into_right_body()))
    })
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use actix_web::{App, HttpResponse, test, web};

    use super::*;

    /// Collects log lines, so a test can see what was logged (one logger per test process).
    struct Captured(Mutex<Vec<String>>);

    impl log::Log for Captured {
        fn enabled(&self, _: &log::Metadata<'_>) -> bool {
            true
        }
        fn log(&self, record: &log::Record<'_>) {
            if let Ok(mut lines) = self.0.lock() {
                lines.push(format!("{} {}", record.level(), record.args()));
            }
        }
        fn flush(&self) {}
    }

    static LOG: Captured = Captured(Mutex::new(Vec::new()));

    /// A failure's cause reaches the log once, with the request's method and path, and never
    /// the client's answer.
    #[actix_web::test]
    async fn a_faults_cause_is_logged_with_its_request_and_kept_from_the_client() {
        let _ = log::set_logger(&LOG);
        log::set_max_level(log::LevelFilter::Trace);
        let app = test::init_service(App::new().wrap(json_errors()).route(
            "/boom",
            web::get().to(|| async {
                Err::<HttpResponse, _>(ApiError::unavailable(&"database down (secret detail)"))
            }),
        ))
        .await;
        let response = test::call_service(&app, test::TestRequest::get().uri("/boom").to_request()).await;
        assert_eq!(response.status(), 503);
        let body = test::read_body(response).await;
        assert!(!String::from_utf8_lossy(&body).contains("secret detail"));
        let lines = LOG.0.lock().unwrap().clone();
        let logged: Vec<_> = lines.iter().filter(|l| l.contains("database down")).collect();
        assert_eq!(logged, ["ERROR GET /boom: database down (secret detail)"], "{lines:?}");
    }
}
