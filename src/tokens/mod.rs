//! Access tokens (RFC 9068), ID tokens and logout tokens: what they claim and how they are
//! issued.

pub mod authorization;
pub mod client_assertion;
pub mod dpop;
pub mod exchange;
pub mod families;
pub mod refresh;
pub mod refresh_decision;
pub mod resource;
pub mod verify;
pub mod workload_token;

use aws_lc_rs::digest;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::accounts::clients::{Client, random_id};
use crate::accounts::users::User;
use crate::keys::signing::{Algorithm, SigningError, SigningKey};
pub use crate::scope::ADMIN_SCOPE;
use crate::scope::Scope;
use exchange::{Actor, Exchange};

/// The `typ` header of every access token (RFC 9068 §2.1).
pub const ACCESS_TOKEN_TYPE: &str = "at+jwt";

/// The `typ` header of a logout token (OpenID Connect Back-Channel Logout 1.0 §2.4).
pub const LOGOUT_TOKEN_TYPE: &str = "logout+jwt";

/// The event a logout token carries (Back-Channel Logout 1.0 §2.4).
pub const BACKCHANNEL_LOGOUT_EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";

/// How long a logout token is valid: it is sent at once, and only replayed within this window
/// could it be accepted twice (the receiver's `jti` check covers that).
pub const LOGOUT_TOKEN_TTL_SECS: i64 = 120;

/// `aud`: one string when there is one audience, an array otherwise (RFC 7519 §4.1.3).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Audience {
    One(String),
    Many(Vec<String>),
}

impl Audience {
    fn from_list(mut list: Vec<String>) -> Self {
        match list.len() {
            1 => Self::One(list.remove(0)),
            _ => Self::Many(list),
        }
    }

    pub fn contains(&self, audience: &str) -> bool {
        match self {
            Self::One(a) => a == audience,
            Self::Many(all) => all.iter().any(|a| a == audience),
        }
    }
}

/// The claims of an access token (RFC 9068 §2.2).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessClaims {
    pub iss: String,
    pub sub: String,
    pub aud: Audience,
    pub exp: i64,
    pub iat: i64,
    pub nbf: i64,
    pub jti: String,
    pub client_id: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub scope: String,
    /// The refresh family a user's token belongs to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
    /// Who acted, for a token issued by token exchange (RFC 8693 §4.1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub act: Option<Actor>,
    /// The DPoP key the token is bound to (RFC 9449 §6.1, RFC 7800).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cnf: Option<Confirmation>,
    /// A user's custom claims (roles, …); never a registered claim name.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `cnf` of a DPoP-bound token: the SHA-256 thumbprint (RFC 7638) of the client's public key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Confirmation {
    pub jkt: String,
}

impl AccessClaims {
    /// The DPoP key this token is bound to, if it is bound.
    pub fn dpop_jkt(&self) -> Option<&str> {
        self.cnf.as_ref().map(|cnf| cnf.jkt.as_str())
    }
}

/// The claims of a logout token (Back-Channel Logout 1.0 §2.4): who logged out (`sub`) of
/// which login (`sid`, the refresh family), for which client (`aud`). Never a `nonce`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogoutClaims {
    pub iss: String,
    pub aud: String,
    pub iat: i64,
    pub exp: i64,
    pub jti: String,
    pub sub: String,
    pub sid: String,
    pub events: Map<String, Value>,
}

#[derive(Debug, thiserror::Error)]
pub enum IssueError {
    #[error(transparent)]
    Signing(#[from] SigningError),
    #[error("the system random generator failed")]
    Random,
}

/// How tokens are minted: who we are, for how long, for whom by default.
#[derive(Debug, Clone)]
pub struct TokenIssuer {
    pub issuer: String,
    pub access_ttl_secs: i64,
    pub default_audience: String,
}

/// The login (refresh family) a user's tokens are issued in.
#[derive(Debug, Clone, Copy)]
pub struct TokenFamily<'a> {
    pub family_id: &'a str,
    /// The family's absolute expiry.
    pub ends_at: i64,
}

impl TokenFamily<'_> {
    /// A token's `exp`: its lifetime from `now`, but never past the end of the login.
    pub fn token_exp(&self, now: i64, ttl: i64) -> i64 {
        now.saturating_add(ttl).min(self.ends_at)
    }
}

/// What a token request asked for and proved: the scope (already checked), the resources it
/// named (RFC 8707; none: the client's usual audiences), and the DPoP key it proved possession
/// of (RFC 9449), which the token is then bound to.
#[derive(Debug, Clone, Default)]
pub struct Requested {
    pub scope: Scope,
    pub resources: Vec<String>,
    pub dpop_jkt: Option<String>,
}

