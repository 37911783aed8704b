//! `POST /oauth2/revoke` (RFC 7009) and `POST /oauth2/introspect` (RFC 7662): both
//! client-authenticated, both answering without revealing whose a token is.

use actix_web::http::header::{self, HeaderValue};
use actix_web::web::{self, Bytes};
use actix_web::{HttpRequest, HttpResponse};
use serde_json::{Value, json};

use super::client_auth::authenticate_client;
use super::error::{ApiError, OAuthCode};
use super::grants::RequestOrigin;
use super::params::Params;
use crate::accounts::clients::Client;
use crate::authority::Authority;
use crate::store::audit::{self, AuditEvent};
use crate::store::{self, StoreError};
use crate::tokens::AccessClaims;
use crate::tokens::refresh::RefreshToken;
use crate::tokens::verify::verify_own_access_token;

/// What a presented token turned out to be.
enum Presented {
    Refresh(RefreshToken),
    Access(AccessClaims),
    Unknown,
}

/// `leeway_secs`: how long past `exp` an access token still counts as one (revocation allows
/// the resource servers' leeway, as they may still accept it; introspection none, as jwtd's own
/// clock says whether it is active, RFC 7662 §4).
fn classify(state: &Authority, token: &str, leeway_secs: i64) -> Presented {
    if let Some(refresh) = RefreshToken::parse(token) {
        return Presented::Refresh(refresh);
    }
    let ring = state.keys.current();
    match verify_own_access_token(&ring, &state.issuer.issuer, None, token, state.clock.now(), leeway_secs) {
        Ok(claims) => Presented::Access(claims),
        Err(_) => Presented::Unknown,
    }
}

/// The authenticated client of a revocation or introspection request, and its `token`.
async fn client_and_token(
    req: &HttpRequest,
    body: &[u8],
    state: &Authority,
) -> Result<(Client, String), ApiError> {
    let params = Params::from_body(req, body)?;
    let client = authenticate_client(req, state, &params).await?;
    Ok((client, params.require("token")?.to_owned()))
}

/// Revokes the family the token belongs to. Answers 200 for unknown, expired and already
/// revoked tokens (RFC 7009 §2.2), 400 `unauthorized_client` for a token issued to another
/// client (§2.1: the request is refused, never a 200 that would claim it was revoked), 503 if
/// storage fails. A client's own `client_credentials` access token belongs to no family and
/// cannot be revoked (it lives out its short lifetime): 400 `unsupported_token_type` (§2.2.1).
pub async fn revoke(
    req: HttpRequest,
    body: Bytes,
    state: web::Data<Authority>,
) -> Result<HttpResponse, ApiError> {
    let (client, token) = client_and_token(&req, &body, &state).await?;
    let family_hint = match classify(&state, &token, state.verifier_leeway_secs) {
        Presented::Refresh(refresh) => Some(FamilyRef::Token(refresh.hash())),
        Presented::Access(claims) if claims.client_id != client.id => return Err(not_yours()),
        Presented::Access(claims) => match claims.sid {
            Some(sid) => Some(FamilyRef::Id(sid)),
            None => {
                return Err(ApiError::oauth(
                    OAuthCode::UnsupportedTokenType,
                    "access tokens of the client_credentials grant cannot be revoked; they expire",
                ));
            }
        },
        Presented::Unknown => None,
    };
    if let Some(family) = family_hint {
        let (pool, now, client_id) = (state.pool.clone(), state.clock.now(), client.id.clone());
        let ip = RequestOrigin::of(&req).ip;
        let revoked = web::block(move || -> Result<bool, ApiError> {
            let mut conn = pool.get().map_err(StoreError::from)?;
            let Some(family) = family.load(&mut conn)? else { return Ok(false) };
            if family.client_id != client_id {
                return Err(not_yours());
            }
            let revoked = store::refresh::revoke_family(&mut conn, &family.id, now, "revoked_by_client")? > 0;
            if revoked {
                audit::record(
                    &mut conn,
                    &AuditEvent {
                        at: now,
                        kind: "refresh.revoked.revoked_by_client",
                        actor: Some(&client_id),
                        subject: Some(&family.id),
                        ip: ip.as_deref(),
                        detail: json!({ "user_id": family.user_id }).to_string(),
                    },
                )?;
            }
            Ok(revoked)
        })
        .await??;
        if revoked {
            state.metrics.families_revoked.with_label_values(&["revoked_by_client"]).inc();
        }
    }
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, HeaderValue::from_static("no-store")))
        .finish())
}

fn not_yours() -> ApiError {
    ApiError::oauth(OAuthCode::UnauthorizedClient, "the token was not issued to this client")
}

enum FamilyRef {
    Token(Vec<u8>),
    Id(String),
}

