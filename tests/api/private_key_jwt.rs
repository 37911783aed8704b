//! `private_key_jwt` (RFC 7523 §2.2, issue 18): a service authenticates with an assertion signed
//! by its own key, at the token, revocation and introspection endpoints, on both backends; each
//! rule refused with a description that says what to fix.

use std::sync::Arc;

use jwtd::keys::signing::{self, SigningKey};
use serde_json::{Value, json};

use crate::helpers::{Backend, ISSUER, TestApp, TestDb, new_master_key, sample, spawn_app, spawn_app_on};
use crate::on_both_backends;

const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

on_both_backends!(
    a_service_gets_a_token_with_its_key_and_each_assertion_once,
    bad_assertions_are_refused_with_a_reason,
    a_key_client_uses_no_other_method_and_no_mixing,
    revocation_and_introspection_take_assertions_too,
    a_client_publishing_its_keys_at_a_jwks_uri_rotates_them,
);

async fn a_client_publishing_its_keys_at_a_jwks_uri_rotates_them(backend: Backend) {
    use crate::remote_jwks::{Answer, Remote};
    let app = spawn_app(backend).await;
    let remote = Remote::start();
    let (first, first_keys) = service_key(signing::Algorithm::Es256);
    remote.answer("/jwks", Answer::ok(first_keys.to_string(), Some("max-age=3600")));
    let client_id = register_key_client_with(&app, json!({ "jwks_uri": remote.url("/jwks") })).await;
    for _ in 0..2 {
        let signed = assertion(&app, &first, &client_id, &[]);
        assert_eq!(token_with(&app, &signed, &[]).await.status(), 200);
    }
    assert_eq!(remote.requests("/jwks"), 1, "cached for its max-age");
    // The service rotates: a new key published, assertions signed with it.
    let (second, second_keys) = service_key(signing::Algorithm::EdDsa);
    remote.answer("/jwks", Answer::ok(second_keys.to_string(), Some("max-age=3600")));
    app.clock.advance(31); // past remote_jwks.unknown_kid_cooldown since the first fetch
    let signed = assertion(&app, &second, &client_id, &[]);
    assert_eq!(token_with(&app, &signed, &[]).await.status(), 200, "the new kid is fetched");
    assert_eq!(remote.requests("/jwks"), 2);
    let (stranger, _) = service_key(signing::Algorithm::EdDsa);
    for _ in 0..5 {
        let (status, said) =
            refusal(token_with(&app, &assertion(&app, &stranger, &client_id, &[]), &[]).await).await;
        assert_eq!((status, said.contains("kid")), (401, true), "{said}");
    }
    assert_eq!(remote.requests("/jwks"), 2, "unknown kids within the cool-down fetch nothing more");
    remote.stop().await;
}

/// A service's key pair: the signer, and its public half as a JWK set.
pub fn service_key(alg: signing::Algorithm) -> (SigningKey, Value) {
    let generated = signing::generate(alg, 2048).unwrap();
    let signer = SigningKey::from_pkcs8(generated.jwk.kid.clone(), alg, &generated.pkcs8).unwrap();
    (signer, json!({ "keys": [generated.jwk] }))
}

/// Registers a `client_credentials` client authenticating with `private_key_jwt` and `jwks`.
pub async fn register_key_client(app: &TestApp, jwks: Value) -> String {
    register_key_client_with(app, json!({ "jwks": jwks })).await
}

/// The same, with its keys given by `keys` (`{"jwks": ...}` or `{"jwks_uri": ...}`).
async fn register_key_client_with(app: &TestApp, keys: Value) -> String {
    let mut body = json!({
        "name": "billing",
        "scope": "read",
        "audiences": ["https://api"],
        "grant_types": ["client_credentials"],
        "token_endpoint_auth_method": "private_key_jwt",
    });
    body.as_object_mut().unwrap().extend(keys.as_object().unwrap().clone());
    let admin = app.admin_token().await;
    let response = app.admin_post(&admin, "/admin/clients", Some(body)).await;
    let status = response.status();
    let created: Value = response.json().await.unwrap();
    assert_eq!(status, 201, "{created}");
    assert!(created.get("client_secret").is_none(), "a key client has no secret: {created}");
    assert_eq!(created["token_endpoint_auth_method"], "private_key_jwt");
    created["client_id"].as_str().unwrap().to_owned()
}

