//! Browser sign-in over plain HTTP (a real browser drives the same flow in `sign_in.rs`): the
//! authorization endpoint, the sign-in page, single sign-on, and the code's redemption, on both
//! backends.

use std::collections::HashMap;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jwtd::clock::Clock;
use reqwest::redirect::Policy;
use serde_json::{Value, json};

use crate::helpers::{
    Backend, ISSUER, TestApp, TestClient, TestDb, claims_of, new_master_key, spawn_app, spawn_app_on,
};
use crate::on_both_backends;

pub const PASSWORD: &str = "correct horse battery staple";
pub const REDIRECT: &str = "https://app.example/cb";
pub const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
pub const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

/// A web app's client: the code flow with refresh tokens, through the admin API.
pub async fn register_web_app(app: &TestApp, first_party: bool, extra: Value) -> TestClient {
    let mut body = json!({
        "name": "Web App",
        "scope": "openid email offline_access read",
        "grant_types": ["authorization_code", "refresh_token"],
        "redirect_uris": [REDIRECT],
        "first_party": first_party,
    });
    if let (Some(fields), Some(extra)) = (body.as_object_mut(), extra.as_object()) {
        fields.extend(extra.clone());
    }
    crate::flow_clients::register(app, &app.admin_token().await, body).await
}

/// A user agent that keeps its cookies (Secure ones too: jwtd is on loopback) and follows no
/// redirects, so each step can be looked at.
pub struct Browser {
    http: reqwest::Client,
    pub cookies: HashMap<String, String>,
}

/// A page or redirect as the browser saw it.
pub struct Seen {
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: String,
}

impl Seen {
    pub fn location(&self) -> url::Url {
        url::Url::parse(self.headers["location"].to_str().unwrap()).unwrap()
    }

    /// The query parameters of the redirect's target.
    pub fn redirect_params(&self) -> HashMap<String, String> {
        assert_eq!(self.status, 303, "not a redirect: {}", self.body);
        self.location().query_pairs().into_owned().collect()
    }

    pub fn is_consent_page(&self) -> bool {
        self.status == 200 && self.body.contains("action=\"/consent\"")
    }

    /// The value of the form field `name` (HTML-unescaped).
    pub fn field(&self, name: &str) -> String {
        let marker = format!("name=\"{name}\" value=\"");
        let start = self.body.find(&marker).unwrap_or_else(|| panic!("no field {name} in {}", self.body))
            + marker.len();
        let end = start + self.body[start..].find('"').unwrap();
        unescape(&self.body[start..end])
    }
}

fn unescape(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(i) = rest.find('&') {
        out.push_str(&rest[..i]);
        let end = rest[i..].find(';').unwrap() + i;
        let entity = &rest[i + 1..end];
        let c = match entity {
            "amp" => '&',
            "quot" => '"',
            "lt" => '<',
            "gt" => '>',
            "apos" => '\'',
            _ => char::from_u32(entity.trim_start_matches('#').parse().unwrap()).unwrap(),
        };
        out.push(c);
        rest = &rest[end + 1..];
    }
    out.push_str(rest);
    out
}

impl Browser {
    pub fn new() -> Self {
        let http = reqwest::Client::builder()
            .redirect(Policy::none())
            .user_agent("jwtd-test-browser/1")
            .build()
            .unwrap();
        Self { http, cookies: HashMap::new() }
    }

    fn cookie_header(&self) -> String {
        self.cookies.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("; ")
    }

    async fn seen(&mut self, response: reqwest::Response) -> Seen {
        for value in response.headers().get_all("set-cookie") {
            let pair = value.to_str().unwrap().split(';').next().unwrap();
            let (name, value) = pair.split_once('=').unwrap();
            self.cookies.insert(name.to_owned(), value.to_owned());
        }
        let (status, headers) = (response.status().as_u16(), response.headers().clone());
        Seen { status, headers, body: response.text().await.unwrap() }
    }

