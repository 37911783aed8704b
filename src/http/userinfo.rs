//! `GET /userinfo` (OpenID Connect Core §5.3): the user's claims, for a valid access token of a
//! live refresh family. Answers RFC 6750 errors otherwise.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::json;

use super::error::{ApiError, BearerError};
use crate::authority::Authority;
use crate::store::{self, StoreError};
use crate::tokens::verify::verify_own_access_token;

pub async fn userinfo(req: HttpRequest, state: web::Data<Authority>) -> Result<HttpResponse, ApiError> {
    let invalid = || ApiError::Bearer { error: Some(BearerError::InvalidToken), scope: None };
    let Some(value) = req.headers().get(header::AUTHORIZATION) else {
        return Err(ApiError::Bearer { error: None, scope: None });
    };
    let token = value
        .to_str()
        .ok()
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim())
        .ok_or_else(invalid)?;
    let ring = state.keys.current();
    let now = state.clock.now();
    let claims = verify_own_access_token(&ring, &state.issuer.issuer, None, token, now, state.leeway_secs)
        .map_err(|_| invalid())?;
    // The scope first: a valid token without `openid` (a client's own token, too) lacks scope.
    if !claims.scope.split(' ').any(|s| s == "openid") {
        return Err(ApiError::Bearer { error: Some(BearerError::InsufficientScope), scope: Some("openid") });
    }
    if claims.sid.is_none() || !super::revocation::token_is_live(&state, &claims).await? {
        return Err(invalid());
    }
    let pool = state.pool.clone();
    let user_id = claims.sub.clone();
    let user =
        web::block(move || -> Result<_, StoreError> { Ok(store::users::find(&mut *pool.get()?, &user_id)?) })
            .await??;
    let user = user.filter(|u| !u.disabled).ok_or_else(invalid)?.to_user();
    let mut body = serde_json::Value::Object(user.claims.clone());
    if let Some(fields) = body.as_object_mut() {
        fields.insert("sub".into(), json!(user.id));
        fields.insert("email".into(), json!(user.email));
    }
    Ok(HttpResponse::Ok().insert_header((header::CACHE_CONTROL, "no-store")).json(body))
}
