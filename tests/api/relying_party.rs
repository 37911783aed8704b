//! An off-the-shelf relying party against a real jwtd: openid-client (npm), run by
//! `tests/rp/rp.mjs` under node, does what a real app's OpenID Connect library does.
//!
//! It needs node and `tests/rp/node_modules` (`npm ci --prefix tests/rp`, which `.ci/run`
//! runs); without them a test says it was skipped and passes, and with `CI=true` it fails.

use std::path::PathBuf;
use std::time::Duration;

use serde_json::{Value, json};

use crate::flow_clients::{ClientKind, EMAIL, PASSWORD, register, register_flow_client};
use crate::helpers::{Backend, TestApp, TestClient, sample, spawn_app_at_own_address};
use crate::on_both_backends;

on_both_backends!(
    openid_client_signs_in_as_a_web_app_and_as_a_public_client,
    openid_client_authenticates_a_service_with_private_key_jwt,
    openid_client_gets_a_dpop_bound_token_and_calls_a_resource_server_with_it,
);

/// Issue 20: a public client through openid-client's own DPoP support (a fresh ES256 key, a
/// proof per request, the `use_dpop_nonce` retry, since this client must use nonces) signs in,
/// gets DPoP-bound tokens, calls userinfo and refreshes with them, and calls jwtd-verify's
/// example resource server (the real binary), which accepts the bound token with the library's
/// proof and says it was DPoP-bound.
async fn openid_client_gets_a_dpop_bound_token_and_calls_a_resource_server_with_it(backend: Backend) {
    let test = "openid_client_gets_a_dpop_bound_token_and_calls_a_resource_server_with_it";
    let (Some(rp), Some(example)) = (RelyingParty::find(test), ExampleResourceServer::find(test)) else {
        return;
    };
    let app = spawn_app_at_own_address(backend).await;
    let admin = app.admin_token().await;
    let redirect = "http://127.0.0.1:9/spa/callback";
    let spa = register(
        &app,
        &admin,
        json!({
            "name": "spa", "scope": "openid email invoices:read", "audiences": ["https://api.example.com"],
            "grant_types": ["authorization_code", "refresh_token"], "redirect_uris": [redirect],
            "token_endpoint_auth_method": "none", "first_party": true, "dpop_nonce": true,
        }),
    )
    .await;
    app.create_user(EMAIL, PASSWORD, json!({}));
    let api = example.start(&app).await;
    let (id, redirect) = (format!("--client-id={}", spa.id), format!("--redirect-uri={redirect}"));
    let resource = format!("--resource-url={api}/invoices");
    let args = [
        id.as_str(),
        redirect.as_str(),
        "--username",
        EMAIL,
        "--scope",
        "openid email invoices:read",
        "--dpop",
        resource.as_str(),
    ];
    let summary = rp.run(&app, &args, "", PASSWORD).await;
    for member in ["token_type", "refreshed_token_type"] {
        assert!(summary[member].as_str().unwrap().eq_ignore_ascii_case("dpop"), "{member}: {summary}");
    }
    assert_eq!(summary["userinfo_email"], EMAIL, "userinfo took the bound token: {summary}");
    assert_eq!(summary["refresh_token_rotated"], true, "the bound refresh: {summary}");
    let called = &summary["resource"];
    assert_eq!(called["status"], 200, "{summary}");
    assert_eq!(called["body"]["dpop"], true, "{summary}");
    assert_eq!(called["body"]["client_id"], spa.id.as_str(), "{summary}");
    let metrics = app.scrape().await;
    let nonce_asked = sample(&metrics, r#"jwtd_dpop_proofs_total{outcome="use_nonce"}"#);
    assert!(nonce_asked.is_some_and(|n| n >= 1.0), "the library met use_dpop_nonce and retried");
    // Told its public origin, the example offers both schemes to a caller without credentials.
    let bare = app.http.get(format!("{api}/invoices")).send().await.unwrap();
    let offered: Vec<&str> =
        bare.headers().get_all("www-authenticate").iter().map(|v| v.to_str().unwrap()).collect();
    assert!(offered.iter().any(|c| c.contains("DPoP algs=") && c.contains("ES256")), "{offered:?}");
}

/// jwtd-verify's example resource server (`verify/examples/resource_server.rs`), the binary
/// `cargo test --workspace` builds beside the tests.
struct ExampleResourceServer {
    binary: PathBuf,
}

impl ExampleResourceServer {
    /// The binary, or `None` (and a message) when it was not built (`cargo nextest run -p jwtd`
    /// builds no examples of jwtd-verify) outside CI.
    fn find(test: &str) -> Option<Self> {
        let exe = std::env::current_exe().unwrap();
        let profile_dir = exe.parent().and_then(|deps| deps.parent()).unwrap();
        let binary = profile_dir.join("examples").join("resource_server");
        if binary.is_file() {
            return Some(Self { binary });
        }
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "CI=true but {} is missing (cargo test --workspace builds it)",
            binary.display()
        );
        eprintln!("skipping {test}: build it with cargo build -p jwtd-verify --example resource_server");
        None
    }

    /// Starts it for `app`'s tokens (audience https://api.example.com) on a free loopback port,
    /// its public origin the address it listens on, and polls until it answers; its address. The
    /// process ends when the test does.
    async fn start(&self, app: &TestApp) -> String {
        let addr = format!("127.0.0.1:{}", crate::helpers::free_port());
        let child = tokio::process::Command::new(&self.binary)
            .env("JWTD_ISSUER", app.issuer())
            .env("JWTD_AUDIENCE", "https://api.example.com")
            .env("ADDR", &addr)
            .env("PUBLIC_ORIGIN", format!("http://{addr}"))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        // Kept alive with the runtime; killed when the test's runtime drops it.
        tokio::spawn(async move {
            let mut child = child;
            let _ = child.wait().await;
        });
        let api = format!("http://{addr}");
        for _ in 0..200 {
            if app.http.get(format!("{api}/invoices")).send().await.is_ok_and(|r| r.status() == 401) {
                return api;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("the example resource server did not answer at {api}");
    }
}

/// Issue 18: openid-client's `PrivateKeyJwt` (its own assertions: `aud` the issuer, a fresh
/// `jti` each request) gets `client_credentials` tokens from jwtd, twice.
async fn openid_client_authenticates_a_service_with_private_key_jwt(backend: Backend) {
    let Some(rp) = RelyingParty::find("openid_client_authenticates_a_service_with_private_key_jwt") else {
        return;
    };
    let app = spawn_app_at_own_address(backend).await;
    let generated = jwtd::keys::signing::generate(jwtd::keys::signing::Algorithm::Es256, 2048).unwrap();
    let client_id =
        crate::private_key_jwt::register_key_client(&app, json!({ "keys": [generated.jwk] })).await;
    let dir = tempfile::tempdir().unwrap();
    let key_file = dir.path().join("service.pk8");
    std::fs::write(&key_file, &*generated.pkcs8).unwrap();
    let args = [
        format!("--client-id={client_id}"),
        "--until=client-credentials".to_owned(),
        format!("--private-key-file={}", key_file.display()),
        format!("--kid={}", generated.jwk.kid),
        "--scope=read".to_owned(),
    ];
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let summary = rp.run(&app, &args, "", "").await;
    assert_eq!(summary["mode"], "private_key_jwt", "{summary}");
    assert!(summary["token_type"].as_str().unwrap().eq_ignore_ascii_case("bearer"), "{summary}");
    assert_eq!(summary["second"], true, "a second assertion, a second token: {summary}");
    let access = summary["access_token"].as_str().unwrap();
    let claims = jsonwebtoken::dangerous::insecure_decode::<Value>(access).unwrap().claims;
    assert_eq!(
        (claims["client_id"].as_str(), claims["iss"].as_str()),
        (Some(client_id.as_str()), Some(app.issuer().as_str()))
    );
}

/// What works before the flow: openid-client discovers jwtd (issuer equal to the URL it asked,
/// over loopback http) and reads its endpoints.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openid_client_discovers_jwtd() {
    let Some(rp) = RelyingParty::find("openid_client_discovers_jwtd") else { return };
    let app = spawn_app_at_own_address(Backend::Sqlite).await;
    let client = app.register_app_client("openid");
    let summary = rp
        .run(&app, &[&format!("--client-id={}", client.id), "--until", "discovery"], &client.secret, "")
        .await;
    let issuer = app.issuer();
    assert_eq!(summary["step"], "discovery");
    assert_eq!(summary["mode"], "confidential");
    assert_eq!(summary["issuer"], issuer.as_str());
    assert_eq!(summary["token_endpoint"], format!("{issuer}/oauth2/token"));
    assert_eq!(summary["jwks_uri"], format!("{issuer}/.well-known/jwks.json"));
}

/// Issues 16 and 17's relying-party test: the whole sign-in (discovery, authorization URL with
/// PKCE, state and nonce, the login form, code exchange with ID token validation, userinfo,
/// refresh) and the logout (end-session URL with the ID token, then a refused refresh) for a
/// confidential web app and for a public client.
async fn openid_client_signs_in_as_a_web_app_and_as_a_public_client(backend: Backend) {
    let Some(rp) = RelyingParty::find("openid_client_signs_in_as_a_web_app_and_as_a_public_client") else {
        return;
    };
    let app = spawn_app_at_own_address(backend).await;
    let admin = app.admin_token().await;
    // Never contacted: the script reads the redirect from jwtd's answer.
    let web_redirect = "http://127.0.0.1:9/web/callback";
    let spa_redirect = "http://127.0.0.1:9/spa/callback";
    let web = register_flow_client(&app, &admin, "web", web_redirect, ClientKind::ConfidentialWeb).await;
    let spa = register_flow_client(&app, &admin, "spa", spa_redirect, ClientKind::Public).await;
    let user = app.create_user(EMAIL, PASSWORD, json!({}));
    for client in [&web, &spa] {
        let path = format!("/admin/clients/{}", client.id);
        let patched =
            app.admin_patch(&admin, &path, json!({ "post_logout_redirect_uris": [AFTER_LOGOUT] })).await;
        assert_eq!(patched.status(), 200);
    }
    for (client, redirect, mode) in [(&web, web_redirect, "confidential"), (&spa, spa_redirect, "public")] {
        let summary = sign_in(&rp, &app, client, redirect).await;
        assert_eq!(summary["mode"], mode, "{summary}");
        assert_eq!(summary["sub"], user.id.as_str(), "{summary}");
        assert_eq!(summary["iss"], app.issuer().as_str(), "{summary}");
        assert_eq!(summary["aud"], client.id.as_str(), "{summary}");
        assert_eq!(summary["userinfo_email"], EMAIL, "{summary}");
        assert_eq!(summary["refreshed"], true, "{summary}");
        assert_eq!(summary["refresh_token_rotated"], true, "{summary}");
        let logout = &summary["logout"];
        assert_eq!(logout["redirected_to"], AFTER_LOGOUT, "{summary}");
        assert_eq!(
            logout["refresh_after_logout"], "invalid_grant",
            "the logout revoked the login: {summary}"
        );
    }
}

/// Where the script's logout asks to be sent (never contacted).
const AFTER_LOGOUT: &str = "http://127.0.0.1:9/signed-out";

async fn sign_in(rp: &RelyingParty, app: &TestApp, client: &TestClient, redirect: &str) -> Value {
    // `--name=value`: a random client id may begin with "-".
    let (id, redirect) = (format!("--client-id={}", client.id), format!("--redirect-uri={redirect}"));
    let logout = format!("--post-logout-redirect-uri={AFTER_LOGOUT}");
    let args = [id.as_str(), redirect.as_str(), "--username", EMAIL, logout.as_str()];
    rp.run(app, &args, &client.secret, PASSWORD).await
}

/// `node tests/rp/rp.mjs`, once its dependencies are installed.
struct RelyingParty {
    script: PathBuf,
}

impl RelyingParty {
    /// The script, or `None` (and a message) without node or `tests/rp/node_modules` outside CI.
    fn find(test: &str) -> Option<Self> {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/rp");
        let node = std::process::Command::new("node").arg("--version").output();
        let missing = match node {
            Ok(output) if output.status.success() => {
                (!dir.join("node_modules/openid-client").is_dir()).then_some("tests/rp/node_modules")
            }
            _ => Some("node"),
        };
        if let Some(missing) = missing {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "CI=true but {missing} is missing (.ci/run runs npm ci --prefix tests/rp)"
            );
            eprintln!("skipping {test}: {missing} is missing (npm ci --prefix tests/rp)");
            return None;
        }
        Some(Self { script: dir.join("rp.mjs") })
    }

    /// Runs the script against `app` with `args` (the issuer is added), the secrets in its
    /// environment (an empty client secret: a public client), and returns its JSON summary,
    /// asserting it succeeded.
    async fn run(&self, app: &TestApp, args: &[&str], client_secret: &str, password: &str) -> Value {
        let mut command = tokio::process::Command::new("node");
        command.arg(&self.script).arg("--issuer").arg(app.issuer()).args(args).kill_on_drop(true);
        command.env_remove("RP_CLIENT_SECRET").env_remove("RP_PASSWORD");
        if !client_secret.is_empty() {
            command.env("RP_CLIENT_SECRET", client_secret);
        }
        if !password.is_empty() {
            command.env("RP_PASSWORD", password);
        }
        let output = tokio::time::timeout(Duration::from_secs(60), command.output())
            .await
            .expect("rp.mjs did not finish within a minute")
            .unwrap();
        let (stdout, stderr) =
            (String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
        assert!(output.status.success(), "rp.mjs failed ({}):\n{stderr}\n{stdout}", output.status);
        serde_json::from_str(stdout.trim())
            .unwrap_or_else(|e| panic!("rp.mjs printed no JSON ({e}): {stdout}"))
    }
}
