//! Consent and logout over plain HTTP, on both backends (issue 17): who is asked, what is
//! remembered and revoked; RP-initiated logout with and without an ID token hint, what it ends
//! and what it refuses. A real browser walks the same pages in `sign_in.rs`.

use serde_json::{Value, json};

use crate::code_flow::{Browser, PASSWORD, Seen, authorize_url, redeem, register_web_app};
use crate::helpers::{Backend, ISSUER, TestApp, TestClient, sample, spawn_app};
use crate::on_both_backends;

const EMAIL: &str = "alice@example.com";
const AFTER_LOGOUT: &str = "https://app.example/signed-out";

on_both_backends!(
    a_third_party_app_is_asked_about_once_and_remembered,
    prompt_none_without_consent_answers_consent_required,
    a_denial_goes_back_as_access_denied,
    apps_without_an_https_redirect_are_asked_every_time,
    an_administrator_revokes_a_consent_and_the_app_asks_again,
    the_consent_form_needs_its_csrf_token_and_a_session,
    logout_with_an_id_token_hint_ends_single_sign_on_for_every_app,
    logout_without_a_hint_asks_the_person_first,
    logout_refuses_unregistered_and_mismatched_requests,
    an_administrator_ends_every_session_at_once,
);

/// A third-party web app (consent asked) with a post-logout redirect URI.
async fn third_party_app(app: &TestApp) -> TestClient {
    register_web_app(app, false, json!({ "post_logout_redirect_uris": [AFTER_LOGOUT] })).await
}

/// A third-party app, and a browser on its consent page after signing `EMAIL` in.
async fn asked_by_a_third_party(
    backend: Backend,
) -> (TestApp, TestClient, jwtd::accounts::users::User, Browser, Seen) {
    let app = spawn_app(backend).await;
    let client = third_party_app(&app).await;
    let user = app.create_user(EMAIL, PASSWORD, json!({}));
    let mut browser = Browser::new();
    let page = browser.get(&authorize_url(&app, &client.id, &[])).await;
    let consent = sign_in(&app, &mut browser, &page).await;
    (app, client, user, browser, consent)
}

/// Signs `EMAIL` in on `page` (the sign-in page) and returns what follows.
async fn sign_in(app: &TestApp, browser: &mut Browser, page: &Seen) -> Seen {
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("action=\"/login\""), "not the sign-in page: {}", page.body);
    browser.sign_in(app, page, EMAIL, PASSWORD).await
}

