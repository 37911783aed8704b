//! The claims of an access token (RFC 9068 §2.2), typed, and the checks every token must pass.
//!
//! The verifier never builds a generic JSON map of a token's claims: [`RegisteredClaims`]
//! reads the registered ones straight from the payload bytes in one strict pass, the policy
//! checks them there, and only then are the owned [`AccessClaims`] made. [`AccessClaims::from_map`]
//! remains for callers that already hold a map.

use std::fmt;

use serde::de::{self, Deserialize, Deserializer};
use serde_json::{Map, Value};

use crate::Error;

mod actor;
mod confirmation;
mod policy;
mod registered;

pub use actor::{Actor, MAX_DELEGATION_DEPTH};
pub use confirmation::Confirmation;
pub(crate) use policy::ClaimsPolicy;
pub(crate) use registered::RegisteredClaims;

/// The space-separated `scope` claim as a set (RFC 6749 §3.3: order does not matter, and a
/// scope token never contains a space).
///
/// Kept as one string in a canonical form (tokens sorted, no repeats, single spaces): one
/// allocation per token instead of a tree of strings, and a token usually arrives in that
/// form already. Equality is set equality; `contains` is a scan, which for the handful of
/// scopes a token carries beats a tree lookup.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Scope(String);

impl Scope {
    pub fn parse(scope: &str) -> Self {
        if is_canonical(scope) {
            return Self(scope.to_owned());
        }
        let mut all: Vec<&str> = scope.split(' ').filter(|s| !s.is_empty()).collect();
        all.sort_unstable();
        all.dedup();
        Self(all.join(" "))
    }

    pub fn contains(&self, scope: &str) -> bool {
        self.iter().any(|token| token == scope)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The scopes, in sorted order.
    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.0.split(' ').filter(|s| !s.is_empty())
    }
}

/// Sorted, no repeats, tokens separated by exactly one space and none at either end.
fn is_canonical(scope: &str) -> bool {
    let mut previous: Option<&str> = None;
    scope.is_empty()
        || scope.split(' ').all(|token| {
            let in_order = !token.is_empty() && previous.is_none_or(|p| p < token);
            previous = Some(token);
            in_order
        })
}

impl fmt::Debug for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Scope").field(&DebugSet(self)).finish()
    }
}

struct DebugSet<'a>(&'a Scope);

impl fmt::Debug for DebugSet<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.0.iter()).finish()
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A verified access token's claims. `sub`, `client_id`, `jti` and `iat` are required by
/// RFC 9068 and so are plain values here; everything the token carries beyond the registered
/// claims (roles, email, …) is in `extra`.
///
/// A token got by token exchange (RFC 8693) is delegated, and a resource server deciding what
/// to allow should know who is who: `sub` is the user the call is made on behalf of,
/// `client_id` the service that holds the token and calls, and `act` the services that acted,
/// in order (see [`Self::actors`]). An endpoint that must not be reached through delegation,
/// or only through services it knows, checks `act` as well as `sub` and `client_id`.
#[derive(Debug, Clone, PartialEq)]
pub struct AccessClaims {
    pub iss: String,
    pub sub: String,
    /// `aud` as a list, whether the token carried a string or an array.
    pub aud: Vec<String>,
    pub exp: i64,
    pub iat: i64,
    pub nbf: Option<i64>,
    pub jti: String,
    pub client_id: String,
    pub scope: Scope,
    /// The refresh-token family a user's token belongs to.
    pub sid: Option<String>,
    /// The actor (RFC 8693 §4.1) of an exchanged token: the service that acted, and through
    /// its own `act` the ones before it. `None` when the token was not exchanged.
    pub act: Option<Actor>,
    /// The confirmation (RFC 7800) of a sender-constrained token: `cnf.jkt` names the DPoP key
    /// the token is bound to (RFC 9449 §6.1). `None` for a plain bearer token.
    pub cnf: Option<Confirmation>,
    pub extra: Map<String, Value>,
}

/// Registered claims that have a typed field in [`AccessClaims`].
const TYPED_CLAIMS: [&str; 12] =
    ["iss", "sub", "aud", "exp", "iat", "nbf", "jti", "client_id", "scope", "sid", "act", "cnf"];

