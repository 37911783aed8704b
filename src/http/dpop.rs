//! DPoP (RFC 9449) at the edge: the request's `DPoP` headers, and the `DPoP-Nonce` header.

use actix_web::HttpRequest;
use actix_web::http::header::{HeaderMap, HeaderName, HeaderValue};

/// The header a client sends its proof in (RFC 9449 §4.1).
pub const DPOP: HeaderName = HeaderName::from_static("dpop");
/// The header jwtd sends a nonce in (RFC 9449 §8.1).
pub const DPOP_NONCE: HeaderName = HeaderName::from_static("dpop-nonce");

/// Every `DPoP` header value of the request, in order. A value that is not visible ASCII is
/// kept as an empty proof, which the check refuses as malformed.
pub fn proofs(req: &HttpRequest) -> Vec<&str> {
    req.headers().get_all(DPOP).map(|value| value.to_str().unwrap_or_default()).collect()
}

/// Sets `DPoP-Nonce: nonce` (a nonce is base64url, so always a valid header value).
pub fn insert_nonce(headers: &mut HeaderMap, nonce: &str) {
    if let Ok(value) = HeaderValue::from_str(nonce) {
        headers.insert(DPOP_NONCE, value);
    }
}
