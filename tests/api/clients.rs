//! The client model of browser sign-in: registration rules, public clients, changing a client,
//! CORS for registered web origins, and the migration that brought it.

use jwtd::store::DbConnection;
use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{Backend, TestApp, TestDb, assert_error, refuse_audit_events, spawn_app};
use crate::on_both_backends;

on_both_backends!(
    registration_refuses_what_browser_sign_in_must_not_accept,
    a_public_client_has_no_secret_and_authenticates_with_its_client_id_alone,
    a_change_takes_effect_at_once_and_is_audited,
    a_change_whose_audit_event_fails_changes_nothing,
    cors_answers_registered_origins_and_anyone_on_public_documents,
    a_cookie_clients_origin_may_send_its_refresh_cookie_to_the_token_endpoint_only,
    the_client_model_migration_keeps_clients_and_their_families,
);

async fn create(app: &TestApp, token: &str, body: Value) -> reqwest::Response {
    app.admin_post(token, "/admin/clients", Some(body)).await
}

async fn patch(app: &TestApp, token: &str, id: &str, body: Value) -> reqwest::Response {
    app.admin_patch(token, &format!("/admin/clients/{id}"), body).await
}

/// The client as the admin API shows it.
async fn shown(app: &TestApp, token: &str, id: &str) -> Value {
    app.admin_get(token, &format!("/admin/clients/{id}")).await.json().await.unwrap()
}

/// Each refused registration answers 400 naming the URI and the rule it broke.
async fn registration_refuses_what_browser_sign_in_must_not_accept(backend: Backend) {
    let app = spawn_app(backend).await;
    let token = app.admin_token().await;
    let web =
        |uris: &[&str]| json!({"name": "app", "grant_types": ["authorization_code"], "redirect_uris": uris});
    let native = |uris: &[&str]| {
        json!({"name": "app", "grant_types": ["authorization_code"], "redirect_uris": uris,
               "application_type": "native", "token_endpoint_auth_method": "none"})
    };
    let registered = |app: &TestApp| jwtd::store::clients::list(&mut app.pool().get().unwrap()).unwrap();
    let before = registered(&app).len();
    let long = format!("https://app.example/{}", "a".repeat(512));
    let many: Vec<String> = (0..17).map(|i| format!("https://app.example/{i}")).collect();
    let many: Vec<&str> = many.iter().map(String::as_str).collect();
    let refused = [
        (web(&["https://app.example/cb#done"]), "fragment"),
        (web(&["https://*.app.example/cb"]), "wildcard"),
        (web(&["http://app.example/cb"]), "use https"),
        (web(&["com.example.app:/cb"]), "\"com.example.app\""),
        (web(&["/cb"]), "absolute"),
        (web(&[&long]), "longer than 512"),
        (web(&many), "at most 16 redirect URIs"),
        (native(&["http://localhost:8000/cb"]), "RFC 8252 §8.3"),
        (native(&["myapp:/cb"]), "contains a dot"),
        (
            json!({"name": "app", "web_origins": ["https://app.example/"]}),
            "write it as \"https://app.example\"",
        ),
        (json!({"name": "app", "web_origins": ["http://app.example"]}), "use https"),
        (json!({"name": "app", "token_endpoint_auth_method": "none"}), "client_credentials grant"),
        (
            json!({"name": "app", "token_endpoint_auth_method": "none", "grant_types": ["password"]}),
            "password grant",
        ),
        (json!({"name": "app", "grant_types": ["authorization_code"]}), "at least one redirect URI"),
        (json!({"name": "app", "application_type": "desktop"}), "application_type"),
        (json!({"name": "app", "token_endpoint_auth_method": "private_key_jwt"}), "private_key_jwt"),
    ];
    for (body, rule) in refused {
        let (_, error) = assert_error(create(&app, &token, body.clone()).await, 400, "invalid_request").await;
        let description = error["error_description"].as_str().unwrap();
        assert!(description.contains(rule), "{body}: {description}");
        if let Some(uri) =
            body["redirect_uris"].get(0).and_then(Value::as_str).filter(|_| !rule.contains("16"))
        {
            assert!(description.contains(uri), "the refusal names the URI: {description}");
        }
    }
    assert_eq!(registered(&app).len(), before, "no client was registered");

    // What a web and a native app register (loopback http outside production).
    let accepted = [
        web(&["https://app.example/cb", "http://localhost:3000/cb"]),
        native(&["http://127.0.0.1/cb", "http://[::1]/cb", "com.example.app:/oauth2redirect"]),
    ];
    for body in accepted {
        let response = create(&app, &token, body.clone()).await;
        assert_eq!(response.status(), 201, "{body}: {}", response.text().await.unwrap());
    }
}

