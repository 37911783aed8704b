//! The user grants of the token endpoint: `password` (RFC 6749 §4.3) and `refresh_token`
//! (§6). The handlers parse the request, call [`Authority::password_login`] or
//! [`Authority::refresh`], and answer with the refresh token in the body or, for browser
//! clients, in a `__Host-` cookie.

use actix_web::cookie::{Cookie, SameSite, time::Duration as CookieDuration};
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Serialize;
use zeroize::Zeroizing;

use super::error::{ApiError, OAuthCode};
use super::params::Params;
use crate::accounts::clients::Client;
use crate::accounts::passwords::MAX_PASSWORD_BYTES;
use crate::authority::Authority;
use crate::authority::codes::Redemption;
use crate::authority::grants::{RequestOrigin, UserTokens};
use crate::scope::Scope;
use crate::tokens::refresh::RefreshToken;

/// The cookie a browser client gets its refresh token in (`__Host-`: Secure, Path=/, no
/// Domain), named for the client, so two apps in one browser keep a token each.
pub fn refresh_cookie_name(client: &Client) -> String {
    format!("__Host-jwtd_rt_{}", client.id)
}
const MAX_USER_AGENT: usize = 512;

/// The request's address (the peer, or what a trusted proxy names) and User-Agent (bounded).
pub fn request_origin(req: &HttpRequest) -> RequestOrigin {
    let user_agent = req
        .headers()
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .map(|ua| ua.chars().take(MAX_USER_AGENT).collect());
    let ip = match req.app_data::<web::Data<super::Edge>>() {
        Some(edge) => crate::http::client_ip::client_ip(&edge.trusted_proxies, req),
        None => req.peer_addr().map(|a| a.ip()),
    };
    RequestOrigin { ip: ip.map(|ip| ip.to_string()), user_agent }
}

/// The requested scope, which may only narrow `allowed`; absent, all of it.
pub fn narrowed_scope(params: &Params, allowed: &Scope) -> Result<Scope, ApiError> {
    let Some(text) = params.get("scope") else {
        return Ok(allowed.clone());
    };
    let requested =
        Scope::parse(text).map_err(|e| ApiError::oauth(OAuthCode::InvalidScope, e.to_string()))?;
    if requested.is_empty() {
        return Err(ApiError::invalid_request("scope is empty"));
    }
    if !requested.is_subset(allowed) {
        return Err(ApiError::oauth(OAuthCode::InvalidScope, "the requested scope exceeds what was granted"));
    }
    Ok(requested)
}

pub async fn password(
    req: &HttpRequest,
    state: &web::Data<Authority>,
    (client, dpop_jkt): (&Client, Option<String>),
    params: &Params,
) -> Result<HttpResponse, ApiError> {
    let username = params.require("username")?;
    let password = params.require("password")?;
    if password.len() > MAX_PASSWORD_BYTES || username.len() > 320 {
        return Err(ApiError::invalid_request("username or password too long"));
    }
    let scope = narrowed_scope(params, &client.scope)?;
    let password = Zeroizing::new(password.to_owned());
    let resource = params.all("resource");
    let tokens = state
        .password_login(client, (username, password), (scope, &resource), dpop_jkt, request_origin(req))
        .await?;
    Ok(user_tokens_response(client, &tokens, state.clock.now()))
}

pub async fn refresh(
    req: &HttpRequest,
    state: &web::Data<Authority>,
    (client, dpop_jkt): (&Client, Option<String>),
    params: &Params,
) -> Result<HttpResponse, ApiError> {
    let cookie = client.refresh_cookie.then(|| req.cookie(&refresh_cookie_name(client))).flatten();
    let presented = match (params.get("refresh_token"), &cookie) {
        (Some(token), _) => token.to_owned(),
        (None, Some(cookie)) => cookie.value().to_owned(),
        (None, None) => return Err(ApiError::invalid_request("missing parameter refresh_token")),
    };
    let presented = RefreshToken::parse(&presented).ok_or_else(|| {
        ApiError::oauth(OAuthCode::InvalidGrant, "the refresh token is invalid, expired or revoked")
    })?;
    let requested = match params.get("scope") {
        Some(text) => {
            Some(Scope::parse(text).map_err(|e| ApiError::oauth(OAuthCode::InvalidScope, e.to_string()))?)
        }
        None => None,
    };
    let resource = params.all("resource");
    let tokens =
        state.refresh(client, presented, (requested, &resource), dpop_jkt, request_origin(req)).await?;
    Ok(user_tokens_response(client, &tokens, state.clock.now()))
}

/// `grant_type=authorization_code` (RFC 6749 §4.1.3, RFC 7636 §4.5).
pub async fn authorization_code(
    req: &HttpRequest,
    state: &web::Data<Authority>,
    (client, dpop_jkt): (&Client, Option<String>),
    params: &Params,
) -> Result<HttpResponse, ApiError> {
    let redemption = Redemption {
        code: params.require("code")?.to_owned(),
        redirect_uri: params.get("redirect_uri").map(str::to_owned),
        code_verifier: params.get("code_verifier").map(str::to_owned),
        resource: params.all("resource").into_iter().map(str::to_owned).collect(),
        dpop_jkt,
    };
    let tokens = state.redeem_code(client, redemption, request_origin(req)).await?;
    Ok(user_tokens_response(client, &tokens, state.clock.now()))
}

#[derive(Serialize)]
struct UserTokenResponse<'a> {
    access_token: &'a str,
    token_type: &'static str,
    expires_in: i64,
    #[serde(skip_serializing_if = "str::is_empty")]
    scope: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    refresh_token: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    id_token: Option<&'a str>,
}

/// RFC 6749 §5.1, never cached, with the refresh token in the body or, for cookie clients, in a
/// `__Host-` cookie.
pub fn user_tokens_response(client: &Client, tokens: &UserTokens, now: i64) -> HttpResponse {
    let mut response = HttpResponse::Ok();
    response
        .insert_header((header::CACHE_CONTROL, HeaderValue::from_static("no-store")))
        .insert_header((header::PRAGMA, HeaderValue::from_static("no-cache")));
    if let (true, Some(refresh)) = (client.refresh_cookie, &tokens.refresh) {
        let cookie = Cookie::build(refresh_cookie_name(client), refresh.expose().to_owned())
            .path("/")
            .secure(true)
            .http_only(true)
            .same_site(SameSite::Strict)
            .max_age(CookieDuration::seconds((tokens.refresh_expires_at - now).max(0)))
            .finish();
        response.cookie(cookie);
    }
    let scope = tokens.access.scope.to_string();
    response.json(UserTokenResponse {
        access_token: &tokens.access.token,
        token_type: tokens.access.token_type,
        expires_in: tokens.access.expires_in,
        scope: &scope,
        refresh_token: tokens.refresh.as_ref().filter(|_| !client.refresh_cookie).map(RefreshToken::expose),
        id_token: tokens.id_token.as_deref(),
    })
}
