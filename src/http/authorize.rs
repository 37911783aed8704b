//! The authorization endpoint (`GET`/`POST /oauth2/authorize`, RFC 6749 §4.1, OpenID Connect
//! Core §3.1.2) and the sign-in form it shows (`POST /login`). With a live single sign-on session
//! the browser goes straight back to the client with a code; without one it sees jwtd's sign-in
//! page. Errors the client may hear go back to its redirect URI with `state` and `iss` (RFC
//! 9207); a request naming an unknown client or redirect URI gets jwtd's error page instead.

use actix_web::cookie::{Cookie, SameSite};
use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::web::{self, Bytes};
use actix_web::{HttpRequest, HttpResponse};
use askama::Template;
use aws_lc_rs::constant_time;
use zeroize::Zeroizing;

use super::Edge;
use super::grants::request_origin;
use super::pages::{self, LoginPage, PageError};
use super::params::Params;
use crate::accounts::clients::Client;
use crate::accounts::passwords::MAX_PASSWORD_BYTES;
use crate::accounts::sessions::Session;
use crate::authority::{Authority, Error};
use crate::tokens::authorization::{
    self, AuthorizationRequest, BrowserSecret, Prompt, RawAuthorization, Refused, ReplyTo,
};

/// The single sign-on session's cookie: `__Host-` (Secure, Path=/, no Domain), HttpOnly,
/// SameSite=Lax (so an app's link to the authorization endpoint carries it).
pub const SESSION_COOKIE: &str = "__Host-jwtd_session";
/// The sign-in form's CSRF cookie (double submit: the form carries the same value).
pub const CSRF_COOKIE: &str = "__Host-jwtd_csrf";
const MAX_USERNAME: usize = 320;
/// One message for a wrong password, an unknown or disabled account and a lockout alike.
const SIGN_IN_FAILED: &str = "The email or password is not right, or this account cannot sign in now.";

/// `GET` and `POST /oauth2/authorize`.
pub async fn authorize(
    req: HttpRequest,
    body: Bytes,
    state: web::Data<Authority>,
    edge: web::Data<Edge>,
) -> Result<HttpResponse, PageError> {
    let brand = &edge.brand;
    let params = match *req.method() {
        actix_web::http::Method::POST => Params::from_body(&req, &body),
        _ => Params::from_query(req.query_string()),
    }
    .map_err(|e| PageError::bad_request(brand, e.description().to_owned()))?;
    let (client, reply, request) = match checked_request(&state, &edge, &params).await? {
        Ok(checked) => checked,
        Err(refusal) => return Ok(refusal),
    };
    let session = browser_session(&req, &state, &edge).await?;
    let now = state.clock.now();
    match session {
        Some(session) if request.accepts_session(session.auth_time, now) => {
            let signed_in = SignedIn { req: &req, client: &client, request: &request, session: &session };
            answer(&state, &edge, signed_in, &params.to_query(), &reply, None).await
        }
        _ if request.prompt == Prompt::None => {
            let refused = Refused::new("login_required", "the user is not signed in");
            Ok(error_redirect(&state, &reply, &refused))
        }
        _ => login_page(
            &req,
            &edge,
            &client,
            &params.to_query(),
            request.login_hint.as_deref().unwrap_or(""),
            None,
        ),
    }
}

