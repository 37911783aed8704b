//! The revocation feed against a local fake jwtd serving the feed and its JWKS: refusal after
//! the next poll, subject and client not-before, revoked keys, versions 1 to 3, every bad
//! feed ignored with the last good one kept, 304s, poll bounds, single flight, the stale
//! policy. Time is the injected clock; nothing sleeps to wait.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use actix_web::{App, HttpResponse, test, web};
use jwtd_verify::revocations::FEED_TYPE;
use jwtd_verify::{Authenticated, Error, JwksCache, ManualClock, RevocationFeed, StalePolicy, Verifier};
use serde_json::{Value, json};

use crate::fake_issuer::{FakeIssuer, FeedReply, Reply};
use crate::helpers::*;

fn feed_payload(iat: i64, sids: &[&str], subjects: Value) -> Value {
    json!({ "iss": ISSUER, "iat": iat, "window": 960, "sids": sids, "subjects": subjects })
}

/// A version 2 payload with no families or subjects, and these `clients` and `kids`.
fn feed_payload_v2(iat: i64, clients: Value, kids: &[&str]) -> Value {
    let mut payload = feed_payload(iat, &[], json!({}));
    payload["ver"] = json!(2);
    payload["clients"] = clients;
    payload["kids"] = json!(kids);
    payload
}

fn signed_feed(signer: &TestKey, typ: &str, payload: &Value) -> String {
    signer.sign(&json!({ "alg": "RS256", "kid": signer.kid, "typ": typ }), payload)
}

/// Makes the fake jwtd serve `payload` signed by `signer`, with jwtd's `max-age`.
fn serve(server: &FakeIssuer, signer: &TestKey, payload: &Value) {
    server.set_feed(FeedReply::Feed { body: signed_feed(signer, FEED_TYPE, payload), max_age: Some(5) });
}

/// A good feed of `sids` issued at `iat`, with jwtd's `max-age`.
fn feed(iat: i64, sids: &[&str]) -> FeedReply {
    FeedReply::Feed {
        body: signed_feed(key(), FEED_TYPE, &feed_payload(iat, sids, json!({}))),
        max_age: Some(5),
    }
}

struct Setup {
    server: FakeIssuer,
    clock: Arc<ManualClock>,
    feed: RevocationFeed,
    verifier: Verifier,
}

fn setup_with(
    configure: impl FnOnce(jwtd_verify::RevocationFeedBuilder) -> jwtd_verify::RevocationFeedBuilder,
) -> Setup {
    let server = FakeIssuer::start(Reply::Jwks { body: jwks(&[key()]), max_age: Some(3600) });
    let clock = clock();
    let keys = JwksCache::from_url(&server.jwks_url()).clock(clock.clone()).build().unwrap();
    let builder = RevocationFeed::from_url(&server.feed_url(), ISSUER, keys.clone()).clock(clock.clone());
    let feed = configure(builder).build().unwrap();
    let verifier =
        Verifier::builder(keys, ISSUER, AUDIENCE).clock(clock.clone()).revocations(feed.clone()).build();
    Setup { server, clock, feed, verifier }
}

fn setup() -> Setup {
    setup_with(|builder| builder)
}

