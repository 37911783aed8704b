//! Resource indicators (RFC 8707): which API an access token is for. A client registers the
//! resources it may ask for; a request names one with `resource`, and the token's `aud` is then
//! exactly that resource. A grant (an authorization request, the token request that starts a
//! refresh family) may name several; each token of the grant is for one of them, never for more
//! and never for another. Pure: the edge gathers the parameters, the operations store the grant's.

use std::fmt;

pub use crate::accounts::clients::uris::{MAX_RESOURCE_LEN, MAX_RESOURCES, is_resource_uri};

/// Why a request's `resource` cannot be honoured: every case is `invalid_target` (RFC 8707 §2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TargetRefusal {
    /// Not an absolute URI without a fragment (RFC 8707 §2), or too long.
    Malformed,
    /// Not among the resources the client registered.
    NotRegistered,
    /// Registered, but not among those the grant named: a refresh or a code may narrow what was
    /// granted, never widen it.
    NotGranted,
    /// More than one where jwtd issues one token.
    TooMany,
}

impl TargetRefusal {
    /// The `error_description` the client hears.
    pub fn description(&self) -> &'static str {
        match self {
            Self::Malformed => {
                "a resource must be an absolute URI without a fragment, at most 512 characters"
            }
            Self::NotRegistered => "the resource is not registered for this client",
            Self::NotGranted => {
                "the resource was not part of the grant; ask for it in the authorization request"
            }
            Self::TooMany => "name one resource: jwtd issues one access token per request",
        }
    }

    /// The label metrics count the refusal by.
    pub fn reason(&self) -> &'static str {
        match self {
            Self::Malformed => "malformed",
            Self::NotRegistered => "not_registered",
            Self::NotGranted => "not_granted",
            Self::TooMany => "too_many",
        }
    }
}

impl fmt::Display for TargetRefusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.description())
    }
}

/// The resources a grant names (an authorization request's, or a token request's that starts a
/// refresh family): each one registered for the client, without repeats.
pub fn granted(requested: &[&str], registered: &[String]) -> Result<Vec<String>, TargetRefusal> {
    if requested.len() > MAX_RESOURCES {
        return Err(TargetRefusal::TooMany);
    }
    let mut granted: Vec<String> = Vec::with_capacity(requested.len());
    for resource in requested {
        if !is_resource_uri(resource) {
            return Err(TargetRefusal::Malformed);
        }
        if !registered.iter().any(|r| r == resource) {
            return Err(TargetRefusal::NotRegistered);
        }
        if !granted.iter().any(|g| g == resource) {
            granted.push((*resource).to_owned());
        }
    }
    Ok(granted)
}

/// The audience of one access token issued at the token endpoint: the `requested` resource (at
/// most one), which must be among the grant's when the grant named any, and registered for the
/// client otherwise; without one, every resource of the grant still registered (RFC 8707 §2.2
/// allows the authorization request's resources). Empty: the token gets the client's usual
/// audiences, as without resource indicators.
pub fn audience(
    requested: &[&str],
    granted: &[String],
    registered: &[String],
) -> Result<Vec<String>, TargetRefusal> {
    let is_registered = |resource: &str| registered.iter().any(|r| r == resource);
    match requested {
        [] => {
            let still: Vec<String> = granted.iter().filter(|g| is_registered(g)).cloned().collect();
            match still.is_empty() && !granted.is_empty() {
                true => Err(TargetRefusal::NotRegistered),
                false => Ok(still),
            }
        }
        [resource] => {
            if !is_resource_uri(resource) {
                return Err(TargetRefusal::Malformed);
            }
            if !is_registered(resource) {
                return Err(TargetRefusal::NotRegistered);
            }
            if !granted.is_empty() && !granted.iter().any(|g| g == resource) {
                return Err(TargetRefusal::NotGranted);
            }
            Ok(vec![(*resource).to_owned()])
        }
        _ => Err(TargetRefusal::TooMany),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn a_resource_is_an_absolute_uri_without_a_fragment() {
        for ok in ["https://api.example.com", "https://api.example.com/orders", "urn:example:orders"] {
            assert!(is_resource_uri(ok), "{ok}");
        }
        let long = format!("https://api.example.com/{}", "a".repeat(MAX_RESOURCE_LEN));
        for bad in ["", "api.example.com", "/orders", "https://api.example.com/#x", "https://a b", &long] {
            assert!(!is_resource_uri(bad), "{bad}");
        }
    }

    #[test]
    fn a_grant_names_only_registered_resources() {
        let registered = list(&["https://a.example", "https://b.example"]);
        assert_eq!(granted(&[], &registered), Ok(vec![]));
        assert_eq!(
            granted(&["https://b.example", "https://a.example", "https://b.example"], &registered),
            Ok(list(&["https://b.example", "https://a.example"]))
        );
        assert_eq!(granted(&["https://c.example"], &registered), Err(TargetRefusal::NotRegistered));
        assert_eq!(granted(&["not a uri"], &registered), Err(TargetRefusal::Malformed));
        let many: Vec<&str> = (0..=MAX_RESOURCES).map(|_| "https://a.example").collect();
        assert_eq!(granted(&many, &registered), Err(TargetRefusal::TooMany));
    }

    #[test]
    fn a_token_is_for_one_resource_within_the_grant() {
        let registered = list(&["https://a.example", "https://b.example", "https://c.example"]);
        let (a, b) = ("https://a.example", "https://b.example");
        type Case<'a> = (&'a [&'a str], &'a [&'a str], Result<&'a [&'a str], TargetRefusal>);
        #[rustfmt::skip]
        let table: &[Case<'_>] = &[
            // Without resource indicators: the client's usual audiences.
            (&[], &[], Ok(&[])),
            // A grant of one resource: its tokens are for it, named or not.
            (&[], &[a], Ok(&[a])),
            (&[a], &[a], Ok(&[a])),
            // A grant of several: one of them when named, all of them otherwise.
            (&[b], &[a, b], Ok(&[b])),
            (&[], &[a, b], Ok(&[a, b])),
            (&["https://c.example"], &[a, b], Err(TargetRefusal::NotGranted)),
            // A resource the client no longer registers is dropped from the grant.
            (&[], &[a, "https://gone.example"], Ok(&[a])),
            (&[], &["https://gone.example"], Err(TargetRefusal::NotRegistered)),
            // A grant that named none may be narrowed to any registered resource.
            (&["https://c.example"], &[], Ok(&["https://c.example"])),
            (&["https://d.example"], &[], Err(TargetRefusal::NotRegistered)),
            (&["https://a.example#f"], &[], Err(TargetRefusal::Malformed)),
            (&[a, b], &[a, b], Err(TargetRefusal::TooMany)),
        ];
        for (requested, grant, expected) in table {
            let expected = expected.clone().map(list);
            assert_eq!(
                audience(requested, &list(grant), &registered),
                expected,
                "{requested:?} in {grant:?}"
            );
        }
    }
}
