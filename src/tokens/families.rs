//! Refresh families (RFC 9700 §4.14.2): each login starts a family; every refresh atomically
//! marks the presented token used and issues its successor; presenting a used token again
//! revokes the whole family, so a stolen token is worth one use at most, to whoever is first.

use std::net::IpAddr;

use diesel::Connection;
use serde_json::json;

use super::refresh::RefreshToken;
use super::scope::Scope;
use crate::config::BindingPolicy;
use crate::keys::master::MasterKey;
use crate::store::audit::{self, AuditEvent};
use crate::store::refresh::{self as rows, ClaimedRows, FamilyRow, NewFamily, NewToken};
use crate::store::users::UserRow;
use crate::store::{DbConnection, refresh};

/// The refresh settings in seconds.
#[derive(Debug, Clone, Copy)]
pub struct FamilyPolicy {
    pub idle_ttl: i64,
    pub absolute_ttl: i64,
    pub reuse_grace: i64,
    pub binding: BindingPolicy,
    pub binding_ip: bool,
}

/// Where a request came from, as far as jwtd can tell.
#[derive(Debug, Clone, Copy, Default)]
pub struct Origin<'a> {
    pub ip: Option<&'a str>,
    pub user_agent: Option<&'a str>,
}

#[derive(Debug, thiserror::Error)]
pub enum FamilyError {
    #[error(transparent)]
    Store(#[from] diesel::result::Error),
    #[error("the system random generator failed")]
    Random,
    /// The refresh asked for more than the family holds; nothing was rotated.
    #[error("the requested scope exceeds the family's")]
    ScopeExceeded,
}

/// A started family: its id and first token.
#[derive(Debug)]
pub struct Login {
    pub family_id: String,
    pub token: RefreshToken,
    pub token_expires_at: i64,
    /// The family's absolute end: no token of this login outlives it.
    pub family_expires_at: i64,
}

/// Starts a family for `user_id` at `client_id` with `scope`.
pub fn start(
    conn: &mut DbConnection,
    user_id: &str,
    client_id: &str,
    scope: &str,
    origin: Origin<'_>,
    now: i64,
    policy: &FamilyPolicy,
) -> Result<Login, FamilyError> {
    let family_id = crate::accounts::clients::random_id().map_err(|_| FamilyError::Random)?;
    let token = RefreshToken::generate().map_err(|_| FamilyError::Random)?;
    let expires_at = now.saturating_add(policy.absolute_ttl);
    let token_expires_at = now.saturating_add(policy.idle_ttl).min(expires_at);
    let family = NewFamily {
        id: &family_id,
        user_id,
        client_id,
        scope,
        created_at: now,
        expires_at,
        created_ip: origin.ip,
        created_user_agent: origin.user_agent,
    };
    let first = NewToken {
        token_hash: &token.hash(),
        family_id: &family_id,
        generation: 1,
        issued_at: now,
        expires_at: token_expires_at,
        ip: origin.ip,
        user_agent: origin.user_agent,
    };
    match conn {
        DbConnection::Postgres(pg) => rows::insert_family_with_token(pg, &family, &first)?,
        DbConnection::Sqlite(_) => conn.transaction(|conn| {
            rows::insert_family(conn, &family)?;
            rows::insert_token(conn, &first)
        })?,
    }
    Ok(Login { family_id, token, token_expires_at, family_expires_at: expires_at })
}

/// Why a refresh was refused. Every case answers the client the same `invalid_grant`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    Unknown,
    Expired,
    FamilyRevoked,
    /// A used token came back: the family is now revoked.
    Reused {
        family_id: String,
    },
    /// Another client presented the token: the family is now revoked.
    WrongClient {
        family_id: String,
    },
    /// `binding = enforce` and the request came from elsewhere: the family is now revoked.
    Elsewhere {
        family_id: String,
    },
}

#[derive(Debug)]
pub enum Outcome {
    /// The presented token is now used; `token` is its successor.
    Rotated {
        family: FamilyRow,
        user: Box<UserRow>,
        token: RefreshToken,
        token_expires_at: i64,
    },
    /// A replay within the grace window: the same successor as before, nothing revoked.
    Replayed {
        family: FamilyRow,
        user: Box<UserRow>,
        token: RefreshToken,
        token_expires_at: i64,
    },
    Refused(Refusal),
}

