//! HTTP for the key cache and the revocation feed: bounded GETs, `Cache-Control: max-age`,
//! `ETag`, and discovery. Errors are the key set's (`Jwks*`); the feed renames them.

use std::time::Duration;

use reqwest::header::{CACHE_CONTROL, ETAG, HeaderMap, IF_NONE_MATCH};
use reqwest::{StatusCode, Url};
use serde_json::Value;

use crate::Error;
use crate::strict_json::parse_object;

/// Limits on one request: the whole exchange (connect, headers, body) must finish within
/// `timeout`, and the body may not exceed `max_body` bytes.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RequestLimits {
    pub timeout: Duration,
    pub max_body: usize,
}

/// A 200 with its body, or a 304 confirming the set we have.
#[derive(Debug)]
pub(crate) enum Fetched {
    Modified { body: Vec<u8>, max_age: Option<u64>, etag: Option<String> },
    NotModified { max_age: Option<u64> },
}

/// GETs `url` asking for `accept`, sending `If-None-Match` when we hold an `etag`.
pub(crate) async fn get(
    client: &reqwest::Client,
    url: &Url,
    accept: &'static str,
    etag: Option<&str>,
    limits: RequestLimits,
) -> Result<Fetched, Error> {
    tokio::time::timeout(limits.timeout, get_unbounded_in_time(client, url, accept, etag, limits.max_body))
        .await
        .map_err(|_| Error::JwksTimeout)?
}

async fn get_unbounded_in_time(
    client: &reqwest::Client,
    url: &Url,
    accept: &'static str,
    etag: Option<&str>,
    max_body: usize,
) -> Result<Fetched, Error> {
    let mut request = client.get(url.clone()).header(reqwest::header::ACCEPT, accept);
    if let Some(etag) = etag {
        request = request.header(IF_NONE_MATCH, etag);
    }
    let mut response = request.send().await.map_err(transport)?;
    let status = response.status();
    let max_age = max_age(response.headers());
    if status == StatusCode::NOT_MODIFIED && etag.is_some() {
        return Ok(Fetched::NotModified { max_age });
    }
    if status != StatusCode::OK {
        return Err(Error::JwksStatus(status.as_u16()));
    }
    let etag = response.headers().get(ETAG).and_then(|v| v.to_str().ok()).map(str::to_owned);
    if response.content_length().is_some_and(|len| len > max_body as u64) {
        return Err(Error::JwksTooLarge);
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(transport)? {
        if body.len().saturating_add(chunk.len()) > max_body {
            return Err(Error::JwksTooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(Fetched::Modified { body, max_age, etag })
}

fn transport(error: reqwest::Error) -> Error {
    if error.is_timeout() {
        return Error::JwksTimeout;
    }
    // Without the URL: it is configuration, but error chains end up in client-facing logs.
    Error::JwksTransport(error.without_url().to_string())
}

/// `max-age` from `Cache-Control` (RFC 9111 §5.2.2.1); `no-cache` and `no-store` count as 0.
pub(crate) fn max_age(headers: &HeaderMap) -> Option<u64> {
    let mut found = None;
    for value in headers.get_all(CACHE_CONTROL).iter().filter_map(|v| v.to_str().ok()) {
        for directive in value.split(',').map(str::trim) {
            let (name, argument) = directive.split_once('=').unwrap_or((directive, ""));
            let name = name.trim();
            if name.eq_ignore_ascii_case("no-store") || name.eq_ignore_ascii_case("no-cache") {
                return Some(0);
            }
            if name.eq_ignore_ascii_case("max-age") {
                found = argument.trim().trim_matches('"').parse::<u64>().ok().or(found);
            }
        }
    }
    found
}

/// Where the JWKS lives according to the issuer's discovery document (OpenID Connect
/// Discovery §4, RFC 8414 §3). The document's `issuer` must equal ours exactly, or anyone
/// who can serve that URL could name keys for another issuer.
pub(crate) async fn discover_jwks_uri(
    client: &reqwest::Client,
    issuer: &str,
    limits: RequestLimits,
) -> Result<Url, Error> {
    let url = Url::parse(&format!("{}/.well-known/openid-configuration", issuer.trim_end_matches('/')))
        .map_err(|_| Error::DiscoveryInvalid("issuer is not a URL"))?;
    let Fetched::Modified { body, .. } = get(client, &url, "application/json", None, limits).await? else {
        return Err(Error::DiscoveryInvalid("unexpected 304"));
    };
    let metadata = parse_object(&body).map_err(|_| Error::DiscoveryInvalid("not a JSON object"))?;
    if metadata.get("issuer").and_then(Value::as_str) != Some(issuer) {
        return Err(Error::DiscoveryInvalid("issuer does not match"));
    }
    let jwks_uri =
        metadata.get("jwks_uri").and_then(Value::as_str).ok_or(Error::DiscoveryInvalid("no jwks_uri"))?;
    let jwks_uri = Url::parse(jwks_uri).map_err(|_| Error::DiscoveryInvalid("jwks_uri is not a URL"))?;
    if !matches!(jwks_uri.scheme(), "https" | "http") {
        return Err(Error::DiscoveryInvalid("jwks_uri is not http(s)"));
    }
    Ok(jwks_uri)
}

/// The HTTP client jwtd-verify builds when none is given: connect timeout, at most three
/// redirects (the whole exchange is bounded by each caller's own timeout).
pub(crate) fn default_client(connect_timeout: std::time::Duration) -> reqwest::Result<reqwest::Client> {
    reqwest::Client::builder()
        .connect_timeout(connect_timeout)
        .redirect(reqwest::redirect::Policy::limited(3))
        .build()
}

#[cfg(test)]
mod tests {
    use reqwest::header::HeaderValue;

    use super::*;

    fn headers(values: &[&'static str]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for v in values {
            map.append(CACHE_CONTROL, HeaderValue::from_static(v));
        }
        map
    }

    #[test]
    fn max_age_is_read_from_any_cache_control_value() {
        assert_eq!(max_age(&headers(&["public, max-age=300"])), Some(300));
        assert_eq!(max_age(&headers(&["public", "MAX-AGE = 42"])), Some(42));
        assert_eq!(max_age(&headers(&["max-age=60, no-cache"])), Some(0));
        assert_eq!(max_age(&headers(&["max-age=abc"])), None);
        assert_eq!(max_age(&headers(&[])), None);
    }
}