/// An assertion by `client_id` for jwtd, signed by `signer`, with `changes` to its claims.
pub fn assertion(app: &TestApp, signer: &SigningKey, client_id: &str, changes: &[(&str, Value)]) -> String {
    let now = jwtd::clock::Clock::now(&*app.clock);
    let mut claims = json!({
        "iss": client_id, "sub": client_id, "aud": ISSUER, "iat": now, "exp": now + 60,
        "jti": crate::flow_clients::random_text(),
    });
    for (name, value) in changes {
        claims[*name] = value.clone();
    }
    signer.sign_jwt("JWT", &claims).unwrap()
}

async fn token_with(app: &TestApp, assertion: &str, extra: &[(&str, &str)]) -> reqwest::Response {
    let mut form = vec![
        ("grant_type", "client_credentials"),
        ("client_assertion_type", ASSERTION_TYPE),
        ("client_assertion", assertion),
    ];
    form.extend_from_slice(extra);
    app.post_form("/oauth2/token", &form).await
}

/// The answer's status and error description.
async fn refusal(response: reqwest::Response) -> (u16, String) {
    let status = response.status().as_u16();
    let body: Value = response.json().await.unwrap();
    (
        status,
        format!(
            "{} {}",
            body["error"].as_str().unwrap_or(""),
            body["error_description"].as_str().unwrap_or("")
        ),
    )
}

async fn a_service_gets_a_token_with_its_key_and_each_assertion_once(backend: Backend) {
    let db = Arc::new(TestDb::new(backend));
    let master_key = new_master_key();
    let app = spawn_app_on(Arc::clone(&db), &master_key, &[]).await;
    let (signer, jwks) = service_key(signing::Algorithm::Es256);
    let client_id = register_key_client(&app, jwks).await;
    let signed = assertion(&app, &signer, &client_id, &[]);
    let response = token_with(&app, &signed, &[("client_id", &client_id)]).await;
    assert_eq!(response.status(), 200);
    let token: Value = response.json().await.unwrap();
    let claims = crate::helpers::verify_offline(
        token["access_token"].as_str().unwrap(),
        &app.jwks().await,
        "https://api",
    )
    .unwrap();
    assert_eq!(claims.client_id, client_id);
    assert_eq!(claims.sub, client_id);

    let (status, said) = refusal(token_with(&app, &signed, &[]).await).await;
    assert_eq!((status, said.contains("used before")), (401, true), "{said}");
    // Another instance on the same database refuses it too.
    let other = spawn_app_on(db, &master_key, &[]).await;
    let (status, said) = refusal(token_with(&other, &signed, &[]).await).await;
    assert_eq!((status, said.contains("used before")), (401, true), "another instance: {said}");
    // A fresh assertion works without client_id (iss names the client).
    let fresh = assertion(&app, &signer, &client_id, &[]);
    assert_eq!(token_with(&other, &fresh, &[]).await.status(), 200);
    let metrics = app.scrape().await;
    assert_eq!(sample(&metrics, "jwtd_client_assertions_total{outcome=\"accepted\"}"), Some(1.0));
    assert_eq!(sample(&metrics, "jwtd_client_assertions_total{outcome=\"replayed\"}"), Some(1.0));
}

async fn bad_assertions_are_refused_with_a_reason(backend: Backend) {
    let app = spawn_app(backend).await;
    let (signer, jwks) = service_key(signing::Algorithm::EdDsa);
    let client_id = register_key_client(&app, jwks).await;
    let (stranger, _) = service_key(signing::Algorithm::EdDsa);
    let now = jwtd::clock::Clock::now(&*app.clock);
    let cases: Vec<(String, &str)> = vec![
        (assertion(&app, &signer, &client_id, &[("aud", json!(format!("{ISSUER}/oauth2/token")))]), "aud"),
        (assertion(&app, &signer, &client_id, &[("aud", json!([ISSUER]))]), "aud"),
        (
            assertion(&app, &signer, &client_id, &[("iat", json!(now - 400)), ("exp", json!(now - 300))]),
            "expired",
        ),
        (assertion(&app, &signer, &client_id, &[("exp", json!(now + 3600))]), "300 seconds"),
        (assertion(&app, &signer, &client_id, &[("sub", json!("someone-else"))]), "iss and sub"),
        (assertion(&app, &stranger, &client_id, &[]), "kid"),
        ("not.a.jwt".to_owned(), "well-formed"),
    ];
    for (signed, says) in cases {
        let (status, said) = refusal(token_with(&app, &signed, &[]).await).await;
        assert_eq!(status, 401, "{says}: {said}");
        assert!(said.starts_with("invalid_client") && said.contains(says), "{said} should say {says}");
    }
    let admin = app.admin_token().await;
    let audit: Value =
        app.admin_get(&admin, "/admin/audit?kind=client.assertion_refused").await.json().await.unwrap();
    let reasons: Vec<&str> =
        audit["events"].as_array().unwrap().iter().map(|e| e["detail"]["reason"].as_str().unwrap()).collect();
    for reason in ["audience", "expired", "lifetime", "subject", "unknown_key"] {
        assert!(reasons.contains(&reason), "{reason} audited: {reasons:?}");
    }
    assert_eq!(sample(&app.scrape().await, "jwtd_client_assertions_total{outcome=\"audience\"}"), Some(2.0));
}

