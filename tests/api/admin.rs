//! The admin API: its guard, its input checks, client management, the bootstrap client, audit.

use jwtd::clock::Clock;
use jwtd::keys::master::MasterKey;
use jwtd::keys::signing::{Algorithm, SigningKey};
use serde_json::{Value, json};

use crate::helpers::{Backend, ISSUER, assert_error, refuse_audit_events, spawn_app, spawn_app_on};
use crate::on_both_backends;

on_both_backends!(
    the_admin_guard_refuses_what_it_must,
    admin_tokens_stop_with_their_client_or_login,
    rotation_bodies_are_checked,
    clients_are_managed_through_the_admin_api,
    the_bootstrap_admin_client_is_created_once,
    the_admin_api_can_have_a_listener_of_its_own,
    admin_tokens_are_for_jwtd_alone_whatever_the_default_audience,
    an_admin_action_whose_audit_event_fails_changes_nothing,
    a_user_whose_audit_event_fails_is_not_created,
);

/// An admin action and its audit event commit together: when the event cannot be written, the
/// client is neither created (no secret exists that was never shown) nor deleted.
async fn an_admin_action_whose_audit_event_fails_changes_nothing(backend: Backend) {
    let app = spawn_app(backend).await;
    let token = app.admin_token().await;
    let service = app.register_client("read", &[], &["client_credentials"]);
    for kind in ["client.created", "client.deleted"] {
        refuse_audit_events(&app, backend, kind);
    }
    let before = jwtd::store::clients::list(&mut app.pool().get().unwrap()).unwrap().len();
    let created = app.admin_post(&token, "/admin/clients", Some(json!({"name": "half-made"}))).await;
    assert_eq!(created.status(), 503);
    let deleted = app.http.delete(app.url(&format!("/admin/clients/{}", service.id))).bearer_auth(&token);
    assert_eq!(deleted.send().await.unwrap().status(), 503);
    let after = jwtd::store::clients::list(&mut app.pool().get().unwrap()).unwrap();
    assert_eq!(after.len(), before, "no client created, none deleted");
    assert!(after.iter().any(|c| c.id == service.id));
    app.token_of(&service).await; // the client still works (200)
}

/// A user and its audit event commit together: when the event cannot be written, no user
/// exists whose creation the audit log does not show.
async fn a_user_whose_audit_event_fails_is_not_created(backend: Backend) {
    let app = spawn_app(backend).await;
    let token = app.admin_token().await;
    refuse_audit_events(&app, backend, "user.created");
    let user = json!({"email": "half@example.com", "password": "correct horse battery"});
    assert_eq!(app.admin_post(&token, "/admin/users", Some(user)).await.status(), 503);
    let users: Value = app.admin_get(&token, "/admin/users").await.json().await.unwrap();
    assert_eq!(users["users"], json!([]), "no user created");
}

/// `tokens.default_audience` names a resource server: a token carrying `jwtd:admin` is still for
/// jwtd alone (`aud` = the issuer), so the admin API takes it and no resource server would,
/// even for a client registered with audiences. Its other tokens keep the usual audience.
async fn admin_tokens_are_for_jwtd_alone_whatever_the_default_audience(backend: Backend) {
    let db = std::sync::Arc::new(crate::helpers::TestDb::new(backend));
    let extra = [("JWTD__TOKENS__DEFAULT_AUDIENCE", "https://api")];
    let app = spawn_app_on(db, &crate::helpers::new_master_key(), &extra).await;
    let aud =
        |token: &str| jsonwebtoken::dangerous::insecure_decode::<Value>(token).unwrap().claims["aud"].clone();
    let operator = app.register_client("jwtd:admin read", &[], &["client_credentials"]);
    let admin = app.token_of(&operator).await;
    assert_eq!(aud(&admin), json!(ISSUER));
    assert_eq!(app.admin_get(&admin, "/admin/keys").await.status(), 200);
    let read: Value = app.client_token(&operator, &[("scope", "read")]).await.json().await.unwrap();
    assert_eq!(aud(read["access_token"].as_str().unwrap()), json!("https://api"));
    let registered = app.register_client("jwtd:admin", &["https://api"], &["client_credentials"]);
    assert_eq!(aud(&app.token_of(&registered).await), json!(ISSUER));
}