/// A public client (`none`) is shown no secret, authenticates at the revocation endpoint with its
/// `client_id` alone, and fails when it presents a secret; it may not introspect or get a secret.
/// Its native loopback redirect URI matches on any port once stored.
async fn a_public_client_has_no_secret_and_authenticates_with_its_client_id_alone(backend: Backend) {
    let app = spawn_app(backend).await;
    let token = app.admin_token().await;
    let body = json!({
        "name": "cli app", "token_endpoint_auth_method": "none", "application_type": "native",
        "grant_types": ["authorization_code", "refresh_token"], "redirect_uris": ["http://127.0.0.1/cb"],
        "first_party": true,
    });
    let response = create(&app, &token, body).await;
    assert_eq!(response.status(), 201);
    let created: Value = response.json().await.unwrap();
    assert!(created.get("client_secret").is_none(), "{created}");
    assert_eq!(created["token_endpoint_auth_method"], "none");
    assert_eq!(created["application_type"], "native");
    assert_eq!(created["first_party"], true);
    let id = created["client_id"].as_str().unwrap();

    let client = jwtd::authority::clients::find(&mut app.pool().get().unwrap(), id).unwrap();
    assert!(client.is_public());
    assert!(client.redirect_uri_matches("http://127.0.0.1:50123/cb"));
    assert!(!client.redirect_uri_matches("http://127.0.0.1:50123/other"));
    assert!(!client.redirect_uri_matches("http://localhost:50123/cb"));

    let revoke =
        |form: Vec<(&'static str, String)>| app.http.post(app.url("/oauth2/revoke")).form(&form).send();
    let unknown = "jwtd_rt_unknown".to_owned();
    let response = revoke(vec![("client_id", id.to_owned()), ("token", unknown.clone())]).await.unwrap();
    assert_eq!(response.status(), 200, "client_id alone authenticates a public client");
    let with_secret = vec![
        ("client_id", id.to_owned()),
        ("client_secret", "jwtd_cs_guess".into()),
        ("token", unknown.clone()),
    ];
    assert_error(revoke(with_secret).await.unwrap(), 401, "invalid_client").await;
    let basic = app.http.post(app.url("/oauth2/revoke")).basic_auth(id, Some("jwtd_cs_guess"));
    let basic = basic.form(&[("token", unknown.as_str())]).send().await.unwrap();
    assert_error(basic, 401, "invalid_client").await;
    let introspect =
        app.post_form("/oauth2/introspect", &[("client_id", id), ("token", unknown.as_str())]).await;
    assert_error(introspect, 401, "invalid_client").await;
    let grant = [("grant_type", "client_credentials"), ("client_id", id)];
    assert_error(app.post_form("/oauth2/token", &grant).await, 400, "unauthorized_client").await;

    // A confidential client still needs its secret.
    let service = app.register_client("read", &[], &["client_credentials"]);
    let alone = vec![("client_id", service.id.clone()), ("token", unknown)];
    assert_error(revoke(alone).await.unwrap(), 401, "invalid_client").await;

    let rotate = app.admin_post(&token, &format!("/admin/clients/{id}/secret"), None).await;
    assert_error(rotate, 409, "client_is_public").await;
}

/// `PATCH /admin/clients/{id}` replaces the fields it names, checked whole; the change reaches
/// this instance's cache at once (a scope added is grantable on the next request) and the audit
/// log says what changed. The authentication method stays as registered.
async fn a_change_takes_effect_at_once_and_is_audited(backend: Backend) {
    let app = spawn_app(backend).await;
    let token = app.admin_token().await;
    let service = app.register_client("read", &[], &["client_credentials"]);
    assert_eq!(app.client_token(&service, &[]).await.status(), 200, "the client is cached now");
    assert_error(app.client_token(&service, &[("scope", "write")]).await, 400, "invalid_scope").await;

    let change = json!({"scope": "read write", "web_origins": ["https://app.example"], "first_party": true});
    let response = patch(&app, &token, &service.id, change).await;
    assert_eq!(response.status(), 200);
    let changed: Value = response.json().await.unwrap();
    assert_eq!(changed["scope"], "read write");
    assert_eq!(changed["name"], "test client", "fields not named stay");
    assert_eq!(changed, shown(&app, &token, &service.id).await);
    assert_eq!(app.client_token(&service, &[("scope", "write")]).await.status(), 200, "at once");

    let audit: Value = app.admin_get(&token, "/admin/audit?kind=client.updated").await.json().await.unwrap();
    let event = &audit["events"][0];
    assert_eq!(event["subject"], service.id.as_str());
    assert_eq!(
        event["detail"]["changes"],
        json!({
            "scope": {"from": "read", "to": "read write"},
            "web_origins": {"from": [], "to": ["https://app.example"]},
            "first_party": {"from": false, "to": true},
        })
    );
    assert!(!audit.to_string().contains(&service.secret));

    let refusals = [
        (json!({"colour": "blue"}), "unknown field"),
        (json!({"token_endpoint_auth_method": "none"}), "cannot change after registration"),
        (json!({"grant_types": ["authorization_code"]}), "at least one redirect URI"),
        (json!({"redirect_uris": ["https://app.example/#x"]}), "fragment"),
    ];
    for (body, rule) in refusals {
        let (_, error) =
            assert_error(patch(&app, &token, &service.id, body).await, 400, "invalid_request").await;
        assert!(error["error_description"].as_str().unwrap().contains(rule), "{error}");
    }
    assert_eq!(shown(&app, &token, &service.id).await, changed, "a refused change changes nothing");
    let same_method = json!({"token_endpoint_auth_method": "client_secret_post"});
    assert_eq!(patch(&app, &token, &service.id, same_method).await.status(), 200);
    assert_error(patch(&app, &token, "no-such-client", json!({"name": "x"})).await, 404, "not_found").await;
    let events: Value = app.admin_get(&token, "/admin/audit?kind=client.updated").await.json().await.unwrap();
    assert_eq!(events["events"].as_array().unwrap().len(), 1, "only real changes are audited");
}

/// A change and its audit event commit together: when the event cannot be written, the client
/// keeps its fields, in storage and in the cache.
async fn a_change_whose_audit_event_fails_changes_nothing(backend: Backend) {
    let app = spawn_app(backend).await;
    let token = app.admin_token().await;
    let service = app.register_client("read", &[], &["client_credentials"]);
    let before = shown(&app, &token, &service.id).await;
    refuse_audit_events(&app, backend, "client.updated");
    let response = patch(&app, &token, &service.id, json!({"scope": "read write", "name": "renamed"})).await;
    assert_eq!(response.status(), 503);
    assert_eq!(shown(&app, &token, &service.id).await, before);
    assert_error(app.client_token(&service, &[("scope", "write")]).await, 400, "invalid_scope").await;
}

async fn preflight(app: &TestApp, path: &str, origin: &str) -> reqwest::Response {
    app.http
        .request(Method::OPTIONS, app.url(path))
        .header("origin", origin)
        .header("access-control-request-method", "POST")
        .header("access-control-request-headers", "content-type, dpop")
        .send()
        .await
        .unwrap()
}

fn header<'a>(response: &'a reqwest::Response, name: &str) -> Option<&'a str> {
    response.headers().get(name).map(|v| v.to_str().unwrap())
}

