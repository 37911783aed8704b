//! Workload identity federation: a client that authenticates with a token its platform issued
//! (a Kubernetes service-account token, a CI system's OIDC token, a SPIFFE JWT-SVID) instead of
//! a secret or a key of its own. The client names the issuer it trusts and which subjects of
//! that issuer are it: one exactly, or every subject under a prefix (`system:serviceaccount:
//! payments:*`).

use std::fmt;

/// Longest subject or pattern registered.
pub const MAX_SUBJECT_LEN: usize = 256;
/// The longest workload token lifetime (`exp` − `iat`) accepted unless the client says otherwise:
/// a projected Kubernetes service-account token lives an hour.
pub const DEFAULT_MAX_LIFETIME: i64 = 3600;
/// Bounds of what a client may set as the longest lifetime.
pub const MAX_LIFETIME_RANGE: std::ops::RangeInclusive<i64> = 60..=86_400;

/// What a workload-identity client trusts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkloadTrust {
    /// The issuer of the workloads' tokens (`iss`, exactly).
    pub issuer: String,
    /// Which of its subjects are this client.
    pub subject: SubjectPattern,
    /// The audience the tokens must carry; `None`: jwtd's issuer identifier.
    pub audience: Option<String>,
    /// Where the issuer's keys are; `None`: the `jwks_uri` of its discovery document.
    pub jwks_uri: Option<String>,
    /// The longest lifetime (`exp` − `iat`) accepted, in seconds.
    pub max_lifetime: i64,
}

/// Which subjects of the trusted issuer are the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SubjectPattern {
    /// This subject only.
    Exact(String),
    /// Every subject that starts with this prefix and has at least one character more
    /// (written `prefix*`).
    Prefix(String),
}

/// Why a pattern is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PatternError {
    #[error("is empty, too long (over {MAX_SUBJECT_LEN} characters) or holds spaces or control characters")]
    Shape,
    #[error("may hold one `*`, at the end only, after a non-empty prefix (system:serviceaccount:payments:*)")]
    Wildcard,
}

impl SubjectPattern {
    pub fn parse(text: &str) -> Result<Self, PatternError> {
        if text.is_empty()
            || text.len() > MAX_SUBJECT_LEN
            || text.chars().any(|c| c.is_whitespace() || c.is_control())
        {
            return Err(PatternError::Shape);
        }
        match text.find('*') {
            None => Ok(Self::Exact(text.to_owned())),
            Some(at) if at + 1 == text.len() && at > 0 => Ok(Self::Prefix(text[..at].to_owned())),
            Some(_) => Err(PatternError::Wildcard),
        }
    }

    /// Whether `subject` (a token's `sub`) is one this pattern names.
    pub fn matches(&self, subject: &str) -> bool {
        match self {
            Self::Exact(exact) => subject == exact,
            Self::Prefix(prefix) => subject.len() > prefix.len() && subject.starts_with(prefix.as_str()),
        }
    }

    /// Whether some subject matches both patterns: two clients of one issuer may not, or a
    /// workload's token would name two clients.
    pub fn overlaps(&self, other: &SubjectPattern) -> bool {
        match (self, other) {
            (Self::Exact(a), Self::Exact(b)) => a == b,
            (Self::Exact(exact), prefix @ Self::Prefix(_))
            | (prefix @ Self::Prefix(_), Self::Exact(exact)) => prefix.matches(exact),
            (Self::Prefix(a), Self::Prefix(b)) => a.starts_with(b.as_str()) || b.starts_with(a.as_str()),
        }
    }
}

impl fmt::Display for SubjectPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Exact(exact) => f.write_str(exact),
            Self::Prefix(prefix) => write!(f, "{prefix}*"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(text: &str) -> SubjectPattern {
        SubjectPattern::parse(text).unwrap()
    }

    #[test]
    fn patterns_parse_and_print_back() {
        for text in
            ["system:serviceaccount:payments:api", "system:serviceaccount:payments:*", "repo:acme/app:ref:*"]
        {
            assert_eq!(p(text).to_string(), text);
        }
        for (bad, error) in [
            ("", PatternError::Shape),
            ("a b", PatternError::Shape),
            ("*", PatternError::Wildcard),
            ("system:*:api", PatternError::Wildcard),
            ("a**", PatternError::Wildcard),
        ] {
            assert_eq!(SubjectPattern::parse(bad), Err(error), "{bad:?}");
        }
        assert_eq!(SubjectPattern::parse(&"a".repeat(257)), Err(PatternError::Shape));
    }

    #[test]
    fn a_pattern_matches_its_subjects_only() {
        let namespace = p("system:serviceaccount:payments:*");
        assert!(namespace.matches("system:serviceaccount:payments:api"));
        assert!(!namespace.matches("system:serviceaccount:payments:"), "the prefix alone is no subject");
        assert!(!namespace.matches("system:serviceaccount:payments-evil:api"));
        assert!(!namespace.matches("system:serviceaccount:billing:api"));
        let exact = p("system:serviceaccount:payments:api");
        assert!(exact.matches("system:serviceaccount:payments:api"));
        assert!(!exact.matches("system:serviceaccount:payments:api2"));
    }

    #[test]
    fn overlapping_patterns_are_found() {
        #[rustfmt::skip]
        let table = [
            ("ns:payments:api", "ns:payments:api", true),
            ("ns:payments:api", "ns:payments:web", false),
            ("ns:payments:*", "ns:payments:api", true),
            ("ns:payments:api", "ns:payments:*", true),
            ("ns:payments:*", "ns:billing:*", false),
            ("ns:pay*", "ns:payments:*", true),
            ("ns:payments:*", "ns:payments:", false),
        ];
        for (a, b, overlap) in table {
            assert_eq!(p(a).overlaps(&p(b)), overlap, "{a} / {b}");
        }
    }
}
