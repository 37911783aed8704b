//! Authorization codes (RFC 6749 §4.1, RFC 7636): issued to a signed-in browser, redeemed once
//! by the client at the token endpoint. A code is bound to its client, redirect URI, PKCE
//! challenge, nonce, scope and session; a second use revokes what the first one issued
//! (§4.1.2), which reaches resource servers through the revocation feed.

use diesel::Connection;
use serde_json::json;

use super::families::{self, FamilyOwner};
use super::grants::{Login, RequestOrigin, UserTokens};
use super::{Authority, Error, OAuthCode};
use crate::accounts::clients::Client;
use crate::accounts::sessions::Session;
use crate::scope::Scope;
use crate::store::sessions::{CodeRow, NewCode};
use crate::store::{self, DbConnection, users::UserRow};
use crate::tokens::authorization::{AuthorizationRequest, BrowserSecret, CODE_TTL_SECS, verifier_matches};
use crate::tokens::families::Login as FamilyLogin;
use crate::tokens::resource;

/// What the client presents at the token endpoint with `grant_type=authorization_code`.
#[derive(Debug)]
pub struct Redemption {
    pub code: String,
    pub redirect_uri: Option<String>,
    pub code_verifier: Option<String>,
    /// The `resource` the token is for (RFC 8707): at most one, of those the request named.
    pub resource: Vec<String>,
    /// The key of the request's DPoP proof (RFC 9449), if it had a valid one.
    pub dpop_jkt: Option<String>,
}

fn invalid_code() -> Error {
    Error::oauth(OAuthCode::InvalidGrant, "the authorization code is invalid, expired or already used")
}

/// What a redemption found, decided inside its transaction.
enum Redeemed {
    Started(Box<(CodeRow, UserRow, FamilyLogin, Vec<String>)>),
    Refused(Error),
    /// A used code presented again: what it issued is revoked.
    Replayed,
}

impl Authority {
    /// A code for `request`, signed in by `session`: 256 random bits, only the hash stored,
    /// [`CODE_TTL_SECS`] to live.
    pub async fn issue_code(
        &self,
        request: &AuthorizationRequest,
        session: &Session,
    ) -> Result<BrowserSecret, Error> {
        let code = BrowserSecret::generate().map_err(|_| Error::Internal("random generator".into()))?;
        let now = self.clock.now();
        let (hash, request, session) = (code.hash(), request.clone(), session.clone());
        self.with_conn(move |conn| {
            let (scope, resources) = (request.scope.to_string(), request.resources.join(" "));
            let row = NewCode {
                code_hash: &hash,
                client_id: &request.client_id,
                redirect_uri: &request.redirect_uri,
                code_challenge: &request.code_challenge,
                nonce: request.nonce.as_deref(),
                scope: &scope,
                session_id: &session.id,
                user_id: &session.user_id,
                auth_time: session.auth_time,
                created_at: now,
                expires_at: now + CODE_TTL_SECS,
                resources: &resources,
                dpop_jkt: request.dpop_jkt.as_deref(),
            };
            Ok(store::sessions::insert_code(conn, &row)?)
        })
        .await?;
        self.metrics.sign_in.codes.with_label_values(&["issued"]).inc();
        Ok(code)
    }

