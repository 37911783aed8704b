//! Test harness: databases, a running jwtd, clients, and offline verification.

use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::ServerHandle;
use diesel::{Connection, PgConnection, RunQueryDsl};
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{DecodingKey, Validation};
use jwtd::accounts::clients::{self, ClientRegistration};
use jwtd::clock::{Clock, ManualClock};
use jwtd::config::Settings;
use jwtd::keys::master::MasterKey;
use jwtd::startup::{Application, StartupError};
use jwtd::tokens::AccessClaims;
use serde_json::Value;

pub const ISSUER: &str = "http://jwtd.test";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Runs each named `async fn(Backend)` once per backend, as `name::sqlite` and `name::postgres`.
/// Attributes before a name (e.g. `#[ignore = "why"]`) go on both tests.
#[macro_export]
macro_rules! on_both_backends {
    ($($(#[$attr:meta])* $name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            $(#[$attr])*
            async fn sqlite() {
                super::$name($crate::helpers::Backend::Sqlite).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            $(#[$attr])*
            async fn postgres() {
                if $crate::helpers::postgres_available() {
                    super::$name($crate::helpers::Backend::Postgres).await
                }
            }
        }
    )*};
}

/// Whether the PostgreSQL variants run. Under CI they must: a missing server fails the test.
pub fn postgres_available() -> bool {
    if std::env::var("JWTD_TEST_DATABASE_URL").is_ok_and(|v| !v.is_empty()) {
        return true;
    }
    assert!(std::env::var("CI").as_deref() != Ok("true"), "CI=true but JWTD_TEST_DATABASE_URL is not set");
    eprintln!("skipping the PostgreSQL variant: JWTD_TEST_DATABASE_URL is not set");
    false
}

/// A database of its own for one test: a temporary SQLite file, or a new PostgreSQL database
/// dropped afterwards.
pub struct TestDb {
    pub url: String,
    dir: tempfile::TempDir,
    postgres: Option<(String, String)>,
}

impl TestDb {
    pub fn new(backend: Backend) -> Self {
        let dir = tempfile::tempdir().unwrap();
        match backend {
            Backend::Sqlite => {
                let url = format!("sqlite://{}", dir.path().join("jwtd.db").display());
                Self { url, dir, postgres: None }
            }
            Backend::Postgres => {
                let admin = std::env::var("JWTD_TEST_DATABASE_URL").unwrap();
                let name = format!(
                    "jwtd_test_{}",
                    clients::random_id().unwrap().to_lowercase().replace(['-', '_'], "")
                );
                let mut conn = PgConnection::establish(&admin).expect("connect to JWTD_TEST_DATABASE_URL");
                diesel::sql_query(format!("CREATE DATABASE {name}")).execute(&mut conn).unwrap();
                let (base, _) = admin.rsplit_once('/').unwrap();
                let url = format!("{base}/{name}");
                Self { url, dir, postgres: Some((admin, name)) }
            }
        }
    }

    /// A folder that lives as long as the database, for files a test needs.
    pub fn dir(&self) -> &std::path::Path {
        self.dir.path()
    }

    /// Runs SQL against the test database's server as its administrator (PostgreSQL only).
    pub fn admin_sql(&self, sql: &str) {
        let (admin, _) = self.postgres.as_ref().expect("PostgreSQL only");
        let mut conn = PgConnection::establish(admin).unwrap();
        diesel::sql_query(sql).execute(&mut conn).unwrap();
    }

    pub fn postgres_name(&self) -> &str {
        &self.postgres.as_ref().expect("PostgreSQL only").1
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Some((admin, name)) = &self.postgres
            && let Ok(mut conn) = PgConnection::establish(admin)
        {
            let _ =
                diesel::sql_query(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).execute(&mut conn);
        }
    }
}

/// Environment for a jwtd on this database: port 0, two workers, no config files.
pub fn test_env(db: &TestDb, master_key: &str) -> Vec<(String, String)> {
    [
        ("JWTD_CONFIG_DIR", "/nonexistent"),
        ("JWTD__DATABASE__URL", db.url.as_str()),
        ("JWTD__HTTP__ADDR", "127.0.0.1:0"),
        ("JWTD__HTTP__WORKERS", "2"),
        ("JWTD__ISSUER", ISSUER),
        ("JWTD__DATA_DIR", &db.dir().join("data").display().to_string()),
        ("JWTD_MASTER_KEY", master_key),
        ("JWTD__KEYS__RELOAD_INTERVAL", "100ms"),
        ("JWTD__KEYS__ROTATE_EVERY", "0s"),
        ("JWTD__THROTTLE__SLOW_DELAY", "10ms"),
    ]
    .iter()
    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
    .collect()
}

pub fn new_master_key() -> String {
    MasterKey::generate_base64().unwrap().to_string()
}

pub struct TestApp {
    pub address: String,
    pub http: reqwest::Client,
    pub db: Arc<TestDb>,
    pub master_key: String,
    pub clock: Arc<ManualClock>,
    /// The environment this instance was configured from.
    pub env: Vec<(String, String)>,
    /// The admin API's own listener, when `admin.addr` is set.
    pub admin_address: Option<String>,
    handle: ServerHandle,
}

/// A jwtd on a new database.
pub async fn spawn_app(backend: Backend) -> TestApp {
    spawn_app_on(Arc::new(TestDb::new(backend)), &new_master_key(), &[]).await
}

/// A jwtd on an existing database, with extra `JWTD__…` settings.
pub async fn spawn_app_on(db: Arc<TestDb>, master_key: &str, extra: &[(&str, &str)]) -> TestApp {
    let clock = Arc::new(ManualClock::new(jwtd::clock::SystemClock.now()));
    spawn_app_with(db, master_key, extra, clock).await
}

/// A jwtd whose issuer is the address it listens on, for clients that follow the URLs discovery
/// names (a browser, an OpenID Connect library). The issuer must be known before the port is
/// bound, so a free port is picked first; one another process takes in between is passed over.
pub async fn spawn_app_at_own_address(backend: Backend) -> TestApp {
    let db = Arc::new(TestDb::new(backend));
    let master_key = new_master_key();
    for _ in 0..5 {
        let addr = format!("127.0.0.1:{}", free_port());
        let issuer = format!("http://{addr}");
        let extra = [("JWTD__HTTP__ADDR", addr.as_str()), ("JWTD__ISSUER", issuer.as_str())];
        let clock = Arc::new(ManualClock::new(jwtd::clock::SystemClock.now()));
        match try_spawn_app_with(Arc::clone(&db), &master_key, &extra, clock).await {
            Err(StartupError::Bind { .. }) => continue,
            started => return started.unwrap(),
        }
    }
    panic!("no free port for jwtd in five tries");
}

/// A loopback port free a moment ago (for servers whose address must be known before they bind).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A jwtd on an existing database and a clock shared with the test (and other instances).
pub async fn spawn_app_with(
    db: Arc<TestDb>,
    master_key: &str,
    extra: &[(&str, &str)],
    clock: Arc<ManualClock>,
) -> TestApp {
    try_spawn_app_with(db, master_key, extra, clock).await.unwrap()
}

async fn try_spawn_app_with(
    db: Arc<TestDb>,
    master_key: &str,
    extra: &[(&str, &str)],
    clock: Arc<ManualClock>,
) -> Result<TestApp, StartupError> {
    let mut env = test_env(&db, master_key);
    env.extend(extra.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())));
    let settings = Settings::load_from(&env).unwrap();
    let app_env = env.clone();
    let app = Application::build_with_clock(settings, clock.clone()).await?;
    let address = format!("http://127.0.0.1:{}", app.port());
    let admin_address = app.admin_port().map(|port| format!("http://127.0.0.1:{port}"));
    let handle = app.handle();
    tokio::spawn(app.run_until_stopped());
    let app = TestApp {
        address,
        http: reqwest::Client::builder().timeout(Duration::from_secs(20)).build().unwrap(),
        db,
        master_key: master_key.to_owned(),
        clock,
        env: app_env,
        admin_address,
        handle,
    };
    app.wait_ready().await;
    Ok(app)
}

