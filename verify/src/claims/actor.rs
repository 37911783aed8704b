//! The `act` (actor) claim of an exchanged token (RFC 8693 §4.1): who acted, most recent
//! first, each actor an object whose `sub` names it and whose own `act` names the one before.
//!
//! Read in the claims' one strict pass by [`ActorSeed`], which recurses once per actor and
//! never deeper than [`MAX_DELEGATION_DEPTH`]: an `act` nested further is only checked for
//! repeated names (as every value the verifier does not keep) and refused. Other members of
//! an actor (RFC 8693 allows e.g. `iss`) are checked the same way and dropped.

use std::borrow::Cow;
use std::cell::Cell;
use std::fmt;

use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde_json::Value;

use crate::Error;
use crate::member::{Member, MemberSeed};
use crate::strict_json::{NameSeed, SeenNames, StrictIgnore, duplicate_error};

/// The most actors an `act` claim may name. jwtd's exchanges add one actor each; a chain
/// longer than this is a loop or an attack, not a delegation anyone means.
pub const MAX_DELEGATION_DEPTH: usize = 8;

/// One party that acted in a delegation (RFC 8693 §4.1): in jwtd, `sub` is the client id of
/// the service that exchanged a token, and `act` the actor before it, if any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    pub sub: String,
    pub act: Option<Box<Actor>>,
}

impl Actor {
    /// The chain from `subs`, given least recent first (the order [`ActorSeed`] reads them).
    fn from_least_recent(subs: impl IntoIterator<Item = String>) -> Option<Self> {
        subs.into_iter().fold(None, |before, sub| Some(Self { sub, act: before.map(Box::new) }))
    }

    /// `value` as an actor chain: the check of [`ActorSeed`] on an already parsed value, in
    /// a loop rather than by recursion.
    pub(super) fn from_value(value: Value) -> Result<Self, Error> {
        let mut subs = Vec::new();
        let mut next = Some(value);
        while let Some(value) = next {
            let Value::Object(mut actor) = value else { return Err(invalid()) };
            match actor.remove("sub") {
                Some(Value::String(sub)) if !sub.is_empty() && subs.len() < MAX_DELEGATION_DEPTH => {
                    subs.push(sub);
                }
                _ => return Err(invalid()),
            }
            next = actor.remove("act");
        }
        Self::from_least_recent(subs.into_iter().rev()).ok_or_else(invalid)
    }

    /// This actor and the ones before it, most recent first.
    pub(super) fn chain(&self) -> impl Iterator<Item = &Self> {
        std::iter::successors(Some(self), |actor| actor.act.as_deref())
    }
}

fn invalid() -> Error {
    Error::InvalidClaim("act")
}

/// An `act` claim as the strict pass read it, borrowing from the payload.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum ActClaim<'de> {
    /// The actors' `sub`s, least recent first (the innermost is read first).
    Chain(Vec<Cow<'de, str>>),
    /// Not an object, a missing, empty or non-string `sub`, or deeper than
    /// [`MAX_DELEGATION_DEPTH`]; read to the end all the same.
    Invalid,
}

impl<'de> ActClaim<'de> {
    /// The check the policy makes of every token carrying `act`.
    pub fn check(&self) -> Result<(), Error> {
        match self {
            Self::Chain(_) => Ok(()),
            Self::Invalid => Err(invalid()),
        }
    }

    pub fn into_actor(self) -> Result<Actor, Error> {
        match self {
            Self::Chain(subs) => {
                Actor::from_least_recent(subs.into_iter().map(Cow::into_owned)).ok_or_else(invalid)
            }
            Self::Invalid => Err(invalid()),
        }
    }

    /// The chain with `sub`, the actor after the ones in it, added.
    fn pushed(self, sub: Cow<'de, str>) -> Self {
        match self {
            Self::Chain(mut subs) => {
                subs.push(sub);
                Self::Chain(subs)
            }
            Self::Invalid => Self::Invalid,
        }
    }
}

/// Reads the actor at `depth` (1 for the claim itself) and the ones nested in it.
#[derive(Clone, Copy)]
pub(crate) struct ActorSeed<'a> {
    pub duplicate: &'a Cell<bool>,
    pub depth: usize,
}

