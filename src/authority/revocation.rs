//! Revocation (RFC 7009), introspection (RFC 7662), and the one liveness rule every check of
//! jwtd's own access tokens shares (introspection, the admin API, `/userinfo`).

use diesel::Connection;
use serde_json::{Value, json};

use super::audit::Actor;
use super::{Authority, Error, OAuthCode};
use crate::accounts::clients::Client;
use crate::store::{self, DbConnection};
use crate::tokens::AccessClaims;
use crate::tokens::dpop::{BEARER_TOKEN_TYPE, DPOP_TOKEN_TYPE};
use crate::tokens::refresh::{Located, RefreshToken};
use crate::tokens::verify::verify_own_access_token;

/// What a presented token turned out to be.
enum Presented {
    Refresh(RefreshToken),
    Access(Box<AccessClaims>),
    Unknown,
}

/// The family a revocation names: by one of its refresh tokens, or by an access token's `sid`.
enum FamilyRef {
    Token(Vec<u8>),
    Id(String),
}

impl FamilyRef {
    fn load(&self, conn: &mut DbConnection) -> diesel::QueryResult<Option<store::refresh::FamilyRow>> {
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

/// Why an access token was refused at one of jwtd's own endpoints (RFC 6750, RFC 9449 §7).
#[derive(Debug)]
pub enum BearerRefusal {
    /// Not a valid, live access token of jwtd's for this endpoint; or a DPoP-bound one sent as
    /// a bearer token, or an unbound one sent with the DPoP scheme.
    Invalid,
    /// The DPoP proof that came with a bound token is invalid, or proves another key.
    InvalidProof,
    /// Valid, but without the scope the endpoint needs.
    InsufficientScope,
    Failed(Error),
}

/// How the token came: `Authorization: Bearer`, or `Authorization: DPoP` with its one proof,
/// for this request's method and path at jwtd's public origin.
#[derive(Debug, Clone, Copy)]
pub enum Scheme<'a> {
    Bearer,
    Dpop { proof: &'a str, method: &'a str, path: &'a str },
}

impl From<Error> for BearerRefusal {
    fn from(e: Error) -> Self {
        Self::Failed(e)
    }
}

fn not_yours() -> Error {
    Error::oauth(OAuthCode::UnauthorizedClient, "the token was not issued to this client")
}

/// The part of [`Authority::token_is_live`] the database answers, for operations that run it
/// inside their own transaction: the token's login, if it names one, is neither revoked nor past
/// its absolute lifetime, and no revocation of its subject or client came after it was issued.
pub(super) fn login_is_live(
    conn: &mut DbConnection,
    claims: &AccessClaims,
    now: i64,
) -> diesel::QueryResult<bool> {
    if let Some(sid) = &claims.sid
        && !store::refresh::find_family(conn, sid)?.is_some_and(|f| f.is_active(now))
    {
        return Ok(false);
    }
    let revoked_since = store::revocations::not_before(conn, &claims.sub, &claims.client_id)?;
    Ok(revoked_since.is_none_or(|not_before| claims.iat >= not_before))
}

impl Authority {
    /// `leeway_secs`: how long past `exp` an access token still counts as one (revocation allows
    /// the resource servers' leeway, as they may still accept it; introspection none, as jwtd's
    /// own clock says whether it is active, RFC 7662 §4).
    fn classify(&self, token: &str, leeway_secs: i64) -> Presented {
        if let Some(refresh) = RefreshToken::parse(token) {
            return Presented::Refresh(refresh);
        }
        let ring = self.keys.current();
        match verify_own_access_token(&ring, &self.issuer.issuer, None, token, self.clock.now(), leeway_secs)
        {
            Ok(claims) => Presented::Access(Box::new(claims)),
            Err(_) => Presented::Unknown,
        }
    }

    /// Revokes the family `token` belongs to, for `client`. Unknown, expired and already revoked
    /// tokens are fine (RFC 7009 §2.2); another client's token is refused (`unauthorized_client`,
    /// §2.1); a `client_credentials` access token belongs to no family and cannot be revoked
    /// (`unsupported_token_type`, §2.2.1), nor can an exchanged one (its family is the user's
    /// login through another client). The revocation and its audit event commit together.
    pub async fn revoke(&self, client: &Client, token: &str, ip: Option<String>) -> Result<(), Error> {
        let family = match self.classify(token, self.verifier_leeway_secs) {
            Presented::Refresh(refresh) => match refresh.locate(&self.keys.lifecycle.master) {
                Located::Family(position) => FamilyRef::Id(position.family_id),
                Located::Row => FamilyRef::Token(refresh.hash()),
                Located::Forged => return Ok(()),
            },
            Presented::Access(claims) if claims.client_id != client.id => return Err(not_yours()),
            Presented::Access(claims) if claims.act.is_some() => {
                return Err(Error::oauth(
                    OAuthCode::UnsupportedTokenType,
                    "exchanged access tokens cannot be revoked; they expire, and end with the user's login",
                ));
            }
            Presented::Access(claims) => match claims.sid {
                Some(sid) => FamilyRef::Id(sid),
                None => {
                    return Err(Error::oauth(
                        OAuthCode::UnsupportedTokenType,
                        "access tokens of the client_credentials grant cannot be revoked; they expire",
                    ));
                }
            },
            Presented::Unknown => return Ok(()),
        };
        let (now, actor) = (self.clock.now(), Actor { id: client.id.clone(), ip });
        let revoked = self
            .with_conn(move |conn| {
                conn.transaction(|conn| {
                    let Some(family) = family.load(conn)? else { return Ok(false) };
                    if family.client_id != actor.id {
                        return Err(not_yours());
                    }
                    let reason = "revoked_by_client";
                    if store::refresh::revoke_family(conn, &family.id, now, reason)? == 0 {
                        return Ok(false);
                    }
                    let detail = json!({ "user_id": family.user_id });
                    actor.audit(conn, now, "refresh.revoked.revoked_by_client", Some(&family.id), detail)?;
                    Ok(true)
                })
            })
            .await?;
        if revoked {
            self.metrics.families_revoked.with_label_values(&["revoked_by_client"]).inc();
        }
        Ok(())
    }

    /// RFC 7662: the token's claims with `active: true`, or `None` (answered `{"active": false}`)
    /// for anything not valid now (see [`Self::token_is_live`]) and for whatever `client` may not
    /// see: other clients' refresh tokens, tokens for jwtd itself, and other clients' access
    /// tokens unless an introspection permission on `client` names one of their audiences.
    /// Public clients may not introspect: their `client_id` alone proves nothing, and anyone
    /// could use it to learn about tokens (RFC 7662 §2.1 requires authentication).
    pub async fn introspect(&self, client: &Client, token: &str) -> Result<Option<Value>, Error> {
        if client.is_public() {
            return Err(Error::oauth(
                OAuthCode::InvalidClient,
                "public clients cannot authenticate to the introspection endpoint",
            ));
        }
        match self.classify(token, 0) {
            Presented::Refresh(refresh) => self.introspect_refresh(client, refresh).await,
            Presented::Access(claims) => self.introspect_access(client, *claims).await,
            Presented::Unknown => Ok(None),
        }
    }

    async fn introspect_refresh(
        &self,
        client: &Client,
        refresh: RefreshToken,
    ) -> Result<Option<Value>, Error> {
        let now = self.clock.now();
        let located = refresh.locate(&self.keys.lifecycle.master);
        let found = self
            .with_conn(move |conn| match located {
                Located::Family(position) => {
                    let Some((family, head, _)) = store::family_heads::find(conn, &position.family_id)?
                    else {
                        return Ok(None);
                    };
                    let is_head = head.head_hash.is_some_and(|h| h == refresh.hash());
                    // The head was issued by the last rotation, or by the login.
                    let issued_at = head.rotated_at.unwrap_or(family.created_at);
                    Ok(is_head.then(|| (issued_at, head.head_expires_at.unwrap_or(0), family)))
                }
                Located::Row => {
                    let Some(token) = store::refresh::find_token(conn, &refresh.hash())? else {
                        return Ok(None);
                    };
                    let family = store::refresh::find_family(conn, &token.family_id)?;
                    Ok(family
                        .filter(|_| token.rotated_at.is_none())
                        .map(|f| (token.issued_at, token.expires_at, f)))
                }
                Located::Forged => Ok(None),
            })
            .await?;
        let Some((issued_at, expires_at, family)) = found else { return Ok(None) };
        let active = now < expires_at && family.is_active(now) && family.client_id == client.id;
        Ok(active.then(|| {
            json!({
                "active": true,
                "token_type": "refresh_token",
                "client_id": family.client_id,
                "sub": family.user_id,
                "scope": family.scope,
                "sid": family.id,
                "iat": issued_at,
                "exp": expires_at,
                "iss": self.issuer.issuer,
            })
        }))
    }

    async fn introspect_access(&self, client: &Client, claims: AccessClaims) -> Result<Option<Value>, Error> {
        // A token for jwtd itself (an admin token, a token of the default audience) is nobody
        // else's business: an introspection permission covers resource servers' audiences only.
        let for_jwtd = claims.aud.contains(&self.issuer.issuer) && claims.client_id != client.id;
        if for_jwtd
            || !client.may_introspect(&claims.client_id, |a| claims.aud.contains(a))
            || !self.token_is_live(&claims).await?
        {
            return Ok(None);
        }
        let mut answer = serde_json::to_value(&claims).map_err(|e| Error::internal(&e))?;
        if let Some(fields) = answer.as_object_mut() {
            fields.insert("active".into(), json!(true));
            // cnf (the bound key) came with the claims; its token type says how to present it.
            let token_type = if claims.cnf.is_some() { DPOP_TOKEN_TYPE } else { BEARER_TOKEN_TYPE };
            fields.insert("token_type".into(), json!(token_type));
        }
        Ok(Some(answer))
    }

    /// The one liveness rule for a validly signed, unexpired access token of jwtd's, shared by
    /// introspection, the admin API, `/userinfo` and (through what it publishes) the revocation
    /// feed: its client still exists and is enabled; its login (refresh family), if it names one,
    /// is neither revoked nor past its absolute lifetime; and no revocation of its subject or of
    /// its client (revoke-sessions, a disabled or deleted user, a deleted client) came after it
    /// was issued. The client row may come from the 5 s cache.
    pub async fn token_is_live(&self, claims: &AccessClaims) -> Result<bool, Error> {
        if !self.client_is_enabled(&claims.client_id).await? {
            return Ok(false);
        }
        let (now, claims) = (self.clock.now(), claims.clone());
        self.with_conn(move |conn| Ok(login_is_live(conn, &claims, now)?)).await
    }

    /// Whether the client exists and is enabled (its row may come from the 5 s cache).
    pub(super) async fn client_is_enabled(&self, client_id: &str) -> Result<bool, Error> {
        Ok(self.client_row(client_id).await?.is_some_and(|row| !row.disabled))
    }

    /// An access token at one of jwtd's own endpoints: a valid access token of jwtd's (for
    /// `audience`, when given; on jwtd's clock with its leeway), presented as it is bound (a
    /// DPoP-bound token only with a proof of its key, RFC 9449 §7; an unbound one only as a
    /// bearer token), carrying `scope`, and live. The scope is checked before liveness: a valid
    /// token without it lacks scope (403).
    pub async fn authorize_bearer(
        &self,
        (token, presented): (&str, Scheme<'_>),
        audience: Option<&str>,
        scope: &str,
    ) -> Result<AccessClaims, BearerRefusal> {
        let ring = self.keys.current();
        let claims = verify_own_access_token(
            &ring,
            &self.issuer.issuer,
            audience,
            token,
            self.clock.now(),
            self.leeway_secs,
        )
        .map_err(|reason| {
            log::info!("bearer token refused: {reason}");
            BearerRefusal::Invalid
        })?;
        match (presented, claims.dpop_jkt()) {
            (Scheme::Bearer, None) => {}
            (Scheme::Dpop { proof, method, path }, Some(bound)) => {
                let proved =
                    self.resource_request_key(proof, (method, path), token).await.map_err(|e| match e {
                        Error::OAuth { .. } => BearerRefusal::InvalidProof,
                        other => BearerRefusal::Failed(other),
                    })?;
                if proved != bound {
                    log::info!("DPoP proof of another key than the token's refused");
                    self.metrics.dpop_proofs.with_label_values(&["key_mismatch"]).inc();
                    return Err(BearerRefusal::InvalidProof);
                }
            }
            (Scheme::Bearer, Some(_)) => {
                log::info!("DPoP-bound token sent as a bearer token refused");
                return Err(BearerRefusal::Invalid);
            }
            (Scheme::Dpop { .. }, None) => {
                log::info!("unbound token sent with the DPoP scheme refused");
                return Err(BearerRefusal::Invalid);
            }
        }
        if !claims.scope.split(' ').any(|s| s == scope) {
            return Err(BearerRefusal::InsufficientScope);
        }
        if !self.token_is_live(&claims).await? {
            log::info!("bearer token of a deleted or disabled client, or of a revoked login, refused");
            return Err(BearerRefusal::Invalid);
        }
        Ok(claims)
    }
}
