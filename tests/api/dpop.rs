//! DPoP (RFC 9449) end to end at jwtd: proofs made here with a key of the test's own (ES256,
//! signed with aws-lc-rs, the thumbprint computed here from RFC 7638), bound tokens from every
//! grant, refresh tokens bound to a public client's key, the client modes, nonces and replay
//! across two instances, and the endpoints that read bound tokens (userinfo, introspection).
//! The proofs' `htu` is built from the issuer (`http://jwtd.test`), never from the address the
//! test reaches jwtd at, which is what a jwtd behind a proxy sees.

use aws_lc_rs::digest;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jwtd::clock::Clock;
use serde_json::{Value, json};

use crate::code_flow::{Browser, REDIRECT, VERIFIER, authorize_url, register_web_app};
use crate::flow_clients::{random_text, register};
use crate::helpers::{
    Backend, ISSUER, TestApp, TestClient, TestDb, assert_error, claims_of, new_master_key, sample, spawn_app,
    spawn_app_on,
};
use crate::on_both_backends;

on_both_backends!(
    a_proof_binds_the_tokens_of_every_grant_and_none_leaves_them_bearer,
    a_public_clients_refresh_tokens_are_bound_to_its_key,
    dpop_jkt_binds_the_code_to_a_key,
    the_client_decides_whether_dpop_is_off_optional_or_required,
    every_bad_proof_is_refused_with_invalid_dpop_proof,
    nonces_and_replays_hold_across_two_instances,
    userinfo_and_introspection_read_bound_tokens,
    a_bound_subject_token_is_exchanged_only_with_its_key,
);

const PASSWORD: &str = "correct horse battery staple";
const EMAIL: &str = "alice@example.com";

/// A client's DPoP key: ES256, its public JWK and RFC 7638 thumbprint.
pub struct DpopKey {
    pair: EcdsaKeyPair,
    jwk: Value,
    pub jkt: String,
}

impl DpopKey {
    pub fn new() -> Self {
        let pair = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING).unwrap();
        let point = pair.public_key().as_ref().to_vec();
        let (x, y) = (URL_SAFE_NO_PAD.encode(&point[1..33]), URL_SAFE_NO_PAD.encode(&point[33..65]));
        // RFC 7638 §3.2: the required members, in lexicographic order, no whitespace.
        let canonical = format!(r#"{{"crv":"P-256","kty":"EC","x":"{x}","y":"{y}"}}"#);
        let jkt = URL_SAFE_NO_PAD.encode(digest::digest(&digest::SHA256, canonical.as_bytes()));
        let jwk = json!({ "kty": "EC", "crv": "P-256", "x": x, "y": y });
        Self { pair, jwk, jkt }
    }

    /// A proof for `method` at `url` made at `iat`, with `claims` added (or, when null, removed)
    /// and `header` members likewise.
    pub fn proof_with(&self, method: &str, url: &str, iat: i64, claims: Value, header: Value) -> String {
        let mut head = json!({ "typ": "dpop+jwt", "alg": "ES256", "jwk": self.jwk });
        merge(&mut head, header);
        let mut body = json!({ "jti": random_text(), "htm": method, "htu": url, "iat": iat });
        merge(&mut body, claims);
        self.sign(&head, &body)
    }

    fn sign(&self, header: &Value, claims: &Value) -> String {
        let input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let signature = self.pair.sign(&SystemRandom::new(), input.as_bytes()).unwrap();
        format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature.as_ref()))
    }

    /// A proof for the token endpoint, now on `app`'s clock.
    pub fn token_proof(&self, app: &TestApp) -> String {
        self.proof_with("POST", &format!("{ISSUER}/oauth2/token"), app.clock.now(), json!({}), json!({}))
    }

    /// A proof for a protected endpoint of jwtd's, made for `token` (`ath`).
    pub fn resource_proof(&self, app: &TestApp, method: &str, path: &str, token: &str) -> String {
        let claims = json!({ "ath": ath(token) });
        self.proof_with(method, &format!("{ISSUER}{path}"), app.clock.now(), claims, json!({}))
    }
}

