//! The `jwtd` binary itself: the CLI, the embedded default, production refusals, shutdown.

use std::os::unix::fs::PermissionsExt;
use std::sync::Arc;

use serde_json::{Value, json};
use tokio::io::AsyncWriteExt;
use tokio::process::Command;

use crate::helpers::{
    Backend, JwtdProcess, TestClient, TestDb, new_master_key, spawn_app_on, test_env, verify_offline,
};
use crate::on_both_backends;
use crate::token::token_for;

on_both_backends!(
    a_client_created_with_the_cli_gets_a_verifiable_token,
    a_public_client_is_registered_and_changed_with_the_cli,
    an_operator_looks_after_sessions_and_consents_with_the_cli,
    a_key_client_is_registered_with_the_cli,
    a_workload_client_is_registered_and_changed_with_the_cli,
    a_token_exchange_client_is_registered_with_the_cli,
);

/// The binary with a clean environment plus `vars`.
fn jwtd(vars: &[(String, String)]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_jwtd"));
    command.env_clear().env("PATH", std::env::var("PATH").unwrap_or_default()).envs(vars.iter().cloned());
    command.kill_on_drop(true);
    command
}

async fn run_ok(vars: &[(String, String)], args: &[&str]) -> String {
    let output = jwtd(vars).args(args).output().await.unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "jwtd {args:?} failed: {stderr}");
    String::from_utf8(output.stdout).unwrap()
}

