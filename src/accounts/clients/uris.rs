//! Where a client's browser sign-in may send people back to (redirect URIs) and which pages may
//! call jwtd from a browser (web origins): the rules at registration, and the one match of a
//! presented redirect URI against the registered ones.
//!
//! Parsing follows the WHATWG URL standard (the `url` crate), as browsers do, so a URI means to
//! these checks what it means to the browser that will follow it. The URI itself is stored as
//! written: redirect URIs are compared as exact strings (RFC 9700 §4.1.3), never normalised.

use url::{Host, Url};

use super::ApplicationType;

/// Longest redirect URI or web origin accepted.
pub const MAX_URI_LEN: usize = 512;
/// Most redirect URIs, and most web origins, one client may register.
pub const MAX_URIS: usize = 16;

/// Whether jwtd runs in production: web clients' plain-http loopback URIs (a developer's own
/// machine) are refused there. The configuration's environment decides (see
/// `config::Settings::deployment`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Deployment {
    Development,
    Production,
}

/// Why a URI is refused: a sentence to follow the URI itself in an error.
pub type Refusal = String;

/// Checks one redirect URI of a client of `application_type`.
///
/// - every client: absolute, at most [`MAX_URI_LEN`] characters, no spaces or control
///   characters, no fragment (RFC 6749 §3.1.2), no wildcard (matching is exact), no user
///   information;
/// - web clients: `https`; `http` only for a loopback host (`127.0.0.1`, `[::1]`, `localhost`)
///   outside production;
/// - native clients (RFC 8252): loopback `http` on an IP literal, `127.0.0.1` or `[::1]` (§7.3;
///   not `localhost`, §8.3), any port; a private-use scheme containing a dot, such as
///   `com.example.app:/cb` (§7.1); or `https` (§7.2).
pub fn check_redirect_uri(
    uri: &str,
    application_type: ApplicationType,
    deployment: Deployment,
) -> Result<(), Refusal> {
    let url = parse_absolute(uri)?;
    if url.fragment().is_some() {
        return Err("has a fragment (#...); redirect URIs may not (RFC 6749 §3.1.2)".to_owned());
    }
    if uri.contains('*') {
        return Err("has a wildcard (*); redirect URIs are matched exactly, register each one".to_owned());
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("carries user information (user@host); redirect URIs may not".to_owned());
    }
    match (application_type, url.scheme()) {
        (_, "https") => Ok(()),
        (ApplicationType::Web, "http") => web_http(&url, deployment),
        (ApplicationType::Web, scheme) => Err(format!(
            "uses the scheme {scheme:?}; a web client's redirect URIs use https (register a native \
             client for a private-use scheme)"
        )),
        (ApplicationType::Native, "http") => native_http(&url),
        (ApplicationType::Native, scheme) if scheme.contains('.') => Ok(()),
        (ApplicationType::Native, scheme) => Err(format!(
            "uses the scheme {scheme:?}; a native client's private-use scheme contains a dot, a \
             reversed domain name such as com.example.app (RFC 8252 §7.1), or the URI uses https \
             or loopback http"
        )),
    }
}

/// Checks one web origin: `scheme://host[:port]` exactly as browsers send it in `Origin`
/// (lower case, no default port, no path, no trailing slash); `https`, or `http` only for a
/// loopback host outside production.
pub fn check_web_origin(origin: &str, deployment: Deployment) -> Result<(), Refusal> {
    let url = parse_absolute(origin)?;
    match url.scheme() {
        "https" => {}
        "http" => web_http(&url, deployment)?,
        scheme => return Err(format!("uses the scheme {scheme:?}; web origins use https")),
    }
    let expected = url.origin().ascii_serialization();
    if expected != origin {
        return Err(format!(
            "is not an origin as browsers send it (scheme://host[:port], no path, no trailing \
             slash): write it as {expected:?}"
        ));
    }
    Ok(())
}

/// Checks a URI jwtd itself calls from the server (a back-channel logout URI, OpenID Connect
/// Back-Channel Logout 1.0 §2.2; a client's `jwks_uri`): absolute, bounded, no fragment, no user
/// information; `https`, or `http` only for a loopback host outside production.
pub fn check_server_uri(uri: &str, deployment: Deployment) -> Result<(), Refusal> {
    let url = parse_absolute(uri)?;
    if url.fragment().is_some() {
        return Err("has a fragment (#...); a URI jwtd calls may not".to_owned());
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("carries user information (user@host); it may not".to_owned());
    }
    match url.scheme() {
        "https" => Ok(()),
        "http" => web_http(&url, deployment),
        scheme => Err(format!("uses the scheme {scheme:?}; jwtd calls https URIs only")),
    }
}

/// Whether `presented` is one of `registered`: the exact string, or, for a native client, a
/// loopback redirect URI (`http://127.0.0.1:{port}/...`, `http://[::1]:{port}/...`) that differs
/// from a registered one in its port alone (RFC 8252 §7.3: the app's listener takes whatever
/// port is free). Scheme, host, path and query still match exactly.
pub fn redirect_uri_matches(
    registered: &[String],
    application_type: ApplicationType,
    presented: &str,
) -> bool {
    if registered.iter().any(|uri| uri == presented) {
        return true;
    }
    if application_type != ApplicationType::Native {
        return false;
    }
    let Some(presented) = loopback_without_port(presented) else {
        return false;
    };
    registered.iter().filter_map(|uri| loopback_without_port(uri)).any(|uri| uri == presented)
}

