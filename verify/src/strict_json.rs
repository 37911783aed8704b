//! JSON objects parsed strictly: a member name that appears twice is an error.
//!
//! serde_json keeps the last of two equal names, so `{"sub":"alice","sub":"admin"}` would mean
//! different things to different parsers; RFC 7515 §5.2 and RFC 7519 §4 allow a verifier to
//! refuse such input, and this one does, at every depth. Depth itself stays bounded by
//! serde_json's recursion limit (128), which answers an error rather than overflowing the stack.

use std::cell::Cell;
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
    let duplicate = Cell::new(false);
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let parsed = StrictSeed { duplicate: &duplicate }.deserialize(&mut deserializer);
    if duplicate.get() {
        return Err(StrictJsonError::DuplicateMember);
    }
    let value = parsed.map_err(|_| StrictJsonError::Invalid)?;
    deserializer.end().map_err(|_| StrictJsonError::Invalid)?;
    match value {
        Value::Object(map) => Ok(map),
        _ => Err(StrictJsonError::Invalid),
    }
}

#[derive(Clone, Copy)]
struct StrictSeed<'a> {
    duplicate: &'a Cell<bool>,
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
                self.duplicate.set(true);
                return Err(de::Error::custom("duplicate member name"));
            }
            let value = access.next_value_seed(self)?;
            map.insert(name, value);
        }
        Ok(Value::Object(map))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
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
}
