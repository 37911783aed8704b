//! Discovery (RFC 8414, OpenID Connect Discovery) and the JWKS (RFC 7517).

use actix_web::http::header::{self, HeaderValue};
use actix_web::web::{self, Bytes};
use actix_web::{HttpRequest, HttpResponse};

use super::Edge;
use crate::authority::Authority;

/// The metadata document, built once at start-up: nothing in it changes while jwtd runs.
pub fn metadata_document(issuer: &str) -> Result<Bytes, serde_json::Error> {
    let dpop_algs: Vec<&str> =
        jwtd_verify::dpop::ProofPolicy::default().algorithms.iter().map(|alg| alg.as_str()).collect();
    let document = serde_json::json!({
        "issuer": issuer,
        "jwks_uri": format!("{issuer}/.well-known/jwks.json"),
        "authorization_endpoint": format!("{issuer}/oauth2/authorize"),
        "token_endpoint": format!("{issuer}/oauth2/token"),
        "revocation_endpoint": format!("{issuer}/oauth2/revoke"),
        "introspection_endpoint": format!("{issuer}/oauth2/introspect"),
        "userinfo_endpoint": format!("{issuer}/userinfo"),
        "end_session_endpoint": format!("{issuer}/oauth2/logout"),
        // jwtd's own extension: the signed revocation feed jwtd-verify polls.
        "revocations_uri": format!("{issuer}/revocations"),
        "grant_types_supported": [
            "authorization_code",
            "client_credentials",
            "password",
            "refresh_token",
            "urn:ietf:params:oauth:grant-type:token-exchange",
        ],
        // `none`: public clients (browser and native apps) present their client_id alone.
        "token_endpoint_auth_methods_supported":
            ["client_secret_basic", "client_secret_post", "private_key_jwt", "none"],
        "revocation_endpoint_auth_methods_supported":
            ["client_secret_basic", "client_secret_post", "private_key_jwt", "none"],
        "introspection_endpoint_auth_methods_supported":
            ["client_secret_basic", "client_secret_post", "private_key_jwt"],
        // private_key_jwt: the algorithms jwtd verifies client assertions with.
        "token_endpoint_auth_signing_alg_values_supported": ["RS256", "PS256", "ES256", "EdDSA"],
        "revocation_endpoint_auth_signing_alg_values_supported": ["RS256", "PS256", "ES256", "EdDSA"],
        "introspection_endpoint_auth_signing_alg_values_supported": ["RS256", "PS256", "ES256", "EdDSA"],
        // DPoP (RFC 9449 §5.1): the algorithms jwtd accepts proofs signed with.
        "dpop_signing_alg_values_supported": dpop_algs,
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "code_challenge_methods_supported": ["S256"],
        "authorization_response_iss_parameter_supported": true,
        "prompt_values_supported": ["none", "login", "consent", "select_account"],
        "backchannel_logout_supported": true,
        "backchannel_logout_session_supported": true,
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256", "ES256", "EdDSA"],
        "scopes_supported": ["openid", "email", "offline_access"],
        "claims_supported": [
            "iss", "sub", "aud", "exp", "iat", "auth_time", "nonce", "sid", "azp", "at_hash", "amr", "email",
        ],
        "claims_parameter_supported": false,
        "request_parameter_supported": false,
        "request_uri_parameter_supported": false,
    });
    serde_json::to_vec(&document).map(Bytes::from)
}

pub async fn metadata(edge: web::Data<Edge>) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, edge.public_cache_control.clone()))
        .content_type("application/json")
        .body(edge.metadata.clone())
}

pub async fn jwks(req: HttpRequest, state: web::Data<Authority>) -> HttpResponse {
    let ring = state.keys.current();
    let cache_control = cache_control(u64::try_from(state.keys.jwks_max_age(&ring)).unwrap_or(0));
    let etag = &ring.jwks.etag;
    let not_modified = if_none_match(&req, etag);
    state.metrics.jwks_served.with_label_values(&[if not_modified { "304" } else { "200" }]).inc();
    let mut response = if not_modified { HttpResponse::NotModified() } else { HttpResponse::Ok() };
    response
        .insert_header((header::CACHE_CONTROL, cache_control))
        .insert_header((header::ETAG, etag.as_str()));
    if not_modified {
        return response.finish();
    }
    response.content_type("application/json").body(ring.jwks.body.clone())
}

/// Weak comparison (RFC 9110 §13.1.2): `W/` prefixes are ignored, `*` matches anything.
fn if_none_match(req: &HttpRequest, etag: &str) -> bool {
    req.headers().get_all(header::IF_NONE_MATCH).filter_map(|v| v.to_str().ok()).any(|value| {
        value.split(',').map(str::trim).any(|tag| tag == "*" || tag.trim_start_matches("W/") == etag)
    })
}

/// `Cache-Control: public, max-age` of the public documents (discovery, JWKS, the revocation feed).
pub fn cache_control(max_age_secs: u64) -> HeaderValue {
    HeaderValue::from_str(&format!("public, max-age={max_age_secs}"))
        .unwrap_or_else(|_| HeaderValue::from_static("no-cache"))
}
