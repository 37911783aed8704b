//! OAuth scopes (RFC 6749 §3.3): a set of space-separated tokens.

use std::collections::BTreeSet;
use std::fmt;

/// Longest scope token and most tokens jwtd accepts, so a scope is always bounded.
const MAX_TOKEN_LEN: usize = 128;
const MAX_TOKENS: usize = 64;

/// The scope of jwtd's own admin API. A token carrying it is always for jwtd alone.
pub const ADMIN_SCOPE: &str = "jwtd:admin";

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Scope(BTreeSet<String>);

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ScopeError {
    #[error("scope tokens use printable ASCII without spaces, quotes or backslashes")]
    Character,
    #[error("a scope has at most {MAX_TOKENS} tokens of at most {MAX_TOKEN_LEN} characters")]
    TooLong,
}

impl Scope {
    /// Parses a space-delimited scope. Repeated tokens collapse; an empty string is the
    /// empty scope.
    pub fn parse(text: &str) -> Result<Self, ScopeError> {
        let mut tokens = BTreeSet::new();
        for token in text.split(' ').filter(|t| !t.is_empty()) {
            if token.len() > MAX_TOKEN_LEN {
                return Err(ScopeError::TooLong);
            }
            if !token.bytes().all(is_scope_char) {
                return Err(ScopeError::Character);
            }
            tokens.insert(token.to_owned());
        }
        if tokens.len() > MAX_TOKENS {
            return Err(ScopeError::TooLong);
        }
        Ok(Self(tokens))
    }

    pub fn is_subset(&self, other: &Scope) -> bool {
        self.0.is_subset(&other.0)
    }

    pub fn contains(&self, token: &str) -> bool {
        self.0.contains(token)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The scope's tokens, in order.
    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(String::as_str)
    }

    /// The tokens both scopes hold.
    pub fn intersection(&self, other: &Scope) -> Scope {
        Scope(self.0.intersection(&other.0).cloned().collect())
    }

    /// Every token of either scope (bounded by the client's scope, which both come from).
    pub fn union(&self, other: &Scope) -> Scope {
        Scope(self.0.union(&other.0).cloned().collect())
    }
}

/// `%x21 / %x23-5B / %x5D-7E` (RFC 6749 §3.3).
fn is_scope_char(b: u8) -> bool {
    matches!(b, 0x21 | 0x23..=0x5B | 0x5D..=0x7E)
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for token in &self.0 {
            if !first {
                f.write_str(" ")?;
            }
            f.write_str(token)?;
            first = false;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_normalises_and_compares() {
        let registered = Scope::parse("read write  admin").unwrap();
        let requested = Scope::parse("write read write").unwrap();
        assert_eq!(requested.to_string(), "read write");
        assert!(requested.is_subset(&registered));
        assert!(!Scope::parse("read delete").unwrap().is_subset(&registered));
    }

    #[test]
    fn refuses_bad_characters_and_oversize() {
        assert_eq!(Scope::parse("a\"b"), Err(ScopeError::Character));
        assert_eq!(Scope::parse("a\\b"), Err(ScopeError::Character));
        assert_eq!(Scope::parse("caf\u{e9}"), Err(ScopeError::Character));
        assert_eq!(Scope::parse(&"x".repeat(129)), Err(ScopeError::TooLong));
        let many: Vec<String> = (0..65).map(|i| format!("s{i}")).collect();
        assert_eq!(Scope::parse(&many.join(" ")), Err(ScopeError::TooLong));
    }
}
