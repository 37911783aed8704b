//! CORS (the Fetch standard's cross-origin protocol), so that browser apps may call jwtd from
//! their own origin. Two policies, each a middleware wrapped around the resources it serves:
//!
//! - [`Cors::anyone`] on the public documents (discovery, the JWKS, the revocation feed):
//!   `Access-Control-Allow-Origin: *` on every answer. They carry nothing private and take no
//!   credentials, so any page may read them.
//! - [`Cors::registered`] on the endpoints browser apps call (token, revocation, userinfo): an
//!   `Origin` that an enabled client registered as one of its web origins gets
//!   `Access-Control-Allow-Origin: <that origin>`; any other origin gets no CORS header at all,
//!   so the browser keeps the answer from the page. Every answer says `Vary: Origin`. The set of
//!   registered origins is the authority's cached one ([`Authority::registered_origin`]): no
//!   query per request on the token endpoint's happy path.
//!
//! A preflight (`OPTIONS`) answers 204 without reaching the handler: with the allowed methods,
//! request headers and `Access-Control-Max-Age` for an allowed origin, without them otherwise.
//!
//! `Access-Control-Allow-Credentials: true` only where a cookie is read, the token endpoint
//! ([`Cors::registered_with_cookies`]), and only for an origin a cookie client (one that takes
//! its refresh token in its `__Host-` cookie) registered: such an app, on a sibling host of the
//! same site, must send that cookie to refresh. Every other endpoint takes credentials in a
//! header or the body, so browsers need not send cookies across origins.

use std::future::{Future, Ready, ready};
use std::pin::Pin;
use std::rc::Rc;

use actix_web::body::EitherBody;
use actix_web::dev::{Service, ServiceRequest, ServiceResponse, Transform, forward_ready};
use actix_web::http::Method;
use actix_web::http::header::{self, HeaderMap, HeaderValue};
use actix_web::{HttpResponse, web};

use super::error::ApiError;
use crate::accounts::clients::uris::MAX_URI_LEN;
use crate::authority::Authority;

/// How long a browser may reuse a preflight's answer, in seconds: short enough that a removed
/// origin stops being allowed preflights soon (its answers lose their header at once anyway).
const MAX_AGE: &str = "600";
/// Request headers a browser app may send: bearer tokens, form or JSON bodies, DPoP proofs.
const ALLOW_HEADERS: &str = "Authorization, Content-Type, DPoP";
/// Response headers a registered page may read beyond the safelisted ones: RFC 6750's and RFC
/// 9449's errors, and the nonce a DPoP client must use next (RFC 9449 §8).
const EXPOSE_HEADERS: &str = "WWW-Authenticate, DPoP-Nonce";

/// A CORS policy for the resources it wraps.
#[derive(Debug, Clone, Copy)]
pub struct Cors(Policy);

#[derive(Debug, Clone, Copy)]
enum Policy {
    /// Any origin may read; preflights allow `GET, HEAD` and `If-None-Match` (cache validation).
    Anyone,
    /// Only origins registered by an enabled client, for these methods; with `cookies`, origins
    /// of cookie clients may send cookies.
    Registered { methods: &'static str, cookies: bool },
}

/// Which origin an answer allows, and whether it may send cookies.
enum Allowed {
    Any,
    Origin { origin: HeaderValue, credentials: bool },
    Nobody,
}

impl Cors {
    /// For public documents: `Access-Control-Allow-Origin: *`.
    pub fn anyone() -> Self {
        Self(Policy::Anyone)
    }

    /// For endpoints browser apps call: only their registered origins, for `methods`
    /// (e.g. `"POST"`).
    pub fn registered(methods: &'static str) -> Self {
        Self(Policy::Registered { methods, cookies: false })
    }

