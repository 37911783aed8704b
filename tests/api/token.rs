//! `POST /oauth2/token` with `client_credentials`: the happy path and every error.

use serde_json::{Value, json};

use crate::helpers::{Backend, TestApp, assert_error, spawn_app, verify_offline};
use crate::on_both_backends;

on_both_backends!(
    client_credentials_token_verifies_from_the_jwks_alone,
    client_secret_post_and_json_bodies_work,
    scope_may_only_narrow,
    client_authentication_failures,
    malformed_requests_are_invalid_request,
    grant_type_errors,
    transport_errors_answer_json,
);

async fn client_credentials_token_verifies_from_the_jwks_alone(backend: Backend) {
    let app = spawn_app(backend).await;
    let client = app.register_client("read write", &["https://api.example"], &["client_credentials"]);

    let response = app.client_token(&client, &[]).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["cache-control"], "no-store");
    assert_eq!(response.headers()["pragma"], "no-cache");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 900);
    assert_eq!(body["scope"], "read write");
    let token = body["access_token"].as_str().unwrap();

    let jwks = app.jwks().await;
    let claims = verify_offline(token, &jwks, "https://api.example").unwrap();
    assert_eq!(claims.sub, client.id);
    assert_eq!(claims.client_id, client.id);
    assert_eq!(claims.scope, "read write");
    assert_eq!(claims.exp - claims.iat, 900);
    assert_eq!(claims.nbf, claims.iat);
    assert!(claims.jti.len() >= 16);
    assert_eq!(claims.sid, None);

    // Wrong audience, and a tampered payload, both fail verification.
    assert!(verify_offline(token, &jwks, "https://other.example").is_err());
    let mut parts: Vec<&str> = token.split('.').collect();
    let other = app.client_token(&client, &[("scope", "read")]).await.json::<Value>().await.unwrap();
    let other_payload = other["access_token"].as_str().unwrap().split('.').nth(1).unwrap().to_owned();
    parts[1] = &other_payload;
    assert!(verify_offline(&parts.join("."), &jwks, "https://api.example").is_err());

    // Every token has its own jti.
    let again: Value = app.client_token(&client, &[]).await.json().await.unwrap();
    let again =
        verify_offline(again["access_token"].as_str().unwrap(), &jwks, "https://api.example").unwrap();
    assert_ne!(again.jti, claims.jti);
}

async fn client_secret_post_and_json_bodies_work(backend: Backend) {
    let app = spawn_app(backend).await;
    let client = app.register_client("read", &[], &["client_credentials"]);
    let form =
        [("grant_type", "client_credentials"), ("client_id", &client.id), ("client_secret", &client.secret)];
    let response = app.post_form("/oauth2/token", &form).await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    // A client registered without audiences gets tokens for the issuer itself.
    verify_offline(body["access_token"].as_str().unwrap(), &app.jwks().await, crate::helpers::ISSUER)
        .unwrap();

    let json_body =
        json!({"grant_type": "client_credentials", "client_id": client.id, "client_secret": client.secret});
    let response = app.http.post(app.url("/oauth2/token")).json(&json_body).send().await.unwrap();
    assert_eq!(response.status(), 200);
}

async fn scope_may_only_narrow(backend: Backend) {
    let app = spawn_app(backend).await;
    let client = app.register_client("read write", &["https://api.example"], &["client_credentials"]);
    let body: Value = app.client_token(&client, &[("scope", "write")]).await.json().await.unwrap();
    assert_eq!(body["scope"], "write");
    let claims =
        verify_offline(body["access_token"].as_str().unwrap(), &app.jwks().await, "https://api.example")
            .unwrap();
    assert_eq!(claims.scope, "write");

    assert_error(app.client_token(&client, &[("scope", "read admin")]).await, 400, "invalid_scope").await;
    assert_error(app.client_token(&client, &[("scope", "re\"ad")]).await, 400, "invalid_scope").await;
    assert_error(app.client_token(&client, &[("scope", "   ")]).await, 400, "invalid_request").await;

    // A parameter sent without a value is treated as omitted (RFC 6749 §3.1): the whole scope.
    let body: Value = app.client_token(&client, &[("scope", "")]).await.json().await.unwrap();
    assert_eq!(body["scope"], "read write");
    let json_body = json!({"grant_type": "client_credentials", "client_id": client.id,
        "client_secret": client.secret, "scope": ""});
    let body: Value =
        app.http.post(app.url("/oauth2/token")).json(&json_body).send().await.unwrap().json().await.unwrap();
    assert_eq!(body["scope"], "read write");
}