    pub async fn get(&mut self, url: &str) -> Seen {
        let response = self.http.get(url).header("cookie", self.cookie_header()).send().await.unwrap();
        self.seen(response).await
    }

    pub async fn post(&mut self, url: &str, form: &[(&str, &str)], headers: &[(&str, &str)]) -> Seen {
        let mut request = self.http.post(url).header("cookie", self.cookie_header()).form(form);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let response = request.send().await.unwrap();
        self.seen(response).await
    }

    /// Submits the sign-in page `page` with these credentials.
    pub async fn sign_in(&mut self, app: &TestApp, page: &Seen, email: &str, password: &str) -> Seen {
        let (csrf, request) = (page.field("csrf_token"), page.field("auth_request"));
        let form = [
            ("csrf_token", csrf.as_str()),
            ("auth_request", &request),
            ("username", email),
            ("password", password),
        ];
        self.post(&app.url("/login"), &form, &[("sec-fetch-site", "same-origin")]).await
    }

    /// Answers the consent page `page` with `decision` (`allow` or `deny`).
    pub async fn decide(&mut self, app: &TestApp, page: &Seen, decision: &str) -> Seen {
        assert!(page.is_consent_page(), "not the consent page: {} {}", page.status, page.body);
        let (csrf, request) = (page.field("csrf_token"), page.field("auth_request"));
        let form = [("csrf_token", csrf.as_str()), ("auth_request", &request), ("decision", decision)];
        self.post(&app.url("/consent"), &form, &[("sec-fetch-site", "same-origin")]).await
    }

    /// `seen`, or where allowing on it leads when it is the consent page.
    pub async fn allowing(&mut self, app: &TestApp, seen: Seen) -> Seen {
        if seen.is_consent_page() { self.decide(app, &seen, "allow").await } else { seen }
    }
}

/// The authorization URL for `client`, with PKCE, `state` and `nonce`, and `extra` parameters.
pub fn authorize_url(app: &TestApp, client_id: &str, extra: &[(&str, &str)]) -> String {
    let mut params: Vec<(&str, &str)> = vec![
        ("response_type", "code"),
        ("client_id", client_id),
        ("redirect_uri", REDIRECT),
        ("scope", "openid email offline_access"),
        ("state", "st-1"),
        ("nonce", "n-1"),
        ("code_challenge", CHALLENGE),
        ("code_challenge_method", "S256"),
    ];
    for (name, value) in extra {
        params.retain(|(n, _)| n != name);
        if !value.is_empty() {
            params.push((name, value));
        }
    }
    let query = form_urlencoded::Serializer::new(String::new()).extend_pairs(params).finish();
    app.url(&format!("/oauth2/authorize?{query}"))
}

/// Signs `email` in through `client`'s authorization URL (unless the browser's session does),
/// allowing what it asks for when asked; returns the code.
pub async fn code_for(app: &TestApp, browser: &mut Browser, client: &TestClient, email: &str) -> String {
    let page = browser.get(&authorize_url(app, &client.id, &[])).await;
    let page = browser.allowing(app, page).await;
    if page.status == 303 {
        return page.redirect_params()["code"].clone(); // signed in already
    }
    assert_eq!(page.status, 200, "{}", page.body);
    let back = browser.sign_in(app, &page, email, PASSWORD).await;
    browser.allowing(app, back).await.redirect_params()["code"].clone()
}

/// `grant_type=authorization_code` by `client` (Basic authentication when it has a secret).
pub async fn redeem(
    app: &TestApp,
    client: &TestClient,
    code: &str,
    extra: &[(&str, &str)],
) -> reqwest::Response {
    let mut form = vec![
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", REDIRECT),
        ("code_verifier", VERIFIER),
    ];
    for (name, value) in extra {
        form.retain(|(n, _)| n != name);
        if !value.is_empty() {
            form.push((name, value));
        }
    }
    crate::flow_clients::token_request(app, client, &form).await
}

