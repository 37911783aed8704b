//! The key lifecycle end to end: pre-published keys, rotation timing, retirement after the last
//! token expired, emergency rotation, several instances, other algorithms.

use std::sync::Arc;

use diesel::prelude::*;
use jwtd::clock::Clock;
use jwtd::keys::KeyRecord;
use jwtd::keys::lifecycle::KeyLifecycle;
use jwtd::keys::master::MasterKey;
use jwtd::store::schema::signing_keys;
use serde_json::{Value, json};

use crate::helpers::{Backend, CachingVerifier, TestApp, max_age, spawn_app, spawn_app_on, spawn_app_with};
use crate::on_both_backends;

on_both_backends!(
    rotations_never_break_a_caching_verifier,
    a_previous_key_leaves_only_after_its_last_token_expired,
    emergency_rotation_drops_the_key_at_once,
    rotation_waits_for_the_next_key_to_be_known,
    the_cli_rotates_and_every_instance_follows,
    concurrent_rotations_on_two_instances_leave_one_current_and_one_next,
    rotation_can_switch_algorithms,
);

/// jwks_max_age 300 s + leeway 60 s + reload 1 s (100 ms rounded up).
const PUBLICATION_DELAY: i64 = 361;

fn lifecycle(app: &TestApp) -> KeyLifecycle {
    let master = Arc::new(MasterKey::from_base64(&app.master_key).unwrap());
    jwtd::startup::key_lifecycle(&app.settings(), master)
}

fn key_rows(app: &TestApp) -> Vec<KeyRecord> {
    let pool = jwtd::startup::open_pool(&app.settings()).unwrap();
    jwtd::store::keys::all(&mut pool.get().unwrap()).unwrap()
}

fn key(app: &TestApp, kid: &str) -> KeyRecord {
    key_rows(app).into_iter().find(|k| k.kid == kid).unwrap()
}

fn kids_in_state(app: &TestApp, state: &str) -> Vec<String> {
    key_rows(app).into_iter().filter(|k| k.state.as_str() == state).map(|k| k.kid).collect()
}

fn kid_of(token: &str) -> String {
    jsonwebtoken::decode_header(token).unwrap().kid.unwrap()
}

fn exp_of(token: &str) -> i64 {
    let claims = jsonwebtoken::dangerous::insecure_decode::<Value>(token).unwrap().claims;
    claims["exp"].as_i64().unwrap()
}

async fn rotate(app: &TestApp, admin_token: &str, body: Option<Value>) -> reqwest::Response {
    app.admin_post(admin_token, "/admin/keys/rotate", body).await
}

async fn jwks_kids(app: &TestApp) -> Vec<String> {
    app.jwks().await.keys.iter().filter_map(|k| k.common.key_id.clone()).collect()
}

/// Forty-five minutes of traffic in 45-second steps, rotating whenever jwtd allows it, with
/// three caching verifiers that join at different times: every token verifies until it expires.
async fn rotations_never_break_a_caching_verifier(backend: Backend) {
    let app = spawn_app(backend).await;
    let service = app.register_client("read", &["https://api"], &["client_credentials"]);
    let admin = app.register_client("jwtd:admin", &[], &["client_credentials"]);
    let mut verifiers: Vec<(usize, CachingVerifier)> =
        (0..3).map(|i| (i * 7, CachingVerifier::new())).collect();
    let mut live: Vec<(String, i64)> = Vec::new();
    let (mut rotations, mut checks, mut failures) = (0, 0, Vec::new());
    let mut signers = std::collections::BTreeSet::new();
    for step in 0..60 {
        app.clock.advance(45);
        let now = app.clock.now();
        let token = app.token_of(&service).await;
        signers.insert(kid_of(&token));
        live.push((token.clone(), exp_of(&token)));
        live.retain(|(_, exp)| now < *exp);
        for (joins_at, verifier) in verifiers.iter_mut().filter(|(joins_at, _)| step >= *joins_at) {
            for (token, _) in &live {
                checks += 1;
                if let Err(e) = verifier.verify(&app, token, "https://api").await {
                    failures.push(format!("step {step}, verifier joined at {joins_at}: {e}"));
                }
            }
        }
        if step % 4 == 0 {
            let admin_token = app.token_of(&admin).await;
            match rotate(&app, &admin_token, None).await.status().as_u16() {
                200 => rotations += 1,
                409 => {}
                other => panic!("rotation answered {other}"),
            }
        }
    }
    let first: Vec<_> = failures.iter().take(5).collect();
    assert!(failures.is_empty(), "{} of {checks} verifications failed, first: {first:?}", failures.len());
    assert!(rotations >= 5, "only {rotations} rotations happened");
    assert!(signers.len() >= 5, "tokens came from {} keys", signers.len());
    assert!(!kids_in_state(&app, "retired").is_empty(), "no previous key retired in 45 minutes");
    assert!(verifiers.iter().all(|(_, v)| v.fetches >= 5), "verifiers must have refetched on max-age");
}

