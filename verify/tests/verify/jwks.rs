//! The key cache against a local fake issuer: lifetimes, cool-down, single flight, last good
//! set, timeouts, discovery. Time is the injected clock; nothing sleeps to wait.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use jwtd_verify::{Error, JwksCache, JwksCacheBuilder, ManualClock, Verifier};
use serde_json::json;

use crate::fake_issuer::{FakeIssuer, Reply};
use crate::helpers::*;

fn serving(keys: &[&TestKey], max_age: Option<u64>) -> FakeIssuer {
    FakeIssuer::start(Reply::Jwks { body: jwks(keys), max_age })
}

fn cache(server: &FakeIssuer, clock: &Arc<ManualClock>) -> JwksCacheBuilder {
    JwksCache::from_url(&server.jwks_url()).clock(clock.clone())
}

fn verifier_over(cache: JwksCache, clock: &Arc<ManualClock>) -> Verifier {
    Verifier::builder(cache, ISSUER, AUDIENCE).clock(clock.clone()).build()
}

/// Verifies a good token after moving the clock `advance` seconds, and returns the fetch count.
async fn hits_after(server: &FakeIssuer, verifier: &Verifier, clock: &ManualClock, advance: i64) -> usize {
    clock.advance(advance);
    verifier.verify(&key().token(&claims())).await.unwrap();
    server.jwks_hits()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_age_is_honoured_and_revalidated_with_the_etag() {
    let server = serving(&[key()], Some(120));
    let clock = clock();
    let cache = cache(&server, &clock)
        .ttl_bounds(Duration::from_secs(30), Duration::from_secs(3600))
        .build()
        .unwrap();
    let verifier = verifier_over(cache.clone(), &clock);
    assert_eq!(hits_after(&server, &verifier, &clock, 0).await, 1, "the first verification fetches");
    assert_eq!(cache.last_success(), Some(NOW));
    assert_eq!(hits_after(&server, &verifier, &clock, 119).await, 1);
    assert_eq!(hits_after(&server, &verifier, &clock, 1).await, 2);
    assert_eq!(server.counters.not_modified.load(Ordering::SeqCst), 1, "the refetch sent If-None-Match");
    assert_eq!(cache.last_success(), Some(NOW + 120), "a 304 counts as a success");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tiny_max_age_is_raised_to_the_floor() {
    let server = serving(&[key()], Some(1));
    let clock = clock();
    let cache = cache(&server, &clock)
        .ttl_bounds(Duration::from_secs(60), Duration::from_secs(3600))
        .build()
        .unwrap();
    let verifier = verifier_over(cache, &clock);
    assert_eq!(hits_after(&server, &verifier, &clock, 0).await, 1);
    assert_eq!(hits_after(&server, &verifier, &clock, 59).await, 1);
    assert_eq!(hits_after(&server, &verifier, &clock, 1).await, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_huge_max_age_is_lowered_to_the_ceiling() {
    let server = serving(&[key()], Some(86_400));
    let clock = clock();
    let cache =
        cache(&server, &clock).ttl_bounds(Duration::from_secs(30), Duration::from_secs(600)).build().unwrap();
    let verifier = verifier_over(cache, &clock);
    assert_eq!(hits_after(&server, &verifier, &clock, 0).await, 1);
    assert_eq!(hits_after(&server, &verifier, &clock, 599).await, 1);
    assert_eq!(hits_after(&server, &verifier, &clock, 1).await, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_kids_refetch_at_most_once_per_cooldown() {
    let server = serving(&[key()], Some(3600));
    let clock = clock();
    let cache = cache(&server, &clock).unknown_kid_cooldown(Duration::from_secs(30)).build().unwrap();
    let verifier = verifier_over(cache, &clock);
    let stranger = key().sign(&header("rotated-away"), &claims());
    assert_eq!(hits_after(&server, &verifier, &clock, 0).await, 1);
    assert_eq!(verifier.verify(&stranger).await.unwrap_err(), Error::UnknownKey);
    assert_eq!(server.jwks_hits(), 2, "a routine fetch this very second does not hold it back");
    clock.advance(29);
    assert_eq!(verifier.verify(&stranger).await.unwrap_err(), Error::UnknownKey);
    assert_eq!(server.jwks_hits(), 2);
    clock.advance(1);
    assert_eq!(verifier.verify(&stranger).await.unwrap_err(), Error::UnknownKey);
    assert_eq!(server.jwks_hits(), 3);
    // A failed fetch, even a routine one, starts the cool-down too.
    server.set_reply(Reply::Status(503));
    clock.advance(30);
    assert_eq!(verifier.keys().refresh().await.unwrap_err(), Error::JwksStatus(503));
    assert_eq!(server.jwks_hits(), 4);
    clock.advance(29);
    assert_eq!(verifier.verify(&stranger).await.unwrap_err(), Error::UnknownKey);
    assert_eq!(server.jwks_hits(), 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_routine_refresh_does_not_hold_back_the_refetch_for_a_just_rotated_key() {
    let server = serving(&[key()], Some(3600));
    let clock = clock();
    let cache = cache(&server, &clock).unknown_kid_cooldown(Duration::from_secs(30)).build().unwrap();
    cache.refresh().await.unwrap();
    clock.advance(100);
    cache.refresh().await.unwrap(); // what the background task does ahead of expiry
    // jwtd rotates a second later: the new key is published and signs at once.
    server.set_reply(Reply::Jwks { body: jwks(&[key(), other_key()]), max_age: Some(3600) });
    clock.advance(1);
    let verifier = verifier_over(cache, &clock);
    assert_eq!(verifier.verify(&other_key().token(&claims())).await.unwrap().sub, "user-42");
    assert_eq!(server.jwks_hits(), 3, "the new kid refetched the set at once");
    // That refetch starts the cool-down: another unknown kid within it fetches nothing.
    clock.advance(29);
    let stranger = key().sign(&header("rotated-away"), &claims());
    assert_eq!(verifier.verify(&stranger).await.unwrap_err(), Error::UnknownKey);
    assert_eq!(server.jwks_hits(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_concurrent_unknown_kids_cause_one_fetch() {
    let server = serving(&[key()], Some(3600));
    server.set_delay(Duration::from_millis(200));
    let clock = clock();
    let cache = cache(&server, &clock).build().unwrap();
    cache.refresh().await.unwrap();
    clock.advance(3600 - 1);
    let verifier = verifier_over(cache, &clock);
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..1000 {
        let verifier = verifier.clone();
        let token =
            format!("{}.{}.AAAA", b64(header(&format!("unknown-{i}")).to_string().as_bytes()), b64(b"{}"));
        tasks.spawn(async move { verifier.verify(&token).await });
    }
    while let Some(outcome) = tasks.join_next().await {
        assert_eq!(outcome.unwrap().unwrap_err(), Error::UnknownKey);
    }
    assert_eq!(server.jwks_hits(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn callers_arriving_during_a_refetch_wait_for_it_and_all_see_the_new_key() {
    let server = serving(&[key()], Some(3600));
    let clock = clock();
    let cache = cache(&server, &clock).build().unwrap();
    cache.refresh().await.unwrap();
    clock.advance(30); // past the unknown-kid cool-down of that first fetch
    // jwtd rotates: the new key appears in the JWKS, and tokens signed with it arrive at once.
    server.set_reply(Reply::Jwks { body: jwks(&[key(), other_key()]), max_age: Some(3600) });
    server.set_delay(Duration::from_millis(200));
    let verifier = verifier_over(cache, &clock);
    let token = other_key().token(&claims());
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..1000 {
        let (verifier, token) = (verifier.clone(), token.clone());
        tasks.spawn(async move { verifier.verify(&token).await });
    }
    while let Some(outcome) = tasks.join_next().await {
        assert_eq!(outcome.unwrap().unwrap().sub, "user-42");
    }
    assert_eq!(server.jwks_hits(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_last_good_set_survives_every_kind_of_bad_answer() {
    let private = json!({"keys": [with(key().jwk(), "d", json!("AQAB"))]}).to_string();
    let symmetric =
        json!({"keys": [{"kty": "oct", "kid": "h", "alg": "HS256", "k": "c2VjcmV0"}]}).to_string();
    let unsupported = json!({"keys": [{"kty": "XYZ", "kid": "x", "use": "sig"}]}).to_string();
    let encryption_only = json!({"keys": [with(key().jwk(), "use", json!("enc"))]}).to_string();
    let duplicate_kid = jwks(&[key(), key()]);
    let bad_answers = [
        (Reply::Status(500), Error::JwksStatus(500)),
        (Reply::Status(404), Error::JwksStatus(404)),
        (Reply::Html, Error::JwksInvalid("not a JSON object")),
        (Reply::Json("{}".into()), Error::JwksInvalid("no keys array")),
        (Reply::Json("{\"keys\":[]}".into()), Error::JwksNoUsableKey),
        (Reply::Json(private), Error::JwksPrivateKey),
        (Reply::Json(symmetric), Error::JwksPrivateKey),
        (Reply::Json(unsupported), Error::JwksNoUsableKey),
        (Reply::Json(encryption_only), Error::JwksNoUsableKey),
        (Reply::Json(duplicate_kid), Error::JwksInvalid("two keys share a kid")),
        (Reply::Oversized(65 * 1024), Error::JwksTooLarge),
    ];
    for (reply, expected) in bad_answers {
        let what = format!("{reply:?}");
        let server = serving(&[key()], Some(300));
        let clock = clock();
        let cache = cache(&server, &clock).unknown_kid_cooldown(Duration::from_secs(30)).build().unwrap();
        cache.refresh().await.unwrap();
        server.set_reply(reply);
        clock.advance(10);
        assert_eq!(cache.refresh().await.unwrap_err(), expected, "{what}");
        assert_eq!(server.jwks_hits(), 2, "{what}");
        assert_eq!(cache.last_success(), Some(NOW), "{what}");
        // Still verifying with the old set, even once it is past its lifetime and the
        // refresh on the way fails again.
        let verifier = verifier_over(cache.clone(), &clock);
        assert_eq!(hits_after(&server, &verifier, &clock, 300).await, 3, "{what}");
        assert_eq!(cache.last_success(), Some(NOW), "{what}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[allow(clippy::disallowed_methods, reason = "a network timeout elapses in real time")]
async fn a_jwks_endpoint_that_never_answers_times_out_and_keeps_the_old_set() {
    let server = serving(&[key()], Some(300));
    let clock = clock();
    let cache = cache(&server, &clock).request_timeout(Duration::from_millis(500)).build().unwrap();
    cache.refresh().await.unwrap();
    server.set_reply(Reply::Hang);
    let started = Instant::now();
    assert_eq!(cache.refresh().await.unwrap_err(), Error::JwksTimeout);
    let elapsed = started.elapsed();
    assert!(elapsed >= Duration::from_millis(450) && elapsed < Duration::from_secs(3), "{elapsed:?}");
    assert!(verifier_over(cache, &clock).verify(&key().token(&claims())).await.is_ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discovery_finds_the_jwks_once_and_checks_the_issuer() {
    let server = serving(&[key()], Some(300));
    let clock = clock();
    let cache = JwksCache::discover(&server.url).clock(clock.clone()).build().unwrap();
    cache.refresh().await.unwrap();
    cache.refresh().await.unwrap();
    assert_eq!(server.counters.discovery.load(Ordering::SeqCst), 1);
    assert_eq!(server.jwks_hits(), 2);
    assert!(cache.keys().contains_kid(&key().kid));

    let impostor = serving(&[key()], Some(300));
    impostor.set_metadata_issuer("https://evil.example.com");
    let cache = JwksCache::discover(&impostor.url).clock(clock.clone()).build().unwrap();
    assert_eq!(cache.refresh().await.unwrap_err(), Error::DiscoveryInvalid("issuer does not match"));
    assert_eq!(impostor.jwks_hits(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn key_pointing_headers_are_never_fetched_nor_trusted() {
    let server = serving(&[key()], Some(300));
    let clock = clock();
    let verifier = verifier_over(cache(&server, &clock).build().unwrap(), &clock);
    let attacker = other_key();
    let mut h = header(&attacker.kid);
    h["jku"] = json!(format!("{}/attacker/jwks", server.url));
    h["x5u"] = json!(format!("{}/attacker/jwks", server.url));
    h["jwk"] = attacker.jwk();
    h["x5c"] = json!([b64(attacker.pair.public_key().as_ref())]);
    assert_eq!(verifier.verify(&attacker.sign(&h, &claims())).await.unwrap_err(), Error::UnknownKey);
    // The same headers pointing at the attacker, with our kid: the attacker's signature fails...
    h["kid"] = json!(key().kid);
    assert_eq!(verifier.verify(&attacker.sign(&h, &claims())).await.unwrap_err(), Error::BadSignature);
    // ...and our own signature verifies: the headers are ignored, not an error.
    assert!(verifier.verify(&key().sign(&h, &claims())).await.is_ok());
    assert_eq!(server.counters.attacker.load(Ordering::SeqCst), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[allow(clippy::disallowed_methods, reason = "a network timeout elapses in real time")]
async fn the_background_task_fetches_before_any_token_arrives() {
    let server = serving(&[key()], Some(300));
    let cache = JwksCache::from_url(&server.jwks_url()).build().unwrap();
    let task = cache.spawn_refresh_task();
    let deadline = Instant::now() + Duration::from_secs(10);
    while cache.last_success().is_none() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    task.abort();
    assert!(cache.last_success().is_some());
    assert!(cache.keys().contains_kid(&key().kid));
    assert_eq!(server.jwks_hits(), 1);
}

use aws_lc_rs::signature::KeyPair;
