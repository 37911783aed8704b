//! Access tokens at jwtd's own protected endpoints (the admin API, `/userinfo`): the token from
//! `Authorization: Bearer`, or `Authorization: DPoP` with its `DPoP` proof (RFC 9449 §7),
//! checked by [`Authority::authorize_bearer`], refusals answered as RFC 6750 and RFC 9449 §7.1
//! say.

use actix_web::HttpRequest;
use actix_web::http::header;

use super::dpop;
use super::error::{ApiError, BearerError};
use crate::authority::Authority;
use crate::authority::revocation::{BearerRefusal, Scheme};
use crate::tokens::AccessClaims;

/// The claims of the request's access token, valid for `audience` (when given), presented as it
/// is bound, live, and carrying `scope`: 401 without a token or with an invalid one (or an
/// invalid proof), 403 without the scope.
pub async fn authorize(
    req: &HttpRequest,
    state: &Authority,
    audience: Option<&str>,
    scope: &'static str,
) -> Result<AccessClaims, ApiError> {
    let Some(value) = req.headers().get(header::AUTHORIZATION) else {
        return Err(ApiError::Bearer { error: None, scope: None, dpop: false });
    };
    let Some((scheme, token)) = value.to_str().ok().and_then(|v| v.split_once(' ')) else {
        return Err(ApiError::bearer(BearerError::InvalidToken, false));
    };
    let token = token.trim();
    let proofs = dpop::proofs(req);
    let presented = if scheme.eq_ignore_ascii_case("bearer") {
        Scheme::Bearer
    } else if scheme.eq_ignore_ascii_case("dpop") {
        let [proof] = proofs.as_slice() else {
            // None, or several (RFC 9449 §7: exactly one proof per request).
            return Err(ApiError::bearer(BearerError::InvalidDpopProof, true));
        };
        Scheme::Dpop { proof, method: req.method().as_str(), path: req.path() }
    } else {
        return Err(ApiError::bearer(BearerError::InvalidToken, false));
    };
    let dpop = matches!(presented, Scheme::Dpop { .. });
    state.authorize_bearer((token, presented), audience, scope).await.map_err(|refusal| match refusal {
        BearerRefusal::Invalid => ApiError::bearer(BearerError::InvalidToken, dpop),
        BearerRefusal::InvalidProof => ApiError::bearer(BearerError::InvalidDpopProof, dpop),
        BearerRefusal::InsufficientScope => {
            ApiError::Bearer { error: Some(BearerError::InsufficientScope), scope: Some(scope), dpop }
        }
        BearerRefusal::Failed(e) => e.into(),
    })
}
