//! Workload identity federation (issue 18): a workload authenticates with the token its platform
//! issued, shaped like a Kubernetes projected service-account token, from an issuer the test
//! stands up itself (a discovery document and a JWKS on 127.0.0.1), on both backends.

use jwtd::keys::signing::{self, SigningKey};
use serde_json::{Value, json};

use crate::helpers::{Backend, ISSUER, TestApp, spawn_app};
use crate::on_both_backends;
use crate::remote_jwks::{Answer, Remote};

const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
const PAYMENTS_API: &str = "system:serviceaccount:payments:api";

on_both_backends!(
    a_workload_gets_a_token_with_its_service_account_token,
    tokens_outside_the_trust_are_refused,
    overlapping_registrations_are_refused,
    a_rotated_cluster_key_is_fetched_once,
);

/// A cluster's service-account issuer: its discovery document and keys, served locally.
struct Cluster {
    remote: Remote,
    signer: SigningKey,
}

impl Cluster {
    fn start() -> Self {
        let remote = Remote::start();
        let signer = Self::new_key(&remote);
        let discovery = json!({ "issuer": remote.url(""), "jwks_uri": remote.url("/openid/v1/jwks") });
        remote.answer(
            "/.well-known/openid-configuration",
            Answer::ok(discovery.to_string(), Some("max-age=3600")),
        );
        Self { remote, signer }
    }

    /// A new signing key, published as the cluster's only key.
    fn new_key(remote: &Remote) -> SigningKey {
        let generated = signing::generate(signing::Algorithm::Rs256, 2048).unwrap();
        let keys = json!({ "keys": [generated.jwk] });
        remote.answer("/openid/v1/jwks", Answer::ok(keys.to_string(), Some("max-age=3600")));
        SigningKey::from_pkcs8(generated.jwk.kid.clone(), signing::Algorithm::Rs256, &generated.pkcs8)
            .unwrap()
    }

    fn issuer(&self) -> String {
        self.remote.url("")
    }

    /// A projected service-account token for `subject`, with `changes` to its claims.
    fn token(&self, app: &TestApp, subject: &str, changes: &[(&str, Value)]) -> String {
        let now = jwtd::clock::Clock::now(&*app.clock);
        let mut claims = json!({
            "iss": self.issuer(), "sub": subject, "aud": [ISSUER],
            "iat": now - 60, "nbf": now - 60, "exp": now + 3540,
            "kubernetes.io": { "namespace": "payments", "serviceaccount": { "name": "api", "uid": "4b1d" } },
        });
        for (name, value) in changes {
            claims[*name] = value.clone();
        }
        self.signer.sign_jwt("JWT", &claims).unwrap()
    }
}

/// Registers a client trusting `issuer`'s `subject` (a pattern); the admin API's answer.
async fn register_workload(app: &TestApp, issuer: &str, subject: &str) -> reqwest::Response {
    let body = json!({
        "name": "payments",
        "scope": "read",
        "audiences": ["https://api"],
        "grant_types": ["client_credentials"],
        "token_endpoint_auth_method": "workload_identity",
        "workload_issuer": issuer,
        "workload_subject": subject,
    });
    app.admin_post(&app.admin_token().await, "/admin/clients", Some(body)).await
}

async fn trusting(app: &TestApp, cluster: &Cluster, subject: &str) -> String {
    let response = register_workload(app, &cluster.issuer(), subject).await;
    let status = response.status();
    let created: Value = response.json().await.unwrap();
    assert_eq!(status, 201, "{created}");
    assert!(created.get("client_secret").is_none());
    assert_eq!(created["workload_max_lifetime"], 3600);
    created["client_id"].as_str().unwrap().to_owned()
}

async fn token_with(app: &TestApp, token: &str, client_id: Option<&str>) -> reqwest::Response {
    let mut form = vec![
        ("grant_type", "client_credentials"),
        ("client_assertion_type", ASSERTION_TYPE),
        ("client_assertion", token),
    ];
    if let Some(id) = client_id {
        form.push(("client_id", id));
    }
    app.post_form("/oauth2/token", &form).await
}

async fn refusal(response: reqwest::Response) -> (u16, String) {
    let status = response.status().as_u16();
    let body: Value = response.json().await.unwrap();
    (status, body["error_description"].as_str().unwrap_or_default().to_owned())
}

