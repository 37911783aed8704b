//! Token exchange (RFC 8693) end to end: a user's token travels through a chain of services,
//! each exchanging the token it received for a narrower one for the next API, and everything
//! exchanged stops when the user's login ends: at jwtd and at a jwtd-verify resource server.

use actix_web::HttpResponse;
use jwtd_verify::{Authenticated, JwksCache, RevocationFeed, Verifier};
use serde_json::{Value, json};

use crate::flow_clients::register;
use crate::helpers::{Backend, ISSUER, TestApp, TestClient, assert_error, claims_of, sample, spawn_app};
use crate::on_both_backends;

on_both_backends!(
    a_users_token_travels_a_three_service_chain_and_stops_when_the_user_logs_out,
    an_exchange_is_refused_for_every_rule_it_breaks,
    an_actor_token_must_be_the_clients_own,
    token_exchange_clients_are_registered_with_their_apis,
    deleting_the_sign_in_client_stops_exchanged_tokens_at_resource_servers,
);

const EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
const ACCESS_TOKEN: &str = "urn:ietf:params:oauth:token-type:access_token";
const EMAIL: &str = "alice@example.com";
const PASSWORD: &str = "correct horse battery staple";
const API_A: &str = "https://a.example";
const API_B: &str = "https://b.example";
const API_C: &str = "https://c.example";
/// An API no service of the chain serves.
const API_X: &str = "https://x.example";

/// The services of the chain: a first-party app the user signs in to (its tokens are for A's
/// API), and services A and B, each serving its API and exchanging for the next one's.
struct Chain {
    app: TestClient,
    a: TestClient,
    b: TestClient,
    admin: String,
}

async fn chain(app: &TestApp) -> Chain {
    let admin = app.admin_token().await;
    let frontend = json!({
        "name": "frontend", "scope": "orders:read payments:write profile",
        "grant_types": ["password", "refresh_token"], "resources": [API_A, API_X],
    });
    let service = |name: &str, serves: &str, next: &str| {
        json!({
            "name": name, "scope": "orders:read payments:write",
            "grant_types": ["token_exchange", "client_credentials"],
            "served_resources": [serves], "resources": [next],
        })
    };
    Chain {
        app: register(app, &admin, frontend).await,
        a: register(app, &admin, service("service A", API_A, API_B)).await,
        b: register(app, &admin, service("service B", API_B, API_C)).await,
        admin,
    }
}

/// `grant_type=token-exchange` by `client` for `subject`, with `extra` parameters.
async fn exchange(
    app: &TestApp,
    client: &TestClient,
    subject: &str,
    extra: &[(&str, &str)],
) -> reqwest::Response {
    let mut form =
        vec![("grant_type", EXCHANGE), ("subject_token", subject), ("subject_token_type", ACCESS_TOKEN)];
    form.extend_from_slice(extra);
    app.client_post(client, "/oauth2/token", &form).await
}

/// The exchanged token of a successful answer, its answer checked (RFC 8693 §2.2.1).
async fn exchanged(response: reqwest::Response) -> String {
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["issued_token_type"], ACCESS_TOKEN, "{body}");
    assert_eq!(body["token_type"], "Bearer");
    assert!(body.get("refresh_token").is_none(), "no refresh token from an exchange");
    body["access_token"].as_str().unwrap().to_owned()
}

/// The user signs in to the frontend for A's API: (access token, refresh token).
async fn sign_in(app: &TestApp, chain: &Chain) -> (String, String) {
    let response = app.login(&chain.app, EMAIL, PASSWORD, &[("resource", API_A)]).await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    (body["access_token"].as_str().unwrap().to_owned(), body["refresh_token"].as_str().unwrap().to_owned())
}

async fn chain_end(auth: Authenticated) -> HttpResponse {
    let actors: Vec<&str> = auth.actors().collect();
    HttpResponse::Ok().json(json!({ "sub": auth.sub, "client_id": auth.client_id, "actors": actors }))
}

/// Service C: a jwtd-verify resource server for C's API, with the revocation feed.
async fn service_c(app: &TestApp) -> (RevocationFeed, String, actix_web::dev::ServerHandle) {
    let keys = JwksCache::from_url(&app.url("/.well-known/jwks.json")).build().unwrap();
    keys.refresh().await.unwrap();
    let feed = RevocationFeed::from_url(&app.url("/revocations"), ISSUER, keys.clone()).build().unwrap();
    feed.refresh().await.unwrap();
    let verifier = Verifier::builder(keys, ISSUER, API_C).revocations(feed.clone()).build();
    let (address, handle) = crate::resource_server::serve(verifier, chain_end);
    (feed, format!("{address}/invoices"), handle)
}

