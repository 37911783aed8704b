//! Bearer tokens at jwtd's own protected endpoints (the admin API, `/userinfo`): the token from
//! `Authorization: Bearer`, checked by [`Authority::authorize_bearer`], refusals answered as
//! RFC 6750 says.

use actix_web::HttpRequest;
use actix_web::http::header;

use super::error::{ApiError, BearerError};
use crate::authority::Authority;
use crate::authority::revocation::BearerRefusal;
use crate::tokens::AccessClaims;

/// The claims of the request's bearer token, valid for `audience` (when given), live, and
/// carrying `scope`: 401 without a token or with an invalid one, 403 without the scope.
pub async fn authorize(
    req: &HttpRequest,
    state: &Authority,
    audience: Option<&str>,
    scope: &'static str,
) -> Result<AccessClaims, ApiError> {
    let invalid = ApiError::Bearer { error: Some(BearerError::InvalidToken), scope: None };
    let Some(value) = req.headers().get(header::AUTHORIZATION) else {
        return Err(ApiError::Bearer { error: None, scope: None });
    };
    let token = value
        .to_str()
        .ok()
        .and_then(|v| v.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim());
    let Some(token) = token else { return Err(invalid) };
    state.authorize_bearer(token, audience, scope).await.map_err(|refusal| match refusal {
        BearerRefusal::Invalid => invalid,
        BearerRefusal::InsufficientScope => {
            ApiError::Bearer { error: Some(BearerError::InsufficientScope), scope: Some(scope) }
        }
        BearerRefusal::Failed(e) => e.into(),
    })
}