/// `POST /login`: the sign-in form. Checks the CSRF token, the authorization request it carries
/// (as strictly as the first time) and the password; starts the session and sends the browser
/// back to the client with a code.
pub async fn login(
    req: HttpRequest,
    body: Bytes,
    state: web::Data<Authority>,
    edge: web::Data<Edge>,
) -> Result<HttpResponse, PageError> {
    let PostedForm { form, client, reply, request } = match posted_form(&req, &body, &state, &edge).await? {
        Ok(posted) => posted,
        Err(refusal) => return Ok(refusal),
    };
    let carried = form.get("auth_request").unwrap_or_default();
    let username = form.get("username").unwrap_or_default();
    let password = form.get("password").unwrap_or_default();
    if username.len() > MAX_USERNAME || password.len() > MAX_PASSWORD_BYTES {
        return login_page(&req, &edge, &client, carried, "", Some(SIGN_IN_FAILED));
    }
    let current = browser_session(&req, &state, &edge).await?;
    let password = Zeroizing::new(password.to_owned());
    let signed_in = state.sign_in(username, password, request_origin(&req), current).await;
    let (secret, session) = match signed_in {
        Ok(signed_in) => signed_in,
        Err(Error::OAuth { .. } | Error::Throttled { .. }) => {
            state.metrics.sign_in.sign_ins.with_label_values(&["failure"]).inc();
            return login_page(&req, &edge, &client, carried, username, Some(SIGN_IN_FAILED));
        }
        Err(e) => return Err(page_fault(&edge, e)),
    };
    state.metrics.sign_in.sign_ins.with_label_values(&["success"]).inc();
    let cookie = session_cookie(&state, &secret, &session);
    let signed_in = SignedIn { req: &req, client: &client, request: &request, session: &session };
    answer(&state, &edge, signed_in, carried, &reply, Some(cookie)).await
}

/// The single sign-on session's cookie, kept as long as the session may live (its absolute end;
/// the idle end is jwtd's to check).
fn session_cookie(state: &Authority, secret: &BrowserSecret, session: &Session) -> Cookie<'static> {
    let lifetime = (session.expires_at - state.clock.now()).max(0);
    Cookie::build(SESSION_COOKIE, secret.expose().to_owned())
        .path("/")
        .secure(true)
        .http_only(true)
        .same_site(SameSite::Lax)
        .max_age(actix_web::cookie::time::Duration::seconds(lifetime))
        .finish()
}

/// A request from a browser whose person is signed in.
#[derive(Clone, Copy)]
pub(super) struct SignedIn<'a> {
    pub req: &'a HttpRequest,
    pub client: &'a Client,
    pub request: &'a AuthorizationRequest,
    pub session: &'a Session,
}

/// What a signed-in person's request gets: a code, or first the consent page (with
/// `prompt=none`, `consent_required` instead). `cookie` is a session cookie to set on the way.
async fn answer(
    state: &Authority,
    edge: &Edge,
    signed_in: SignedIn<'_>,
    auth_request: &str,
    reply: &ReplyTo,
    cookie: Option<Cookie<'_>>,
) -> Result<HttpResponse, PageError> {
    let SignedIn { client, request, session, .. } = signed_in;
    if !state.consent_needed(client, request, session).await.map_err(|e| page_fault(edge, e))? {
        return code_redirect(state, edge, request, session, reply, cookie).await;
    }
    if request.prompt == Prompt::None {
        let refused = Refused::new("consent_required", "the user has not allowed this client yet");
        return Ok(error_redirect(state, reply, &refused));
    }
    let mut page = super::consent::page(edge, signed_in, auth_request)?;
    state.metrics.sign_in.consents.with_label_values(&["shown"]).inc();
    if let Some(cookie) = cookie {
        page.add_cookie(&cookie).map_err(|e| page_fault(edge, Error::internal(&e)))?;
    }
    Ok(page)
}

/// A form posted from one of jwtd's pages (sign-in, consent): its fields, and the authorization
/// request it carries with its client and where to answer.
pub(super) struct PostedForm {
    pub form: Params,
    pub client: Client,
    pub reply: ReplyTo,
    pub request: AuthorizationRequest,
}

/// Reads a form posted from one of jwtd's pages: its CSRF token checked, and the authorization
/// request it carries checked as strictly as the first time (a refusal already decided is the
/// inner `Err`: an error redirect).
pub(super) async fn posted_form(
    req: &HttpRequest,
    body: &[u8],
    state: &Authority,
    edge: &Edge,
) -> Result<Result<PostedForm, HttpResponse>, PageError> {
    let brand = &edge.brand;
    let form = Params::from_body(req, body)
        .map_err(|e| PageError::bad_request(brand, e.description().to_owned()))?;
    if !csrf_holds(req, form.get("csrf_token")) {
        return Err(expired(edge, StatusCode::FORBIDDEN));
    }
    let params = Params::from_query(form.get("auth_request").unwrap_or_default())
        .map_err(|e| PageError::bad_request(brand, e.description().to_owned()))?;
    let checked = checked_request(state, edge, &params).await?;
    Ok(checked.map(|(client, reply, request)| PostedForm { form, client, reply, request }))
}