async fn a_key_client_uses_no_other_method_and_no_mixing(backend: Backend) {
    let app = spawn_app(backend).await;
    let (signer, jwks) = service_key(signing::Algorithm::Rs256);
    let client_id = register_key_client(&app, jwks).await;
    let basic = app
        .http
        .post(app.url("/oauth2/token"))
        .basic_auth(&client_id, Some("jwtd_cs_guessed"))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap();
    assert_eq!(basic.status(), 401, "no secret works for a key client");
    let public = app
        .post_form("/oauth2/token", &[("grant_type", "client_credentials"), ("client_id", &client_id)])
        .await;
    assert_eq!(public.status(), 401, "nor its client_id alone");
    let signed = assertion(&app, &signer, &client_id, &[]);
    let mixed = app
        .http
        .post(app.url("/oauth2/token"))
        .basic_auth(&client_id, Some("x"))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_assertion_type", ASSERTION_TYPE),
            ("client_assertion", &signed),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(refusal(mixed).await.0, 400, "two methods at once");
    let (status, _) = refusal(token_with(&app, &signed, &[("client_id", "another")]).await).await;
    assert_eq!(status, 401, "a client_id that is not the assertion's");
    let wrong_type = app
        .post_form(
            "/oauth2/token",
            &[
                ("grant_type", "client_credentials"),
                ("client_assertion_type", "urn:x"),
                ("client_assertion", &signed),
            ],
        )
        .await;
    assert_eq!(refusal(wrong_type).await.0, 400);
    // A secret client cannot switch to assertions: its key was never registered.
    let secret_client = app.register_client("read", &["https://api"], &["client_credentials"]);
    let foreign = assertion(&app, &signer, &secret_client.id, &[]);
    let (status, said) = refusal(token_with(&app, &foreign, &[]).await).await;
    assert_eq!((status, said.contains("not registered for private_key_jwt")), (401, true), "{said}");
    // The assertion was not spent by the refusals: it still works once.
    assert_eq!(token_with(&app, &signed, &[]).await.status(), 200);
}

async fn revocation_and_introspection_take_assertions_too(backend: Backend) {
    let app = spawn_app(backend).await;
    let (signer, jwks) = service_key(signing::Algorithm::Es256);
    let client_id = register_key_client(&app, jwks).await;
    let token: Value =
        token_with(&app, &assertion(&app, &signer, &client_id, &[]), &[]).await.json().await.unwrap();
    let access = token["access_token"].as_str().unwrap();
    let introspect = |assertion: String| {
        let app = &app;
        async move {
            let form = [
                ("token", access),
                ("client_assertion_type", ASSERTION_TYPE),
                ("client_assertion", assertion.as_str()),
            ];
            app.post_form("/oauth2/introspect", &form).await
        }
    };
    let seen: Value = introspect(assertion(&app, &signer, &client_id, &[])).await.json().await.unwrap();
    assert_eq!(seen["active"], true, "{seen}");
    // RFC 7009: an unknown token is answered 200, once the client is authenticated.
    let revoke = [
        ("token", "jwtd_rt_unknown"),
        ("client_assertion_type", ASSERTION_TYPE),
        ("client_assertion", &assertion(&app, &signer, &client_id, &[])),
    ];
    assert_eq!(app.post_form("/oauth2/revoke", &revoke).await.status(), 200);
    let unauthenticated = introspect("garbage".to_owned()).await;
    assert_eq!(unauthenticated.status(), 401);
}