async fn the_admin_api_can_have_a_listener_of_its_own(backend: Backend) {
    let db = std::sync::Arc::new(crate::helpers::TestDb::new(backend));
    let app =
        spawn_app_on(db, &crate::helpers::new_master_key(), &[("JWTD__ADMIN__ADDR", "127.0.0.1:0")]).await;
    let token = app.admin_token().await;
    let admin = app.admin_address.clone().unwrap();
    assert_ne!(admin, app.address);
    assert_error(app.admin_get(&token, "/admin/keys").await, 404, "not_found").await;
    let there = app.http.get(format!("{admin}/admin/keys")).bearer_auth(&token).send().await.unwrap();
    assert_eq!(there.status(), 200);
    let unauthenticated = app.http.get(format!("{admin}/admin/keys")).send().await.unwrap();
    assert_eq!(unauthenticated.status(), 401);
}

async fn assert_bearer(response: reqwest::Response, status: u16, challenge: &str) {
    let headers = response.headers().clone();
    assert_eq!(response.status(), status);
    assert_eq!(headers["www-authenticate"], challenge);
    assert_eq!(headers["content-type"], "application/json");
}

async fn the_admin_guard_refuses_what_it_must(backend: Backend) {
    let app = spawn_app(backend).await;
    let invalid = r#"Bearer realm="jwtd", error="invalid_token""#;

    let none = app.http.get(app.url("/admin/keys")).send().await.unwrap();
    assert_bearer(none, 401, r#"Bearer realm="jwtd""#).await;

    let service = app.register_client("read", &[], &["client_credentials"]);
    let no_scope = app.token_of(&service).await;
    let response = app.admin_get(&no_scope, "/admin/keys").await;
    assert_bearer(response, 403, r#"Bearer realm="jwtd", error="insufficient_scope", scope="jwtd:admin""#)
        .await;

    let admin_token = app.admin_token().await;
    assert_eq!(app.admin_get(&admin_token, "/admin/keys").await.status(), 200);

    // Expired (on jwtd's clock, past exp + leeway).
    app.clock.advance(15 * 60 + 61);
    assert_bearer(app.admin_get(&admin_token, "/admin/keys").await, 401, invalid).await;
    let admin_token = app.admin_token().await;

    // Tampered, truncated, other schemes, alg none.
    let mut parts: Vec<String> = admin_token.split('.').map(str::to_owned).collect();
    parts[2] = parts[2].chars().rev().collect();
    for bad in [parts.join("."), admin_token[..admin_token.len() - 10].to_owned(), "x.y.z".to_owned()] {
        assert_bearer(app.admin_get(&bad, "/admin/keys").await, 401, invalid).await;
    }
    let unsigned = format!(
        "{}.{}.",
        base64url(br#"{"alg":"none","typ":"at+jwt"}"#),
        admin_token.split('.').nth(1).unwrap()
    );
    assert_bearer(app.admin_get(&unsigned, "/admin/keys").await, 401, invalid).await;
    let basic = app.http.get(app.url("/admin/keys")).basic_auth("a", Some("b")).send().await.unwrap();
    assert_bearer(basic, 401, invalid).await;

    // Signed with jwtd's own current key, but for another issuer.
    let pool = jwtd::startup::open_pool(&app.settings()).unwrap();
    let rows = jwtd::store::keys::all(&mut pool.get().unwrap()).unwrap();
    let current = rows.iter().find(|k| k.state.as_str() == "current").unwrap();
    let master = MasterKey::from_base64(&app.master_key).unwrap();
    let pkcs8 =
        master.unseal(current.private_key_sealed.as_deref().unwrap(), current.kid.as_bytes()).unwrap();
    let key = SigningKey::from_pkcs8(current.kid.clone(), Algorithm::Rs256, &pkcs8).unwrap();
    let now = app.clock.now();
    let operator = app.register_client("jwtd:admin", &[], &["client_credentials"]);
    let forged = |iss: &str, typ: &str| {
        let claims = json!({"iss": iss, "sub": operator.id, "aud": ISSUER, "exp": now + 300, "iat": now,
                            "nbf": now, "jti": "j", "client_id": operator.id, "scope": "jwtd:admin"});
        key.sign_jwt(typ, &claims).unwrap()
    };
    assert_bearer(app.admin_get(&forged("http://evil.test", "at+jwt"), "/admin/keys").await, 401, invalid)
        .await;
    // An ID-token-like JWT (typ JWT) from the right issuer is not an access token either.
    assert_bearer(app.admin_get(&forged(ISSUER, "JWT"), "/admin/keys").await, 401, invalid).await;
    // The control: the same forgery with the right issuer and type passes, so the two above
    // failed for the reason they name.
    assert_eq!(app.admin_get(&forged(ISSUER, "at+jwt"), "/admin/keys").await.status(), 200);
}

/// A valid `jwtd:admin` token stops working the moment its client is deleted, or, for a user's
/// token, its login is revoked: not at its expiry (up to a day away, by configuration).
async fn admin_tokens_stop_with_their_client_or_login(backend: Backend) {
    let app = spawn_app(backend).await;
    let invalid = r#"Bearer realm="jwtd", error="invalid_token""#;
    let operator = app.admin_token().await;
    let doomed = app.register_client("jwtd:admin", &[], &["client_credentials"]);
    let doomed_token = app.token_of(&doomed).await;
    assert_eq!(app.admin_get(&doomed_token, "/admin/keys").await.status(), 200);
    let url = app.url(&format!("/admin/clients/{}", doomed.id));
    assert!(app.http.delete(url).bearer_auth(&operator).send().await.unwrap().status().is_success());
    assert_bearer(app.admin_get(&doomed_token, "/admin/keys").await, 401, invalid).await;

    let console = app.register_client("jwtd:admin", &[], &["password", "refresh_token"]);
    app.create_user("root@example.com", "correct horse battery", json!({}));
    let login: Value =
        app.login(&console, "root@example.com", "correct horse battery", &[]).await.json().await.unwrap();
    let user_token = login["access_token"].as_str().unwrap();
    assert_eq!(app.admin_get(user_token, "/admin/keys").await.status(), 200);
    let refresh_token = [("token", login["refresh_token"].as_str().unwrap())];
    assert_eq!(app.client_post(&console, "/oauth2/revoke", &refresh_token).await.status(), 200);
    assert_bearer(app.admin_get(user_token, "/admin/keys").await, 401, invalid).await;
}

fn base64url(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

async fn rotation_bodies_are_checked(backend: Backend) {
    let app = spawn_app(backend).await;
    let token = app.admin_token().await;
    for body in [
        json!({"alg": "none"}),
        json!({"alg": "NoNe"}),
        json!({"alg": "HS256"}),
        json!({"bits": 512}),
        json!({"bits": 1024}),
        json!({"alg": "ES256", "bits": 2048}),
        json!({"algorithm": "RS256"}),
        json!({"alg": 5}),
        json!([]),
    ] {
        let response = app.admin_post(&token, "/admin/keys/rotate", Some(body.clone())).await;
        assert_error(response, 400, "invalid_request").await;
    }
    let garbage = app
        .http
        .post(app.url("/admin/keys/rotate"))
        .bearer_auth(&token)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_error(garbage, 400, "invalid_request").await;
    let query = app
        .http
        .post(app.url("/admin/keys/rotate?revoke_current=maybe"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_error(query, 400, "invalid_request").await;
    let retire_current = app.admin_get(&token, "/admin/keys").await.json::<Value>().await.unwrap();
    let current =
        retire_current["keys"].as_array().unwrap().iter().find(|k| k["state"] == "current").unwrap();
    let path = format!("/admin/keys/{}/retire", current["kid"].as_str().unwrap());
    assert_error(app.admin_post(&token, &path, None).await, 409, "key_is_current").await;
    assert_error(app.admin_post(&token, "/admin/keys/nope/retire", None).await, 404, "not_found").await;
    // Nothing above changed the keys.
    let after = app.admin_get(&token, "/admin/keys").await.json::<Value>().await.unwrap();
    assert_eq!(after, retire_current);
}

async fn clients_are_managed_through_the_admin_api(backend: Backend) {
    let app = spawn_app(backend).await;
    let admin = app.register_client("jwtd:admin", &[], &["client_credentials"]);
    let token = app.token_of(&admin).await;
    let created = app
        .admin_post(
            &token,
            "/admin/clients",
            Some(json!({"name": "billing", "scope": "invoices:read", "audiences": ["https://api"]})),
        )
        .await;
    assert_eq!(created.status(), 201);
    assert_eq!(created.headers()["cache-control"], "no-store");
    let created: Value = created.json().await.unwrap();
    let id = created["client_id"].as_str().unwrap().to_owned();
    let secret = created["client_secret"].as_str().unwrap().to_owned();
    assert_eq!(created["grant_types"], json!(["client_credentials"]));
    let client = crate::helpers::TestClient { id: id.clone(), secret: secret.clone() };
    assert_eq!(app.client_token(&client, &[]).await.status(), 200);

    let shown: Value = app.admin_get(&token, &format!("/admin/clients/{id}")).await.json().await.unwrap();
    assert_eq!(shown["name"], "billing");
    assert!(shown.get("client_secret").is_none());
    let listed: Value = app.admin_get(&token, "/admin/clients").await.json().await.unwrap();
    assert!(!listed.to_string().contains(&secret));
    // The bootstrap client, the admin client and this one.
    assert_eq!(listed["clients"].as_array().unwrap().len(), 3);
    assert!(listed["clients"].as_array().unwrap().iter().any(|c| c["client_id"] == id.as_str()));

    let rotated: Value =
        app.admin_post(&token, &format!("/admin/clients/{id}/secret"), None).await.json().await.unwrap();
    let new_secret = rotated["client_secret"].as_str().unwrap().to_owned();
    assert_ne!(new_secret, secret);
    assert_error(app.client_token(&client, &[]).await, 401, "invalid_client").await;
    let client = crate::helpers::TestClient { id: id.clone(), secret: new_secret };
    assert_eq!(app.client_token(&client, &[]).await.status(), 200);

    for bad in [
        json!({"name": ""}),
        json!({"name": "x", "grant_types": ["implicit"]}),
        json!({"name": "x", "extra": 1}),
    ] {
        assert_error(app.admin_post(&token, "/admin/clients", Some(bad)).await, 400, "invalid_request").await;
    }

    let deleted =
        app.http.delete(app.url(&format!("/admin/clients/{id}"))).bearer_auth(&token).send().await.unwrap();
    assert_eq!(deleted.status(), 204);
    assert_error(app.client_token(&client, &[]).await, 401, "invalid_client").await;
    assert_error(app.admin_get(&token, &format!("/admin/clients/{id}")).await, 404, "not_found").await;

    let pool = jwtd::startup::open_pool(&app.settings()).unwrap();
    let events = jwtd::store::audit::recent(&mut pool.get().unwrap(), 10).unwrap();
    let ours: Vec<_> = events.iter().filter(|e| e.subject.as_deref() == Some(id.as_str())).collect();
    let kinds: Vec<&str> = ours.iter().rev().map(|e| e.kind.as_str()).collect();
    assert_eq!(kinds, ["client.created", "client.secret_rotated", "client.deleted"]);
    assert!(
        ours.iter()
            .all(|e| e.actor.as_deref() == Some(admin.id.as_str()) && e.ip.as_deref() == Some("127.0.0.1"))
    );
    assert!(!events.iter().any(|e| e.detail.contains(&secret)));
}

async fn the_bootstrap_admin_client_is_created_once(backend: Backend) {
    let app = spawn_app(backend).await;
    let path = app.db.dir().join("data").join("bootstrap-admin.json");
    let written = std::fs::read(&path).unwrap();
    let creds: Value = serde_json::from_slice(&written).unwrap();
    let client = crate::helpers::TestClient {
        id: creds["client_id"].as_str().unwrap().to_owned(),
        secret: creds["client_secret"].as_str().unwrap().to_owned(),
    };
    let token = app.token_of(&client).await;
    assert_eq!(app.admin_get(&token, "/admin/keys").await.status(), 200);

    let master_key = app.master_key.clone();
    let db = app.stop().await;
    let app = spawn_app_on(db, &master_key, &[]).await;
    assert_eq!(std::fs::read(&path).unwrap(), written, "rewritten on restart");
    let token = app.token_of(&client).await;
    let listed: Value = app.admin_get(&token, "/admin/clients").await.json().await.unwrap();
    let admins = listed["clients"].as_array().unwrap().iter().filter(|c| c["scope"] == "jwtd:admin").count();
    assert_eq!(admins, 1);
}
