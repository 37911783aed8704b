//! Three jwtd processes on one PostgreSQL: key changes reach every instance, reuse and throttling
//! are decided in the database, and killing an instance mid-load loses no issued refresh token.

use std::collections::HashSet;
use std::time::Duration;

use diesel::prelude::*;
use jsonwebtoken::jwk::JwkSet;
use serde_json::Value;

use crate::helpers::{JwtdProcess, TestDb, new_master_key, verify_offline};

struct Cluster {
    /// Dropped last: the database outlives the processes.
    _db: std::sync::Arc<TestDb>,
    instances: Vec<JwtdProcess>,
    http: reqwest::Client,
    env: Vec<(String, String)>,
    _dir: tempfile::TempDir,
}

impl Cluster {
    async fn start() -> Self {
        let db = std::sync::Arc::new(TestDb::new(crate::helpers::Backend::Postgres));
        let dir = tempfile::tempdir().unwrap();
        let mut env = crate::helpers::test_env(&db, &new_master_key());
        env.extend(
            [
                ("JWTD__KEYS__JWKS_MAX_AGE", "2s"),
                ("JWTD__KEYS__LEEWAY", "1s"),
                ("JWTD__THROTTLE__ACCOUNT_LIMIT", "3"),
                ("JWTD__THROTTLE__SLOW_AFTER", "1"),
            ]
            .map(|(k, v)| (k.to_owned(), v.to_owned())),
        );
        let mut instances = Vec::new();
        for _ in 0..3 {
            instances.push(JwtdProcess::start(&env, dir.path()).await);
        }
        Self { _db: db, instances, http: reqwest::Client::new(), env, _dir: dir }
    }

    fn master_key(&self) -> jwtd::keys::master::MasterKey {
        let (_, key) = self.env.iter().find(|(name, _)| name == "JWTD_MASTER_KEY").unwrap();
        jwtd::keys::master::MasterKey::from_base64(key).unwrap()
    }

    fn url(&self, i: usize, path: &str) -> String {
        format!("{}{}", self.instances[i].address, path)
    }

    fn pool(&self) -> jwtd::store::Pool {
        jwtd::startup::open_pool(&jwtd::config::Settings::load_from(&self.env).unwrap()).unwrap()
    }

    /// A client whose tokens are for `https://api` and for jwtd itself (its admin API; a token
    /// with `jwtd:admin` is for jwtd alone, whatever the registered audiences).
    fn client(&self, scope: &str, grants: &[&str]) -> (String, String) {
        let grants: Vec<String> = grants.iter().map(|g| (*g).to_owned()).collect();
        let audiences = ["https://api".to_owned(), crate::helpers::ISSUER.to_owned()];
        let registration =
            jwtd::accounts::clients::ClientRegistration::new("c", scope, &audiences, &grants).unwrap();
        let (client, secret) =
            jwtd::store::clients::register(&mut self.pool().get().unwrap(), &registration, 0).unwrap();
        (client.id, secret.unwrap().expose().to_owned())
    }

    /// A password login through instance `i`, answered 200.
    async fn login(&self, i: usize, client: &(String, String), email: &str) -> Value {
        let form = [("grant_type", "password"), ("username", email), ("password", "correct horse battery")];
        let response = self.token(i, client, &form).await;
        assert_eq!(response.status(), 200);
        response.json().await.unwrap()
    }

    async fn jwks(&self, i: usize) -> JwkSet {
        self.http.get(self.url(i, "/.well-known/jwks.json")).send().await.unwrap().json().await.unwrap()
    }

