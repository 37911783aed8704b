//! `GET /admin/audit?kind=&subject=&since=&before_id=&limit=`: the audit log, newest first,
//! paged by id (`next_before_id` in the answer).

use actix_web::{HttpResponse, web};
use serde::Deserialize;
use serde_json::{Value, json};

use super::AdminCaller;
use crate::app::AppState;
use crate::http::error::ApiError;
use crate::store::StoreError;
use crate::store::audit::{self, AuditQuery};

const MAX_LIMIT: i64 = 500;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditParams {
    kind: Option<String>,
    subject: Option<String>,
    since: Option<i64>,
    before_id: Option<i64>,
    limit: Option<i64>,
}

pub async fn list(
    _caller: AdminCaller,
    params: web::Query<AuditParams>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let params = params.into_inner();
    let limit = params.limit.unwrap_or(100).clamp(1, MAX_LIMIT);
    let query = AuditQuery {
        kind: params.kind.map(|k| k.chars().take(100).collect()),
        subject: params.subject.map(|s| s.chars().take(300).collect()),
        since: params.since,
        before_id: params.before_id,
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
