//! Back-channel logout (OpenID Connect Back-Channel Logout 1.0), end to end: a test receiver
//! stands in for a client's server; ending a session through the admin API makes jwtd POST it a
//! logout token that verifies against the JWKS, retried while the receiver fails, and nothing
//! is recorded for clients without a back-channel logout URI.

use std::sync::{Arc, Mutex};

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use diesel::prelude::*;
use jwtd::accounts::users::User;
use jwtd::store::schema::logout_deliveries;
use serde_json::{Value, json};

use crate::code_flow::{Browser, code_for, redeem, register_web_app};
use crate::flow_clients::verify_id_token;
use crate::helpers::{Backend, ISSUER, TestApp, TestClient, TestDb, new_master_key, spawn_app_on};
use crate::on_both_backends;

const EMAIL: &str = "alice@example.com";
const EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";

on_both_backends!(
    an_ended_session_sends_its_client_one_signed_logout_token,
    a_failing_receiver_gets_the_notice_again_until_it_answers,
    a_receiver_that_keeps_failing_is_given_up_after_max_attempts,
    revoking_every_session_notifies_each_login,
    an_rp_initiated_logout_notifies_the_apps_of_the_session,
    a_withdrawn_consent_tells_the_app,
);

/// A client's back-channel logout endpoint: records what it is sent, answers 500 to the first
/// `failures` requests and 200 afterwards.
struct Receiver {
    url: String,
    inbox: web::Data<Inbox>,
    handle: actix_web::dev::ServerHandle,
}

#[derive(Default)]
struct Inbox {
    failures: usize,
    /// Each request's Content-Type and body.
    seen: Mutex<Vec<(String, String)>>,
}

async fn receive(request: HttpRequest, body: web::Bytes, inbox: web::Data<Inbox>) -> HttpResponse {
    let content_type =
        request.headers().get("content-type").map(|v| v.to_str().unwrap().to_owned()).unwrap_or_default();
    let mut seen = inbox.seen.lock().unwrap();
    seen.push((content_type, String::from_utf8(body.to_vec()).unwrap()));
    if seen.len() <= inbox.failures {
        HttpResponse::InternalServerError().body("not now")
    } else {
        HttpResponse::Ok().insert_header(("cache-control", "no-store")).finish()
    }
}

impl Receiver {
    fn start(failures: usize) -> Self {
        let inbox = web::Data::new(Inbox { failures, ..Inbox::default() });
        let shared = inbox.clone();
        let server = HttpServer::new(move || {
            App::new().app_data(shared.clone()).route("/backchannel-logout", web::post().to(receive))
        })
        .workers(1)
        .bind("127.0.0.1:0")
        .unwrap();
        let url = format!("http://{}/backchannel-logout", server.addrs()[0]);
        let server = server.run();
        let handle = server.handle();
        tokio::spawn(server);
        Self { url, inbox, handle }
    }

    fn received(&self) -> usize {
        self.inbox.seen.lock().unwrap().len()
    }

    /// The logout tokens received, in order; every request a form with exactly that field.
    fn tokens(&self) -> Vec<String> {
        let seen = self.inbox.seen.lock().unwrap();
        seen.iter()
            .map(|(content_type, body)| {
                assert_eq!(content_type, "application/x-www-form-urlencoded");
                let fields: Vec<(String, String)> =
                    form_urlencoded::parse(body.as_bytes()).into_owned().collect();
                assert_eq!(fields.len(), 1, "{body}");
                assert_eq!(fields[0].0, "logout_token");
                fields[0].1.clone()
            })
            .collect()
    }
}

