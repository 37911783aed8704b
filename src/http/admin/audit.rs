//! `GET /admin/audit?kind=&subject=&since=&before_id=&limit=`: the audit log, newest first,
//! paged by id (`next_before_id` in the answer). Every parameter is optional; an empty one counts
//! as omitted (as at the token endpoint), a number that does not parse is a 400 naming it.

use actix_web::{HttpResponse, web};
use serde::Deserialize;
use serde_json::{Value, json};

use super::AdminCaller;
use crate::authority::Authority;
use crate::http::error::ApiError;
use crate::store::StoreError;
use crate::store::audit::{self, AuditQuery};

const MAX_LIMIT: i64 = 500;

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
    let limit = number("limit", params.limit)?.unwrap_or(100).clamp(1, MAX_LIMIT);
    let text = |value: Option<String>, max: usize| {
        value.filter(|v| !v.is_empty()).map(|v| v.chars().take(max).collect())
    };
    let query = AuditQuery {
        kind: text(params.kind, 100),
        subject: text(params.subject, 300),
        since: number("since", params.since)?,
        before_id: number("before_id", params.before_id)?,
        limit,
    };
    let pool = state.pool.clone();
    let rows = web::block(move || -> Result<_, StoreError> { Ok(audit::search(&mut *pool.get()?, &query)?) })
        .await??;
    let next = (i64::try_from(rows.len()).unwrap_or(0) == limit).then(|| rows.last().map(|r| r.id)).flatten();
    let events: Vec<Value> = rows
        .into_iter()
        .map(|r| {
            let detail: Value = serde_json::from_str(&r.detail).unwrap_or(Value::Null);
            json!({ "id": r.id, "at": r.at, "kind": r.kind, "actor": r.actor, "subject": r.subject, "ip": r.ip, "detail": detail })
        })
        .collect();
    Ok(HttpResponse::Ok().json(json!({ "events": events, "next_before_id": next })))
}
