//! What operators see: Prometheus metrics, the audit log, and logs free of secrets.

use jwtd::clock::Clock;
use serde_json::{Value, json};
use tokio::io::AsyncReadExt;

use crate::helpers::{Backend, JwtdProcess, TestClient, assert_error, sample, spawn_app};
use crate::on_both_backends;

on_both_backends!(metrics_move_with_what_happens, the_audit_log_is_searchable);

async fn metrics_move_with_what_happens(backend: Backend) {
    let app = spawn_app(backend).await;
    let before = app.scrape().await;
    assert_eq!(sample(&before, r#"jwtd_tokens_issued_total{grant="client_credentials"}"#), None);
    assert_eq!(sample(&before, r#"jwtd_db_pool_connections{state="max"}"#), Some(16.0));
    assert_eq!(sample(&before, "jwtd_password_hash_queue_depth"), Some(0.0));
    assert!(sample(&before, "jwtd_process_resident_memory_bytes").is_some_and(|rss| rss > 0.0));
    assert!(
        before.contains(r#"jwtd_key_state_age_seconds{kid=""#) && before.contains(r#"state="current""#),
        "{before}"
    );

    let service = app.register_client("read", &[], &["client_credentials"]);
    app.token_of(&service).await;
    app.token_of(&service).await;
    let wrong = TestClient { id: service.id.clone(), secret: "jwtd_cs_wrong".into() };
    assert_error(app.client_token(&wrong, &[]).await, 401, "invalid_client").await;

    let client = app.register_app_client("read");
    app.create_user("alice@example.com", "correct horse battery", json!({}));
    let login: Value =
        app.login(&client, "alice@example.com", "correct horse battery", &[]).await.json().await.unwrap();
    let t1 = login["refresh_token"].as_str().unwrap();
    assert_eq!(app.refresh(&client, t1, &[]).await.status(), 200);
    assert_eq!(app.refresh(&client, t1, &[]).await.status(), 400);

    let jwks = app.http.get(app.url("/.well-known/jwks.json")).send().await.unwrap();
    let etag = jwks.headers()["etag"].to_str().unwrap().to_owned();
    app.http.get(app.url("/.well-known/jwks.json")).header("if-none-match", etag).send().await.unwrap();

    let admin = app.admin_token().await;
    // Past the next key's publication delay; the admin token (15 min) is still valid.
    app.clock.advance(361);
    assert_eq!(app.admin_post(&admin, "/admin/keys/rotate", None).await.status(), 200);

    let after = app.scrape().await;
    assert_eq!(
        sample(&after, r#"jwtd_tokens_issued_total{grant="client_credentials"}"#),
        Some(3.0),
        "two, and the admin's"
    );
    assert_eq!(sample(&after, r#"jwtd_tokens_issued_total{grant="password"}"#), Some(1.0));
    assert_eq!(sample(&after, r#"jwtd_tokens_issued_total{grant="refresh_token"}"#), Some(1.0));
    assert_eq!(sample(&after, r#"jwtd_token_errors_total{error="invalid_client"}"#), Some(1.0));
    assert_eq!(sample(&after, r#"jwtd_token_errors_total{error="invalid_grant"}"#), Some(1.0));
    assert_eq!(sample(&after, "jwtd_refresh_reuse_detected_total"), Some(1.0));
    assert_eq!(sample(&after, r#"jwtd_refresh_families_revoked_total{reason="reuse"}"#), Some(1.0));
    assert_eq!(sample(&after, r#"jwtd_jwks_served_total{status="304"}"#), Some(1.0));
    assert_eq!(sample(&after, "jwtd_key_rotations_total"), Some(1.0));
    let token_requests = after
        .lines()
        .filter(|l| l.starts_with("jwtd_http_request_duration_seconds_count{endpoint=\"/oauth2/token\""))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum::<f64>();
    // Three client_credentials, one refused, one login, two refreshes.
    assert_eq!(token_requests, 7.0, "{after}");
    assert!(after.contains(r#"state="previous""#), "the rotated-out key reports its age");
}

async fn the_audit_log_is_searchable(backend: Backend) {
    let app = spawn_app(backend).await;
    let admin = app.admin_token().await;
    let mut ids = Vec::new();
    for name in ["one", "two", "three"] {
        let created: Value =
            app.admin_post(&admin, "/admin/clients", Some(json!({"name": name}))).await.json().await.unwrap();
        ids.push(created["client_id"].as_str().unwrap().to_owned());
    }
    let all: Value = app.admin_get(&admin, "/admin/audit?kind=client.created").await.json().await.unwrap();
    let subjects: Vec<&str> =
        all["events"].as_array().unwrap().iter().filter_map(|e| e["subject"].as_str()).collect();
    for id in &ids {
        assert!(subjects.contains(&id.as_str()), "{all}");
    }
    let page: Value =
        app.admin_get(&admin, "/admin/audit?kind=client.created&limit=1").await.json().await.unwrap();
    assert_eq!(page["events"].as_array().unwrap().len(), 1);
    assert_eq!(page["events"][0]["subject"], ids[2].as_str(), "newest first");
    let before = page["next_before_id"].as_i64().unwrap();
    let next: Value = app
        .admin_get(&admin, &format!("/admin/audit?kind=client.created&limit=1&before_id={before}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(next["events"][0]["subject"], ids[1].as_str());
    let one: Value =
        app.admin_get(&admin, &format!("/admin/audit?subject={}", ids[0])).await.json().await.unwrap();
    assert_eq!(one["events"].as_array().unwrap().len(), 1);
    assert_eq!(one["events"][0]["detail"]["name"], "one");
    let future: Value = app
        .admin_get(&admin, &format!("/admin/audit?since={}", app.clock.now() + 10))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(future["events"], json!([]));
    assert_error(app.admin_get(&admin, "/admin/audit?colour=blue").await, 400, "invalid_request").await;
    // Empty parameters count as omitted; a bad number is named.
    let blank: Value = app
        .admin_get(&admin, "/admin/audit?kind=client.created&subject=&since=&before_id=&limit=")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(blank["events"], all["events"]);
    let (_, body) =
        assert_error(app.admin_get(&admin, "/admin/audit?since=yesterday").await, 400, "invalid_request")
            .await;
    assert!(body["error_description"].as_str().unwrap().contains("since"), "{body}");
}

/// A whole session against the real binary with debug logging in JSON: every secret it handled
/// is absent from its log, and every log line is one JSON object.
#[tokio::test]
async fn logs_never_contain_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let env = [("JWTD__HTTP__ADDR", "127.0.0.1:0"), ("JWTD__LOG__FORMAT", "json"), ("RUST_LOG", "debug")]
        .map(|(k, v)| (k.to_owned(), v.to_owned()));
    let mut jwtd = JwtdProcess::start(&env, dir.path()).await;
    let address = jwtd.address.clone();

    let http = reqwest::Client::new();
    let mut secrets: Vec<String> = Vec::new();
    let bootstrap: Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("data/bootstrap-admin.json")).unwrap())
            .unwrap();
    let bootstrap_secret = bootstrap["client_secret"].as_str().unwrap().to_owned();
    secrets.push(bootstrap_secret.clone());
    secrets.push(std::fs::read_to_string(dir.path().join("data/master.key")).unwrap().trim().to_owned());
    let token = |id: String, secret: String, form: Vec<(&'static str, String)>| {
        let http = http.clone();
        let url = format!("{address}/oauth2/token");
        async move {
            http.post(url)
                .basic_auth(id, Some(secret))
                .form(&form)
                .send()
                .await
                .unwrap()
                .json::<Value>()
                .await
                .unwrap()
        }
    };
    let admin = token(
        bootstrap["client_id"].as_str().unwrap().into(),
        bootstrap_secret,
        vec![("grant_type", "client_credentials".into())],
    )
    .await;
    let admin = admin["access_token"].as_str().unwrap().to_owned();
    secrets.push(admin.clone());
    let post = |path: &str, body: Value| {
        http.post(format!("{address}{path}")).bearer_auth(&admin).json(&body).send()
    };
    let app: Value = post(
        "/admin/clients",
        json!({"name": "app", "scope": "read", "grant_types": ["password", "refresh_token"]}),
    )
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    let (app_id, app_secret) =
        (app["client_id"].as_str().unwrap().to_owned(), app["client_secret"].as_str().unwrap().to_owned());
    secrets.push(app_secret.clone());
    let password = "a password nobody logs";
    secrets.push(password.to_owned());
    post("/admin/users", json!({"email": "alice@example.com", "password": password})).await.unwrap();
    let login = token(
        app_id.clone(),
        app_secret.clone(),
        vec![
            ("grant_type", "password".into()),
            ("username", "alice@example.com".into()),
            ("password", password.into()),
        ],
    )
    .await;
    let t1 = login["refresh_token"].as_str().unwrap().to_owned();
    secrets.extend([t1.clone(), login["access_token"].as_str().unwrap().to_owned()]);
    let wrong = token(
        app_id.clone(),
        app_secret.clone(),
        vec![
            ("grant_type", "password".into()),
            ("username", "alice@example.com".into()),
            ("password", "a wrong password here".into()),
        ],
    )
    .await;
    assert_eq!(wrong["error"], "invalid_grant");
    secrets.push("a wrong password here".into());
    let second = token(
        app_id.clone(),
        app_secret.clone(),
        vec![("grant_type", "refresh_token".into()), ("refresh_token", t1.clone())],
    )
    .await;
    secrets.push(second["refresh_token"].as_str().unwrap().to_owned());
    let replay = token(
        app_id.clone(),
        app_secret.clone(),
        vec![("grant_type", "refresh_token".into()), ("refresh_token", t1.clone())],
    )
    .await;
    assert_eq!(replay["error"], "invalid_grant");
    post("/admin/keys/rotate?revoke_current=true", json!({})).await.unwrap();

    assert!(jwtd.terminate().await.success());
    let log = jwtd.log;
    let mut stdout = String::new();
    jwtd.child.stdout.take().unwrap().read_to_string(&mut stdout).await.unwrap();

    assert!(log.len() > 10, "too little logged to mean anything: {log:?}");
    assert!(log.iter().any(|l| l.contains("reuse")), "the reuse detection is logged");
    for line in &log {
        let entry: Value =
            serde_json::from_str(line).unwrap_or_else(|_| panic!("not one JSON object: {line}"));
        assert!(entry["level"].is_string() && entry["msg"].is_string(), "{line}");
        for secret in &secrets {
            assert!(!line.contains(secret.as_str()), "a secret is in the log: {line}");
        }
    }
    // The bootstrap secret is shown once, on standard output, by design; nothing else is.
    assert_eq!(stdout.matches(bootstrap["client_secret"].as_str().unwrap()).count(), 1);
    for secret in secrets.iter().skip(1) {
        assert!(!stdout.contains(secret.as_str()));
    }
}