/// A token of `sid` and `sub` issued at `iat`, valid for a day (some tests move the clock
/// hours ahead).
fn token_of(sid: Option<&str>, sub: &str, iat: i64) -> String {
    let mut claims = with(with(claims(), "sub", json!(sub)), "iat", json!(iat));
    claims = with(claims, "exp", json!(NOW + 86_400));
    claims = match sid {
        Some(sid) => with(claims, "sid", json!(sid)),
        None => without(claims, "sid"),
    };
    key().token(&claims)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_listed_family_is_refused_from_the_next_poll_on_and_accepted_before() {
    let s = setup();
    s.server.set_feed(feed(NOW, &[]));
    s.feed.refresh().await.unwrap();
    let token = key().token(&claims()); // sid family-7
    assert!(s.verifier.verify(&token).await.is_ok());

    s.server.set_feed(feed(NOW + 1, &["family-7"]));
    s.clock.advance(4);
    s.feed.refresh_if_due().await;
    assert_eq!(s.server.feed_hits(), 1, "max-age 5: not due yet");
    assert!(s.verifier.verify(&token).await.is_ok(), "jwtd revoked it, but this verifier cannot know yet");

    s.clock.advance(1);
    s.feed.refresh_if_due().await;
    assert_eq!(s.server.feed_hits(), 2);
    assert_eq!(s.verifier.verify(&token).await.unwrap_err(), Error::Revoked);
    assert_eq!(s.verifier.verify_as::<Value>(&token).await.unwrap_err(), Error::Revoked);
    assert!(s.verifier.verify(&token_of(Some("family-8"), "user-42", NOW)).await.is_ok());
    assert!(s.verifier.verify(&token_of(None, "user-42", NOW)).await.is_ok(), "client tokens have no sid");
    assert!(s.feed.current().unwrap().is_family_revoked("family-7"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subject_not_before_refuses_that_subjects_older_tokens_only() {
    let s = setup();
    serve(&s.server, key(), &feed_payload(NOW + 20, &[], json!({ "user-42": NOW + 10 })));
    s.clock.set(NOW + 20);
    s.feed.refresh().await.unwrap();
    for (iat, revoked) in [(NOW, true), (NOW + 9, true), (NOW + 10, false), (NOW + 15, false)] {
        let outcome = s.verifier.verify(&token_of(Some("family-9"), "user-42", iat)).await;
        assert_eq!(outcome.err(), revoked.then_some(Error::Revoked), "iat {iat}");
    }
    assert!(s.verifier.verify(&token_of(Some("family-9"), "user-43", NOW)).await.is_ok());
    let list = s.feed.current().unwrap();
    assert_eq!(list.subject_not_before("user-42"), Some(NOW + 10));
    assert_eq!(list.version(), 1, "a feed without ver is version 1");
    assert_eq!((list.client_not_before("billing"), list.is_key_revoked(&key().kid)), (None, false));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_not_before_refuses_that_clients_older_tokens_whatever_their_subject() {
    let s = setup();
    serve(&s.server, key(), &feed_payload_v2(NOW + 20, json!({ "billing": NOW + 10 }), &[]));
    s.clock.set(NOW + 20);
    s.feed.refresh().await.unwrap();
    // claims() are the client billing's; a client_credentials token has the client as sub.
    for sub in ["user-42", "user-43", "billing"] {
        for (iat, revoked) in [(NOW, true), (NOW + 9, true), (NOW + 10, false), (NOW + 15, false)] {
            let outcome = s.verifier.verify(&token_of(Some("family-9"), sub, iat)).await;
            assert_eq!(outcome.err(), revoked.then_some(Error::Revoked), "{sub} iat {iat}");
        }
    }
    let other_client = key().token(&with(claims(), "client_id", json!("reports")));
    assert!(s.verifier.verify(&other_client).await.is_ok());
    let list = s.feed.current().unwrap();
    assert_eq!(list.version(), 2);
    assert_eq!(
        (list.client_not_before("billing"), list.client_not_before("reports")),
        (Some(NOW + 10), None)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_key_refuses_its_tokens_and_feeds_although_the_jwks_still_holds_it() {
    let s = setup();
    s.server.set_reply(Reply::Jwks { body: jwks(&[key(), other_key()]), max_age: Some(3600) });
    let signed_by_revoked = Error::RevocationsInvalid("signed by a revoked key");
    // A feed that revokes its own signing key is refused.
    serve(&s.server, key(), &feed_payload_v2(NOW, json!({}), &[&key().kid]));
    assert_eq!(s.feed.refresh().await.unwrap_err(), signed_by_revoked);
    assert!(s.feed.current().is_none());

    serve(&s.server, other_key(), &feed_payload_v2(NOW, json!({}), &[&key().kid]));
    s.feed.refresh().await.unwrap();
    assert!(s.verifier.keys().keys().contains_kid(&key().kid), "the JWKS still holds the key");
    let token = key().token(&claims());
    assert_eq!(s.verifier.verify(&token).await.unwrap_err(), Error::Revoked);
    assert_eq!(s.verifier.verify_as::<Value>(&token).await.unwrap_err(), Error::Revoked);
    assert!(s.verifier.verify(&other_key().token(&claims())).await.is_ok());
    assert!(s.feed.current().unwrap().is_key_revoked(&key().kid));

    // Whoever holds the revoked key cannot publish a newer feed that un-revokes it.
    s.clock.advance(5);
    serve(&s.server, key(), &feed_payload_v2(NOW + 5, json!({}), &[]));
    assert_eq!(s.feed.refresh().await.unwrap_err(), signed_by_revoked);
    assert_eq!(s.feed.current().unwrap().issued_at(), NOW);
    assert_eq!(s.verifier.verify(&token).await.unwrap_err(), Error::Revoked);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_later_version_is_read_for_the_members_this_reader_knows() {
    let s = setup();
    let mut payload = feed_payload(NOW, &["family-7"], json!({}));
    payload["ver"] = json!(3);
    payload["kids"] = json!(["retired-key"]);
    payload["sessions"] = json!({ "a member": "of version 3" });
    serve(&s.server, key(), &payload);
    s.feed.refresh().await.unwrap();
    let list = s.feed.current().unwrap();
    assert_eq!(list.version(), 3);
    assert!(list.is_key_revoked("retired-key") && list.is_family_revoked("family-7"));
    assert_eq!(list.client_not_before("billing"), None, "clients may be left out after version 2");
    assert_eq!(s.verifier.verify(&key().token(&claims())).await.unwrap_err(), Error::Revoked);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_bad_feed_is_ignored_and_the_last_good_one_kept() {
    let s = setup();
    let held = NOW + 10;
    let earlier = signed_feed(key(), FEED_TYPE, &feed_payload(NOW, &[], json!({})));
    s.clock.set(held);
    s.server.set_feed(feed(held, &["family-7"]));
    s.feed.refresh().await.unwrap();

    let now = held + 5; // every bad feed below arrives at this time
    let good = feed_payload(now, &[], json!({}));
    let good_v2 = feed_payload_v2(now, json!({}), &[]);
    let v2_with = |name: &str, value: Value| {
        FeedReply::Raw(signed_feed(key(), FEED_TYPE, &with(good_v2.clone(), name, value)))
    };
    let v2_without =
        |name: &str| FeedReply::Raw(signed_feed(key(), FEED_TYPE, &without(good_v2.clone(), name)));
    let with_typ = |typ: &str| signed_feed(key(), typ, &good);
    let header = |alg: &str| json!({ "alg": alg, "kid": key().kid, "typ": FEED_TYPE });
    let repeated_sids = format!(
        r#"{{"iss":"{ISSUER}","iat":{now},"window":960,"sids":["family-7"],"subjects":{{}},"sids":[]}}"#
    );
    let invalid = Error::RevocationsInvalid;
    let bad: Vec<(&str, FeedReply, Error)> = vec![
        ("an earlier feed replayed", FeedReply::Raw(earlier), invalid("older than the feed held")),
        (
            "signed by an unknown key",
            FeedReply::Raw(signed_feed(other_key(), FEED_TYPE, &good)),
            invalid("signed by an unknown key"),
        ),
        (
            "another key's signature under our kid",
            FeedReply::Raw(other_key().sign(&header("RS256"), &good)),
            invalid("bad signature"),
        ),
        ("typ at+jwt", FeedReply::Raw(with_typ("at+jwt")), invalid("wrong typ")),
        ("typ in other case", FeedReply::Raw(with_typ("JWTD-REVOCATIONS+JWT")), invalid("wrong typ")),
        (
            "typ with a media type prefix",
            FeedReply::Raw(with_typ("application/jwtd-revocations+jwt")),
            invalid("wrong typ"),
        ),
        ("an access token", FeedReply::Raw(key().token(&claims())), invalid("wrong typ")),
        (
            "alg none",
            FeedReply::Raw(format!(
                "{}.{}.",
                b64(header("none").to_string().as_bytes()),
                b64(good.to_string().as_bytes())
            )),
            invalid("algorithm not allowed"),
        ),
        (
            "another issuer",
            FeedReply::Raw(signed_feed(
                key(),
                FEED_TYPE,
                &with(good.clone(), "iss", json!("https://evil.example.com")),
            )),
            invalid("wrong issuer"),
        ),
        (
            "iat beyond the leeway",
            FeedReply::Raw(signed_feed(key(), FEED_TYPE, &with(good.clone(), "iat", json!(now + 61)))),
            invalid("issued in the future"),
        ),
        (
            "iat a string",
            FeedReply::Raw(signed_feed(key(), FEED_TYPE, &with(good.clone(), "iat", json!("0")))),
            invalid("iat"),
        ),
        (
            "sids holding a number",
            FeedReply::Raw(signed_feed(key(), FEED_TYPE, &with(good.clone(), "sids", json!([7])))),
            invalid("sids"),
        ),
        (
            "subjects a list",
            FeedReply::Raw(signed_feed(
                key(),
                FEED_TYPE,
                &with(good.clone(), "subjects", json!(["user-42"])),
            )),
            invalid("subjects"),
        ),
        (
            "sids named twice",
            FeedReply::Raw(key().sign_raw(header("RS256").to_string().as_bytes(), repeated_sids.as_bytes())),
            invalid("a member name appears twice"),
        ),
        ("version 2 without clients", v2_without("clients"), invalid("clients")),
        ("version 2 without kids", v2_without("kids"), invalid("kids")),
        ("clients a list", v2_with("clients", json!(["billing"])), invalid("clients")),
        ("a client's not-before a string", v2_with("clients", json!({ "billing": "1" })), invalid("clients")),
        ("a client's not-before negative", v2_with("clients", json!({ "billing": -1 })), invalid("clients")),
        (
            "a client's not-before a fraction",
            v2_with("clients", json!({ "billing": 1.5 })),
            invalid("clients"),
        ),
        ("kids holding a number", v2_with("kids", json!([7])), invalid("kids")),
        ("kids a string", v2_with("kids", json!("kid1")), invalid("kids")),
        ("kids an object", v2_with("kids", json!({ "kid1": true })), invalid("kids")),
        ("ver a string", v2_with("ver", json!("2")), invalid("ver")),
        ("ver 0", v2_with("ver", json!(0)), invalid("ver")),
        ("ver a fraction", v2_with("ver", json!(2.5)), invalid("ver")),
        (
            "a later version with clients a list",
            FeedReply::Raw(signed_feed(
                key(),
                FEED_TYPE,
                &with(with(good_v2.clone(), "ver", json!(3)), "clients", json!([1])),
            )),
            invalid("clients"),
        ),
        ("garbage", FeedReply::Raw("<html>maintenance</html>".into()), invalid("not a compact JWS")),
        ("oversized", FeedReply::Oversized(1024 * 1024 + 1), Error::RevocationsTooLarge),
        ("HTTP 500", FeedReply::Status(500), Error::RevocationsStatus(500)),
    ];
    let revoked = key().token(&claims());
    s.clock.set(now);
    for (what, reply, expected) in bad {
        s.server.set_feed(reply);
        assert_eq!(s.feed.refresh().await.unwrap_err(), expected, "{what}");
        assert_eq!(s.feed.current().unwrap().issued_at(), held, "{what}");
        assert_eq!(s.feed.last_success(), Some(held), "{what}");
        assert_eq!(s.verifier.verify(&revoked).await.unwrap_err(), Error::Revoked, "{what}");
    }
    // A good, newer feed is still taken afterwards.
    s.server.set_feed(feed(now, &[]));
    s.feed.refresh().await.unwrap();
    assert!(s.verifier.verify(&revoked).await.is_ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_304_confirms_the_held_feed_and_a_change_replaces_it() {
    let s = setup();
    s.server.set_feed(feed(NOW, &["family-7"]));
    s.feed.refresh().await.unwrap();
    s.clock.advance(5);
    s.feed.refresh().await.unwrap();
    assert_eq!(s.server.counters.feed_not_modified.load(Ordering::SeqCst), 1, "If-None-Match was sent");
    assert_eq!(s.feed.last_success(), Some(NOW + 5));
    assert_eq!(s.feed.current().unwrap().issued_at(), NOW);
    assert_eq!(s.verifier.verify(&key().token(&claims())).await.unwrap_err(), Error::Revoked);

    s.server.set_feed(feed(NOW + 5, &[]));
    s.feed.refresh().await.unwrap();
    assert_eq!(s.server.counters.feed_not_modified.load(Ordering::SeqCst), 1);
    assert!(s.verifier.verify(&key().token(&claims())).await.is_ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn polls_follow_max_age_within_the_floor_and_ceiling() {
    let cases = [(Some(5), 5), (Some(0), 1), (None, 1), (Some(3600), 60), (Some(30), 30)];
    for (max_age, interval) in cases {
        let s = setup();
        let body = signed_feed(key(), FEED_TYPE, &feed_payload(NOW, &[], json!({})));
        s.server.set_feed(FeedReply::Feed { body, max_age });
        for _ in 0..10 {
            s.feed.refresh_if_due().await;
        }
        assert_eq!(s.server.feed_hits(), 1, "{max_age:?}");
        assert_eq!(s.feed.next_poll_at(), NOW + interval, "{max_age:?}");
        s.clock.advance(interval - 1);
        s.feed.refresh_if_due().await;
        assert_eq!(s.server.feed_hits(), 1, "{max_age:?}");
        s.clock.advance(1);
        s.feed.refresh_if_due().await;
        assert_eq!(s.server.feed_hits(), 2, "{max_age:?}");
    }
    let s = setup_with(|b| b.poll_bounds(Duration::from_secs(10), Duration::from_secs(20)));
    s.server.set_feed(feed(NOW, &[]));
    s.feed.refresh().await.unwrap();
    assert_eq!(s.feed.next_poll_at(), NOW + 10);
    // A failed poll keeps the cadence rather than retrying at once.
    s.server.set_feed(FeedReply::Status(503));
    s.clock.advance(10);
    s.feed.refresh_if_due().await;
    assert_eq!((s.server.feed_hits(), s.feed.next_poll_at()), (2, NOW + 20));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_refreshes_share_one_poll() {
    let s = setup();
    s.server.set_feed(feed(NOW, &["family-7"]));
    s.server.set_delay(Duration::from_millis(200));
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..50 {
        let feed = s.feed.clone();
        tasks.spawn(async move { feed.refresh().await });
    }
    while let Some(outcome) = tasks.join_next().await {
        outcome.unwrap().unwrap();
    }
    assert_eq!(s.server.feed_hits(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stale_feed_fails_closed_only_when_configured_to() {
    let closed = setup_with(|b| b.max_staleness(Duration::from_secs(30), StalePolicy::FailClosed));
    let token = token_of(Some("family-8"), "user-42", NOW);
    assert_eq!(closed.verifier.verify(&token).await.unwrap_err(), Error::RevocationsStale, "no feed yet");
    closed.server.set_feed(feed(NOW, &["family-7"]));
    closed.feed.refresh().await.unwrap();
    closed.server.set_feed(FeedReply::Status(503));
    closed.clock.advance(30);
    assert!(closed.verifier.verify(&token).await.is_ok());
    closed.clock.advance(1);
    assert!(closed.feed.refresh().await.is_err());
    assert_eq!(closed.verifier.verify(&token).await.unwrap_err(), Error::RevocationsStale);
    assert!(!Error::RevocationsStale.is_token_error(), "our fault, not the token's: a 503");

    let kept = setup_with(|b| b.max_staleness(Duration::from_secs(30), StalePolicy::KeepLastAndLog));
    kept.server.set_feed(feed(NOW, &["family-7"]));
    kept.feed.refresh().await.unwrap();
    kept.server.set_feed(FeedReply::Status(503));
    kept.clock.advance(3600);
    assert!(kept.feed.refresh().await.is_err());
    assert!(kept.verifier.verify(&token).await.is_ok());
    let revoked = token_of(Some("family-7"), "user-42", NOW);
    assert_eq!(kept.verifier.verify(&revoked).await.unwrap_err(), Error::Revoked);
}

#[actix_web::test]
async fn the_extractor_answers_a_revoked_token_with_401_invalid_token() {
    let s = setup();
    s.server.set_feed(feed(NOW, &["family-7"]));
    s.feed.refresh().await.unwrap();
    let app = test::init_service(
        App::new()
            .app_data(web::Data::new(s.verifier.clone()))
            .route("/", web::get().to(|_: Authenticated| async { HttpResponse::Ok().finish() })),
    )
    .await;
    let call = |token: String| {
        test::TestRequest::get()
            .uri("/")
            .insert_header(("Authorization", format!("Bearer {token}")))
            .to_request()
    };
    let response = test::call_service(&app, call(key().token(&claims()))).await;
    assert_eq!(response.status(), 401);
    assert_eq!(response.headers().get("www-authenticate").unwrap(), r#"Bearer error="invalid_token""#);
    let response = test::call_service(&app, call(token_of(Some("family-8"), "user-42", NOW))).await;
    assert_eq!(response.status(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_background_task_loads_the_feed_before_any_token_arrives() {
    let s = setup();
    s.server.set_feed(feed(NOW, &["family-7"]));
    let task = s.feed.spawn_refresh_task();
    tokio::time::timeout(Duration::from_secs(10), s.feed.loaded()).await.unwrap();
    task.abort();
    assert_eq!(s.server.feed_hits(), 1);
    assert_eq!(s.verifier.verify(&key().token(&claims())).await.unwrap_err(), Error::Revoked);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_feed_url_defaults_to_the_issuers_revocations_path() {
    let server = FakeIssuer::start(Reply::Jwks { body: jwks(&[key()]), max_age: Some(3600) });
    let payload = with(feed_payload(NOW, &["family-7"], json!({})), "iss", json!(server.url));
    server.set_feed(FeedReply::Feed { body: signed_feed(key(), FEED_TYPE, &payload), max_age: Some(5) });
    let keys = JwksCache::from_url(&server.jwks_url()).clock(clock()).build().unwrap();
    let feed = RevocationFeed::for_issuer(&server.url, keys).clock(clock()).build().unwrap();
    feed.refresh().await.unwrap();
    assert_eq!(server.feed_hits(), 1);
    assert!(feed.current().unwrap().is_family_revoked("family-7"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_feed_signed_by_a_just_rotated_key_is_found_through_the_jwks() {
    let s = setup();
    s.server.set_feed(feed(NOW, &[]));
    s.feed.refresh().await.unwrap(); // the JWKS (key 1 only) is fetched here
    s.server.set_reply(Reply::Jwks { body: jwks(&[key(), other_key()]), max_age: Some(3600) });
    let payload = feed_payload(NOW + 40, &["family-7"], json!({}));
    s.server
        .set_feed(FeedReply::Feed { body: signed_feed(other_key(), FEED_TYPE, &payload), max_age: Some(5) });
    s.clock.set(NOW + 40); // past the JWKS cache's unknown-kid cool-down
    s.feed.refresh().await.unwrap();
    assert_eq!(s.server.jwks_hits(), 2, "the unknown kid refetched the key set once");
    assert_eq!(s.verifier.verify(&key().token(&claims())).await.unwrap_err(), Error::Revoked);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[allow(clippy::disallowed_methods, reason = "a network timeout elapses in real time")]
async fn a_feed_endpoint_that_never_answers_times_out_and_keeps_the_feed() {
    let s = setup_with(|b| b.request_timeout(Duration::from_millis(300)));
    s.server.set_feed(feed(NOW, &["family-7"]));
    s.feed.refresh().await.unwrap();
    s.server.set_feed(FeedReply::Hang);
    let started = std::time::Instant::now();
    assert_eq!(s.feed.refresh().await.unwrap_err(), Error::RevocationsTimeout);
    assert!(started.elapsed() < Duration::from_secs(3), "{:?}", started.elapsed());
    assert_eq!(s.verifier.verify(&key().token(&claims())).await.unwrap_err(), Error::Revoked);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_familys_dpop_bound_token_is_refused_even_with_a_good_proof() {
    let s = setup();
    s.server.set_feed(feed(NOW, &["family-7"]));
    s.feed.refresh().await.unwrap();
    let verifier = Verifier::builder(s.verifier.keys().clone(), ISSUER, AUDIENCE)
        .clock(s.clock.clone())
        .revocations(s.feed.clone())
        .public_origin(ORIGIN)
        .build();
    let client = ProofKey::es256();
    let call = |token: String| {
        let proof = client.proof("GET", PATH, &token);
        let verifier = verifier.clone();
        async move { verifier.verify_request(&format!("DPoP {token}"), Some(&proof), "GET", PATH).await }
    };
    let revoked = key().token(&bound_claims(&client.jkt())); // sid family-7
    assert_eq!(call(revoked).await.unwrap_err(), Error::Revoked);
    let live = key().token(&with(bound_claims(&client.jkt()), "sid", json!("family-8")));
    assert!(call(live).await.is_ok());
}
