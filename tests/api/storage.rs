//! Durability and failure: restarts keep keys and clients, an outage answers 503 and heals.

use std::time::Duration;

use crate::helpers::{Backend, TestDb, assert_error, spawn_app, spawn_app_on, verify_offline};
use crate::on_both_backends;
use crate::token::token_for;

on_both_backends!(a_restart_keeps_keys_and_clients);

async fn a_restart_keeps_keys_and_clients(backend: Backend) {
    let app = spawn_app(backend).await;
    let client = app.register_client("read", &["https://api"], &["client_credentials"]);
    let jwks_before = app.jwks().await;
    let token_before = token_for(&app, &client).await;
    let master_key = app.master_key.clone();
    let db = app.stop().await;

    let app = spawn_app_on(db, &master_key, &[]).await;
    let jwks_after = app.jwks().await;
    assert_eq!(jwks_after, jwks_before);
    // Tokens from before the restart still verify, and the client still gets new ones.
    verify_offline(&token_before, &jwks_after, "https://api").unwrap();
    verify_offline(&token_for(&app, &client).await, &jwks_after, "https://api").unwrap();
}

/// PostgreSQL goes away under a running jwtd: requests needing it answer 503 with an opaque
/// JSON body, the JWKS keeps being served, and everything recovers once the database is back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_outage_answers_503_and_recovers() {
    if !crate::helpers::postgres_available() {
        return;
    }
    let app = spawn_app(Backend::Postgres).await;
    let client = app.register_client("read", &[], &["client_credentials"]);
    assert_eq!(app.client_token(&client, &[]).await.status(), 200);
    // Registered before the outage but never seen by the server: it must ask the database.
    let unseen = app.register_client("read", &[], &["client_credentials"]);

    let name = app.db.postgres_name().to_owned();
    cut_off(&app.db, &name);
    let (headers, body) =
        assert_error(app.client_token(&unseen, &[]).await, 503, "temporarily_unavailable").await;
    assert_eq!(headers["retry-after"], "1");
    let description = body["error_description"].as_str().unwrap().to_lowercase();
    assert!(!description.contains("postgres") && !description.contains("connect"), "{body}");
    assert_eq!(app.http.get(app.url("/readyz")).send().await.unwrap().status(), 503);
    assert_eq!(app.http.get(app.url("/.well-known/jwks.json")).send().await.unwrap().status(), 200);
    // A client seen moments ago keeps getting tokens: that path needs no database.
    assert_eq!(app.client_token(&client, &[]).await.status(), 200);

    app.db.admin_sql(&format!("ALTER DATABASE {name} ALLOW_CONNECTIONS true"));
    let mut recovered = false;
    for _ in 0..100 {
        if app.client_token(&unseen, &[]).await.status() == 200 {
            recovered = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(recovered, "jwtd did not recover after the database came back");
    assert_eq!(app.http.get(app.url("/readyz")).send().await.unwrap().status(), 200);
}

/// Refuses new connections to the database and ends the existing ones.
fn cut_off(db: &TestDb, name: &str) {
    db.admin_sql(&format!("ALTER DATABASE {name} ALLOW_CONNECTIONS false"));
    db.admin_sql(&format!(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}' AND pid <> pg_backend_pid()"
    ));
}

/// The pool skips its checkout ping for a connection proven alive moments ago. A connection
/// killed right after its last success therefore fails one statement, and only one: that
/// failure takes the proof back, the next checkout pings, finds it dead and opens another.
/// (A window of an hour here, so a slow machine cannot let the proof lapse mid-test.)
#[test]
fn a_dead_connection_fails_one_statement_then_the_pool_replaces_it() {
    use diesel::connection::SimpleConnection;
    if !crate::helpers::postgres_available() {
        return;
    }
    let db = TestDb::new(Backend::Postgres);
    let window = Duration::from_secs(3600);
    let options = jwtd::store::PoolOptions {
        max_size: 1,
        checkout_timeout: Duration::from_secs(5),
        alive_bypass: window,
    };
    let pool = jwtd::store::open(&db.url, &options).unwrap();
    let mut conn = pool.get().unwrap();
    conn.batch_execute("SELECT 1").unwrap();
    assert!(conn.proven_within(window));
    drop(conn);

    let name = db.postgres_name().to_owned();
    db.admin_sql(&format!(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}' AND pid <> pg_backend_pid()"
    ));
    let mut conn = pool.get().unwrap();
    assert!(conn.batch_execute("SELECT 1").is_err(), "the killed connection was checked out unpinged");
    drop(conn);
    let mut conn = pool.get().unwrap();
    conn.batch_execute("SELECT 1").expect("the pool pinged the failed connection and replaced it");
}