async fn client_authentication_failures(backend: Backend) {
    let app = spawn_app(backend).await;
    let client = app.register_client("read", &[], &["client_credentials"]);
    let token_url = app.url("/oauth2/token");
    let grant = [("grant_type", "client_credentials")];

    // Wrong secret over Basic: 401 with a Basic challenge.
    let response = app
        .http
        .post(&token_url)
        .basic_auth(&client.id, Some("jwtd_cs_wrong"))
        .form(&grant)
        .send()
        .await
        .unwrap();
    let (headers, _) = assert_error(response, 401, "invalid_client").await;
    assert_eq!(headers["www-authenticate"], "Basic realm=\"jwtd\"");

    // Unknown client over client_secret_post, and no authentication at all: 401, same body, and
    // the challenge every 401 carries (RFC 9110 §15.5.2).
    let form =
        [("grant_type", "client_credentials"), ("client_id", "nobody"), ("client_secret", &client.secret)];
    let unknown = app.post_form("/oauth2/token", &form).await;
    let (headers, _) = assert_error(unknown, 401, "invalid_client").await;
    assert_eq!(headers["www-authenticate"], "Basic realm=\"jwtd\"");
    let (headers, _) =
        assert_error(app.post_form("/oauth2/token", &grant).await, 401, "invalid_client").await;
    assert_eq!(headers["www-authenticate"], "Basic realm=\"jwtd\"");

    // Two methods at once.
    let both = app
        .http
        .post(&token_url)
        .basic_auth(&client.id, Some(&client.secret))
        .form(&[("grant_type", "client_credentials"), ("client_secret", &client.secret)])
        .send()
        .await
        .unwrap();
    assert_error(both, 400, "invalid_request").await;

    // Malformed Basic values and other schemes.
    for value in ["Basic !!!", "Basic Zm9v", "Bearer abc", "Basic", "Digest x=y"] {
        let response =
            app.http.post(&token_url).header("authorization", value).form(&grant).send().await.unwrap();
        assert_error(response, 401, "invalid_client").await;
    }
}

async fn malformed_requests_are_invalid_request(backend: Backend) {
    let app = spawn_app(backend).await;
    let client = app.register_client("read", &[], &["client_credentials"]);
    let token_url = app.url("/oauth2/token");
    let send_raw = |content_type: &'static str, body: String| {
        let request = app.http.post(&token_url).basic_auth(&client.id, Some(&client.secret));
        async move { request.header("content-type", content_type).body(body).send().await.unwrap() }
    };
    let form = "application/x-www-form-urlencoded";
    for body in [
        "",
        "scope=read",
        "grant_type=client_credentials&grant_type=client_credentials",
        "grant_type=client_credentials&scope=read&scope=read",
        "grant_type=",
        "grant_type=client_credentials&scope=&scope=read",
        "grant_type=client_credentials&=x",
    ] {
        assert_error(send_raw(form, body.to_owned()).await, 400, "invalid_request").await;
    }
    let json = "application/json";
    for body in [
        "not json",
        "[]",
        r#"{"grant_type": 5}"#,
        r#"{"grant_type": "client_credentials", "grant_type": "client_credentials"}"#,
        r#"{"grant_type": {"nested": "x"}}"#,
        &format!("{}{}", "[".repeat(5_000), "]".repeat(5_000)),
    ] {
        assert_error(send_raw(json, body.to_owned()).await, 400, "invalid_request").await;
    }
    assert_error(
        send_raw("text/plain", "grant_type=client_credentials".into()).await,
        400,
        "invalid_request",
    )
    .await;
    let too_many = (0..40).map(|i| format!("p{i}=v")).collect::<Vec<_>>().join("&");
    assert_error(
        send_raw(form, format!("grant_type=client_credentials&{too_many}")).await,
        400,
        "invalid_request",
    )
    .await;
}

async fn grant_type_errors(backend: Backend) {
    let app = spawn_app(backend).await;
    let service = app.register_client("read", &[], &["client_credentials"]);
    let app_only = app.register_client("read", &[], &["password"]);
    assert_error(app.client_token(&app_only, &[]).await, 400, "unauthorized_client").await;
    let implicit = app
        .http
        .post(app.url("/oauth2/token"))
        .basic_auth(&service.id, Some(&service.secret))
        .form(&[("grant_type", "implicit")])
        .send()
        .await
        .unwrap();
    assert_error(implicit, 400, "unsupported_grant_type").await;
}

async fn transport_errors_answer_json(backend: Backend) {
    let app = spawn_app(backend).await;
    let client = app.register_client("read", &[], &["client_credentials"]);
    let big = format!("grant_type=client_credentials&pad={}", "x".repeat(64 * 1024));
    let response = app
        .http
        .post(app.url("/oauth2/token"))
        .basic_auth(&client.id, Some(&client.secret))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(big)
        .send()
        .await
        .unwrap();
    assert_error(response, 413, "request_too_large").await;

    let get = app.http.get(app.url("/oauth2/token")).send().await.unwrap();
    assert_eq!(get.headers()["allow"], "POST");
    assert_error(get, 405, "method_not_allowed").await;
    assert_error(app.http.get(app.url("/nowhere")).send().await.unwrap(), 404, "not_found").await;
    let post_jwks = app.http.post(app.url("/.well-known/jwks.json")).send().await.unwrap();
    assert_error(post_jwks, 405, "method_not_allowed").await;
}

/// Kept for tests elsewhere that need a token quickly.
pub async fn token_for(app: &TestApp, client: &crate::helpers::TestClient) -> String {
    let body: Value = app.client_token(client, &[]).await.json().await.unwrap();
    body["access_token"].as_str().unwrap().to_owned()
}
