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
use crate::store::family_heads::{self as heads, HeadRow};
use crate::store::refresh::{self as rows, ClaimedRows, FamilyRow, NewFamily, NewToken};
use crate::store::users::UserRow;
use crate::tokens::families::BindingPolicy;
use crate::tokens::families::{FamilyPolicy, Login, Origin, Refusal, TokenFormat};
use crate::tokens::refresh::{Located, Position, RefreshToken};
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

/// Starts a family for `owner`: one row, holding the hash of its first family token; or, with
/// `refresh.token_format = "row"`, that row and its first token's.
pub fn start(
    conn: &mut DbConnection,
    master: &MasterKey,
    owner: FamilyOwner<'_>,
    origin: Origin<'_>,
    now: i64,
    policy: &FamilyPolicy,
) -> Result<Login, FamilyError> {
    let login = Login::begin(now, policy, master).map_err(|_| FamilyError::Random)?;
    let is_family_token = policy.token_format == TokenFormat::Family;
    let head_hash = login.token.hash();
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
        head_hash: is_family_token.then_some(&head_hash[..]),
        generation: is_family_token.then_some(1),
        head_expires_at: is_family_token.then_some(login.token_expires_at),
    };
    if is_family_token {
        rows::insert_family(conn, &family)?;
        return Ok(login);
    }
    let first = NewToken {
        token_hash: &head_hash,
        family_id: &login.family_id,
        generation: 1,
        issued_at: now,
        expires_at: login.token_expires_at,
        ip: origin.ip,
        user_agent: origin.user_agent,
    };
    conn.transaction(|conn| {
        rows::insert_family(conn, &family)?;
        rows::insert_token(conn, &first)
    })?;
    Ok(login)
}