async fn a_client_created_with_the_cli_gets_a_verifiable_token(backend: Backend) {
    let db = Arc::new(TestDb::new(backend));
    let master_key = new_master_key();
    let env = test_env(&db, &master_key);
    let created: Value = serde_json::from_str(
        &run_ok(
            &env,
            &[
                "clients",
                "create",
                "--name",
                "billing",
                "--scope",
                "read write",
                "--audience",
                "https://api",
                "--json",
            ],
        )
        .await,
    )
    .unwrap();
    let client = TestClient {
        id: created["client_id"].as_str().unwrap().to_owned(),
        secret: created["client_secret"].as_str().unwrap().to_owned(),
    };
    assert!(client.secret.starts_with("jwtd_cs_") && client.secret.len() >= 8 + 43);
    assert_eq!(created["grant_types"], serde_json::json!(["client_credentials"]));

    let listed = run_ok(&env, &["clients", "list", "--json"]).await;
    let listed: Value = serde_json::from_str(&listed).unwrap();
    assert_eq!(listed[0]["client_id"], client.id.as_str());
    assert!(!listed.to_string().contains(&client.secret), "the secret is never shown again");

    let mut creating = jwtd(&env)
        .args(["users", "create", "--email", "ada@example.com", "--password-stdin", "--json"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    creating.stdin.take().unwrap().write_all(b"correct horse battery staple\n").await.unwrap();
    let output = creating.wait_with_output().await.unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let user: Value = serde_json::from_slice(&output.stdout).unwrap();

    let app = spawn_app_on(db, &master_key, &[]).await;
    let token = token_for(&app, &client).await;
    let claims = verify_offline(&token, &app.jwks().await, "https://api").unwrap();
    assert_eq!(claims.client_id, client.id);
    assert_eq!(claims.scope, "read write");

    // What the CLI did is in the audit log, as the admin API's actions are; never the secret.
    let events = jwtd::store::audit::recent(&mut app.pool().get().unwrap(), 10).unwrap();
    for (kind, subject) in
        [("client.created", client.id.as_str()), ("user.created", user["id"].as_str().unwrap())]
    {
        let event = events
            .iter()
            .find(|e| e.kind == kind && e.subject.as_deref() == Some(subject))
            .unwrap_or_else(|| panic!("no {kind} event for {subject}: {events:?}"));
        assert_eq!(event.actor.as_deref(), Some("cli"));
        assert!(!event.detail.contains(&client.secret));
    }

    let keys: Value = serde_json::from_str(&run_ok(&env, &["keys", "list", "--json"]).await).unwrap();
    let mut states: Vec<&str> =
        keys.as_array().unwrap().iter().map(|k| k["state"].as_str().unwrap()).collect();
    states.sort_unstable();
    assert_eq!(states, ["current", "next"]);
    let current = keys.as_array().unwrap().iter().find(|k| k["state"] == "current").unwrap();
    assert_eq!(current["kid"], jsonwebtoken::decode_header(&token).unwrap().kid.unwrap().as_str());
    assert!(!keys.to_string().contains("private"), "{keys}");

    let bad =
        jwtd(&env).args(["clients", "create", "--name", "x", "--grant", "implicit"]).output().await.unwrap();
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("unknown grant type"));
}

/// `clients create` registers a public native client (no secret shown); `clients update` changes
/// the fields its flags name, through the operation the admin API uses (audited, checked whole),
/// and refuses to change the authentication method.
async fn a_public_client_is_registered_and_changed_with_the_cli(backend: Backend) {
    let db = Arc::new(TestDb::new(backend));
    let env = test_env(&db, &new_master_key());
    let create = [
        "clients",
        "create",
        "--name",
        "cli app",
        "--public",
        "--application-type",
        "native",
        "--grant",
        "authorization_code",
        "--grant",
        "refresh_token",
        "--redirect-uri",
        "http://127.0.0.1/callback",
        "--json",
    ];
    let created: Value = serde_json::from_str(&run_ok(&env, &create).await).unwrap();
    assert!(created.get("client_secret").is_none(), "{created}");
    assert_eq!(created["token_endpoint_auth_method"], "none");
    let id = created["client_id"].as_str().unwrap();
    let plain =
        run_ok(&env, &["clients", "create", "--name", "spa", "--public", "--grant", "refresh_token"]).await;
    assert!(plain.contains("no secret") && !plain.contains("client_secret:"), "{plain}");

    let update = [
        "clients",
        "update",
        id,
        "--scope",
        "openid profile",
        "--web-origin",
        "https://app.example",
        "--first-party",
        "--redirect-uri",
        "http://127.0.0.1/cb",
        "--redirect-uri",
        "com.example.app:/cb",
        "--json",
    ];
    let updated: Value = serde_json::from_str(&run_ok(&env, &update).await).unwrap();
    assert_eq!(updated["scope"], "openid profile");
    assert_eq!(updated["web_origins"], serde_json::json!(["https://app.example"]));
    assert_eq!(updated["redirect_uris"], serde_json::json!(["http://127.0.0.1/cb", "com.example.app:/cb"]));
    assert_eq!(updated["first_party"], true);
    assert_eq!(updated["name"], "cli app");
    let cleared: Value =
        serde_json::from_str(&run_ok(&env, &["clients", "update", id, "--web-origin", "", "--json"]).await)
            .unwrap();
    assert_eq!(cleared["web_origins"], serde_json::json!([]));

    let refusals = [
        (vec!["--auth-method", "client_secret_basic"], "cannot change after registration"),
        (vec!["--redirect-uri", "http://localhost/cb"], "RFC 8252 §8.3"),
        (vec!["--grant", "client_credentials"], "public client"),
    ];
    for (flags, message) in refusals {
        let output = jwtd(&env).args(["clients", "update", id]).args(&flags).output().await.unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success() && stderr.contains(message), "{flags:?}: {stderr}");
    }

    let pool = jwtd::startup::open_pool(&jwtd::config::Settings::load_from(&env).unwrap()).unwrap();
    let events = jwtd::store::audit::recent(&mut pool.get().unwrap(), 10).unwrap();
    let updates: Vec<_> = events.iter().filter(|e| e.kind == "client.updated").collect();
    assert_eq!(updates.len(), 2, "{events:?}");
    assert!(updates.iter().all(|e| e.actor.as_deref() == Some("cli") && e.subject.as_deref() == Some(id)));
}

fn vars(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
}

/// Production refuses to start without a master key or with a plain-http issuer, in one line;
/// a misspelt setting is an error too.
#[tokio::test]
async fn misconfiguration_refuses_to_start_with_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let key = new_master_key();
    let cases = [
        (vars(&[("JWTD_ENV", "production"), ("JWTD__ISSUER", "https://auth.example")]), "JWTD_MASTER_KEY"),
        (vars(&[("JWTD_ENV", "production"), ("JWTD_MASTER_KEY", &key)]), "https"),
        (vars(&[("JWTD__HTTP__ADRR", "127.0.0.1:0")]), "adrr"),
        (vars(&[("JWTD_MASTER_KEY", "dG9vIHNob3J0"), ("JWTD__HTTP__ADDR", "127.0.0.1:0")]), "master key"),
    ];
    // A taken port fails the start before anything is created (no database, key or bootstrap secret).
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let taken_addr = taken.local_addr().unwrap().to_string();
    let cases = cases.into_iter().chain([(vars(&[("JWTD__HTTP__ADDR", &taken_addr)]), "cannot listen")]);
    for (env, expected) in cases {
        let output = jwtd(&env).arg("serve").current_dir(dir.path()).output().await.unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{env:?} started");
        let lines: Vec<&str> = stderr.lines().filter(|l| l.starts_with("jwtd:")).collect();
        assert_eq!(lines.len(), 1, "{stderr}");
        assert!(lines[0].contains(expected), "{expected:?} not in {stderr}");
    }
    assert!(!dir.path().join("data").exists(), "nothing created on refusal");
}