/// What one access token grants: to whom, which scope, for which resources (none: the client's
/// usual audiences), bound to which DPoP key, in which login (`sid`), acted on by whom, with
/// which custom claims, until when.
struct Grant<'a> {
    subject: &'a str,
    requested: Requested,
    sid: Option<String>,
    act: Option<Actor>,
    extra: Map<String, Value>,
    exp: i64,
}

/// What an ID token says beside the user and the login: when the user authenticated, the
/// authorization request's `nonce`, and the access token issued with it (for `at_hash`).
#[derive(Debug, Clone, Copy)]
pub struct IdTokenFacts<'a> {
    pub auth_time: i64,
    pub nonce: Option<&'a str>,
    pub access_token: &'a str,
    pub scope: &'a Scope,
}

/// `at_hash` (OIDC Core §3.1.3.6): the left half of the access token's hash, with the hash the
/// signing algorithm uses (SHA-512 for EdDSA over Ed25519), base64url.
fn access_token_hash(alg: Algorithm, access_token: &str) -> String {
    let hash = match alg {
        Algorithm::EdDsa => &digest::SHA512,
        Algorithm::Rs256 | Algorithm::Es256 => &digest::SHA256,
    };
    let full = digest::digest(hash, access_token.as_bytes());
    let bytes = full.as_ref();
    URL_SAFE_NO_PAD.encode(bytes.get(..bytes.len() / 2).unwrap_or(bytes))
}

/// A signed token and the facts the token response repeats.
#[derive(Debug)]
pub struct IssuedToken {
    pub token: String,
    pub expires_in: i64,
    pub scope: Scope,
    /// `DPoP` for a token bound to a key, `Bearer` otherwise.
    pub token_type: &'static str,
}

impl TokenIssuer {
    /// A token for a client acting on its own behalf (`client_credentials`): `sub` is the
    /// client id (RFC 9068 §2.2).
    pub fn client_token(
        &self,
        key: &SigningKey,
        client: &Client,
        requested: Requested,
        now: i64,
    ) -> Result<IssuedToken, IssueError> {
        let exp = now + self.access_ttl_secs;
        let grant = Grant { subject: &client.id, requested, sid: None, act: None, extra: Map::new(), exp };
        self.access_token(key, client, grant, now)
    }

    /// The token a token exchange issues to `client` (RFC 8693): the subject token's subject,
    /// login and custom claims, for the exchange's one audience and scope, with `act` naming the
    /// client (and the subject token's actors, nested), bound to `dpop_jkt` when the request
    /// proved a key.
    pub fn exchanged_token(
        &self,
        key: &SigningKey,
        client: &Client,
        subject: &AccessClaims,
        (exchange, dpop_jkt): (Exchange, Option<String>),
        now: i64,
    ) -> Result<IssuedToken, IssueError> {
        let grant = Grant {
            subject: &subject.sub,
            requested: Requested { scope: exchange.scope, resources: vec![exchange.audience], dpop_jkt },
            sid: subject.sid.clone(),
            act: Some(exchange.act),
            extra: subject.extra.clone(),
            exp: exchange.exp,
        };
        self.access_token(key, client, grant, now)
    }

    /// Signs an RFC 9068 access token for `grant`, issued at `now`.
    fn access_token(
        &self,
        key: &SigningKey,
        client: &Client,
        grant: Grant<'_>,
        now: i64,
    ) -> Result<IssuedToken, IssueError> {
        let Requested { scope, resources, dpop_jkt } = grant.requested;
        let token_type = if dpop_jkt.is_some() { dpop::DPOP_TOKEN_TYPE } else { dpop::BEARER_TOKEN_TYPE };
        let claims = AccessClaims {
            iss: self.issuer.clone(),
            sub: grant.subject.to_owned(),
            aud: self.audience(client, &scope, resources),
            exp: grant.exp,
            iat: now,
            nbf: now,
            jti: random_id().map_err(|_| IssueError::Random)?,
            client_id: client.id.clone(),
            scope: scope.to_string(),
            sid: grant.sid,
            act: grant.act,
            cnf: dpop_jkt.map(|jkt| Confirmation { jkt }),
            extra: grant.extra,
        };
        let token = key.sign_jwt(ACCESS_TOKEN_TYPE, &claims)?;
        Ok(IssuedToken { token, expires_in: grant.exp - now, scope, token_type })
    }

    /// The resources the request named (RFC 8707), else the client's registered audiences, or
    /// the default; but a token carrying `jwtd:admin` is for jwtd alone, whatever the client,
    /// the request or the defaults say: a resource server must never accept it, and jwtd's
    /// admin API accepts only tokens whose `aud` is the issuer.
    fn audience(&self, client: &Client, scope: &Scope, resources: Vec<String>) -> Audience {
        if scope.contains(ADMIN_SCOPE) {
            Audience::One(self.issuer.clone())
        } else if !resources.is_empty() {
            Audience::from_list(resources)
        } else if client.audiences.is_empty() {
            Audience::One(self.default_audience.clone())
        } else {
            Audience::from_list(client.audiences.clone())
        }
    }

