//! The refresh-family use cases, one transaction each: starting a family at login, and rotating
//! a refresh token. What a refresh does is the domain's decision
//! ([`crate::tokens::refresh_decision::decide`]); this module claims the token, gathers what the
//! decision needs, and writes what it says (the successor, a revocation, an audit event) in the
//! claim's transaction. Where PostgreSQL does the usual case in one statement, that is chosen
//! here too, so the domain never learns which backend it runs on.

use diesel::{Connection, QueryResult};
use serde_json::json;

use crate::keys::master::MasterKey;
use crate::store::DbConnection;
use crate::store::audit::{self, AuditEvent};
use crate::store::refresh::{self as rows, ClaimedRows, FamilyRow, NewFamily, NewToken, TokenRow};
use crate::store::users::UserRow;
use crate::tokens::families::BindingPolicy;
use crate::tokens::families::{FamilyPolicy, Login, Origin, Refusal};
use crate::tokens::refresh::RefreshToken;
use crate::tokens::refresh_decision::{Claimed, Decision, FamilyFacts, NextToken, RefreshRequest, decide};

#[derive(Debug, thiserror::Error)]
pub enum FamilyError {
    #[error(transparent)]
    Store(#[from] diesel::result::Error),
    #[error("the system random generator failed")]
    Random,
    /// The refresh asked for more than the family holds; nothing was rotated.
    #[error("the requested scope exceeds the family's")]
    ScopeExceeded,
    /// The refresh named a resource the family's grant did not; nothing was rotated.
    #[error("the requested resource is not the family's")]
    TargetNotGranted,
    /// The family is bound to a DPoP key the request did not prove; nothing was rotated, and a
    /// `refresh.dpop_key_mismatch` event was recorded.
    #[error("the refresh token is bound to another DPoP key")]
    KeyMismatch,
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

/// Whose family a login starts: the user, through which client, with which scope, and, for a
/// browser sign-in, the single sign-on session and when the user authenticated in it.
#[derive(Debug, Clone, Copy)]
pub struct FamilyOwner<'a> {
    pub user_id: &'a str,
    pub client_id: &'a str,
    pub scope: &'a str,
    pub session_id: Option<&'a str>,
    pub auth_time: i64,
    /// The resources the grant named (space-separated), if any.
    pub resources: &'a str,
    /// The DPoP key the family's refresh tokens are bound to, if any.
    pub dpop_jkt: Option<&'a str>,
}

/// Starts a family for `owner`.
pub fn start(
    conn: &mut DbConnection,
    owner: FamilyOwner<'_>,
    origin: Origin<'_>,
    now: i64,
    policy: &FamilyPolicy,
) -> Result<Login, FamilyError> {
    let login = Login::begin(now, policy).map_err(|_| FamilyError::Random)?;
    let family = NewFamily {
        id: &login.family_id,
        user_id: owner.user_id,
        client_id: owner.client_id,
        scope: owner.scope,
        created_at: now,
        expires_at: login.family_expires_at,
        created_ip: origin.ip,
        created_user_agent: origin.user_agent,
        session_id: owner.session_id,
        auth_time: Some(owner.auth_time),
        resources: owner.resources,
        dpop_jkt: owner.dpop_jkt,
    };
    let first = NewToken {
        token_hash: &login.token.hash(),
        family_id: &login.family_id,
        generation: 1,
        issued_at: now,
        expires_at: login.token_expires_at,
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
    Ok(login)
}

/// Rotates `presented` for `request`'s client, in one transaction: claims the token (the
/// statement only one caller wins), reads its family, and does what [`decide`] says. A
/// requested scope beyond the family's, or a resource outside its grant, rolls the whole
/// transaction back: the token stays usable.
///
/// On PostgreSQL the usual case is tried first as one statement ([`rotate_in_one_statement`]).
pub fn rotate(
    conn: &mut DbConnection,
    master: &MasterKey,
    presented: &RefreshToken,
    request: RefreshRequest<'_>,
    policy: &FamilyPolicy,
) -> Result<Outcome, FamilyError> {
    let (now, origin) = (request.now, request.origin);
    let (hash, successor) = (presented.hash(), presented.successor(master));
    if let Some((family, user, token_expires_at)) =
        rotate_in_one_statement(conn, &hash, &successor, &request, policy)?
    {
        return Ok(Outcome::Rotated { family, user: Box::new(user), token: successor, token_expires_at });
    }
    let mut mismatched: Option<FamilyRow> = None;
    let outcome = conn.transaction(|conn| -> Result<Outcome, FamilyError> {
        let won = rows::mark_rotated(conn, &hash, now, origin.ip, origin.user_agent)? == 1;
        let Some(found) = rows::find_claimed(conn, &hash)? else {
            return Ok(Outcome::Refused(Refusal::Unknown));
        };
        let decision = decide(&claimed(&found, won), &family_facts(&found, &successor), &request, policy);
        if decision == Decision::KeyMismatch {
            mismatched = Some(found.family.clone());
        }
        apply(conn, decision, found, successor, &request)
    });
    // Rolled back so the token stays usable by its holder; the attempt is recorded after.
    if let (Err(FamilyError::KeyMismatch), Some(family)) = (&outcome, &mismatched) {
        let detail = json!({
            "user_id": family.user_id,
            "client_id": family.client_id,
            "bound_to": family.dpop_jkt,
            "presented": request.dpop_jkt,
        });
        record(conn, "refresh.dpop_key_mismatch", family, detail, &request)?;
    }
    outcome
}

/// PostgreSQL's usual refresh as one statement, in one round trip ([`rows::rotate_unused`]): the
/// plain [`Decision::Rotate`], whose conditions (the winner, unexpired, of a live family of this
/// client, from the login's User-Agent when binding is on) the statement checks itself. Taken
/// only when there is no scope to compare and no address to bind, which it cannot check.
/// Returns the family, its user and when the successor expires; `None` changed nothing: reuse,
/// grace, expiry, another client or User-Agent take [`decide`].
fn rotate_in_one_statement(
    conn: &mut DbConnection,
    hash: &[u8],
    successor: &RefreshToken,
    request: &RefreshRequest<'_>,
    policy: &FamilyPolicy,
) -> QueryResult<Option<(FamilyRow, UserRow, i64)>> {
    let DbConnection::Postgres(pg) = conn else {
        return Ok(None);
    };
    if request.requested.is_some() || request.resource.is_some() || policy.binding_ip {
        return Ok(None);
    }
    let rotation = rows::Rotation {
        hash,
        successor_hash: &successor.hash(),
        client_id: request.client_id,
        now: request.now,
        idle_until: request.now.saturating_add(policy.idle_ttl),
        ip: request.origin.ip,
        user_agent: request.origin.user_agent,
        same_user_agent: policy.binding != BindingPolicy::Off,
        dpop_jkt: request.dpop_jkt,
    };
    rows::rotate_unused(pg, &rotation)
}

fn claimed(found: &ClaimedRows, won: bool) -> Claimed {
    let token = &found.token;
    Claimed { won, generation: token.generation, expires_at: token.expires_at, rotated_at: token.rotated_at }
}

fn family_facts<'a>(found: &'a ClaimedRows, successor: &RefreshToken) -> FamilyFacts<'a> {
    let family = &found.family;
    let next = found.next.as_ref().map(|next| NextToken {
        used: next.rotated_at.is_some(),
        is_successor: next.token_hash == successor.hash(),
        expires_at: next.expires_at,
    });
    FamilyFacts {
        id: &family.id,
        client_id: &family.client_id,
        scope: &family.scope,
        resources: &family.resources,
        dpop_jkt: family.dpop_jkt.as_deref(),
        expires_at: family.expires_at,
        revoked: family.revoked_at.is_some(),
        created: Origin {
            ip: family.created_ip.as_deref(),
            user_agent: family.created_user_agent.as_deref(),
        },
        next,
    }
}

