//! The HTML pages jwtd serves itself (the sign-in page, its error page), rendered from compiled,
//! auto-escaping templates (`templates/`), with the headers every such page carries: a strict
//! Content-Security-Policy (no script at all, no framing), `Referrer-Policy: no-referrer`,
//! `Cache-Control: no-store`.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

use actix_web::body::BoxBody;
use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, ResponseError};
use askama::Template;

use super::error::ApiError;
use crate::config::LoginSettings;

/// jwtd's own stylesheet; the accent colour is prepended at start-up (see [`stylesheet`]).
const BASE_CSS: &str = include_str!("../../assets/jwtd.css");

/// How the pages look, from `[login]`.
#[derive(Debug, Clone)]
pub struct Brand {
    pub product_name: String,
    pub logo_url: String,
    pub stylesheet_url: String,
    /// The Content-Security-Policy's sources for styles and images (`'self'` and the origins of
    /// a configured logo or stylesheet).
    style_src: String,
    img_src: String,
}

impl Brand {
    pub fn new(login: &LoginSettings) -> Self {
        let with_origin = |url: &str| match origin_of(url) {
            Some(origin) => format!("'self' {origin}"),
            None => "'self'".to_owned(),
        };
        Self {
            product_name: login.product_name.clone(),
            logo_url: login.logo_url.clone(),
            stylesheet_url: login.stylesheet_url.clone(),
            style_src: with_origin(&login.stylesheet_url),
            img_src: with_origin(&login.logo_url),
        }
    }

    /// The page's Content-Security-Policy. `form_target` is where the page's form may lead:
    /// the sign-in form answers with a redirect to the client, which browsers check against
    /// `form-action` too.
    fn content_security_policy(&self, form_target: Option<&str>) -> String {
        let form_action = match form_target {
            Some(target) => format!("'self' {target}"),
            None => "'self'".to_owned(),
        };
        format!(
            "default-src 'none'; style-src {}; img-src {}; form-action {form_action}; \
             frame-ancestors 'none'; base-uri 'none'",
            self.style_src, self.img_src
        )
    }
}

/// `https://host[:port]` of an absolute https URL, or `None` (a path on this server, or nothing).
fn origin_of(url: &str) -> Option<&str> {
    let rest = url.strip_prefix("https://")?;
    let end = rest.find('/').map_or(url.len(), |i| i + "https://".len());
    url.get(..end)
}

/// The source expression that lets a form lead to `redirect_uri` (its origin; a private-use
/// scheme as `scheme:`), or `None` when it has no shape a policy can safely name.
pub fn form_target(redirect_uri: &str) -> Option<&str> {
    let end = match redirect_uri.find("://") {
        Some(i) => {
            let authority = i + 3;
            redirect_uri.get(authority..)?.find(['/', '?']).map_or(redirect_uri.len(), |j| authority + j)
        }
        None => redirect_uri.find(':')? + 1,
    };
    let target = redirect_uri.get(..end)?;
    let safe = target.chars().all(|c| c.is_ascii_alphanumeric() || "+-.:/[]".contains(c));
    safe.then_some(target)
}

/// The stylesheet jwtd serves at `/assets/jwtd.css`: its own, in the configured accent colour.
pub fn stylesheet(login: &LoginSettings) -> String {
    format!(":root{{--accent:{}}}\n{BASE_CSS}", login.accent_color)
}

/// `GET /assets/jwtd.css`.
pub async fn serve_stylesheet(edge: actix_web::web::Data<super::Edge>) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, HeaderValue::from_static("text/css; charset=utf-8")))
        .insert_header((header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=3600")))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")))
        .body(edge.stylesheet.clone())
}

#[derive(Template)]
#[template(path = "login.html")]
pub struct LoginPage<'a> {
    pub brand: &'a Brand,
    pub client_name: &'a str,
    pub csrf_token: &'a str,
    pub auth_request: &'a str,
    pub username: &'a str,
    pub error: Option<&'a str>,
}

#[derive(Template)]
#[template(path = "consent.html")]
pub struct ConsentPage<'a> {
    pub brand: &'a Brand,
    pub client_name: &'a str,
    /// What the app will be able to do, one plain sentence per scope.
    pub scopes: Vec<String>,
    /// Where the browser goes next (the redirect URI's origin, or its scheme).
    pub destination: &'a str,
    /// Whether the redirect URI proves who receives the answer (https).
    pub proven: bool,
    pub csrf_token: &'a str,
    pub auth_request: &'a str,
}

#[derive(Template)]
#[template(path = "logout.html")]
pub struct LogoutPage<'a> {
    pub brand: &'a Brand,
    pub client_name: Option<&'a str>,
    pub csrf_token: &'a str,
    /// The logout request's own parameters (never the ID token), carried to the confirmation.
    pub logout_request: &'a str,
}

#[derive(Template)]
#[template(path = "signed_out.html")]
pub struct SignedOutPage<'a> {
    pub brand: &'a Brand,
}