/// The token, revocation and userinfo endpoints allow exactly the origins enabled clients
/// registered (a registration counts at once); discovery, the JWKS and the revocation feed
/// allow anyone; introspection, nobody.
async fn cors_answers_registered_origins_and_anyone_on_public_documents(backend: Backend) {
    let app = spawn_app(backend).await;
    let token = app.admin_token().await;
    let origin = "https://app.example";
    let before = preflight(&app, "/oauth2/token", origin).await;
    assert_eq!(before.status(), 204);
    assert_eq!(header(&before, "access-control-allow-origin"), None, "not registered yet");

    let spa = json!({
        "name": "spa", "token_endpoint_auth_method": "none", "grant_types": ["authorization_code"],
        "redirect_uris": ["https://app.example/cb"], "web_origins": [origin],
    });
    assert_eq!(create(&app, &token, spa).await.status(), 201);
    for (path, methods) in [("/oauth2/token", "POST"), ("/oauth2/revoke", "POST"), ("/userinfo", "GET, POST")]
    {
        let allowed = preflight(&app, path, origin).await;
        assert_eq!(allowed.status(), 204, "{path}");
        assert_eq!(header(&allowed, "access-control-allow-origin"), Some(origin), "{path}");
        assert_eq!(header(&allowed, "access-control-allow-methods"), Some(methods), "{path}");
        let headers = header(&allowed, "access-control-allow-headers").unwrap();
        assert!(headers.contains("Content-Type") && headers.contains("DPoP"), "{headers}");
        assert!(header(&allowed, "access-control-max-age").is_some());
        assert_eq!(header(&allowed, "vary"), Some("Origin"));
        assert_eq!(header(&allowed, "access-control-allow-credentials"), None);

        let stranger = preflight(&app, path, "https://evil.example").await;
        assert_eq!(stranger.status(), 204, "{path}");
        for name in
            ["access-control-allow-origin", "access-control-allow-methods", "access-control-allow-headers"]
        {
            assert_eq!(header(&stranger, name), None, "{path}: {name}");
        }
    }

    // Actual answers, errors included, carry the origin for a registered page only.
    let answer = |origin: &'static str| {
        app.http
            .post(app.url("/oauth2/token"))
            .header("origin", origin)
            .form(&[("grant_type", "password")])
            .send()
    };
    let registered = answer("https://app.example").await.unwrap();
    assert_eq!(header(&registered, "access-control-allow-origin"), Some(origin));
    assert_eq!(header(&registered, "vary"), Some("Origin"));
    // The page may read a DPoP nonce and the challenges of RFC 6750 and RFC 9449.
    let exposed = header(&registered, "access-control-expose-headers").unwrap();
    assert!(exposed.contains("DPoP-Nonce") && exposed.contains("WWW-Authenticate"), "{exposed}");
    assert_error(registered, 401, "invalid_client").await;
    let stranger = answer("https://evil.example").await.unwrap();
    assert_eq!(header(&stranger, "access-control-allow-origin"), None);
    let introspect = preflight(&app, "/oauth2/introspect", origin).await;
    assert_eq!(header(&introspect, "access-control-allow-origin"), None, "resource servers only");

    for path in ["/.well-known/openid-configuration", "/.well-known/jwks.json", "/revocations"] {
        let response =
            app.http.get(app.url(path)).header("origin", "https://anyone.example").send().await.unwrap();
        assert_eq!(response.status(), 200, "{path}");
        assert_eq!(header(&response, "access-control-allow-origin"), Some("*"), "{path}");
    }
}

