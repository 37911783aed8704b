//! `POST /oauth2/revoke` (RFC 7009) and `POST /oauth2/introspect` (RFC 7662): both
//! client-authenticated, both answering without revealing whose a token is. The decisions are
//! [`Authority::revoke`] and [`Authority::introspect`].

use actix_web::http::header::{self, HeaderValue};
use actix_web::web::{self, Bytes};
use actix_web::{HttpRequest, HttpResponse};
use serde_json::json;

use super::client_auth::authenticate_client;
use super::error::ApiError;
use super::grants::request_origin;
use super::params::Params;
use crate::accounts::clients::Client;
use crate::authority::Authority;

/// The authenticated client of a revocation or introspection request, and its `token`.
async fn client_and_token(
    req: &HttpRequest,
    body: &[u8],
    state: &Authority,
) -> Result<(Client, String), ApiError> {
    let params = Params::from_body(req, body)?;
    let client = authenticate_client(req, state, &params).await?;
    Ok((client, params.require("token")?.to_owned()))
}

/// 200 when the token's family is revoked, or was not the client's to find (unknown, expired);
/// see [`Authority::revoke`] for the refusals.
pub async fn revoke(
    req: HttpRequest,
    body: Bytes,
    state: web::Data<Authority>,
) -> Result<HttpResponse, ApiError> {
    let (client, token) = client_and_token(&req, &body, &state).await?;
    state.revoke(&client, &token, request_origin(&req).ip).await?;
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, HeaderValue::from_static("no-store")))
        .finish())
}

/// The token's claims with `active: true`, or `{"active": false}` alone.
pub async fn introspect(
    req: HttpRequest,
    body: Bytes,
    state: web::Data<Authority>,
) -> Result<HttpResponse, ApiError> {
    let (client, token) = client_and_token(&req, &body, &state).await?;
    let answer = state.introspect(&client, &token).await?;
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, HeaderValue::from_static("no-store")))
        .json(answer.unwrap_or_else(|| json!({ "active": false }))))
}