/// `grant_type=refresh_token` by `client`.
async fn refresh(app: &TestApp, client: &TestClient, token: &str) -> reqwest::Response {
    let form = [("grant_type", "refresh_token"), ("refresh_token", token)];
    crate::flow_clients::token_request(app, client, &form).await
}

on_both_backends!(
    a_browser_signs_in_and_the_client_redeems_the_code,
    a_second_app_signs_in_through_the_session,
    prompt_and_max_age_decide_when_to_ask_again,
    a_bad_client_or_redirect_uri_gets_an_error_page_and_never_a_redirect,
    other_errors_go_back_to_the_client_with_state_and_iss,
    a_replayed_code_revokes_what_it_issued,
    a_code_is_bound_to_its_client_verifier_redirect_uri_and_minute,
    the_sign_in_form_needs_its_csrf_token,
    wrong_passwords_and_lockouts_get_one_message,
    third_party_clients_get_a_refresh_token_only_with_offline_access,
    an_administrator_lists_and_ends_sign_in_sessions,
    a_native_public_client_uses_any_loopback_port_and_no_secret,
    a_disabled_person_is_signed_in_nowhere,
);

async fn a_browser_signs_in_and_the_client_redeems_the_code(backend: Backend) {
    let app = spawn_app(backend).await;
    let client = register_web_app(&app, true, json!({})).await;
    let user = app.create_user("alice@example.com", PASSWORD, json!({"roles": ["reader"]}));
    let mut browser = Browser::new();
    let page = browser.get(&authorize_url(&app, &client.id, &[])).await;
    assert_eq!(page.status, 200);
    assert!(page.headers["content-type"].to_str().unwrap().starts_with("text/html"));
    let csp = page.headers["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("frame-ancestors 'none'") && csp.contains("default-src 'none'"), "{csp}");
    assert!(csp.contains("form-action 'self' https://app.example"), "{csp}");
    assert_eq!(page.headers["cache-control"], "no-store");
    assert_eq!(page.headers["referrer-policy"], "no-referrer");
    assert!(page.body.contains("Web App"), "the page names the app");
    let back = browser.sign_in(&app, &page, "alice@example.com", PASSWORD).await;
    let session_cookie = back
        .headers
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .find(|c| c.starts_with("__Host-jwtd_session="))
        .expect("a session cookie");
    for attribute in ["Secure", "HttpOnly", "SameSite=Lax", "Path=/"] {
        assert!(session_cookie.contains(attribute), "{attribute} missing: {session_cookie}");
    }
    let location = back.location();
    assert_eq!(
        format!("{}://{}{}", location.scheme(), location.host_str().unwrap(), location.path()),
        REDIRECT
    );
    let params = back.redirect_params();
    assert_eq!(params["state"], "st-1");
    assert_eq!(params["iss"], ISSUER);
    let response = redeem(&app, &client, &params["code"], &[]).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let tokens: Value = response.json().await.unwrap();
    let access = tokens["access_token"].as_str().unwrap();
    let jwks = app.jwks().await;
    let claims = crate::helpers::verify_offline(access, &jwks, "http://jwtd.test").unwrap();
    assert_eq!(claims.sub, user.id);
    assert_eq!(claims.client_id, client.id);
    assert!(
        tokens["refresh_token"].as_str().unwrap().starts_with("jwtd_rt_"),
        "first party: a refresh token"
    );
    let id = claims_of(tokens["id_token"].as_str().unwrap());
    assert_eq!(id["nonce"], "n-1");
    assert_eq!(id["aud"], client.id.as_str());
    assert_eq!(id["sub"], user.id.as_str());
    assert_eq!(id["email"], "alice@example.com", "scope email");
    assert_eq!(id["sid"], claims.sid.clone().unwrap().as_str());
    assert_eq!(id["auth_time"], app.clock.now());
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, access.as_bytes());
    assert_eq!(id["at_hash"], URL_SAFE_NO_PAD.encode(&digest.as_ref()[..16]));
    // The refresh token rotates like any other, and keeps auth_time.
    let refreshed = refresh(&app, &client, tokens["refresh_token"].as_str().unwrap()).await;
    assert_eq!(refreshed.status(), 200);
    let refreshed: Value = refreshed.json().await.unwrap();
    assert_eq!(claims_of(refreshed["id_token"].as_str().unwrap())["auth_time"], id["auth_time"]);
}

