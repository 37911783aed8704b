//! What a refresh does, as a pure function of what the claim found: [`decide`].
//!
//! The store claims the presented token with the one statement only one caller can win
//! (`UPDATE … SET rotated_at … WHERE rotated_at IS NULL`), reads the token and its family,
//! asks [`decide`], and applies the [`Decision`] in the claim's transaction. The rules read top
//! to bottom below, and their order is part of them: another client is refused (and the family
//! revoked) before a revoked family is; only the claim's winner is checked for expiry; a replay
//! within the grace window passes the same scope and binding checks as a rotation.

use std::net::IpAddr;

use super::families::BindingPolicy;
use super::families::{FamilyPolicy, Origin, Refusal};
use crate::scope::Scope;

/// The presented token, as the claim left it.
#[derive(Debug, Clone, Copy)]
pub struct Claimed {
    /// This caller's claim marked the token used: it won, and nobody else can.
    pub won: bool,
    pub generation: i64,
    pub expires_at: i64,
    /// When the token was first used: now if this caller won, earlier otherwise.
    pub rotated_at: Option<i64>,
}

/// The presented token's family.
#[derive(Debug, Clone, Copy)]
pub struct FamilyFacts<'a> {
    pub id: &'a str,
    pub client_id: &'a str,
    /// The scope the family was granted (space-separated).
    pub scope: &'a str,
    /// The resources the family's grant named (space-separated; empty: none).
    pub resources: &'a str,
    /// The DPoP key (RFC 7638 thumbprint) the family's tokens are bound to, if any.
    pub dpop_jkt: Option<&'a str>,
    pub expires_at: i64,
    pub revoked: bool,
    /// Where the family's login came from.
    pub created: Origin<'a>,
    /// The family's token one generation after the presented one, if there is one.
    pub next: Option<NextToken>,
}

/// The token after the presented one. A replay within the grace window gets it again only while
/// it is the family's unused head and is the presented token's successor: the family stays
/// single-headed, and a token forged into that generation is never handed out.
#[derive(Debug, Clone, Copy)]
pub struct NextToken {
    pub used: bool,
    /// Its hash is that of the presented token's successor, derived again with the master key.
    pub is_successor: bool,
    pub expires_at: i64,
}

/// The refresh request.
#[derive(Debug, Clone, Copy)]
pub struct RefreshRequest<'a> {
    /// The authenticated client presenting the token.
    pub client_id: &'a str,
    /// A `scope` parameter, which may only narrow the family's.
    pub requested: Option<&'a Scope>,
    /// A `resource` parameter (RFC 8707), which must be one of the family's when it names any.
    pub resource: Option<&'a str>,
    /// The key of the request's DPoP proof (RFC 9449), if it had a valid one.
    pub dpop_jkt: Option<&'a str>,
    pub origin: Origin<'a>,
    pub now: i64,
}

/// What to do with a claimed token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Insert the successor at `generation`, expiring at `expires_at`, and answer with it.
    Rotate {
        generation: i64,
        expires_at: i64,
        /// Record a `refresh.binding_mismatch` audit event (`binding = audit`, from elsewhere).
        binding_mismatch: bool,
    },
    /// The client's own retry within the grace window: answer with the successor already
    /// stored (recomputed, never stored in plain text), which expires at `expires_at`.
    ReplaySameSuccessor {
        expires_at: i64,
        /// Record a `refresh.binding_mismatch` audit event (`binding = audit`, from elsewhere).
        binding_mismatch: bool,
    },
    /// Refuse. A refusal that names a family ([`Refusal::revokes`]) revokes it, with an audit
    /// event; the others write nothing more (a claim this caller won stays won).
    Refuse(Refusal),
    /// The request asked for more scope than the family holds: roll the claim back, so the token
    /// stays usable.
    ScopeExceeded,
    /// The request named a resource outside the family's grant: rolled back likewise.
    TargetNotGranted,
    /// The family is bound to a DPoP key and the request proved another key, or none (RFC 9449
    /// §5): rolled back likewise, nothing revoked (whoever sent it cannot use the token, and
    /// must not be able to end the login either), audited by the caller.
    KeyMismatch,
}