fn merge(target: &mut Value, changes: Value) {
    if let (Some(target), Value::Object(changes)) = (target.as_object_mut(), changes) {
        for (name, value) in changes {
            if value.is_null() {
                target.remove(&name);
            } else {
                target.insert(name, value);
            }
        }
    }
}

/// `ath` (RFC 9449 §4.2): base64url SHA-256 of the access token.
pub fn ath(token: &str) -> String {
    URL_SAFE_NO_PAD.encode(digest::digest(&digest::SHA256, token.as_bytes()))
}

/// `POST /oauth2/token` by `client` with `form` and these `DPoP` headers.
async fn with_proofs(
    app: &TestApp,
    client: &TestClient,
    form: &[(&str, &str)],
    proofs: &[&str],
) -> reqwest::Response {
    let mut form = form.to_vec();
    let mut request = app.http.post(app.url("/oauth2/token"));
    if client.secret.is_empty() {
        form.push(("client_id", client.id.as_str()));
    } else {
        request = request.basic_auth(&client.id, Some(&client.secret));
    }
    for proof in proofs {
        request = request.header("DPoP", *proof);
    }
    request.form(&form).send().await.unwrap()
}

/// The JSON of a 200 answer.
async fn ok_json(response: reqwest::Response) -> Value {
    let status = response.status();
    let body: Value = response.json().await.unwrap();
    assert_eq!(status, 200, "{body}");
    body
}

/// Asserts a bound answer: `token_type: DPoP` and `cnf.jkt` the key's thumbprint.
fn assert_bound(body: &Value, key: &DpopKey) {
    assert_eq!(body["token_type"], "DPoP", "{body}");
    assert_eq!(claims_of(body["access_token"].as_str().unwrap())["cnf"], json!({ "jkt": key.jkt }));
}

fn assert_bearer(body: &Value) {
    assert_eq!(body["token_type"], "Bearer", "{body}");
    assert!(claims_of(body["access_token"].as_str().unwrap()).get("cnf").is_none());
}

async fn service(app: &TestApp, admin: &str, extra: Value) -> TestClient {
    let mut body = json!({ "name": "service", "scope": "read", "grant_types": ["client_credentials"] });
    merge(&mut body, extra);
    register(app, admin, body).await
}