async fn a_second_app_signs_in_through_the_session(backend: Backend) {
    let app = spawn_app(backend).await;
    let first = register_web_app(&app, true, json!({"name": "First"})).await;
    let second = register_web_app(&app, true, json!({"name": "Second"})).await;
    app.create_user("alice@example.com", PASSWORD, json!({}));
    let mut browser = Browser::new();
    code_for(&app, &mut browser, &first, "alice@example.com").await;
    app.clock.advance(30);
    let back = browser.get(&authorize_url(&app, &second.id, &[("state", "st-2")])).await;
    let params = back.redirect_params();
    assert_eq!(params["state"], "st-2");
    let tokens: Value = redeem(&app, &second, &params["code"], &[]).await.json().await.unwrap();
    let id = claims_of(tokens["id_token"].as_str().unwrap());
    assert_eq!(id["auth_time"], app.clock.now() - 30, "auth_time is when the person signed in");
    assert_eq!(id["aud"], second.id.as_str());
    // Another browser has no session: it gets the sign-in page.
    let elsewhere = Browser::new().get(&authorize_url(&app, &second.id, &[])).await;
    assert_eq!(elsewhere.status, 200);
}

async fn prompt_and_max_age_decide_when_to_ask_again(backend: Backend) {
    let app = spawn_app(backend).await;
    let client = register_web_app(&app, true, json!({})).await;
    app.create_user("alice@example.com", PASSWORD, json!({}));
    let mut anonymous = Browser::new();
    let none = anonymous.get(&authorize_url(&app, &client.id, &[("prompt", "none")])).await;
    let params = none.redirect_params();
    assert_eq!(params["error"], "login_required");
    assert_eq!((params["state"].as_str(), params["iss"].as_str()), ("st-1", ISSUER));

    let mut browser = Browser::new();
    code_for(&app, &mut browser, &client, "alice@example.com").await;
    let silent = browser.get(&authorize_url(&app, &client.id, &[("prompt", "none")])).await;
    assert!(silent.redirect_params().contains_key("code"), "prompt=none with a session");
    let again = browser.get(&authorize_url(&app, &client.id, &[("prompt", "login")])).await;
    assert_eq!(again.status, 200, "prompt=login shows the page");
    // Signing in again renews the browser's session: a new secret, the old one is worthless.
    let old_secret = browser.cookies["__Host-jwtd_session"].clone();
    app.clock.advance(5);
    let renewed = browser.sign_in(&app, &again, "alice@example.com", PASSWORD).await;
    let code = renewed.redirect_params()["code"].clone();
    assert_ne!(browser.cookies["__Host-jwtd_session"], old_secret);
    let tokens: Value = redeem(&app, &client, &code, &[]).await.json().await.unwrap();
    assert_eq!(claims_of(tokens["id_token"].as_str().unwrap())["auth_time"], app.clock.now());
    let mut stale = Browser::new();
    stale.cookies.insert("__Host-jwtd_session".into(), old_secret);
    assert_eq!(stale.get(&authorize_url(&app, &client.id, &[])).await.status, 200);
    app.clock.advance(120);
    let recent = browser.get(&authorize_url(&app, &client.id, &[("max_age", "60")])).await;
    assert_eq!(recent.status, 200, "signed in longer ago than max_age");
    let old_enough = browser.get(&authorize_url(&app, &client.id, &[("max_age", "600")])).await;
    assert!(old_enough.redirect_params().contains_key("code"));
    let none_too_old =
        browser.get(&authorize_url(&app, &client.id, &[("prompt", "none"), ("max_age", "60")])).await;
    assert_eq!(none_too_old.redirect_params()["error"], "login_required");
    // A session idle longer than sessions.idle_ttl (1 day) is over.
    app.clock.advance(86_400);
    let idle = browser.get(&authorize_url(&app, &client.id, &[])).await;
    assert_eq!(idle.status, 200);
}

