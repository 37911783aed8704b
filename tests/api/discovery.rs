//! Discovery metadata, the JWKS and its caching, health and readiness.

use std::sync::Arc;

use serde_json::Value;

use crate::helpers::{Backend, ISSUER, TestDb, new_master_key, spawn_app, spawn_app_on};
use crate::on_both_backends;

on_both_backends!(
    discovery_documents_describe_the_server,
    jwks_is_cacheable_and_public_only,
    health_and_readiness
);

async fn discovery_documents_describe_the_server(backend: Backend) {
    let app = spawn_app(backend).await;
    for path in ["/.well-known/openid-configuration", "/.well-known/oauth-authorization-server"] {
        let response = app.http.get(app.url(path)).send().await.unwrap();
        assert_eq!(response.status(), 200);
        let doc: Value = response.json().await.unwrap();
        assert_eq!(doc["issuer"], ISSUER);
        assert_eq!(doc["jwks_uri"], format!("{ISSUER}/.well-known/jwks.json"));
        assert_eq!(doc["token_endpoint"], format!("{ISSUER}/oauth2/token"));
        assert_eq!(
            doc["grant_types_supported"],
            serde_json::json!([
                "authorization_code",
                "client_credentials",
                "password",
                "refresh_token",
                "urn:ietf:params:oauth:grant-type:token-exchange",
            ])
        );
        assert_eq!(doc["authorization_endpoint"], format!("{ISSUER}/oauth2/authorize"));
        assert_eq!(doc["response_types_supported"], serde_json::json!(["code"]));
        assert_eq!(doc["code_challenge_methods_supported"], serde_json::json!(["S256"]));
        assert_eq!(doc["authorization_response_iss_parameter_supported"], true);
        assert_eq!(doc["end_session_endpoint"], format!("{ISSUER}/oauth2/logout"));
        assert_eq!(doc["backchannel_logout_supported"], true);
        assert_eq!(doc["backchannel_logout_session_supported"], true);
        assert_eq!(
            doc["prompt_values_supported"],
            serde_json::json!(["none", "login", "consent", "select_account"])
        );
        for claim in ["nonce", "auth_time", "at_hash", "sid", "email"] {
            assert!(doc["claims_supported"].as_array().unwrap().iter().any(|c| c == claim), "{claim}");
        }
        assert_eq!(doc["revocation_endpoint"], format!("{ISSUER}/oauth2/revoke"));
        assert_eq!(doc["introspection_endpoint"], format!("{ISSUER}/oauth2/introspect"));
        assert_eq!(
            doc["token_endpoint_auth_methods_supported"],
            serde_json::json!(["client_secret_basic", "client_secret_post", "private_key_jwt", "none"])
        );
        for endpoint in ["token", "revocation", "introspection"] {
            let methods = &doc[format!("{endpoint}_endpoint_auth_methods_supported")];
            assert!(
                methods.as_array().unwrap().iter().any(|m| m == "private_key_jwt"),
                "{endpoint}: {methods}"
            );
            assert_eq!(
                doc[format!("{endpoint}_endpoint_auth_signing_alg_values_supported")],
                serde_json::json!(["RS256", "PS256", "ES256", "EdDSA"])
            );
        }
        assert_eq!(
            doc["id_token_signing_alg_values_supported"],
            serde_json::json!(["RS256", "ES256", "EdDSA"])
        );
    }
}

async fn jwks_is_cacheable_and_public_only(backend: Backend) {
    let app = spawn_app(backend).await;
    let url = app.url("/.well-known/jwks.json");
    let response = app.http.get(&url).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["cache-control"], "public, max-age=300");
    let etag = response.headers()["etag"].to_str().unwrap().to_owned();
    assert!(etag.starts_with('"') && etag.ends_with('"'), "{etag}");
    let jwks: Value = response.json().await.unwrap();
    // The current key and the pre-published next key.
    let keys = jwks["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 2);
    let key = keys[0].as_object().unwrap();
    let mut members: Vec<&str> = key.keys().map(String::as_str).collect();
    members.sort_unstable();
    assert_eq!(members, ["alg", "e", "kid", "kty", "n", "use"]);
    assert_eq!(key["alg"], "RS256");
    assert_eq!(key["use"], "sig");
    // The kid is the RFC 7638 thumbprint of the key.
    let jwk: jsonwebtoken::jwk::Jwk = serde_json::from_value(keys[0].clone()).unwrap();
    let thumbprint = jwk.thumbprint(jsonwebtoken::jwk::ThumbprintHash::SHA256).unwrap();
    assert_eq!(key["kid"], thumbprint);
    // RSA 2048: a 256-byte modulus.
    let n = base64_decoded_len(key["n"].as_str().unwrap());
    assert_eq!(n, 256);

    for value in [etag.clone(), format!("W/{etag}"), format!("\"other\", {etag}"), "*".to_owned()] {
        let cached = app.http.get(&url).header("if-none-match", value.as_str()).send().await.unwrap();
        assert_eq!(cached.status(), 304, "{value}");
        assert_eq!(cached.headers()["etag"], etag.as_str());
        assert_eq!(cached.headers()["cache-control"], "public, max-age=300");
        assert!(cached.bytes().await.unwrap().is_empty());
    }
    let stale = app.http.get(&url).header("if-none-match", "\"stale\"").send().await.unwrap();
    assert_eq!(stale.status(), 200);

    // HEAD: the same headers, no body (RFC 9110 §9.3.2), and the same revalidation.
    let head = app.http.head(&url).send().await.unwrap();
    assert_eq!(head.status(), 200);
    assert_eq!(head.headers()["etag"], etag.as_str());
    assert_eq!(head.headers()["cache-control"], "public, max-age=300");
    assert!(head.bytes().await.unwrap().is_empty());
    let head = app.http.head(&url).header("if-none-match", etag.as_str()).send().await.unwrap();
    assert_eq!(head.status(), 304);
}

/// An https issuer (as production requires) gets HSTS on every answer, errors included; plain
/// http, where the header means nothing, does not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_https_issuer_sends_hsts() {
    let db = Arc::new(TestDb::new(Backend::Sqlite));
    let app = spawn_app_on(db, &new_master_key(), &[("JWTD__ISSUER", "https://jwtd.test")]).await;
    for path in ["/healthz", "/.well-known/jwks.json", "/no-such-page"] {
        let response = app.http.get(app.url(path)).send().await.unwrap();
        assert_eq!(response.headers()["strict-transport-security"], "max-age=31536000", "{path}");
    }
    let plain = spawn_app(Backend::Sqlite).await;
    let response = plain.http.get(plain.url("/healthz")).send().await.unwrap();
    assert!(response.headers().get("strict-transport-security").is_none());
}

fn base64_decoded_len(text: &str) -> usize {
    text.len() * 3 / 4
}

async fn health_and_readiness(backend: Backend) {
    let app = spawn_app(backend).await;
    let health = app.http.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 200);
    let ready = app.http.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 200);
    assert_eq!(ready.json::<Value>().await.unwrap()["status"], "ready");
    for path in ["/healthz", "/readyz", "/.well-known/openid-configuration", "/revocations"] {
        let head = app.http.head(app.url(path)).send().await.unwrap();
        assert_eq!(head.status(), 200, "{path}");
        assert!(head.bytes().await.unwrap().is_empty(), "{path}");
    }
}
