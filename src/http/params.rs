//! Request parameters of the OAuth endpoints: form-encoded per RFC 6749, JSON accepted too.
//!
//! RFC 6749 §3.1: "Request and response parameters MUST NOT be included more than once", and
//! "parameters sent without a value MUST be treated as if they were omitted from the request".
//! jwtd refuses a repeated parameter with `invalid_request` (an empty one counts too), so no two
//! components can read a different value of one parameter, and then drops the empty ones. The
//! exceptions are the parameters defined to repeat: `resource` (RFC 8707 §2) and `audience`
//! (RFC 8693 §2.1), read with [`Params::all`].

use std::fmt;

use actix_web::HttpRequest;
use actix_web::http::header;
use serde::de::{self, Deserializer, MapAccess, Visitor};

use super::error::ApiError;

/// No OAuth request needs more; the bound keeps the duplicate check cheap.
const MAX_PARAMS: usize = 32;
/// Parameters a request may repeat.
const MULTI_VALUED: [&str; 2] = ["resource", "audience"];

#[derive(Default)]
pub struct Params(Vec<(String, String)>);

/// Names only: values include passwords, client secrets and refresh tokens.
impl fmt::Debug for Params {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Params").field(&self.0.iter().map(|(name, _)| name).collect::<Vec<_>>()).finish()
    }
}

impl Params {
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    /// Every value of a parameter that may repeat ([`MULTI_VALUED`]), in order.
    pub fn all(&self, name: &str) -> Vec<&str> {
        self.0.iter().filter(|(k, _)| k == name).map(|(_, v)| v.as_str()).collect()
    }

    pub fn require(&self, name: &str) -> Result<&str, ApiError> {
        self.get(name).ok_or_else(|| ApiError::invalid_request(format!("missing parameter {name}")))
    }

    fn from_pairs(pairs: Vec<(String, String)>) -> Result<Self, ApiError> {
        if pairs.len() > MAX_PARAMS {
            return Err(ApiError::invalid_request("too many parameters"));
        }
        for (i, (name, _)) in pairs.iter().enumerate() {
            if name.is_empty() {
                return Err(ApiError::invalid_request("a parameter has no name"));
            }
            if !MULTI_VALUED.contains(&name.as_str())
                && pairs.iter().skip(i + 1).any(|(other, _)| other == name)
            {
                return Err(ApiError::invalid_request(format!("parameter {} is repeated", printable(name))));
            }
        }
        Ok(Self(pairs.into_iter().filter(|(_, value)| !value.is_empty()).collect()))
    }

    /// Parses a query string (or any `application/x-www-form-urlencoded` text).
    pub fn from_query(query: &str) -> Result<Self, ApiError> {
        Self::from_pairs(form_urlencoded::parse(query.as_bytes()).into_owned().collect())
    }

    /// The parameters, re-encoded as a query string.
    pub fn to_query(&self) -> String {
        form_urlencoded::Serializer::new(String::new()).extend_pairs(self.0.iter()).finish()
    }

    /// Parses the body by its content type.
    pub fn from_body(req: &HttpRequest, body: &[u8]) -> Result<Self, ApiError> {
        let content_type = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(|v| v.split(';').next().unwrap_or_default().trim().to_ascii_lowercase());
        match content_type.as_deref() {
            Some("application/x-www-form-urlencoded") => {
                let text = std::str::from_utf8(body)
                    .map_err(|_| ApiError::invalid_request("the form body is not UTF-8"))?;
                Self::from_pairs(form_urlencoded::parse(text.as_bytes()).into_owned().collect())
            }
            Some("application/json") => {
                let pairs: JsonPairs = serde_json::from_slice(body).map_err(|_| {
                    ApiError::invalid_request("the JSON body must be one object whose values are strings")
                })?;
                Self::from_pairs(pairs.0)
            }
            _ => Err(ApiError::invalid_request(
                "send parameters as application/x-www-form-urlencoded (or application/json)",
            )),
        }
    }
}

/// Names echoed back in errors are cut short and stripped of control characters.
fn printable(name: &str) -> String {
    name.chars().filter(|c| !c.is_control()).take(64).collect()
}

/// A flat JSON object of strings, in order, duplicates kept so they can be refused.
struct JsonPairs(Vec<(String, String)>);

impl<'de> de::Deserialize<'de> for JsonPairs {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct PairsVisitor;
        impl<'de> Visitor<'de> for PairsVisitor {
            type Value = JsonPairs;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object of string values")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<JsonPairs, A::Error> {
                let mut pairs = Vec::new();
                while let Some((k, v)) = map.next_entry::<String, String>()? {
                    pairs.push((k, v));
                }
                Ok(JsonPairs(pairs))
            }
        }
        deserializer.deserialize_map(PairsVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_shows_names_not_values() {
        let params = Params::from_pairs(vec![
            ("grant_type".into(), "password".into()),
            ("password".into(), "hunter2-secret".into()),
            ("client_secret".into(), "jwtd_cs_secret".into()),
        ])
        .unwrap();
        let shown = format!("{params:?}");
        assert!(shown.contains("password") && shown.contains("client_secret"), "{shown}");
        assert!(!shown.contains("hunter2") && !shown.contains("jwtd_cs_"), "{shown}");
    }
}