    /// [`Cors::registered`], and cookie clients' origins may send their refresh cookie.
    pub fn registered_with_cookies(methods: &'static str) -> Self {
        Self(Policy::Registered { methods, cookies: true })
    }
}

impl Policy {
    async fn allowed(self, req: &ServiceRequest) -> Result<Allowed, ApiError> {
        let cookies = match self {
            Self::Anyone => return Ok(Allowed::Any),
            Self::Registered { cookies, .. } => cookies,
        };
        let Some(origin) = req.headers().get(header::ORIGIN) else {
            return Ok(Allowed::Nobody);
        };
        let (Ok(text), Some(state)) = (origin.to_str(), req.app_data::<web::Data<Authority>>()) else {
            return Ok(Allowed::Nobody);
        };
        if text.len() > MAX_URI_LEN {
            return Ok(Allowed::Nobody);
        }
        Ok(match state.registered_origin(text).await? {
            Some(cookie_client) => {
                Allowed::Origin { origin: origin.clone(), credentials: cookies && cookie_client }
            }
            None => Allowed::Nobody,
        })
    }

    /// The headers of an actual answer.
    fn answer(self, headers: &mut HeaderMap, allowed: &Allowed) {
        if let Self::Registered { .. } = self {
            headers.append(header::VARY, HeaderValue::from_static("Origin"));
        }
        match allowed {
            Allowed::Any => {
                headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, HeaderValue::from_static("*"));
            }
            Allowed::Origin { origin, credentials } => {
                headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin.clone());
                headers
                    .insert(header::ACCESS_CONTROL_EXPOSE_HEADERS, HeaderValue::from_static(EXPOSE_HEADERS));
                if *credentials {
                    headers
                        .insert(header::ACCESS_CONTROL_ALLOW_CREDENTIALS, HeaderValue::from_static("true"));
                }
            }
            Allowed::Nobody => {}
        }
    }

    /// The answer to a preflight: 204, with what the origin may do if it may do anything.
    fn preflight(self, allowed: &Allowed) -> HttpResponse {
        let mut response = HttpResponse::NoContent().finish();
        let headers = response.headers_mut();
        self.answer(headers, allowed);
        let (methods, request_headers) = match self {
            Self::Anyone => ("GET, HEAD", "If-None-Match"),
            Self::Registered { methods, .. } => (methods, ALLOW_HEADERS),
        };
        if !matches!(allowed, Allowed::Nobody) {
            headers.insert(header::ACCESS_CONTROL_ALLOW_METHODS, HeaderValue::from_static(methods));
            headers.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, HeaderValue::from_static(request_headers));
            headers.insert(header::ACCESS_CONTROL_MAX_AGE, HeaderValue::from_static(MAX_AGE));
        }
        response
    }
}

impl<S, B> Transform<S, ServiceRequest> for Cors
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error> + 'static,
    B: 'static,
{
    type Response = ServiceResponse<EitherBody<B>>;
    type Error = actix_web::Error;
    type Transform = CorsService<S>;
    type InitError = ();
    type Future = Ready<Result<Self::Transform, Self::InitError>>;

    fn new_transform(&self, service: S) -> Self::Future {
        ready(Ok(CorsService { service: Rc::new(service), policy: self.0 }))
    }
}

pub struct CorsService<S> {
    service: Rc<S>,
    policy: Policy,
}

impl<S, B> Service<ServiceRequest> for CorsService<S>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error> + 'static,
    B: 'static,
{
    type Response = ServiceResponse<EitherBody<B>>;
    type Error = actix_web::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>>>>;

    forward_ready!(service);

    fn call(&self, req: ServiceRequest) -> Self::Future {
        let (service, policy) = (Rc::clone(&self.service), self.policy);
        Box::pin(async move {
            let allowed = match policy.allowed(&req).await {
                Ok(allowed) => allowed,
                // Storage failed while the origins were reloaded: answered (and logged) as
                // every storage failure, before the handler runs.
                Err(e) => return Ok(req.error_response(e).map_into_right_body()),
            };
            if req.method() == Method::OPTIONS {
                let response = policy.preflight(&allowed);
                return Ok(req.into_response(response).map_into_right_body());
            }
            let mut response = service.call(req).await?;
            policy.answer(response.headers_mut(), &allowed);
            Ok(response.map_into_left_body())
        })
    }
}
