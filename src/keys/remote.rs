//! Key sets published by others (a client's `jwks_uri`, an external issuer's JWKS), as rules
//! without any I/O: which URLs jwtd fetches at all, how long a fetched document stays fresh,
//! when a request for an unknown `kid` may fetch it again, when a cached copy still serves after
//! a failed fetch, and what a published key set may hold. `authority::remote_jwks` fetches and
//! caches by these rules.

use jsonwebtoken::jwk::JwkSet;
use serde::Deserialize;
use url::{Host, Url};

/// Members that only a private or symmetric key has (RFC 7518 §6.2.2, §6.3.2, §6.4; RFC 8037
/// §2): a set that carries one was published by mistake, and jwtd refuses to trust it.
const PRIVATE_MEMBERS: [&str; 8] = ["d", "p", "q", "dp", "dq", "qi", "oth", "k"];

/// How long fetched documents stay fresh and how often a missing `kid` may fetch one again, in
/// seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FreshnessRules {
    /// The shortest freshness, whatever the remote says (`no-store` included): a remote cannot
    /// make jwtd fetch on every request.
    pub min_max_age: i64,
    /// The longest freshness, and how old a cached copy may grow while fetches fail.
    pub max_max_age: i64,
    /// The freshness of a document served without `Cache-Control: max-age`.
    pub default_max_age: i64,
    /// After any fetch, an unknown `kid` fetches the set again only this much later, so a flood
    /// of made-up `kid`s costs the remote one request per cool-down; failed fetches are not
    /// retried sooner either.
    pub unknown_kid_cooldown: i64,
}

impl FreshnessRules {
    /// The seconds a document served with this `Cache-Control` header stays fresh: its
    /// `max-age` (`no-store` and `no-cache` count as 0), else the default, always within
    /// [`min_max_age`, `max_max_age`].
    pub fn max_age(&self, cache_control: Option<&str>) -> i64 {
        let declared = cache_control.and_then(declared_max_age).unwrap_or(self.default_max_age);
        declared.clamp(self.min_max_age, self.max_max_age.max(self.min_max_age))
    }
}

/// The `max-age` a `Cache-Control` header declares, if any.
fn declared_max_age(header: &str) -> Option<i64> {
    let mut max_age = None;
    for directive in header.split(',').map(str::trim) {
        let (name, value) = match directive.split_once('=') {
            Some((name, value)) => (name.trim(), value.trim().trim_matches('"')),
            None => (directive, ""),
        };
        if name.eq_ignore_ascii_case("no-store") || name.eq_ignore_ascii_case("no-cache") {
            return Some(0);
        }
        if name.eq_ignore_ascii_case("max-age") && max_age.is_none() {
            let digits = !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit());
            // A number too large for i64 is "forever", which the clamp turns into the longest.
            max_age = digits.then(|| value.parse::<i64>().unwrap_or(i64::MAX));
        }
    }
    max_age
}

/// What is known of one remote document when someone asks for it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CacheState {
    /// When the cached copy was fetched, and for how many seconds it is fresh.
    pub cached: Option<(i64, i64)>,
    /// When it was last fetched or tried, and whether that failed.
    pub last_attempt: Option<(i64, bool)>,
}

/// Which key the caller looks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wanted {
    /// Any: the set itself.
    AnyKey,
    /// A `kid` the cached set holds.
    CachedKid,
    /// A `kid` the cached set does not hold (or there is no cached set).
    MissingKid,
}

/// What to do for one request of a document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Answer from the cache.
    Serve,
    /// Fetch the document (once for everyone waiting: the caller holds the document's flight).
    Fetch,
    /// The `kid` is not in the set, which was fetched within the cool-down.
    UnknownKid,
    /// No usable copy, and the last fetch failed within the cool-down: answer its error.
    Failing,
}

