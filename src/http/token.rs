//! `POST /oauth2/token` (RFC 6749 §3.2): parse, authenticate the client, dispatch the grant.

use actix_web::http::header::{self, HeaderValue};
use actix_web::web::{self, Bytes};
use actix_web::{HttpRequest, HttpResponse};
use serde::Serialize;

use super::client_auth::authenticate_client;
use super::error::{ApiError, OAuthCode};
use super::params::Params;
use super::{dpop, exchange, grants};
use crate::accounts::clients::{Client, GrantType};
use crate::authority::Authority;
use crate::tokens::IssuedToken;

pub async fn token(
    req: HttpRequest,
    body: Bytes,
    state: web::Data<Authority>,
) -> Result<HttpResponse, ApiError> {
    let params = Params::from_body(&req, &body)?;
    let grant = params.require("grant_type")?;
    let client = authenticate_client(&req, &state, &params).await;
    let result = match client {
        Ok(client) => match bound_key(&req, &state, &client).await {
            Ok(dpop_jkt) => grant_for(&req, &state, (&client, dpop_jkt), &params, grant)
                .await
                .map(|response| with_nonce(response, &state, &client)),
            Err(e) => Err(e),
        },
        Err(e) => Err(e),
    };
    match &result {
        Ok(_) => state.metrics.tokens_issued.with_label_values(&[grant]).inc(),
        Err(e) => state.metrics.token_errors.with_label_values(&[e.code()]).inc(),
    }
    result
}

/// The DPoP key the request proved (RFC 9449), which its tokens are bound to; `None` for Bearer.
async fn bound_key(
    req: &HttpRequest,
    state: &Authority,
    client: &Client,
) -> Result<Option<String>, ApiError> {
    let proofs = dpop::proofs(req);
    Ok(state.token_request_key(client, &proofs).await?)
}

/// A client that must use nonces gets a fresh one with every answer (RFC 9449 §8.2), so it
/// rarely has to be told `use_dpop_nonce`.
fn with_nonce(mut response: HttpResponse, state: &Authority, client: &Client) -> HttpResponse {
    if client.dpop_nonce {
        dpop::insert_nonce(response.headers_mut(), &state.dpop_nonce());
    }
    response
}

async fn grant_for(
    req: &HttpRequest,
    state: &web::Data<Authority>,
    (client, dpop_jkt): (&Client, Option<String>),
    params: &Params,
    grant: &str,
) -> Result<HttpResponse, ApiError> {
    let issued = match GrantType::parse(grant) {
        Some(grant) if !client.allows(grant) => {
            return Err(ApiError::oauth(
                OAuthCode::UnauthorizedClient,
                format!("this client may not use the {} grant", grant.as_str()),
            ));
        }
        Some(GrantType::ClientCredentials) => client_credentials(state, client, params, dpop_jkt).await?,
        Some(GrantType::Password) => return grants::password(req, state, (client, dpop_jkt), params).await,
        Some(GrantType::RefreshToken) => {
            return grants::refresh(req, state, (client, dpop_jkt), params).await;
        }
        Some(GrantType::AuthorizationCode) => {
            return grants::authorization_code(req, state, (client, dpop_jkt), params).await;
        }
        Some(GrantType::TokenExchange) => {
            return exchange::token_exchange(req, state, (client, dpop_jkt), params).await;
        }
        None => {
            return Err(ApiError::oauth(
                OAuthCode::UnsupportedGrantType,
                "supported grant types: authorization_code, client_credentials, password, refresh_token, \
                 urn:ietf:params:oauth:grant-type:token-exchange",
            ));
        }
    };
    Ok(token_response(&issued))
}

async fn client_credentials(
    state: &Authority,
    client: &Client,
    params: &Params,
    dpop_jkt: Option<String>,
) -> Result<IssuedToken, ApiError> {
    let scope = grants::narrowed_scope(params, &client.scope)?;
    Ok(state.issue_for_client(client, (scope, &params.all("resource")), dpop_jkt).await?)
}

#[derive(Serialize)]
struct TokenResponse<'a> {
    access_token: &'a str,
    token_type: &'static str,
    expires_in: i64,
    #[serde(skip_serializing_if = "str::is_empty")]
    scope: &'a str,
}

/// RFC 6749 §5.1, never cached.
fn token_response(issued: &IssuedToken) -> HttpResponse {
    let scope = issued.scope.to_string();
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, HeaderValue::from_static("no-store")))
        .insert_header((header::PRAGMA, HeaderValue::from_static("no-cache")))
        .json(TokenResponse {
            access_token: &issued.token,
            token_type: issued.token_type,
            expires_in: issued.expires_in,
            scope: &scope,
        })
}
