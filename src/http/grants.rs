//! The user grants of the token endpoint: `password` (RFC 6749 §4.3) and `refresh_token`
//! (§6), with refresh families, throttling and the browser cookie mode.

use actix_web::cookie::{Cookie, SameSite, time::Duration as CookieDuration};
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Serialize;
use zeroize::Zeroizing;

use super::error::{ApiError, OAuthCode};
use super::params::Params;
use crate::accounts::clients::Client;
use crate::accounts::passwords::{MAX_PASSWORD_BYTES, PasswordError, Verification};
use crate::accounts::throttle::{self, Subjects, Verdict};
use crate::accounts::users::{User, normalize_email};
use crate::authority::Authority;
use crate::store::{self, StoreError};
use crate::tokens::TokenFamily;
use crate::tokens::families::{self, FamilyError, Login, Origin, Outcome, Refusal};
use crate::tokens::refresh::RefreshToken;
use crate::tokens::scope::Scope;

/// The cookie browser clients get their refresh token in (`__Host-`: Secure, Path=/, no Domain).
pub const REFRESH_COOKIE: &str = "__Host-jwtd_rt";
const MAX_USER_AGENT: usize = 512;

/// One failure answer for unknown user, wrong password and disabled user alike.
fn bad_credentials() -> ApiError {
    ApiError::oauth(OAuthCode::InvalidGrant, "invalid username or password")
}

fn invalid_refresh() -> ApiError {
    ApiError::oauth(OAuthCode::InvalidGrant, "the refresh token is invalid, expired or revoked")
}

/// The request's address and User-Agent (bounded).
pub struct RequestOrigin {
    pub ip: Option<String>,
    pub user_agent: Option<String>,
}

impl RequestOrigin {
    pub fn of(req: &HttpRequest) -> Self {
        let user_agent = req
            .headers()
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(|ua| ua.chars().take(MAX_USER_AGENT).collect());
        let ip = match req.app_data::<web::Data<super::Edge>>() {
            Some(edge) => crate::http::client_ip::client_ip(&edge.trusted_proxies, req),
            None => req.peer_addr().map(|a| a.ip()),
        };
        Self { ip: ip.map(|ip| ip.to_string()), user_agent }
    }

    pub fn as_origin(&self) -> Origin<'_> {
        Origin { ip: self.ip.as_deref(), user_agent: self.user_agent.as_deref() }
    }
}

/// The requested scope, which may only narrow `allowed`; absent, all of it.
pub fn narrowed_scope(params: &Params, allowed: &Scope) -> Result<Scope, ApiError> {
    let Some(text) = params.get("scope") else {
        return Ok(allowed.clone());
    };
    let requested =
        Scope::parse(text).map_err(|e| ApiError::oauth(OAuthCode::InvalidScope, e.to_string()))?;
    if requested.is_empty() {
        return Err(ApiError::invalid_request("scope is empty"));
    }
    if !requested.is_subset(allowed) {
        return Err(ApiError::oauth(OAuthCode::InvalidScope, "the requested scope exceeds what was granted"));
    }
    Ok(requested)
}