/// The rules, top to bottom:
/// - a fetch (or a failed try) within the cool-down is not repeated;
/// - a fresh copy serves; so does a stale one not older than `max_max_age` while fetches fail
///   (stale-if-error);
/// - a `kid` missing from a usable copy fetches again once the cool-down has passed;
/// - otherwise the document is fetched, unless the last try failed within the cool-down.
pub fn decide(state: CacheState, wanted: Wanted, now: i64, rules: &FreshnessRules) -> Decision {
    // A fetch made this very second always cools, whatever the configured cool-down.
    let cooldown = rules.unknown_kid_cooldown.max(1);
    let cooling = state.last_attempt.is_some_and(|(at, _)| now.saturating_sub(at) < cooldown);
    let failing = cooling && state.last_attempt.is_some_and(|(_, failed)| failed);
    let usable = state.cached.is_some_and(|(fetched_at, max_age)| {
        let age = now.saturating_sub(fetched_at);
        age < max_age || (failing && age < rules.max_max_age)
    });
    match (usable, wanted) {
        (true, Wanted::AnyKey | Wanted::CachedKid) => Decision::Serve,
        (true, Wanted::MissingKid) if !cooling => Decision::Fetch,
        (true, Wanted::MissingKid) if failing => Decision::Failing,
        (true, Wanted::MissingKid) => Decision::UnknownKid,
        (false, _) if failing => Decision::Failing,
        (false, _) => Decision::Fetch,
    }
}

/// The URL to fetch, if jwtd may fetch it: `https`; plain `http` only to a loopback host
/// (127.0.0.0/8, `[::1]`, `localhost`) and only where `allow_http_loopback` (never in
/// production); no user information. The refusal is a sentence to follow the URL.
pub fn check_fetch_uri(uri: &str, allow_http_loopback: bool) -> Result<Url, String> {
    let url = Url::parse(uri).map_err(|_| "is not an absolute URL".to_owned())?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err("carries user information (user@host); key sets are fetched without".to_owned());
    }
    let loopback = match url.host() {
        Some(Host::Ipv4(ip)) => ip.is_loopback(),
        Some(Host::Ipv6(ip)) => ip.is_loopback(),
        Some(Host::Domain(name)) => name.eq_ignore_ascii_case("localhost"),
        None => false,
    };
    match (url.scheme(), loopback, allow_http_loopback) {
        ("https", _, _) | ("http", true, true) => Ok(url),
        ("http", true, false) => Err(
            "uses plain http, which only a development deployment allows (for a loopback host): use https"
                .to_owned(),
        ),
        ("http", false, _) => Err("uses plain http on a host that is not loopback: use https".to_owned()),
        (scheme, _, _) => Err(format!("uses the scheme {scheme:?}: key sets are fetched over https")),
    }
}

/// Where an OpenID issuer publishes its configuration (OpenID Connect Discovery 1.0 §4.1).
pub fn discovery_uri(issuer: &str) -> String {
    format!("{}/.well-known/openid-configuration", issuer.trim_end_matches('/'))
}

/// A published key set: JSON with a `keys` array of JWKs, none carrying a private member. The
/// refusal says what is wrong without quoting the document.
pub fn public_key_set(body: &[u8]) -> Result<JwkSet, String> {
    let document: serde_json::Value = serde_json::from_slice(body).map_err(|e| not_json(&e))?;
    let keys = document
        .get("keys")
        .and_then(serde_json::Value::as_array)
        .ok_or("the key set has no \"keys\" array (RFC 7517 §5)")?;
    for (index, key) in keys.iter().enumerate() {
        let member =
            key.as_object().and_then(|key| PRIVATE_MEMBERS.into_iter().find(|m| key.contains_key(*m)));
        if let Some(member) = member {
            return Err(format!(
                "key {index} of the set carries the private member {member:?}: a published key set \
                 holds public keys only (and that key should be treated as compromised)"
            ));
        }
    }
    serde_json::from_value(document).map_err(|_| "the key set's keys are not JWKs (RFC 7517 §4)".to_owned())
}

/// Why an issuer's discovery document is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DiscoveryRefusal {
    /// Not JSON, or without a `jwks_uri`.
    Malformed(String),
    /// It names another issuer (shown truncated to 100 characters).
    IssuerMismatch(String),
}