/// Rotates `presented` for `request`'s client, in one transaction: claims the token (the
/// statement only one caller wins), reads its family, and does what [`decide`] says. A
/// requested scope beyond the family's, or a resource outside its grant, rolls the whole
/// transaction back: the token stays usable.
///
/// A family token is claimed in its family's row ([`heads::claim`]); a row token, of a family
/// started before family tokens, in its own `refresh_tokens` row, and its family goes on with
/// row tokens until it ends. On PostgreSQL the usual case is tried first as one statement.
pub fn rotate(
    conn: &mut DbConnection,
    master: &MasterKey,
    presented: &RefreshToken,
    request: RefreshRequest<'_>,
    policy: &FamilyPolicy,
) -> Result<Outcome, FamilyError> {
    let successor = presented.successor(master);
    let successor_hash = successor.hash();
    let claimant = match presented.locate(master) {
        Located::Forged => return Ok(Outcome::Refused(Refusal::Unknown)),
        Located::Family(position) => Claimant::Head { position, hash: presented.hash() },
        Located::Row => Claimant::Row { hash: presented.hash() },
    };
    if let Some((family, user, token_expires_at)) =
        rotate_in_one_statement(conn, &claimant, &successor_hash, &request, policy)?
    {
        return Ok(Outcome::Rotated { family, user: Box::new(user), token: successor, token_expires_at });
    }
    let mut mismatched: Option<FamilyRow> = None;
    let outcome = conn.transaction(|conn| -> Result<Outcome, FamilyError> {
        let Some(found) = claimant.claim(conn, &successor_hash, request.now, request.origin)? else {
            return Ok(Outcome::Refused(Refusal::Unknown));
        };
        let decision = decide(&found.claim, &found.facts(), &request, policy);
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

/// Where a presented token is claimed.
enum Claimant {
    /// A family token: in its family's row.
    Head { position: Position, hash: Vec<u8> },
    /// A row token: in its `refresh_tokens` row.
    Row { hash: Vec<u8> },
}

/// When a token was used, and from where.
#[derive(Debug, Clone, Default)]
struct Use {
    at: Option<i64>,
    ip: Option<String>,
    user_agent: Option<String>,
}

/// What a claim found: all [`decide`] needs, and what the writes and audit events after it use.
struct Found {
    claimant_is_head: bool,
    family: FamilyRow,
    user: UserRow,
    claim: Claimed,
    next: Option<NextToken>,
    /// The presented token's first use, where it is known: a replay's audit event tells it.
    first_use: Option<Use>,
}

impl Claimant {
    /// The presented token's hash.
    fn hash(&self) -> &[u8] {
        match self {
            Self::Head { hash, .. } | Self::Row { hash } => hash,
        }
    }

    /// Claims the token and reads what the decision needs; `None`: no family has it.
    fn claim(
        &self,
        conn: &mut DbConnection,
        successor_hash: &[u8],
        now: i64,
        origin: Origin<'_>,
    ) -> QueryResult<Option<Found>> {
        match self {
            Self::Head { position, hash } => {
                let Position { family_id, generation } = position;
                let successor_position = (successor_hash, generation.saturating_add(1));
                let origin = (origin.ip, origin.user_agent);
                let won = heads::claim(conn, family_id, hash, successor_position, now, origin)? == 1;
                let Some((family, head, user)) = heads::find(conn, family_id)? else { return Ok(None) };
                Ok(head_claim(*generation, won, &head, successor_hash, now).map(
                    |(claim, next, first_use)| Found {
                        claimant_is_head: true,
                        family,
                        user,
                        claim,
                        next,
                        first_use,
                    },
                ))
            }
            Self::Row { hash } => {
                let won = rows::mark_rotated(conn, hash, now, origin.ip, origin.user_agent)? == 1;
                let Some(found) = rows::find_claimed(conn, hash)? else { return Ok(None) };
                let ClaimedRows { token, family, user, next } = found;
                let next = next.map(|next| NextToken {
                    used: next.rotated_at.is_some(),
                    is_successor: next.token_hash == successor_hash,
                    expires_at: next.expires_at,
                });
                let claim = Claimed {
                    won,
                    generation: token.generation,
                    expires_at: token.expires_at,
                    rotated_at: token.rotated_at,
                };
                let first_use =
                    Use { at: token.rotated_at, ip: token.rotated_ip, user_agent: token.rotated_user_agent };
                Ok(Some(Found {
                    claimant_is_head: false,
                    family,
                    user,
                    claim,
                    next,
                    first_use: Some(first_use),
                }))
            }
        }
    }
}

/// What a claim of the family token of `generation` found in its family's head: the claim, the
/// token after it, and its first use where the head still tells it. `None`: the family has no
/// such token (a family of row tokens, or a generation it never reached).
fn head_claim(
    generation: i64,
    won: bool,
    head: &HeadRow,
    successor_hash: &[u8],
    now: i64,
) -> Option<(Claimed, Option<NextToken>, Option<Use>)> {
    let (Some(current), Some(head_hash), Some(head_expires_at)) =
        (head.generation, head.head_hash.as_deref(), head.head_expires_at)
    else {
        return None;
    };
    if won {
        // The head's expiry is still the presented token's: the claim leaves it for the decision.
        let claim = Claimed { won, generation, expires_at: head_expires_at, rotated_at: Some(now) };
        return Some((claim, None, None));
    }
    if generation >= current {
        return None;
    }
    let last_rotation =
        Use { at: head.rotated_at, ip: head.rotated_ip.clone(), user_agent: head.rotated_user_agent.clone() };
    // Used earlier than the last rotation: when, the head no longer tells (and no grace covers it).
    let is_parent = generation == current - 1;
    let claim = Claimed {
        won,
        generation,
        expires_at: 0,
        rotated_at: if is_parent { head.rotated_at } else { None },
    };
    let next = NextToken {
        used: !is_parent,
        is_successor: is_parent && head_hash == successor_hash,
        expires_at: head_expires_at,
    };
    Some((claim, Some(next), is_parent.then_some(last_rotation)))
}

impl Found {
    fn facts(&self) -> FamilyFacts<'_> {
        let family = &self.family;
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
            next: self.next,
        }
    }
}

/// PostgreSQL's usual refresh as one statement, in one round trip ([`heads::rotate`] for a
/// family token, [`rows::rotate_unused`] for a row token): the plain [`Decision::Rotate`], whose
/// conditions (the winner, unexpired, of a live family of this client, from the login's
/// User-Agent when binding is on) the statement checks itself. Taken only when there is no scope
/// to compare and no address to bind, which it cannot check. Returns the family, its user and
/// when the successor expires; `None` changed nothing: reuse, grace, expiry, another client or
/// User-Agent take [`decide`].
fn rotate_in_one_statement(
    conn: &mut DbConnection,
    claimant: &Claimant,
    successor_hash: &[u8],
    request: &RefreshRequest<'_>,
    policy: &FamilyPolicy,
) -> QueryResult<Option<(FamilyRow, UserRow, i64)>> {
    let DbConnection::Postgres(pg) = conn else {
        return Ok(None);
    };
    if request.requested.is_some() || request.resource.is_some() || policy.binding_ip {
        return Ok(None);
    }
    let hash = claimant.hash();
    let rotation = rows::Rotation {
        hash,
        successor_hash,
        client_id: request.client_id,
        now: request.now,
        idle_until: request.now.saturating_add(policy.idle_ttl),
        ip: request.origin.ip,
        user_agent: request.origin.user_agent,
        same_user_agent: policy.binding != BindingPolicy::Off,
        dpop_jkt: request.dpop_jkt,
    };
    match claimant {
        Claimant::Head { position, .. } => {
            let successor_generation = position.generation.saturating_add(1);
            heads::rotate(
                pg,
                &heads::HeadRotation { family_id: &position.family_id, successor_generation, rotation },
            )
        }
        Claimant::Row { .. } => rows::rotate_unused(pg, &rotation),
    }
}

/// Writes what `decision` says, in the claim's transaction.
fn apply(
    conn: &mut DbConnection,
    decision: Decision,
    found: Found,
    successor: RefreshToken,
    request: &RefreshRequest<'_>,
) -> Result<Outcome, FamilyError> {
    let Found { claimant_is_head, family, user, claim, first_use, .. } = found;
    let (now, origin) = (request.now, request.origin);
    if let Decision::Rotate { binding_mismatch: true, .. }
    | Decision::ReplaySameSuccessor { binding_mismatch: true, .. } = decision
    {
        record(conn, "refresh.binding_mismatch", &family, binding_detail(&family, origin), request)?;
    }
    match decision {
        Decision::Rotate { generation, expires_at, .. } => {
            if claimant_is_head {
                heads::set_expiry(conn, &family.id, expires_at)?;
            } else {
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
            }
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
            // A refused winner's successor was never handed out; as the head of a family token
            // it keeps the presented token's expiry, which the refusal found past (or the family
            // is revoked or ended), so nobody can use it.
            if let (Some((_, reason)), Some(detail)) = (
                refusal.revokes(),
                revocation_detail(&refusal, claim.generation, first_use, &family, request),
            ) {
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
    generation: i64,
    first_use: Option<Use>,
    family: &FamilyRow,
    request: &RefreshRequest<'_>,
) -> Option<serde_json::Value> {
    let origin = request.origin;
    let first_use = first_use.map(|u| json!({ "at": u.at, "ip": u.ip, "user_agent": u.user_agent }));
    match refusal {
        Refusal::Reused { .. } => Some(json!({
            "user_id": family.user_id,
            "client_id": family.client_id,
            "generation": generation,
            "first_use": first_use,
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