/// The client, where to answer, and the valid request; or the answer already decided (an error
/// redirect). A request that cannot be answered by redirect is an error page.
pub(super) async fn checked_request(
    state: &Authority,
    edge: &Edge,
    params: &Params,
) -> Result<Result<(Client, ReplyTo, AuthorizationRequest), HttpResponse>, PageError> {
    let raw = raw_authorization(params);
    let client = match raw.client_id.as_deref() {
        Some(id) if id.len() <= 128 => {
            state.client_row(id).await.map_err(|e| page_fault(edge, e))?.map(|row| row.to_client())
        }
        _ => None,
    };
    let reply = authorization::reply_to(&raw, client.as_ref())
        .map_err(|e| PageError::bad_request(&edge.brand, e.0))?;
    let Some(client) = client else {
        return Err(PageError::bad_request(&edge.brand, "unknown client"));
    };
    Ok(match authorization::validate(&raw, &client) {
        Ok(request) => Ok((client, reply, request)),
        Err(refused) => Err(error_redirect(state, &reply, &refused)),
    })
}

fn raw_authorization(params: &Params) -> RawAuthorization {
    let get = |name: &str| params.get(name).map(str::to_owned);
    RawAuthorization {
        response_type: get("response_type"),
        client_id: get("client_id"),
        redirect_uri: get("redirect_uri"),
        scope: get("scope"),
        state: get("state"),
        nonce: get("nonce"),
        code_challenge: get("code_challenge"),
        code_challenge_method: get("code_challenge_method"),
        prompt: get("prompt"),
        max_age: get("max_age"),
        login_hint: get("login_hint"),
        response_mode: get("response_mode"),
        request_object: ["request", "request_uri"].into_iter().find(|name| params.get(name).is_some()),
        resources: params.all("resource").into_iter().map(str::to_owned).collect(),
        dpop_jkt: get("dpop_jkt"),
    }
}

pub(super) fn page_fault(edge: &Edge, error: Error) -> PageError {
    PageError::from_api(&edge.brand, error.into())
}

/// Issues a code for the signed-in session and sends the browser back with it.
pub(super) async fn code_redirect(
    state: &Authority,
    edge: &Edge,
    request: &AuthorizationRequest,
    session: &Session,
    reply: &ReplyTo,
    cookie: Option<Cookie<'_>>,
) -> Result<HttpResponse, PageError> {
    let code = state.issue_code(request, session).await.map_err(|e| page_fault(edge, e))?;
    let mut response = redirect(state, reply, &[("code", code.expose())]);
    if let Some(cookie) = cookie {
        response.add_cookie(&cookie).map_err(|e| page_fault(edge, Error::internal(&e)))?;
    }
    Ok(response)
}

pub(super) fn error_redirect(state: &Authority, reply: &ReplyTo, refused: &Refused) -> HttpResponse {
    redirect(state, reply, &[("error", refused.error), ("error_description", &refused.description)])
}

/// `303 See Other` to the redirect URI with `params`, `state` and `iss` added to its query.
fn redirect(state: &Authority, reply: &ReplyTo, params: &[(&str, &str)]) -> HttpResponse {
    let mut query = form_urlencoded::Serializer::new(String::new());
    query.extend_pairs(params);
    if let Some(value) = &reply.state {
        query.append_pair("state", value);
    }
    query.append_pair("iss", &state.issuer.issuer);
    let separator = if reply.redirect_uri.contains('?') { '&' } else { '?' };
    let location = format!("{}{separator}{}", reply.redirect_uri, query.finish());
    let mut response = HttpResponse::SeeOther();
    response
        .insert_header((header::CACHE_CONTROL, HeaderValue::from_static("no-store")))
        .insert_header((header::REFERRER_POLICY, HeaderValue::from_static("no-referrer")));
    match HeaderValue::from_str(&location) {
        Ok(location) => response.insert_header((header::LOCATION, location)).finish(),
        Err(_) => HttpResponse::BadRequest().finish(),
    }
}

