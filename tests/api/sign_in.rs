//! A person signs in with a real browser (headless Chromium, see `browser.rs`): what the browser
//! must do for the login page to work, and the sign-in itself through two apps.

use jwtd::clock::Clock;
use serde_json::{Value, json};

use crate::browser::{Browser, BrowserCookie, Callback};
use crate::flow_clients::{
    ClientKind, EMAIL, PASSWORD, Pkce, authorization_url, exchange_code, query_of, random_text,
    register_flow_client, verify_id_token,
};
use crate::helpers::{Backend, TestApp, TestClient, spawn_app_at_own_address};
use crate::on_both_backends;

on_both_backends!(a_person_signs_in_to_two_apps_in_one_browser);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_browser_reads_the_discovery_document() {
    let Some(browser) = Browser::start("a_browser_reads_the_discovery_document").await else { return };
    let app = spawn_app_at_own_address(Backend::Sqlite).await;
    browser.goto(&app.url("/.well-known/openid-configuration")).await;
    let issuer = app.issuer();
    assert!(browser.source().await.contains(&issuer), "{}", browser.source().await);
    let shown = browser.run_async("arguments[0](JSON.parse(document.body.innerText))", vec![]).await;
    assert_eq!(shown["issuer"], issuer.as_str());
    assert_eq!(shown["token_endpoint"], format!("{issuer}/oauth2/token"));
    browser.quit().await;
}

/// The harness's part of the sign-in, without jwtd: a form filled in by name and submitted with
/// its button, and the request the browser then makes to a redirect URI, read at the listener.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_browser_fills_a_form_and_lands_on_the_redirect_uri() {
    let test = "the_browser_fills_a_form_and_lands_on_the_redirect_uri";
    let Some(browser) = Browser::start(test).await else { return };
    let mut callback = Callback::start().await;
    let page = format!(
        "<form method=get action='{}/a/callback'><input type=hidden name=state value=s1>\
         <label>Email <input type=email id=username name=username></label>\
         <label>Password <input type=password id=password name=password></label>\
         <button type=submit>Sign in</button></form>",
        callback.base
    );
    let page = percent_encoding::utf8_percent_encode(&page, percent_encoding::NON_ALPHANUMERIC);
    browser.goto(&format!("data:text/html,{page}")).await;
    browser.fill("username", EMAIL).await;
    browser.fill("password", PASSWORD).await;
    browser.submit().await;
    let request = query_of(&callback.next_request("/a/callback").await);
    assert_eq!(request.get("username").map(String::as_str), Some(EMAIL));
    assert_eq!(request.get("password").map(String::as_str), Some(PASSWORD));
    assert_eq!(request.get("state").map(String::as_str), Some("s1"));
    let url = browser.wait_for_url(&format!("{}/a/callback?", callback.base)).await;
    assert_eq!(query_of(&url), request);
    browser.wait_for_text("Signed in.").await;
    browser.quit().await;
}

