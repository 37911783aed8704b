//! Delegated tokens (RFC 8693 token exchange): the `act` chain typed and in order, and every
//! malformed `act` refused.

use jwtd_verify::{Error, MAX_DELEGATION_DEPTH};
use serde_json::{Value, json};

use crate::helpers::*;

/// `depth` actors, `service-1` the most recent, each nesting the one before it.
fn chain(depth: usize) -> Value {
    (1..depth).rev().fold(
        json!({ "sub": format!("service-{depth}") }),
        |before, n| json!({ "sub": format!("service-{n}"), "act": before }),
    )
}

fn delegated(act: Value) -> Value {
    with(with(claims(), "client_id", json!("service-b")), "act", act)
}

#[tokio::test]
async fn a_delegated_token_yields_its_actors_most_recent_first() {
    let act = json!({ "sub": "service-b", "act": { "sub": "service-a", "iss": ISSUER } });
    let claims = verifier().verify(&key().token(&delegated(act))).await.unwrap();
    assert_eq!((claims.sub.as_str(), claims.client_id.as_str()), ("user-42", "service-b"));
    assert!(claims.is_delegated());
    assert_eq!(claims.actors().collect::<Vec<_>>(), ["service-b", "service-a"]);
    let act = claims.act.as_ref().unwrap();
    assert_eq!(act.sub, "service-b");
    assert_eq!(
        act.act.as_ref().map(|before| (before.sub.as_str(), before.act.is_none())),
        Some(("service-a", true))
    );
    assert!(!claims.extra.contains_key("act"), "act is typed, not repeated in extra");
    assert_eq!(claims.extra.get("roles"), Some(&json!(["admin"])));
}

#[tokio::test]
async fn a_token_without_act_is_not_delegated() {
    let claims = verifier().verify(&key().token(&claims())).await.unwrap();
    assert_eq!(claims.act, None);
    assert!(!claims.is_delegated());
    assert_eq!(claims.actors().count(), 0);
}

#[tokio::test]
async fn chains_up_to_the_limit_are_accepted_and_longer_ones_refused() {
    assert_eq!(MAX_DELEGATION_DEPTH, 8);
    let deepest = verifier().verify(&key().token(&delegated(chain(8)))).await.unwrap();
    let expected: Vec<String> = (1..=8).map(|n| format!("service-{n}")).collect();
    assert_eq!(deepest.actors().collect::<Vec<_>>(), expected);
    for depth in [9, 100] {
        let error = verifier().verify(&key().token(&delegated(chain(depth)))).await.unwrap_err();
        assert_eq!(error, Error::InvalidClaim("act"), "{depth}");
    }
}

#[tokio::test]
async fn a_malformed_act_is_refused_as_an_invalid_claim() {
    for act in [
        json!("service-b"),
        json!(["service-b"]),
        json!(null),
        json!({}),
        json!({ "iss": ISSUER }),
        json!({ "sub": 42 }),
        json!({ "sub": "" }),
        json!({ "sub": null }),
        json!({ "sub": "service-b", "act": "service-a" }),
        json!({ "sub": "service-b", "act": ["service-a"] }),
        json!({ "sub": "service-b", "act": { "sub": 7 } }),
        json!({ "sub": "service-b", "act": { "sub": "service-a", "act": {} } }),
    ] {
        let token = key().token(&delegated(act.clone()));
        assert_eq!(verifier().verify(&token).await.unwrap_err(), Error::InvalidClaim("act"), "{act}");
        let as_value = verifier().verify_as::<Value>(&token).await.unwrap_err();
        assert_eq!(as_value, Error::InvalidClaim("act"), "verify_as: {act}");
    }
}

#[tokio::test]
async fn a_repeated_name_inside_act_or_a_repeated_act_is_refused_as_everywhere() {
    let payload = |act: &str| {
        let base = delegated(json!("placeholder")).to_string();
        base.replace(r#""act":"placeholder""#, &format!(r#""act":{act}"#))
    };
    for act in [
        r#"{"sub":"service-b","sub":"service-c"}"#,
        r#"{"sub":"service-b","\u0073ub":"service-c"}"#,
        r#"{"sub":"service-b","act":{"sub":"service-a"},"act":{"sub":"service-z"}}"#,
        r#"{"sub":"service-b","act":{"sub":"service-a","iss":"x","iss":"y"}}"#,
        r#"{"sub":"service-b"},"act":{"sub":"service-c"}"#,
    ] {
        let token = key().sign_raw(header(&key().kid).to_string().as_bytes(), payload(act).as_bytes());
        assert_eq!(verifier().verify(&token).await.unwrap_err(), Error::DuplicateMember, "{act}");
    }
}

#[tokio::test]
async fn a_verifier_can_require_delegation() {
    let exchanged_only = verifier_builder(&[key()], &clock()).require_claims(["act"]).build();
    let act = json!({ "sub": "service-b" });
    assert!(exchanged_only.verify(&key().token(&delegated(act))).await.unwrap().is_delegated());
    let direct = exchanged_only.verify(&key().token(&claims())).await.unwrap_err();
    assert!(matches!(direct, Error::MissingClaim(_)));
}