async fn a_bad_client_or_redirect_uri_gets_an_error_page_and_never_a_redirect(backend: Backend) {
    let app = spawn_app(backend).await;
    let client = register_web_app(&app, true, json!({})).await;
    let mut browser = Browser::new();
    for extra in [
        vec![("client_id", "nobody")],
        vec![("client_id", "")],
        vec![("redirect_uri", "https://evil.example/cb")],
        vec![("redirect_uri", "https://app.example/cb/../evil")],
        vec![("redirect_uri", "")],
    ] {
        let page = browser.get(&authorize_url(&app, &client.id, &extra)).await;
        assert_eq!(page.status, 400, "{extra:?}");
        assert!(page.headers.get("location").is_none(), "{extra:?}");
        assert!(page.headers["content-type"].to_str().unwrap().starts_with("text/html"));
        assert!(page.body.contains("role=\"alert\""), "{}", page.body);
    }
    let repeated = browser.get(&format!("{}&state=again", authorize_url(&app, &client.id, &[]))).await;
    assert_eq!(repeated.status, 400, "a repeated parameter");
}

async fn other_errors_go_back_to_the_client_with_state_and_iss(backend: Backend) {
    let app = spawn_app(backend).await;
    let client = register_web_app(&app, true, json!({})).await;
    let mut browser = Browser::new();
    for (extra, error) in [
        (vec![("code_challenge", "")], "invalid_request"),
        (vec![("code_challenge_method", "plain")], "invalid_request"),
        (vec![("response_type", "token")], "unsupported_response_type"),
        (vec![("scope", "openid jwtd:admin")], "invalid_scope"),
        (vec![("request_uri", "https://app.example/req")], "request_uri_not_supported"),
    ] {
        let back = browser.get(&authorize_url(&app, &client.id, &extra)).await;
        let params = back.redirect_params();
        assert_eq!(params["error"], error, "{extra:?}");
        assert_eq!(params["state"], "st-1");
        assert_eq!(params["iss"], ISSUER);
        assert!(params.contains_key("error_description"));
        assert!(!params.contains_key("code"));
    }
}

async fn a_replayed_code_revokes_what_it_issued(backend: Backend) {
    let app = spawn_app(backend).await;
    let client = register_web_app(&app, true, json!({})).await;
    app.create_user("alice@example.com", PASSWORD, json!({}));
    let code = code_for(&app, &mut Browser::new(), &client, "alice@example.com").await;
    let first: Value = redeem(&app, &client, &code, &[]).await.json().await.unwrap();
    let replay = redeem(&app, &client, &code, &[]).await;
    assert_eq!(replay.status(), 400);
    assert_eq!(replay.json::<Value>().await.unwrap()["error"], "invalid_grant");
    let refresh = refresh(&app, &client, first["refresh_token"].as_str().unwrap()).await;
    assert_eq!(refresh.status(), 400, "the family the code started is revoked");
    let sid = claims_of(first["access_token"].as_str().unwrap())["sid"].as_str().unwrap().to_owned();
    let feed = app.revocation_feed().await;
    assert!(feed["sids"].as_array().unwrap().iter().any(|s| s == sid.as_str()), "{feed}");
    let introspection = app.introspect(&client, first["access_token"].as_str().unwrap()).await;
    assert_eq!(introspection["active"], false);
    let metrics = app.scrape().await;
    let codes = |outcome: &str| {
        crate::helpers::sample(&metrics, &format!("jwtd_authorization_codes_total{{outcome=\"{outcome}\"}}"))
    };
    assert_eq!((codes("issued"), codes("redeemed"), codes("replayed")), (Some(1.0), Some(1.0), Some(1.0)));
}