/// An app that keeps its refresh token in jwtd's `__Host-` cookie (on a sibling host of the same
/// site) must send that cookie with its refresh: its origin may send credentials to the token
/// endpoint, and nowhere else; other clients' origins never may.
async fn a_cookie_clients_origin_may_send_its_refresh_cookie_to_the_token_endpoint_only(backend: Backend) {
    let app = spawn_app(backend).await;
    let token = app.admin_token().await;
    let (cookie_origin, plain_origin) = ("https://app.example.com", "https://other.example.com");
    let cookie_app = json!({
        "name": "cookie spa", "token_endpoint_auth_method": "none",
        "grant_types": ["authorization_code", "refresh_token"], "refresh_cookie": true,
        "redirect_uris": ["https://app.example.com/cb"], "web_origins": [cookie_origin],
    });
    let plain_app = json!({
        "name": "spa", "token_endpoint_auth_method": "none", "grant_types": ["authorization_code"],
        "redirect_uris": ["https://other.example.com/cb"], "web_origins": [plain_origin],
    });
    assert_eq!(create(&app, &token, cookie_app).await.status(), 201);
    assert_eq!(create(&app, &token, plain_app).await.status(), 201);
    let credentials = |response: &reqwest::Response| {
        header(response, "access-control-allow-credentials").map(str::to_owned)
    };
    let token_preflight = preflight(&app, "/oauth2/token", cookie_origin).await;
    assert_eq!(header(&token_preflight, "access-control-allow-origin"), Some(cookie_origin));
    assert_eq!(credentials(&token_preflight).as_deref(), Some("true"));
    let answer = app
        .http
        .post(app.url("/oauth2/token"))
        .header("origin", cookie_origin)
        .form(&[("grant_type", "refresh_token")])
        .send()
        .await
        .unwrap();
    assert_eq!(credentials(&answer).as_deref(), Some("true"), "the actual answer too");
    assert_eq!(credentials(&preflight(&app, "/oauth2/revoke", cookie_origin).await), None);
    assert_eq!(credentials(&preflight(&app, "/oauth2/token", plain_origin).await), None);
}