pub async fn password(
    req: &HttpRequest,
    state: &web::Data<Authority>,
    client: &Client,
    params: &Params,
) -> Result<HttpResponse, ApiError> {
    let username = params.require("username")?;
    let password = params.require("password")?;
    if password.len() > MAX_PASSWORD_BYTES || username.len() > 320 {
        return Err(ApiError::invalid_request("username or password too long"));
    }
    let scope = narrowed_scope(params, &client.scope)?;
    let origin = RequestOrigin::of(req);
    let email = normalize_email(username).ok();
    let account = email.as_deref().unwrap_or(&username.to_lowercase()).to_owned();
    let subjects = Subjects::new(&account, origin.ip.as_deref(), state.throttle.ipv6_prefix);
    // Held until this attempt's outcome is written, so the next attempt on the account reads it.
    let _turn =
        state.login_gate.turn(&subjects.account).await.ok_or(ApiError::Throttled { retry_after: 1 })?;

    let now = state.clock.now();
    let (pool, policy, lookup) = (state.pool.clone(), state.throttle, email.clone());
    let check_subjects = subjects.clone();
    let (verdict, row) = web::block(move || -> Result<_, StoreError> {
        let mut conn = pool.get()?;
        let verdict = throttle::check(&mut conn, &check_subjects, now, &policy)?;
        let row = match (&verdict, lookup) {
            (Verdict::Locked { .. }, _) | (_, None) => None,
            (_, Some(email)) => store::users::find_by_email(&mut conn, &email)?,
        };
        Ok((verdict, row))
    })
    .await??;
    match verdict {
        Verdict::Locked { retry_after } => return Err(ApiError::Throttled { retry_after }),
        Verdict::Delay(delay) => tokio::time::sleep(delay).await,
        Verdict::Allow | Verdict::Clean => {}
    }
    let had_failures = verdict != Verdict::Clean;

    let stored = row.as_ref().map(|r| r.password_hash.clone());
    let verification =
        state.passwords.verify(Zeroizing::new(password.to_owned()), stored).await.map_err(|e| match e {
            PasswordError::Busy => {
                log::warn!("password hashing queue full: refusing a login");
                ApiError::Unavailable
            }
            other => ApiError::internal(&other),
        })?;
    let (user, rehash) = match (row, verification) {
        (Some(row), Verification::Valid { rehash }) if !row.disabled => (row.to_user(), rehash),
        _ => {
            let (pool, policy) = (state.pool.clone(), state.throttle);
            web::block(move || -> Result<_, StoreError> {
                Ok(throttle::record_failure(&mut *pool.get()?, &subjects, now, &policy)?)
            })
            .await??;
            return Err(bad_credentials());
        }
    };

    let (pool, family_policy) = (state.pool.clone(), state.families);
    let (user_id, client_id, scope_text) = (user.id.clone(), client.id.clone(), scope.to_string());
    let login = web::block(move || -> Result<Login, ApiError> {
        let mut conn = pool.get().map_err(StoreError::from)?;
        if had_failures {
            throttle::record_success(&mut conn, &subjects)?;
        }
        if let Some(hash) = rehash {
            store::users::set_password_hash(&mut conn, &user_id, &hash, now)?;
        }
        families::start(&mut conn, &user_id, &client_id, &scope_text, origin.as_origin(), now, &family_policy)
            .map_err(family_error)
    })
    .await??;
    let family = UserFamily { id: &login.family_id, created_at: now, expires_at: login.family_expires_at };
    user_tokens(state, client, &user, scope, &family, now, login.token, login.token_expires_at).await
}

pub async fn refresh(
    req: &HttpRequest,
    state: &web::Data<Authority>,
    client: &Client,
    params: &Params,
) -> Result<HttpResponse, ApiError> {
    let cookie = client.refresh_cookie.then(|| req.cookie(REFRESH_COOKIE)).flatten();
    let presented = match (params.get("refresh_token"), &cookie) {
        (Some(token), _) => token.to_owned(),
        (None, Some(cookie)) => cookie.value().to_owned(),
        (None, None) => return Err(ApiError::invalid_request("missing parameter refresh_token")),
    };
    let presented = RefreshToken::parse(&presented).ok_or_else(invalid_refresh)?;
    let requested = match params.get("scope") {
        Some(text) => {
            Some(Scope::parse(text).map_err(|e| ApiError::oauth(OAuthCode::InvalidScope, e.to_string()))?)
        }
        None => None,
    };
    let origin = RequestOrigin::of(req);
    let now = state.clock.now();
    let (pool, family_policy, client_id) = (state.pool.clone(), state.families, client.id.clone());
    let keys = std::sync::Arc::clone(&state.keys);
    let requested_scope = requested.clone();
    let outcome = web::block(move || -> Result<_, ApiError> {
        let mut conn = pool.get().map_err(StoreError::from)?;
        families::rotate(
            &mut conn,
            &keys.lifecycle.master,
            &presented,
            &client_id,
            requested_scope.as_ref(),
            origin.as_origin(),
            now,
            &family_policy,
        )
        .map_err(family_error)
    })
    .await??;
    let (family, user, token, token_expires_at) = match outcome {
        Outcome::Rotated { family, user, token, token_expires_at }
        | Outcome::Replayed { family, user, token, token_expires_at } => {
            (family, user, token, token_expires_at)
        }
        Outcome::Refused(refusal) => {
            let revoked = match &refusal {
                Refusal::Reused { family_id } => {
                    log::warn!("refresh token reuse detected: family {family_id} revoked");
                    state.metrics.refresh_reuse.inc();
                    Some("reuse")
                }
                Refusal::WrongClient { .. } => Some("wrong_client"),
                Refusal::Elsewhere { .. } => Some("binding"),
                Refusal::Unknown | Refusal::Expired | Refusal::FamilyRevoked => None,
            };
            if let Some(reason) = revoked {
                state.metrics.families_revoked.with_label_values(&[reason]).inc();
            }
            return Err(invalid_refresh());
        }
    };
    if user.disabled {
        return Err(invalid_refresh());
    }
    let user = user.to_user();
    let scope = requested.unwrap_or_else(|| Scope::parse(&family.scope).unwrap_or_default());
    let family = UserFamily { id: &family.id, created_at: family.created_at, expires_at: family.expires_at };
    user_tokens(state, client, &user, scope, &family, now, token, token_expires_at).await
}