async fn a_code_is_bound_to_its_client_verifier_redirect_uri_and_minute(backend: Backend) {
    let app = spawn_app(backend).await;
    let client = register_web_app(&app, true, json!({})).await;
    let other = register_web_app(&app, true, json!({"name": "Other"})).await;
    app.create_user("alice@example.com", PASSWORD, json!({}));
    let mut browser = Browser::new();
    let wrong_verifier = "x".repeat(43);
    for (presenter, extra) in [
        (&other, vec![]),
        (&client, vec![("code_verifier", wrong_verifier.as_str())]),
        (&client, vec![("code_verifier", "")]),
        (&client, vec![("code_verifier", CHALLENGE)]),
        (&client, vec![("redirect_uri", "https://app.example/other")]),
        (&client, vec![("redirect_uri", "")]),
    ] {
        let code = code_for(&app, &mut browser, &client, "alice@example.com").await;
        let response = redeem(&app, presenter, &code, &extra).await;
        assert_eq!(response.status(), 400, "{extra:?}");
        assert_eq!(response.json::<Value>().await.unwrap()["error"], "invalid_grant", "{extra:?}");
        // A refused attempt uses the code up.
        assert_eq!(redeem(&app, &client, &code, &[]).await.status(), 400);
    }
    let code = code_for(&app, &mut browser, &client, "alice@example.com").await;
    app.clock.advance(61);
    assert_eq!(redeem(&app, &client, &code, &[]).await.status(), 400, "expired after 60 s");
    let code = code_for(&app, &mut browser, &client, "alice@example.com").await;
    app.clock.advance(59);
    assert_eq!(redeem(&app, &client, &code, &[]).await.status(), 200);
}

async fn the_sign_in_form_needs_its_csrf_token(backend: Backend) {
    let app = spawn_app(backend).await;
    let client = register_web_app(&app, true, json!({})).await;
    app.create_user("alice@example.com", PASSWORD, json!({}));
    let mut browser = Browser::new();
    let page = browser.get(&authorize_url(&app, &client.id, &[])).await;
    assert!(browser.cookies.contains_key("__Host-jwtd_csrf"));
    let (csrf, request) = (page.field("csrf_token"), page.field("auth_request"));
    let mut stranger = Browser::new();
    let forged = URL_SAFE_NO_PAD.encode([7u8; 32]);
    assert_eq!(post_login(&app, &mut stranger, &csrf, &request, &[]).await.status, 403, "no CSRF cookie");
    assert_eq!(post_login(&app, &mut browser, &forged, &request, &[]).await.status, 403, "another token");
    assert_eq!(post_login(&app, &mut browser, "", &request, &[]).await.status, 403, "no token");
    let cross = post_login(&app, &mut browser, &csrf, &request, &[("sec-fetch-site", "cross-site")]).await;
    assert_eq!(cross.status, 403, "posted from another site");
    let ok = post_login(&app, &mut browser, &csrf, &request, &[("sec-fetch-site", "same-origin")]).await;
    assert!(ok.redirect_params().contains_key("code"));
}

async fn post_login(
    app: &TestApp,
    browser: &mut Browser,
    csrf: &str,
    request: &str,
    headers: &[(&str, &str)],
) -> Seen {
    let form = [
        ("csrf_token", csrf),
        ("auth_request", request),
        ("username", "alice@example.com"),
        ("password", PASSWORD),
    ];
    browser.post(&app.url("/login"), &form, headers).await
}

