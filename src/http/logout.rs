//! The end-session endpoint (`GET`/`POST /oauth2/logout`, OpenID Connect RP-Initiated Logout
//! 1.0) and its confirmation (`POST /logout`).
//!
//! With a valid `id_token_hint` (an ID token jwtd issued, expired or not) for the person signed
//! in to this browser, or with no one signed in here, the logout happens at once. Otherwise the
//! browser's person is asked first, on a page whose form carries a CSRF token: a link alone
//! cannot sign anyone out. Afterwards the browser goes to the app's `post_logout_redirect_uri`
//! (only one registered for that app, compared exactly) with `state`, or sees jwtd's signed-out
//! page.

use actix_web::cookie::{Cookie, SameSite};
use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::web::{self, Bytes};
use actix_web::{HttpRequest, HttpResponse};
use askama::Template;

use super::Edge;
use super::authorize::{SESSION_COOKIE, browser_session, csrf_holds, expired, form_page, page_fault};
use super::grants::request_origin;
use super::pages::{self, LogoutPage, PageError, SignedOutPage};
use super::params::Params;
use crate::accounts::clients::Client;
use crate::authority::logout::Leaving;
use crate::authority::{Authority, Error};
use crate::tokens::verify::IdTokenHint;

/// Longest `state` carried back to the app; longer is refused.
const MAX_STATE_LEN: usize = 1024;
/// Longest `logout_hint` accepted (it is only a hint, and not used beyond that).
const MAX_LOGOUT_HINT_LEN: usize = 512;

/// A logout request's checked parameters: the app asking (if it said which), where to send the
/// browser afterwards (registered for that app), and the app's `state`.
struct LogoutRequest {
    client: Option<Client>,
    post_logout_redirect_uri: Option<String>,
    state: Option<String>,
}

impl LogoutRequest {
    /// The parameters the confirmation form carries (never the ID token).
    fn to_query(&self) -> String {
        let mut query = form_urlencoded::Serializer::new(String::new());
        if let Some(client) = &self.client {
            query.append_pair("client_id", &client.id);
        }
        if let Some(uri) = &self.post_logout_redirect_uri {
            query.append_pair("post_logout_redirect_uri", uri);
        }
        if let Some(state) = &self.state {
            query.append_pair("state", state);
        }
        query.finish()
    }
}

/// `GET` and `POST /oauth2/logout`.
pub async fn end_session(
    req: HttpRequest,
    body: Bytes,
    state: web::Data<Authority>,
    edge: web::Data<Edge>,
) -> Result<HttpResponse, PageError> {
    let params = match *req.method() {
        actix_web::http::Method::POST => Params::from_body(&req, &body),
        _ => Params::from_query(req.query_string()),
    }
    .map_err(|e| PageError::bad_request(&edge.brand, e.description().to_owned()))?;
    let hint = params.get("id_token_hint").and_then(|token| state.id_token_hint(token));
    let request = checked(&state, &edge, &params, hint.as_ref()).await?;
    let browser = browser_session(&req, &state, &edge).await?;
    match (hint, browser) {
        (Some(hint), browser) if browser.as_ref().is_none_or(|s| s.user_id == hint.sub) => {
            let mut sessions: Vec<String> = browser.map(|s| s.id).into_iter().collect();
            let hinted = state.hinted_session(&hint).await.map_err(|e| page_fault(&edge, e))?;
            sessions.extend(hinted.filter(|s| !sessions.contains(s)));
            let leaving = Leaving { user_id: hint.sub, sessions, family_id: hint.sid };
            state.log_out(leaving, request_origin(&req)).await.map_err(|e| page_fault(&edge, e))?;
            state.metrics.sign_in.logouts.with_label_values(&["id_token_hint"]).inc();
            finish(&edge, &request)
        }
        (_, None) => finish(&edge, &request),
        (_, Some(_)) => {
            let target = request.post_logout_redirect_uri.as_deref().and_then(pages::form_target);
            let carried = request.to_query();
            let client_name = request.client.as_ref().map(|c| c.name.as_str());
            form_page(&req, &edge, target, |csrf_token| {
                LogoutPage { brand: &edge.brand, client_name, csrf_token, logout_request: &carried }.render()
            })
        }
    }
}

