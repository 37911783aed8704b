//! Users and the password grant: tokens, identical failures, throttling, bcrypt import,
//! the admin users API and the CLI.

use std::sync::Arc;

use jwtd::clock::Clock;
use serde_json::{Value, json};

use crate::helpers::{
    Backend, TestApp, TestClient, TestDb, assert_error, new_master_key, sample, spawn_app, spawn_app_on,
    spawn_app_with, verify_offline_at,
};
use crate::on_both_backends;

on_both_backends!(
    an_ipv6_network_shares_one_address_counter,
    a_password_login_returns_user_tokens,
    login_failures_are_indistinguishable,
    failed_logins_are_throttled_across_instances,
    parallel_guesses_cannot_outrun_the_lockout,
    imported_bcrypt_hashes_work_and_are_upgraded,
    users_are_managed_through_the_admin_api,
    the_cli_creates_users_from_stdin,
);

const PASSWORD: &str = "correct horse battery";

async fn a_password_login_returns_user_tokens(backend: Backend) {
    let app = spawn_app(backend).await;
    let client = app.register_app_client("openid email read write");
    let user = app.create_user("alice@example.com", PASSWORD, json!({"roles": ["admin"], "tenant": "acme"}));

    let response =
        app.login(&client, "  ALICE@Example.COM", PASSWORD, &[("scope", "openid email read")]).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["scope"], "email openid read");
    assert!(body["refresh_token"].as_str().unwrap().starts_with("jwtd_rt_"));
    let access = body["access_token"].as_str().unwrap();
    let claims = verify_offline_at(access, &app.jwks().await, "https://api", app.clock.now()).unwrap();
    assert_eq!(claims.sub, user.id);
    assert_eq!(claims.client_id, client.id);
    assert_eq!(claims.scope, "email openid read");
    assert!(claims.sid.as_deref().is_some_and(|s| !s.is_empty()));
    assert_eq!(claims.extra["roles"], json!(["admin"]));
    assert_eq!(claims.extra["tenant"], "acme");

    // The ID token: typ JWT, audience the client, the user's email (scope `email`).
    let id_token = body["id_token"].as_str().unwrap();
    let header = jsonwebtoken::decode_header(id_token).unwrap();
    assert_eq!(header.typ.as_deref(), Some("JWT"));
    let id_claims = jsonwebtoken::dangerous::insecure_decode::<Value>(id_token).unwrap().claims;
    assert_eq!(id_claims["aud"], client.id.as_str());
    assert_eq!(id_claims["email"], "alice@example.com");
    assert_eq!(id_claims["sid"], claims.sid.clone().unwrap().as_str());

    // userinfo answers for the access token; without `openid` it refuses.
    let info: Value =
        app.http.get(app.url("/userinfo")).bearer_auth(access).send().await.unwrap().json().await.unwrap();
    assert_eq!(info["sub"], user.id.as_str());
    assert_eq!(info["email"], "alice@example.com");
    assert_eq!(info["roles"], json!(["admin"]));
    // Without scope `email`, neither the ID token nor userinfo names the address (OIDC Core §5.4).
    let no_email: Value = app
        .login(&client, "alice@example.com", PASSWORD, &[("scope", "openid read")])
        .await
        .json()
        .await
        .unwrap();
    let id_claims = jsonwebtoken::dangerous::insecure_decode::<Value>(no_email["id_token"].as_str().unwrap())
        .unwrap()
        .claims;
    assert!(id_claims.get("email").is_none(), "{id_claims}");
    let info: Value = app
        .http
        .get(app.url("/userinfo"))
        .bearer_auth(no_email["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(info.get("email").is_none(), "{info}");
    let plain: Value =
        app.login(&client, "alice@example.com", PASSWORD, &[("scope", "read")]).await.json().await.unwrap();
    assert!(plain.get("id_token").is_none());
    let refused = app
        .http
        .get(app.url("/userinfo"))
        .bearer_auth(plain["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 403);
    // A client's own token (no user, no `openid`) lacks the scope too: 403, not 401.
    let service = app.register_client("read", &["https://api"], &["client_credentials"]);
    let service_token = app.token_of(&service).await;
    let refused = app.http.get(app.url("/userinfo")).bearer_auth(&service_token).send().await.unwrap();
    assert_eq!(refused.status(), 403);
    assert!(refused.headers()["www-authenticate"].to_str().unwrap().contains("insufficient_scope"));
    let anonymous = app.http.get(app.url("/userinfo")).send().await.unwrap();
    assert_eq!(anonymous.status(), 401);

    assert_error(
        app.login(&client, "alice@example.com", PASSWORD, &[("scope", "admin")]).await,
        400,
        "invalid_scope",
    )
    .await;
    let service = app.register_client("read", &[], &["client_credentials"]);
    assert_error(app.login(&service, "alice@example.com", PASSWORD, &[]).await, 400, "unauthorized_client")
        .await;
}

async fn login_failures_are_indistinguishable(backend: Backend) {
    let app = spawn_app(backend).await;
    let client = app.register_app_client("read");
    let disabled = app.create_user("disabled@example.com", PASSWORD, json!({}));
    app.create_user("bob@example.com", PASSWORD, json!({}));
    jwtd::store::users::set_disabled(&mut app.pool().get().unwrap(), &disabled.id, true, app.clock.now())
        .unwrap();

    let mut bodies = Vec::new();
    let verifications = |text: &str| sample(text, "jwtd_password_verifications_total").unwrap_or(0.0);
    for (username, password) in [
        ("nobody@example.com", PASSWORD),
        ("bob@example.com", "wrong password"),
        ("disabled@example.com", PASSWORD),
        ("not-an-email", PASSWORD),
    ] {
        let before = verifications(&app.scrape().await);
        let response = app.login(&client, username, password, &[]).await;
        let (_, body) = assert_error(response, 400, "invalid_grant").await;
        bodies.push(body);
        // Unknown accounts cost one password check too (against a dummy hash): no shortcut
        // makes them faster to tell apart.
        assert_eq!(verifications(&app.scrape().await), before + 1.0, "{username}");
    }
    assert!(bodies.windows(2).all(|w| w[0] == w[1]), "{bodies:?}");

    let overlong = "x".repeat(1025);
    assert_error(app.login(&client, "bob@example.com", &overlong, &[]).await, 400, "invalid_request").await;
    let missing = app
        .post_form(
            "/oauth2/token",
            &[
                ("grant_type", "password"),
                ("client_id", &client.id),
                ("client_secret", &client.secret),
                ("username", "bob@example.com"),
            ],
        )
        .await;
    assert_error(missing, 400, "invalid_request").await;
}

/// Twenty wrong passwords for one account sent at once: the counters are read before the hash
/// and written after it, so without taking turns all twenty read "allowed". With turns, the
/// limit (4) holds: four are checked and refused as wrong, sixteen are locked out unchecked.
async fn parallel_guesses_cannot_outrun_the_lockout(backend: Backend) {
    let settings = [
        ("JWTD__THROTTLE__SLOW_AFTER", "4"),
        ("JWTD__THROTTLE__ACCOUNT_LIMIT", "4"),
        ("JWTD__THROTTLE__ADDRESS_LIMIT", "1000"),
    ];
    let app = spawn_app_on(Arc::new(TestDb::new(backend)), &new_master_key(), &settings).await;
    let client = app.register_app_client("read");
    app.create_user("dave@example.com", PASSWORD, json!({}));
    let verifications = |text: &str| sample(text, "jwtd_password_verifications_total").unwrap_or(0.0);
    let before = verifications(&app.scrape().await);

    let mut guesses = tokio::task::JoinSet::new();
    for i in 0..20 {
        let request =
            app.http.post(app.url("/oauth2/token")).basic_auth(&client.id, Some(&client.secret)).form(&[
                ("grant_type", "password"),
                ("username", "dave@example.com"),
                ("password", &format!("wrong guess {i}")),
            ]);
        guesses.spawn(async move { request.send().await.unwrap().status().as_u16() });
    }
    let mut statuses = guesses.join_all().await;
    statuses.sort_unstable();
    assert_eq!(statuses, [[400; 4].as_slice(), &[429; 16]].concat());
    assert_eq!(verifications(&app.scrape().await), before + 4.0);
    assert_error(app.login(&client, "dave@example.com", PASSWORD, &[]).await, 429, "too_many_attempts").await;
}

async fn failed_logins_are_throttled_across_instances(backend: Backend) {
    let settings = [
        ("JWTD__THROTTLE__SLOW_AFTER", "2"),
        ("JWTD__THROTTLE__ACCOUNT_LIMIT", "4"),
        ("JWTD__THROTTLE__ADDRESS_LIMIT", "8"),
        ("JWTD__THROTTLE__LOCKOUT", "10m"),
    ];
    let db = Arc::new(TestDb::new(backend));
    let key = new_master_key();
    let a = spawn_app_on(Arc::clone(&db), &key, &settings).await;
    let b = spawn_app_with(Arc::clone(&db), &key, &settings, Arc::clone(&a.clock)).await;
    let client = a.register_app_client("read");
    a.create_user("carol@example.com", PASSWORD, json!({}));

    // Four failures, alternating instances, lock the account on both.
    for i in 0..4 {
        let app = if i % 2 == 0 { &a } else { &b };
        assert_error(
            app.login(&client, "carol@example.com", "wrong password", &[]).await,
            400,
            "invalid_grant",
        )
        .await;
    }
    for app in [&a, &b] {
        let (headers, _) = assert_error(
            app.login(&client, "carol@example.com", PASSWORD, &[]).await,
            429,
            "too_many_attempts",
        )
        .await;
        let retry_after: i64 = headers["retry-after"].to_str().unwrap().parse().unwrap();
        assert!((1..=600).contains(&retry_after), "{retry_after}");
    }
    // After the lockout the right password works again, and success clears the account's count.
    a.clock.advance(601);
    assert_eq!(a.login(&client, "carol@example.com", PASSWORD, &[]).await.status(), 200);
    assert_error(a.login(&client, "carol@example.com", "wrong password", &[]).await, 400, "invalid_grant")
        .await;
    assert_eq!(b.login(&client, "carol@example.com", PASSWORD, &[]).await.status(), 200);

    // The address limit: failures on many accounts from one address lock the address.
    a.clock.advance(1000);
    for i in 0..8 {
        let response = b.login(&client, &format!("guess{i}@example.com"), "whatever1", &[]).await;
        assert_error(response, 400, "invalid_grant").await;
    }
    assert_error(a.login(&client, "carol@example.com", PASSWORD, &[]).await, 429, "too_many_attempts").await;
}

async fn imported_bcrypt_hashes_work_and_are_upgraded(backend: Backend) {
    let app = spawn_app(backend).await;
    let client = app.register_app_client("read");
    let admin = app.admin_token().await;
    let legacy = bcrypt::hash("from the express app", 4).unwrap();
    let import = json!({"users": [
        {"email": "Dave@Example.com", "password_hash": legacy, "claims": {"roles": ["user"]}},
        {"email": "eve@example.com", "password_hash": "plaintext-not-a-hash"},
        {"email": "dave@example.com", "password_hash": legacy},
        {"email": "bad-email", "password_hash": legacy},
        // Hashes whose check would cost any login for that email gigabytes or hours.
        {"email": "huge@example.com",
         "password_hash": "$argon2id$v=19$m=4194304,t=2,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g"},
        {"email": "slow@example.com",
         "password_hash": "$argon2id$v=19$m=19456,t=100000,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g"},
        {"email": "costly@example.com", "password_hash": bcrypt::hash("x", 4).unwrap().replacen("$04$", "$31$", 1)},
    ]});
    let report: Value =
        app.admin_post(&admin, "/admin/users/import", Some(import)).await.json().await.unwrap();
    assert_eq!(report["imported"], 1);
    assert_eq!(report["skipped"].as_array().unwrap().len(), 6, "{report}");
    // The configured parameters themselves are importable (jwtd's own hashes, moved between instances).
    let hasher = jwtd::accounts::passwords::PasswordHasher::new(&app.settings().passwords).unwrap();
    let own = json!({"users": [{"email": "own@example.com", "password_hash": hasher.hash_blocking("own pw 1").unwrap()}]});
    let report: Value = app.admin_post(&admin, "/admin/users/import", Some(own)).await.json().await.unwrap();
    assert_eq!(report["imported"], 1, "{report}");

    let stored = |app: &crate::helpers::TestApp| {
        jwtd::store::users::find_by_email(&mut app.pool().get().unwrap(), "dave@example.com")
            .unwrap()
            .unwrap()
            .password_hash
    };
    assert!(stored(&app).starts_with("$2b$"));
    assert_error(app.login(&client, "dave@example.com", "wrong", &[]).await, 400, "invalid_grant").await;
    assert!(stored(&app).starts_with("$2b$"), "a failed login must not rehash");
    assert_eq!(app.login(&client, "dave@example.com", "from the express app", &[]).await.status(), 200);
    assert!(stored(&app).starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{}", stored(&app));
    assert_eq!(app.login(&client, "dave@example.com", "from the express app", &[]).await.status(), 200);
}

async fn users_are_managed_through_the_admin_api(backend: Backend) {
    let app = spawn_app(backend).await;
    let client = app.register_app_client("read");
    let admin = app.admin_token().await;
    let created = app
        .admin_post(
            &admin,
            "/admin/users",
            Some(json!({"email": "Frank@Example.com", "password": PASSWORD, "claims": {"roles": ["ops"]}})),
        )
        .await;
    assert_eq!(created.status(), 201);
    let user: Value = created.json().await.unwrap();
    let id = user["id"].as_str().unwrap().to_owned();
    assert_eq!(user["email"], "frank@example.com");
    assert!(user.get("password_hash").is_none() && !user.to_string().contains("argon2"));

    let duplicate = app
        .admin_post(&admin, "/admin/users", Some(json!({"email": "FRANK@example.com", "password": PASSWORD})))
        .await;
    assert_error(duplicate, 409, "email_taken").await;
    for bad in [
        json!({"email": "nope", "password": PASSWORD}),
        json!({"email": "g@example.com", "password": "short"}),
        json!({"email": "g@example.com", "password": PASSWORD, "claims": {"sub": "x"}}),
        json!({"email": "g@example.com", "password": PASSWORD, "admin": true}),
    ] {
        assert_error(app.admin_post(&admin, "/admin/users", Some(bad)).await, 400, "invalid_request").await;
    }

    let login: Value = app.login(&client, "frank@example.com", PASSWORD, &[]).await.json().await.unwrap();
    let refresh = login["refresh_token"].as_str().unwrap().to_owned();
    let revoked: Value = app
        .admin_post(&admin, &format!("/admin/users/{id}/revoke-sessions"), None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(revoked["revoked"], 1);
    assert_error(app.refresh(&client, &refresh, &[]).await, 400, "invalid_grant").await;

    let disable = app.admin_patch(&admin, &format!("/admin/users/{id}"), json!({"disabled": true})).await;
    assert_eq!(disable.json::<Value>().await.unwrap()["disabled"], true);
    assert_error(app.login(&client, "frank@example.com", PASSWORD, &[]).await, 400, "invalid_grant").await;

    for i in 0..3 {
        app.create_user(&format!("page{i}@example.com"), PASSWORD, json!({}));
    }
    let first: Value = app.admin_get(&admin, "/admin/users?limit=2").await.json().await.unwrap();
    assert_eq!(first["users"].as_array().unwrap().len(), 2);
    let after = first["next_after"].as_str().unwrap();
    let second: Value =
        app.admin_get(&admin, &format!("/admin/users?limit=10&after={after}")).await.json().await.unwrap();
    assert_eq!(second["users"].as_array().unwrap().len(), 2);
    assert!(second["next_after"].is_null());

    let deleted =
        app.http.delete(app.url(&format!("/admin/users/{id}"))).bearer_auth(&admin).send().await.unwrap();
    assert_eq!(deleted.status(), 204);
    assert_error(app.admin_get(&admin, &format!("/admin/users/{id}")).await, 404, "not_found").await;
}

async fn the_cli_creates_users_from_stdin(backend: Backend) {
    use std::io::Write;
    let app = spawn_app(backend).await;
    let client = app.register_app_client("read");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_jwtd"))
        .env_clear()
        .envs(app.env.iter().cloned())
        .args([
            "users",
            "create",
            "--email",
            "Grace@Example.com",
            "--password-stdin",
            "--claim",
            "roles=[\"admin\"]",
            "--json",
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(format!("{PASSWORD}\n").as_bytes()).unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success(), "{output:?}");
    let created: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(created["email"], "grace@example.com");
    assert_eq!(created["claims"]["roles"], json!(["admin"]));
    assert!(!String::from_utf8_lossy(&output.stdout).contains(PASSWORD));
    let body: Value = app.login(&client, "grace@example.com", PASSWORD, &[]).await.json().await.unwrap();
    let claims = verify_offline_at(
        body["access_token"].as_str().unwrap(),
        &app.jwks().await,
        "https://api",
        app.clock.now(),
    )
    .unwrap();
    assert_eq!(claims.extra["roles"], json!(["admin"]));
}

/// Behind a trusted proxy the forwarded address is the one throttled; from anyone else the
/// header is ignored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trusted_proxy_names_the_client_address() {
    let app = behind_a_proxy_with_an_address_limit_of_three(Backend::Sqlite).await;
    let client = app.register_app_client("read");
    let login_from = |address: &'static str, email: String| {
        wrong_password_from(&app, &client, format!("198.18.0.1, {address}"), email)
    };
    for i in 0..3 {
        assert_error(login_from("203.0.113.5", format!("a{i}@example.com")).await, 400, "invalid_grant")
            .await;
    }
    assert_error(login_from("203.0.113.5", "b@example.com".into()).await, 429, "too_many_attempts").await;
    assert_error(login_from("198.51.100.7", "b@example.com".into()).await, 400, "invalid_grant").await;
    let events =
        jwtd::store::throttle::find_all(&mut app.pool().get().unwrap(), &["address:203.0.113.5".to_owned()])
            .unwrap();
    assert_eq!(events.len(), 1, "counted under the forwarded address");
}

/// Every address of one IPv6 /64 counts against one address limit: a host holding a /64 cannot
/// rotate through its 2^64 addresses for fresh counters. Another /64 has its own.
async fn an_ipv6_network_shares_one_address_counter(backend: Backend) {
    let app = behind_a_proxy_with_an_address_limit_of_three(backend).await;
    let client = app.register_app_client("read");
    let login_from = |address: String, email: String| wrong_password_from(&app, &client, address, email);
    for i in 1..=3 {
        let address = format!("2001:db8:7:9::{i:x}");
        assert_error(login_from(address, format!("a{i}@example.com")).await, 400, "invalid_grant").await;
    }
    let fresh_address = "2001:db8:7:9:ffff:ffff:ffff:fffe".to_owned();
    assert_error(login_from(fresh_address, "b@example.com".into()).await, 429, "too_many_attempts").await;
    let other_network = "2001:db8:7:a::1".to_owned();
    assert_error(login_from(other_network, "b@example.com".into()).await, 400, "invalid_grant").await;
}

/// A password login with a wrong password, through a proxy naming `forwarded_for`.
fn wrong_password_from(
    app: &TestApp,
    client: &TestClient,
    forwarded_for: String,
    email: String,
) -> impl std::future::Future<Output = reqwest::Response> + use<> {
    let request = app
        .http
        .post(app.url("/oauth2/token"))
        .basic_auth(&client.id, Some(&client.secret))
        .header("x-forwarded-for", forwarded_for);
    async move {
        request
            .form(&[("grant_type", "password"), ("username", email.as_str()), ("password", "wrong password")])
            .send()
            .await
            .unwrap()
    }
}

/// A jwtd behind a trusted proxy (127.0.0.1) that locks an address out after three failures.
async fn behind_a_proxy_with_an_address_limit_of_three(backend: Backend) -> TestApp {
    let settings = [
        ("JWTD__HTTP__TRUSTED_PROXIES", "127.0.0.1"),
        ("JWTD__THROTTLE__SLOW_AFTER", "1"),
        ("JWTD__THROTTLE__ADDRESS_LIMIT", "3"),
        ("JWTD__THROTTLE__ACCOUNT_LIMIT", "100"),
    ];
    spawn_app_on(Arc::new(TestDb::new(backend)), &new_master_key(), &settings).await
}