/// The JWKS keeps a previous key while a token it signed can still be valid (exp + leeway), drops
/// it after its reserved `last_exp` + leeway, and advertises a max-age that ends by then.
async fn a_previous_key_leaves_only_after_its_last_token_expired(backend: Backend) {
    let settings = [
        ("JWTD__TOKENS__ACCESS_TTL", "2m"),
        ("JWTD__KEYS__JWKS_MAX_AGE", "10m"),
        ("JWTD__KEYS__LEEWAY", "30s"),
    ];
    let app = spawn_app_on(
        Arc::new(crate::helpers::TestDb::new(backend)),
        &crate::helpers::new_master_key(),
        &settings,
    )
    .await;
    let service = app.register_client("read", &[], &["client_credentials"]);
    let admin = app.register_client("jwtd:admin", &[], &["client_credentials"]);
    app.clock.advance(600 + 30 + 1);
    let old_token = app.token_of(&service).await;
    let old_kid = kid_of(&old_token);
    let rotated = rotate(&app, &app.token_of(&admin).await, None).await;
    assert_eq!(rotated.status(), 200);
    assert_eq!(rotated.json::<Value>().await.unwrap()["previous"], old_kid.as_str());

    let previous = key(&app, &old_kid);
    assert_eq!(previous.state.as_str(), "previous");
    let last_exp = previous.last_exp.unwrap();
    assert!(last_exp >= exp_of(&old_token), "last_exp {last_exp} below a signed exp");
    let retires_at = last_exp + 30;

    // The JWKS max-age never reaches past the retirement.
    let response = app.http.get(app.url("/.well-known/jwks.json")).send().await.unwrap();
    let age = max_age(response.headers());
    assert!(
        age > 0 && age <= retires_at - app.clock.now(),
        "max-age {age}, retirement in {}",
        retires_at - app.clock.now()
    );

    // Just before the old token's exp + leeway: still published.
    let lifecycle = lifecycle(&app);
    let pool = jwtd::startup::open_pool(&app.settings()).unwrap();
    app.clock.advance(exp_of(&old_token) + 29 - app.clock.now());
    jwtd::authority::key_lifecycle::maintain(&mut pool.get().unwrap(), &lifecycle, app.clock.now()).unwrap();
    assert_eq!(key(&app, &old_kid).state.as_str(), "previous");
    assert!(jwks_kids(&app).await.contains(&old_kid));

    // After last_exp + leeway: retired, private key erased, gone from the JWKS.
    app.clock.advance(retires_at - app.clock.now());
    jwtd::authority::key_lifecycle::maintain(&mut pool.get().unwrap(), &lifecycle, app.clock.now()).unwrap();
    let retired = key(&app, &old_kid);
    assert_eq!(retired.state.as_str(), "retired");
    assert!(retired.private_key_sealed.is_none());
    app.eventually("the retired key leaves the JWKS", || async { !jwks_kids(&app).await.contains(&old_kid) })
        .await;
}

