//! End to end with jwtd-verify: a resource server protected by the library's extractor accepts
//! jwtd's tokens, keeps accepting across `jwtd keys rotate`, and with the revocation feed
//! refuses a family's access tokens once reuse detection revoked it.

use actix_web::{App, HttpResponse, HttpServer, web};
use diesel::prelude::*;
use jwtd::store::schema::signing_keys;
use jwtd_verify::{Authenticated, BearerError, JwksCache, RevocationFeed, Verifier};
use serde_json::{Value, json};

use crate::helpers::{Backend, ISSUER, TestApp, spawn_app};
use crate::on_both_backends;

on_both_backends!(a_resource_server_accepts_tokens_across_rotations_and_refuses_revoked_ones);

async fn invoices(auth: Authenticated) -> Result<HttpResponse, BearerError> {
    auth.require_scope("read")?;
    Ok(HttpResponse::Ok().json(json!({ "client_id": auth.client_id })))
}

/// The example resource server's few lines, on port 0, verifying with `verifier`.
fn resource_server(verifier: Verifier) -> (String, actix_web::dev::ServerHandle) {
    serve(verifier, invoices)
}

/// A resource server answering `GET /invoices` with `handler`, on port 0, verifying with
/// `verifier`: its address and handle.
pub fn serve<F, Args>(verifier: Verifier, handler: F) -> (String, actix_web::dev::ServerHandle)
where
    F: actix_web::Handler<Args> + Clone + Send + 'static,
    Args: actix_web::FromRequest + 'static,
    F::Output: actix_web::Responder + 'static,
{
    let verifier = web::Data::new(verifier);
    let server = HttpServer::new(move || {
        App::new().app_data(verifier.clone()).route("/invoices", web::get().to(handler.clone()))
    })
    .workers(1)
    .bind("127.0.0.1:0")
    .unwrap();
    let address = format!("http://{}", server.addrs()[0]);
    let server = server.run();
    let handle = server.handle();
    tokio::spawn(server);
    (address, handle)
}

/// A resource server for audience `https://api` verifying `app`'s tokens, with the JWKS and the
/// revocation feed fetched once (tests refresh the feed themselves). jwtd's tests run it under
/// the issuer name http://jwtd.test; the verifier fetches from the real address but checks `iss`
/// against that name.
pub async fn protected_api(app: &TestApp) -> (RevocationFeed, String, actix_web::dev::ServerHandle) {
    let keys = JwksCache::from_url(&app.url("/.well-known/jwks.json")).build().unwrap();
    keys.refresh().await.unwrap();
    let feed = RevocationFeed::from_url(&app.url("/revocations"), ISSUER, keys.clone()).build().unwrap();
    feed.refresh().await.unwrap();
    let verifier = Verifier::builder(keys, ISSUER, "https://api").revocations(feed.clone()).build();
    let (api, handle) = resource_server(verifier);
    (feed, api, handle)
}

pub async fn call(app: &TestApp, api: &str, token: &str) -> u16 {
    app.http.get(format!("{api}/invoices")).bearer_auth(token).send().await.unwrap().status().as_u16()
}