async fn a_proof_binds_the_tokens_of_every_grant_and_none_leaves_them_bearer(backend: Backend) {
    let app = spawn_app(backend).await;
    let admin = app.admin_token().await;
    let key = DpopKey::new();
    // client_credentials
    let svc = service(&app, &admin, json!({})).await;
    let credentials = [("grant_type", "client_credentials")];
    assert_bound(
        &ok_json(with_proofs(&app, &svc, &credentials, &[&key.token_proof(&app)]).await).await,
        &key,
    );
    assert_bearer(&ok_json(with_proofs(&app, &svc, &credentials, &[]).await).await);
    // password and refresh_token, a confidential client: the access tokens are bound to each
    // request's key; the refresh token is not (RFC 9449 §5), so another key may refresh.
    let legacy = app.register_app_client("read");
    app.create_user(EMAIL, PASSWORD, json!({}));
    let login = [("grant_type", "password"), ("username", EMAIL), ("password", PASSWORD)];
    let tokens = ok_json(with_proofs(&app, &legacy, &login, &[&key.token_proof(&app)]).await).await;
    assert_bound(&tokens, &key);
    let other = DpopKey::new();
    let refresh =
        [("grant_type", "refresh_token"), ("refresh_token", tokens["refresh_token"].as_str().unwrap())];
    let refreshed = ok_json(with_proofs(&app, &legacy, &refresh, &[&other.token_proof(&app)]).await).await;
    assert_bound(&refreshed, &other);
    let refresh =
        [("grant_type", "refresh_token"), ("refresh_token", refreshed["refresh_token"].as_str().unwrap())];
    assert_bearer(&ok_json(with_proofs(&app, &legacy, &refresh, &[]).await).await);
    // The server says what it accepts.
    let discovery: Value = app
        .http
        .get(app.url("/.well-known/openid-configuration"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let algs = discovery["dpop_signing_alg_values_supported"].as_array().unwrap();
    assert!(algs.contains(&json!("ES256")) && algs.contains(&json!("EdDSA")), "{algs:?}");
    assert!(!algs.iter().any(|a| a.as_str().unwrap().starts_with("HS")), "{algs:?}");
    let metrics = app.scrape().await;
    assert_eq!(sample(&metrics, r#"jwtd_dpop_proofs_total{outcome="accepted"}"#), Some(3.0));
}

/// A public single-page app's code, signed in through `browser`, with `extra` authorization
/// parameters.
async fn public_code(
    app: &TestApp,
    browser: &mut Browser,
    client: &TestClient,
    extra: &[(&str, &str)],
) -> String {
    let page = browser.get(&authorize_url(app, &client.id, extra)).await;
    let page = browser.allowing(app, page).await;
    if page.status == 303 {
        return page.redirect_params()["code"].clone();
    }
    let back = browser.sign_in(app, &page, EMAIL, PASSWORD).await;
    browser.allowing(app, back).await.redirect_params()["code"].clone()
}

fn redemption(code: &str) -> [(&str, &str); 4] {
    [
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", REDIRECT),
        ("code_verifier", VERIFIER),
    ]
}

const API: &str = "https://api.example";

async fn public_app(app: &TestApp) -> TestClient {
    register_web_app(app, true, json!({ "token_endpoint_auth_method": "none", "audiences": [API] })).await
}

/// A public app, its user signed in through `browser` and the code redeemed with a proof of
/// `key`: the app and the token answer.
async fn bound_sign_in(app: &TestApp, browser: &mut Browser, key: &DpopKey) -> (TestClient, Value) {
    app.create_user(EMAIL, PASSWORD, json!({}));
    let spa = public_app(app).await;
    let code = public_code(app, browser, &spa, &[]).await;
    let tokens = ok_json(with_proofs(app, &spa, &redemption(&code), &[&key.token_proof(app)]).await).await;
    assert_bound(&tokens, key);
    (spa, tokens)
}

async fn a_public_clients_refresh_tokens_are_bound_to_its_key(backend: Backend) {
    let app = spawn_app(backend).await;
    let key = DpopKey::new();
    let mut browser = Browser::new();
    let (spa, tokens) = bound_sign_in(&app, &mut browser, &key).await;
    let refresh_token = tokens["refresh_token"].as_str().unwrap();
    let refresh = [("grant_type", "refresh_token"), ("refresh_token", refresh_token)];
    // Stolen, it is useless: another key, or no proof, is refused, audited, and revokes nothing.
    let thief = DpopKey::new();
    let (_, body) = assert_error(
        with_proofs(&app, &spa, &refresh, &[&thief.token_proof(&app)]).await,
        400,
        "invalid_grant",
    )
    .await;
    assert!(body["error_description"].as_str().unwrap().contains("DPoP"), "{body}");
    assert_error(with_proofs(&app, &spa, &refresh, &[]).await, 400, "invalid_grant").await;
    let admin = app.admin_token().await;
    let audit: Value =
        app.admin_get(&admin, "/admin/audit?kind=refresh.dpop_key_mismatch").await.json().await.unwrap();
    let events = audit["events"].as_array().unwrap();
    assert_eq!(events.len(), 2, "{audit}");
    assert_eq!(events[0]["detail"]["bound_to"], key.jkt.as_str(), "{audit}");
    // Its holder refreshes, still bound, and the successor stays bound to the same key.
    let refreshed = ok_json(with_proofs(&app, &spa, &refresh, &[&key.token_proof(&app)]).await).await;
    assert_bound(&refreshed, &key);
    let next =
        [("grant_type", "refresh_token"), ("refresh_token", refreshed["refresh_token"].as_str().unwrap())];
    assert_error(with_proofs(&app, &spa, &next, &[&thief.token_proof(&app)]).await, 400, "invalid_grant")
        .await;
    assert_bound(&ok_json(with_proofs(&app, &spa, &next, &[&key.token_proof(&app)]).await).await, &key);
    // A public client that signed in without a proof holds a bearer refresh token.
    let code = public_code(&app, &mut browser, &spa, &[]).await;
    let plain = ok_json(with_proofs(&app, &spa, &redemption(&code), &[]).await).await;
    assert_bearer(&plain);
    let refresh =
        [("grant_type", "refresh_token"), ("refresh_token", plain["refresh_token"].as_str().unwrap())];
    assert_bearer(&ok_json(with_proofs(&app, &spa, &refresh, &[]).await).await);
}

async fn dpop_jkt_binds_the_code_to_a_key(backend: Backend) {
    let app = spawn_app(backend).await;
    app.create_user(EMAIL, PASSWORD, json!({}));
    let spa = public_app(&app).await;
    let (key, other) = (DpopKey::new(), DpopKey::new());
    let mut browser = Browser::new();
    let code = public_code(&app, &mut browser, &spa, &[("dpop_jkt", &key.jkt)]).await;
    // Another key, or none, cannot redeem it (and the code is spent either way).
    assert_error(
        with_proofs(&app, &spa, &redemption(&code), &[&other.token_proof(&app)]).await,
        400,
        "invalid_grant",
    )
    .await;
    let code = public_code(&app, &mut browser, &spa, &[("dpop_jkt", &key.jkt)]).await;
    assert_error(with_proofs(&app, &spa, &redemption(&code), &[]).await, 400, "invalid_grant").await;
    let code = public_code(&app, &mut browser, &spa, &[("dpop_jkt", &key.jkt)]).await;
    assert_bound(
        &ok_json(with_proofs(&app, &spa, &redemption(&code), &[&key.token_proof(&app)]).await).await,
        &key,
    );
    // A malformed dpop_jkt is an error at the redirect URI.
    let page = browser.get(&authorize_url(&app, &spa.id, &[("dpop_jkt", "not-a-thumbprint")])).await;
    assert_eq!(page.status, 303);
    assert_eq!(page.redirect_params()["error"], "invalid_request");
}

async fn the_client_decides_whether_dpop_is_off_optional_or_required(backend: Backend) {
    let app = spawn_app(backend).await;
    let admin = app.admin_token().await;
    let key = DpopKey::new();
    let credentials = [("grant_type", "client_credentials")];
    let required = service(&app, &admin, json!({ "dpop": "required" })).await;
    let (_, body) =
        assert_error(with_proofs(&app, &required, &credentials, &[]).await, 400, "invalid_dpop_proof").await;
    assert!(body["error_description"].as_str().unwrap().contains("must send a DPoP proof"), "{body}");
    assert_bound(
        &ok_json(with_proofs(&app, &required, &credentials, &[&key.token_proof(&app)]).await).await,
        &key,
    );
    // Off: the header is ignored, even a broken one, as by a server without DPoP.
    let off = service(&app, &admin, json!({ "dpop": "off" })).await;
    assert_bearer(&ok_json(with_proofs(&app, &off, &credentials, &[&key.token_proof(&app)]).await).await);
    assert_bearer(&ok_json(with_proofs(&app, &off, &credentials, &["garbage"]).await).await);
    // The mode is the client's registration: shown, changeable, checked.
    let shown: Value =
        app.admin_get(&admin, &format!("/admin/clients/{}", required.id)).await.json().await.unwrap();
    assert_eq!((shown["dpop"].clone(), shown["dpop_nonce"].clone()), (json!("required"), json!(false)));
    let changed =
        app.admin_patch(&admin, &format!("/admin/clients/{}", off.id), json!({ "dpop": "optional" })).await;
    assert_eq!(changed.status(), 200);
    app.eventually("the cache sees the change", || async {
        let response = with_proofs(&app, &off, &credentials, &[&key.token_proof(&app)]).await;
        response.json::<Value>().await.unwrap()["token_type"] == "DPoP"
    })
    .await;
    let bad = app.admin_post(&admin, "/admin/clients", Some(json!({ "name": "x", "dpop": "always" }))).await;
    assert_error(bad, 400, "invalid_request").await;
    let bad = app
        .admin_post(&admin, "/admin/clients", Some(json!({ "name": "x", "dpop": "off", "dpop_nonce": true })))
        .await;
    assert_error(bad, 400, "invalid_request").await;
}

async fn every_bad_proof_is_refused_with_invalid_dpop_proof(backend: Backend) {
    let app = spawn_app(backend).await;
    let admin = app.admin_token().await;
    let svc = service(&app, &admin, json!({})).await;
    let key = DpopKey::new();
    let now = app.clock.now();
    let token_url = format!("{ISSUER}/oauth2/token");
    let proof = |method: &str, url: &str, iat: i64, claims: Value, header: Value| {
        key.proof_with(method, url, iat, claims, header)
    };
    let wrong_signer = {
        let good = proof("POST", &token_url, now, json!({}), json!({}));
        let forged = DpopKey::new().proof_with("POST", &token_url, now, json!({}), json!({ "jwk": key.jwk }));
        let (head, _) = good.rsplit_once('.').unwrap();
        let (_, foreign_signature) = forged.rsplit_once('.').unwrap();
        format!("{head}.{foreign_signature}")
    };
    let mut private = key.jwk.clone();
    private["d"] = json!(URL_SAFE_NO_PAD.encode([7u8; 32]));
    let cases: Vec<(&str, String, &str)> = vec![
        ("another method", proof("GET", &token_url, now, json!({}), json!({})), "htm"),
        (
            "the address jwtd is reached at, not its public URL",
            proof("POST", &app.url("/oauth2/token"), now, json!({}), json!({})),
            "htu",
        ),
        (
            "another endpoint",
            proof("POST", &format!("{ISSUER}/oauth2/revoke"), now, json!({}), json!({})),
            "htu",
        ),
        (
            "an access token hash at the token endpoint",
            proof("POST", &token_url, now, json!({ "ath": ath("x") }), json!({})),
            "ath",
        ),
        ("iat long ago", proof("POST", &token_url, now - 600, json!({}), json!({})), "iat"),
        ("iat in the future", proof("POST", &token_url, now + 600, json!({}), json!({})), "iat"),
        ("typ JWT", proof("POST", &token_url, now, json!({}), json!({ "typ": "JWT" })), "typ"),
        ("alg none", proof("POST", &token_url, now, json!({}), json!({ "alg": "none" })), "alg"),
        ("alg HS256", proof("POST", &token_url, now, json!({}), json!({ "alg": "HS256" })), "alg"),
        (
            "a private key in the header",
            proof("POST", &token_url, now, json!({}), json!({ "jwk": private })),
            "private",
        ),
        ("no key in the header", proof("POST", &token_url, now, json!({}), json!({ "jwk": null })), "jwk"),
        ("no jti", proof("POST", &token_url, now, json!({ "jti": null }), json!({})), "malformed"),
        ("signed by another key than its header's", wrong_signer, "signature"),
        ("not a JWT", "not.a.jwt".to_owned(), "malformed"),
    ];
    let credentials = [("grant_type", "client_credentials")];
    for (what, proof, said) in &cases {
        let response = with_proofs(&app, &svc, &credentials, &[proof]).await;
        let (_, body) = assert_error(response, 400, "invalid_dpop_proof").await;
        let description = body["error_description"].as_str().unwrap();
        assert!(description.contains(said), "{what}: {description}");
    }
    // Two proofs; and one proof twice.
    let (one, two) = (key.token_proof(&app), key.token_proof(&app));
    assert_error(with_proofs(&app, &svc, &credentials, &[&one, &two]).await, 400, "invalid_dpop_proof").await;
    ok_json(with_proofs(&app, &svc, &credentials, &[&one]).await).await;
    let (_, body) =
        assert_error(with_proofs(&app, &svc, &credentials, &[&one]).await, 400, "invalid_dpop_proof").await;
    assert!(body["error_description"].as_str().unwrap().contains("used before"), "{body}");
    let metrics = app.scrape().await;
    assert_eq!(sample(&metrics, r#"jwtd_dpop_proofs_total{outcome="replayed"}"#), Some(1.0));
    assert_eq!(sample(&metrics, r#"jwtd_dpop_proofs_total{outcome="several"}"#), Some(1.0));
    assert_eq!(
        sample(&metrics, r#"jwtd_token_errors_total{error="invalid_dpop_proof"}"#),
        Some(cases.len() as f64 + 2.0)
    );
}

async fn nonces_and_replays_hold_across_two_instances(backend: Backend) {
    let db = std::sync::Arc::new(TestDb::new(backend));
    let master_key = new_master_key();
    let first = spawn_app_on(std::sync::Arc::clone(&db), &master_key, &[]).await;
    let second = spawn_app_on(std::sync::Arc::clone(&db), &master_key, &[]).await;
    let admin = first.admin_token().await;
    let svc = service(&first, &admin, json!({ "dpop_nonce": true })).await;
    let key = DpopKey::new();
    let credentials = [("grant_type", "client_credentials")];
    // No nonce: told to use one, which the header carries.
    let (headers, _) = assert_error(
        with_proofs(&first, &svc, &credentials, &[&key.token_proof(&first)]).await,
        400,
        "use_dpop_nonce",
    )
    .await;
    let nonce = headers["dpop-nonce"].to_str().unwrap().to_owned();
    let with_nonce = |app: &TestApp, nonce: &str| {
        let url = format!("{ISSUER}/oauth2/token");
        key.proof_with("POST", &url, app.clock.now(), json!({ "nonce": nonce }), json!({}))
    };
    // The other instance accepts the nonce the first gave out, and answers with a fresh one.
    let proof = with_nonce(&second, &nonce);
    let response = with_proofs(&second, &svc, &credentials, &[&proof]).await;
    assert!(response.headers().contains_key("dpop-nonce"));
    assert_bound(&ok_json(response).await, &key);
    // The same proof at the first instance is a replay: jtis are shared through the database.
    let (_, body) =
        assert_error(with_proofs(&first, &svc, &credentials, &[&proof]).await, 400, "invalid_dpop_proof")
            .await;
    assert!(body["error_description"].as_str().unwrap().contains("used before"), "{body}");
    // A made-up nonce, and a stale one, are not accepted.
    assert_error(
        with_proofs(&first, &svc, &credentials, &[&with_nonce(&first, "made-up")]).await,
        400,
        "use_dpop_nonce",
    )
    .await;
    for app in [&first, &second] {
        app.clock.advance(121);
    }
    assert_error(
        with_proofs(&first, &svc, &credentials, &[&with_nonce(&first, &nonce)]).await,
        400,
        "use_dpop_nonce",
    )
    .await;
}

async fn userinfo_and_introspection_read_bound_tokens(backend: Backend) {
    let app = spawn_app(backend).await;
    let key = DpopKey::new();
    let (_, tokens) = bound_sign_in(&app, &mut Browser::new(), &key).await;
    let token = tokens["access_token"].as_str().unwrap();
    let userinfo = |scheme: &'static str, proofs: Vec<String>| {
        let mut request =
            app.http.get(app.url("/userinfo")).header("authorization", format!("{scheme} {token}"));
        for proof in proofs {
            request = request.header("DPoP", proof);
        }
        request.send()
    };
    let proof = key.resource_proof(&app, "GET", "/userinfo", token);
    let response = userinfo("DPoP", vec![proof.clone()]).await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.json::<Value>().await.unwrap()["email"], EMAIL);
    // Each refusal in its own words (RFC 9449 §7.1).
    let challenge =
        |response: &reqwest::Response| response.headers()["www-authenticate"].to_str().unwrap().to_owned();
    let downgrade = userinfo("Bearer", vec![]).await.unwrap();
    assert_eq!(downgrade.status(), 401);
    assert!(challenge(&downgrade).starts_with("Bearer") && challenge(&downgrade).contains("invalid_token"));
    let replayed = userinfo("DPoP", vec![proof]).await.unwrap();
    assert_eq!(replayed.status(), 401);
    assert!(challenge(&replayed).starts_with("DPoP") && challenge(&replayed).contains("invalid_dpop_proof"));
    assert!(challenge(&replayed).contains("algs=\""), "{}", challenge(&replayed));
    let cases = [
        ("another key", DpopKey::new().resource_proof(&app, "GET", "/userinfo", token)),
        ("another token's hash", key.resource_proof(&app, "GET", "/userinfo", "another.token")),
        ("another method", key.resource_proof(&app, "POST", "/userinfo", token)),
        (
            "no ath",
            key.proof_with("GET", &format!("{ISSUER}/userinfo"), app.clock.now(), json!({}), json!({})),
        ),
    ];
    for (what, proof) in cases {
        let response = userinfo("DPoP", vec![proof]).await.unwrap();
        assert_eq!(response.status(), 401, "{what}");
        assert!(challenge(&response).contains("invalid_dpop_proof"), "{what}: {}", challenge(&response));
    }
    let no_proof = userinfo("DPoP", vec![]).await.unwrap();
    assert!(challenge(&no_proof).contains("invalid_dpop_proof"));
    // Without credentials, both schemes are offered.
    let bare = app.http.get(app.url("/userinfo")).send().await.unwrap();
    let offered: Vec<&str> =
        bare.headers().get_all("www-authenticate").iter().map(|v| v.to_str().unwrap()).collect();
    assert!(
        offered.iter().any(|c| c.starts_with("Bearer")) && offered.iter().any(|c| c.starts_with("DPoP")),
        "{offered:?}"
    );
    // An unbound token sent with the DPoP scheme is refused too.
    let admin = app.admin_token().await;
    let svc = service(&app, &admin, json!({ "scope": "openid" })).await;
    let bearer = app.token_of(&svc).await;
    let proof = key.resource_proof(&app, "GET", "/userinfo", &bearer);
    let response = app
        .http
        .get(app.url("/userinfo"))
        .header("authorization", format!("DPoP {bearer}"))
        .header("DPoP", proof)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    // Introspection tells a resource server the binding.
    let introspector = app.register_introspector(&[API]);
    let answer = app.introspect(&introspector, token).await;
    assert_eq!(answer["active"], true, "{answer}");
    assert_eq!(answer["token_type"], "DPoP");
    assert_eq!(answer["cnf"], json!({ "jkt": key.jkt }));
    let plain = app.introspect(&svc, &bearer).await;
    assert_eq!((plain["token_type"].clone(), plain.get("cnf").cloned()), (json!("Bearer"), None));
}

async fn a_bound_subject_token_is_exchanged_only_with_its_key(backend: Backend) {
    let app = spawn_app(backend).await;
    let admin = app.admin_token().await;
    let (api_a, api_b) = ("https://a.example", "https://b.example");
    let frontend = register(
        &app,
        &admin,
        json!({
            "name": "frontend", "scope": "orders:read", "grant_types": ["password"], "resources": [api_a],
        }),
    )
    .await;
    let a = register(
        &app,
        &admin,
        json!({
            "name": "service A", "scope": "orders:read", "grant_types": ["token_exchange"],
            "served_resources": [api_a], "resources": [api_b],
        }),
    )
    .await;
    app.create_user(EMAIL, PASSWORD, json!({}));
    let key = DpopKey::new();
    let login =
        [("grant_type", "password"), ("username", EMAIL), ("password", PASSWORD), ("resource", api_a)];
    let subject = ok_json(with_proofs(&app, &frontend, &login, &[&key.token_proof(&app)]).await).await;
    let subject = subject["access_token"].as_str().unwrap();
    let exchange = [
        ("grant_type", "urn:ietf:params:oauth:grant-type:token-exchange"),
        ("subject_token", subject),
        ("subject_token_type", "urn:ietf:params:oauth:token-type:access_token"),
    ];
    let (_, body) = assert_error(with_proofs(&app, &a, &exchange, &[]).await, 400, "invalid_grant").await;
    assert!(body["error_description"].as_str().unwrap().contains("DPoP"), "{body}");
    let other = DpopKey::new();
    assert_error(with_proofs(&app, &a, &exchange, &[&other.token_proof(&app)]).await, 400, "invalid_grant")
        .await;
    let exchanged = ok_json(with_proofs(&app, &a, &exchange, &[&key.token_proof(&app)]).await).await;
    assert_bound(&exchanged, &key);
    assert_eq!(exchanged["issued_token_type"], "urn:ietf:params:oauth:token-type:access_token");
    let metrics = app.scrape().await;
    assert_eq!(sample(&metrics, r#"jwtd_token_exchanges_total{outcome="dpop_key_mismatch"}"#), Some(2.0));
}
