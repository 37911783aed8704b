//! The claims of an access token (RFC 9068 §2.2), typed, and the checks every token must pass.

use std::collections::BTreeSet;
use std::fmt;

use serde::de::{self, Deserialize, Deserializer};
use serde_json::{Map, Value};

use crate::Error;

/// The space-separated `scope` claim as a set (RFC 6749 §3.3: order does not matter, and a
/// scope token never contains a space).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scope(BTreeSet<String>);

impl Scope {
    pub fn parse(scope: &str) -> Self {
        Self(scope.split(' ').filter(|s| !s.is_empty()).map(str::to_owned).collect())
    }

    pub fn contains(&self, scope: &str) -> bool {
        self.0.contains(scope)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(String::as_str)
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, scope) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            f.write_str(scope)?;
        }
        Ok(())
    }
}

/// A verified access token's claims. `sub`, `client_id`, `jti` and `iat` are required by
/// RFC 9068 and so are plain values here; everything the token carries beyond the registered
/// claims (roles, email, …) is in `extra`.
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
    pub extra: Map<String, Value>,
}

/// Registered claims that have a typed field in [`AccessClaims`].
const TYPED_CLAIMS: [&str; 10] =
    ["iss", "sub", "aud", "exp", "iat", "nbf", "jti", "client_id", "scope", "sid"];

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
            extra: Map::new(),
        };
        for name in TYPED_CLAIMS {
            map.remove(name);
        }
        Ok(Self { extra: map, ..claims })
    }
}

impl<'de> Deserialize<'de> for AccessClaims {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let map = Map::deserialize(deserializer)?;
        Self::from_map(map).map_err(de::Error::custom)
    }
}

/// What the verifier demands of every token's claims.
#[derive(Debug, Clone)]
pub(crate) struct ClaimsPolicy {
    pub issuer: String,
    pub audience: String,
    pub leeway_secs: i64,
    /// Names that must be present beyond the ones RFC 9068 requires.
    pub required: Vec<String>,
}

/// Claims RFC 9068 §2.2 requires in every access token.
const RFC_9068_REQUIRED: [&str; 7] = ["iss", "exp", "aud", "sub", "client_id", "iat", "jti"];

impl ClaimsPolicy {
    /// Every check on a token's claims; `now` is seconds since the epoch.
    pub fn check(&self, map: &Map<String, Value>, now: i64) -> Result<(), Error> {
        for name in RFC_9068_REQUIRED {
            if !map.contains_key(name) {
                return Err(Error::MissingClaim(name));
            }
        }
        if string_claim(map, "iss")? != Some(self.issuer.as_str()) {
            return Err(Error::WrongIssuer);
        }
        if !audience_contains(map, &self.audience)? {
            return Err(Error::WrongAudience);
        }
        let exp = required(numeric_date(map, "exp")?, "exp")?;
        if now >= exp.saturating_add(self.leeway_secs) {
            return Err(Error::Expired);
        }
        if let Some(nbf) = numeric_date(map, "nbf")?
            && now.saturating_add(self.leeway_secs) < nbf
        {
            return Err(Error::NotYetValid);
        }
        let iat = required(numeric_date(map, "iat")?, "iat")?;
        if now.saturating_add(self.leeway_secs) < iat {
            return Err(Error::IssuedInFuture);
        }
        for name in ["sub", "jti", "client_id"] {
            if required(string_claim(map, name)?, name)?.is_empty() {
                return Err(Error::InvalidClaim(name));
            }
        }
        string_claim(map, "sid")?;
        scope(map)?;
        if self.required.iter().any(|name| !map.contains_key(name.as_str())) {
            return Err(Error::MissingClaim("a configured required claim"));
        }
        Ok(())
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

/// Like [`audiences`], without copying: this runs on every verification.
fn audience_contains(map: &Map<String, Value>, audience: &str) -> Result<bool, Error> {
    let is = |v: &Value| match v {
        Value::String(s) if !s.is_empty() => Ok(s == audience),
        _ => Err(Error::InvalidClaim("aud")),
    };
    match map.get("aud") {
        None => Err(Error::MissingClaim("aud")),
        Some(Value::Array(all)) if !all.is_empty() => {
            let mut found = false;
            for aud in all {
                found |= is(aud)?;
            }
            Ok(found)
        }
        Some(one) => is(one),
    }
}

pub(crate) fn scope(map: &Map<String, Value>) -> Result<Scope, Error> {
    Ok(string_claim(map, "scope")?.map(Scope::parse).unwrap_or_default())
}
