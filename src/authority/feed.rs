//! The revocation feed: a signed, cacheable feed of what was revoked recently, so resource
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

use aws_lc_rs::digest;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Serialize;

use super::{Authority, Error};
use crate::store;

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
pub struct FeedCache(Mutex<Option<SignedFeed>>);

/// A signed feed document and its entity tag (over the content, not `iat`, so an unchanged
/// list answers 304).
#[derive(Clone)]
pub struct SignedFeed {
    at: i64,
    pub body: Vec<u8>,
    pub etag: String,
}

impl Authority {
    /// The revocation feed as of now, built at most once a second.
    pub async fn revocation_feed(&self) -> Result<SignedFeed, Error> {
        let now = self.clock.now();
        let cached = self.feed.0.lock().ok().and_then(|c| c.clone()).filter(|b| b.at == now);
        if let Some(feed) = cached {
            return Ok(feed);
        }
        let built = self.build_feed(now).await?;
        if let Ok(mut cache) = self.feed.0.lock() {
            *cache = Some(built.clone());
        }
        Ok(built)
    }

    async fn build_feed(&self, now: i64) -> Result<SignedFeed, Error> {
        let window = self.revocation_window_secs;
        let listed = self
            .with_conn(move |conn| {
                Ok(Listed {
                    sids: store::revocations::families_revoked_since(conn, now - window)?,
                    subjects: store::revocations::subjects_since(conn, now - window)?.into_iter().collect(),
                    clients: store::revocations::clients_since(conn, now - window)?.into_iter().collect(),
                    kids: store::keys::revoked_since(conn, now - REVOKED_KEYS_LISTED_FOR)?,
                })
            })
            .await?;
        let content = serde_json::to_vec(&listed).map_err(|e| Error::internal(&e))?;
        let tag = digest::digest(&digest::SHA256, &content);
        let etag = format!("\"{}\"", URL_SAFE_NO_PAD.encode(tag.as_ref().get(..16).unwrap_or_default()));
        // Never sign with a key the feed lists as revoked (every verifier would refuse the feed):
        // another instance, or an admin request racing this one, may have revoked it since this
        // instance's ring was loaded.
        let mut ring = self.keys.current();
        if listed.kids.iter().any(|kid| kid == ring.signer.kid()) {
            self.keys.reload().await?;
            ring = self.keys.current();
        }
        let feed = Feed { iss: &self.issuer.issuer, iat: now, window, ver: FEED_VERSION, listed: &listed };
        let body = ring.signer.sign_jwt(FEED_TYPE, &feed).map_err(|e| Error::internal(&e))?;
        Ok(SignedFeed { at: now, body: body.into_bytes(), etag })
    }
}