async fn a_users_token_travels_a_three_service_chain_and_stops_when_the_user_logs_out(backend: Backend) {
    let app = spawn_app(backend).await;
    let user = app.create_user(EMAIL, PASSWORD, json!({ "roles": ["buyer"] }));
    let chain = chain(&app).await;
    let (feed, c_api, handle) = service_c(&app).await;

    let (to_a, refresh) = sign_in(&app, &chain).await;
    let first = claims_of(&to_a);
    assert_eq!(first["aud"], API_A, "the resource the sign-in named, exactly");

    // A calls B on the user's behalf, B calls C.
    let to_b = exchanged(exchange(&app, &chain.a, &to_a, &[("resource", API_B)]).await).await;
    let to_c =
        exchanged(exchange(&app, &chain.b, &to_b, &[("audience", API_C), ("scope", "orders:read")]).await)
            .await;
    let at_b = claims_of(&to_b);
    assert_eq!(at_b["aud"], API_B);
    assert_eq!(at_b["act"], json!({ "sub": chain.a.id }));
    let at_c = claims_of(&to_c);
    assert_eq!(at_c["aud"], API_C);
    assert_eq!((&at_c["sub"], &at_c["sid"]), (&json!(user.id), &first["sid"]), "the same user and login");
    assert_eq!(at_c["client_id"], chain.b.id.as_str(), "held by the service that exchanged");
    assert_eq!(
        at_c["act"],
        json!({ "sub": chain.b.id, "act": { "sub": chain.a.id } }),
        "nested, newest outside"
    );
    assert_eq!(at_c["scope"], "orders:read", "narrowed");
    assert_eq!(at_c["roles"], json!(["buyer"]), "the user's claims ride along");
    assert!(at_c["exp"].as_i64() <= first["exp"].as_i64(), "never outlives the token it came from");

    let seen: Value = app.http.get(&c_api).bearer_auth(&to_c).send().await.unwrap().json().await.unwrap();
    assert_eq!(seen, json!({ "sub": user.id, "client_id": chain.b.id, "actors": [chain.b.id, chain.a.id] }));
    let introspected = app.introspect(&chain.b, &to_c).await;
    assert_eq!((&introspected["active"], &introspected["act"]), (&json!(true), &at_c["act"]));
    let audit: Value =
        app.admin_get(&chain.admin, "/admin/audit?kind=token.exchanged").await.json().await.unwrap();
    let events = audit["events"].as_array().unwrap();
    assert_eq!(events.len(), 2, "{audit}");
    assert_eq!(events[0]["actor"], chain.b.id.as_str());
    assert_eq!(events[0]["subject"], first["sid"]);
    assert_eq!(events[0]["detail"]["actors"], json!([chain.b.id, chain.a.id]));

    // The user logs out (the frontend revokes its refresh token): the whole chain stops.
    let revoked = app.client_post(&chain.app, "/oauth2/revoke", &[("token", refresh.as_str())]).await;
    assert_eq!(revoked.status(), 200);
    assert_error(exchange(&app, &chain.a, &to_a, &[]).await, 400, "invalid_grant").await;
    assert_error(exchange(&app, &chain.b, &to_b, &[]).await, 400, "invalid_grant").await;
    assert_eq!(app.introspect(&chain.b, &to_c).await, json!({ "active": false }));
    app.clock.advance(1); // the feed is cached per second of jwtd's clock
    feed.refresh().await.unwrap();
    let status = app.http.get(&c_api).bearer_auth(&to_c).send().await.unwrap().status();
    assert_eq!(status, 401, "C refuses the exchanged token once the feed lists the login");

    let metrics = app.scrape().await;
    assert_eq!(sample(&metrics, r#"jwtd_token_exchanges_total{outcome="granted"}"#), Some(2.0));
    assert_eq!(sample(&metrics, r#"jwtd_token_exchanges_total{outcome="invalid_subject"}"#), Some(2.0));
    handle.stop(true).await;
}

async fn an_exchange_is_refused_for_every_rule_it_breaks(backend: Backend) {
    let app = spawn_app(backend).await;
    app.create_user(EMAIL, PASSWORD, json!({}));
    let chain = chain(&app).await;
    let (to_a, _) = sign_in(&app, &chain).await;
    let to_b = exchanged(exchange(&app, &chain.a, &to_a, &[]).await).await;
    assert_eq!(claims_of(&to_b)["aud"], API_B, "the one target A may exchange for, unnamed");

    // The laundering rule: only a token sent to the client's own API.
    assert_error(exchange(&app, &chain.a, &to_b, &[]).await, 400, "invalid_grant").await;
    assert_error(exchange(&app, &chain.b, &to_a, &[]).await, 400, "invalid_grant").await;
    let for_x = app.login(&chain.app, EMAIL, PASSWORD, &[("resource", API_X)]).await;
    let for_x: Value = for_x.json().await.unwrap();
    let elsewhere = for_x["access_token"].as_str().unwrap();
    assert_error(exchange(&app, &chain.a, elsewhere, &[]).await, 400, "invalid_grant").await;
    assert_error(exchange(&app, &chain.a, &chain.admin, &[]).await, 400, "invalid_grant").await;
    assert_error(exchange(&app, &chain.a, "not.a.token", &[]).await, 400, "invalid_grant").await;
    // Targets: registered, one.
    assert_error(exchange(&app, &chain.a, &to_a, &[("resource", API_C)]).await, 400, "invalid_target").await;
    let two = [("resource", API_B), ("audience", API_B)];
    assert_error(exchange(&app, &chain.a, &to_a, &two).await, 400, "invalid_target").await;
    // Scope: only narrower.
    assert_error(exchange(&app, &chain.a, &to_a, &[("scope", "profile")]).await, 400, "invalid_scope").await;
    // Token types: access tokens in, access tokens out.
    let id_token = [("subject_token_type", "urn:ietf:params:oauth:token-type:id_token")];
    let form = [("grant_type", EXCHANGE), ("subject_token", to_a.as_str()), id_token[0]];
    assert_error(app.client_post(&chain.a, "/oauth2/token", &form).await, 400, "invalid_request").await;
    let refresh_out = [("requested_token_type", "urn:ietf:params:oauth:token-type:refresh_token")];
    assert_error(exchange(&app, &chain.a, &to_a, &refresh_out).await, 400, "invalid_request").await;
    let form = [("grant_type", EXCHANGE), ("subject_token_type", ACCESS_TOKEN)];
    assert_error(app.client_post(&chain.a, "/oauth2/token", &form).await, 400, "invalid_request").await;
    // A client without the grant.
    assert_error(exchange(&app, &chain.app, &to_a, &[]).await, 400, "unauthorized_client").await;

    // Every refusal is counted and audited by its reason.
    let metrics = app.scrape().await;
    for (reason, count) in [
        ("not_sent_to_client", 3.0),
        ("admin_token", 1.0),
        ("invalid_subject", 1.0),
        ("target_not_allowed", 1.0),
        ("too_many_targets", 1.0),
        ("scope_exceeded", 1.0),
        ("unsupported_token_type", 2.0),
    ] {
        let series = format!(r#"jwtd_token_exchanges_total{{outcome="{reason}"}}"#);
        assert_eq!(sample(&metrics, &series), Some(count), "{reason}");
    }
    let audit: Value = app
        .admin_get(&chain.admin, "/admin/audit?kind=token.exchange_refused&limit=50")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(audit["events"].as_array().unwrap().len(), 10, "{audit}");
    assert_eq!(audit["events"][0]["detail"]["reason"], "unsupported_token_type");

    // An expired subject token, and one whose client was deleted.
    let fresh = sign_in(&app, &chain).await.0;
    app.clock.advance(901);
    assert_error(exchange(&app, &chain.a, &fresh, &[]).await, 400, "invalid_grant").await;
    let (live, _) = sign_in(&app, &chain).await;
    let deleted = app.http.delete(app.url(&format!("/admin/clients/{}", chain.app.id)));
    let admin = app.admin_token().await;
    assert_eq!(deleted.bearer_auth(&admin).send().await.unwrap().status(), 204);
    assert_error(exchange(&app, &chain.a, &live, &[]).await, 400, "invalid_grant").await;
}

/// The user's login goes with the client it was made through, and an exchanged token names
/// neither that client nor anything but the login's `sid`: the feed keeps listing the deleted
/// client's live logins, so resource servers refuse what was exchanged from them.
async fn deleting_the_sign_in_client_stops_exchanged_tokens_at_resource_servers(backend: Backend) {
    let app = spawn_app(backend).await;
    app.create_user(EMAIL, PASSWORD, json!({}));
    let chain = chain(&app).await;
    let (feed, c_api, _handle) = service_c(&app).await;
    let (to_a, _) = sign_in(&app, &chain).await;
    let to_b = exchanged(exchange(&app, &chain.a, &to_a, &[("resource", API_B)]).await).await;
    let to_c = exchanged(exchange(&app, &chain.b, &to_b, &[("resource", API_C)]).await).await;
    assert_eq!(app.http.get(&c_api).bearer_auth(&to_c).send().await.unwrap().status(), 200);

    let deleted = app.http.delete(app.url(&format!("/admin/clients/{}", chain.app.id)));
    assert_eq!(deleted.bearer_auth(&chain.admin).send().await.unwrap().status(), 204);
    let sid = claims_of(&to_c)["sid"].as_str().unwrap().to_owned();
    app.clock.advance(1); // the feed is rebuilt at most once a second
    let listed = app.revocation_feed().await;
    assert!(listed["sids"].as_array().unwrap().contains(&json!(sid)), "{listed}");
    feed.refresh().await.unwrap();
    assert_eq!(app.http.get(&c_api).bearer_auth(&to_c).send().await.unwrap().status(), 401);
}

async fn an_actor_token_must_be_the_clients_own(backend: Backend) {
    let app = spawn_app(backend).await;
    app.create_user(EMAIL, PASSWORD, json!({}));
    let chain = chain(&app).await;
    let (to_a, _) = sign_in(&app, &chain).await;
    let own = app.token_of(&chain.a).await;
    let with_actor = [("actor_token", own.as_str()), ("actor_token_type", ACCESS_TOKEN)];
    let to_b = exchanged(exchange(&app, &chain.a, &to_a, &with_actor).await).await;
    assert_eq!(claims_of(&to_b)["act"], json!({ "sub": chain.a.id }));

    let bs = app.token_of(&chain.b).await;
    let others = [("actor_token", bs.as_str()), ("actor_token_type", ACCESS_TOKEN)];
    assert_error(exchange(&app, &chain.a, &to_a, &others).await, 400, "invalid_request").await;
    let users = [("actor_token", to_a.as_str()), ("actor_token_type", ACCESS_TOKEN)];
    assert_error(exchange(&app, &chain.a, &to_a, &users).await, 400, "invalid_request").await;
    let untyped = [("actor_token", own.as_str())];
    assert_error(exchange(&app, &chain.a, &to_a, &untyped).await, 400, "invalid_request").await;
}

async fn token_exchange_clients_are_registered_with_their_apis(backend: Backend) {
    let app = spawn_app(backend).await;
    let chain = chain(&app).await;
    let created = |body: Value| {
        let app = &app;
        let admin = chain.admin.clone();
        async move { app.admin_post(&admin, "/admin/clients", Some(body)).await }
    };
    // A public client has nothing to prove who exchanges; the lists are needed; one API, one
    // server; resources are absolute URIs.
    for body in [
        json!({ "name": "p", "grant_types": ["token_exchange"], "token_endpoint_auth_method": "none",
                "served_resources": ["https://p.example"], "resources": [API_C] }),
        json!({ "name": "n", "grant_types": ["token_exchange"], "resources": [API_C] }),
        json!({ "name": "twin", "grant_types": ["token_exchange"], "served_resources": [API_A], "resources": [API_C] }),
        json!({ "name": "f", "resources": ["https://c.example/#f"] }),
        json!({ "name": "r", "resources": ["c.example"] }),
    ] {
        assert_error(created(body).await, 400, "invalid_request").await;
    }
    let shown: Value =
        app.admin_get(&chain.admin, &format!("/admin/clients/{}", chain.a.id)).await.json().await.unwrap();
    assert_eq!(shown["grant_types"], json!(["client_credentials", EXCHANGE]));
    assert_eq!((&shown["served_resources"], &shown["resources"]), (&json!([API_A]), &json!([API_B])));
}
