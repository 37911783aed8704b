//! [`decide`] as a table: one row a rule, each a change to one plain case (service B, serving
//! `https://b.example`, exchanging a user's token sent to it for `https://c.example`).

use serde_json::Map;

use super::*;
use crate::accounts::clients::{ClientChange, new_client};
use crate::accounts::clients::{ClientRegistration, Deployment};
use crate::tokens::{Audience, Confirmation};

const ISSUER: &str = "https://id.example";

fn service_b() -> Client {
    let change = ClientChange {
        name: Some("B".into()),
        scope: Some("orders:read payments:write".into()),
        grant_types: Some(vec!["token_exchange".into()]),
        resources: Some(vec!["https://c.example".into()]),
        served_resources: Some(vec!["https://b.example".into()]),
        ..ClientChange::default()
    };
    let registration = ClientRegistration::create(&change, Deployment::Production).unwrap();
    let (mut client, _) = new_client(&registration, 0).unwrap();
    client.id = "service-b".into();
    client
}

fn user_token() -> AccessClaims {
    AccessClaims {
        iss: ISSUER.into(),
        sub: "user-1".into(),
        aud: Audience::One("https://b.example".into()),
        exp: 1_600,
        iat: 1_000,
        nbf: 1_000,
        jti: "j".into(),
        client_id: "frontend".into(),
        scope: "openid orders:read payments:write profile".into(),
        sid: Some("family-1".into()),
        act: None,
        cnf: None,
        extra: Map::new(),
    }
}

struct Case {
    subject: AccessClaims,
    client: Client,
    targets: Vec<&'static str>,
    scope: Option<&'static str>,
    dpop_jkt: Option<&'static str>,
}

fn plain() -> Case {
    Case {
        subject: user_token(),
        client: service_b(),
        targets: vec!["https://c.example"],
        scope: None,
        dpop_jkt: None,
    }
}

fn bound_to(jkt: &str) -> Option<Confirmation> {
    Some(Confirmation { jkt: jkt.into() })
}

fn run(case: &Case) -> Result<Exchange, ExchangeRefusal> {
    let scope = case.scope.map(|s| Scope::parse(s).unwrap());
    let request = ExchangeRequest { targets: &case.targets, scope: scope.as_ref(), dpop_jkt: case.dpop_jkt };
    decide(&case.subject, &case.client, ISSUER, &request, 1_100, 900)
}

fn actor(chain: &[&str]) -> Option<Actor> {
    chain.iter().rev().fold(None, |inner, sub| Some(Actor { sub: (*sub).into(), act: inner.map(Box::new) }))
}

#[test]
fn the_plain_exchange_keeps_the_user_narrows_to_the_target_and_names_the_actor() {
    let exchange = run(&plain()).unwrap();
    assert_eq!(exchange.audience, "https://c.example");
    assert_eq!(exchange.scope.to_string(), "orders:read payments:write", "the subject's scope within B's");
    assert_eq!(exchange.act, Actor { sub: "service-b".into(), act: None });
    assert_eq!(exchange.exp, 1_600, "never past the subject token's expiry");
    let mut long_lived = plain();
    long_lived.subject.exp = 5_000;
    assert_eq!(run(&long_lived).unwrap().exp, 2_000, "otherwise the usual lifetime");
}

#[test]
fn a_chain_nests_the_previous_actors() {
    let mut case = plain();
    case.subject.act = actor(&["service-a"]);
    let exchange = run(&case).unwrap();
    assert_eq!(exchange.act.chain(), vec!["service-b", "service-a"]);
    assert_eq!(Some(exchange.act), actor(&["service-b", "service-a"]));
}

