//! `GET /revocations`: the signed revocation feed ([`crate::authority::feed`]) with
//! `Cache-Control: public, max-age` (`revocations.max_age`), an entity tag and 304s.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};

use super::Edge;
use super::error::ApiError;
use crate::authority::Authority;

pub use crate::authority::feed::FEED_TYPE;

pub async fn revocations(
    req: HttpRequest,
    state: web::Data<Authority>,
    edge: web::Data<Edge>,
) -> Result<HttpResponse, ApiError> {
    let feed = state.revocation_feed().await?;
    let fresh = req
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim().trim_start_matches("W/") == feed.etag));
    let mut response = if fresh { HttpResponse::NotModified() } else { HttpResponse::Ok() };
    response
        .insert_header((header::CACHE_CONTROL, edge.feed_cache_control.clone()))
        .insert_header((header::ETAG, feed.etag.as_str()));
    if fresh {
        return Ok(response.finish());
    }
    Ok(response.content_type("application/jwt").body(feed.body))
}
