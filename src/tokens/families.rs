//! Refresh families (RFC 9700 §4.14.2): each login starts a family; every refresh atomically
//! marks the presented token used and issues its successor; presenting a used token again
//! revokes the whole family, so a stolen token is worth one use at most, to whoever is first.
//!
//! This module holds what a family is to the domain: its policy, a login, and why a refresh is
//! refused. What a refresh does is decided in [`super::refresh_decision`]; the transactions that
//! run the claim, ask that decision and write its result live in `authority::families`.

use super::refresh::RefreshToken;
use crate::keys::master::MasterKey;

/// What a refresh from another User-Agent (or network) than the login's does: nothing, an
/// audit event, or a refusal that revokes the family (`refresh.binding`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BindingPolicy {
    Off,
    Audit,
    Enforce,
}

/// What a new login's refresh tokens are (`refresh.token_format`; see `super::refresh`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TokenFormat {
    /// Family tokens: the family's row holds its head; a rotation inserts nothing.
    Family,
    /// Row tokens, one stored row each, which instances older than family tokens can read.
    Row,
}

/// The refresh settings in seconds.
#[derive(Debug, Clone, Copy)]
pub struct FamilyPolicy {
    pub idle_ttl: i64,
    pub absolute_ttl: i64,
    pub reuse_grace: i64,
    pub binding: BindingPolicy,
    pub binding_ip: bool,
    pub token_format: TokenFormat,
}

impl FamilyPolicy {
    /// When a token issued at `now` in a family ending at `family_expires_at` expires: after the
    /// idle lifetime, but never past the family's end.
    pub fn token_expires_at(&self, now: i64, family_expires_at: i64) -> i64 {
        now.saturating_add(self.idle_ttl).min(family_expires_at)
    }
}

/// Where a request came from, as far as jwtd can tell.
#[derive(Debug, Clone, Copy, Default)]
pub struct Origin<'a> {
    pub ip: Option<&'a str>,
    pub user_agent: Option<&'a str>,
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

impl Login {
    /// A new login at `now`: a random family id and its first token, of the policy's format, and
    /// when each ends.
    pub fn begin(
        now: i64,
        policy: &FamilyPolicy,
        master: &MasterKey,
    ) -> Result<Self, aws_lc_rs::error::Unspecified> {
        let family_id = crate::accounts::clients::random_id()?;
        let token = match policy.token_format {
            TokenFormat::Family => RefreshToken::first(&family_id, master)?,
            TokenFormat::Row => RefreshToken::generate_row_token()?,
        };
        let family_expires_at = now.saturating_add(policy.absolute_ttl);
        let token_expires_at = policy.token_expires_at(now, family_expires_at);
        Ok(Self { family_id, token, token_expires_at, family_expires_at })
    }
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

impl Refusal {
    /// The family this refusal revokes and why (`refresh.revoked.{reason}` in the audit log),
    /// or `None` when it revokes nothing.
    pub fn revokes(&self) -> Option<(&str, &'static str)> {
        match self {
            Self::Reused { family_id } => Some((family_id, "reuse")),
            Self::WrongClient { family_id } => Some((family_id, "wrong_client")),
            Self::Elsewhere { family_id } => Some((family_id, "binding")),
            Self::Unknown | Self::Expired | Self::FamilyRevoked => None,
        }
    }
}