/// `jwtd` with no configuration at all, in an empty folder: SQLite and a generated master key
/// under data/, the first signing key, a server; SIGTERM stops it cleanly.
#[tokio::test]
async fn the_embedded_default_serves_from_an_empty_folder() {
    let dir = tempfile::tempdir().unwrap();
    let mut jwtd = JwtdProcess::start(&vars(&[("JWTD__HTTP__ADDR", "127.0.0.1:0")]), dir.path()).await;
    let address = jwtd.address.clone();
    assert!(
        jwtd.log.iter().any(|l| l.contains("WARN") && l.contains("generated a master key")),
        "{:?}",
        jwtd.log
    );
    assert!(!jwtd.log.iter().any(|l| l.contains("ERROR")), "a newcomer's first screen: {:?}", jwtd.log);

    let http = reqwest::Client::new();
    let ready = http.get(format!("{address}/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 200);
    let data = dir.path().join("data");
    assert_eq!(std::fs::metadata(&data).unwrap().permissions().mode() & 0o777, 0o700);
    let mode = std::fs::metadata(data.join("master.key")).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    let mode = std::fs::metadata(data.join("jwtd.db")).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "the database holds hashes and sealed keys");
    let jwks: Value =
        http.get(format!("{address}/.well-known/jwks.json")).send().await.unwrap().json().await.unwrap();
    assert_eq!(jwks["keys"].as_array().unwrap().len(), 2);
    let bootstrap: Value =
        serde_json::from_slice(&std::fs::read(data.join("bootstrap-admin.json")).unwrap()).unwrap();
    assert_eq!(bootstrap["scope"], "jwtd:admin");
    let mode = std::fs::metadata(data.join("bootstrap-admin.json")).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);

    // The container healthcheck: 0 while the server is ready, non-zero once it is gone.
    let check = vars(&[("JWTD__HTTP__ADDR", address.trim_start_matches("http://"))]);
    let healthy = |env: Vec<(String, String)>| {
        let dir = dir.path().to_owned();
        async move { run_status(&env, &dir, &["healthcheck"]).await }
    };
    assert!(healthy(check.clone()).await);
    // Another server, by address: the JWKS answers 200, so expecting 401 fails.
    let other = address.trim_start_matches("http://").to_owned();
    assert!(
        run_status(&[], dir.path(), &["healthcheck", "--addr", &other, "--path", "/.well-known/jwks.json"])
            .await
    );
    let expect_401 = ["healthcheck", "--addr", &other, "--path", "/.well-known/jwks.json", "--expect", "401"];
    assert!(!run_status(&[], dir.path(), &expect_401).await);

    assert!(jwtd.terminate().await.success());
    assert!(jwtd.log.iter().any(|l| l.contains("jwtd stopped")), "{:?}", jwtd.log);
    assert!(!healthy(check).await);
}

async fn run_status(vars: &[(String, String)], dir: &std::path::Path, args: &[&str]) -> bool {
    jwtd(vars).args(args).current_dir(dir).output().await.unwrap().status.success()
}