/// A jwtd on a new database whose delivery task polls every `poll_interval`, with the shortest
/// retry wait; a receiver failing `failures` times; a web app whose back-channel logout URI is
/// the receiver; and the person who will sign in to it.
async fn notified_app(
    backend: Backend,
    poll_interval: &str,
    failures: usize,
) -> (TestApp, Receiver, TestClient, User) {
    let extra = [
        ("JWTD__BACKCHANNEL_LOGOUT__POLL_INTERVAL", poll_interval),
        ("JWTD__BACKCHANNEL_LOGOUT__RETRY_BASE", "1s"),
        ("JWTD__BACKCHANNEL_LOGOUT__MAX_ATTEMPTS", "3"),
    ];
    let app = spawn_app_on(Arc::new(TestDb::new(backend)), &new_master_key(), &extra).await;
    let receiver = Receiver::start(failures);
    let client = register_web_app(&app, true, json!({"backchannel_logout_uri": receiver.url})).await;
    let user = app.create_user(EMAIL, crate::code_flow::PASSWORD, json!({}));
    (app, receiver, client, user)
}

/// Signs `EMAIL` in to `client` in `browser` and redeems the code: the ID token's claims.
async fn sign_in(app: &TestApp, browser: &mut Browser, client: &TestClient) -> Value {
    let code = code_for(app, browser, client, EMAIL).await;
    let response = redeem(app, client, &code, &[]).await;
    assert_eq!(response.status(), 200);
    let tokens: Value = response.json().await.unwrap();
    verify_id_token(app, tokens["id_token"].as_str().unwrap(), client, "n-1").await
}

/// The claims of a logout token for `client`, its signature checked with the JWK its `kid`
/// names (the algorithm taken from the JWK), and its shape as Back-Channel Logout 1.0 §2.4 has it.
async fn verify_logout_token(app: &TestApp, token: &str, client: &TestClient) -> Value {
    let header = jsonwebtoken::decode_header(token).unwrap();
    assert_eq!(header.typ.as_deref(), Some("logout+jwt"));
    let jwks = app.jwks().await;
    let jwk = jwks.find(header.kid.as_deref().unwrap()).expect("its kid is in the JWKS");
    let alg = jsonwebtoken::Algorithm::try_from(jwk.common.key_algorithm.unwrap()).unwrap();
    let mut validation = jsonwebtoken::Validation::new(alg);
    validation.set_issuer(&[ISSUER]);
    validation.set_audience(&[&client.id]);
    validation.set_required_spec_claims(&["iss", "aud", "iat", "exp", "sub"]);
    let key = jsonwebtoken::DecodingKey::from_jwk(jwk).unwrap();
    let claims = jsonwebtoken::decode::<Value>(token, &key, &validation).unwrap().claims;
    assert_eq!(claims["events"], json!({ EVENT: {} }), "{claims}");
    assert!(claims.get("nonce").is_none(), "never a nonce: {claims}");
    assert!(claims["jti"].as_str().is_some_and(|jti| !jti.is_empty()), "{claims}");
    assert_eq!(claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(), 120);
    claims
}

/// Notices recorded and not yet delivered or given up.
fn pending(app: &TestApp) -> i64 {
    logout_deliveries::table.count().get_result(&mut **app.pool().get().unwrap()).unwrap()
}

async fn admin_end_session(app: &TestApp, admin: &str, user_id: &str) {
    let path = format!("/admin/users/{user_id}/sessions");
    let listed: Value = app.admin_get(admin, &path).await.json().await.unwrap();
    let session = listed["sessions"][0]["id"].as_str().unwrap();
    let ended =
        app.http.delete(app.url(&format!("{path}/{session}"))).bearer_auth(admin).send().await.unwrap();
    assert_eq!(ended.status(), 204);
}

/// The value of `jwtd_backchannel_logout_deliveries_total{outcome}`.
async fn deliveries(app: &TestApp, outcome: &str) -> String {
    let line = format!("jwtd_backchannel_logout_deliveries_total{{outcome=\"{outcome}\"}} ");
    let scraped = app.scrape().await;
    scraped.lines().find_map(|l| l.strip_prefix(line.as_str())).unwrap_or("none").to_owned()
}