async fn emergency_rotation_drops_the_key_at_once(backend: Backend) {
    let app = spawn_app(backend).await;
    let service = app.register_client("read", &["https://api"], &["client_credentials"]);
    let admin_token = app.admin_token().await;
    let compromised_token = app.token_of(&service).await;
    let compromised = kid_of(&compromised_token);

    // No waiting for the publication delay: the current key is compromised.
    let response = rotate(&app, &admin_token, None).await;
    assert_eq!(response.status(), 409);
    let response = app
        .http
        .post(app.url("/admin/keys/rotate?revoke_current=true"))
        .bearer_auth(&admin_token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["revoked"], compromised.as_str());
    assert!(body["note"].as_str().unwrap().contains("no longer verify"));
    assert!(body.get("previous").is_none());

    let jwks = app.jwks().await;
    assert!(jwks.find(&compromised).is_none(), "the compromised key is still published");
    assert!(crate::helpers::verify_offline(&compromised_token, &jwks, "https://api").is_err());
    let fresh = app.token_of(&service).await;
    assert_eq!(kid_of(&fresh), body["current"].as_str().unwrap());
    crate::helpers::verify_offline(&fresh, &jwks, "https://api").unwrap();
    let row = key(&app, &compromised);
    assert_eq!(row.state.as_str(), "retired");
    assert!(row.private_key_sealed.is_none());
    // The admin token was signed by the compromised key too: it stops working.
    let listed = app.admin_get(&admin_token, "/admin/keys").await;
    assert_eq!(listed.status(), 401);
    // The audit trail names the compromised key, so a search for it finds the revocation.
    let events = jwtd::store::audit::recent(&mut app.pool().get().unwrap(), 10).unwrap();
    let revoked = events.iter().find(|e| e.kind == "key.revoked").expect("a key.revoked event");
    assert_eq!(revoked.subject.as_deref(), Some(compromised.as_str()));
    // The revocation feed names the key, so verifiers whose JWKS cache still holds it refuse
    // its tokens at their next poll; keys that merely expire are not listed.
    app.clock.advance(1);
    let feed = app.revocation_feed().await;
    assert_eq!(feed["kids"], serde_json::json!([compromised]));
    app.clock.advance(29 * 86_400);
    assert_eq!(app.revocation_feed().await["kids"], serde_json::json!([compromised]), "listed for 30 days");
}

async fn rotation_waits_for_the_next_key_to_be_known(backend: Backend) {
    let app = spawn_app(backend).await;
    let admin_token = app.admin_token().await;
    let keys: Value = app.admin_get(&admin_token, "/admin/keys").await.json().await.unwrap();
    let next = keys["keys"].as_array().unwrap().iter().find(|k| k["state"] == "next").unwrap().clone();
    let signs_from = next["signs_from"].as_i64().unwrap();
    assert_eq!(signs_from, next["published_at"].as_i64().unwrap() + PUBLICATION_DELAY);
    assert!(next.get("private_key_sealed").is_none() && !keys.to_string().contains("sealed"));

    app.clock.advance(PUBLICATION_DELAY - 2);
    let early = rotate(&app, &admin_token, None).await;
    let (_, body) = crate::helpers::assert_error(early, 409, "rotation_not_ready").await;
    assert!(body["error_description"].as_str().unwrap().contains(&signs_from.to_string()), "{body}");
    assert_eq!(kids_in_state(&app, "next"), [next["kid"].as_str().unwrap()]);

    app.clock.advance(2);
    let admin_token = app.admin_token().await;
    let response = rotate(&app, &admin_token, None).await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["current"], next["kid"]);
    assert_eq!(kids_in_state(&app, "current"), [next["kid"].as_str().unwrap()]);
    // A brand-new next key must wait again.
    assert_eq!(rotate(&app, &admin_token, None).await.status(), 409);
}

/// Pretends the next key was published an hour ago.
fn backdate_next_key(app: &TestApp) {
    let pool = jwtd::startup::open_pool(&app.settings()).unwrap();
    diesel::update(signing_keys::table.filter(signing_keys::state.eq("next")))
        .set(signing_keys::published_at.eq(signing_keys::published_at - 3600))
        .execute(&mut **pool.get().unwrap())
        .unwrap();
}

async fn the_cli_rotates_and_every_instance_follows(backend: Backend) {
    let app = spawn_app(backend).await;
    let service = app.register_client("read", &[], &["client_credentials"]);
    let env = app.env.clone();
    let jwtd = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_jwtd"))
            .env_clear()
            .envs(env.iter().cloned())
            .args(args)
            .output()
            .unwrap()
    };
    let refused = jwtd(&["keys", "rotate"]);
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("not rotated"), "{refused:?}");

    backdate_next_key(&app);
    let old_current = kids_in_state(&app, "current").remove(0);
    let rotated = jwtd(&["keys", "rotate"]);
    assert!(rotated.status.success(), "{rotated:?}");
    let rotation: Value = serde_json::from_slice(&rotated.stdout).unwrap();
    assert_eq!(rotation["previous"], old_current.as_str());
    let new_current = rotation["current"].as_str().unwrap().to_owned();

    // The running server reloads and signs with the new key.
    app.eventually("the server signs with the rotated key", || async {
        kid_of(&app.token_of(&service).await) == new_current
    })
    .await;

    let refused = jwtd(&["keys", "retire", &new_current]);
    assert!(!refused.status.success());
    let retired = jwtd(&["keys", "retire", &old_current]);
    assert!(retired.status.success(), "{retired:?}");
    app.eventually("the retired key leaves the JWKS", || async {
        !jwks_kids(&app).await.contains(&old_current)
    })
    .await;
    let events = jwtd::store::audit::recent(
        &mut jwtd::startup::open_pool(&app.settings()).unwrap().get().unwrap(),
        10,
    )
    .unwrap();
    let kinds: Vec<&str> = events.iter().map(|e| e.kind.as_str()).collect();
    assert!(kinds.contains(&"key.rotated") && kinds.contains(&"key.retired"), "{kinds:?}");
}