/// `POST /logout`: the person confirmed on jwtd's page; the browser's session ends.
pub async fn confirm(
    req: HttpRequest,
    body: Bytes,
    state: web::Data<Authority>,
    edge: web::Data<Edge>,
) -> Result<HttpResponse, PageError> {
    let form = Params::from_body(&req, &body)
        .map_err(|e| PageError::bad_request(&edge.brand, e.description().to_owned()))?;
    if !csrf_holds(&req, form.get("csrf_token")) {
        return Err(expired(&edge, StatusCode::FORBIDDEN));
    }
    let carried = Params::from_query(form.get("logout_request").unwrap_or_default())
        .map_err(|e| PageError::bad_request(&edge.brand, e.description().to_owned()))?;
    let request = checked(&state, &edge, &carried, None).await?;
    if let Some(session) = browser_session(&req, &state, &edge).await? {
        let leaving = Leaving { user_id: session.user_id, sessions: vec![session.id], family_id: None };
        state.log_out(leaving, request_origin(&req)).await.map_err(|e| page_fault(&edge, e))?;
        state.metrics.sign_in.logouts.with_label_values(&["confirmed"]).inc();
    }
    finish(&edge, &request)
}

/// Checks a logout request: a named client exists and is the hint's; a post-logout redirect URI
/// is one the client registered (exactly); `state` and `logout_hint` are bounded.
async fn checked(
    state: &Authority,
    edge: &Edge,
    params: &Params,
    hint: Option<&IdTokenHint>,
) -> Result<LogoutRequest, PageError> {
    let refuse = |message: &'static str| PageError::bad_request(&edge.brand, message);
    let named = params.get("client_id");
    let hinted = hint.and_then(IdTokenHint::client_id);
    if let (Some(named), Some(hinted)) = (named, hinted)
        && named != hinted
    {
        return Err(refuse("client_id is not the client the id_token_hint was issued to."));
    }
    let client = match named.or(hinted) {
        Some(id) if id.len() <= 128 => {
            state.client_row(id).await.map_err(|e| page_fault(edge, e))?.map(|row| row.to_client())
        }
        _ => None,
    };
    if named.is_some() && client.is_none() {
        return Err(refuse("Unknown client."));
    }
    let post_logout_redirect_uri = params.get("post_logout_redirect_uri").map(str::to_owned);
    if let Some(uri) = &post_logout_redirect_uri {
        let registered =
            client.as_ref().is_some_and(|c| c.post_logout_redirect_uris.iter().any(|r| r == uri));
        if !registered {
            return Err(refuse(
                "post_logout_redirect_uri is not registered for this client (or the request names no client).",
            ));
        }
    }
    let state_param = params.get("state").map(str::to_owned);
    if state_param.as_ref().is_some_and(|s| s.len() > MAX_STATE_LEN)
        || params.get("logout_hint").is_some_and(|h| h.len() > MAX_LOGOUT_HINT_LEN)
    {
        return Err(refuse("state or logout_hint is too long."));
    }
    Ok(LogoutRequest { client, post_logout_redirect_uri, state: state_param })
}

/// After a logout: the session cookie removed, and the browser sent to the app's post-logout
/// redirect URI (with `state`) or shown the signed-out page.
fn finish(edge: &Edge, request: &LogoutRequest) -> Result<HttpResponse, PageError> {
    let mut response = match &request.post_logout_redirect_uri {
        Some(uri) => {
            let mut location = uri.clone();
            if let Some(state) = &request.state {
                let query =
                    form_urlencoded::Serializer::new(String::new()).append_pair("state", state).finish();
                location.push(if uri.contains('?') { '&' } else { '?' });
                location.push_str(&query);
            }
            let location = HeaderValue::from_str(&location).map_err(|_| {
                PageError::bad_request(&edge.brand, "post_logout_redirect_uri is not usable.")
            })?;
            HttpResponse::SeeOther()
                .insert_header((header::LOCATION, location))
                .insert_header((header::CACHE_CONTROL, HeaderValue::from_static("no-store")))
                .insert_header((header::REFERRER_POLICY, HeaderValue::from_static("no-referrer")))
                .finish()
        }
        None => {
            let body = SignedOutPage { brand: &edge.brand }
                .render()
                .map_err(|e| page_fault(edge, Error::internal(&e)))?;
            pages::html(StatusCode::OK, body, &edge.brand, None)
        }
    };
    let removal = Cookie::build(SESSION_COOKIE, "")
        .path("/")
        .secure(true)
        .http_only(true)
        .same_site(SameSite::Lax)
        .finish();
    response.add_removal_cookie(&removal).map_err(|e| page_fault(edge, Error::internal(&e)))?;
    Ok(response)
}
