//! Token exchange (RFC 8693) as an operation: verify the subject token (and the actor token, if
//! any) as jwtd's own, let the domain decide what may be issued (`tokens::exchange`), check in
//! one transaction that the subject's login is still live and record the audit event, then sign.
//! Every outcome is counted (`jwtd_token_exchanges_total{outcome}`) and audited, refusals by
//! reason.

use diesel::Connection;
use serde_json::json;

use super::audit::Actor;
use super::revocation::login_is_live;
use super::{Authority, Error, OAuthCode};
use crate::accounts::clients::Client;
use crate::scope::Scope;
use crate::tokens::exchange::{self, ExchangeRefusal, ExchangeRequest};
use crate::tokens::verify::verify_own_access_token;
use crate::tokens::{AccessClaims, IssuedToken};

/// A token-exchange request as the token endpoint read it.
#[derive(Debug)]
pub struct TokenExchange {
    pub subject_token: String,
    pub subject_token_type: String,
    pub actor_token: Option<String>,
    pub actor_token_type: Option<String>,
    pub requested_token_type: Option<String>,
    /// Every `resource` and `audience` value.
    pub targets: Vec<String>,
    pub scope: Option<Scope>,
    /// The key of the request's DPoP proof (RFC 9449), if it had a valid one: a DPoP-bound
    /// subject or actor token needs it, and the issued token is bound to it.
    pub dpop_jkt: Option<String>,
}

/// Why an exchange was refused: the reason it is counted and audited by (none for a failure of
/// jwtd's own, such as storage), and the error the client hears.
struct Refusal {
    reason: Option<&'static str>,
    error: Error,
}

impl Refusal {
    fn new(reason: &'static str, code: OAuthCode, description: &'static str) -> Self {
        Self { reason: Some(reason), error: Error::oauth(code, description) }
    }

    fn invalid_subject() -> Self {
        Self::new(
            "invalid_subject",
            OAuthCode::InvalidGrant,
            "the subject token is invalid, expired or revoked",
        )
    }
}

impl From<ExchangeRefusal> for Refusal {
    fn from(refusal: ExchangeRefusal) -> Self {
        let code = match refusal {
            ExchangeRefusal::NotSentToClient
            | ExchangeRefusal::ForJwtd
            | ExchangeRefusal::ChainTooLong
            | ExchangeRefusal::KeyMismatch => OAuthCode::InvalidGrant,
            ExchangeRefusal::NoTarget
            | ExchangeRefusal::TooManyTargets
            | ExchangeRefusal::TargetNotAllowed => OAuthCode::InvalidTarget,
            ExchangeRefusal::ScopeExceeded => OAuthCode::InvalidScope,
        };
        Self::new(refusal.reason(), code, refusal.description())
    }
}

impl From<Error> for Refusal {
    fn from(error: Error) -> Self {
        Self { reason: None, error }
    }
}

impl Authority {
    /// `grant_type=urn:ietf:params:oauth:grant-type:token-exchange` for `client` (authenticated,
    /// allowed the grant): a token for the next API on the subject token's behalf, or the reason
    /// not, counted and audited either way.
    pub async fn exchange_token(
        &self,
        client: &Client,
        request: TokenExchange,
        ip: Option<String>,
    ) -> Result<IssuedToken, Error> {
        let actor = Actor { id: client.id.clone(), ip };
        match self.try_exchange(client, &request, &actor).await {
            Ok(issued) => {
                self.metrics.token_exchanges.with_label_values(&["granted"]).inc();
                Ok(issued)
            }
            Err(Refusal { reason: None, error }) => Err(error),
            Err(Refusal { reason: Some(reason), error }) => {
                self.metrics.token_exchanges.with_label_values(&[reason]).inc();
                let now = self.clock.now();
                let detail = json!({ "reason": reason });
                self.with_conn(move |conn| {
                    Ok(actor.audit(conn, now, "token.exchange_refused", None, detail)?)
                })
                .await?;
                Err(error)
            }
        }
    }

    async fn try_exchange(
        &self,
        client: &Client,
        request: &TokenExchange,
        actor: &Actor,
    ) -> Result<IssuedToken, Refusal> {
        check_types(request)?;
        let now = self.clock.now();
        let subject = self.own_token(&request.subject_token).ok_or_else(Refusal::invalid_subject)?;
        let acting = match &request.actor_token {
            Some(token) => {
                let proved = request.dpop_jkt.as_deref();
                let acting = self.own_token(token).filter(|a| exchange::actor_is_client(a, client, proved));
                Some(acting.ok_or_else(|| {
                    Refusal::new(
                        "invalid_actor",
                        OAuthCode::InvalidRequest,
                        "the actor token must be a valid token this client obtained for itself",
                    )
                })?)
            }
            None => None,
        };
        let targets: Vec<&str> = request.targets.iter().map(String::as_str).collect();
        let asked = ExchangeRequest {
            targets: &targets,
            scope: request.scope.as_ref(),
            dpop_jkt: request.dpop_jkt.as_deref(),
        };
        let ttl = self.issuer.access_ttl_secs;
        let decided = exchange::decide(&subject, client, &self.issuer.issuer, &asked, now, ttl)?;
        if !self.client_is_enabled(&subject.client_id).await? {
            return Err(Refusal::invalid_subject());
        }
        let detail = json!({
            "sub": subject.sub,
            "subject_client_id": subject.client_id,
            "audience": decided.audience,
            "scope": decided.scope.to_string(),
            "actors": decided.act.chain(),
        });
        let (checked, actor) = ((subject.clone(), acting), actor.clone());
        let live = self
            .with_conn(move |conn| {
                conn.transaction(|conn| {
                    let (subject, acting) = &checked;
                    let live = login_is_live(conn, subject, now)?
                        && acting.as_ref().map_or(Ok(true), |a| login_is_live(conn, a, now))?;
                    if live {
                        actor.audit(conn, now, "token.exchanged", subject.sid.as_deref(), detail)?;
                    }
                    Ok::<_, Error>(live)
                })
            })
            .await?;
        if !live {
            return Err(Refusal::invalid_subject());
        }
        let ring = self.keys.signer_until(decided.exp).await?;
        Ok(self
            .issuer
            .exchanged_token(&ring.signer, client, &subject, (decided, request.dpop_jkt.clone()), now)
            .map_err(|e| Error::internal(&e))?)
    }

    /// A valid access token of jwtd's, on jwtd's clock without leeway (an exchange is jwtd's own
    /// decision, RFC 7662 §4's reasoning).
    fn own_token(&self, token: &str) -> Option<AccessClaims> {
        let ring = self.keys.current();
        verify_own_access_token(&ring, &self.issuer.issuer, None, token, self.clock.now(), 0).ok()
    }
}

/// Only access tokens are exchanged and issued (RFC 8693 §3): other types are `invalid_request`.
fn check_types(request: &TokenExchange) -> Result<(), Refusal> {
    let access = |t: &str| t == exchange::ACCESS_TOKEN_TYPE;
    let actor_type_ok = match (&request.actor_token, &request.actor_token_type) {
        (Some(_), Some(t)) => access(t),
        (None, None) => true,
        _ => false,
    };
    if !access(&request.subject_token_type)
        || !actor_type_ok
        || request.requested_token_type.as_deref().is_some_and(|t| !access(t))
    {
        return Err(Refusal::new(
            "unsupported_token_type",
            OAuthCode::InvalidRequest,
            "jwtd exchanges and issues access tokens only (urn:ietf:params:oauth:token-type:access_token), \
             and an actor_token needs its actor_token_type",
        ));
    }
    Ok(())
}
