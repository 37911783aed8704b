//! What the end-to-end tests of the authorization code flow (issue 16) share: registering its
//! clients, PKCE, reading the authorization response, and checking an ID token from the JWKS.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};

use crate::helpers::{TestApp, TestClient};

pub const EMAIL: &str = "alice@example.com";
pub const PASSWORD: &str = "correct horse battery staple";
pub const SCOPE: &str = "openid email";

/// How a client of the flow authenticates at the token endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientKind {
    /// A server-side web app: `client_secret_basic`.
    ConfidentialWeb,
    /// A single-page or native app: `token_endpoint_auth_method: none`, no secret.
    Public,
}

/// Registers a first-party client of the flow with one redirect URI, through the admin API with
/// the field names of RFC 7591 that issue 16 uses. The one place to adjust if the flow lands
/// with other names. A public client's `secret` is empty.
pub async fn register_flow_client(
    app: &TestApp,
    admin: &str,
    name: &str,
    redirect_uri: &str,
    kind: ClientKind,
) -> TestClient {
    let auth_method = match kind {
        ClientKind::ConfidentialWeb => "client_secret_basic",
        ClientKind::Public => "none",
    };
    let body = json!({
        "name": name,
        "scope": SCOPE,
        "audiences": ["https://api.example.com"],
        "grant_types": ["authorization_code", "refresh_token"],
        "redirect_uris": [redirect_uri],
        "application_type": "web",
        "token_endpoint_auth_method": auth_method,
        "first_party": true,
    });
    let client = register(app, admin, body).await;
    assert_eq!(client.secret.is_empty(), kind == ClientKind::Public, "{name}");
    client
}

/// Registers a client with this `POST /admin/clients` body; asserts it was created.
pub async fn register(app: &TestApp, admin: &str, body: Value) -> TestClient {
    let response = app.admin_post(admin, "/admin/clients", Some(body)).await;
    let status = response.status();
    let created: Value = response.json().await.unwrap();
    assert!(status.is_success(), "registering: {status} {created}");
    let secret = created["client_secret"].as_str().unwrap_or_default().to_owned();
    TestClient { id: created["client_id"].as_str().unwrap().to_owned(), secret }
}

/// A PKCE pair (RFC 7636): a 256-bit verifier and its S256 challenge.
pub struct Pkce {
    pub verifier: String,
    pub challenge: String,
}

impl Pkce {
    pub fn new() -> Self {
        let verifier = random_text();
        let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, verifier.as_bytes());
        Self { challenge: URL_SAFE_NO_PAD.encode(digest.as_ref()), verifier }
    }
}

/// 256 random bits, base64url: a PKCE verifier, a state or a nonce.
pub fn random_text() -> String {
    let mut bytes = [0u8; 32];
    aws_lc_rs::rand::fill(&mut bytes).unwrap();
    URL_SAFE_NO_PAD.encode(bytes)
}

/// The authorization request's URL at `app` for `client`.
pub fn authorization_url(
    app: &TestApp,
    client: &TestClient,
    redirect_uri: &str,
    state: &str,
    nonce: &str,
    pkce: &Pkce,
) -> String {
    let query = form_urlencoded::Serializer::new(String::new())
        .append_pair("response_type", "code")
        .append_pair("client_id", &client.id)
        .append_pair("redirect_uri", redirect_uri)
        .append_pair("scope", SCOPE)
        .append_pair("state", state)
        .append_pair("nonce", nonce)
        .append_pair("code_challenge", &pkce.challenge)
        .append_pair("code_challenge_method", "S256")
        .finish();
    app.url(&format!("/oauth2/authorize?{query}"))
}

/// The query parameters of a URL (the authorization response at the redirect URI), by name.
pub fn query_of(url: &str) -> std::collections::HashMap<String, String> {
    let query = url.split_once('?').map(|(_, q)| q).unwrap_or_default();
    let query = query.split('#').next().unwrap_or_default();
    form_urlencoded::parse(query.as_bytes()).into_owned().collect()
}

/// `grant_type=authorization_code` with the PKCE verifier: HTTP Basic for a confidential client,
/// `client_id` alone in the form for a public one. The JSON answer, asserted 200.
pub async fn exchange_code(
    app: &TestApp,
    client: &TestClient,
    code: &str,
    redirect_uri: &str,
    pkce: &Pkce,
) -> Value {
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", redirect_uri),
        ("code_verifier", pkce.verifier.as_str()),
    ];
    let response = token_request(app, client, &form).await;
    let status = response.status();
    let body: Value = response.json().await.unwrap();
    assert_eq!(status, 200, "{body}");
    for member in ["access_token", "id_token", "refresh_token"] {
        assert!(body[member].as_str().is_some_and(|t| !t.is_empty()), "{member} missing: {body}");
    }
    body
}

/// `POST /oauth2/token` by `client`: HTTP Basic for a confidential client, `client_id` alone in
/// the form for a public one.
pub async fn token_request(app: &TestApp, client: &TestClient, form: &[(&str, &str)]) -> reqwest::Response {
    let mut form = form.to_vec();
    let request = app.http.post(app.url("/oauth2/token"));
    let request = if client.secret.is_empty() {
        form.push(("client_id", client.id.as_str()));
        request
    } else {
        request.basic_auth(&client.id, Some(&client.secret))
    };
    request.form(&form).send().await.unwrap()
}

/// The claims of an ID token whose signature (from the JWKS, with the JWK's algorithm), `iss`,
/// `aud` and `exp` hold, and whose `nonce` is the one sent.
pub async fn verify_id_token(app: &TestApp, id_token: &str, client: &TestClient, nonce: &str) -> Value {
    let header = jsonwebtoken::decode_header(id_token).unwrap();
    let jwks = app.jwks().await;
    let jwk = jwks.find(header.kid.as_deref().unwrap()).unwrap();
    let alg = jsonwebtoken::Algorithm::try_from(jwk.common.key_algorithm.unwrap()).unwrap();
    let mut validation = jsonwebtoken::Validation::new(alg);
    validation.set_issuer(&[app.issuer()]);
    validation.set_audience(&[&client.id]);
    let key = jsonwebtoken::DecodingKey::from_jwk(jwk).unwrap();
    let claims = jsonwebtoken::decode::<Value>(id_token, &key, &validation).unwrap().claims;
    assert_eq!(claims["nonce"], nonce, "{claims}");
    claims
}
