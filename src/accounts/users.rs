//! Users: who may log in with the password grant, and the claims their tokens carry.

use serde_json::{Map, Value};
use unicode_normalization::UnicodeNormalization;

const MAX_EMAIL_LEN: usize = 254;
const MAX_CLAIMS_BYTES: usize = 4096;

/// Claim names jwtd sets itself; a user's custom claims may not override them.
const RESERVED_CLAIMS: [&str; 18] = [
    "iss",
    "sub",
    "aud",
    "exp",
    "iat",
    "nbf",
    "jti",
    "client_id",
    "scope",
    "sid",
    "auth_time",
    "azp",
    "nonce",
    "acr",
    "amr",
    "cnf",
    "act",
    "may_act",
];

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum UserError {
    #[error("email must be an address like name@example.com, at most {MAX_EMAIL_LEN} characters")]
    Email,
    #[error("claims must be a JSON object of at most {MAX_CLAIMS_BYTES} bytes without reserved names ({0})")]
    Claims(String),
}

/// The form an email is stored and looked up in: NFKC-normalised, trimmed, lower-cased, so
/// `Ａlice@Example.COM` and `alice@example.com` are one account.
pub fn normalize_email(email: &str) -> Result<String, UserError> {
    let normalized: String = email.trim().nfkc().collect::<String>().to_lowercase();
    let (local, domain) = normalized.rsplit_once('@').ok_or(UserError::Email)?;
    let valid = !local.is_empty()
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && normalized.chars().count() <= MAX_EMAIL_LEN
        && !normalized.chars().any(|c| c.is_whitespace() || c.is_control());
    if valid { Ok(normalized) } else { Err(UserError::Email) }
}

/// Checks custom claims: an object, bounded, no reserved names.
pub fn validate_claims(claims: &Map<String, Value>) -> Result<(), UserError> {
    if let Some(reserved) = claims.keys().find(|k| RESERVED_CLAIMS.contains(&k.as_str())) {
        return Err(UserError::Claims(format!("{reserved} is reserved")));
    }
    if Value::Object(claims.clone()).to_string().len() > MAX_CLAIMS_BYTES {
        return Err(UserError::Claims("too large".into()));
    }
    Ok(())
}

/// A user as the token endpoint sees it.
#[derive(Debug, Clone)]
pub struct User {
    pub id: String,
    pub email: String,
    pub claims: Map<String, Value>,
    pub disabled: bool,
    pub created_at: i64,
}

impl User {
    pub fn describe(&self) -> Value {
        serde_json::json!({
            "id": self.id,
            "email": self.email,
            "claims": self.claims,
            "disabled": self.disabled,
            "created_at": self.created_at,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_normalise_to_one_account() {
        assert_eq!(normalize_email("  Alice@Example.COM ").unwrap(), "alice@example.com");
        // Fullwidth letters fold under NFKC.
        assert_eq!(normalize_email("\u{ff21}lice@example.com").unwrap(), "alice@example.com");
        for bad in ["", "alice", "@example.com", "alice@", "alice@localhost", "a b@example.com", "a@.com"] {
            assert_eq!(normalize_email(bad), Err(UserError::Email), "{bad}");
        }
        assert!(normalize_email(&format!("{}@example.com", "a".repeat(250))).is_err());
    }

    #[test]
    fn claims_may_not_override_registered_ones() {
        let ok: Map<String, Value> = serde_json::from_str(r#"{"roles":["admin"],"email":"a@b.c"}"#).unwrap();
        assert!(validate_claims(&ok).is_ok());
        let bad: Map<String, Value> = serde_json::from_str(r#"{"sub":"someone-else"}"#).unwrap();
        assert!(validate_claims(&bad).is_err());
    }
}