/// The tokens of a redirect carrying a code, redeemed by `client`.
async fn tokens_of(app: &TestApp, client: &TestClient, back: &Seen) -> Value {
    let params = back.redirect_params();
    let response = redeem(app, client, &params["code"], &[]).await;
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

async fn refresh_status(app: &TestApp, client: &TestClient, tokens: &Value) -> u16 {
    let form =
        [("grant_type", "refresh_token"), ("refresh_token", tokens["refresh_token"].as_str().unwrap())];
    crate::flow_clients::token_request(app, client, &form).await.status().as_u16()
}

async fn a_third_party_app_is_asked_about_once_and_remembered(backend: Backend) {
    let app = spawn_app(backend).await;
    let client = third_party_app(&app).await;
    app.create_user(EMAIL, PASSWORD, json!({}));
    let mut browser = Browser::new();
    let asked = &[("scope", "openid email")];
    let page = browser.get(&authorize_url(&app, &client.id, asked)).await;
    let consent = sign_in(&app, &mut browser, &page).await;
    assert!(consent.is_consent_page(), "a third party is asked about: {}", consent.body);
    assert!(consent.body.contains("Web App"), "names the app");
    assert!(consent.body.contains("See your email address"), "says what email means: {}", consent.body);
    assert!(consent.body.contains("app.example"), "says where the browser goes next");
    let csp = consent.headers["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("form-action 'self' https://app.example"), "{csp}");
    let back = browser.decide(&app, &consent, "allow").await;
    assert_eq!(back.redirect_params()["state"], "st-1");
    let tokens = tokens_of(&app, &client, &back).await;
    assert!(tokens.get("refresh_token").is_none(), "no offline_access asked, none granted: {tokens}");

    // Remembered: the same request goes straight back with a code.
    let again = browser.get(&authorize_url(&app, &client.id, asked)).await;
    assert!(again.redirect_params().contains_key("code"), "remembered");
    // prompt=consent asks again; so does asking for more than was allowed.
    let prompted = browser
        .get(&authorize_url(&app, &client.id, &[("scope", "openid email"), ("prompt", "consent")]))
        .await;
    assert!(prompted.is_consent_page(), "prompt=consent");
    let more = browser.get(&authorize_url(&app, &client.id, &[])).await;
    assert!(more.is_consent_page(), "offline_access was not allowed yet");
    assert!(more.body.contains("not using it"), "offline_access in plain words: {}", more.body);
    let back = browser.decide(&app, &more, "allow").await;
    let tokens = tokens_of(&app, &client, &back).await;
    assert!(tokens["refresh_token"].as_str().is_some(), "offline_access allowed: a refresh token");
    let metrics = app.scrape().await;
    assert_eq!(sample(&metrics, "jwtd_consents_total{outcome=\"shown\"}"), Some(3.0));
    assert_eq!(sample(&metrics, "jwtd_consents_total{outcome=\"granted\"}"), Some(2.0));
    assert_eq!(audit_events(&app, "consent.granted").await.len(), 2);
}

/// The audit events of `kind`, newest first.
async fn audit_events(app: &TestApp, kind: &str) -> Vec<Value> {
    let admin = app.admin_token().await;
    let events: Value =
        app.admin_get(&admin, &format!("/admin/audit?kind={kind}")).await.json().await.unwrap();
    events["events"].as_array().unwrap().clone()
}

async fn prompt_none_without_consent_answers_consent_required(backend: Backend) {
    let app = spawn_app(backend).await;
    let own = register_web_app(&app, true, json!({})).await;
    let other = third_party_app(&app).await;
    app.create_user(EMAIL, PASSWORD, json!({}));
    let mut browser = Browser::new();
    let page = browser.get(&authorize_url(&app, &own.id, &[])).await;
    let back = sign_in(&app, &mut browser, &page).await;
    assert!(back.redirect_params().contains_key("code"), "a first-party https app is not asked about");
    let silent = browser.get(&authorize_url(&app, &other.id, &[("prompt", "none")])).await;
    let params = silent.redirect_params();
    assert_eq!(params["error"], "consent_required");
    assert_eq!((params["state"].as_str(), params["iss"].as_str()), ("st-1", ISSUER));
}

async fn a_denial_goes_back_as_access_denied(backend: Backend) {
    let (app, client, _, mut browser, consent) = asked_by_a_third_party(backend).await;
    let back = browser.decide(&app, &consent, "deny").await;
    let params = back.redirect_params();
    assert_eq!(params["error"], "access_denied");
    assert_eq!(params["state"], "st-1");
    assert!(!params.contains_key("code"));
    let again = browser.get(&authorize_url(&app, &client.id, &[])).await;
    assert!(again.is_consent_page(), "a denial is not remembered as a grant");
    assert_eq!(sample(&app.scrape().await, "jwtd_consents_total{outcome=\"denied\"}"), Some(1.0));
}

async fn apps_without_an_https_redirect_are_asked_every_time(backend: Backend) {
    let app = spawn_app(backend).await;
    let loopback = "http://127.0.0.1:41000/cb";
    let native = register_web_app(
        &app,
        true,
        json!({
            "application_type": "native",
            "token_endpoint_auth_method": "none",
            "redirect_uris": [loopback],
        }),
    )
    .await;
    app.create_user(EMAIL, PASSWORD, json!({}));
    let mut browser = Browser::new();
    let at = [("redirect_uri", loopback)];
    let page = browser.get(&authorize_url(&app, &native.id, &at)).await;
    let consent = sign_in(&app, &mut browser, &page).await;
    assert!(consent.is_consent_page(), "even a first-party native app is asked about");
    assert!(consent.body.contains("on this device"), "warns that the redirect proves nothing");
    let back = browser.decide(&app, &consent, "allow").await;
    assert!(back.redirect_params().contains_key("code"));
    let again = browser.get(&authorize_url(&app, &native.id, &at)).await;
    assert!(again.is_consent_page(), "asked again: anyone can claim a loopback redirect (RFC 8252 §8.6)");
    let silent = browser.get(&authorize_url(&app, &native.id, &[at[0], ("prompt", "none")])).await;
    assert_eq!(silent.redirect_params()["error"], "consent_required");
}

async fn an_administrator_revokes_a_consent_and_the_app_asks_again(backend: Backend) {
    let (app, client, user, mut browser, consent) = asked_by_a_third_party(backend).await;
    let tokens = tokens_of(&app, &client, &browser.decide(&app, &consent, "allow").await).await;
    let admin = app.admin_token().await;
    let path = format!("/admin/users/{}/consents", user.id);
    let listed: Value = app.admin_get(&admin, &path).await.json().await.unwrap();
    let consents = listed["consents"].as_array().unwrap();
    assert_eq!(consents.len(), 1, "{listed}");
    assert_eq!(consents[0]["client_id"], client.id.as_str());
    assert_eq!(consents[0]["client_name"], "Web App");
    assert_eq!(consents[0]["scope"], "email offline_access openid");

    let revoke = |path: String| {
        let (app, admin) = (&app, &admin);
        async move { app.http.delete(app.url(&path)).bearer_auth(admin).send().await.unwrap().status() }
    };
    assert_eq!(revoke(format!("{path}/{}", client.id)).await, 204);
    assert_eq!(revoke(format!("{path}/{}", client.id)).await, 404, "nothing left to revoke");
    assert_eq!(refresh_status(&app, &client, &tokens).await, 400, "what was withdrawn stops working");
    let family = tokens_family(&tokens);
    assert!(app.revocation_feed().await["sids"].as_array().unwrap().contains(&json!(family)));
    let listed: Value = app.admin_get(&admin, &path).await.json().await.unwrap();
    assert_eq!(listed["consents"], json!([]));
    let again = browser.get(&authorize_url(&app, &client.id, &[])).await;
    assert!(again.is_consent_page(), "asked again after the revocation");
    let events: Value =
        app.admin_get(&admin, "/admin/audit?kind=consent.revoked").await.json().await.unwrap();
    assert_eq!(events["events"][0]["subject"], user.id.as_str(), "{events}");
}

/// The family (`sid`) of a login's access token.
fn tokens_family(tokens: &Value) -> String {
    let access = tokens["access_token"].as_str().unwrap();
    let payload = access.split('.').nth(1).unwrap();
    let claims: Value = serde_json::from_slice(
        &base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, payload).unwrap(),
    )
    .unwrap();
    claims["sid"].as_str().unwrap().to_owned()
}

async fn the_consent_form_needs_its_csrf_token_and_a_session(backend: Backend) {
    let (app, _, _, mut browser, consent) = asked_by_a_third_party(backend).await;
    let request = consent.field("auth_request");
    let forged =
        [("csrf_token", "A".repeat(43)), ("auth_request", request.clone()), ("decision", "allow".into())];
    let forged: Vec<(&str, &str)> = forged.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let refused = browser.post(&app.url("/consent"), &forged, &[("sec-fetch-site", "same-origin")]).await;
    assert_eq!(refused.status, 403, "{}", refused.body);
    let cross = browser
        .post(
            &app.url("/consent"),
            &[
                ("csrf_token", &consent.field("csrf_token")),
                ("auth_request", &request),
                ("decision", "allow"),
            ],
            &[("sec-fetch-site", "cross-site")],
        )
        .await;
    assert_eq!(cross.status, 403, "posted from another site");
    let mut stranger = Browser::new();
    stranger.cookies.insert("__Host-jwtd_csrf".into(), consent.field("csrf_token"));
    let no_session = stranger.decide(&app, &consent, "allow").await;
    assert_eq!(no_session.status, 400, "no one is signed in in that browser");
    assert!(!no_session.headers.contains_key("location"));
}

/// Signs `EMAIL` in to `first` and, through single sign-on, to `second`; returns both logins'
/// tokens.
async fn signed_in_to_both(
    app: &TestApp,
    browser: &mut Browser,
    first: &TestClient,
    second: &TestClient,
) -> (Value, Value) {
    let scope = [("scope", "openid email offline_access read")];
    let page = browser.get(&authorize_url(app, &first.id, &scope)).await;
    let back = sign_in(app, browser, &page).await;
    let first_tokens = tokens_of(app, first, &back).await;
    let back = browser.get(&authorize_url(app, &second.id, &scope)).await;
    let second_tokens = tokens_of(app, second, &back).await;
    (first_tokens, second_tokens)
}

async fn logout_with_an_id_token_hint_ends_single_sign_on_for_every_app(backend: Backend) {
    let app = spawn_app(backend).await;
    let extra = json!({ "post_logout_redirect_uris": [AFTER_LOGOUT], "audiences": ["https://api"] });
    let (first, second) =
        (register_web_app(&app, true, extra.clone()).await, register_web_app(&app, true, extra).await);
    app.create_user(EMAIL, PASSWORD, json!({}));
    let mut browser = Browser::new();
    let (a, b) = signed_in_to_both(&app, &mut browser, &first, &second).await;
    let (feed, api, handle) = crate::resource_server::protected_api(&app).await;
    assert_eq!(crate::resource_server::call(&app, &api, a["access_token"].as_str().unwrap()).await, 200);

    let query = form_urlencoded::Serializer::new(String::new())
        .append_pair("id_token_hint", a["id_token"].as_str().unwrap())
        .append_pair("post_logout_redirect_uri", AFTER_LOGOUT)
        .append_pair("state", "bye-1")
        .finish();
    let old_cookie = browser.cookies["__Host-jwtd_session"].clone();
    let out = browser.get(&app.url(&format!("/oauth2/logout?{query}"))).await;
    assert_eq!(out.status, 303, "a valid hint: no question asked: {}", out.body);
    assert_eq!(out.headers["location"], format!("{AFTER_LOGOUT}?state=bye-1").as_str());
    let removal =
        out.headers.get_all("set-cookie").iter().map(|v| v.to_str().unwrap().to_owned()).collect::<Vec<_>>();
    assert!(
        removal.iter().any(|c| c.starts_with("__Host-jwtd_session=;") && c.contains("Max-Age=0")),
        "the session cookie is removed: {removal:?}"
    );

    for (client, tokens) in [(&first, &a), (&second, &b)] {
        assert_eq!(refresh_status(&app, client, tokens).await, 400, "every login of the session ends");
    }
    app.clock.advance(1); // the feed is rebuilt at most once a second
    let sids = app.revocation_feed().await["sids"].clone();
    for tokens in [&a, &b] {
        assert!(sids.as_array().unwrap().contains(&json!(tokens_family(tokens))), "{sids}");
    }
    feed.refresh().await.unwrap();
    for tokens in [&a, &b] {
        let status = crate::resource_server::call(&app, &api, tokens["access_token"].as_str().unwrap()).await;
        assert_eq!(status, 401, "the resource server refuses the logged-out access tokens");
    }
    handle.stop(true).await;

    // Single sign-on is over, even with the old cookie: the browser must sign in again.
    browser.cookies.insert("__Host-jwtd_session".into(), old_cookie);
    let again = browser.get(&authorize_url(&app, &first.id, &[])).await;
    assert!(again.body.contains("action=\"/login\""), "signed out: {}", again.status);
    assert_eq!(sample(&app.scrape().await, "jwtd_logouts_total{via=\"id_token_hint\"}"), Some(1.0));
    assert_eq!(audit_events(&app, "user.logged_out").await.len(), 1);
}

async fn logout_without_a_hint_asks_the_person_first(backend: Backend) {
    let app = spawn_app(backend).await;
    let client = register_web_app(&app, true, json!({ "post_logout_redirect_uris": [AFTER_LOGOUT] })).await;
    app.create_user(EMAIL, PASSWORD, json!({}));
    let mut browser = Browser::new();
    let page = browser.get(&authorize_url(&app, &client.id, &[])).await;
    let tokens = tokens_of(&app, &client, &sign_in(&app, &mut browser, &page).await).await;
    let query = form_urlencoded::Serializer::new(String::new())
        .append_pair("client_id", &client.id)
        .append_pair("post_logout_redirect_uri", AFTER_LOGOUT)
        .append_pair("state", "bye-2")
        .finish();
    for hint in ["", "&id_token_hint=not.a.token"] {
        let asked = browser.get(&app.url(&format!("/oauth2/logout?{query}{hint}"))).await;
        assert_eq!(asked.status, 200, "asks first: {}", asked.body);
        assert!(
            asked.body.contains("action=\"/logout\"") && asked.body.contains("Web App"),
            "{}",
            asked.body
        );
    }
    assert_eq!(refresh_status(&app, &client, &tokens).await, 200, "a link alone signs no one out");
    let asked = browser.get(&app.url(&format!("/oauth2/logout?{query}"))).await;
    let carried = asked.field("logout_request");
    let forged = [("csrf_token", "B".repeat(43)), ("logout_request", carried.clone())];
    let forged: Vec<(&str, &str)> = forged.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let refused = browser.post(&app.url("/logout"), &forged, &[("sec-fetch-site", "same-origin")]).await;
    assert_eq!(refused.status, 403);
    let form = [("csrf_token", asked.field("csrf_token")), ("logout_request", carried)];
    let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let out = browser.post(&app.url("/logout"), &form, &[("sec-fetch-site", "same-origin")]).await;
    assert_eq!(out.status, 303, "{}", out.body);
    assert_eq!(out.headers["location"], format!("{AFTER_LOGOUT}?state=bye-2").as_str());
    assert_eq!(refresh_status(&app, &client, &tokens).await, 400, "the session's login ended");
    let back = browser.get(&authorize_url(&app, &client.id, &[("prompt", "none")])).await;
    assert_eq!(back.redirect_params()["error"], "login_required", "signed out");
    // Without a post-logout redirect URI: jwtd's own signed-out page.
    let plain = browser.get(&app.url("/oauth2/logout")).await;
    assert_eq!(plain.status, 200);
    assert!(plain.body.contains("signed out"), "{}", plain.body);
    assert_eq!(sample(&app.scrape().await, "jwtd_logouts_total{via=\"confirmed\"}"), Some(1.0));
}

async fn logout_refuses_unregistered_and_mismatched_requests(backend: Backend) {
    let app = spawn_app(backend).await;
    let client = register_web_app(&app, true, json!({ "post_logout_redirect_uris": [AFTER_LOGOUT] })).await;
    let other = register_web_app(&app, true, json!({})).await;
    app.create_user(EMAIL, PASSWORD, json!({}));
    let mut browser = Browser::new();
    let page = browser.get(&authorize_url(&app, &client.id, &[])).await;
    let tokens = tokens_of(&app, &client, &sign_in(&app, &mut browser, &page).await).await;
    let id_token = tokens["id_token"].as_str().unwrap();
    let with_slash = format!("{AFTER_LOGOUT}/");
    let cases: [(Vec<(&str, &str)>, &str); 5] = [
        (
            vec![("client_id", &client.id), ("post_logout_redirect_uri", "https://evil.example/")],
            "unregistered",
        ),
        (vec![("client_id", &client.id), ("post_logout_redirect_uri", &with_slash)], "not exact"),
        (vec![("post_logout_redirect_uri", AFTER_LOGOUT)], "no client named"),
        (vec![("client_id", &other.id), ("id_token_hint", id_token)], "client_id is not the hint's"),
        (vec![("client_id", "no-such-client")], "unknown client"),
    ];
    for (params, why) in cases {
        let query = form_urlencoded::Serializer::new(String::new()).extend_pairs(params).finish();
        let refused = browser.get(&app.url(&format!("/oauth2/logout?{query}"))).await;
        assert_eq!(refused.status, 400, "{why}: {}", refused.body);
        assert!(!refused.headers.contains_key("location"), "{why}: never a redirect");
    }
    assert_eq!(refresh_status(&app, &client, &tokens).await, 200, "nothing was ended");
    // The hint works as a POST too (form-serialised), and names the client by itself.
    let form = [("id_token_hint", id_token), ("post_logout_redirect_uri", AFTER_LOGOUT)];
    let out = browser.post(&app.url("/oauth2/logout"), &form, &[]).await;
    assert_eq!(out.status, 303, "{}", out.body);
    assert_eq!(out.headers["location"], AFTER_LOGOUT);
    assert_eq!(refresh_status(&app, &client, &tokens).await, 400);
}

async fn an_administrator_ends_every_session_at_once(backend: Backend) {
    let app = spawn_app(backend).await;
    let client = register_web_app(&app, true, json!({})).await;
    let user = app.create_user(EMAIL, PASSWORD, json!({}));
    let (mut laptop, mut phone) = (Browser::new(), Browser::new());
    let mut logins = Vec::new();
    for browser in [&mut laptop, &mut phone] {
        let page = browser.get(&authorize_url(&app, &client.id, &[])).await;
        logins.push(tokens_of(&app, &client, &sign_in(&app, browser, &page).await).await);
    }
    assert_eq!(sample(&app.scrape().await, "jwtd_sessions_live"), Some(2.0));
    let admin = app.admin_token().await;
    let path = format!("/admin/users/{}/sessions", user.id);
    let ended: Value =
        app.http.delete(app.url(&path)).bearer_auth(&admin).send().await.unwrap().json().await.unwrap();
    assert_eq!(ended, json!({ "ended": 2, "revoked": 2 }));
    for tokens in &logins {
        assert_eq!(refresh_status(&app, &client, tokens).await, 400);
    }
    for browser in [&mut laptop, &mut phone] {
        let back = browser.get(&authorize_url(&app, &client.id, &[("prompt", "none")])).await;
        assert_eq!(back.redirect_params()["error"], "login_required");
    }
    assert_eq!(sample(&app.scrape().await, "jwtd_sessions_live"), Some(0.0));
    let unknown =
        app.http.delete(app.url("/admin/users/nobody/sessions")).bearer_auth(&admin).send().await.unwrap();
    assert_eq!(unknown.status(), 404);
}
