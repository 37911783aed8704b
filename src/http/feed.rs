//! `GET /revocations`: a signed, cacheable feed of what was revoked recently, so resource
//! servers (jwtd-verify) refuse a revoked family's access tokens within seconds, without
//! asking jwtd per request.
//!
//! The body is a compact JWS (`typ: jwtd-revocations+jwt`) signed by a key of the JWKS, with
//! `{"iss", "iat", "window", "ver": 2, "sids": [...], "subjects": {sub: not_before},
//! "clients": {client_id: not_before}, "kids": [...]}`: every family
//! revoked in the last `window` seconds (the access-token lifetime plus the leeway a verifier
//! may allow, at least jwtd-verify's 60 s; an access token of a family revoked before that is
//! refused as expired by every such verifier) and every subject-wide revocation in the same
//! window; every client deleted in that window (each token issued through it before its
//! not-before time is revoked, whatever its `sub`); and every key revoked within
//! [`REVOKED_KEYS_LISTED_FOR`] (any token signed by it is refused, even by a verifier whose JWKS
//! cache still holds it).
//!
//! Version 2 added `ver`, `clients` and `kids`. A version-1 reader ignores them: it keeps
//! refusing what version 1 listed, but neither a deleted client's users' tokens nor a revoked
//! key until its JWKS cache drops the key.

use std::collections::BTreeMap;
use std::sync::Mutex;

use actix_web::http::header::{self, HeaderValue};
use actix_web::web::{self, Bytes};
use actix_web::{HttpRequest, HttpResponse};
use aws_lc_rs::digest;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Serialize;

use super::error::ApiError;
use crate::app::AppState;
use crate::store::{self, StoreError};

pub const FEED_TYPE: &str = "jwtd-revocations+jwt";

/// The feed document's version (`ver`).
pub const FEED_VERSION: u32 = 2;

/// How long a revoked key stays listed: longer than any verifier keeps a JWKS, even one that
/// could not refresh it for weeks. Revoked keys are rare, so the list stays tiny.
pub const REVOKED_KEYS_LISTED_FOR: i64 = 30 * 86_400;

#[derive(Serialize)]
struct Feed<'a> {
    iss: &'a str,
    iat: i64,
    window: i64,
    ver: u32,
    #[serde(flatten)]
    listed: &'a Listed,
}

/// What the feed lists, read in one go.
#[derive(Serialize)]
struct Listed {
    sids: Vec<String>,
    subjects: BTreeMap<String, i64>,
    clients: BTreeMap<String, i64>,
    kids: Vec<String>,
}

/// The last feed built: rebuilt at most once a second per instance, however many poll it.
#[derive(Default)]
pub struct FeedCache(Mutex<Option<Built>>);

#[derive(Clone)]
struct Built {
    at: i64,
    body: Bytes,
    etag: String,
}

pub async fn revocations(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let now = state.clock.now();
    let cached = state.feed.0.lock().ok().and_then(|c| c.clone()).filter(|b| b.at == now);
    let built = match cached {
        Some(built) => built,
        None => {
            let built = build(&state, now).await?;
            if let Ok(mut cache) = state.feed.0.lock() {
                *cache = Some(built.clone());
            }
            built
        }
    };
    let cache_control = HeaderValue::from_str(&format!("public, max-age={}", state.feed_max_age))
        .unwrap_or_else(|_| HeaderValue::from_static("no-cache"));
    let fresh = req
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim().trim_start_matches("W/") == built.etag));
    let mut response = if fresh { HttpResponse::NotModified() } else { HttpResponse::Ok() };
    response
        .insert_header((header::CACHE_CONTROL, cache_control))
        .insert_header((header::ETAG, built.etag.as_str()));
    if fresh {
        return Ok(response.finish());
    }
    Ok(response.content_type("application/jwt").body(built.body))
}

async fn build(state: &AppState, now: i64) -> Result<Built, ApiError> {
    let window = state.revocation_window_secs;
    let pool = state.pool.clone();
    let listed = web::block(move || -> Result<_, StoreError> {
        let mut conn = pool.get()?;
        Ok(Listed {
            sids: store::revocations::families_revoked_since(&mut conn, now - window)?,
            subjects: store::revocations::subjects_since(&mut conn, now - window)?.into_iter().collect(),
            clients: store::revocations::clients_since(&mut conn, now - window)?.into_iter().collect(),
            kids: store::keys::revoked_since(&mut conn, now - REVOKED_KEYS_LISTED_FOR)?,
        })
    })
    .await??;
    // The entity tag covers the content, not `iat`: an unchanged list answers 304.
    let content = serde_json::to_vec(&listed).map_err(|e| ApiError::internal(&e))?;
    let tag = digest::digest(&digest::SHA256, &content);
    let etag = format!("\"{}\"", URL_SAFE_NO_PAD.encode(tag.as_ref().get(..16).unwrap_or_default()));
    let ring = state.keys.current();
    let feed = Feed { iss: &state.issuer.issuer, iat: now, window, ver: FEED_VERSION, listed: &listed };
    let body = ring.signer.sign_jwt(FEED_TYPE, &feed).map_err(|e| ApiError::internal(&e))?;
    Ok(Built { at: now, body: Bytes::from(body), etag })
}