/// Rotates `presented` for `client_id`, in one transaction. A `requested` scope beyond the
/// family's rolls the whole transaction back: the token stays usable.
///
/// On PostgreSQL the usual case (no scope narrowing, no address binding) is tried first as one
/// statement ([`rows::rotate_unused`]); whatever it does not win (reuse, grace, expiry, another
/// client, another User-Agent) changed nothing and takes the transaction below.
#[allow(clippy::too_many_arguments)]
pub fn rotate(
    conn: &mut DbConnection,
    master: &MasterKey,
    presented: &RefreshToken,
    client_id: &str,
    requested: Option<&Scope>,
    origin: Origin<'_>,
    now: i64,
    policy: &FamilyPolicy,
) -> Result<Outcome, FamilyError> {
    let hash = presented.hash();
    if requested.is_none()
        && !policy.binding_ip
        && let DbConnection::Postgres(pg) = &mut *conn
    {
        let successor = presented.successor(master);
        let rotation = rows::Rotation {
            hash: &hash,
            successor_hash: &successor.hash(),
            client_id,
            now,
            idle_until: now.saturating_add(policy.idle_ttl),
            ip: origin.ip,
            user_agent: origin.user_agent,
            same_user_agent: policy.binding != BindingPolicy::Off,
        };
        if let Some((family, user, token_expires_at)) = rows::rotate_unused(pg, &rotation)? {
            return Ok(Outcome::Rotated { family, user: Box::new(user), token: successor, token_expires_at });
        }
    }
    conn.transaction(|conn| -> Result<Outcome, FamilyError> {
        let won = rows::mark_rotated(conn, &hash, now, origin.ip, origin.user_agent)? == 1;
        let Some(found) = rows::find_claimed(conn, &hash)? else {
            return Ok(Outcome::Refused(Refusal::Unknown));
        };
        let (token, family) = (&found.token, &found.family);
        if family.client_id != client_id {
            revoke(conn, family, now, "wrong_client", json!({ "presented_by": client_id }), origin)?;
            return Ok(Outcome::Refused(Refusal::WrongClient { family_id: family.id.clone() }));
        }
        if family.revoked_at.is_some() {
            return Ok(Outcome::Refused(Refusal::FamilyRevoked));
        }
        if !won {
            if let Some(replayed) = grace_replay(master, presented, &found, now, policy) {
                // A retry gets what the first request would have got, under the same checks: it
                // may not widen the scope, nor come from elsewhere when binding is enforced.
                if exceeds_family_scope(requested, family) {
                    return Err(FamilyError::ScopeExceeded);
                }
                if let Some(refused) = check_binding(conn, family, origin, now, policy)? {
                    return Ok(refused);
                }
                return Ok(replayed);
            }
            let detail = json!({
                "user_id": family.user_id,
                "client_id": family.client_id,
                "generation": token.generation,
                "first_use": { "at": token.rotated_at, "ip": token.rotated_ip, "user_agent": token.rotated_user_agent },
                "second_use": { "at": now, "ip": origin.ip, "user_agent": origin.user_agent },
            });
            revoke(conn, family, now, "reuse", detail, origin)?;
            return Ok(Outcome::Refused(Refusal::Reused { family_id: family.id.clone() }));
        }
        if now >= family.expires_at || now >= token.expires_at {
            return Ok(Outcome::Refused(Refusal::Expired));
        }
        if exceeds_family_scope(requested, family) {
            return Err(FamilyError::ScopeExceeded);
        }
        if let Some(refused) = check_binding(conn, family, origin, now, policy)? {
            return Ok(refused);
        }
        let generation = token.generation + 1;
        let ClaimedRows { family, user, .. } = found;
        let successor = presented.successor(master);
        let token_expires_at = now.saturating_add(policy.idle_ttl).min(family.expires_at);
        rows::insert_token(
            conn,
            &NewToken {
                token_hash: &successor.hash(),
                family_id: &family.id,
                generation,
                issued_at: now,
                expires_at: token_expires_at,
                ip: origin.ip,
                user_agent: origin.user_agent,
            },
        )?;
        Ok(Outcome::Rotated { family, user: Box::new(user), token: successor, token_expires_at })
    })
}

fn exceeds_family_scope(requested: Option<&Scope>, family: &FamilyRow) -> bool {
    requested.is_some_and(|r| !r.is_subset(&Scope::parse(&family.scope).unwrap_or_default()))
}

/// A request from elsewhere than the family's login: with `binding = enforce` the family is
/// revoked and the request refused; with `audit` it is recorded and goes on.
fn check_binding(
    conn: &mut DbConnection,
    family: &FamilyRow,
    origin: Origin<'_>,
    now: i64,
    policy: &FamilyPolicy,
) -> Result<Option<Outcome>, diesel::result::Error> {
    if policy.binding == BindingPolicy::Off || same_origin(family, origin, policy.binding_ip) {
        return Ok(None);
    }
    let detail = json!({
        "user_id": family.user_id,
        "created": { "ip": family.created_ip, "user_agent": family.created_user_agent },
        "now": { "ip": origin.ip, "user_agent": origin.user_agent },
    });
    if policy.binding == BindingPolicy::Enforce {
        revoke(conn, family, now, "binding", detail, origin)?;
        return Ok(Some(Outcome::Refused(Refusal::Elsewhere { family_id: family.id.clone() })));
    }
    record(conn, now, "refresh.binding_mismatch", &family.id, detail, origin)?;
    Ok(None)
}

