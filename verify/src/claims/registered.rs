//! A token's claims read in one strict pass: the registered ones into [`Member`] slots that
//! borrow from the payload (`act` into an [`ActClaim`], see [`super::actor`]), the rest either
//! kept as JSON values (for [`AccessClaims::extra`]) or only checked and named (when the
//! caller decodes its own type afterwards).
//!
//! A name is a duplicate when its slot is already filled, or when it is already among the
//! other names, so `{"sub":"a","\u0073ub":"b"}` is refused like `{"sub":"a","sub":"b"}`.

use std::borrow::Cow;
use std::cell::Cell;
use std::fmt;

use serde::de::{self, MapAccess, Visitor};
use serde_json::{Map, Value};

use super::actor::{ActClaim, ActorSeed};
use super::confirmation::{Confirmation, jkt_of};
use super::{AccessClaims, Scope, required};
use crate::Error;
use crate::member::{Member, MemberSeed};
use crate::revocations::Revocable;
use crate::strict_json::{
    NameSeed, SeenNames, StrictIgnore, StrictJsonError, StrictSeed, duplicate_error, parse_strict,
};

/// The claims beyond the registered ones.
enum Others<'de> {
    /// Their names only: the values were checked and dropped.
    Names(SeenNames<'de>),
    /// Their names and values, for [`AccessClaims::extra`].
    Values(Map<String, Value>),
}

/// The registered claims of one token, unchecked: [`super::ClaimsPolicy`] decides.
pub(crate) struct RegisteredClaims<'de> {
    pub iss: Option<Member<'de>>,
    pub sub: Option<Member<'de>>,
    pub aud: Option<Member<'de>>,
    pub exp: Option<Member<'de>>,
    pub iat: Option<Member<'de>>,
    pub nbf: Option<Member<'de>>,
    pub jti: Option<Member<'de>>,
    pub client_id: Option<Member<'de>>,
    pub scope: Option<Member<'de>>,
    pub sid: Option<Member<'de>>,
    /// Checked while read; `None` (nothing allocated) when the token was not delegated.
    pub act: Option<ActClaim<'de>>,
    /// `cnf` as read; checked by the policy. `None` for a token not sender-constrained.
    pub cnf: Option<Value>,
    others: Others<'de>,
}

impl<'de> RegisteredClaims<'de> {
    /// Empty slots; `keep_others` keeps unregistered claims' values (needed for
    /// [`AccessClaims::extra`]), otherwise only their names are kept.
    pub fn new(keep_others: bool) -> Self {
        Self {
            iss: None,
            sub: None,
            aud: None,
            exp: None,
            iat: None,
            nbf: None,
            jti: None,
            client_id: None,
            scope: None,
            sid: None,
            act: None,
            cnf: None,
            others: if keep_others {
                Others::Values(Map::new())
            } else {
                Others::Names(SeenNames::default())
            },
        }
    }

    /// Fills the slots from a decoded payload. In place rather than returned: the slots are a
    /// few hundred bytes, and this runs on every verification.
    pub fn parse_into(&mut self, payload: &'de [u8]) -> Result<(), StrictJsonError> {
        parse_strict(payload, |deserializer, duplicate| {
            de::Deserializer::deserialize_map(deserializer, ClaimsVisitor { duplicate, claims: self })
        })
    }

    /// Reads the claims from any deserializer, keeping unregistered claims' values.
    pub fn deserialize_with_extra<D: de::Deserializer<'de>>(
        deserializer: D,
        duplicate: &Cell<bool>,
    ) -> Result<Self, D::Error> {
        let mut claims = Self::new(true);
        deserializer.deserialize_map(ClaimsVisitor { duplicate, claims: &mut claims })?;
        Ok(claims)
    }

    /// Whether the token carries a claim called `name`.
    pub fn contains(&self, name: &str) -> bool {
        match self.slot(name) {
            Some(slot) => slot.is_some(),
            None if name == "act" => self.act.is_some(),
            None if name == "cnf" => self.cnf.is_some(),
            None => match &self.others {
                Others::Names(names) => names.contains(name),
                Others::Values(map) => map.contains_key(name),
            },
        }
    }

    fn slot(&self, name: &str) -> Option<&Option<Member<'de>>> {
        Some(match name {
            "iss" => &self.iss,
            "sub" => &self.sub,
            "aud" => &self.aud,
            "exp" => &self.exp,
            "iat" => &self.iat,
            "nbf" => &self.nbf,
            "jti" => &self.jti,
            "client_id" => &self.client_id,
            "scope" => &self.scope,
            "sid" => &self.sid,
            _ => return None,
        })
    }

    fn slot_mut(&mut self, name: &str) -> Option<&mut Option<Member<'de>>> {
        Some(match name {
            "iss" => &mut self.iss,
            "sub" => &mut self.sub,
            "aud" => &mut self.aud,
            "exp" => &mut self.exp,
            "iat" => &mut self.iat,
            "nbf" => &mut self.nbf,
            "jti" => &mut self.jti,
            "client_id" => &mut self.client_id,
            "scope" => &mut self.scope,
            "sid" => &mut self.sid,
            _ => return None,
        })
    }

    /// What the revocation feed can name of a token signed by `kid`; meaningful once the
    /// policy passed (then `sub` and `client_id` are strings and `iat` a date).
    pub fn revocable<'a>(&'a self, kid: &'a str) -> Revocable<'a> {
        let text = |member: &'a Option<Member<'de>>| member.as_ref().and_then(Member::as_str);
        Revocable {
            sid: text(&self.sid),
            sub: text(&self.sub).unwrap_or_default(),
            client_id: text(&self.client_id).unwrap_or_default(),
            kid,
            iat: match self.iat {
                Some(Member::Int(iat)) => iat,
                _ => 0,
            },
        }
    }

    /// The thumbprint the token is bound to (`cnf.jkt`), refusing a malformed `cnf`.
    pub fn confirmation_jkt(&self) -> Result<Option<&str>, Error> {
        self.cnf.as_ref().map(jkt_of).transpose().map(Option::flatten)
    }

    pub fn scope(&self) -> Result<Scope, Error> {
        Ok(string_claim(&self.scope, "scope")?.map(Scope::parse).unwrap_or_default())
    }

    /// The owned, typed claims, refusing wrong types in the same order as
    /// [`AccessClaims::from_map`]. Without kept values, `extra` is empty.
    pub fn take_access_claims(&mut self) -> Result<AccessClaims, Error> {
        let aud = audiences(&self.aud)?;
        let scope = self.scope()?;
        let (exp, iat, nbf) = (
            numeric_date(&self.exp, "exp")?,
            numeric_date(&self.iat, "iat")?,
            numeric_date(&self.nbf, "nbf")?,
        );
        let text = |member: &mut Option<Member<'_>>, name| match member.take() {
            None => Ok(None),
            Some(Member::Str(s)) => Ok(Some(s.into_owned())),
            Some(_) => Err(Error::InvalidClaim(name)),
        };
        Ok(AccessClaims {
            iss: required(text(&mut self.iss, "iss")?, "iss")?,
            sub: required(text(&mut self.sub, "sub")?, "sub")?,
            aud,
            exp: required(exp, "exp")?,
            iat: required(iat, "iat")?,
            nbf,
            jti: required(text(&mut self.jti, "jti")?, "jti")?,
            client_id: required(text(&mut self.client_id, "client_id")?, "client_id")?,
            scope,
            sid: text(&mut self.sid, "sid")?,
            act: self.act.take().map(ActClaim::into_actor).transpose()?,
            cnf: self.cnf.as_ref().map(Confirmation::from_value).transpose()?,
            extra: match &mut self.others {
                Others::Values(map) => std::mem::take(map),
                Others::Names(_) => Map::new(),
            },
        })
    }
}