impl FamilyRef {
    fn load(&self, conn: &mut store::DbConnection) -> diesel::QueryResult<Option<store::refresh::FamilyRow>> {
        let id = match self {
            Self::Id(id) => id.clone(),
            Self::Token(hash) => match store::refresh::find_token(conn, hash)? {
                Some(token) => token.family_id,
                None => return Ok(None),
            },
        };
        store::refresh::find_family(conn, &id)
    }
}

/// RFC 7662: `{"active": false}` alone for anything not valid now (see [`token_is_live`]), and
/// for whatever the caller may not see: other clients' refresh tokens, and other clients' access
/// tokens unless an introspection permission on the caller names one of their audiences.
pub async fn introspect(
    req: HttpRequest,
    body: Bytes,
    state: web::Data<Authority>,
) -> Result<HttpResponse, ApiError> {
    let (client, token) = client_and_token(&req, &body, &state).await?;
    let answer = match classify(&state, &token, 0) {
        Presented::Refresh(refresh) => introspect_refresh(&state, &client, refresh).await?,
        Presented::Access(claims) => introspect_access(&state, &client, claims).await?,
        Presented::Unknown => None,
    };
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, HeaderValue::from_static("no-store")))
        .json(answer.unwrap_or_else(|| json!({ "active": false }))))
}

async fn introspect_refresh(
    state: &Authority,
    client: &Client,
    refresh: RefreshToken,
) -> Result<Option<Value>, ApiError> {
    let (pool, now, client_id) = (state.pool.clone(), state.clock.now(), client.id.clone());
    let found = web::block(move || -> Result<_, StoreError> {
        let mut conn = pool.get()?;
        let Some(token) = store::refresh::find_token(&mut conn, &refresh.hash())? else { return Ok(None) };
        let family = store::refresh::find_family(&mut conn, &token.family_id)?;
        Ok(family.map(|f| (token, f)))
    })
    .await??;
    let Some((token, family)) = found else { return Ok(None) };
    let active = token.rotated_at.is_none()
        && now < token.expires_at
        && family.is_active(now)
        && family.client_id == client_id;
    Ok(active.then(|| {
        json!({
            "active": true,
            "token_type": "refresh_token",
            "client_id": family.client_id,
            "sub": family.user_id,
            "scope": family.scope,
            "sid": family.id,
            "iat": token.issued_at,
            "exp": token.expires_at,
            "iss": state.issuer.issuer,
        })
    }))
}

/// The one liveness rule for a validly signed, unexpired access token of jwtd's, shared by
/// introspection, the admin API, `/userinfo` and (through what it publishes) the revocation
/// feed: its client still exists and is enabled; its login (refresh family), if it names one,
/// is neither revoked nor past its absolute lifetime; and no revocation of its subject or of
/// its client (revoke-sessions, a disabled or deleted user, a deleted client) came after it
/// was issued. The client row may come from the 5 s cache.
pub async fn token_is_live(state: &Authority, claims: &AccessClaims) -> Result<bool, ApiError> {
    let client = state.client_row(&claims.client_id).await?;
    if client.is_none_or(|row| row.disabled) {
        return Ok(false);
    }
    let (pool, now) = (state.pool.clone(), state.clock.now());
    let (sid, sub, client_id, iat) =
        (claims.sid.clone(), claims.sub.clone(), claims.client_id.clone(), claims.iat);
    Ok(web::block(move || -> Result<bool, StoreError> {
        let mut conn = pool.get()?;
        if let Some(sid) = sid
            && !store::refresh::find_family(&mut conn, &sid)?.is_some_and(|f| f.is_active(now))
        {
            return Ok(false);
        }
        let revoked_since = store::revocations::not_before(&mut conn, &sub, &client_id)?;
        Ok(revoked_since.is_none_or(|not_before| iat >= not_before))
    })
    .await??)
}

async fn introspect_access(
    state: &Authority,
    client: &Client,
    claims: AccessClaims,
) -> Result<Option<Value>, ApiError> {
    // A token for jwtd itself (an admin token, a token of the default audience) is nobody
    // else's business: an introspection permission covers resource servers' audiences only.
    let for_jwtd = claims.aud.contains(&state.issuer.issuer) && claims.client_id != client.id;
    if for_jwtd
        || !client.may_introspect(&claims.client_id, &claims.aud)
        || !token_is_live(state, &claims).await?
    {
        return Ok(None);
    }
    let mut answer = serde_json::to_value(&claims).map_err(|e| ApiError::internal(&e))?;
    if let Some(fields) = answer.as_object_mut() {
        fields.insert("active".into(), json!(true));
        fields.insert("token_type".into(), json!("Bearer"));
    }
    Ok(Some(answer))
}