/// A registered client and its one-time secret.
pub struct TestClient {
    pub id: String,
    pub secret: String,
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.address, path)
    }

    /// Polls `/healthz` until the server answers (bounded).
    pub async fn wait_ready(&self) {
        for _ in 0..200 {
            if self.http.get(self.url("/healthz")).send().await.is_ok_and(|r| r.status() == 200) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("jwtd did not become ready at {}", self.address);
    }

    pub async fn stop(self) -> Arc<TestDb> {
        self.handle.stop(true).await;
        self.db
    }

    pub fn settings(&self) -> Settings {
        Settings::load_from(&self.env).unwrap()
    }

    /// The `iss` of this instance's tokens.
    pub fn issuer(&self) -> String {
        self.settings().issuer
    }

    pub fn register_client(&self, scope: &str, audiences: &[&str], grants: &[&str]) -> TestClient {
        let audiences: Vec<String> = audiences.iter().map(|s| (*s).to_owned()).collect();
        let grants: Vec<String> = grants.iter().map(|s| (*s).to_owned()).collect();
        let registration = ClientRegistration::new("test client", scope, &audiences, &grants).unwrap();
        let pool = jwtd::startup::open_pool(&self.settings()).unwrap();
        let (client, secret) =
            jwtd::store::clients::register(&mut pool.get().unwrap(), &registration, self.clock.now())
                .unwrap();
        TestClient { id: client.id, secret: secret.unwrap().expose().to_owned() }
    }

    /// A resource server's client (`client_credentials`) allowed to introspect other clients'
    /// tokens for `audiences`.
    pub fn register_introspector(&self, audiences: &[&str]) -> TestClient {
        let audiences: Vec<String> = audiences.iter().map(|s| (*s).to_owned()).collect();
        let registration =
            ClientRegistration::new("resource server", "", &[], &["client_credentials".to_owned()])
                .unwrap()
                .with_introspection(&audiences)
                .unwrap();
        let pool = jwtd::startup::open_pool(&self.settings()).unwrap();
        let (client, secret) =
            jwtd::store::clients::register(&mut pool.get().unwrap(), &registration, self.clock.now())
                .unwrap();
        TestClient { id: client.id, secret: secret.unwrap().expose().to_owned() }
    }

    /// `POST /oauth2/introspect` by `client`: the JSON answer.
    pub async fn introspect(&self, client: &TestClient, token: &str) -> Value {
        self.client_post(client, "/oauth2/introspect", &[("token", token)]).await.json().await.unwrap()
    }

    /// The payload of `GET /revocations`, its signature checked against the JWKS.
    pub async fn revocation_feed(&self) -> Value {
        let jws = self.http.get(self.url("/revocations")).send().await.unwrap().text().await.unwrap();
        let header = jsonwebtoken::decode_header(&jws).unwrap();
        assert_eq!(header.typ.as_deref(), Some("jwtd-revocations+jwt"));
        let jwks = self.jwks().await;
        let jwk = jwks.find(header.kid.as_deref().unwrap()).unwrap();
        let key = DecodingKey::from_jwk(jwk).unwrap();
        let mut validation = Validation::new(header.alg);
        validation.required_spec_claims.clear();
        validation.validate_exp = false;
        jsonwebtoken::decode::<Value>(&jws, &key, &validation).unwrap().claims
    }

    /// A first-party app client: password and refresh_token grants.
    pub fn register_app_client(&self, scope: &str) -> TestClient {
        self.register_client(scope, &["https://api"], &["password", "refresh_token"])
    }

    /// Creates a user directly in the database (the admin API has tests of its own).
    pub fn create_user(&self, email: &str, password: &str, claims: Value) -> jwtd::accounts::users::User {
        let settings = self.settings();
        let hash = jwtd::accounts::passwords::PasswordHasher::new(&settings.passwords)
            .unwrap()
            .hash_blocking(password)
            .unwrap();
        let pool = jwtd::startup::open_pool(&settings).unwrap();
        let email = jwtd::accounts::users::normalize_email(email).unwrap();
        let claims = claims.as_object().cloned().unwrap_or_default();
        jwtd::store::users::create(&mut pool.get().unwrap(), &email, &hash, &claims, self.clock.now())
            .unwrap()
    }

    /// `grant_type=password` with HTTP Basic client authentication.
    pub async fn login(
        &self,
        client: &TestClient,
        username: &str,
        password: &str,
        extra: &[(&str, &str)],
    ) -> reqwest::Response {
        let grant = [("grant_type", "password"), ("username", username), ("password", password)];
        self.client_post(client, "/oauth2/token", &[grant.as_slice(), extra].concat()).await
    }

    /// `grant_type=refresh_token` with HTTP Basic client authentication.
    pub async fn refresh(
        &self,
        client: &TestClient,
        token: &str,
        extra: &[(&str, &str)],
    ) -> reqwest::Response {
        let grant = [("grant_type", "refresh_token"), ("refresh_token", token)];
        self.client_post(client, "/oauth2/token", &[grant.as_slice(), extra].concat()).await
    }

    /// A client-authenticated form POST (revocation, introspection).
    pub async fn client_post(
        &self,
        client: &TestClient,
        path: &str,
        form: &[(&str, &str)],
    ) -> reqwest::Response {
        self.http
            .post(self.url(path))
            .basic_auth(&client.id, Some(&client.secret))
            .form(form)
            .send()
            .await
            .unwrap()
    }

    /// `GET /metrics`, checked to be the Prometheus text format.
    pub async fn scrape(&self) -> String {
        let response = self.http.get(self.url("/metrics")).send().await.unwrap();
        assert_eq!(response.status(), 200);
        assert!(response.headers()["content-type"].to_str().unwrap().starts_with("text/plain"));
        response.text().await.unwrap()
    }

    pub fn pool(&self) -> jwtd::store::Pool {
        jwtd::startup::open_pool(&self.settings()).unwrap()
    }

    pub async fn post_form(&self, path: &str, form: &[(&str, &str)]) -> reqwest::Response {
        self.http.post(self.url(path)).form(form).send().await.unwrap()
    }

    /// `client_credentials` with HTTP Basic.
    pub async fn client_token(&self, client: &TestClient, extra: &[(&str, &str)]) -> reqwest::Response {
        let mut form = vec![("grant_type", "client_credentials")];
        form.extend_from_slice(extra);
        self.http
            .post(self.url("/oauth2/token"))
            .basic_auth(&client.id, Some(&client.secret))
            .form(&form)
            .send()
            .await
            .unwrap()
    }

    /// A token with scope `jwtd:admin` from a freshly registered admin client.
    pub async fn admin_token(&self) -> String {
        let admin = self.register_client("jwtd:admin", &[], &["client_credentials"]);
        self.token_of(&admin).await
    }

    pub async fn token_of(&self, client: &TestClient) -> String {
        let response = self.client_token(client, &[]).await;
        assert_eq!(response.status(), 200);
        let body: Value = response.json().await.unwrap();
        body["access_token"].as_str().unwrap().to_owned()
    }

    pub async fn admin_post(&self, token: &str, path: &str, body: Option<Value>) -> reqwest::Response {
        let request = self.http.post(self.url(path)).bearer_auth(token);
        let request = match body {
            Some(body) => request.json(&body),
            None => request,
        };
        request.send().await.unwrap()
    }

    pub async fn admin_patch(&self, token: &str, path: &str, body: Value) -> reqwest::Response {
        self.http.patch(self.url(path)).bearer_auth(token).json(&body).send().await.unwrap()
    }

    pub async fn admin_get(&self, token: &str, path: &str) -> reqwest::Response {
        self.http.get(self.url(path)).bearer_auth(token).send().await.unwrap()
    }

    /// Polls until `check` holds (bounded: five seconds).
    pub async fn eventually<F, Fut>(&self, what: &str, mut check: F)
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = bool>,
    {
        for _ in 0..100 {
            if check().await {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("{what}: not within five seconds");
    }

    pub async fn jwks(&self) -> JwkSet {
        self.http.get(self.url("/.well-known/jwks.json")).send().await.unwrap().json().await.unwrap()
    }
}

/// Verifies an access token the way any resource server would, from the JWKS alone.
pub fn verify_offline(token: &str, jwks: &JwkSet, audience: &str) -> Result<AccessClaims, String> {
    verify_offline_at(token, jwks, audience, jwtd::clock::SystemClock.now())
}

/// The same, with time claims checked at `now` (a test's manual clock), 60 s leeway on `nbf`.
pub fn verify_offline_at(
    token: &str,
    jwks: &JwkSet,
    audience: &str,
    now: i64,
) -> Result<AccessClaims, String> {
    let header = jsonwebtoken::decode_header(token).map_err(|e| e.to_string())?;
    if header.typ.as_deref() != Some("at+jwt") {
        return Err(format!("typ is {:?}", header.typ));
    }
    let kid = header.kid.ok_or("no kid")?;
    let jwk = jwks.find(&kid).ok_or("kid not in the JWKS")?;
    let key = DecodingKey::from_jwk(jwk).map_err(|e| e.to_string())?;
    // The algorithm comes from the JWK, never from the token.
    let key_alg = jwk.common.key_algorithm.ok_or("JWK without alg")?;
    let alg = jsonwebtoken::Algorithm::try_from(key_alg).map_err(|e| e.to_string())?;
    let mut validation = Validation::new(alg);
    validation.set_issuer(&[ISSUER]);
    validation.set_audience(&[audience]);
    validation.set_required_spec_claims(&["exp", "nbf", "iss", "aud", "sub"]);
    validation.validate_exp = false;
    validation.validate_nbf = false;
    let claims = jsonwebtoken::decode::<AccessClaims>(token, &key, &validation)
        .map(|d| d.claims)
        .map_err(|e| e.to_string())?;
    if now >= claims.exp {
        return Err("expired".into());
    }
    if claims.nbf > now + 60 {
        return Err("not yet valid".into());
    }
    Ok(claims)
}

/// A resource server's verifier that caches the JWKS for exactly the max-age jwtd sent and
/// never refetches early, not even for an unknown `kid`: the strictest cache a verifier may
/// keep. Time is the test's manual clock.
pub struct CachingVerifier {
    jwks: Option<JwkSet>,
    expires_at: i64,
    pub fetches: usize,
}

impl CachingVerifier {
    pub fn new() -> Self {
        Self { jwks: None, expires_at: i64::MIN, fetches: 0 }
    }

    /// Verifies as `verify_offline_at` does, refetching the JWKS from `app` only once the cached
    /// copy expired.
    pub async fn verify(
        &mut self,
        app: &TestApp,
        token: &str,
        audience: &str,
    ) -> Result<AccessClaims, String> {
        let now = app.clock.now();
        if self.jwks.is_none() || now >= self.expires_at {
            let response = app.http.get(app.url("/.well-known/jwks.json")).send().await.unwrap();
            let max_age = max_age(response.headers());
            self.jwks = Some(response.json().await.unwrap());
            self.expires_at = now + max_age;
            self.fetches += 1;
        }
        verify_offline_at(token, self.jwks.as_ref().ok_or("no JWKS")?, audience, now)
    }
}

pub fn max_age(headers: &reqwest::header::HeaderMap) -> i64 {
    let value = headers["cache-control"].to_str().unwrap();
    value.split("max-age=").nth(1).and_then(|v| v.split(',').next()).unwrap().trim().parse().unwrap()
}

/// Makes the database refuse audit events of `kind`, as a failing disk or connection would.
pub fn refuse_audit_events(app: &TestApp, backend: Backend, kind: &str) {
    use diesel::RunQueryDsl;
    let name = kind.replace('.', "_");
    let statement = match backend {
        Backend::Sqlite => format!(
            "CREATE TRIGGER refuse_{name} BEFORE INSERT ON audit_events WHEN NEW.kind = '{kind}' \
             BEGIN SELECT RAISE(ABORT, 'refused'); END"
        ),
        Backend::Postgres => {
            format!(
                "ALTER TABLE audit_events ADD CONSTRAINT refuse_{name} CHECK (kind <> '{kind}') NOT VALID"
            )
        }
    };
    diesel::sql_query(statement).execute(&mut **app.pool().get().unwrap()).unwrap();
}

/// Asserts an error response: status, RFC 6749 §5.2 JSON body with this code, never cached.
pub async fn assert_error(
    response: reqwest::Response,
    status: u16,
    code: &str,
) -> (reqwest::header::HeaderMap, Value) {
    let headers = response.headers().clone();
    assert_eq!(response.status(), status, "status");
    assert_eq!(headers["content-type"], "application/json", "content type");
    assert_eq!(headers["cache-control"], "no-store");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], code, "{body}");
    assert!(body["error_description"].as_str().is_some_and(|d| !d.is_empty()), "{body}");
    (headers, body)
}