#[test]
fn every_rule_refuses_on_its_own() {
    type Change = fn(&mut Case);
    #[rustfmt::skip]
    let table: &[(&str, Change, ExchangeRefusal)] = &[
        ("a token sent to another API", |c| c.subject.aud = Audience::One("https://x.example".into()),
            ExchangeRefusal::NotSentToClient),
        ("a token for jwtd itself", |c| c.subject.aud = Audience::Many(vec!["https://b.example".into(), ISSUER.into()]),
            ExchangeRefusal::ForJwtd),
        ("an admin token", |c| c.subject.scope = "jwtd:admin orders:read".into(), ExchangeRefusal::ForJwtd),
        ("a chain already at its longest", |c| c.subject.act = actor(&["a"; MAX_ACTORS]),
            ExchangeRefusal::ChainTooLong),
        ("an unregistered target", |c| c.targets = vec!["https://d.example"], ExchangeRefusal::TargetNotAllowed),
        ("two targets", |c| c.targets = vec!["https://c.example", "https://c.example"],
            ExchangeRefusal::TooManyTargets),
        ("no target while several are allowed", |c| {
            c.targets = vec![];
            c.client.resources.push("https://d.example".into());
        }, ExchangeRefusal::NoTarget),
        ("a scope beyond the subject's", |c| {
            c.subject.scope = "orders:read".into();
            c.scope = Some("payments:write");
        }, ExchangeRefusal::ScopeExceeded),
        ("a scope beyond the client's", |c| c.scope = Some("profile"), ExchangeRefusal::ScopeExceeded),
        ("a DPoP-bound token without a proof", |c| c.subject.cnf = bound_to("key-a"), ExchangeRefusal::KeyMismatch),
        ("a DPoP-bound token with a proof of another key", |c| {
            c.subject.cnf = bound_to("key-a");
            c.dpop_jkt = Some("key-b");
        }, ExchangeRefusal::KeyMismatch),
    ];
    for (name, change, refusal) in table {
        let mut case = plain();
        change(&mut case);
        assert_eq!(run(&case), Err(*refusal), "{name}");
    }
}

#[test]
fn what_may_pass() {
    let mut one_short = plain();
    one_short.subject.act = actor(&["a"; MAX_ACTORS - 1]);
    assert_eq!(run(&one_short).unwrap().act.depth(), MAX_ACTORS);
    let mut implicit = plain();
    implicit.targets = vec![];
    assert_eq!(run(&implicit).unwrap().audience, "https://c.example", "the only allowed target");
    let mut narrower = plain();
    narrower.scope = Some("orders:read");
    assert_eq!(run(&narrower).unwrap().scope.to_string(), "orders:read");
    let mut among_several = plain();
    among_several.subject.aud = Audience::Many(vec!["https://x.example".into(), "https://b.example".into()]);
    assert!(run(&among_several).is_ok(), "aud names B's API among others");
    let mut bound = plain();
    (bound.subject.cnf, bound.dpop_jkt) = (bound_to("key-a"), Some("key-a"));
    assert!(run(&bound).is_ok(), "a DPoP-bound token with a proof of its key");
    let mut proved = plain();
    proved.dpop_jkt = Some("key-b");
    assert!(run(&proved).is_ok(), "an unbound token with a proof");
}

#[test]
fn an_actor_token_stands_for_the_client_only_when_it_got_it_for_itself() {
    let client = service_b();
    let mut own = user_token();
    (own.sub, own.client_id, own.sid) = ("service-b".into(), "service-b".into(), None);
    assert!(actor_is_client(&own, &client, None));
    let mut bound = own.clone();
    bound.cnf = bound_to("key-a");
    assert!(actor_is_client(&bound, &client, Some("key-a")), "bound, with a proof of its key");
    assert!(!actor_is_client(&bound, &client, Some("key-b")), "bound, with a proof of another key");
    assert!(!actor_is_client(&bound, &client, None), "bound, without a proof");
    let mut users = own.clone();
    users.sub = "user-1".into();
    assert!(!actor_is_client(&users, &client, None), "a user's token is no actor token");
    let mut others = own.clone();
    (others.sub, others.client_id) = ("service-x".into(), "service-x".into());
    assert!(!actor_is_client(&others, &client, None), "another service's token");
}