async fn an_ended_session_sends_its_client_one_signed_logout_token(backend: Backend) {
    // Polling once a minute: a notice arriving within the test's five seconds was sent because
    // ending the session woke the delivery task.
    let (app, receiver, notified, user) = notified_app(backend, "1m", 0).await;
    let silent = register_web_app(&app, true, json!({"name": "Silent"})).await;
    let mut browser = Browser::new();
    let id_token = sign_in(&app, &mut browser, &notified).await;
    sign_in(&app, &mut browser, &silent).await; // the same session, through single sign-on
    assert_eq!(pending(&app), 0, "nothing before the session ends");

    admin_end_session(&app, &app.admin_token().await, &user.id).await;
    app.eventually("the notice is delivered", || async { receiver.received() == 1 }).await;
    app.eventually("and deleted", || async { pending(&app) == 0 }).await;

    let tokens = receiver.tokens();
    assert_eq!(tokens.len(), 1, "one POST: the client without a URI is not notified");
    let claims = verify_logout_token(&app, &tokens[0], &notified).await;
    assert_eq!(claims["sub"], user.id.as_str());
    assert_eq!(claims["sid"], id_token["sid"], "sid names the login, as in the ID token");
    assert_eq!(deliveries(&app, "delivered").await, "1");
    assert_eq!(deliveries(&app, "failed").await, "0");
    receiver.handle.stop(true).await;
}

async fn a_failing_receiver_gets_the_notice_again_until_it_answers(backend: Backend) {
    let (app, receiver, client, user) = notified_app(backend, "20ms", 2).await;
    let id_token = sign_in(&app, &mut Browser::new(), &client).await;

    // Disabling the person ends their sessions.
    let admin = app.admin_token().await;
    let disabled =
        app.admin_patch(&admin, &format!("/admin/users/{}", user.id), json!({"disabled": true})).await;
    assert_eq!(disabled.status(), 200);
    app.eventually("the first attempt", || async { receiver.received() == 1 }).await;
    assert_eq!(pending(&app), 1, "kept for a retry");
    // The retries wait 1 s, then 2 s, on jwtd's clock: move it on while waiting.
    app.eventually("delivered on the third attempt", || async {
        app.clock.advance(1);
        receiver.received() == 3
    })
    .await;
    app.eventually("and deleted", || async { pending(&app) == 0 }).await;

    let tokens = receiver.tokens();
    let mut jtis = Vec::new();
    for token in &tokens {
        let claims = verify_logout_token(&app, token, &client).await;
        assert_eq!((&claims["sub"], &claims["sid"]), (&json!(user.id), &id_token["sid"]));
        jtis.push(claims["jti"].as_str().unwrap().to_owned());
    }
    jtis.sort();
    jtis.dedup();
    assert_eq!(jtis.len(), 3, "each attempt signs a fresh token");
    assert_eq!(deliveries(&app, "failed").await, "2");
    assert_eq!(deliveries(&app, "delivered").await, "1");
    assert_eq!(deliveries(&app, "gave_up").await, "0");
    receiver.handle.stop(true).await;
}

async fn a_receiver_that_keeps_failing_is_given_up_after_max_attempts(backend: Backend) {
    let (app, receiver, client, user) = notified_app(backend, "20ms", usize::MAX).await;
    sign_in(&app, &mut Browser::new(), &client).await;
    admin_end_session(&app, &app.admin_token().await, &user.id).await;
    app.eventually("given up", || async {
        app.clock.advance(1);
        pending(&app) == 0
    })
    .await;
    assert_eq!(receiver.received(), 3, "max_attempts");
    assert_eq!(deliveries(&app, "failed").await, "2");
    assert_eq!(deliveries(&app, "gave_up").await, "1");
    assert_eq!(deliveries(&app, "delivered").await, "0");
    receiver.handle.stop(true).await;
}