    /// A token for a user, through `client`, in the refresh family `login` names: `sub` is the
    /// user, `sid` the family, the user's custom claims ride along, and it expires no later than
    /// the login ends.
    pub fn user_token(
        &self,
        key: &SigningKey,
        (client, user): (&Client, &User),
        requested: Requested,
        login: &TokenFamily<'_>,
        now: i64,
    ) -> Result<IssuedToken, IssueError> {
        let sid = Some(login.family_id.to_owned());
        let exp = login.token_exp(now, self.access_ttl_secs);
        let extra = user.claims.clone();
        let grant = Grant { subject: &user.id, requested, sid, act: None, extra, exp };
        self.access_token(key, client, grant, now)
    }

    /// An OpenID Connect ID token (`typ: JWT`, `aud` = the client) for a user's login (OIDC
    /// Core §2): `auth_time`, `nonce` when the request had one, `at_hash` of the access token
    /// issued with it, `sid` = the login's family, and the standard claims the scope allows
    /// (`email` only with scope `email`); the user's custom claims ride along.
    pub fn id_token(
        &self,
        key: &SigningKey,
        client: &Client,
        user: &User,
        login: &TokenFamily<'_>,
        facts: &IdTokenFacts<'_>,
        now: i64,
    ) -> Result<String, IssueError> {
        let mut claims = user.claims.clone();
        let mut registered = serde_json::json!({
            "iss": self.issuer,
            "sub": user.id,
            "aud": client.id,
            "azp": client.id,
            "exp": login.token_exp(now, self.access_ttl_secs),
            "iat": now,
            "auth_time": facts.auth_time,
            "sid": login.family_id,
            "amr": ["pwd"],
            "at_hash": access_token_hash(key.alg(), facts.access_token),
        });
        if let Value::Object(registered) = &mut registered {
            if let Some(nonce) = facts.nonce {
                registered.insert("nonce".to_owned(), nonce.into());
            }
            if facts.scope.contains("email") {
                registered.insert("email".to_owned(), user.email.clone().into());
            }
        }
        if let Value::Object(registered) = registered {
            claims.extend(registered);
        }
        Ok(key.sign_jwt("JWT", &claims)?)
    }

    /// A logout token for `client_id`: the user `sub` logged out of the login `sid` at `now`
    /// (Back-Channel Logout 1.0 §2.4; `typ: logout+jwt`, valid two minutes).
    pub fn logout_token(
        &self,
        key: &SigningKey,
        client_id: &str,
        sub: &str,
        sid: &str,
        now: i64,
    ) -> Result<String, IssueError> {
        let claims = LogoutClaims {
            iss: self.issuer.clone(),
            aud: client_id.to_owned(),
            iat: now,
            exp: now + LOGOUT_TOKEN_TTL_SECS,
            jti: random_id().map_err(|_| IssueError::Random)?,
            sub: sub.to_owned(),
            sid: sid.to_owned(),
            events: Map::from_iter([(BACKCHANNEL_LOGOUT_EVENT.to_owned(), Value::Object(Map::new()))]),
        };
        Ok(key.sign_jwt(LOGOUT_TOKEN_TYPE, &claims)?)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;
    use crate::keys::signing::{Algorithm, generate};

    #[test]
    fn a_logout_token_says_who_left_which_login_and_nothing_more() {
        let generated = generate(Algorithm::Es256, 2048).unwrap();
        let key =
            SigningKey::from_pkcs8(generated.jwk.kid.clone(), Algorithm::Es256, &generated.pkcs8).unwrap();
        let issuer = TokenIssuer {
            issuer: "https://id.example".into(),
            access_ttl_secs: 900,
            default_audience: "https://id.example".into(),
        };
        let part = |token: &str, i: usize| -> Value {
            let text = token.split('.').nth(i).unwrap();
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(text).unwrap()).unwrap()
        };
        let token = issuer.logout_token(&key, "client-1", "user-1", "family-1", 1_000).unwrap();
        assert_eq!(part(&token, 0)["typ"], "logout+jwt");
        assert_eq!(part(&token, 0)["kid"], generated.jwk.kid.as_str());
        let claims = part(&token, 1);
        let expected = serde_json::json!({
            "iss": "https://id.example", "aud": "client-1", "iat": 1_000, "exp": 1_120,
            "jti": claims["jti"], "sub": "user-1", "sid": "family-1",
            "events": { BACKCHANNEL_LOGOUT_EVENT: {} },
        });
        assert_eq!(claims, expected, "no nonce, nothing else");
        assert!(claims["jti"].as_str().is_some_and(|j| j.len() >= 22));
        let again = issuer.logout_token(&key, "client-1", "user-1", "family-1", 1_000).unwrap();
        assert_ne!(part(&again, 1)["jti"], claims["jti"], "a fresh jti each time");
    }
}