impl<'de> DeserializeSeed<'de> for ActorSeed<'_> {
    type Value = ActClaim<'de>;

    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<ActClaim<'de>, D::Error> {
        if self.depth > MAX_DELEGATION_DEPTH {
            StrictIgnore { duplicate: self.duplicate }.deserialize(deserializer)?;
            return Ok(ActClaim::Invalid);
        }
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for ActorSeed<'_> {
    type Value = ActClaim<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an actor object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<ActClaim<'de>, A::Error> {
        let duplicate = self.duplicate;
        let (mut sub, mut before) = (None, None);
        let mut others = SeenNames::default();
        while let Some(name) = access.next_key_seed(NameSeed)? {
            match &*name {
                "sub" if sub.is_none() => sub = Some(access.next_value_seed(MemberSeed { duplicate })?),
                "act" if before.is_none() => {
                    let seed = ActorSeed { duplicate, depth: self.depth + 1 };
                    before = Some(access.next_value_seed(seed)?);
                }
                "sub" | "act" => return Err(duplicate_error(duplicate)),
                _ => {
                    if !others.insert(name) {
                        return Err(duplicate_error(duplicate));
                    }
                    access.next_value_seed(StrictIgnore { duplicate })?;
                }
            }
        }
        let sub = match sub {
            Some(Member::Str(sub)) if !sub.is_empty() => sub,
            _ => return Ok(ActClaim::Invalid),
        };
        Ok(match before {
            // The innermost actor knows how long the chain is: one allocation for all of it.
            None => ActClaim::Chain(Vec::with_capacity(self.depth)),
            Some(ActClaim::Chain(subs)) => ActClaim::Chain(subs),
            Some(ActClaim::Invalid) => ActClaim::Invalid,
        }
        .pushed(sub))
    }

    // Anything but an object is refused, after reading it as strictly as any other value.

    fn visit_bool<E>(self, _: bool) -> Result<ActClaim<'de>, E> {
        Ok(ActClaim::Invalid)
    }

    fn visit_i64<E>(self, _: i64) -> Result<ActClaim<'de>, E> {
        Ok(ActClaim::Invalid)
    }

    fn visit_u64<E>(self, _: u64) -> Result<ActClaim<'de>, E> {
        Ok(ActClaim::Invalid)
    }

    fn visit_f64<E>(self, _: f64) -> Result<ActClaim<'de>, E> {
        Ok(ActClaim::Invalid)
    }

    fn visit_str<E>(self, _: &str) -> Result<ActClaim<'de>, E> {
        Ok(ActClaim::Invalid)
    }

    fn visit_unit<E>(self) -> Result<ActClaim<'de>, E> {
        Ok(ActClaim::Invalid)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<ActClaim<'de>, A::Error> {
        StrictIgnore { duplicate: self.duplicate }.visit_seq(seq)?;
        Ok(ActClaim::Invalid)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::strict_json::{StrictJsonError, parse_strict};

    fn read(json: &str) -> Result<ActClaim<'_>, StrictJsonError> {
        parse_strict(json.as_bytes(), |d, duplicate| ActorSeed { duplicate, depth: 1 }.deserialize(d))
    }

    /// `depth` actors, `s1` the most recent, each nesting the one before it; `innermost` is
    /// written into the last one.
    fn nested(depth: usize, innermost: &str) -> String {
        (1..depth).rev().fold(format!(r#"{{"sub":"s{depth}"{innermost}}}"#), |before, n| {
            format!(r#"{{"sub":"s{n}","act":{before}}}"#)
        })
    }

    #[test]
    fn a_chain_is_read_least_recent_first_and_built_most_recent_first() {
        let text = r#"{"act":{"sub":"service-a","iss":"x"},"sub":"service-b"}"#;
        let claim = read(text).unwrap();
        assert_eq!(claim, ActClaim::Chain(vec!["service-a".into(), "service-b".into()]));
        let actor = claim.into_actor().unwrap();
        assert_eq!(actor.chain().map(|a| a.sub.as_str()).collect::<Vec<_>>(), ["service-b", "service-a"]);
        assert_eq!(Actor::from_value(serde_json::from_str(text).unwrap()), Ok(actor));
    }

    #[test]
    fn the_seed_and_the_check_of_a_parsed_value_refuse_the_same_actors() {
        let refused = [
            json!("service-b"),
            json!(["service-b"]),
            json!(null),
            json!(true),
            json!(1.5),
            json!({}),
            json!({"sub": ""}),
            json!({"sub": 7}),
            json!({"sub": ["a"]}),
            json!({"sub": {"id": "a"}}),
            json!({"sub": "b", "act": "a"}),
            json!({"sub": "b", "act": null}),
            json!({"sub": "b", "act": {"act": {"sub": "z"}}}),
            serde_json::from_str(&nested(MAX_DELEGATION_DEPTH + 1, "")).unwrap(),
            serde_json::from_str(&nested(100, "")).unwrap(),
        ];
        for value in refused {
            assert_eq!(read(&value.to_string()), Ok(ActClaim::Invalid), "{value}");
            assert_eq!(Actor::from_value(value.clone()), Err(invalid()), "{value}");
        }
        let deepest = nested(MAX_DELEGATION_DEPTH, "");
        let actor = Actor::from_value(serde_json::from_str(&deepest).unwrap()).unwrap();
        assert_eq!(actor.chain().count(), MAX_DELEGATION_DEPTH);
        assert_eq!(actor.chain().last().map(|a| a.sub.as_str()), Some("s8"));
        assert_eq!(read(&deepest).unwrap().into_actor(), Ok(actor));
    }

    #[test]
    fn repeated_names_inside_any_actor_are_refused_even_past_the_depth_limit() {
        for text in [
            r#"{"sub":"a","sub":"b"}"#,
            r#"{"sub":"a","\u0073ub":"b"}"#,
            r#"{"sub":"a","act":{"sub":"b"},"act":{"sub":"c"}}"#,
            r#"{"sub":"a","iss":"x","iss":"y"}"#,
            r#"{"sub":"a","act":{"sub":"b","x":{"y":1,"y":2}}}"#,
            r#"{"sub":1,"sub":2}"#,
            &nested(MAX_DELEGATION_DEPTH + 2, r#","n":1,"n":2"#),
        ] {
            assert_eq!(read(text), Err(StrictJsonError::DuplicateMember), "{text}");
        }
    }
}