/// SIGTERM while a request is in flight: the request still gets its answer, then jwtd exits 0.
#[tokio::test]
async fn sigterm_lets_in_flight_requests_finish() {
    let dir = tempfile::tempdir().unwrap();
    let db = TestDb::new(Backend::Sqlite);
    let mut env = test_env(&db, &new_master_key());
    // One failed login makes the next attempt wait two seconds on the server: an in-flight
    // request we can see in /metrics.
    env.extend(
        [("JWTD__THROTTLE__SLOW_AFTER", "1"), ("JWTD__THROTTLE__SLOW_DELAY", "2s")]
            .map(|(k, v)| (k.to_owned(), v.to_owned())),
    );
    let mut jwtd = JwtdProcess::start(&env, dir.path()).await;
    let settings = jwtd::config::Settings::load_from(&env).unwrap();
    let registration =
        jwtd::accounts::clients::ClientRegistration::new("app", "read", &[], &["password".to_owned()])
            .unwrap();
    let pool = jwtd::startup::open_pool(&settings).unwrap();
    let (client, secret) =
        jwtd::store::clients::register(&mut pool.get().unwrap(), &registration, 0).unwrap();
    let http = reqwest::Client::new();
    let login = {
        let (http, url) = (http.clone(), format!("{}/oauth2/token", jwtd.address));
        let (id, secret) = (client.id.clone(), secret.unwrap().expose().to_owned());
        move || {
            let (http, url, id, secret) = (http.clone(), url.clone(), id.clone(), secret.clone());
            async move {
                let form = [
                    ("grant_type", "password"),
                    ("username", "x@example.com"),
                    ("password", "not the password"),
                ];
                http.post(url).basic_auth(id, Some(secret)).form(&form).send().await
            }
        }
    };
    assert_eq!(login().await.unwrap().status(), 400);
    let slow = tokio::spawn(login());
    let metrics = format!("{}/metrics", jwtd.address);
    let mut in_flight = false;
    for _ in 0..100 {
        let text = http.get(&metrics).send().await.unwrap().text().await.unwrap();
        // The scrape itself is one request in flight; the slow login is the second.
        if crate::helpers::sample(&text, "jwtd_http_requests_in_flight").is_some_and(|n| n >= 2.0) {
            in_flight = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(in_flight, "the slow login never showed up in flight");
    let status = jwtd.terminate().await;
    let answered = slow.await.unwrap().expect("the in-flight request was cut off");
    assert_eq!(answered.status(), 400);
    assert_eq!(answered.json::<Value>().await.unwrap()["error"], "invalid_grant");
    assert!(status.success(), "{status:?}");
}

/// In production jwtd never prints a secret (it would land in container logs): without
/// `JWTD_BOOTSTRAP_ADMIN_FILE` it creates no admin client and says how to make one; with it, the
/// credentials go to that file (0600) and work. `/metrics` stays off the public listener.
#[tokio::test]
async fn production_prints_no_secret_and_keeps_metrics_private() {
    use tokio::io::AsyncReadExt;
    let dir = tempfile::tempdir().unwrap();
    let key = new_master_key();
    let data_dir = dir.path().join("data").display().to_string();
    let mut env = vars(&[
        ("JWTD_ENV", "production"),
        ("JWTD__ISSUER", "https://auth.example"),
        ("JWTD_MASTER_KEY", &key),
        ("JWTD__HTTP__ADDR", "127.0.0.1:0"),
        ("JWTD__DATA_DIR", &data_dir),
    ]);
    let http = reqwest::Client::new();
    let stdout_of = |mut jwtd: JwtdProcess| async move {
        assert!(jwtd.terminate().await.success());
        let mut out = String::new();
        jwtd.child.stdout.take().unwrap().read_to_string(&mut out).await.unwrap();
        (out, jwtd.log)
    };

    let jwtd = JwtdProcess::start(&env, dir.path()).await;
    let metrics = http.get(format!("{}/metrics", jwtd.address)).send().await.unwrap();
    assert_eq!(metrics.status(), 404, "/metrics on the public listener in production");
    let (out, log) = stdout_of(jwtd).await;
    assert!(!out.contains("client_secret") && !out.contains("jwtd_cs_"), "{out}");
    assert!(log.iter().any(|l| l.contains("jwtd clients create")), "{log:?}");

    let file = dir.path().join("secrets").join("admin.json");
    env.push(("JWTD_BOOTSTRAP_ADMIN_FILE".to_owned(), file.display().to_string()));
    let jwtd = JwtdProcess::start(&env, dir.path()).await;
    let credentials: Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    assert_eq!(std::fs::metadata(&file).unwrap().permissions().mode() & 0o777, 0o600);
    let token: Value = http
        .post(format!("{}/oauth2/token", jwtd.address))
        .basic_auth(credentials["client_id"].as_str().unwrap(), credentials["client_secret"].as_str())
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let keys = http
        .get(format!("{}/admin/keys", jwtd.address))
        .bearer_auth(token["access_token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(keys.status(), 200);
    let (out, log) = stdout_of(jwtd).await;
    let secret = credentials["client_secret"].as_str().unwrap();
    assert!(!out.contains(secret) && !log.iter().any(|l| l.contains(secret)), "the secret was printed");
}

/// Issue 17's CLI: a client registered with its logout URIs, then a person's sessions and
/// consents listed, a consent withdrawn and every session ended, from the command line.
async fn an_operator_looks_after_sessions_and_consents_with_the_cli(backend: Backend) {
    use crate::code_flow::{Browser, authorize_url, code_for, redeem};
    let db = Arc::new(TestDb::new(backend));
    let master_key = new_master_key();
    let env = test_env(&db, &master_key);
    let app = spawn_app_on(Arc::clone(&db), &master_key, &[]).await;
    let create = [
        "clients",
        "create",
        "--name=Expenses",
        "--scope=openid email offline_access",
        "--grant=authorization_code",
        "--grant=refresh_token",
        "--redirect-uri=https://app.example/cb",
        "--post-logout-redirect-uri=https://app.example/bye",
        "--backchannel-logout-uri=https://app.example/backchannel",
        "--json",
    ];
    let created: Value = serde_json::from_str(&run_ok(&env, &create).await).unwrap();
    assert_eq!(created["post_logout_redirect_uris"], serde_json::json!(["https://app.example/bye"]));
    assert_eq!(created["backchannel_logout_uri"], "https://app.example/backchannel");
    assert_eq!(created["first_party"], false);
    let client = TestClient {
        id: created["client_id"].as_str().unwrap().to_owned(),
        secret: created["client_secret"].as_str().unwrap().to_owned(),
    };
    let user = app.create_user("alice@example.com", crate::code_flow::PASSWORD, serde_json::json!({}));
    let mut browser = Browser::new();
    let code = code_for(&app, &mut browser, &client, "alice@example.com").await;
    let tokens: Value = redeem(&app, &client, &code, &[]).await.json().await.unwrap();
    let user_flag = format!("--user={}", user.id);

    let sessions: Value =
        serde_json::from_str(&run_ok(&env, &["users", "sessions", &user_flag, "--json"]).await).unwrap();
    let listed = sessions["sessions"].as_array().unwrap();
    assert_eq!(listed.len(), 1, "{sessions}");
    assert_eq!(listed[0]["clients"], serde_json::json!([client.id]));
    let consents: Value =
        serde_json::from_str(&run_ok(&env, &["users", "consents", &user_flag, "--json"]).await).unwrap();
    assert_eq!(consents["consents"][0]["client_id"], client.id.as_str(), "{consents}");

    let client_flag = format!("--client={}", client.id);
    let revoked = run_ok(&env, &["users", "revoke-consent", &user_flag, &client_flag]).await;
    assert!(revoked.contains("1 refresh families revoked"), "{revoked}");
    let refresh =
        [("grant_type", "refresh_token"), ("refresh_token", tokens["refresh_token"].as_str().unwrap())];
    let refused = crate::flow_clients::token_request(&app, &client, &refresh).await;
    assert_eq!(refused.status(), 400, "the withdrawn consent's tokens stop working");
    let again = browser.get(&authorize_url(&app, &client.id, &[])).await;
    assert!(again.is_consent_page(), "asked again");

    let ended = run_ok(&env, &["users", "end-session", &user_flag, "--all"]).await;
    assert!(ended.starts_with("1 sessions ended"), "{ended}");
    let signed_out = browser.get(&authorize_url(&app, &client.id, &[("prompt", "none")])).await;
    assert_eq!(signed_out.redirect_params()["error"], "login_required");
    let missing = jwtd(&env).args(["users", "end-session", &user_flag]).output().await.unwrap();
    assert!(!missing.status.success(), "--session or --all is required");
}

/// Issue 18: `--auth-method private_key_jwt --jwks-file`, then a token with an assertion; a set
/// holding a private key is refused with one line.
async fn a_key_client_is_registered_with_the_cli(backend: Backend) {
    use jwtd::keys::signing;
    let db = Arc::new(TestDb::new(backend));
    let master_key = new_master_key();
    let env = test_env(&db, &master_key);
    let app = spawn_app_on(Arc::clone(&db), &master_key, &[]).await;
    let (signer, jwks) = crate::private_key_jwt::service_key(signing::Algorithm::Es256);
    let dir = tempfile::tempdir().unwrap();
    let jwks_file = dir.path().join("billing.jwks.json");
    std::fs::write(&jwks_file, jwks.to_string()).unwrap();
    let file_flag = format!("--jwks-file={}", jwks_file.display());
    let create = [
        "clients",
        "create",
        "--name=billing",
        "--scope=read",
        "--audience=https://api",
        "--auth-method=private_key_jwt",
        &file_flag,
        "--json",
    ];
    let created: Value = serde_json::from_str(&run_ok(&env, &create).await).unwrap();
    assert!(created.get("client_secret").is_none(), "{created}");
    assert_eq!(created["jwks"], jwks);
    let client_id = created["client_id"].as_str().unwrap();
    let assertion = crate::private_key_jwt::assertion(&app, &signer, client_id, &[]);
    let form = [
        ("grant_type", "client_credentials"),
        ("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"),
        ("client_assertion", assertion.as_str()),
    ];
    assert_eq!(app.post_form("/oauth2/token", &form).await.status(), 200);

    let mut private = jwks.clone();
    private["keys"][0]["d"] = "jpsQnnGQmL-YBIffH1136cspYG6-0iY7X1fCE9-E9LI".into();
    std::fs::write(&jwks_file, private.to_string()).unwrap();
    let refused = jwtd(&env)
        .args(["clients", "create", "--name=leaky", "--auth-method=private_key_jwt", &file_flag])
        .output()
        .await
        .unwrap();
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success() && stderr.contains("private"), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
}

/// Issue 18: a workload-identity client from the command line; an overlapping one refused.
async fn a_workload_client_is_registered_and_changed_with_the_cli(backend: Backend) {
    let db = Arc::new(TestDb::new(backend));
    let env = test_env(&db, &new_master_key());
    let create = [
        "clients",
        "create",
        "--name=payments",
        "--scope=read",
        "--auth-method=workload_identity",
        "--workload-issuer=https://kubernetes.default.svc",
        "--workload-subject=system:serviceaccount:payments:*",
        "--workload-max-lifetime=900",
        "--json",
    ];
    let created: Value = serde_json::from_str(&run_ok(&env, &create).await).unwrap();
    assert_eq!(created["workload_subject"], "system:serviceaccount:payments:*");
    assert_eq!(created["workload_max_lifetime"], 900);
    assert!(created.get("client_secret").is_none());
    let client = created["client_id"].as_str().unwrap();
    let update = ["clients", "update", client, "--workload-audience=https://auth.example.com", "--json"];
    let changed: Value = serde_json::from_str(&run_ok(&env, &update).await).unwrap();
    assert_eq!(changed["workload_audience"], "https://auth.example.com");
    assert_eq!(changed["workload_issuer"], "https://kubernetes.default.svc", "the rest stays");
    let overlapping = [
        "clients",
        "create",
        "--name=api",
        "--auth-method=workload_identity",
        "--workload-issuer=https://kubernetes.default.svc",
        "--workload-subject=system:serviceaccount:payments:api",
    ];
    let refused = jwtd(&env).args(overlapping).output().await.unwrap();
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success() && stderr.contains("overlaps"), "{stderr}");
}

async fn a_token_exchange_client_is_registered_with_the_cli(backend: Backend) {
    let db = Arc::new(TestDb::new(backend));
    let env = test_env(&db, &new_master_key());
    let create = [
        "clients",
        "create",
        "--name=orders",
        "--scope=payments:write",
        "--grant=token_exchange",
        "--served-resource=https://orders.example",
        "--resource=https://payments.example",
        "--resource=https://ledger.example",
        "--dpop=required",
        "--dpop-nonce",
        "--json",
    ];
    let created: Value = serde_json::from_str(&run_ok(&env, &create).await).unwrap();
    assert_eq!((created["dpop"].clone(), created["dpop_nonce"].clone()), (json!("required"), json!(true)));
    assert_eq!(
        created["grant_types"],
        serde_json::json!(["urn:ietf:params:oauth:grant-type:token-exchange"])
    );
    assert_eq!(created["served_resources"], serde_json::json!(["https://orders.example"]));
    assert_eq!(
        created["resources"],
        serde_json::json!(["https://payments.example", "https://ledger.example"])
    );
    let client = created["client_id"].as_str().unwrap();
    let update =
        ["clients", "update", client, "--resource=https://payments.example", "--dpop-nonce=false", "--json"];
    let changed: Value = serde_json::from_str(&run_ok(&env, &update).await).unwrap();
    assert_eq!(changed["dpop_nonce"], json!(false));
    let refused = jwtd(&env).args(["clients", "update", client, "--dpop=sometimes"]).output().await.unwrap();
    assert!(!refused.status.success(), "clap refuses an unknown mode");
    assert_eq!(changed["resources"], serde_json::json!(["https://payments.example"]), "the list replaced");
    let twin = ["clients", "create", "--name=twin", "--grant=token_exchange"];
    let twin =
        [&twin[..], &["--served-resource=https://orders.example", "--resource=https://x.example"]].concat();
    let refused = jwtd(&env).args(&twin).output().await.unwrap();
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success() && stderr.contains("already served"), "{stderr}");
}