/// The login page's cookies are `__Host-` cookies, which must be `Secure`; the test server is
/// http on 127.0.0.1. Chromium treats loopback as a secure context, so it must keep them: this
/// checks it with the cookie jwtd sets today, the refresh cookie of a browser client, set by a
/// form POST (a navigation, as the login form's) and sent back by a same-origin fetch.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chromium_keeps_a_host_cookie_set_over_loopback_http() {
    let test = "chromium_keeps_a_host_cookie_set_over_loopback_http";
    let Some(browser) = Browser::start(test).await else { return };
    let app = spawn_app_at_own_address(Backend::Sqlite).await;
    let client = cookie_client(&app);
    app.create_user(EMAIL, PASSWORD, json!({}));
    let cookie = refresh_cookie_after_login(&browser, &app.address, true, &client).await;
    let cookie = cookie.expect("Chromium dropped the __Host- cookie set over http://127.0.0.1");
    assert!(cookie.value.starts_with("jwtd_rt_"), "{cookie:?}");
    assert!(cookie.secure && cookie.http_only, "{cookie:?}");
    assert_eq!(cookie.same_site.as_deref(), Some("Strict"), "{cookie:?}");
    assert_eq!(cookie.path.as_deref(), Some("/"), "{cookie:?}");
    assert_eq!(cookie.domain.as_deref(), Some("127.0.0.1"), "host-only: {cookie:?}");
    let visible = browser.run_async("arguments[0](document.cookie)", vec![]).await;
    assert!(!visible.as_str().unwrap().contains("jwtd_rt"), "HttpOnly: {visible}");

    // The browser sends it back: a refresh with the cookie alone rotates it.
    let refresh =
        json!({"grant_type": "refresh_token", "client_id": client.id, "client_secret": client.secret});
    let answer = browser.run_async(POST_FORM, vec![json!(app.url("/oauth2/token")), refresh]).await;
    assert_eq!(answer["status"], 200, "{answer}");
    let rotated = refresh_cookie(&browser).await.unwrap();
    assert_ne!(rotated.value, cookie.value, "the refresh rotated the cookie");
    browser.quit().await;

    // The control: the same answer over http on a name that is not loopback (mapped to
    // 127.0.0.1 inside this Chromium only) leaves no cookie, so the keeping above is the
    // loopback rule and not a lax browser.
    let rules = "--host-resolver-rules=MAP jwtd.test 127.0.0.1";
    let browser = Browser::start_with_args(test, &[rules]).await.unwrap();
    let origin = app.address.replace("127.0.0.1", "jwtd.test");
    let kept = refresh_cookie_after_login(&browser, &origin, false, &client).await;
    assert!(kept.is_none(), "kept over plain http: {kept:?}");
    browser.quit().await;
}

/// At `origin` (jwtd's, under some name), checked to be a secure context or not: the password
/// grant by a form POST from a page of jwtd's, then the refresh cookie the browser kept, if any.
async fn refresh_cookie_after_login(
    browser: &Browser,
    origin: &str,
    secure_context: bool,
    client: &TestClient,
) -> Option<BrowserCookie> {
    browser.goto(&format!("{origin}/.well-known/openid-configuration")).await;
    let secure = browser.run_async("arguments[0](window.isSecureContext)", vec![]).await;
    assert_eq!(secure, secure_context, "{origin} is a secure context: {secure}");
    let fields = json!({
        "grant_type": "password", "username": EMAIL, "password": PASSWORD, "scope": "openid",
        "client_id": client.id, "client_secret": client.secret,
    });
    let token_endpoint = format!("{origin}/oauth2/token");
    browser.run_async(SUBMIT_FORM, vec![json!(token_endpoint), fields]).await;
    browser.wait_for_url(&token_endpoint).await;
    browser.wait_for_text("access_token").await;
    refresh_cookie(browser).await
}

/// The refresh cookie: `__Host-jwtd_rt`, or `__Host-jwtd_rt_{client_id}` once each client has
/// its own.
async fn refresh_cookie(browser: &Browser) -> Option<BrowserCookie> {
    browser.cookies().await.into_iter().find(|c| c.name.starts_with("__Host-jwtd_rt"))
}

/// Builds a form POSTing `arguments[1]`'s members to `arguments[0]` and submits it once the
/// script has answered (a navigation ends the script).
const SUBMIT_FORM: &str = "
    const [action, fields, done] = arguments;
    const form = document.createElement('form');
    form.method = 'post';
    form.action = action;
    for (const [name, value] of Object.entries(fields)) {
        const input = document.createElement('input');
        input.type = 'hidden';
        input.name = name;
        input.value = value;
        form.append(input);
    }
    document.body.append(form);
    done(true);
    setTimeout(() => form.submit(), 0);
";

/// A same-origin `fetch` POSTing `arguments[1]` as a form to `arguments[0]`: `{status, body}`.
const POST_FORM: &str = "
    const [url, fields, done] = arguments;
    fetch(url, { method: 'POST', body: new URLSearchParams(fields) })
        .then(async r => done({ status: r.status, body: await r.text() }))
        .catch(e => done({ error: String(e) }));
";

/// A browser client of the password grant with its refresh token in `__Host-jwtd_rt_{client_id}`.
fn cookie_client(app: &TestApp) -> TestClient {
    let grants = ["password".to_owned(), "refresh_token".to_owned()];
    let mut registration = jwtd::accounts::clients::ClientRegistration::new(
        "spa",
        "openid",
        &["https://api.example.com".to_owned()],
        &grants,
    )
    .unwrap();
    registration.refresh_cookie = true;
    let (client, secret) =
        jwtd::store::clients::register(&mut app.pool().get().unwrap(), &registration, app.clock.now())
            .unwrap();
    TestClient { id: client.id, secret: secret.unwrap().expose().to_owned() }
}