/// A loopback redirect URI split into its prefix up to the host and what follows the port
/// (path, query and anything after), or `None` if it is not one. Works on the string as written,
/// so that everything but the port is compared exactly.
fn loopback_without_port(uri: &str) -> Option<(&'static str, &str)> {
    for prefix in ["http://127.0.0.1", "http://[::1]"] {
        let Some(after_host) = uri.strip_prefix(prefix) else {
            continue;
        };
        let rest = match after_host.strip_prefix(':') {
            Some(port_and_rest) => {
                let digits = port_and_rest.bytes().take_while(u8::is_ascii_digit).count();
                let (port, rest) = port_and_rest.split_at_checked(digits)?;
                port.parse::<u16>().ok()?;
                rest
            }
            None => after_host,
        };
        // Anything else after the host (`@`, more host characters) is not a loopback URI.
        return (rest.is_empty() || rest.starts_with('/') || rest.starts_with('?')).then_some((prefix, rest));
    }
    None
}

fn parse_absolute(uri: &str) -> Result<Url, Refusal> {
    if uri.len() > MAX_URI_LEN {
        return Err(format!("is longer than {MAX_URI_LEN} characters"));
    }
    // The URL parser would drop these silently, so the stored string would mean something else.
    if uri.chars().any(|c| c.is_whitespace() || c.is_control() || c == '\\') {
        return Err("contains spaces, control characters or backslashes".to_owned());
    }
    Url::parse(uri).map_err(|_| "is not an absolute URI (scheme:...)".to_owned())
}

fn is_loopback_ip(host: Option<Host<&str>>) -> bool {
    match host {
        Some(Host::Ipv4(ip)) => ip == std::net::Ipv4Addr::LOCALHOST,
        Some(Host::Ipv6(ip)) => ip == std::net::Ipv6Addr::LOCALHOST,
        _ => false,
    }
}

/// Plain http for a web client (or a web origin): a loopback host on a developer's machine only.
fn web_http(url: &Url, deployment: Deployment) -> Result<(), Refusal> {
    let loopback = is_loopback_ip(url.host()) || url.host() == Some(Host::Domain("localhost"));
    match (loopback, deployment) {
        (true, Deployment::Development) => Ok(()),
        (true, Deployment::Production) => {
            Err("uses http, which production refuses even for a loopback host: use https".to_owned())
        }
        (false, _) => Err("uses http on a host that is not loopback: use https (http only for \
                           127.0.0.1, [::1] or localhost, outside production)"
            .to_owned()),
    }
}

/// Plain http for a native client: the loopback interface, named by its IP literal.
fn native_http(url: &Url) -> Result<(), Refusal> {
    if is_loopback_ip(url.host()) {
        return Ok(());
    }
    if url.host() == Some(Host::Domain("localhost")) {
        return Err("uses localhost; a native client's loopback redirect URI names 127.0.0.1 or \
                    [::1] (RFC 8252 §8.3)"
            .to_owned());
    }
    Err("uses http on a host that is not loopback; a native client uses http only for \
         127.0.0.1 or [::1] (RFC 8252 §7.3)"
        .to_owned())
}

// Resource indicators (RFC 8707 §2).
/// Longest resource identifier accepted, like every audience jwtd registers.
pub const MAX_RESOURCE_LEN: usize = 512;
/// Most resources one authorization request may name (a client registers at most this many).
pub const MAX_RESOURCES: usize = 16;

