//! Refresh families: rotation, reuse detection, grace window, lifetimes, restarts, concurrency,
//! cookie mode, revocation, introspection, cross-client use, binding, purge, and the feed.

use std::sync::Arc;

use jwtd::clock::Clock;
use serde_json::{Value, json};

use crate::helpers::{
    Backend, TestApp, TestClient, TestDb, assert_error, new_master_key, spawn_app, spawn_app_on,
    spawn_app_with,
};
use crate::on_both_backends;

on_both_backends!(
    every_refresh_rotates_and_a_replay_revokes_the_family,
    a_replay_of_the_last_rotated_token_records_its_first_use,
    families_of_row_tokens_keep_rotating_and_detecting_replays,
    a_forged_older_generation_revokes_nothing,
    during_a_rolling_upgrade_logins_can_get_row_tokens,
    a_replay_within_the_grace_window_gets_the_same_successor,
    a_grace_replay_gets_no_more_than_the_first_request,
    rotation_never_extends_the_family_lifetime,
    reuse_is_detected_across_a_restart,
    simultaneous_refreshes_of_one_token_have_one_winner,
    browser_clients_get_the_refresh_token_in_a_cookie,
    revocation_and_introspection,
    client_credentials_tokens_expire_rather_than_revoke,
    another_clients_refresh_token_is_refused_and_revoked,
    introspection_shows_other_clients_tokens_only_with_a_permission,
    a_deleted_clients_tokens_stop_everywhere,
    the_feed_lists_a_revocation_as_long_as_a_verifier_may_accept_its_tokens,
    an_access_token_never_outlives_its_login,
    refresh_may_narrow_but_not_widen_the_scope,
    binding_audits_or_enforces_the_user_agent,
    the_revocation_feed_lists_revoked_families_and_subjects,
);

const PASSWORD: &str = "correct horse battery";

/// A user logged in through an app client: (client, first refresh token, access token).
async fn logged_in(app: &TestApp, scope: &str) -> (TestClient, String, String) {
    let client = app.register_app_client(scope);
    app.create_user("alice@example.com", PASSWORD, json!({}));
    let body: Value = app.login(&client, "alice@example.com", PASSWORD, &[]).await.json().await.unwrap();
    (
        client,
        body["refresh_token"].as_str().unwrap().to_owned(),
        body["access_token"].as_str().unwrap().to_owned(),
    )
}

async fn refreshed(app: &TestApp, client: &TestClient, token: &str) -> Value {
    let response = app.refresh(client, token, &[]).await;
    assert_eq!(response.status(), 200, "refresh refused");
    response.json().await.unwrap()
}

/// Refreshing `token` as `client` is refused with RFC 6749's `invalid_grant`.
async fn refused(app: &TestApp, client: &TestClient, token: &str) {
    assert_error(app.refresh(client, token, &[]).await, 400, "invalid_grant").await;
}