async fn revoking_every_session_notifies_each_login(backend: Backend) {
    let (app, receiver, client, user) = notified_app(backend, "1m", 0).await;
    let laptop = sign_in(&app, &mut Browser::new(), &client).await;
    let phone = sign_in(&app, &mut Browser::new(), &client).await;

    let admin = app.admin_token().await;
    let revoked = app.admin_post(&admin, &format!("/admin/users/{}/revoke-sessions", user.id), None).await;
    assert_eq!(revoked.status(), 200);
    app.eventually("both logins are notified", || async { receiver.received() == 2 }).await;
    app.eventually("and their notices deleted", || async { pending(&app) == 0 }).await;

    let mut sids = Vec::new();
    for token in receiver.tokens() {
        sids.push(verify_logout_token(&app, &token, &client).await["sid"].clone());
    }
    sids.sort_by_key(|sid| sid.to_string());
    let mut expected = vec![laptop["sid"].clone(), phone["sid"].clone()];
    expected.sort_by_key(|sid| sid.to_string());
    assert_eq!(sids, expected);
    receiver.handle.stop(true).await;
}

async fn an_rp_initiated_logout_notifies_the_apps_of_the_session(backend: Backend) {
    let (app, receiver, notified, user) = notified_app(backend, "1m", 0).await;
    let extra = json!({"name": "Other", "backchannel_logout_uri": receiver.url});
    let other = register_web_app(&app, true, extra).await;
    let mut browser = Browser::new();
    let mut logins = vec![sign_in(&app, &mut browser, &notified).await];
    logins.push(sign_in(&app, &mut browser, &other).await);
    let code = code_for(&app, &mut browser, &other, EMAIL).await;
    let tokens: Value = redeem(&app, &other, &code, &[]).await.json().await.unwrap();
    logins.push(verify_id_token(&app, tokens["id_token"].as_str().unwrap(), &other, "n-1").await);

    // The person leaves from the other app with its latest ID token: every login is told.
    let query = form_urlencoded::Serializer::new(String::new())
        .append_pair("id_token_hint", tokens["id_token"].as_str().unwrap())
        .finish();
    let out = browser.get(&app.url(&format!("/oauth2/logout?{query}"))).await;
    assert_eq!(out.status, 200, "jwtd's signed-out page");
    app.eventually("each login of the session is notified", || async { receiver.received() == 3 }).await;
    let mut notices = Vec::new();
    for token in receiver.tokens() {
        let to_notified = jsonwebtoken::dangerous::insecure_decode::<Value>(&token).unwrap().claims["aud"]
            == notified.id.as_str();
        let claims = verify_logout_token(&app, &token, if to_notified { &notified } else { &other }).await;
        assert_eq!(claims["sub"], user.id.as_str());
        notices
            .push((claims["aud"].as_str().unwrap().to_owned(), claims["sid"].as_str().unwrap().to_owned()));
    }
    let mut expected: Vec<(String, String)> = logins
        .iter()
        .map(|l| (l["aud"].as_str().unwrap().to_owned(), l["sid"].as_str().unwrap().to_owned()))
        .collect();
    notices.sort();
    expected.sort();
    assert_eq!(notices, expected, "one notice per login (refresh family) of the session, to its app");
    receiver.handle.stop(true).await;
}

async fn a_withdrawn_consent_tells_the_app(backend: Backend) {
    let (app, receiver, _, user) = notified_app(backend, "1m", 0).await;
    let extra = json!({"name": "Third", "backchannel_logout_uri": receiver.url});
    let third = register_web_app(&app, false, extra).await;
    let login = sign_in(&app, &mut Browser::new(), &third).await;
    let admin = app.admin_token().await;
    let path = format!("/admin/users/{}/consents/{}", user.id, third.id);
    let withdrawn = app.http.delete(app.url(&path)).bearer_auth(&admin).send().await.unwrap();
    assert_eq!(withdrawn.status(), 204);
    app.eventually("the app is told", || async { receiver.received() == 1 }).await;
    let claims = verify_logout_token(&app, &receiver.tokens()[0], &third).await;
    assert_eq!(claims["sid"], login["sid"], "the login whose grant was withdrawn");
    receiver.handle.stop(true).await;
}