async fn concurrent_rotations_on_two_instances_leave_one_current_and_one_next(backend: Backend) {
    let a = spawn_app(backend).await;
    let b = spawn_app_with(Arc::clone(&a.db), &a.master_key, &[], Arc::clone(&a.clock)).await;
    let service = a.register_client("read", &["https://api"], &["client_credentials"]);
    let admin = a.register_client("jwtd:admin", &[], &["client_credentials"]);
    for round in 0..2 {
        a.clock.advance(PUBLICATION_DELAY);
        let token = a.token_of(&admin).await;
        let requests = (0..20).map(|i| {
            let app = if i % 2 == 0 { &a } else { &b };
            rotate(app, &token, None)
        });
        let statuses: Vec<u16> = futures_statuses(requests).await;
        assert_eq!(statuses.iter().filter(|s| **s == 200).count(), 1, "round {round}: {statuses:?}");
        assert!(statuses.iter().all(|s| *s == 200 || *s == 409), "round {round}: {statuses:?}");
        assert_eq!(kids_in_state(&a, "current").len(), 1);
        assert_eq!(kids_in_state(&a, "next").len(), 1);
        let current = kids_in_state(&a, "current").remove(0);
        for app in [&a, &b] {
            app.eventually("both instances sign with the new key", || async {
                kid_of(&app.token_of(&service).await) == current
            })
            .await;
        }
    }
}

async fn futures_statuses(
    requests: impl Iterator<Item = impl std::future::Future<Output = reqwest::Response>>,
) -> Vec<u16> {
    let handles: Vec<_> = requests.collect();
    let mut statuses = Vec::new();
    for response in join_all(handles).await {
        statuses.push(response.status().as_u16());
    }
    statuses
}

/// Polls every future together (no extra crate for a ten-line join).
pub async fn join_all<F: std::future::Future>(futures: Vec<F>) -> Vec<F::Output> {
    let mut futures: Vec<_> = futures.into_iter().map(Box::pin).collect();
    let mut outputs: Vec<Option<F::Output>> = futures.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (future, output) in futures.iter_mut().zip(outputs.iter_mut()) {
            if output.is_none() {
                match future.as_mut().poll(cx) {
                    std::task::Poll::Ready(value) => *output = Some(value),
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending { std::task::Poll::Pending } else { std::task::Poll::Ready(()) }
    })
    .await;
    outputs.into_iter().map(|o| o.unwrap()).collect()
}

async fn rotation_can_switch_algorithms(backend: Backend) {
    let app = spawn_app(backend).await;
    let service = app.register_client("read", &["https://api"], &["client_credentials"]);
    let admin = app.register_client("jwtd:admin", &[], &["client_credentials"]);
    for (alg, kty) in [("ES256", "EC"), ("EdDSA", "OKP"), ("RS256", "RSA")] {
        app.clock.advance(PUBLICATION_DELAY);
        let response = rotate(&app, &app.token_of(&admin).await, Some(json!({ "alg": alg }))).await;
        assert_eq!(response.status(), 200);
        let next: String = response.json::<Value>().await.unwrap()["next"].as_str().unwrap().to_owned();
        app.clock.advance(PUBLICATION_DELAY);
        assert_eq!(rotate(&app, &app.token_of(&admin).await, None).await.status(), 200);
        let token = app.token_of(&service).await;
        let header = jsonwebtoken::decode_header(&token).unwrap();
        assert_eq!(format!("{:?}", header.alg), alg);
        assert_eq!(header.kid.as_deref(), Some(next.as_str()));
        let jwks: Value =
            app.http.get(app.url("/.well-known/jwks.json")).send().await.unwrap().json().await.unwrap();
        let jwk = jwks["keys"].as_array().unwrap().iter().find(|k| k["kid"] == next.as_str()).unwrap();
        assert_eq!(jwk["kty"], kty);
        assert!(jwk.get("d").is_none());
        crate::helpers::verify_offline_at(&token, &app.jwks().await, "https://api", app.clock.now()).unwrap();
    }
}