/// Whether `resource` is a resource identifier: an absolute URI (a scheme, then something)
/// without a fragment, bounded, without spaces or control characters.
pub fn is_resource_uri(resource: &str) -> bool {
    let bounded = !resource.is_empty()
        && resource.len() <= MAX_RESOURCE_LEN
        && !resource.chars().any(|c| c.is_whitespace() || c.is_control());
    bounded && !resource.contains('#') && url::Url::parse(resource).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use ApplicationType::{Native, Web};
    use Deployment::{Development, Production};

    #[test]
    fn redirect_uris_are_checked_per_application_type_and_deployment() {
        let long = format!("https://app.example/{}", "a".repeat(MAX_URI_LEN));
        #[rustfmt::skip]
        let table: &[(&str, ApplicationType, Deployment, bool)] = &[
            ("https://app.example/cb", Web, Production, true),
            ("https://app.example/cb?x=1", Web, Production, true),
            ("http://127.0.0.1:3000/cb", Web, Development, true),
            ("http://[::1]:3000/cb", Web, Development, true),
            ("http://localhost:3000/cb", Web, Development, true),
            ("http://localhost:3000/cb", Web, Production, false),
            ("http://app.example/cb", Web, Development, false),
            ("com.example.app:/cb", Web, Development, false),
            ("javascript:alert(1)", Web, Development, false),
            ("https://app.example/cb#frag", Web, Development, false),
            ("https://*.example/cb", Web, Development, false),
            ("https://app.example/*", Web, Development, false),
            ("/cb", Web, Development, false),
            ("app.example/cb", Web, Development, false),
            ("https://user:pw@app.example/cb", Web, Development, false),
            ("https://app.example/c b", Web, Development, false),
            ("https:\\\\app.example/cb", Web, Development, false),
            (&long, Web, Development, false),
            ("http://127.0.0.1/cb", Native, Production, true),
            ("http://127.0.0.1:8400/cb", Native, Production, true),
            ("http://[::1]/cb", Native, Production, true),
            ("http://localhost/cb", Native, Production, false),
            ("http://app.example/cb", Native, Development, false),
            ("com.example.app:/oauth2redirect", Native, Production, true),
            ("com.example.app://cb", Native, Production, true),
            ("myapp:/cb", Native, Production, false),
            ("https://app.example/cb", Native, Production, true),
            ("com.example.app:/cb#x", Native, Production, false),
        ];
        for (uri, application_type, deployment, ok) in table {
            let result = check_redirect_uri(uri, *application_type, *deployment);
            assert_eq!(result.is_ok(), *ok, "{uri} ({application_type:?}, {deployment:?}): {result:?}");
        }
    }

    #[test]
    fn refusals_say_which_rule() {
        let refusal = |uri, t| check_redirect_uri(uri, t, Development).unwrap_err();
        assert!(refusal("https://a.example/#x", Web).contains("fragment"));
        assert!(refusal("https://*.a.example/", Web).contains("wildcard"));
        assert!(refusal("http://localhost/cb", Native).contains("§8.3"));
        assert!(refusal("myapp:/cb", Native).contains("dot"));
        assert!(refusal("ftp://a.example/", Web).contains("\"ftp\""));
        let production = check_redirect_uri("http://127.0.0.1/cb", Web, Production).unwrap_err();
        assert!(production.contains("production"));
    }

    #[test]
    fn web_origins_are_exactly_what_browsers_send() {
        #[rustfmt::skip]
        let table: &[(&str, Deployment, bool)] = &[
            ("https://app.example", Production, true),
            ("https://app.example:8443", Production, true),
            ("http://localhost:3000", Development, true),
            ("http://127.0.0.1:3000", Development, true),
            ("http://localhost:3000", Production, false),
            ("http://app.example", Development, false),
            ("https://app.example/", Production, false),
            ("https://app.example/path", Production, false),
            ("https://App.example", Production, false),
            ("https://app.example:443", Production, false),
            ("https://app.example#x", Production, false),
            ("com.example.app:", Production, false),
            ("app.example", Production, false),
        ];
        for (origin, deployment, ok) in table {
            let result = check_web_origin(origin, *deployment);
            assert_eq!(result.is_ok(), *ok, "{origin} ({deployment:?}): {result:?}");
        }
        let refusal = check_web_origin("https://app.example/", Production).unwrap_err();
        assert!(refusal.contains("\"https://app.example\""), "{refusal}");
    }

    #[test]
    fn redirect_uris_match_exactly_but_for_a_native_clients_loopback_port() {
        let registered = [
            "https://app.example/cb".to_owned(),
            "http://127.0.0.1/cb".to_owned(),
            "http://[::1]:8000/cb?x=1".to_owned(),
            "com.example.app:/cb".to_owned(),
        ];
        #[rustfmt::skip]
        let table: &[(&str, ApplicationType, bool)] = &[
            ("https://app.example/cb", Web, true),
            ("https://app.example/cb/", Web, false),
            ("https://app.example/cb?x", Web, false),
            ("https://APP.example/cb", Web, false),
            ("https://app.example:443/cb", Web, false),
            ("http://127.0.0.1/cb", Web, true),
            ("http://127.0.0.1:5000/cb", Web, false),
            ("http://127.0.0.1:5000/cb", Native, true),
            ("http://127.0.0.1:65535/cb", Native, true),
            ("http://127.0.0.1:65536/cb", Native, false),
            ("http://127.0.0.1:/cb", Native, false),
            ("http://127.0.0.1:5000/cb/", Native, false),
            ("http://127.0.0.1:5000/cb?y", Native, false),
            ("http://127.0.0.1:5000/other", Native, false),
            ("http://127.0.0.1:5000@evil.example/cb", Native, false),
            ("http://127.0.0.10:5000/cb", Native, false),
            ("https://127.0.0.1:5000/cb", Native, false),
            ("http://localhost:5000/cb", Native, false),
            ("http://[::1]/cb?x=1", Native, true),
            ("http://[::1]:1234/cb?x=1", Native, true),
            ("http://[::1]:1234/cb", Native, false),
            ("http://127.0.0.1:1234/cb?x=1", Native, false),
            ("com.example.app:/cb", Native, true),
            ("com.example.app:/cb2", Native, false),
        ];
        for (presented, application_type, ok) in table {
            assert_eq!(
                redirect_uri_matches(&registered, *application_type, presented),
                *ok,
                "{presented} ({application_type:?})"
            );
        }
    }
}