/// Clients and their refresh families registered before the client model (SQLite rebuilds the
/// table) come through it unchanged, as confidential web clients, and the families still go
/// with their client.
async fn the_client_model_migration_keeps_clients_and_their_families(backend: Backend) {
    use diesel::prelude::*;
    use jwtd::store::schema::{clients, refresh_families, refresh_tokens};

    let db = TestDb::new(backend);
    let location = jwtd::store::DatabaseLocation::parse(&db.url);
    let manager = jwtd::store::DbManager::new(location, jwtd::store::ALIVE_BYPASS);
    let mut conn = diesel::r2d2::ManageConnection::connect(&manager).unwrap();
    migrate_before(&mut conn, "2026-12-03");
    let blob = match backend {
        Backend::Sqlite => "X'0102'",
        Backend::Postgres => "'\\x0102'::bytea",
    };
    for statement in [
        format!(
            "INSERT INTO clients (id, name, secret_hash, scopes, audiences, grant_types, refresh_cookie, \
             created_at, updated_at, introspection_audiences) \
             VALUES ('c1', 'old app', {blob}, 'read', 'https://api', 'password refresh_token', true, 1, 2, '')"
        ),
        "INSERT INTO users (id, email, password_hash, created_at, updated_at) VALUES ('u1', 'a@b.c', 'x', 1, 1)".into(),
        "INSERT INTO refresh_families (id, user_id, client_id, scope, created_at, expires_at) \
         VALUES ('f1', 'u1', 'c1', 'read', 1, 99)"
            .into(),
        format!(
            "INSERT INTO refresh_tokens (token_hash, family_id, generation, issued_at, expires_at) \
             VALUES ({blob}, 'f1', 1, 1, 99)"
        ),
    ] {
        diesel::sql_query(statement).execute(&mut *conn).unwrap();
    }
    jwtd::store::migrate(&mut conn).unwrap();

    let row = jwtd::store::clients::find(&mut conn, "c1").unwrap().unwrap();
    assert_eq!(row.secret_hash.as_deref(), Some(&[1u8, 2][..]));
    assert_eq!((row.created_at, row.updated_at), (1, 2));
    let client = row.to_client();
    assert_eq!(client.describe()["grant_types"], json!(["password", "refresh_token"]));
    assert!(!client.is_public() && client.refresh_cookie && client.redirect_uris.is_empty());
    assert_eq!(client.describe()["application_type"], "web");
    let count = |conn: &mut DbConnection| -> (i64, i64) {
        let families = refresh_families::table.count().get_result(conn).unwrap();
        (families, refresh_tokens::table.count().get_result(conn).unwrap())
    };
    assert_eq!(count(&mut conn), (1, 1), "the rebuild kept every family and token");
    diesel::delete(clients::table.find("c1")).execute(&mut *conn).unwrap();
    assert_eq!(count(&mut conn), (0, 0), "foreign keys still hold: the families went with the client");
}

/// Runs the migrations named before `version` only (as an older jwtd left the database).
fn migrate_before(conn: &mut DbConnection, version: &str) {
    use diesel::migration::MigrationSource;
    use diesel_migrations::{FileBasedMigrations, MigrationHarness};
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations");
    macro_rules! run {
        ($conn:expr, $backend:literal) => {{
            $conn.applied_migrations().unwrap(); // creates diesel's table of applied versions
            let source = FileBasedMigrations::from_path(dir.join($backend)).unwrap();
            let mut migrations = MigrationSource::migrations(&source).unwrap();
            migrations.sort_by_key(|m| m.name().to_string());
            for migration in migrations.iter().filter(|m| m.name().to_string().as_str() < version) {
                $conn.run_migration(migration.as_ref()).unwrap();
            }
        }};
    }
    match conn {
        DbConnection::Sqlite(conn) => run!(conn, "sqlite"),
        DbConnection::Postgres(conn) => run!(conn, "postgres"),
    }
}
