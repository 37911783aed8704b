//! JSON objects parsed strictly: a member name that appears twice is an error.
//!
//! serde_json keeps the last of two equal names, so `{"sub":"alice","sub":"admin"}` would mean
//! different things to different parsers; RFC 7515 §5.2 and RFC 7519 §4 allow a verifier to
//! refuse such input, and this one does, at every depth. Depth itself stays bounded by
//! serde_json's recursion limit (128), which answers an error rather than overflowing the stack.

use std::borrow::Cow;
use std::cell::Cell;
use std::collections::BTreeSet;
use std::fmt;

use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};

/// Why a document was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum StrictJsonError {
    /// Not JSON, not UTF-8, not an object, too deep, or trailing bytes.
    Invalid,
    /// Some object has a member name twice.
    DuplicateMember,
}

/// Parses `bytes` as one JSON object with no repeated member names anywhere inside it.
pub(crate) fn parse_object(bytes: &[u8]) -> Result<Map<String, Value>, StrictJsonError> {
    let value =
        parse_strict(bytes, |deserializer, duplicate| StrictSeed { duplicate }.deserialize(deserializer))?;
    match value {
        Value::Object(map) => Ok(map),
        _ => Err(StrictJsonError::Invalid),
    }
}

/// Builds a [`Value`], refusing repeated names at any depth.
#[derive(Clone, Copy)]
pub(crate) struct StrictSeed<'a> {
    pub duplicate: &'a Cell<bool>,
}

impl<'de> DeserializeSeed<'de> for StrictSeed<'_> {
    type Value = Value;

    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for StrictSeed<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        Number::from_f64(v).map(Value::Number).ok_or_else(|| E::custom("non-finite number"))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element_seed(self)? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Value, A::Error> {
        let mut map = Map::new();
        while let Some(name) = access.next_key::<String>()? {
            if map.contains_key(&name) {
                return Err(duplicate_error(self.duplicate));
            }
            let value = access.next_value_seed(self)?;
            map.insert(name, value);
        }
        Ok(Value::Object(map))
    }
}

/// A member name, borrowed from the input unless it holds escapes (`"\u0073ub"` arrives as an
/// owned `"sub"`), so names compare by what they mean, not by how they were written.
pub(crate) struct NameSeed;

impl<'de> DeserializeSeed<'de> for NameSeed {
    type Value = Cow<'de, str>;

    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<Cow<'de, str>, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for NameSeed {
    type Value = Cow<'de, str>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string")
    }

    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Cow::Borrowed(v))
    }

    fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Cow::Owned(v.to_owned()))
    }

    fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
        Ok(Cow::Owned(v))
    }
}

/// Remembers member names to spot a repeat. The first name is kept inline, so the common
/// object here (a claim's value, a header's one extra member) allocates nothing.
#[derive(Default)]
pub(crate) struct SeenNames<'de> {
    first: Option<Cow<'de, str>>,
    rest: BTreeSet<Cow<'de, str>>,
}

impl<'de> SeenNames<'de> {
    /// False when `name` was seen before.
    pub fn insert(&mut self, name: Cow<'de, str>) -> bool {
        match &self.first {
            None => {
                self.first = Some(name);
                true
            }
            Some(first) if *first == name => false,
            Some(_) => self.rest.insert(name),
        }
    }

    pub fn contains(&self, name: &str) -> bool {
        self.first.as_deref() == Some(name) || self.rest.contains(name)
    }
}

/// The error a visitor returns on a repeated name, after setting the flag the caller reads.
pub(crate) fn duplicate_error<E: de::Error>(duplicate: &Cell<bool>) -> E {
    duplicate.set(true);
    E::custom("duplicate member name")
}

/// Checks a value as strictly as [`parse_object`] does (repeated names at any depth) without
/// building it: for the members a verifier reads no further.
#[derive(Clone, Copy)]
pub(crate) struct StrictIgnore<'a> {
    pub duplicate: &'a Cell<bool>,
}

impl<'de> DeserializeSeed<'de> for StrictIgnore<'_> {
    type Value = ();

    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for StrictIgnore<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }

    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }

    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }

    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        Ok(())
    }

    fn visit_str<E>(self, _: &str) -> Result<(), E> {
        Ok(())
    }

    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_none<E>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while seq.next_element_seed(self)?.is_some() {}
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<(), A::Error> {
        let mut seen = SeenNames::default();
        while let Some(name) = access.next_key_seed(NameSeed)? {
            if !seen.insert(name) {
                return Err(duplicate_error(self.duplicate));
            }
            access.next_value_seed(self)?;
        }
        Ok(())
    }
}

pub(crate) type JsonDeserializer<'de> = serde_json::Deserializer<serde_json::de::SliceRead<'de>>;

/// Runs `parse` over `bytes` as one complete JSON document with a fresh duplicate flag, and
/// sorts the outcome the way [`parse_object`] does: a repeated name wins over any other fault.
pub(crate) fn parse_strict<'de, T>(
    bytes: &'de [u8],
    parse: impl FnOnce(&mut JsonDeserializer<'de>, &Cell<bool>) -> Result<T, serde_json::Error>,
) -> Result<T, StrictJsonError> {
    let duplicate = Cell::new(false);
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let parsed = parse(&mut deserializer, &duplicate);
    if duplicate.get() {
        return Err(StrictJsonError::DuplicateMember);
    }
    let value = parsed.map_err(|_| StrictJsonError::Invalid)?;
    deserializer.end().map_err(|_| StrictJsonError::Invalid)?;
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duplicates_are_refused_at_any_depth_even_when_escaped() {
        assert_eq!(parse_object(br#"{"a":1,"a":2}"#), Err(StrictJsonError::DuplicateMember));
        assert_eq!(parse_object(br#"{"a":1,"\u0061":2}"#), Err(StrictJsonError::DuplicateMember));
        assert_eq!(parse_object(br#"{"x":[{"b":1,"b":1}]}"#), Err(StrictJsonError::DuplicateMember));
        assert_eq!(parse_object(br#"{"a":1,"b":{"a":2}}"#).unwrap().len(), 2);
    }

    #[test]
    fn non_objects_trailing_bytes_and_deep_nesting_are_invalid() {
        assert_eq!(parse_object(b"[1]"), Err(StrictJsonError::Invalid));
        assert_eq!(parse_object(br#"{"a":1} x"#), Err(StrictJsonError::Invalid));
        let deep = format!("{{\"a\":{}{}}}", "[".repeat(100_000), "]".repeat(100_000));
        assert_eq!(parse_object(deep.as_bytes()), Err(StrictJsonError::Invalid));
        assert_eq!(parse_object(b"{\"a\":\"\xff\"}"), Err(StrictJsonError::Invalid));
    }

    #[test]
    fn anything_that_is_not_json_is_invalid() {
        for text in [
            r#"{"a":1,}"#,
            r#"{"a":[1,]}"#,
            r#"{"a":01}"#,
            r#"{"a":-}"#,
            r#"{"a":1.}"#,
            r#"{"a":.5}"#,
            r#"{"a":NaN}"#,
            r#"{"a":Infinity}"#,
            r#"{'a':1}"#,
            r#"{a:1}"#,
            r#"{"a":"\ud800"}"#,
            r#"{"a":"\x41"}"#,
            "{\"a\":\"\t\"}",
            r#"{"a":1}{"b":2}"#,
            r#"{"a":1 /* comment */}"#,
            r#"{"a":tru}"#,
            "",
        ] {
            assert_eq!(parse_object(text.as_bytes()), Err(StrictJsonError::Invalid), "{text:?}");
        }
    }
}