fn family_error(e: FamilyError) -> ApiError {
    match e {
        FamilyError::ScopeExceeded => {
            ApiError::oauth(OAuthCode::InvalidScope, "the requested scope exceeds what was granted")
        }
        FamilyError::Store(e) => e.into(),
        FamilyError::Random => ApiError::internal(&e),
    }
}

#[derive(Serialize)]
struct UserTokenResponse<'a> {
    access_token: &'a str,
    token_type: &'static str,
    expires_in: i64,
    #[serde(skip_serializing_if = "str::is_empty")]
    scope: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    refresh_token: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    id_token: Option<&'a str>,
}

/// The login a user's tokens belong to: its refresh family.
struct UserFamily<'a> {
    id: &'a str,
    /// When the user authenticated (`auth_time`).
    created_at: i64,
    /// The family's absolute end, which no token outlives.
    expires_at: i64,
}

/// Signs the access token (and, for scope `openid`, the ID token) and answers RFC 6749 §5.1,
/// with the refresh token in the body or, for cookie clients, in a `__Host-` cookie.
#[allow(clippy::too_many_arguments)]
async fn user_tokens(
    state: &web::Data<Authority>,
    client: &Client,
    user: &User,
    scope: Scope,
    family: &UserFamily<'_>,
    now: i64,
    refresh: RefreshToken,
    refresh_expires_at: i64,
) -> Result<HttpResponse, ApiError> {
    let ring = state.keys.signer_until(now + state.issuer.access_ttl_secs).await?;
    let openid = scope.contains("openid");
    let login = TokenFamily { family_id: family.id, ends_at: family.expires_at };
    let access = state
        .issuer
        .user_token(&ring.signer, client, user, scope, &login, now)
        .map_err(|e| ApiError::internal(&e))?;
    let id_token = if openid {
        Some(
            state
                .issuer
                .id_token(&ring.signer, client, user, &login, family.created_at, now)
                .map_err(|e| ApiError::internal(&e))?,
        )
    } else {
        None
    };
    let scope_text = access.scope.to_string();
    let mut response = HttpResponse::Ok();
    response
        .insert_header((header::CACHE_CONTROL, HeaderValue::from_static("no-store")))
        .insert_header((header::PRAGMA, HeaderValue::from_static("no-cache")));
    if client.refresh_cookie {
        let cookie = Cookie::build(REFRESH_COOKIE, refresh.expose().to_owned())
            .path("/")
            .secure(true)
            .http_only(true)
            .same_site(SameSite::Strict)
            .max_age(CookieDuration::seconds((refresh_expires_at - now).max(0)))
            .finish();
        response.cookie(cookie);
    }
    Ok(response.json(UserTokenResponse {
        access_token: &access.token,
        token_type: "Bearer",
        expires_in: access.expires_in,
        scope: &scope_text,
        refresh_token: (!client.refresh_cookie).then(|| refresh.expose()),
        id_token: id_token.as_deref(),
    }))
}