struct ClaimsVisitor<'a, 'de> {
    duplicate: &'a Cell<bool>,
    claims: &'a mut RegisteredClaims<'de>,
}

impl<'de> Visitor<'de> for ClaimsVisitor<'_, 'de> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JWT claims object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<(), A::Error> {
        let duplicate = self.duplicate;
        let claims = self.claims;
        while let Some(name) = access.next_key_seed(NameSeed)? {
            if let Some(slot) = claims.slot_mut(&name) {
                if slot.is_some() {
                    return Err(duplicate_error(duplicate));
                }
                *slot = Some(access.next_value_seed(MemberSeed { duplicate })?);
                continue;
            }
            // Only after the slots: the registered claims every token carries pay no compare for it.
            if name == "act" {
                if claims.act.is_some() {
                    return Err(duplicate_error(duplicate));
                }
                claims.act = Some(access.next_value_seed(ActorSeed { duplicate, depth: 1 })?);
                continue;
            }
            if name == "cnf" {
                if claims.cnf.is_some() {
                    return Err(duplicate_error(duplicate));
                }
                claims.cnf = Some(access.next_value_seed(StrictSeed { duplicate })?);
                continue;
            }
            match &mut claims.others {
                Others::Names(names) => {
                    if !names.insert(name) {
                        return Err(duplicate_error(duplicate));
                    }
                    access.next_value_seed(StrictIgnore { duplicate })?;
                }
                Others::Values(map) => {
                    if map.contains_key(&*name) {
                        return Err(duplicate_error(duplicate));
                    }
                    let value = access.next_value_seed(StrictSeed { duplicate })?;
                    map.insert(Cow::into_owned(name), value);
                }
            }
        }
        Ok(())
    }
}

pub(super) fn string_claim<'a>(
    member: &'a Option<Member<'_>>,
    name: &'static str,
) -> Result<Option<&'a str>, Error> {
    match member {
        None => Ok(None),
        Some(Member::Str(s)) => Ok(Some(s)),
        Some(_) => Err(Error::InvalidClaim(name)),
    }
}

/// A NumericDate (RFC 7519 §2) as jwtd writes it: a non-negative JSON integer. Strings, null,
/// negative numbers and numbers with a fraction or exponent are refused.
pub(super) fn numeric_date(member: &Option<Member<'_>>, name: &'static str) -> Result<Option<i64>, Error> {
    match member {
        None => Ok(None),
        Some(Member::Int(seconds)) if *seconds >= 0 => Ok(Some(*seconds)),
        Some(_) => Err(Error::InvalidClaim(name)),
    }
}

/// `aud`'s values: a non-empty string, or a non-empty array of non-empty strings
/// (RFC 7519 §4.1.3).
pub(super) fn audience_values<'a>(member: &'a Option<Member<'_>>) -> Result<&'a [Cow<'a, str>], Error> {
    let all: &[Cow<'_, str>] = match member {
        None => return Err(Error::MissingClaim("aud")),
        Some(Member::Str(one)) => std::slice::from_ref(one),
        Some(Member::Strings(all)) if !all.is_empty() => all,
        Some(_) => return Err(Error::InvalidClaim("aud")),
    };
    if all.iter().any(|aud| aud.is_empty()) {
        return Err(Error::InvalidClaim("aud"));
    }
    Ok(all)
}

fn audiences(member: &Option<Member<'_>>) -> Result<Vec<String>, Error> {
    Ok(audience_values(member)?.iter().map(|aud| aud.to_string()).collect())
}
