//! OAuth 2.0 Token Exchange (RFC 8693): a service trades an access token that was sent to it
//! (the subject token) for a narrower one for the next API, on the same user's behalf. Pure: the
//! operation verifies the tokens and their liveness, this module decides what may be issued.
//!
//! The rule that stops laundering: the subject token's `aud` must name an API the exchanging
//! client serves itself (`served_resources`), so a token captured elsewhere, or sent to another
//! service, cannot be exchanged. The target must be one of the client's registered `resources`;
//! the scope can only narrow; the result keeps the subject (`sub`) and its login (`sid`), so
//! ending the login reaches every exchanged token; and `act` records who acted, the most recent
//! actor outermost (§4.1).

use serde::{Deserialize, Serialize};

use super::AccessClaims;
use crate::accounts::clients::Client;
use crate::scope::{ADMIN_SCOPE, Scope};

/// The grant type (RFC 8693 §2.1).
pub const GRANT_TYPE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
/// The only token type jwtd exchanges and issues (RFC 8693 §3).
pub const ACCESS_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:access_token";
/// The longest delegation chain a token may carry: an exchange that would make it longer is
/// refused (and `jwtd-verify` refuses longer ones).
pub const MAX_ACTORS: usize = 8;

/// The `act` claim (RFC 8693 §4.1): the party that acted, and before it, nested, the previous one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Actor {
    pub sub: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub act: Option<Box<Actor>>,
}

impl Actor {
    /// How many actors the chain names, this one included (never none).
    pub fn depth(&self) -> usize {
        std::iter::successors(Some(self), |a| a.act.as_deref()).count()
    }

    /// The chain's subjects, the most recent actor first.
    pub fn chain(&self) -> Vec<&str> {
        std::iter::successors(Some(self), |a| a.act.as_deref()).map(|a| a.sub.as_str()).collect()
    }
}

/// What a token-exchange request asks for, beyond its tokens.
#[derive(Debug, Clone, Copy)]
pub struct ExchangeRequest<'a> {
    /// Every `resource` and `audience` value: at most one target.
    pub targets: &'a [&'a str],
    /// A `scope` parameter, which may only narrow the subject token's.
    pub scope: Option<&'a Scope>,
    /// The key of the request's DPoP proof (RFC 9449), if it had a valid one.
    pub dpop_jkt: Option<&'a str>,
}

/// The token an exchange issues (beside what the subject token passes on: `sub`, `sid`, its
/// custom claims).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exchange {
    pub audience: String,
    pub scope: Scope,
    pub act: Actor,
    /// Never past the subject token's own expiry.
    pub exp: i64,
}

/// Why an exchange is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExchangeRefusal {
    /// The subject token's `aud` names no API this client serves: it was not sent to it.
    NotSentToClient,
    /// A token for jwtd itself (an admin token) is never exchanged.
    ForJwtd,
    /// The delegation chain would exceed [`MAX_ACTORS`].
    ChainTooLong,
    /// No target named, and the client may exchange for several.
    NoTarget,
    /// More than one target: one token is issued for one API.
    TooManyTargets,
    /// The target is not among the client's registered resources.
    TargetNotAllowed,
    /// The scope asked for is beyond the subject token's or the client's.
    ScopeExceeded,
    /// The subject token is bound to a DPoP key the request did not prove (RFC 9449).
    KeyMismatch,
}

impl ExchangeRefusal {
    /// The label metrics and audit events name the refusal by.
    pub fn reason(self) -> &'static str {
        match self {
            Self::NotSentToClient => "not_sent_to_client",
            Self::ForJwtd => "admin_token",
            Self::ChainTooLong => "chain_too_long",
            Self::NoTarget => "no_target",
            Self::TooManyTargets => "too_many_targets",
            Self::TargetNotAllowed => "target_not_allowed",
            Self::ScopeExceeded => "scope_exceeded",
            Self::KeyMismatch => "dpop_key_mismatch",
        }
    }

    /// The `error_description` the client hears.
    pub fn description(self) -> &'static str {
        match self {
            Self::NotSentToClient => "the subject token was not issued for an API this client serves",
            Self::ForJwtd => "tokens for jwtd itself cannot be exchanged",
            Self::ChainTooLong => "the subject token's delegation chain is already as long as jwtd allows",
            Self::NoTarget => "name the API the token is for, with resource or audience",
            Self::TooManyTargets => "name one resource or audience: one token is issued for one API",
            Self::TargetNotAllowed => "this client may not exchange tokens for that resource",
            Self::ScopeExceeded => "the requested scope exceeds the subject token's or this client's",
            Self::KeyMismatch => "the subject token is bound to a DPoP key; send a DPoP proof of that key",
        }
    }
}

/// Decides what exchanging `subject` (a valid, live access token of jwtd's) for `client` may
/// issue, at `now` with tokens living `ttl` seconds.
pub fn decide(
    subject: &AccessClaims,
    client: &Client,
    issuer: &str,
    request: &ExchangeRequest<'_>,
    now: i64,
    ttl: i64,
) -> Result<Exchange, ExchangeRefusal> {
    let subject_scope = Scope::parse(&subject.scope).unwrap_or_default();
    if subject_scope.contains(ADMIN_SCOPE) || subject.aud.contains(issuer) {
        return Err(ExchangeRefusal::ForJwtd);
    }
    if !client.served_resources.iter().any(|served| subject.aud.contains(served)) {
        return Err(ExchangeRefusal::NotSentToClient);
    }
    if subject.dpop_jkt().is_some_and(|bound| request.dpop_jkt != Some(bound)) {
        return Err(ExchangeRefusal::KeyMismatch);
    }
    if subject.act.as_ref().is_some_and(|act| act.depth() >= MAX_ACTORS) {
        return Err(ExchangeRefusal::ChainTooLong);
    }
    let audience = match (request.targets, client.resources.as_slice()) {
        ([], [only]) => only.clone(),
        ([], _) => return Err(ExchangeRefusal::NoTarget),
        ([target], allowed) if allowed.iter().any(|r| r == target) => (*target).to_owned(),
        ([_], _) => return Err(ExchangeRefusal::TargetNotAllowed),
        _ => return Err(ExchangeRefusal::TooManyTargets),
    };
    let allowed = subject_scope.intersection(&client.scope);
    let scope = match request.scope {
        Some(requested) if requested.is_subset(&allowed) => requested.clone(),
        Some(_) => return Err(ExchangeRefusal::ScopeExceeded),
        None => allowed,
    };
    let act = Actor { sub: client.id.clone(), act: subject.act.clone().map(Box::new) };
    Ok(Exchange { audience, scope, act, exp: now.saturating_add(ttl).min(subject.exp) })
}

/// Whether `actor` (a valid, live access token of jwtd's presented as `actor_token`) stands for
/// the exchanging client: a token the client got for itself, and if it is DPoP-bound, bound to
/// the key the request proved (`dpop_jkt`).
pub fn actor_is_client(actor: &AccessClaims, client: &Client, dpop_jkt: Option<&str>) -> bool {
    actor.client_id == client.id
        && actor.sub == client.id
        && actor.sid.is_none()
        && actor.dpop_jkt().is_none_or(|bound| dpop_jkt == Some(bound))
}

#[cfg(test)]
mod tests;