/// Issue 16's browser test: app A's login page (a wrong password first, then the right one),
/// the code exchanged with PKCE; then app B in the same browser signs in through the session,
/// without a page. With `JWTD_UPDATE_DOCS=1` the login page goes to `docs/login-page.png`.
async fn a_person_signs_in_to_two_apps_in_one_browser(backend: Backend) {
    let Some(browser) = Browser::start("a_person_signs_in_to_two_apps_in_one_browser").await else {
        return;
    };
    let app = spawn_app_at_own_address(backend).await;
    let mut callback = Callback::start().await;
    let admin = app.admin_token().await;
    let a_redirect = format!("{}/a/callback", callback.base);
    let b_redirect = format!("{}/b/callback", callback.base);
    let a = register_flow_client(&app, &admin, "Team Wiki", &a_redirect, ClientKind::ConfidentialWeb).await;
    let b = register_flow_client(&app, &admin, "Status Board", &b_redirect, ClientKind::Public).await;
    let user = app.create_user(EMAIL, PASSWORD, json!({}));

    // App A: the login page.
    let (state, nonce, pkce) = (random_text(), random_text(), Pkce::new());
    browser.goto(&authorization_url(&app, &a, &a_redirect, &state, &nonce, &pkce)).await;
    browser.wait_for_element("form[method=post][action='/login']").await;
    for field in ["input[type=hidden][name=csrf_token]", "input[type=hidden][name=auth_request]"] {
        assert_eq!(browser.count(field).await, 1, "{field}");
    }
    assert_eq!(browser.count("input#username[name=username][type=email]").await, 1);
    assert_eq!(browser.count("input#password[name=password]").await, 1);
    assert!(browser.cookie("__Host-jwtd_csrf").await.is_some(), "{:?}", browser.cookies().await);
    if std::env::var("JWTD_UPDATE_DOCS").as_deref() == Ok("1") {
        browser
            .screenshot(&std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/login-page.png"))
            .await;
    }

    // A wrong password: the page again, with one message that names nothing.
    browser.fill("username", EMAIL).await;
    browser.fill("password", "not the password").await;
    browser.submit().await;
    browser.wait_for_element("[role=alert]").await;
    assert_eq!(browser.count("[role=alert]").await, 1);
    assert!(browser.cookie("__Host-jwtd_session").await.is_none());

    // The right one: back at A with a code, state and iss.
    browser.fill("username", EMAIL).await;
    browser.fill("password", PASSWORD).await;
    browser.submit().await;
    let response = query_of(&callback.next_request("/a/callback").await);
    assert_eq!(response.get("state"), Some(&state), "{response:?}");
    assert_eq!(response.get("iss"), Some(&app.issuer()), "{response:?}");
    assert!(browser.wait_for_url(&a_redirect).await.contains("code="));
    let tokens = exchange_code(&app, &a, &response["code"], &a_redirect, &pkce).await;
    let id_token = verify_id_token(&app, tokens["id_token"].as_str().unwrap(), &a, &nonce).await;
    assert_eq!(id_token["sub"], user.id.as_str());

    // The session cookie, checked at jwtd's origin.
    browser.goto(&app.url("/healthz")).await;
    let session = browser.cookie("__Host-jwtd_session").await.expect("no session cookie");
    assert_eq!(
        (session.secure, session.http_only, session.same_site.as_deref(), session.path.as_deref()),
        (true, true, Some("Lax"), Some("/")),
        "{session:?}"
    );

    // App B, same browser: no page, straight back with a code.
    let (state, nonce, pkce) = (random_text(), random_text(), Pkce::new());
    browser.goto(&authorization_url(&app, &b, &b_redirect, &state, &nonce, &pkce)).await;
    let response = query_of(&callback.next_request("/b/callback").await);
    assert_eq!(response.get("state"), Some(&state), "{response:?}");
    assert_eq!(response.get("iss"), Some(&app.issuer()), "{response:?}");
    let b_tokens: Value = exchange_code(&app, &b, &response["code"], &b_redirect, &pkce).await;
    let id_token = verify_id_token(&app, b_tokens["id_token"].as_str().unwrap(), &b, &nonce).await;
    assert_eq!(id_token["sub"], user.id.as_str());

    // A third-party app: the consent page first, even with the session.
    let c_redirect = format!("{}/c/callback", callback.base);
    let c = third_party_client(&app, &admin, "Expense Tracker", &c_redirect).await;
    let (state, nonce, pkce) = (random_text(), random_text(), Pkce::new());
    browser.goto(&authorization_url(&app, &c, &c_redirect, &state, &nonce, &pkce)).await;
    browser.wait_for_element("form[method=post][action='/consent']").await;
    browser.wait_for_text("Expense Tracker").await;
    browser.wait_for_text("See your email address").await;
    if std::env::var("JWTD_UPDATE_DOCS").as_deref() == Ok("1") {
        browser
            .screenshot(&std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/consent-page.png"))
            .await;
    }
    browser.click("button[name=decision][value=allow]").await;
    let response = query_of(&callback.next_request("/c/callback").await);
    assert_eq!(response.get("state"), Some(&state), "{response:?}");
    let form = [
        ("grant_type", "authorization_code"),
        ("code", response["code"].as_str()),
        ("redirect_uri", c_redirect.as_str()),
        ("code_verifier", pkce.verifier.as_str()),
    ];
    let c_tokens: Value = crate::flow_clients::token_request(&app, &c, &form).await.json().await.unwrap();
    verify_id_token(&app, c_tokens["id_token"].as_str().unwrap(), &c, &nonce).await;
    assert!(c_tokens.get("refresh_token").is_none(), "a third party without offline_access: none");

    // Logout from app A with its ID token: single sign-on ends for every app of the session.
    let after = format!("{}/signed-out", callback.base);
    let patch = json!({ "post_logout_redirect_uris": [after] });
    let patched =
        app.http.patch(app.url(&format!("/admin/clients/{}", a.id))).bearer_auth(&admin).json(&patch);
    assert_eq!(patched.send().await.unwrap().status(), 200);
    let logout = form_urlencoded::Serializer::new(String::new())
        .append_pair("id_token_hint", tokens["id_token"].as_str().unwrap())
        .append_pair("post_logout_redirect_uri", &after)
        .append_pair("state", "bye")
        .finish();
    browser.goto(&app.url(&format!("/oauth2/logout?{logout}"))).await;
    assert_eq!(
        query_of(&callback.next_request("/signed-out").await).get("state").map(String::as_str),
        Some("bye")
    );
    for (client, login) in [(&a, &tokens), (&b, &b_tokens)] {
        let form =
            [("grant_type", "refresh_token"), ("refresh_token", login["refresh_token"].as_str().unwrap())];
        let refreshed = crate::flow_clients::token_request(&app, client, &form).await;
        assert_eq!(refreshed.status(), 400, "every app's login of the session ended");
    }
    let (state, nonce, pkce) = (random_text(), random_text(), Pkce::new());
    browser.goto(&authorization_url(&app, &b, &b_redirect, &state, &nonce, &pkce)).await;
    browser.wait_for_element("form[method=post][action='/login']").await;

    // Signed in again, then out through jwtd's own confirmation page (no hint).
    browser.fill("username", EMAIL).await;
    browser.fill("password", PASSWORD).await;
    browser.submit().await;
    callback.next_request("/b/callback").await;
    browser.goto(&app.url("/oauth2/logout")).await;
    browser.wait_for_element("form[method=post][action='/logout']").await;
    browser.submit().await;
    browser.wait_for_text("You are signed out").await;
    browser.goto(&authorization_url(&app, &b, &b_redirect, &state, &nonce, &pkce)).await;
    browser.wait_for_element("form[method=post][action='/login']").await;
    browser.quit().await;
}

/// A third-party web app (consent asked) of the code flow, with a secret.
async fn third_party_client(app: &TestApp, admin: &str, name: &str, redirect_uri: &str) -> TestClient {
    let body = json!({
        "name": name,
        "scope": "openid email",
        "grant_types": ["authorization_code"],
        "redirect_uris": [redirect_uri],
        "first_party": false,
    });
    crate::flow_clients::register(app, admin, body).await
}