/// Within the grace window, a replay of the token whose successor is the family's unused head
/// gets that successor again (recomputed, never stored in plain text).
fn grace_replay(
    master: &MasterKey,
    presented: &RefreshToken,
    ClaimedRows { token, family, user, next }: &ClaimedRows,
    now: i64,
    policy: &FamilyPolicy,
) -> Option<Outcome> {
    let within = token.rotated_at.is_some_and(|at| now.saturating_sub(at) <= policy.reuse_grace);
    if policy.reuse_grace <= 0 || !within || !family.is_active(now) {
        return None;
    }
    let head = next.as_ref()?;
    let successor = presented.successor(master);
    if head.rotated_at.is_some() || head.token_hash != successor.hash() || now >= head.expires_at {
        return None;
    }
    Some(Outcome::Replayed {
        family: family.clone(),
        user: Box::new(user.clone()),
        token: successor,
        token_expires_at: head.expires_at,
    })
}

fn revoke(
    conn: &mut DbConnection,
    family: &FamilyRow,
    now: i64,
    reason: &str,
    detail: serde_json::Value,
    origin: Origin<'_>,
) -> Result<(), diesel::result::Error> {
    if refresh::revoke_family(conn, &family.id, now, reason)? > 0 {
        log::warn!("revoked refresh family {} of user {}: {reason}", family.id, family.user_id);
        record(conn, now, &format!("refresh.revoked.{reason}"), &family.id, detail, origin)?;
    }
    Ok(())
}

fn record(
    conn: &mut DbConnection,
    now: i64,
    kind: &str,
    family_id: &str,
    detail: serde_json::Value,
    origin: Origin<'_>,
) -> Result<(), diesel::result::Error> {
    audit::record(
        conn,
        &AuditEvent {
            at: now,
            kind,
            actor: None,
            subject: Some(family_id),
            ip: origin.ip,
            detail: detail.to_string(),
        },
    )
}

/// Same User-Agent and, with `compare_ip`, the same /24 (IPv4) or /64 (IPv6).
fn same_origin(family: &FamilyRow, origin: Origin<'_>, compare_ip: bool) -> bool {
    if family.created_user_agent.as_deref() != origin.user_agent {
        return false;
    }
    if !compare_ip {
        return true;
    }
    let parse = |ip: Option<&str>| ip.and_then(|i| i.parse::<IpAddr>().ok());
    match (parse(family.created_ip.as_deref()), parse(origin.ip)) {
        (Some(IpAddr::V4(a)), Some(IpAddr::V4(b))) => a.octets().get(..3) == b.octets().get(..3),
        (Some(IpAddr::V6(a)), Some(IpAddr::V6(b))) => a.segments().get(..4) == b.segments().get(..4),
        (None, None) => true,
        _ => false,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn family(ip: &str, user_agent: &str) -> FamilyRow {
        FamilyRow {
            id: "f".into(),
            user_id: "u".into(),
            client_id: "c".into(),
            scope: String::new(),
            created_at: 0,
            expires_at: 10,
            created_ip: Some(ip.into()),
            created_user_agent: Some(user_agent.into()),
            revoked_at: None,
            revoked_reason: None,
        }
    }

    #[test]
    fn origin_binding_compares_user_agent_and_optionally_the_network() {
        let created = family("203.0.113.7", "app/1.0");
        let from = |ip, user_agent| Origin { ip: Some(ip), user_agent: Some(user_agent) };
        assert!(same_origin(&created, from("198.51.100.1", "app/1.0"), false), "addresses ignored");
        assert!(!same_origin(&created, from("203.0.113.7", "curl/8"), false), "another User-Agent");
        assert!(same_origin(&created, from("203.0.113.200", "app/1.0"), true), "same /24");
        assert!(!same_origin(&created, from("203.0.114.7", "app/1.0"), true), "another /24");
        let v6 = family("2001:db8:1:2::5", "app/1.0");
        assert!(same_origin(&v6, from("2001:db8:1:2:ffff::1", "app/1.0"), true), "same /64");
        assert!(!same_origin(&v6, from("2001:db8:1:3::5", "app/1.0"), true), "another /64");
        assert!(!same_origin(&v6, from("203.0.113.7", "app/1.0"), true), "another family of address");
    }
}