/// Writes what `decision` says, in the claim's transaction.
fn apply(
    conn: &mut DbConnection,
    decision: Decision,
    found: ClaimedRows,
    successor: RefreshToken,
    request: &RefreshRequest<'_>,
) -> Result<Outcome, FamilyError> {
    let ClaimedRows { token, family, user, .. } = found;
    let (now, origin) = (request.now, request.origin);
    if let Decision::Rotate { binding_mismatch: true, .. }
    | Decision::ReplaySameSuccessor { binding_mismatch: true, .. } = decision
    {
        record(conn, "refresh.binding_mismatch", &family, binding_detail(&family, origin), request)?;
    }
    match decision {
        Decision::Rotate { generation, expires_at, .. } => {
            let next = NewToken {
                token_hash: &successor.hash(),
                family_id: &family.id,
                generation,
                issued_at: now,
                expires_at,
                ip: origin.ip,
                user_agent: origin.user_agent,
            };
            rows::insert_token(conn, &next)?;
            Ok(Outcome::Rotated {
                family,
                user: Box::new(user),
                token: successor,
                token_expires_at: expires_at,
            })
        }
        Decision::ReplaySameSuccessor { expires_at, .. } => Ok(Outcome::Replayed {
            family,
            user: Box::new(user),
            token: successor,
            token_expires_at: expires_at,
        }),
        Decision::Refuse(refusal) => {
            if let (Some((_, reason)), Some(detail)) =
                (refusal.revokes(), revocation_detail(&refusal, &token, &family, request))
            {
                revoke(conn, &family, reason, detail, request)?;
            }
            Ok(Outcome::Refused(refusal))
        }
        Decision::ScopeExceeded => Err(FamilyError::ScopeExceeded),
        Decision::TargetNotGranted => Err(FamilyError::TargetNotGranted),
        Decision::KeyMismatch => Err(FamilyError::KeyMismatch),
    }
}