async fn a_resource_server_accepts_tokens_across_rotations_and_refuses_revoked_ones(backend: Backend) {
    let app = spawn_app(backend).await;
    let (feed, api, handle) = protected_api(&app).await;

    let service = app.register_client("read", &["https://api"], &["client_credentials"]);
    let before = app.token_of(&service).await;
    assert_eq!(call(&app, &api, &before).await, 200);
    let unscoped = app.register_client("write", &["https://api"], &["client_credentials"]);
    assert_eq!(call(&app, &api, &app.token_of(&unscoped).await).await, 403);
    assert_eq!(app.http.get(format!("{api}/invoices")).send().await.unwrap().status(), 401);

    // `jwtd keys rotate` (the next key pretends to have been published an hour ago).
    diesel::update(signing_keys::table.filter(signing_keys::state.eq("next")))
        .set(signing_keys::published_at.eq(signing_keys::published_at - 3600))
        .execute(&mut **app.pool().get().unwrap())
        .unwrap();
    let rotated = std::process::Command::new(env!("CARGO_BIN_EXE_jwtd"))
        .env_clear()
        .envs(app.env.iter().cloned())
        .args(["keys", "rotate"])
        .output()
        .unwrap();
    assert!(rotated.status.success(), "{rotated:?}");
    let new_kid =
        serde_json::from_slice::<Value>(&rotated.stdout).unwrap()["current"].as_str().unwrap().to_owned();
    app.eventually("jwtd signs with the rotated key", || async {
        let token = app.token_of(&service).await;
        jsonwebtoken::decode_header(&token).unwrap().kid.as_deref() == Some(new_kid.as_str())
    })
    .await;
    let after = app.token_of(&service).await;
    assert_eq!(call(&app, &api, &after).await, 200, "a token of the new key");
    assert_eq!(call(&app, &api, &before).await, 200, "a token of the previous key");

    // A user's access token works until reuse detection revokes its family.
    let client = app.register_app_client("read");
    app.create_user("alice@example.com", "correct horse battery", json!({}));
    let login: Value =
        app.login(&client, "alice@example.com", "correct horse battery", &[]).await.json().await.unwrap();
    let access = login["access_token"].as_str().unwrap();
    let t1 = login["refresh_token"].as_str().unwrap();
    assert_eq!(call(&app, &api, access).await, 200);
    assert_eq!(app.refresh(&client, t1, &[]).await.status(), 200);
    assert_eq!(app.refresh(&client, t1, &[]).await.status(), 400, "reuse");
    // The feed is rebuilt at most once a second on jwtd's clock; the verifier polls it (here
    // explicitly, instead of waiting for its poll interval).
    app.clock.advance(1);
    feed.refresh().await.unwrap();
    assert_eq!(call(&app, &api, access).await, 401, "the thief's access token is refused");
    assert_eq!(call(&app, &api, &after).await, 200, "other tokens are not");
    handle.stop(true).await;
}

on_both_backends!(a_resource_server_refuses_a_deleted_clients_and_a_revoked_keys_tokens);

/// Through the feed (version 2), jwtd-verify refuses a user's token issued through a client that
/// was then deleted, and a token signed by a key revoked in an emergency while the verifier's
/// cached JWKS still holds that key.
async fn a_resource_server_refuses_a_deleted_clients_and_a_revoked_keys_tokens(backend: Backend) {
    let app = spawn_app(backend).await;
    let (feed, api, handle) = protected_api(&app).await;

    let client = app.register_app_client("read");
    app.create_user("alice@example.com", "correct horse battery", json!({}));
    let login: Value =
        app.login(&client, "alice@example.com", "correct horse battery", &[]).await.json().await.unwrap();
    let users_token = login["access_token"].as_str().unwrap();
    let service = app.register_client("read", &["https://api"], &["client_credentials"]);
    let service_token = app.token_of(&service).await;
    assert_eq!(call(&app, &api, users_token).await, 200);

    let admin = app.admin_token().await;
    let deleted = app.http.delete(app.url(&format!("/admin/clients/{}", client.id))).bearer_auth(&admin);
    assert_eq!(deleted.send().await.unwrap().status(), 204);
    app.clock.advance(1);
    feed.refresh().await.unwrap();
    assert_eq!(call(&app, &api, users_token).await, 401, "a token issued through the deleted client");
    assert_eq!(call(&app, &api, &service_token).await, 200, "another client's");

    // The current key is compromised: dropped from the JWKS at once, but this verifier fetched
    // the JWKS before and still holds the key; the feed (signed by the former next key, which
    // the verifier knows) tells it.
    let rotated = app.admin_post(&admin, "/admin/keys/rotate?revoke_current=true", None).await;
    assert_eq!(rotated.status(), 200);
    app.clock.advance(1);
    feed.refresh().await.unwrap();
    assert_eq!(call(&app, &api, &service_token).await, 401, "a token of the revoked key");
    let fresh = app.token_of(&service).await;
    assert_eq!(call(&app, &api, &fresh).await, 200, "a token of the new key");
    handle.stop(true).await;
}