    /// `grant_type=authorization_code`: claims the code (once, whoever races), checks it was
    /// issued to this client for this redirect URI and that the verifier matches its challenge,
    /// starts a refresh family in the code's session, and issues the tokens. Refresh tokens go
    /// to first-party clients, and to others only with `offline_access` (OIDC Core §11). A code
    /// whose request named `dpop_jkt` is redeemed only with a proof of that key (RFC 9449 §10).
    pub async fn redeem_code(
        &self,
        client: &Client,
        redemption: Redemption,
        origin: RequestOrigin,
    ) -> Result<UserTokens, Error> {
        let hash = BrowserSecret::parse(&redemption.code).map(|c| c.hash()).ok_or_else(invalid_code)?;
        let now = self.clock.now();
        let (family_policy, for_claim) = (self.families, client.clone());
        let dpop_jkt = redemption.dpop_jkt.clone();
        let keys = std::sync::Arc::clone(&self.keys);
        let family_key = dpop_jkt.clone().filter(|_| client.binds_refresh_tokens());
        let redeemed = self
            .with_conn(move |conn| {
                conn.transaction(|conn| {
                    let Some(code) = store::sessions::claim_code(conn, &hash, now)? else {
                        return replay(conn, &hash, now);
                    };
                    let resources = match check(conn, &code, &for_claim, &redemption, now)? {
                        Ok(resources) => resources,
                        Err(refusal) => return Ok(Redeemed::Refused(refusal)),
                    };
                    let Some(user) = store::users::find(conn, &code.user_id)?.filter(|u| !u.disabled) else {
                        return Ok(Redeemed::Refused(invalid_code()));
                    };
                    let owner = FamilyOwner {
                        user_id: &code.user_id,
                        client_id: &for_claim.id,
                        scope: &code.scope,
                        session_id: Some(&code.session_id),
                        auth_time: code.auth_time,
                        resources: &code.resources,
                        dpop_jkt: family_key.as_deref(),
                    };
                    let login = families::start(
                        conn,
                        &keys.lifecycle.master,
                        owner,
                        origin.as_origin(),
                        now,
                        &family_policy,
                    )?;
                    store::sessions::set_code_family(conn, &hash, &login.family_id)?;
                    Ok(Redeemed::Started(Box::new((code, user, login, resources))))
                })
            })
            .await?;
        let (code, user, login, resources) = match redeemed {
            Redeemed::Started(started) => *started,
            Redeemed::Refused(error) => {
                self.metrics.sign_in.codes.with_label_values(&["refused"]).inc();
                return Err(error);
            }
            Redeemed::Replayed => {
                self.metrics.sign_in.codes.with_label_values(&["replayed"]).inc();
                return Err(invalid_code());
            }
        };
        self.metrics.sign_in.codes.with_label_values(&["redeemed"]).inc();
        let scope = Scope::parse(&code.scope).unwrap_or_default();
        let offline = client.first_party || scope.contains("offline_access");
        let session = Login {
            family_id: &login.family_id,
            authenticated_at: code.auth_time,
            ends_at: login.family_expires_at,
            nonce: code.nonce.as_deref(),
            refresh: offline.then_some(login.token),
            refresh_expires_at: login.token_expires_at,
            resources,
            dpop_jkt,
        };
        self.user_tokens(client, &user.to_user(), scope, session, now).await
    }
}

/// A code that could not be claimed: unknown, or used before. A second use revokes the family
/// the first one started, with an audit event (RFC 6749 §4.1.2).
fn replay(conn: &mut DbConnection, hash: &[u8], now: i64) -> Result<Redeemed, Error> {
    let Some(code) = store::sessions::find_code(conn, hash)? else {
        return Ok(Redeemed::Refused(invalid_code()));
    };
    if let Some(family_id) = &code.family_id
        && store::refresh::revoke_family(conn, family_id, now, "code_replay")? > 0
    {
        log::warn!("authorization code replayed: family {family_id} of user {} revoked", code.user_id);
    }
    let event = store::audit::AuditEvent {
        at: now,
        kind: "code.replayed",
        actor: Some(&code.client_id),
        subject: code.family_id.as_deref(),
        ip: None,
        detail: json!({ "user_id": code.user_id, "session_id": code.session_id }).to_string(),
    };
    store::audit::record(conn, &event)?;
    Ok(Redeemed::Replayed)
}

/// The access token's resources if the claimed code may be redeemed by this request (RFC 8707:
/// the one named, of the code's; or the code's), or why it may not (the inner error). The code
/// stays used either way.
fn check(
    conn: &mut DbConnection,
    code: &CodeRow,
    client: &Client,
    redemption: &Redemption,
    now: i64,
) -> Result<Result<Vec<String>, Error>, Error> {
    if code.client_id != client.id || now >= code.expires_at {
        return Ok(Err(invalid_code()));
    }
    if redemption.redirect_uri.as_deref() != Some(code.redirect_uri.as_str()) {
        return Ok(Err(Error::oauth(
            OAuthCode::InvalidGrant,
            "redirect_uri must be the one the authorization request named",
        )));
    }
    let verified =
        redemption.code_verifier.as_deref().is_some_and(|v| verifier_matches(v, &code.code_challenge));
    if !verified {
        return Ok(Err(Error::oauth(
            OAuthCode::InvalidGrant,
            "the code_verifier does not match the code_challenge",
        )));
    }
    if code.dpop_jkt.as_ref().is_some_and(|bound| redemption.dpop_jkt.as_ref() != Some(bound)) {
        return Ok(Err(Error::oauth(
            OAuthCode::InvalidGrant,
            "the authorization request bound the code to a DPoP key (dpop_jkt); send a DPoP proof of that key",
        )));
    }
    let named: Vec<&str> = redemption.resource.iter().map(String::as_str).collect();
    let resources = match resource::audience(&named, &code.granted_resources(), &client.resources) {
        Ok(resources) => resources,
        Err(refusal) => return Ok(Err(refusal.into())),
    };
    // A session ended (logout, an administrator) since the code was issued: nothing more from it.
    let live = store::sessions::session_by_id(conn, &code.session_id)?.is_some_and(|s| s.ended_at.is_none());
    Ok(if live { Ok(resources) } else { Err(invalid_code()) })
}