impl AccessClaims {
    /// Builds the typed claims, refusing wrong types (checked here too, so this is safe to
    /// call on any map). Values are moved out of the map, not copied; what is left over
    /// becomes `extra`.
    pub fn from_map(mut map: Map<String, Value>) -> Result<Self, Error> {
        let aud = audiences(&map)?;
        let scope = scope(&map)?;
        let (exp, iat, nbf) =
            (numeric_date(&map, "exp")?, numeric_date(&map, "iat")?, numeric_date(&map, "nbf")?);
        let mut take = |name: &'static str| match map.remove(name) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(_) => Err(Error::InvalidClaim(name)),
        };
        let claims = Self {
            iss: required(take("iss")?, "iss")?,
            sub: required(take("sub")?, "sub")?,
            aud,
            exp: required(exp, "exp")?,
            iat: required(iat, "iat")?,
            nbf,
            jti: required(take("jti")?, "jti")?,
            client_id: required(take("client_id")?, "client_id")?,
            scope,
            sid: take("sid")?,
            act: map.remove("act").map(Actor::from_value).transpose()?,
            cnf: map.get("cnf").map(Confirmation::from_value).transpose()?,
            extra: Map::new(),
        };
        for name in TYPED_CLAIMS {
            map.remove(name);
        }
        Ok(Self { extra: map, ..claims })
    }

    /// The services that acted in a delegated token, most recent first: for
    /// `"act": {"sub": "service-b", "act": {"sub": "service-a"}}`, `service-b` then
    /// `service-a`. Empty when the token was not delegated.
    pub fn actors(&self) -> impl Iterator<Item = &str> {
        self.act.iter().flat_map(Actor::chain).map(|actor| actor.sub.as_str())
    }

    /// Whether the token was got by token exchange on someone's behalf (it carries `act`).
    pub fn is_delegated(&self) -> bool {
        self.act.is_some()
    }

    /// Whether the token is bound to a DPoP key (it carries `cnf.jkt`): such a token is only
    /// good with a proof of that key ([`crate::Verifier::verify_request`]).
    pub fn is_dpop_bound(&self) -> bool {
        self.cnf.as_ref().is_some_and(|cnf| cnf.jkt.is_some())
    }
}

impl<'de> Deserialize<'de> for AccessClaims {
    /// Strict like the verifier: a repeated claim name, at any depth, is an error.
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let duplicate = std::cell::Cell::new(false);
        RegisteredClaims::deserialize_with_extra(deserializer, &duplicate)?
            .take_access_claims()
            .map_err(de::Error::custom)
    }
}

fn required<T>(value: Option<T>, name: &'static str) -> Result<T, Error> {
    value.ok_or(Error::MissingClaim(name))
}

fn string_claim<'a>(map: &'a Map<String, Value>, name: &'static str) -> Result<Option<&'a str>, Error> {
    match map.get(name) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(Error::InvalidClaim(name)),
    }
}

/// A NumericDate (RFC 7519 §2) as jwtd writes it: a non-negative JSON integer. Strings, null,
/// negative numbers and numbers with a fraction or exponent are refused.
fn numeric_date(map: &Map<String, Value>, name: &'static str) -> Result<Option<i64>, Error> {
    match map.get(name) {
        None => Ok(None),
        Some(Value::Number(n)) => match n.as_i64() {
            Some(seconds) if seconds >= 0 => Ok(Some(seconds)),
            _ => Err(Error::InvalidClaim(name)),
        },
        Some(_) => Err(Error::InvalidClaim(name)),
    }
}

/// `aud`: a non-empty string or a non-empty array of non-empty strings (RFC 7519 §4.1.3).
fn audiences(map: &Map<String, Value>) -> Result<Vec<String>, Error> {
    let non_empty = |v: &Value| match v {
        Value::String(s) if !s.is_empty() => Ok(s.clone()),
        _ => Err(Error::InvalidClaim("aud")),
    };
    match map.get("aud") {
        None => Err(Error::MissingClaim("aud")),
        Some(Value::Array(all)) if !all.is_empty() => all.iter().map(non_empty).collect(),
        Some(one) => Ok(vec![non_empty(one)?]),
    }
}

