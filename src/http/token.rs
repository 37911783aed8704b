//! `POST /oauth2/token` (RFC 6749 §3.2): parse, authenticate the client, dispatch the grant.

use actix_web::http::header::{self, HeaderValue};
use actix_web::web::{self, Bytes};
use actix_web::{HttpRequest, HttpResponse};
use serde::Serialize;

use super::client_auth::{AuthMethod, PresentedCredentials, presented_credentials};
use super::error::{ApiError, OAuthCode};
use super::params::Params;
use crate::accounts::clients::{Client, GrantType, secret_matches};
use crate::app::AppState;
use crate::store;
use crate::tokens::IssuedToken;
use crate::tokens::scope::Scope;

/// Compared against when the client id is unknown, so an unknown client costs the same as a
/// wrong secret.
const DUMMY_SECRET_HASH: [u8; 32] = [0; 32];

pub async fn token(
    req: HttpRequest,
    body: Bytes,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let params = Params::from_body(&req, &body)?;
    let grant = params.require("grant_type")?;
    let presented = presented_credentials(&req, &params)?;
    let client = authenticate(&state, presented).await?;
    let issued = match GrantType::parse(grant) {
        Some(grant) if !client.allows(grant) => {
            return Err(ApiError::oauth(
                OAuthCode::UnauthorizedClient,
                format!("this client may not use the {} grant", grant.as_str()),
            ));
        }
        Some(GrantType::ClientCredentials) => client_credentials(&state, &client, &params).await?,
        _ => {
            return Err(ApiError::oauth(
                OAuthCode::UnsupportedGrantType,
                "supported grant types: client_credentials",
            ));
        }
    };
    Ok(token_response(&issued))
}

async fn authenticate(state: &AppState, presented: PresentedCredentials) -> Result<Client, ApiError> {
    let pool = state.pool.clone();
    let client_id = presented.client_id.clone();
    let row = web::block(move || -> Result<_, ApiError> {
        let mut conn = pool.get().map_err(store::StoreError::from)?;
        Ok(store::clients::find(&mut conn, &client_id)?)
    })
    .await??;
    let stored_hash = row.as_ref().map_or(&DUMMY_SECRET_HASH[..], |r| r.secret_hash.as_slice());
    let matches = secret_matches(&presented.secret, stored_hash);
    match row {
        Some(row) if matches && !row.disabled => Ok(row.to_client()),
        _ => Err(ApiError::invalid_client(presented.method == AuthMethod::Basic)),
    }
}

async fn client_credentials(
    state: &AppState,
    client: &Client,
    params: &Params,
) -> Result<IssuedToken, ApiError> {
    let scope = requested_scope(params, &client.scope)?;
    let now = state.clock.now();
    let ring = state.keys.signer_until(now + state.issuer.access_ttl_secs).await?;
    state.issuer.client_token(&ring.signer, client, scope, now).map_err(|e| ApiError::internal(&e))
}

/// The requested scope, which may only narrow what the client was registered with; absent,
/// the client gets all of it.
fn requested_scope(params: &Params, registered: &Scope) -> Result<Scope, ApiError> {
    let Some(text) = params.get("scope") else {
        return Ok(registered.clone());
    };
    let requested =
        Scope::parse(text).map_err(|e| ApiError::oauth(OAuthCode::InvalidScope, e.to_string()))?;
    if requested.is_empty() {
        return Err(ApiError::invalid_request("scope is empty"));
    }
    if !requested.is_subset(registered) {
        return Err(ApiError::oauth(
            OAuthCode::InvalidScope,
            "the requested scope exceeds what this client may ask for",
        ));
    }
    Ok(requested)
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
            token_type: "Bearer",
            expires_in: issued.expires_in,
            scope: &scope,
        })
}