/// The sign-in page.
fn login_page(
    req: &HttpRequest,
    edge: &Edge,
    client: &Client,
    auth_request: &str,
    username: &str,
    error: Option<&str>,
) -> Result<HttpResponse, PageError> {
    let redirect_uri = Params::from_query(auth_request)
        .ok()
        .and_then(|p| p.get("redirect_uri").map(str::to_owned))
        .unwrap_or_default();
    form_page(req, edge, pages::form_target(&redirect_uri), |csrf_token| {
        LoginPage { brand: &edge.brand, client_name: &client.name, csrf_token, auth_request, username, error }
            .render()
    })
}

/// A page with a form, `render`ed with a CSRF token: the browser's existing one, or a new one
/// set now (double submit: the form carries what the cookie holds). `form_target` is where the
/// form's answer may redirect to, besides jwtd.
pub(super) fn form_page(
    req: &HttpRequest,
    edge: &Edge,
    form_target: Option<&str>,
    render: impl FnOnce(&str) -> askama::Result<String>,
) -> Result<HttpResponse, PageError> {
    let existing = req.cookie(CSRF_COOKIE).and_then(|c| BrowserSecret::parse(c.value()));
    let (token, new) = match existing {
        Some(token) => (token, false),
        None => (
            BrowserSecret::generate()
                .map_err(|_| page_fault(edge, Error::Internal("random generator".into())))?,
            true,
        ),
    };
    let body = render(token.expose()).map_err(|e| page_fault(edge, Error::internal(&e)))?;
    let mut response = pages::html(StatusCode::OK, body, &edge.brand, form_target);
    if new {
        let cookie = Cookie::build(CSRF_COOKIE, token.expose().to_owned())
            .path("/")
            .secure(true)
            .http_only(true)
            .same_site(SameSite::Strict)
            .finish();
        response.add_cookie(&cookie).map_err(|e| page_fault(edge, Error::internal(&e)))?;
    }
    Ok(response)
}

/// A form that cannot be trusted (its CSRF token is wrong) or whose sign-in has ended.
pub(super) fn expired(edge: &Edge, status: StatusCode) -> PageError {
    PageError {
        status,
        message: "This page has expired or did not come from this site. Go back to the app and start again."
            .into(),
        cause: None,
        brand: std::sync::Arc::clone(&edge.brand),
    }
}

/// The live single sign-on session the browser's cookie names, if any.
pub(super) async fn browser_session(
    req: &HttpRequest,
    state: &Authority,
    edge: &Edge,
) -> Result<Option<Session>, PageError> {
    match req.cookie(SESSION_COOKIE).and_then(|c| BrowserSecret::parse(c.value())) {
        Some(secret) => state.session(&secret).await.map_err(|e| page_fault(edge, e)),
        None => Ok(None),
    }
}

/// The form's token equals the CSRF cookie (compared in constant time), and the browser did not
/// say the form was posted from another site (`Sec-Fetch-Site`).
pub(super) fn csrf_holds(req: &HttpRequest, token: Option<&str>) -> bool {
    let cross_site = req
        .headers()
        .get("sec-fetch-site")
        .is_some_and(|v| !matches!(v.as_bytes(), b"same-origin" | b"none"));
    let cookie = req.cookie(CSRF_COOKIE);
    match (cookie, token) {
        (Some(cookie), Some(token)) if !cross_site && BrowserSecret::parse(token).is_some() => {
            constant_time::verify_slices_are_equal(cookie.value().as_bytes(), token.as_bytes()).is_ok()
        }
        _ => false,
    }
}