async fn wrong_passwords_and_lockouts_get_one_message(backend: Backend) {
    let db = std::sync::Arc::new(TestDb::new(backend));
    let extra = [("JWTD__THROTTLE__ACCOUNT_LIMIT", "3"), ("JWTD__THROTTLE__LOCKOUT", "10m")];
    let app = spawn_app_on(db, &new_master_key(), &extra).await;
    let client = register_web_app(&app, true, json!({})).await;
    app.create_user("alice@example.com", PASSWORD, json!({}));
    let mut browser = Browser::new();
    let page = browser.get(&authorize_url(&app, &client.id, &[])).await;
    let mut messages = Vec::new();
    for (email, password) in [
        ("alice@example.com", "wrong"),
        ("nobody@example.com", PASSWORD),
        ("alice@example.com", "wrong"),
        ("alice@example.com", "wrong"),
        ("alice@example.com", PASSWORD),
    ] {
        let seen = browser.sign_in(&app, &page, email, password).await;
        assert_eq!(seen.status, 200, "{email}");
        let start = seen.body.find("role=\"alert\">").expect("an alert") + "role=\"alert\">".len();
        messages.push(seen.body[start..start + seen.body[start..].find('<').unwrap()].to_owned());
        assert!(seen.body.contains("name=\"password\""), "the form again");
    }
    assert!(messages.windows(2).all(|w| w[0] == w[1]), "{messages:?}");
    assert!(!browser.cookies.contains_key("__Host-jwtd_session"));
}

async fn third_party_clients_get_a_refresh_token_only_with_offline_access(backend: Backend) {
    let app = spawn_app(backend).await;
    let client = register_web_app(&app, false, json!({})).await;
    app.create_user("alice@example.com", PASSWORD, json!({}));
    let mut browser = Browser::new();
    let code = code_for(&app, &mut browser, &client, "alice@example.com").await;
    let offline: Value = redeem(&app, &client, &code, &[]).await.json().await.unwrap();
    assert!(offline["refresh_token"].is_string(), "offline_access asked for");
    let back = browser.get(&authorize_url(&app, &client.id, &[("scope", "openid")])).await;
    assert!(back.redirect_params().contains_key("code"), "less than was allowed: not asked again");
    let online: Value =
        redeem(&app, &client, &back.redirect_params()["code"], &[]).await.json().await.unwrap();
    assert!(online.get("refresh_token").is_none(), "{online}");
    let id = claims_of(online["id_token"].as_str().unwrap());
    assert!(id.get("email").is_none(), "no email without scope email: {id}");
}

async fn an_administrator_lists_and_ends_sign_in_sessions(backend: Backend) {
    let app = spawn_app(backend).await;
    let client = register_web_app(&app, true, json!({})).await;
    let user = app.create_user("alice@example.com", PASSWORD, json!({}));
    let admin = app.admin_token().await;
    let (mut laptop, mut phone) = (Browser::new(), Browser::new());
    let code = code_for(&app, &mut laptop, &client, "alice@example.com").await;
    let tokens: Value = redeem(&app, &client, &code, &[]).await.json().await.unwrap();
    code_for(&app, &mut phone, &client, "alice@example.com").await;
    let path = format!("/admin/users/{}/sessions", user.id);
    let listed: Value = app.admin_get(&admin, &path).await.json().await.unwrap();
    let sessions = listed["sessions"].as_array().unwrap();
    assert_eq!(sessions.len(), 2, "{listed}");
    let laptop_session = sessions.iter().find(|s| s["clients"] == json!([client.id])).expect("the laptop's");
    assert!(laptop_session["user_agent"].is_string() && laptop_session["ip"] == "127.0.0.1");
    let id = laptop_session["id"].as_str().unwrap();
    let ended = app.http.delete(app.url(&format!("{path}/{id}"))).bearer_auth(&admin).send().await.unwrap();
    assert_eq!(ended.status(), 204);
    assert_eq!(laptop.get(&authorize_url(&app, &client.id, &[])).await.status, 200, "signed out");
    let refresh = refresh(&app, &client, tokens["refresh_token"].as_str().unwrap()).await;
    assert_eq!(refresh.status(), 400, "its families are revoked");
    assert!(phone.get(&authorize_url(&app, &client.id, &[])).await.redirect_params().contains_key("code"));
    let again = app.http.delete(app.url(&format!("{path}/{id}"))).bearer_auth(&admin).send().await.unwrap();
    assert_eq!(again.status(), 404, "ended already");
    // revoke-sessions ends every sign-in session too.
    let revoked = app.admin_post(&admin, &format!("/admin/users/{}/revoke-sessions", user.id), None).await;
    assert_eq!(revoked.status(), 200);
    assert_eq!(phone.get(&authorize_url(&app, &client.id, &[])).await.status, 200);
    let listed: Value = app.admin_get(&admin, &path).await.json().await.unwrap();
    assert_eq!(listed["sessions"], json!([]));
}