fn scope(map: &Map<String, Value>) -> Result<Scope, Error> {
    Ok(string_claim(map, "scope")?.map(Scope::parse).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::{AccessClaims, Actor, Confirmation, Scope};
    use crate::Error;

    #[test]
    fn scopes_compare_as_sets_whatever_their_order_spacing_or_repeats() {
        let canonical = Scope::parse("a b c");
        for text in ["c b a", " a  b c ", "b a c a", "a b c"] {
            assert_eq!(Scope::parse(text), canonical, "{text:?}");
            assert_eq!(Scope::parse(text).to_string(), "a b c", "{text:?}");
        }
        assert!(canonical.contains("b") && !canonical.contains("a b") && !canonical.contains(""));
        assert_eq!(canonical.iter().collect::<Vec<_>>(), ["a", "b", "c"]);
        assert!(Scope::parse("").is_empty() && Scope::parse("   ").is_empty());
        assert_eq!(Scope::parse("   "), Scope::default());
        assert_eq!(format!("{canonical:?}"), r#"Scope({"a", "b", "c"})"#);
    }

    #[test]
    fn act_is_typed_and_never_left_in_extra_by_either_way_to_build_claims() {
        let claims = json!({
            "iss": "https://auth.example.com", "sub": "user-42", "aud": "https://api.example.com",
            "exp": 1900, "iat": 1000, "jti": "j", "client_id": "service-b", "roles": ["admin"],
            "act": {"sub": "service-b", "act": {"sub": "service-a"}},
        });
        let expected = Actor {
            sub: "service-b".to_owned(),
            act: Some(Box::new(Actor { sub: "service-a".to_owned(), act: None })),
        };
        let Some(map) = claims.as_object().cloned() else { panic!("an object") };
        let from_map = AccessClaims::from_map(map).unwrap();
        let deserialized: AccessClaims = serde_json::from_value(claims.clone()).unwrap();
        for built in [&from_map, &deserialized] {
            assert_eq!(built.act.as_ref(), Some(&expected));
            assert_eq!(built.actors().collect::<Vec<_>>(), ["service-b", "service-a"]);
            assert!(!built.extra.contains_key("act") && built.extra.contains_key("roles"));
        }

        let mut bad = claims;
        bad["act"]["act"] = json!({"sub": 7});
        let Some(map) = bad.as_object().cloned() else { panic!("an object") };
        assert_eq!(AccessClaims::from_map(map), Err(Error::InvalidClaim("act")));
        assert!(serde_json::from_value::<AccessClaims>(bad).is_err());
    }

    #[test]
    fn cnf_is_typed_never_left_in_extra_and_refused_unless_an_object_with_a_string_jkt() {
        let claims = json!({
            "iss": "https://auth.example.com", "sub": "user-42", "aud": "https://api.example.com",
            "exp": 1900, "iat": 1000, "jti": "j", "client_id": "app", "cnf": {"jkt": "thumb", "x": 1},
        });
        let Some(map) = claims.as_object().cloned() else { panic!("an object") };
        let from_map = AccessClaims::from_map(map).unwrap();
        let deserialized: AccessClaims = serde_json::from_value(claims.clone()).unwrap();
        for built in [&from_map, &deserialized] {
            assert_eq!(built.cnf, Some(Confirmation { jkt: Some("thumb".to_owned()) }));
            assert!(built.is_dpop_bound() && !built.extra.contains_key("cnf"));
        }
        let mut unbound = claims.clone();
        unbound["cnf"] = json!({"x5t#S256": "t"});
        let unbound: AccessClaims = serde_json::from_value(unbound).unwrap();
        assert!(unbound.cnf.is_some() && !unbound.is_dpop_bound());

        for cnf in [json!("thumb"), json!(null), json!(["thumb"]), json!({"jkt": ""}), json!({"jkt": 7})] {
            let mut bad = claims.clone();
            bad["cnf"] = cnf.clone();
            let Some(map) = bad.as_object().cloned() else { panic!("an object") };
            assert_eq!(AccessClaims::from_map(map), Err(Error::InvalidClaim("cnf")), "{cnf}");
            assert!(serde_json::from_value::<AccessClaims>(bad).is_err(), "{cnf}");
        }
    }
}
