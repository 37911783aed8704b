//! `grant_type=urn:ietf:params:oauth:grant-type:token-exchange` (RFC 8693 §2): parse the
//! request, call [`Authority::exchange_token`], answer with `issued_token_type` (§2.2.1).

use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse};
use serde::Serialize;

use super::error::{ApiError, OAuthCode};
use super::grants::request_origin;
use super::params::Params;
use crate::accounts::clients::Client;
use crate::authority::Authority;
use crate::authority::exchange::TokenExchange;
use crate::scope::Scope;
use crate::tokens::exchange::ACCESS_TOKEN_TYPE;

#[derive(Serialize)]
struct ExchangeResponse<'a> {
    access_token: &'a str,
    issued_token_type: &'static str,
    token_type: &'static str,
    expires_in: i64,
    #[serde(skip_serializing_if = "str::is_empty")]
    scope: &'a str,
}

pub async fn token_exchange(
    req: &HttpRequest,
    state: &Authority,
    (client, dpop_jkt): (&Client, Option<String>),
    params: &Params,
) -> Result<HttpResponse, ApiError> {
    let owned = |name: &str| params.get(name).map(str::to_owned);
    let scope = match params.get("scope") {
        Some(text) => {
            Some(Scope::parse(text).map_err(|e| ApiError::oauth(OAuthCode::InvalidScope, e.to_string()))?)
        }
        None => None,
    };
    let targets = params.all("resource").into_iter().chain(params.all("audience"));
    let request = TokenExchange {
        subject_token: params.require("subject_token")?.to_owned(),
        subject_token_type: params.require("subject_token_type")?.to_owned(),
        actor_token: owned("actor_token"),
        actor_token_type: owned("actor_token_type"),
        requested_token_type: owned("requested_token_type"),
        targets: targets.map(str::to_owned).collect(),
        scope,
        dpop_jkt,
    };
    let issued = state.exchange_token(client, request, request_origin(req).ip).await?;
    let scope = issued.scope.to_string();
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, HeaderValue::from_static("no-store")))
        .insert_header((header::PRAGMA, HeaderValue::from_static("no-cache")))
        .json(ExchangeResponse {
            access_token: &issued.token,
            issued_token_type: ACCESS_TOKEN_TYPE,
            token_type: issued.token_type,
            expires_in: issued.expires_in,
            scope: &scope,
        }))
}