/// The `jwks_uri` of `issuer`'s discovery document, which must name `issuer` exactly (OpenID
/// Connect Discovery 1.0 §4.3: otherwise it could hand out another issuer's keys).
pub fn discovered_jwks_uri(body: &[u8], issuer: &str) -> Result<String, DiscoveryRefusal> {
    #[derive(Deserialize)]
    struct Metadata {
        issuer: String,
        jwks_uri: Option<String>,
    }
    let malformed = |what: &str| DiscoveryRefusal::Malformed(format!("the discovery document {what}"));
    let metadata: Metadata = serde_json::from_slice(body).map_err(|e| match e.classify() {
        serde_json::error::Category::Data => {
            malformed("lacks the \"issuer\" string or has a \"jwks_uri\" that is no string")
        }
        _ => malformed("is not JSON"),
    })?;
    if metadata.issuer != issuer {
        return Err(DiscoveryRefusal::IssuerMismatch(metadata.issuer.chars().take(100).collect()));
    }
    metadata.jwks_uri.ok_or_else(|| malformed("has no \"jwks_uri\""))
}

/// A JSON parse error as a sentence that quotes nothing of the document.
fn not_json(error: &serde_json::Error) -> String {
    format!("the key set is not JSON (line {}, column {})", error.line(), error.column())
}

#[cfg(test)]
mod tests {
    use super::*;

    const RULES: FreshnessRules = FreshnessRules {
        min_max_age: 60,
        max_max_age: 86_400,
        default_max_age: 300,
        unknown_kid_cooldown: 30,
    };

    #[test]
    fn freshness_follows_max_age_within_bounds() {
        let cases: [(Option<&str>, i64); 12] = [
            (None, 300),
            (Some(""), 300),
            (Some("public"), 300),
            (Some("max-age=600"), 600),
            (Some("public, max-age=3600, must-revalidate"), 3_600),
            (Some("Max-Age=\"120\""), 120),
            (Some("max-age=5"), 60),
            (Some("max-age=31536000"), 86_400),
            (Some("max-age=99999999999999999999999"), 86_400),
            (Some("max-age=-5"), 300),
            (Some("no-store"), 60),
            (Some("max-age=600, no-cache"), 60),
        ];
        for (header, expected) in cases {
            assert_eq!(RULES.max_age(header), expected, "{header:?}");
        }
    }

    #[test]
    fn the_cache_decides_between_serving_fetching_and_refusing() {
        use Decision::*;
        use Wanted::*;
        let fresh = Some((1_000, 300));
        let state = |cached, last_attempt| CacheState { cached, last_attempt };
        let cases: [(&str, CacheState, Wanted, i64, Decision); 17] = [
            ("nothing cached", state(None, None), AnyKey, 1_000, Fetch),
            ("fresh", state(fresh, Some((1_000, false))), AnyKey, 1_299, Serve),
            ("fresh, kid cached", state(fresh, Some((1_000, false))), CachedKid, 1_299, Serve),
            ("stale", state(fresh, Some((1_000, false))), AnyKey, 1_300, Fetch),
            (
                "unknown kid within the cool-down",
                state(fresh, Some((1_000, false))),
                MissingKid,
                1_029,
                UnknownKid,
            ),
            ("unknown kid after the cool-down", state(fresh, Some((1_000, false))), MissingKid, 1_030, Fetch),
            (
                "unknown kid, a failed try cooling",
                state(fresh, Some((1_100, true))),
                MissingKid,
                1_110,
                Failing,
            ),
            ("fresh despite a failed try", state(fresh, Some((1_100, true))), AnyKey, 1_110, Serve),
            ("stale-if-error", state(fresh, Some((2_000, true))), AnyKey, 2_010, Serve),
            ("stale-if-error, kid", state(fresh, Some((2_000, true))), CachedKid, 2_010, Serve),
            ("stale, a failed try cooled down", state(fresh, Some((2_000, true))), AnyKey, 2_030, Fetch),
            ("too old even for errors", state(fresh, Some((87_390, true))), AnyKey, 87_400, Failing),
            ("never fetched, failed try cooling", state(None, Some((1_000, true))), AnyKey, 1_029, Failing),
            ("never fetched, failed try cooled", state(None, Some((1_000, true))), MissingKid, 1_030, Fetch),
            (
                "a fetch this second always cools",
                state(fresh, Some((1_000, false))),
                MissingKid,
                1_000,
                UnknownKid,
            ),
            ("clock went back", state(fresh, Some((1_000, false))), MissingKid, 900, UnknownKid),
            (
                "stale, last fetch fine (short max-age)",
                state(Some((1_000, 10)), Some((1_000, false))),
                AnyKey,
                1_020,
                Fetch,
            ),
        ];
        for (name, state, wanted, now, expected) in cases {
            assert_eq!(decide(state, wanted, now, &RULES), expected, "{name}");
        }
        let no_cooldown = FreshnessRules { unknown_kid_cooldown: 0, ..RULES };
        assert_eq!(decide(state(fresh, Some((1_000, false))), MissingKid, 1_000, &no_cooldown), UnknownKid);
    }