/// Decides what a refresh does, given what its claim found.
pub fn decide(
    claim: &Claimed,
    family: &FamilyFacts<'_>,
    request: &RefreshRequest<'_>,
    policy: &FamilyPolicy,
) -> Decision {
    let now = request.now;
    if family.client_id != request.client_id {
        return Decision::Refuse(Refusal::WrongClient { family_id: family.id.to_owned() });
    }
    if family.revoked {
        return Decision::Refuse(Refusal::FamilyRevoked);
    }
    if !claim.won {
        // Someone used the token first. Only the client's own retry within the grace window is
        // not reuse, and it gets what the first request would have got, under the same checks.
        return match grace_replay(claim, family, now, policy) {
            Some(expires_at) => checked(family, request, policy, |binding_mismatch| {
                Decision::ReplaySameSuccessor { expires_at, binding_mismatch }
            }),
            None => Decision::Refuse(Refusal::Reused { family_id: family.id.to_owned() }),
        };
    }
    if now >= family.expires_at || now >= claim.expires_at {
        return Decision::Refuse(Refusal::Expired);
    }
    let generation = claim.generation.saturating_add(1);
    let expires_at = policy.token_expires_at(now, family.expires_at);
    checked(family, request, policy, |binding_mismatch| Decision::Rotate {
        generation,
        expires_at,
        binding_mismatch,
    })
}

/// When a replay is the client's own retry, the expiry of the successor it gets again: the
/// token was first used at most `reuse_grace` seconds ago, the family is live, and the next
/// generation is the presented token's successor, unused and unexpired.
fn grace_replay(claim: &Claimed, family: &FamilyFacts<'_>, now: i64, policy: &FamilyPolicy) -> Option<i64> {
    let within = claim.rotated_at.is_some_and(|at| now.saturating_sub(at) <= policy.reuse_grace);
    if policy.reuse_grace <= 0 || !within || family.revoked || now >= family.expires_at {
        return None;
    }
    let next = family.next?;
    (!next.used && next.is_successor && now < next.expires_at).then_some(next.expires_at)
}

/// The checks a rotation and a grace replay share, in this order: the scope may only narrow,
/// the resource must be one the family's grant named (when it named any), a family bound to a
/// DPoP key needs a proof of that key;
/// a request from elsewhere than the login is refused (and the family revoked) with
/// `binding = enforce`, recorded with `audit`. `pass` builds the decision, told whether to
/// record a mismatch.
fn checked(
    family: &FamilyFacts<'_>,
    request: &RefreshRequest<'_>,
    policy: &FamilyPolicy,
    pass: impl FnOnce(bool) -> Decision,
) -> Decision {
    if request.requested.is_some_and(|r| !r.is_subset(&Scope::parse(family.scope).unwrap_or_default())) {
        return Decision::ScopeExceeded;
    }
    let granted = |resource: &str| family.resources.split(' ').any(|g| g == resource);
    if request.resource.is_some_and(|r| !family.resources.is_empty() && !granted(r)) {
        return Decision::TargetNotGranted;
    }
    if family.dpop_jkt.is_some_and(|bound| request.dpop_jkt != Some(bound)) {
        return Decision::KeyMismatch;
    }
    let elsewhere = policy.binding != BindingPolicy::Off
        && !same_origin(family.created, request.origin, policy.binding_ip);
    if elsewhere && policy.binding == BindingPolicy::Enforce {
        return Decision::Refuse(Refusal::Elsewhere { family_id: family.id.to_owned() });
    }
    pass(elsewhere)
}

/// Same User-Agent and, with `compare_ip`, the same /24 (IPv4) or /64 (IPv6).
fn same_origin(created: Origin<'_>, now: Origin<'_>, compare_ip: bool) -> bool {
    if created.user_agent != now.user_agent {
        return false;
    }
    if !compare_ip {
        return true;
    }
    let parse = |ip: Option<&str>| ip.and_then(|i| i.parse::<IpAddr>().ok());
    match (parse(created.ip), parse(now.ip)) {
        (Some(IpAddr::V4(a)), Some(IpAddr::V4(b))) => a.octets().get(..3) == b.octets().get(..3),
        (Some(IpAddr::V6(a)), Some(IpAddr::V6(b))) => a.segments().get(..4) == b.segments().get(..4),
        (None, None) => true,
        _ => false,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests;