/// The value of one sample in the text format, e.g. `jwtd_tokens_issued_total{grant="password"}`.
pub fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines().find_map(|line| line.strip_prefix(series).and_then(|rest| rest.trim().parse().ok()))
}

/// A `jwtd serve` process of the real binary, listening on a port it picked itself.
pub struct JwtdProcess {
    pub child: tokio::process::Child,
    pub address: String,
    /// Its log so far (standard error), one entry per line.
    pub log: Vec<String>,
    lines: tokio::io::Lines<tokio::io::BufReader<tokio::process::ChildStderr>>,
}

impl JwtdProcess {
    /// Starts the binary with exactly `env` (plus PATH) in `dir`, and waits (bounded) for the
    /// line saying where it listens.
    pub async fn start(env: &[(String, String)], dir: &std::path::Path) -> Self {
        use tokio::io::AsyncBufReadExt;
        let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_jwtd"))
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .envs(env.iter().cloned())
            .arg("serve")
            .current_dir(dir)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let mut lines = tokio::io::BufReader::new(child.stderr.take().unwrap()).lines();
        let mut log = Vec::new();
        let address = tokio::time::timeout(Duration::from_secs(60), async {
            while let Some(line) = lines.next_line().await.unwrap() {
                log.push(line.clone());
                if let Some(rest) = line.split("jwtd listening on ").nth(1) {
                    return rest.split_whitespace().next().unwrap().trim_end_matches('"').to_owned();
                }
            }
            panic!("jwtd exited before listening: {log:?}");
        })
        .await
        .expect("jwtd did not start in time");
        Self { child, address, log, lines }
    }

    /// Sends SIGTERM, waits (bounded) for the exit, and returns the exit status; the rest of the
    /// log is read into `log`.
    pub async fn terminate(&mut self) -> std::process::ExitStatus {
        let pid = self.child.id().unwrap().to_string();
        assert!(std::process::Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
        let status = tokio::time::timeout(Duration::from_secs(30), self.child.wait()).await.unwrap().unwrap();
        while let Some(line) = self.lines.next_line().await.unwrap() {
            self.log.push(line);
        }
        status
    }
}

/// The payload of a JWT, not verified (the tests look at what jwtd put in).
pub fn claims_of(jwt: &str) -> Value {
    use base64::Engine;
    let payload = jwt.split('.').nth(1).unwrap();
    serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload).unwrap())
        .unwrap()
}