    #[test]
    fn only_https_or_loopback_http_in_development_is_fetched() {
        let cases: [(&str, bool, bool); 14] = [
            ("https://issuer.example/jwks", false, true),
            ("https://10.0.0.1/jwks", false, true),
            ("http://127.0.0.1:8080/jwks", true, true),
            ("http://127.3.4.5/jwks", true, true),
            ("http://[::1]:9000/jwks", true, true),
            ("http://localhost/jwks", true, true),
            ("http://127.0.0.1:8080/jwks", false, false),
            ("http://localhost/jwks", false, false),
            ("http://issuer.example/jwks", true, false),
            ("http://10.0.0.1/jwks", true, false),
            ("http://localhost.example/jwks", true, false),
            ("ftp://issuer.example/jwks", true, false),
            ("https://user:pw@issuer.example/jwks", true, false),
            ("/jwks", true, false),
        ];
        for (uri, allow_http_loopback, fetched) in cases {
            assert_eq!(
                check_fetch_uri(uri, allow_http_loopback).is_ok(),
                fetched,
                "{uri} {allow_http_loopback}"
            );
        }
        let refusal = check_fetch_uri("http://issuer.example/jwks", true).unwrap_err();
        assert!(refusal.contains("not loopback"), "{refusal}");
    }

    #[test]
    fn a_published_set_holds_public_keys_only() {
        let ec = r#"{"kty":"EC","crv":"P-256","kid":"a","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}"#;
        assert_eq!(public_key_set(format!(r#"{{"keys":[{ec}]}}"#).as_bytes()).unwrap().keys.len(), 1);
        assert!(public_key_set(br#"{"keys":[]}"#).unwrap().keys.is_empty());
        let refused: [(&str, &str); 6] = [
            ("{not json", "not JSON"),
            (r#"{"kid":"a"}"#, "no \"keys\""),
            (r#"{"keys":{}}"#, "no \"keys\""),
            (r#"{"keys":[{"kty":"oct","k":"c2VjcmV0"}]}"#, "\"k\""),
            (r#"{"keys":[{"kty":"EC","crv":"P-256","x":"AA","y":"AA","d":"c2VjcmV0"}]}"#, "\"d\""),
            (r#"{"keys":[7]}"#, "not JWKs"),
        ];
        for (body, why) in refused {
            let refusal = public_key_set(body.as_bytes()).unwrap_err();
            assert!(refusal.contains(why), "{body}: {refusal}");
            assert!(!refusal.contains("c2VjcmV0"), "never quotes the document: {refusal}");
        }
    }

    #[test]
    fn a_discovery_document_must_name_its_issuer_exactly() {
        let issuer = "https://issuer.example";
        assert_eq!(
            discovery_uri("https://issuer.example/"),
            "https://issuer.example/.well-known/openid-configuration"
        );
        assert_eq!(
            discovery_uri("https://k8s.example/cluster-1"),
            "https://k8s.example/cluster-1/.well-known/openid-configuration"
        );
        let document = |iss: &str| format!(r#"{{"issuer":"{iss}","jwks_uri":"{iss}/keys"}}"#);
        assert_eq!(
            discovered_jwks_uri(document(issuer).as_bytes(), issuer).unwrap(),
            "https://issuer.example/keys"
        );
        assert_eq!(
            discovered_jwks_uri(document("https://evil.example").as_bytes(), issuer),
            Err(DiscoveryRefusal::IssuerMismatch("https://evil.example".to_owned()))
        );
        assert!(matches!(
            discovered_jwks_uri(document("https://issuer.example/").as_bytes(), issuer),
            Err(DiscoveryRefusal::IssuerMismatch(_))
        ));
        for body in ["[", r#"{"jwks_uri":"https://x"}"#, r#"{"issuer":"https://issuer.example"}"#] {
            assert!(
                matches!(discovered_jwks_uri(body.as_bytes(), issuer), Err(DiscoveryRefusal::Malformed(_))),
                "{body}"
            );
        }
    }
}