async fn a_native_public_client_uses_any_loopback_port_and_no_secret(backend: Backend) {
    let app = spawn_app(backend).await;
    let registered = "http://127.0.0.1/callback";
    let extra = json!({
        "name": "CLI",
        "application_type": "native",
        "token_endpoint_auth_method": "none",
        "redirect_uris": [registered],
        "first_party": false,
    });
    let client = register_web_app(&app, false, extra).await;
    assert!(client.secret.is_empty(), "a public client has no secret");
    app.create_user("alice@example.com", PASSWORD, json!({}));
    let mut browser = Browser::new();
    // RFC 8252 §7.3: the port of a loopback redirect is the app's to choose at run time.
    let redirect = "http://127.0.0.1:53127/callback";
    let page = browser.get(&authorize_url(&app, &client.id, &[("redirect_uri", redirect)])).await;
    assert_eq!(page.status, 200, "{}", page.body);
    let back = browser.sign_in(&app, &page, "alice@example.com", PASSWORD).await;
    let back = browser.allowing(&app, back).await;
    assert_eq!(back.location().port(), Some(53127));
    let code = back.redirect_params()["code"].clone();
    for wrong_path in ["http://127.0.0.1:53127/other", "http://localhost:53127/callback"] {
        let refused = browser.get(&authorize_url(&app, &client.id, &[("redirect_uri", wrong_path)])).await;
        assert_eq!(refused.status, 400, "{wrong_path}");
    }
    let with_secret = app
        .http
        .post(app.url("/oauth2/token"))
        .basic_auth(&client.id, Some("jwtd_cs_guessed"))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", redirect),
            ("code_verifier", VERIFIER),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(with_secret.status(), 401, "a public client never presents a secret");
    let code = code_for_redirect(&app, &mut browser, &client, redirect).await;
    let tokens: Value =
        redeem(&app, &client, &code, &[("redirect_uri", redirect)]).await.json().await.unwrap();
    assert!(tokens["access_token"].is_string(), "{tokens}");
    assert!(tokens["refresh_token"].is_string(), "offline_access asked for");
    // The refresh needs no secret either.
    let refreshed = refresh(&app, &client, tokens["refresh_token"].as_str().unwrap()).await;
    assert_eq!(refreshed.status(), 200);
}

async fn code_for_redirect(
    app: &TestApp,
    browser: &mut Browser,
    client: &TestClient,
    redirect: &str,
) -> String {
    let back = browser.get(&authorize_url(app, &client.id, &[("redirect_uri", redirect)])).await;
    browser.allowing(app, back).await.redirect_params()["code"].clone()
}

async fn a_disabled_person_is_signed_in_nowhere(backend: Backend) {
    let app = spawn_app(backend).await;
    let client = register_web_app(&app, true, json!({})).await;
    let user = app.create_user("alice@example.com", PASSWORD, json!({}));
    let mut browser = Browser::new();
    let code = code_for(&app, &mut browser, &client, "alice@example.com").await;
    let admin = app.admin_token().await;
    let disabled =
        app.admin_patch(&admin, &format!("/admin/users/{}", user.id), json!({"disabled": true})).await;
    assert_eq!(disabled.status(), 200);
    assert_eq!(redeem(&app, &client, &code, &[]).await.status(), 400, "a code issued before");
    let page = browser.get(&authorize_url(&app, &client.id, &[])).await;
    assert_eq!(page.status, 200, "the session no longer signs anyone in");
    let refused = browser.sign_in(&app, &page, "alice@example.com", PASSWORD).await;
    assert_eq!(refused.status, 200);
    assert!(refused.body.contains("role=\"alert\""));
}