/// What the audit event of a revoking refusal records.
fn revocation_detail(
    refusal: &Refusal,
    token: &TokenRow,
    family: &FamilyRow,
    request: &RefreshRequest<'_>,
) -> Option<serde_json::Value> {
    let origin = request.origin;
    match refusal {
        Refusal::Reused { .. } => Some(json!({
            "user_id": family.user_id,
            "client_id": family.client_id,
            "generation": token.generation,
            "first_use": { "at": token.rotated_at, "ip": token.rotated_ip, "user_agent": token.rotated_user_agent },
            "second_use": { "at": request.now, "ip": origin.ip, "user_agent": origin.user_agent },
        })),
        Refusal::WrongClient { .. } => Some(json!({ "presented_by": request.client_id })),
        Refusal::Elsewhere { .. } => Some(binding_detail(family, origin)),
        Refusal::Unknown | Refusal::Expired | Refusal::FamilyRevoked => None,
    }
}

/// Where the login came from and where this request does.
fn binding_detail(family: &FamilyRow, origin: Origin<'_>) -> serde_json::Value {
    json!({
        "user_id": family.user_id,
        "created": { "ip": family.created_ip, "user_agent": family.created_user_agent },
        "now": { "ip": origin.ip, "user_agent": origin.user_agent },
    })
}

/// Revokes the family and records why, unless it was revoked already (the first reason stands).
fn revoke(
    conn: &mut DbConnection,
    family: &FamilyRow,
    reason: &str,
    detail: serde_json::Value,
    request: &RefreshRequest<'_>,
) -> QueryResult<()> {
    if rows::revoke_family(conn, &family.id, request.now, reason)? > 0 {
        log::warn!("revoked refresh family {} of user {}: {reason}", family.id, family.user_id);
        record(conn, &format!("refresh.revoked.{reason}"), family, detail, request)?;
    }
    Ok(())
}

fn record(
    conn: &mut DbConnection,
    kind: &str,
    family: &FamilyRow,
    detail: serde_json::Value,
    request: &RefreshRequest<'_>,
) -> QueryResult<()> {
    let event = AuditEvent {
        at: request.now,
        kind,
        actor: None,
        subject: Some(&family.id),
        ip: request.origin.ip,
        detail: detail.to_string(),
    };
    audit::record(conn, &event)
}
