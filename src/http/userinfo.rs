//! `GET /userinfo` (OpenID Connect Core §5.3): the user's claims, for a valid access token of a
//! live refresh family. Answers RFC 6750 errors otherwise.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::json;

use super::error::{ApiError, BearerError};
use crate::authority::Authority;

pub async fn userinfo(req: HttpRequest, state: web::Data<Authority>) -> Result<HttpResponse, ApiError> {
    let claims = super::bearer::authorize(&req, &state, None, "openid").await?;
    // A bound token came with the DPoP scheme (authorize checked it), and hears of it so.
    let invalid = || ApiError::bearer(BearerError::InvalidToken, claims.cnf.is_some());
    // A client's own token (no login) has no user to describe.
    if claims.sid.is_none() {
        return Err(invalid());
    }
    let user = state.userinfo(&claims.sub).await?.ok_or_else(invalid)?;
    let mut body = serde_json::Value::Object(user.claims.clone());
    if let Some(fields) = body.as_object_mut() {
        fields.insert("sub".into(), json!(user.id));
        // Standard claims follow the token's scope (OIDC Core §5.4).
        if claims.scope.split(' ').any(|s| s == "email") {
            fields.insert("email".into(), json!(user.email));
        }
    }
    Ok(HttpResponse::Ok().insert_header((header::CACHE_CONTROL, "no-store")).json(body))
}