fn sid_of(access_token: &str) -> String {
    jsonwebtoken::dangerous::insecure_decode::<Value>(access_token).unwrap().claims["sid"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn every_refresh_rotates_and_a_replay_revokes_the_family(backend: Backend) {
    let app = spawn_app(backend).await;
    let (client, t1, access) = logged_in(&app, "read").await;
    let sid = sid_of(&access);
    let second = refreshed(&app, &client, &t1).await;
    let t2 = second["refresh_token"].as_str().unwrap().to_owned();
    assert_ne!(t2, t1);
    assert_eq!(sid_of(second["access_token"].as_str().unwrap()), sid, "same family");
    let third = refreshed(&app, &client, &t2).await;
    let t3 = third["refresh_token"].as_str().unwrap().to_owned();

    // One row per family, holding only the hash of its newest token; no token row at all.
    let mut conn = app.pool().get().unwrap();
    let (_, head, _) = jwtd::store::family_heads::find(&mut conn, &sid).unwrap().unwrap();
    let hash_of = |t: &str| jwtd::tokens::refresh::RefreshToken::parse(t).unwrap().hash();
    assert_eq!(head.head_hash, Some(hash_of(&t3)));
    assert_eq!(head.generation, Some(3));
    for token in [&t1, &t2, &t3] {
        assert!(jwtd::store::refresh::find_token(&mut conn, &hash_of(token)).unwrap().is_none());
    }
    drop(conn);

    // The thief replays t1: refused, and the family dies, so the newest token fails too.
    refused(&app, &client, &t1).await;
    refused(&app, &client, &t3).await;
    let introspected: Value = app
        .client_post(&client, "/oauth2/introspect", &[("token", third["access_token"].as_str().unwrap())])
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(introspected, json!({"active": false}));

    let events = jwtd::store::audit::recent(&mut app.pool().get().unwrap(), 20).unwrap();
    let reuse = events.iter().find(|e| e.kind == "refresh.revoked.reuse").expect("a reuse audit event");
    assert_eq!(reuse.subject.as_deref(), Some(sid.as_str()));
    let detail: Value = serde_json::from_str(&reuse.detail).unwrap();
    assert_eq!(detail["generation"], 1, "{detail}");
    assert!(detail["second_use"]["at"].is_i64(), "{detail}");
    assert_eq!(detail["second_use"]["ip"], "127.0.0.1");
    assert!(!reuse.detail.contains(&t1), "the token itself is never logged");

    let family = jwtd::store::refresh::find_family(&mut app.pool().get().unwrap(), &sid).unwrap().unwrap();
    assert_eq!(family.revoked_reason.as_deref(), Some("reuse"));
}

/// The parent of the head, replayed: the audit event tells when and from where it was used first.
async fn a_replay_of_the_last_rotated_token_records_its_first_use(backend: Backend) {
    let app = spawn_app(backend).await;
    let (client, t1, access) = logged_in(&app, "read").await;
    refreshed(&app, &client, &t1).await;
    app.clock.advance(7);
    refused(&app, &client, &t1).await;
    let events = jwtd::store::audit::recent(&mut app.pool().get().unwrap(), 20).unwrap();
    let reuse = events.iter().find(|e| e.kind == "refresh.revoked.reuse").expect("a reuse audit event");
    assert_eq!(reuse.subject.as_deref(), Some(sid_of(&access).as_str()));
    let detail: Value = serde_json::from_str(&reuse.detail).unwrap();
    let first = detail["first_use"]["at"].as_i64().unwrap();
    assert_eq!(detail["second_use"]["at"].as_i64().unwrap() - first, 7, "{detail}");
    assert_eq!(detail["first_use"]["ip"], "127.0.0.1");
}

/// A family started before family tokens (one `refresh_tokens` row per token) keeps working
/// until it ends: it rotates with row tokens, a replay revokes it, and revocation and
/// introspection find it by its token's row.
async fn families_of_row_tokens_keep_rotating_and_detecting_replays(backend: Backend) {
    use jwtd::store::refresh::{NewFamily, NewToken, find_family, insert_family, insert_token, token_count};
    let app = spawn_app(backend).await;
    let client = app.register_app_client("read");
    let user = app.create_user("alice@example.com", PASSWORD, json!({}));
    let now = app.clock.now();
    let first = jwtd::tokens::refresh::RefreshToken::generate_row_token().unwrap();
    let family = NewFamily {
        id: "a-family-of-row-tokens",
        user_id: &user.id,
        client_id: &client.id,
        scope: "read",
        created_at: now,
        expires_at: now + 86_400,
        created_ip: None,
        created_user_agent: None,
        session_id: None,
        auth_time: Some(now),
        resources: "",
        dpop_jkt: None,
        head_hash: None,
        generation: None,
        head_expires_at: None,
    };
    let token = NewToken {
        token_hash: &first.hash(),
        family_id: family.id,
        generation: 1,
        issued_at: now,
        expires_at: now + 3600,
        ip: None,
        user_agent: None,
    };
    let pool = app.pool();
    insert_family(&mut pool.get().unwrap(), &family).unwrap();
    insert_token(&mut pool.get().unwrap(), &token).unwrap();

    let second = refreshed(&app, &client, first.expose()).await;
    let t2 = second["refresh_token"].as_str().unwrap().to_owned();
    assert_eq!(t2.len(), first.expose().len(), "a row token's successor is a row token");
    assert_eq!(sid_of(second["access_token"].as_str().unwrap()), family.id);
    assert_eq!(token_count(&mut pool.get().unwrap(), family.id).unwrap(), 2);
    let introspected: Value =
        app.client_post(&client, "/oauth2/introspect", &[("token", &t2)]).await.json().await.unwrap();
    assert_eq!((&introspected["active"], &introspected["sid"]), (&json!(true), &json!(family.id)));

    refused(&app, &client, first.expose()).await;
    refused(&app, &client, &t2).await;
    let revoked = find_family(&mut pool.get().unwrap(), family.id).unwrap().unwrap();
    assert_eq!(revoked.revoked_reason.as_deref(), Some("reuse"));
}

/// A rolling upgrade from instances older than family tokens: with `refresh.token_format = "row"`
/// logins get row tokens, which every instance reads, and an instance issuing family tokens
/// rotates such a family with row tokens to its end.
async fn during_a_rolling_upgrade_logins_can_get_row_tokens(backend: Backend) {
    let db = Arc::new(TestDb::new(backend));
    let key = new_master_key();
    let upgrading = spawn_app_on(Arc::clone(&db), &key, &[("JWTD__REFRESH__TOKEN_FORMAT", "row")]).await;
    let upgraded = spawn_app_with(Arc::clone(&db), &key, &[], Arc::clone(&upgrading.clock)).await;
    let (client, t1, access) = logged_in(&upgrading, "read").await;
    let row_token_len = "jwtd_rt_".len() + 43;
    assert_eq!(t1.len(), row_token_len);
    let t2 = refreshed(&upgraded, &client, &t1).await["refresh_token"].as_str().unwrap().to_owned();
    assert_eq!(t2.len(), row_token_len, "the family goes on with row tokens");
    let sid = sid_of(&access);
    assert_eq!(jwtd::store::refresh::token_count(&mut upgraded.pool().get().unwrap(), &sid).unwrap(), 2);
    refused(&upgrading, &client, &t1).await;
    refused(&upgraded, &client, &t2).await;

    let body: Value = upgraded.login(&client, "alice@example.com", PASSWORD, &[]).await.json().await.unwrap();
    let family_token = body["refresh_token"].as_str().unwrap();
    assert_eq!(family_token.len(), "jwtd_rt_".len() + 96, "a login where the format is family");
    refreshed(&upgraded, &client, family_token).await;
}

/// Knowing a family's id (every access token's `sid`) is not enough to end it: a token of an
/// older generation that jwtd never issued is unknown, and the family goes on.
async fn a_forged_older_generation_revokes_nothing(backend: Backend) {
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let app = spawn_app(backend).await;
    let (client, t1, access) = logged_in(&app, "read").await;
    let t2 = refreshed(&app, &client, &t1).await["refresh_token"].as_str().unwrap().to_owned();
    // t2 with its generation set back to 1: the family's id, a generation it had, a wrong tag.
    let mut bytes = URL_SAFE_NO_PAD.decode(t2.strip_prefix("jwtd_rt_").unwrap()).unwrap();
    bytes[16..24].copy_from_slice(&1u64.to_be_bytes());
    let forged = format!("jwtd_rt_{}", URL_SAFE_NO_PAD.encode(&bytes));
    refused(&app, &client, &forged).await;
    let revoke = app.client_post(&client, "/oauth2/revoke", &[("token", &forged)]).await;
    assert_eq!(revoke.status(), 200, "RFC 7009: an unknown token is no error");
    let family = jwtd::store::refresh::find_family(&mut app.pool().get().unwrap(), &sid_of(&access)).unwrap();
    assert_eq!(family.unwrap().revoked_at, None, "nothing revoked");
    refreshed(&app, &client, &t2).await;
}

async fn a_replay_within_the_grace_window_gets_the_same_successor(backend: Backend) {
    let db = Arc::new(TestDb::new(backend));
    let app = spawn_app_on(db, &new_master_key(), &[("JWTD__REFRESH__REUSE_GRACE", "10s")]).await;
    let (client, t1, _) = logged_in(&app, "read").await;
    let t2 = refreshed(&app, &client, &t1).await["refresh_token"].as_str().unwrap().to_owned();
    app.clock.advance(5);
    let retried = refreshed(&app, &client, &t1).await;
    assert_eq!(retried["refresh_token"], t2.as_str(), "the same successor, no fork");
    let t3 = refreshed(&app, &client, &t2).await["refresh_token"].as_str().unwrap().to_owned();
    // t1's successor is used now: replaying t1 is reuse, grace or not.
    refused(&app, &client, &t1).await;
    refused(&app, &client, &t3).await;

    // Outside the window a replay revokes.
    let (client, u1, _) = {
        let body: Value = app.login(&client, "alice@example.com", PASSWORD, &[]).await.json().await.unwrap();
        (client, body["refresh_token"].as_str().unwrap().to_owned(), ())
    };
    let u2 = refreshed(&app, &client, &u1).await["refresh_token"].as_str().unwrap().to_owned();
    app.clock.advance(11);
    refused(&app, &client, &u1).await;
    refused(&app, &client, &u2).await;
}

/// A retry within the grace window passes the checks the first request passed: it cannot widen
/// the scope (a user refreshing with `scope=jwtd:admin` got it), nor, with binding enforced, come
/// from another User-Agent.
async fn a_grace_replay_gets_no_more_than_the_first_request(backend: Backend) {
    let db = Arc::new(TestDb::new(backend));
    let grace = ("JWTD__REFRESH__REUSE_GRACE", "10s");
    let app = spawn_app_on(db, &new_master_key(), &[grace, ("JWTD__REFRESH__BINDING", "enforce")]).await;
    let client = app.register_app_client("read write");
    app.create_user("alice@example.com", PASSWORD, json!({}));
    let body: Value =
        app.login(&client, "alice@example.com", PASSWORD, &[("scope", "read")]).await.json().await.unwrap();
    let t1 = body["refresh_token"].as_str().unwrap().to_owned();
    let t2 = refreshed(&app, &client, &t1).await["refresh_token"].as_str().unwrap().to_owned();
    app.clock.advance(5);
    for wider in ["jwtd:admin", "read write"] {
        assert_error(app.refresh(&client, &t1, &[("scope", wider)]).await, 400, "invalid_scope").await;
    }
    // The refused retries changed nothing: a plain retry still gets t2, with the login's scope.
    let retried = refreshed(&app, &client, &t1).await;
    assert_eq!(retried["refresh_token"], t2.as_str());
    assert_eq!(retried["scope"], "read");

    // From another User-Agent the retry is refused and the family revoked, as a first request
    // from there would be.
    let elsewhere = app
        .http
        .post(app.url("/oauth2/token"))
        .basic_auth(&client.id, Some(&client.secret))
        .header("user-agent", "curl/8.0 (the thief)")
        .form(&[("grant_type", "refresh_token"), ("refresh_token", t1.as_str())])
        .send()
        .await
        .unwrap();
    assert_error(elsewhere, 400, "invalid_grant").await;
    refused(&app, &client, &t2).await;
}

async fn rotation_never_extends_the_family_lifetime(backend: Backend) {
    let db = Arc::new(TestDb::new(backend));
    let settings = [("JWTD__REFRESH__IDLE_TTL", "30m"), ("JWTD__REFRESH__ABSOLUTE_TTL", "1h")];
    let app = spawn_app_on(db, &new_master_key(), &settings).await;
    let (client, mut token, _) = logged_in(&app, "read").await;
    for _ in 0..2 {
        app.clock.advance(25 * 60);
        token = refreshed(&app, &client, &token).await["refresh_token"].as_str().unwrap().to_owned();
    }
    // 50 minutes in; the token is 0 minutes idle but the family ends at 60.
    app.clock.advance(11 * 60);
    refused(&app, &client, &token).await;

    // Idle: a token unused past idle_ttl fails.
    let body: Value = app.login(&client, "alice@example.com", PASSWORD, &[]).await.json().await.unwrap();
    app.clock.advance(31 * 60);
    refused(&app, &client, body["refresh_token"].as_str().unwrap()).await;
}

async fn reuse_is_detected_across_a_restart(backend: Backend) {
    let app = spawn_app(backend).await;
    let (client, t1, _) = logged_in(&app, "read").await;
    let t2 = refreshed(&app, &client, &t1).await["refresh_token"].as_str().unwrap().to_owned();
    let key = app.master_key.clone();
    let db = app.stop().await;
    let app = spawn_app_on(db, &key, &[]).await;
    refused(&app, &client, &t1).await;
    refused(&app, &client, &t2).await;
}

async fn simultaneous_refreshes_of_one_token_have_one_winner(backend: Backend) {
    let db = Arc::new(TestDb::new(backend));
    let key = new_master_key();
    let a = spawn_app_on(Arc::clone(&db), &key, &[]).await;
    let b = spawn_app_with(Arc::clone(&db), &key, &[], Arc::clone(&a.clock)).await;
    let (client, token, access) = logged_in(&a, "read").await;
    let attempts = 200;
    let requests: Vec<_> = (0..attempts)
        .map(|i| if i % 2 == 0 { a.refresh(&client, &token, &[]) } else { b.refresh(&client, &token, &[]) })
        .collect();
    let statuses: Vec<u16> =
        crate::rotation::join_all(requests).await.iter().map(|r| r.status().as_u16()).collect();
    let ok = statuses.iter().filter(|s| **s == 200).count();
    assert_eq!(ok, 1, "exactly one winner: {statuses:?}");
    assert!(statuses.iter().all(|s| *s == 200 || *s == 400), "no 5xx: {statuses:?}");
    let found = jwtd::store::family_heads::find(&mut a.pool().get().unwrap(), &sid_of(&access)).unwrap();
    assert_eq!(found.unwrap().1.generation, Some(2), "the first token and exactly one successor");
}

async fn browser_clients_get_the_refresh_token_in_a_cookie(backend: Backend) {
    let app = spawn_app(backend).await;
    let admin = app.admin_token().await;
    let created: Value = app
        .admin_post(&admin, "/admin/clients", Some(json!({"name": "spa", "scope": "read", "grant_types": ["password", "refresh_token"], "refresh_cookie": true})))
        .await
        .json()
        .await
        .unwrap();
    let client = TestClient {
        id: created["client_id"].as_str().unwrap().into(),
        secret: created["client_secret"].as_str().unwrap().into(),
    };
    app.create_user("alice@example.com", PASSWORD, json!({}));
    let response = app.login(&client, "alice@example.com", PASSWORD, &[]).await;
    let cookie = response.headers()["set-cookie"].to_str().unwrap().to_owned();
    let name = format!("__Host-jwtd_rt_{}=jwtd_rt_", client.id);
    for attribute in [name.as_str(), "HttpOnly", "Secure", "SameSite=Strict", "Path=/", "Max-Age="] {
        assert!(cookie.contains(attribute), "{attribute} missing from {cookie}");
    }
    let body: Value = response.json().await.unwrap();
    assert!(body.get("refresh_token").is_none(), "not in the body as well");
    let value = cookie.split(';').next().unwrap().to_owned();
    let refreshed = app
        .http
        .post(app.url("/oauth2/token"))
        .basic_auth(&client.id, Some(&client.secret))
        .header("cookie", &value)
        .form(&[("grant_type", "refresh_token")])
        .send()
        .await
        .unwrap();
    assert_eq!(refreshed.status(), 200);
    let next = refreshed.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert_ne!(next.split(';').next().unwrap(), value);
    // The old cookie is now a used token: replaying it revokes.
    let replay = app
        .http
        .post(app.url("/oauth2/token"))
        .basic_auth(&client.id, Some(&client.secret))
        .header("cookie", &value)
        .form(&[("grant_type", "refresh_token")])
        .send()
        .await
        .unwrap();
    assert_error(replay, 400, "invalid_grant").await;
}

async fn revocation_and_introspection(backend: Backend) {
    let app = spawn_app(backend).await;
    let (client, token, access) = logged_in(&app, "read").await;
    let other = app.register_app_client("read");

    let mine: Value =
        app.client_post(&client, "/oauth2/introspect", &[("token", &token)]).await.json().await.unwrap();
    assert_eq!(mine["active"], true);
    assert_eq!(mine["client_id"], client.id.as_str());
    assert_eq!(mine["token_type"], "refresh_token");
    let theirs: Value =
        app.client_post(&other, "/oauth2/introspect", &[("token", &token)]).await.json().await.unwrap();
    assert_eq!(theirs, json!({"active": false}));
    let at = app.introspect(&client, &access).await;
    assert_eq!(at["active"], true);
    assert_eq!(at["sid"], sid_of(&access).as_str());
    assert_eq!(app.introspect(&other, &access).await, json!({"active": false}), "another client's");
    // Garbage, an unknown row token, a family token nobody issued, and a JWT under an unknown kid.
    let forged_family_token = format!("jwtd_rt_{}", "A".repeat(96));
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
    header.kid = Some("no-such-kid".into());
    let key = jsonwebtoken::EncodingKey::from_secret(b"not jwtd's").unwrap();
    let unknown_kid = jsonwebtoken::encode(
        &header,
        &jsonwebtoken::dangerous::insecure_decode::<Value>(&access).unwrap().claims,
        &key,
    )
    .unwrap();
    for garbage in [
        "nope",
        "jwtd_rt_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        &forged_family_token,
        "a.b.c",
        &unknown_kid,
    ] {
        let response = app.client_post(&client, "/oauth2/introspect", &[("token", garbage)]).await;
        assert_eq!(response.status(), 200, "{garbage}");
        assert_eq!(response.json::<Value>().await.unwrap(), json!({"active": false}), "{garbage}");
    }
    assert_error(app.post_form("/oauth2/introspect", &[("token", &token)]).await, 401, "invalid_client")
        .await;

    // Another client's revocation is refused (RFC 7009 §2.1) and changes nothing.
    assert_error(
        app.client_post(&other, "/oauth2/revoke", &[("token", &token)]).await,
        400,
        "unauthorized_client",
    )
    .await;
    assert_error(
        app.client_post(&other, "/oauth2/revoke", &[("token", &access)]).await,
        400,
        "unauthorized_client",
    )
    .await;
    let still: Value =
        app.client_post(&client, "/oauth2/introspect", &[("token", &token)]).await.json().await.unwrap();
    assert_eq!(still["active"], true);
    // Unknown tokens: 200.
    assert_eq!(app.client_post(&client, "/oauth2/revoke", &[("token", "whatever")]).await.status(), 200);
    // The owner revokes (logout): the family is gone.
    assert_eq!(
        app.client_post(
            &client,
            "/oauth2/revoke",
            &[("token", &token), ("token_type_hint", "refresh_token")]
        )
        .await
        .status(),
        200
    );
    refused(&app, &client, &token).await;
    let after: Value =
        app.client_post(&client, "/oauth2/introspect", &[("token", &access)]).await.json().await.unwrap();
    assert_eq!(after, json!({"active": false}));

    // Revoking by access token (its sid) works too.
    let body: Value = app.login(&client, "alice@example.com", PASSWORD, &[]).await.json().await.unwrap();
    assert_eq!(
        app.client_post(&client, "/oauth2/revoke", &[("token", body["access_token"].as_str().unwrap())])
            .await
            .status(),
        200
    );
    refused(&app, &client, body["refresh_token"].as_str().unwrap()).await;
}

/// A `client_credentials` access token belongs to no family: its client cannot revoke it (RFC
/// 7009 §2.2.1 says so rather than a 200 that would claim it was), and introspection calls it
/// inactive the moment it expires, without the resource servers' clock leeway (RFC 7662 §4).
async fn client_credentials_tokens_expire_rather_than_revoke(backend: Backend) {
    let app = spawn_app(backend).await;
    let service = app.register_client("read", &[], &["client_credentials"]);
    let other = app.register_client("read", &[], &["client_credentials"]);
    let token = app.token_of(&service).await;

    let revoked = app.client_post(&service, "/oauth2/revoke", &[("token", &token)]).await;
    assert_error(revoked, 400, "unsupported_token_type").await;
    // Another client's token is none of its business: refused (RFC 7009 §2.1).
    assert_error(
        app.client_post(&other, "/oauth2/revoke", &[("token", &token)]).await,
        400,
        "unauthorized_client",
    )
    .await;
    let active: Value =
        app.client_post(&service, "/oauth2/introspect", &[("token", &token)]).await.json().await.unwrap();
    assert_eq!(active["active"], true);
    let expires_at = active["exp"].as_i64().unwrap();

    app.clock.advance(expires_at - 1 - app.clock.now());
    let last_second: Value =
        app.client_post(&service, "/oauth2/introspect", &[("token", &token)]).await.json().await.unwrap();
    assert_eq!(last_second["active"], true);
    app.clock.advance(1);
    let expired: Value =
        app.client_post(&service, "/oauth2/introspect", &[("token", &token)]).await.json().await.unwrap();
    assert_eq!(expired, json!({"active": false}));
}

async fn another_clients_refresh_token_is_refused_and_revoked(backend: Backend) {
    let app = spawn_app(backend).await;
    let (client, token, _) = logged_in(&app, "read").await;
    let thief = app.register_app_client("read");
    refused(&app, &thief, &token).await;
    refused(&app, &client, &token).await;
}

async fn refresh_may_narrow_but_not_widen_the_scope(backend: Backend) {
    let app = spawn_app(backend).await;
    let client = app.register_app_client("read write");
    app.create_user("alice@example.com", PASSWORD, json!({}));
    let body: Value =
        app.login(&client, "alice@example.com", PASSWORD, &[("scope", "read")]).await.json().await.unwrap();
    let token = body["refresh_token"].as_str().unwrap();
    assert_error(app.refresh(&client, token, &[("scope", "read write")]).await, 400, "invalid_scope").await;
    // The refused request consumed nothing: the token still works, and narrowing is fine.
    let narrowed: Value = app.refresh(&client, token, &[("scope", "read")]).await.json().await.unwrap();
    assert_eq!(narrowed["scope"], "read");
}

async fn binding_audits_or_enforces_the_user_agent(backend: Backend) {
    for (policy, expected) in [("audit", 200), ("enforce", 400)] {
        let db = Arc::new(TestDb::new(backend));
        let app = spawn_app_on(db, &new_master_key(), &[("JWTD__REFRESH__BINDING", policy)]).await;
        let (client, token, _) = logged_in(&app, "read").await;
        let elsewhere = app
            .http
            .post(app.url("/oauth2/token"))
            .basic_auth(&client.id, Some(&client.secret))
            .header("user-agent", "curl/8.0 (the thief)")
            .form(&[("grant_type", "refresh_token"), ("refresh_token", &token)])
            .send()
            .await
            .unwrap();
        assert_eq!(elsewhere.status(), expected, "{policy}");
        let events = jwtd::store::audit::recent(&mut app.pool().get().unwrap(), 10).unwrap();
        let kinds: Vec<&str> = events.iter().map(|e| e.kind.as_str()).collect();
        let expected_kind =
            if policy == "audit" { "refresh.binding_mismatch" } else { "refresh.revoked.binding" };
        assert!(kinds.contains(&expected_kind), "{policy}: {kinds:?}");
    }
}

async fn the_revocation_feed_lists_revoked_families_and_subjects(backend: Backend) {
    let app = spawn_app(backend).await;
    let (client, t1, access) = logged_in(&app, "read").await;
    let sid = sid_of(&access);
    let feed = |app: &TestApp| {
        let url = app.url("/revocations");
        let http = app.http.clone();
        async move { http.get(url).send().await.unwrap() }
    };
    let first = feed(&app).await;
    assert_eq!(first.headers()["content-type"], "application/jwt");
    assert_eq!(first.headers()["cache-control"], "public, max-age=5");
    let etag = first.headers()["etag"].to_str().unwrap().to_owned();
    let jws = first.text().await.unwrap();
    let payload = verified_feed(&app, &jws).await;
    assert_eq!(payload["sids"], json!([]));
    let unchanged =
        app.http.get(app.url("/revocations")).header("if-none-match", &etag).send().await.unwrap();
    assert_eq!(unchanged.status(), 304);

    // Reuse detection revokes the family: the feed lists it.
    let t2 = refreshed(&app, &client, &t1).await["refresh_token"].as_str().unwrap().to_owned();
    refused(&app, &client, &t1).await;
    app.clock.advance(1);
    let payload = verified_feed(&app, &feed(&app).await.text().await.unwrap()).await;
    assert_eq!(payload["sids"], json!([sid]));
    assert_eq!(payload["iss"], crate::helpers::ISSUER);
    assert_eq!(payload["window"], 15 * 60 + 60);
    assert_eq!(payload["ver"], 2);
    assert_eq!((&payload["clients"], &payload["kids"]), (&json!({}), &json!([])));
    drop(t2);

    // Revoking every session of a user publishes a subject not-before.
    let admin = app.admin_token().await;
    let user = jwtd::store::users::find_by_email(&mut app.pool().get().unwrap(), "alice@example.com")
        .unwrap()
        .unwrap();
    app.admin_post(&admin, &format!("/admin/users/{}/revoke-sessions", user.id), None).await;
    app.clock.advance(1);
    let payload = verified_feed(&app, &feed(&app).await.text().await.unwrap()).await;
    // The second of the revocation, plus one: tokens issued in that second are refused too.
    assert_eq!(payload["subjects"][&user.id], app.clock.now());

    // Past the window the family drops out of the feed.
    app.clock.advance(15 * 60 + 61);
    let payload = verified_feed(&app, &feed(&app).await.text().await.unwrap()).await;
    assert_eq!(payload["sids"], json!([]));
}

/// Checks the feed's signature against the JWKS and its type, and returns its payload.
async fn verified_feed(app: &TestApp, jws: &str) -> Value {
    let header = jsonwebtoken::decode_header(jws).unwrap();
    assert_eq!(header.typ.as_deref(), Some("jwtd-revocations+jwt"));
    let jwks = app.jwks().await;
    let jwk = jwks.find(header.kid.as_deref().unwrap()).unwrap();
    let key = jsonwebtoken::DecodingKey::from_jwk(jwk).unwrap();
    let mut validation = jsonwebtoken::Validation::new(header.alg);
    validation.required_spec_claims.clear();
    validation.validate_exp = false;
    jsonwebtoken::decode::<Value>(jws, &key, &validation).unwrap().claims
}

/// The purge removes expired families and families revoked long ago, with their tokens, and audit
/// events past their retention, and keeps everything that can still matter.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_purge_removes_only_dead_families() {
    let app = spawn_app(Backend::Sqlite).await;
    let client = app.register_app_client("read");
    app.create_user("alice@example.com", PASSWORD, json!({}));
    let mut sids = Vec::new();
    for _ in 0..3 {
        let body: Value = app.login(&client, "alice@example.com", PASSWORD, &[]).await.json().await.unwrap();
        sids.push((
            sid_of(body["access_token"].as_str().unwrap()),
            body["refresh_token"].as_str().unwrap().to_owned(),
        ));
    }
    let pool = app.pool();
    let now = app.clock.now();
    // The family revoked long ago has a row token too, as families started before family tokens do.
    let row_token = jwtd::tokens::refresh::RefreshToken::generate_row_token().unwrap();
    let stored = jwtd::store::refresh::NewToken {
        token_hash: &row_token.hash(),
        family_id: &sids[1].0,
        generation: 1,
        issued_at: now,
        expires_at: now + 60,
        ip: None,
        user_agent: None,
    };
    jwtd::store::refresh::insert_token(&mut pool.get().unwrap(), &stored).unwrap();
    // One revoked now, one revoked eight days ago, one live.
    jwtd::store::refresh::revoke_family(&mut pool.get().unwrap(), &sids[0].0, now, "test").unwrap();
    jwtd::store::refresh::revoke_family(&mut pool.get().unwrap(), &sids[1].0, now - 8 * 86_400, "test")
        .unwrap();
    let policy = jwtd::housekeeping::PurgePolicy {
        interval: std::time::Duration::from_secs(600),
        keep_revoked: 7 * 86_400,
        horizon: 3600,
        keep_audit: Some(30 * 86_400),
    };
    // Audit events from 31 days ago (past their retention), 29 days ago and now.
    for (age, kind) in [(31, "test.old"), (29, "test.kept"), (0, "test.new")] {
        let event = jwtd::store::audit::AuditEvent {
            at: now - age * 86_400,
            kind,
            actor: None,
            subject: None,
            ip: None,
            detail: "{}".into(),
        };
        jwtd::store::audit::record(&mut pool.get().unwrap(), &event).unwrap();
    }
    let purged = jwtd::housekeeping::purge_once(&mut pool.get().unwrap(), now, &policy).unwrap();
    assert_eq!(purged, 1);
    let exists =
        |sid: &str| jwtd::store::refresh::find_family(&mut pool.get().unwrap(), sid).unwrap().is_some();
    assert!(exists(&sids[0].0) && !exists(&sids[1].0) && exists(&sids[2].0));
    assert_eq!(
        jwtd::store::refresh::token_count(&mut pool.get().unwrap(), &sids[1].0).unwrap(),
        0,
        "its tokens went too"
    );
    let kinds: Vec<String> = jwtd::store::audit::recent(&mut pool.get().unwrap(), 100)
        .unwrap()
        .into_iter()
        .map(|e| e.kind)
        .filter(|k| k.starts_with("test."))
        .collect();
    assert_eq!(kinds, ["test.new", "test.kept"], "only the event past its retention went");
    // Thirty-one days later the live family has expired and goes as well.
    let purged =
        jwtd::housekeeping::purge_once(&mut pool.get().unwrap(), now + 31 * 86_400, &policy).unwrap();
    assert_eq!(purged, 2);
    assert_eq!(app.refresh(&client, &sids[2].1, &[]).await.status(), 400);
}

/// RFC 7662 §4: a client sees its own tokens; a resource server sees other clients' access
/// tokens only through an introspection permission naming one of their audiences, and never
/// other clients' refresh tokens. Everyone else learns only `{"active": false}`.
async fn introspection_shows_other_clients_tokens_only_with_a_permission(backend: Backend) {
    let app = spawn_app(backend).await;
    let (client, refresh, access) = logged_in(&app, "read").await; // aud https://api
    let service = app.register_client("read", &["https://api"], &["client_credentials"]);
    let service_token = app.token_of(&service).await;
    let api = app.register_introspector(&["https://api"]);
    let elsewhere = app.register_introspector(&["https://other"]);
    let stranger = app.register_app_client("read");

    assert_eq!(app.introspect(&client, &access).await["active"], true, "its own");
    assert_eq!(app.introspect(&service, &service_token).await["active"], true, "its own");
    let seen = app.introspect(&api, &access).await;
    assert_eq!((&seen["active"], &seen["client_id"]), (&json!(true), &json!(client.id)), "{seen}");
    assert_eq!(app.introspect(&api, &service_token).await["active"], true);
    for (who, token) in [(&elsewhere, &access), (&stranger, &access), (&stranger, &service_token)] {
        assert_eq!(app.introspect(who, token).await, json!({"active": false}));
    }
    assert_eq!(app.introspect(&api, &refresh).await, json!({"active": false}), "refresh tokens: own only");
    // A permission naming jwtd itself shows nothing of jwtd's own tokens (admin tokens above all).
    let nosy = app.register_introspector(&[crate::helpers::ISSUER]);
    let admin = app.admin_token().await;
    assert_eq!(app.introspect(&nosy, &admin).await, json!({"active": false}), "an admin token");
}

/// Deleting a client stops every token issued through it, whatever its `sub`: introspection
/// says inactive at once, and the revocation feed lists the client (version 2, `clients`) so
/// resource servers refuse its users' tokens too, and its own tokens by subject.
async fn a_deleted_clients_tokens_stop_everywhere(backend: Backend) {
    let app = spawn_app(backend).await;
    let (client, _, access) = logged_in(&app, "read").await;
    let service = app.register_client("read", &["https://api"], &["client_credentials"]);
    let service_token = app.token_of(&service).await;
    let api = app.register_introspector(&["https://api"]);
    assert_eq!(app.introspect(&api, &access).await["active"], true);
    assert_eq!(app.introspect(&api, &service_token).await["active"], true);

    let admin = app.admin_token().await;
    for id in [&client.id, &service.id] {
        let deleted =
            app.http.delete(app.url(&format!("/admin/clients/{id}"))).bearer_auth(&admin).send().await;
        assert_eq!(deleted.unwrap().status(), 204);
    }
    let deleted_at = app.clock.now();
    assert_eq!(app.introspect(&api, &access).await, json!({"active": false}), "the user's token");
    assert_eq!(app.introspect(&api, &service_token).await, json!({"active": false}), "the client's own");

    app.clock.advance(1);
    let feed = app.revocation_feed().await;
    assert_eq!(feed["ver"], 2);
    for id in [&client.id, &service.id] {
        assert_eq!(feed["clients"][id], deleted_at + 1, "{feed}");
    }
    assert_eq!(
        feed["subjects"][&service.id],
        deleted_at + 1,
        "version-1 readers see the client's own tokens"
    );
}

/// With `keys.leeway` shorter than jwtd-verify's 60 s, a revoked family stays in the feed for
/// the access-token lifetime plus 60 s: a verifier with the default leeway accepts its tokens
/// until then, so it must keep seeing the revocation.
async fn the_feed_lists_a_revocation_as_long_as_a_verifier_may_accept_its_tokens(backend: Backend) {
    let db = Arc::new(TestDb::new(backend));
    let app = spawn_app_on(db, &new_master_key(), &[("JWTD__KEYS__LEEWAY", "5s")]).await;
    let (client, refresh, access) = logged_in(&app, "read").await;
    let exp =
        jsonwebtoken::dangerous::insecure_decode::<Value>(&access).unwrap().claims["exp"].as_i64().unwrap();
    assert_eq!(app.client_post(&client, "/oauth2/revoke", &[("token", &refresh)]).await.status(), 200);
    let sid = sid_of(&access);
    // The last instant a verifier with 60 s of leeway accepts the token: exp + 59.
    app.clock.advance(exp + 59 - app.clock.now());
    let feed = app.revocation_feed().await;
    assert_eq!(feed["window"], 15 * 60 + 60);
    assert_eq!(feed["sids"], json!([sid]), "still listed while a verifier may accept the token");
    app.clock.advance(2);
    assert_eq!(app.revocation_feed().await["sids"], json!([]));
}

/// An access token expires no later than its login (the family's absolute lifetime), however
/// late in the family it is issued.
async fn an_access_token_never_outlives_its_login(backend: Backend) {
    let db = Arc::new(TestDb::new(backend));
    let app = spawn_app_on(db, &new_master_key(), &[("JWTD__REFRESH__ABSOLUTE_TTL", "20m")]).await;
    let (client, t1, first) = logged_in(&app, "read").await;
    let claims = |token: &str| jsonwebtoken::dangerous::insecure_decode::<Value>(token).unwrap().claims;
    let login_ends = claims(&first)["iat"].as_i64().unwrap() + 20 * 60;
    assert_eq!(claims(&first)["exp"].as_i64().unwrap(), claims(&first)["iat"].as_i64().unwrap() + 15 * 60);
    app.clock.advance(10 * 60);
    let body = refreshed(&app, &client, &t1).await;
    let late = body["access_token"].as_str().unwrap();
    assert_eq!(claims(late)["exp"].as_i64().unwrap(), login_ends, "capped at the end of the login");
    assert_eq!(body["expires_in"].as_i64().unwrap(), login_ends - app.clock.now());
}
