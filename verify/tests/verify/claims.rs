//! What a good token yields, and the time and policy checks, on an injected clock.

use std::time::Duration;

use jwtd_verify::{Error, MAX_LEEWAY};
use serde::Deserialize;
use serde_json::json;

use crate::helpers::*;

#[tokio::test]
async fn a_good_token_yields_typed_claims() {
    let claims = verifier().verify(&key().token(&claims())).await.unwrap();
    assert_eq!(claims.iss, ISSUER);
    assert_eq!(claims.sub, "user-42");
    assert_eq!(claims.aud, vec![AUDIENCE.to_owned()]);
    assert_eq!((claims.exp, claims.iat, claims.nbf), (NOW + 900, NOW, Some(NOW)));
    assert_eq!(claims.jti, "jti-1");
    assert_eq!(claims.client_id, "billing");
    assert_eq!(claims.sid.as_deref(), Some("family-7"));
    assert!(claims.scope.contains("invoices:read") && claims.scope.contains("profile"));
    assert!(!claims.scope.contains("invoices"));
    assert_eq!(claims.scope.to_string(), "invoices:read profile");
    assert_eq!(claims.extra.get("roles"), Some(&json!(["admin"])));
    assert!(!claims.extra.contains_key("sub"), "registered claims are not repeated in extra");
}

#[tokio::test]
async fn audience_may_be_an_array_and_typ_may_carry_the_media_type_prefix() {
    let k = key();
    let many = with(claims(), "aud", json!(["https://other.example.com", AUDIENCE]));
    assert_eq!(verifier().verify(&k.token(&many)).await.unwrap().aud.len(), 2);
    for typ in ["application/at+jwt", "AT+JWT", "Application/At+Jwt"] {
        let mut h = header(&k.kid);
        h["typ"] = json!(typ);
        assert!(verifier().verify(&k.sign(&h, &claims())).await.is_ok(), "{typ}");
    }
}

#[tokio::test]
async fn exp_nbf_and_iat_are_checked_with_the_leeway_at_most_max_leeway_on_the_injected_clock() {
    assert_eq!(MAX_LEEWAY, Duration::from_secs(60));
    // A larger leeway is lowered to MAX_LEEWAY: the limits below are the same for all three.
    for leeway in [MAX_LEEWAY, Duration::from_secs(3600), Duration::MAX] {
        let clock = clock();
        let verifier = verifier_builder(&[key()], &clock).leeway(leeway).build();
        let token = key().token(&claims());
        // exp = NOW + 900: still accepted 59 s after it, refused at 60 s.
        clock.set(NOW + 900 + 59);
        assert!(verifier.verify(&token).await.is_ok(), "{leeway:?}");
        clock.set(NOW + 900 + 60);
        assert_eq!(verifier.verify(&token).await.unwrap_err(), Error::Expired, "{leeway:?}");

        // nbf and iat = NOW: accepted from 60 s before, refused earlier.
        clock.set(NOW - 60);
        assert!(verifier.verify(&token).await.is_ok(), "{leeway:?}");
        clock.set(NOW - 61);
        let no_iat_issue = key().token(&with(claims(), "iat", json!(NOW - 3600)));
        assert_eq!(verifier.verify(&no_iat_issue).await.unwrap_err(), Error::NotYetValid, "{leeway:?}");
        let no_nbf = key().token(&without(claims(), "nbf"));
        assert_eq!(verifier.verify(&no_nbf).await.unwrap_err(), Error::IssuedInFuture, "{leeway:?}");
    }
}

#[tokio::test]
async fn a_zero_leeway_is_exact() {
    let clock = clock();
    let verifier = verifier_builder(&[key()], &clock).leeway(Duration::ZERO).build();
    let token = key().token(&claims());
    clock.set(NOW + 899);
    assert!(verifier.verify(&token).await.is_ok());
    clock.set(NOW + 900);
    assert_eq!(verifier.verify(&token).await.unwrap_err(), Error::Expired);
}

#[tokio::test]
async fn configured_required_claims_are_enforced_and_rfc_9068_claims_always_are() {
    let strict = verifier_builder(&[key()], &clock()).require_claims(["sid"]).build();
    assert!(strict.verify(&key().token(&claims())).await.is_ok());
    let client_token = key().token(&without(claims(), "sid"));
    assert!(matches!(strict.verify(&client_token).await.unwrap_err(), Error::MissingClaim(_)));
    assert!(verifier().verify(&client_token).await.is_ok(), "sid is optional by default");
    for name in ["jti", "client_id", "iat", "aud"] {
        let error = verifier().verify(&key().token(&without(claims(), name))).await.unwrap_err();
        assert_eq!(error, Error::MissingClaim(name), "{name}");
    }
}

#[tokio::test]
async fn the_jwt_type_is_accepted_only_behind_the_compatibility_switch() {
    let mut h = header(&key().kid);
    h["typ"] = json!("JWT");
    let token = key().sign(&h, &claims());
    assert_eq!(verifier().verify(&token).await.unwrap_err(), Error::WrongType);
    let compatible = verifier_builder(&[key()], &clock()).accept_jwt_type(true).build();
    assert!(compatible.verify(&token).await.is_ok());
    h.as_object_mut().unwrap().remove("typ");
    assert_eq!(compatible.verify(&key().sign(&h, &claims())).await.unwrap_err(), Error::WrongType);
}

#[derive(Debug, Deserialize)]
struct AppClaims {
    sub: String,
    roles: Vec<String>,
}

#[tokio::test]
async fn claims_decode_into_an_application_type_after_every_check() {
    let verified = verifier().verify_as::<AppClaims>(&key().token(&claims())).await.unwrap();
    assert_eq!(verified.claims.sub, "user-42");
    assert_eq!(verified.claims.roles, ["admin"]);
    assert!(verified.scope.contains("profile"));
    let expired = key().token(&with(claims(), "exp", json!(NOW - 3600)));
    assert_eq!(verifier().verify_as::<AppClaims>(&expired).await.unwrap_err(), Error::Expired);
    let no_roles = key().token(&without(claims(), "roles"));
    assert!(matches!(
        verifier().verify_as::<AppClaims>(&no_roles).await.unwrap_err(),
        Error::InvalidClaim(_)
    ));
}