    async fn token(&self, i: usize, client: &(String, String), form: &[(&str, &str)]) -> reqwest::Response {
        self.http
            .post(self.url(i, "/oauth2/token"))
            .basic_auth(&client.0, Some(&client.1))
            .form(form)
            .send()
            .await
            .unwrap()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[allow(
    clippy::disallowed_methods,
    reason = "real processes on the system clock: a verifier's cache ages in real time"
)]
async fn three_instances_on_one_postgres() {
    if !crate::helpers::postgres_available() {
        return;
    }
    let cluster = Cluster::start().await;
    let service = cluster.client("read jwtd:admin", &["client_credentials"]);
    let app = cluster.client("read", &["password", "refresh_token"]);
    let users = ["u0@example.com", "u1@example.com", "u2@example.com"];
    {
        let settings = jwtd::config::Settings::load_from(&cluster.env).unwrap();
        let hasher = jwtd::accounts::passwords::PasswordHasher::new(&settings.passwords).unwrap();
        let hash = hasher.hash_blocking("correct horse battery").unwrap();
        for email in users {
            jwtd::store::users::create(
                &mut cluster.pool().get().unwrap(),
                email,
                &hash,
                &Default::default(),
                0,
            )
            .unwrap();
        }
    }

    // 1. A rotation through instance 0 reaches 1 and 2, and a caching verifier never fails.
    let admin: Value =
        cluster.token(0, &service, &[("grant_type", "client_credentials")]).await.json().await.unwrap();
    let admin = admin["access_token"].as_str().unwrap().to_owned();
    diesel::update(
        jwtd::store::schema::signing_keys::table.filter(jwtd::store::schema::signing_keys::state.eq("next")),
    )
    .set(
        jwtd::store::schema::signing_keys::published_at
            .eq(jwtd::store::schema::signing_keys::published_at - 3600),
    )
    .execute(&mut **cluster.pool().get().unwrap())
    .unwrap();
    let mut cached: JwkSet = cluster.jwks(2).await;
    let mut cached_at = std::time::Instant::now();
    let rotated: Value = cluster
        .http
        .post(cluster.url(0, "/admin/keys/rotate"))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let new_kid = rotated["current"].as_str().unwrap().to_owned();
    let mut switched = HashSet::new();
    for round in 0..200 {
        let i = round % 3;
        let body: Value = cluster
            .token(i, &service, &[("grant_type", "client_credentials"), ("scope", "read")])
            .await
            .json()
            .await
            .unwrap();
        let token = body["access_token"].as_str().unwrap();
        if cached_at.elapsed() >= Duration::from_secs(2) {
            cached = cluster.jwks(i).await;
            cached_at = std::time::Instant::now();
        }
        verify_offline(token, &cached, "https://api")
            .unwrap_or_else(|e| panic!("round {round}, instance {i}: {e}"));
        if jsonwebtoken::decode_header(token).unwrap().kid.as_deref() == Some(new_kid.as_str()) {
            switched.insert(i);
        }
        if switched.len() == 3 && round >= 30 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(switched.len(), 3, "every instance signs with the rotated key");

    // 2. A refresh rotated on instance 0 and replayed on 1 is reuse; the family dies on 2.
    let login: Value = cluster.login(0, &app, users[0]).await;
    let t1 = login["refresh_token"].as_str().unwrap();
    let second: Value = cluster
        .token(0, &app, &[("grant_type", "refresh_token"), ("refresh_token", t1)])
        .await
        .json()
        .await
        .unwrap();
    let t2 = second["refresh_token"].as_str().unwrap();
    assert_eq!(
        cluster.token(1, &app, &[("grant_type", "refresh_token"), ("refresh_token", t1)]).await.status(),
        400
    );
    assert_eq!(
        cluster.token(2, &app, &[("grant_type", "refresh_token"), ("refresh_token", t2)]).await.status(),
        400
    );

    // 3. Throttling counts failures on every instance together.
    for i in 0..3 {
        let wrong = [("grant_type", "password"), ("username", users[1]), ("password", "wrong password")];
        assert_eq!(cluster.token(i, &app, &wrong).await.status(), 400);
    }
    for i in 0..3 {
        let right =
            [("grant_type", "password"), ("username", users[1]), ("password", "correct horse battery")];
        assert_eq!(cluster.token(i, &app, &right).await.status(), 429, "instance {i}");
    }

    // 4. Kill instance 1 in the middle of refresh traffic: every 200 is its family's head.
    let mut chains = Vec::new();
    for _ in 0..12 {
        let login: Value = cluster.login(2, &app, users[2]).await;
        chains.push(login["refresh_token"].as_str().unwrap().to_owned());
    }
    let mut issued = Vec::new();
    let mut cluster = cluster;
    for round in 0..8 {
        if round == 3 {
            cluster.instances[1].child.start_kill().unwrap();
        }
        let requests: Vec<_> = chains
            .iter()
            .enumerate()
            .map(|(n, token)| {
                let (http, url, app) =
                    (cluster.http.clone(), cluster.url((n + round) % 3, "/oauth2/token"), app.clone());
                let token = token.clone();
                async move {
                    http.post(url)
                        .basic_auth(&app.0, Some(&app.1))
                        .form(&[("grant_type", "refresh_token"), ("refresh_token", token.as_str())])
                        .send()
                        .await
                }
            })
            .collect();
        for (n, response) in crate::rotation::join_all(requests).await.into_iter().enumerate() {
            let Ok(response) = response else { continue };
            if response.status() == 200 {
                let body: Value = response.json().await.unwrap();
                let next = body["refresh_token"].as_str().unwrap().to_owned();
                issued.push(next.clone());
                chains[n] = next;
            } else {
                assert!(response.status().is_client_error(), "no 5xx: {}", response.status());
            }
        }
    }
    assert!(issued.len() >= 12 * 4, "too few refreshes succeeded: {}", issued.len());
    // Every 200 was committed: its family reached its generation; and where no answer was lost
    // (which a replay would have followed, revoking the family), the last one is the head.
    let master = cluster.master_key();
    let mut conn = cluster.pool().get().unwrap();
    let mut heads = 0;
    for text in issued.iter().chain(&chains) {
        let token = jwtd::tokens::refresh::RefreshToken::parse(text).unwrap();
        let jwtd::tokens::refresh::Located::Family(position) = token.locate(&master) else {
            panic!("not a family token of this cluster's")
        };
        let (family, head, _) =
            jwtd::store::family_heads::find(&mut conn, &position.family_id).unwrap().unwrap();
        assert!(head.generation >= Some(position.generation), "an answered successor was not committed");
        if chains.contains(text) && family.revoked_at.is_none() {
            assert_eq!(head.head_hash, Some(token.hash()), "a live family's last answer is not its head");
            heads += 1;
        }
    }
    assert!(heads >= 6, "too few families stayed live: {heads}");
    drop(conn);
    for i in [0, 2] {
        assert!(cluster.instances[i].terminate().await.success());
    }
}