#[derive(Template)]
#[template(path = "error.html")]
pub struct ErrorPage<'a> {
    pub brand: &'a Brand,
    pub heading: &'a str,
    pub message: &'a str,
}

/// A rendered page with its security headers.
pub fn html(status: StatusCode, body: String, brand: &Brand, form_target: Option<&str>) -> HttpResponse {
    let csp = brand.content_security_policy(form_target);
    let mut response = HttpResponse::build(status);
    response
        .insert_header((header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8")))
        .insert_header((header::CACHE_CONTROL, HeaderValue::from_static("no-store")))
        .insert_header((header::REFERRER_POLICY, HeaderValue::from_static("no-referrer")))
        .insert_header((header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY")))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")));
    if let Ok(csp) = HeaderValue::from_str(&csp) {
        response.insert_header((header::CONTENT_SECURITY_POLICY, csp));
    }
    response.body(body)
}

/// A request a page cannot serve: shown as jwtd's error page, never as a redirect to a client
/// (RFC 6749 §4.1.2.1). A server-side failure keeps its cause for the log.
#[derive(Debug)]
pub struct PageError {
    pub status: StatusCode,
    pub message: Cow<'static, str>,
    /// What failed inside jwtd (logged with the request, never shown).
    pub cause: Option<String>,
    pub brand: Arc<Brand>,
}

impl PageError {
    pub fn bad_request(brand: &Arc<Brand>, message: impl Into<Cow<'static, str>>) -> Self {
        Self {
            status: StatusCode::BAD_REQUEST,
            message: message.into(),
            cause: None,
            brand: Arc::clone(brand),
        }
    }

    /// A failure of jwtd or its database, as a page: 503 (retry) or 500.
    pub fn from_api(brand: &Arc<Brand>, error: ApiError) -> Self {
        let status = error.status_code();
        let message = match status {
            StatusCode::SERVICE_UNAVAILABLE => {
                "The service is busy or briefly unavailable. Try again in a moment."
            }
            s if s.is_server_error() => "Something went wrong on our side. Try again later.",
            _ => return Self::bad_request(brand, error.description().to_owned()),
        };
        Self {
            status,
            message: message.into(),
            cause: error.cause().map(str::to_owned),
            brand: Arc::clone(brand),
        }
    }
}

impl fmt::Display for PageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.cause.as_deref().unwrap_or(&self.message))
    }
}

impl ResponseError for PageError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse<BoxBody> {
        let heading = match self.status {
            s if s.is_server_error() => "Sign-in is unavailable",
            _ => "This sign-in request cannot be used",
        };
        let page = ErrorPage { brand: &self.brand, heading, message: &self.message };
        match page.render() {
            Ok(body) => html(self.status, body, &self.brand, None),
            Err(_) => HttpResponse::build(self.status).finish(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_form_may_lead_only_to_the_redirect_uris_origin() {
        assert_eq!(form_target("https://app.example/cb?x=1"), Some("https://app.example"));
        assert_eq!(form_target("http://127.0.0.1:53127/cb"), Some("http://127.0.0.1:53127"));
        assert_eq!(form_target("http://[::1]:8000/cb"), Some("http://[::1]:8000"));
        assert_eq!(form_target("com.example.app:/oauth"), Some("com.example.app:"));
        assert_eq!(form_target("https://app.example;script-src *"), None);
        assert_eq!(origin_of("https://cdn.example/brand/logo.svg"), Some("https://cdn.example"));
        assert_eq!(origin_of("/static/logo.svg"), None);
    }

    #[test]
    fn the_policy_allows_no_script_and_no_framing() {
        let login = LoginSettings {
            product_name: "Acme".into(),
            logo_url: "https://cdn.example/logo.svg".into(),
            accent_color: "#123456".into(),
            stylesheet_url: String::new(),
        };
        let csp = Brand::new(&login).content_security_policy(Some("https://app.example"));
        assert_eq!(
            csp,
            "default-src 'none'; style-src 'self'; img-src 'self' https://cdn.example; \
             form-action 'self' https://app.example; frame-ancestors 'none'; base-uri 'none'"
        );
    }

    #[test]
    fn the_login_page_escapes_what_it_shows() {
        let login = LoginSettings {
            product_name: "<Acme>".into(),
            logo_url: String::new(),
            accent_color: "#123456".into(),
            stylesheet_url: String::new(),
        };
        let brand = Brand::new(&login);
        let page = LoginPage {
            brand: &brand,
            client_name: "<script>alert(1)</script>",
            csrf_token: "t",
            auth_request: "a=\"b\"",
            username: "",
            error: None,
        };
        let body = page.render().unwrap();
        assert!(!body.contains("<script>"), "{body}");
        assert!(body.contains("&lt;script&gt;") || body.contains("&#60;script&#62;"), "{body}");
        assert!(body.contains("&#34;b&#34;") || body.contains("&quot;b&quot;"), "{body}");
        assert!(body.contains("<label for=\"username\">") && body.contains("<label for=\"password\">"));
    }
}