async fn a_workload_gets_a_token_with_its_service_account_token(backend: Backend) {
    let app = spawn_app(backend).await;
    let cluster = Cluster::start();
    let client_id = trusting(&app, &cluster, "system:serviceaccount:payments:*").await;
    let token = cluster.token(&app, PAYMENTS_API, &[]);
    for named in [None, Some(client_id.as_str()), None] {
        let response = token_with(&app, &token, named).await;
        assert_eq!(response.status(), 200, "the same token, reused as workloads do ({named:?})");
        let issued: Value = response.json().await.unwrap();
        let claims = crate::helpers::verify_offline(
            issued["access_token"].as_str().unwrap(),
            &app.jwks().await,
            "https://api",
        )
        .unwrap();
        assert_eq!(claims.client_id, client_id);
    }
    assert_eq!(cluster.remote.requests("/.well-known/openid-configuration"), 1, "discovery cached");
    assert_eq!(cluster.remote.requests("/openid/v1/jwks"), 1, "keys cached");
}

async fn tokens_outside_the_trust_are_refused(backend: Backend) {
    let app = spawn_app(backend).await;
    let cluster = Cluster::start();
    let client_id = trusting(&app, &cluster, "system:serviceaccount:payments:*").await;
    let now = jwtd::clock::Clock::now(&*app.clock);
    let other = Cluster::start();
    let cases: Vec<(String, &str)> = vec![
        (cluster.token(&app, "system:serviceaccount:billing:api", &[]), "sub"),
        (cluster.token(&app, PAYMENTS_API, &[("aud", json!(["https://vault.example"]))]), "aud"),
        (
            cluster.token(
                &app,
                PAYMENTS_API,
                &[("iat", json!(now - 4000)), ("nbf", json!(now - 4000)), ("exp", json!(now - 400))],
            ),
            "expired",
        ),
        (cluster.token(&app, PAYMENTS_API, &[("exp", json!(now + 86_400))]), "longer"),
        (other.token(&app, PAYMENTS_API, &[]), "iss"),
    ];
    for (token, says) in &cases {
        let (status, said) = refusal(token_with(&app, token, Some(&client_id)).await).await;
        assert_eq!(status, 401, "{says}: {said}");
        assert!(said.contains(says), "{said} should say {says}");
    }
    // Without client_id, a token no client trusts finds no client at all.
    for (token, _) in [&cases[0], &cases[4]] {
        assert_eq!(token_with(&app, token, None).await.status(), 401);
    }
    let admin = app.admin_token().await;
    let audit: Value =
        app.admin_get(&admin, "/admin/audit?kind=client.assertion_refused").await.json().await.unwrap();
    assert_eq!(audit["events"].as_array().unwrap().len(), 5, "{audit}");
}

async fn overlapping_registrations_are_refused(backend: Backend) {
    let app = spawn_app(backend).await;
    let cluster = Cluster::start();
    trusting(&app, &cluster, "system:serviceaccount:payments:*").await;
    for overlapping in [PAYMENTS_API, "system:serviceaccount:pay*", "system:serviceaccount:payments:*"] {
        let response = register_workload(&app, &cluster.issuer(), overlapping).await;
        let (status, body) = (response.status(), response.json::<Value>().await.unwrap());
        assert_eq!(status, 400, "{overlapping}: {body}");
        assert!(body["error_description"].as_str().unwrap().contains("overlaps"), "{body}");
    }
    trusting(&app, &cluster, "system:serviceaccount:billing:*").await;
    let elsewhere = register_workload(&app, "https://other-cluster.example", PAYMENTS_API).await;
    assert_eq!(elsewhere.status(), 201, "another issuer's subjects are another namespace");
    let bad = register_workload(&app, &cluster.issuer(), "system:*:api").await;
    assert_eq!(bad.status(), 400);
}

async fn a_rotated_cluster_key_is_fetched_once(backend: Backend) {
    let app = spawn_app(backend).await;
    let mut cluster = Cluster::start();
    let client_id = trusting(&app, &cluster, PAYMENTS_API).await;
    assert_eq!(token_with(&app, &cluster.token(&app, PAYMENTS_API, &[]), None).await.status(), 200);
    cluster.signer = Cluster::new_key(&cluster.remote);
    app.clock.advance(31); // past remote_jwks.unknown_kid_cooldown
    let rotated = cluster.token(&app, PAYMENTS_API, &[]);
    assert_eq!(token_with(&app, &rotated, Some(&client_id)).await.status(), 200, "the new kid is fetched");
    assert_eq!(cluster.remote.requests("/openid/v1/jwks"), 2);
    let stranger = Cluster::start();
    for _ in 0..5 {
        let forged = stranger.token(&app, PAYMENTS_API, &[("iss", json!(cluster.issuer()))]);
        assert_eq!(token_with(&app, &forged, Some(&client_id)).await.status(), 401);
    }
    assert_eq!(
        cluster.remote.requests("/openid/v1/jwks"),
        2,
        "unknown kids within the cool-down fetch nothing"
    );
}
