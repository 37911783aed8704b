//! `GET /admin/audit?kind=&subject=&since=&before_id=&limit=`: the audit log, newest first,
//! paged by id (`next_before_id` in the answer). Every parameter is optional; an empty one counts
//! as omitted (as at the token endpoint), a number that does not parse is a 400 naming it.

use actix_web::{HttpResponse, web};
use serde::Deserialize;

use super::AdminCaller;
use crate::authority::Authority;
use crate::authority::audit::{self, Search};
use crate::http::error::ApiError;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditParams {
    kind: Option<String>,
    subject: Option<String>,
    since: Option<String>,
    before_id: Option<String>,
    limit: Option<String>,
}

/// `value` without its empty case, as a number.
fn number(name: &'static str, value: Option<String>) -> Result<Option<i64>, ApiError> {
    match value.filter(|v| !v.is_empty()) {
        None => Ok(None),
        Some(v) => {
            v.parse().map(Some).map_err(|_| ApiError::invalid_request(format!("{name} must be an integer")))
        }
    }
}

pub async fn list(
    _caller: AdminCaller,
    params: web::Query<AuditParams>,
    state: web::Data<Authority>,
) -> Result<HttpResponse, ApiError> {
    let params = params.into_inner();
    let text = |value: Option<String>| value.filter(|v| !v.is_empty());
    let search = Search {
        limit: number("limit", params.limit)?,
        kind: text(params.kind),
        subject: text(params.subject),
        since: number("since", params.since)?,
        before_id: number("before_id", params.before_id)?,
    };
    let page = state.with_conn(move |conn| audit::search(conn, search)).await?;
    Ok(HttpResponse::Ok().json(page.describe()))
}
