//! [`decide`] as a table: one row a branch, each a change to one plain case (the claim's winner,
//! at 1000, refreshing a live family of its own client from the login's origin, no grace, no
//! binding), and the decision it must give.

use super::*;
use crate::tokens::families::TokenFormat;

const APP: &str = "app/1.0";
const THIEF: &str = "curl/8.0";

/// One refresh: what the claim found, the request, and the policy.
struct Case {
    claim: Claimed,
    family: FamilyFacts<'static>,
    client_id: &'static str,
    requested: Option<&'static str>,
    resource: Option<&'static str>,
    dpop_jkt: Option<&'static str>,
    origin: Origin<'static>,
    now: i64,
    policy: FamilyPolicy,
}

fn plain() -> Case {
    let login = Origin { ip: Some("203.0.113.7"), user_agent: Some(APP) };
    Case {
        claim: Claimed { won: true, generation: 3, expires_at: 1050, rotated_at: Some(1000) },
        family: FamilyFacts {
            id: "f",
            client_id: "c",
            scope: "read write",
            resources: "https://a.example https://b.example",
            dpop_jkt: None,
            expires_at: 5000,
            revoked: false,
            created: login,
            next: None,
        },
        client_id: "c",
        requested: None,
        resource: None,
        dpop_jkt: None,
        origin: login,
        now: 1000,
        policy: FamilyPolicy {
            idle_ttl: 100,
            absolute_ttl: 10_000,
            reuse_grace: 0,
            binding: BindingPolicy::Off,
            binding_ip: false,
            token_format: TokenFormat::Family,
        },
    }
}

/// Another caller used the token 5 s ago and its successor is the family's unused head; the
/// grace window is 10 s.
fn retry(case: &mut Case) {
    case.claim = Claimed { won: false, generation: 3, expires_at: 1050, rotated_at: Some(995) };
    case.family.next = Some(NextToken { used: false, is_successor: true, expires_at: 1095 });
    case.policy.reuse_grace = 10;
}

/// `binding = enforce`, and `binding_ip` as given.
fn enforce(case: &mut Case, binding_ip: bool) {
    case.policy.binding = BindingPolicy::Enforce;
    case.policy.binding_ip = binding_ip;
}

fn decision(case: &Case) -> Decision {
    let requested = case.requested.map(|s| Scope::parse(s).unwrap());
    let request = RefreshRequest {
        client_id: case.client_id,
        requested: requested.as_ref(),
        resource: case.resource,
        dpop_jkt: case.dpop_jkt,
        origin: case.origin,
        now: case.now,
    };
    decide(&case.claim, &case.family, &request, &case.policy)
}

fn rotate(binding_mismatch: bool) -> Decision {
    Decision::Rotate { generation: 4, expires_at: 1100, binding_mismatch }
}

fn replay(binding_mismatch: bool) -> Decision {
    Decision::ReplaySameSuccessor { expires_at: 1095, binding_mismatch }
}

fn reused() -> Decision {
    Decision::Refuse(Refusal::Reused { family_id: "f".into() })
}

fn wrong_client() -> Decision {
    Decision::Refuse(Refusal::WrongClient { family_id: "f".into() })
}

fn elsewhere() -> Decision {
    Decision::Refuse(Refusal::Elsewhere { family_id: "f".into() })
}

type Row = (&'static str, fn(&mut Case), fn() -> Decision);

const ROWS: &[Row] = &[
    ("rotate: the winner gets the next generation", |_| {}, || rotate(false)),
    (
        "rotate: the successor never outlives the family",
        |c| c.family.expires_at = 1060,
        || Decision::Rotate { generation: 4, expires_at: 1060, binding_mismatch: false },
    ),
    // Reuse and the grace window.
    (
        "strict reuse: grace 0 revokes even the client's own retry",
        |c| {
            retry(c);
            c.policy.reuse_grace = 0;
        },
        reused,
    ),
    ("grace hit: the same successor again", retry, || replay(false)),
    (
        "grace hit: at the window's very edge",
        |c| {
            retry(c);
            c.claim.rotated_at = Some(990);
        },
        || replay(false),
    ),
    (
        "grace miss: outside the window",
        |c| {
            retry(c);
            c.claim.rotated_at = Some(989);
        },
        reused,
    ),
    (
        "grace miss: the head is already used",
        |c| {
            retry(c);
            c.family.next = Some(NextToken { used: true, is_successor: true, expires_at: 1095 });
        },
        reused,
    ),
    (
        "grace miss: the head is not the successor",
        |c| {
            retry(c);
            c.family.next = Some(NextToken { used: false, is_successor: false, expires_at: 1095 });
        },
        reused,
    ),
    (
        "grace miss: no next generation",
        |c| {
            retry(c);
            c.family.next = None;
        },
        reused,
    ),
    (
        "grace miss: the head expired",
        |c| {
            retry(c);
            c.now = 1095;
            c.claim.rotated_at = Some(1090);
        },
        reused,
    ),
    (
        "grace miss: the family ended (expiry is the winner's check; a loser is reuse)",
        |c| {
            retry(c);
            c.family.expires_at = 1000;
        },
        reused,
    ),
    (
        "reuse: a wider scope does not matter, the family is revoked",
        |c| {
            retry(c);
            c.policy.reuse_grace = 0;
            c.requested = Some("read write admin");
        },
        reused,
    ),
    // Expiry, for the winner.
    ("idle expiry: the token expired", |c| c.claim.expires_at = 1000, || Decision::Refuse(Refusal::Expired)),
    (
        "absolute expiry: the family ended",
        |c| c.family.expires_at = 1000,
        || Decision::Refuse(Refusal::Expired),
    ),
    (
        "expiry comes before the scope check",
        |c| {
            c.claim.expires_at = 1000;
            c.requested = Some("admin");
        },
        || Decision::Refuse(Refusal::Expired),
    ),
    // Another client, a revoked family.
    ("other client: refused and revoked", |c| c.client_id = "other", wrong_client),
    (
        "other client is checked before a revoked family",
        |c| {
            c.client_id = "other";
            c.family.revoked = true;
        },
        wrong_client,
    ),
    (
        "other client is checked before reuse",
        |c| {
            retry(c);
            c.client_id = "other";
        },
        wrong_client,
    ),
    ("revoked family", |c| c.family.revoked = true, || Decision::Refuse(Refusal::FamilyRevoked)),
    (
        "revoked family: a used token is not reuse (nothing left to revoke)",
        |c| {
            retry(c);
            c.family.revoked = true;
        },
        || Decision::Refuse(Refusal::FamilyRevoked),
    ),
    // Binding to the login's origin.
    ("binding off: another User-Agent rotates", |c| c.origin.user_agent = Some(THIEF), || rotate(false)),
    (
        "binding audit: another User-Agent rotates, recorded",
        |c| {
            c.policy.binding = BindingPolicy::Audit;
            c.origin.user_agent = Some(THIEF);
        },
        || rotate(true),
    ),
    (
        "binding audit: the same origin is not recorded",
        |c| c.policy.binding = BindingPolicy::Audit,
        || rotate(false),
    ),
    (
        "binding enforce: another User-Agent is refused and revoked",
        |c| {
            enforce(c, false);
            c.origin.user_agent = Some(THIEF);
        },
        elsewhere,
    ),
    (
        "binding enforce: no User-Agent where the login had one",
        |c| {
            enforce(c, false);
            c.origin.user_agent = None;
        },
        elsewhere,
    ),
    (
        "binding enforce: another address does not count without binding_ip",
        |c| {
            enforce(c, false);
            c.origin.ip = Some("198.51.100.1");
        },
        || rotate(false),
    ),
    (
        "binding_ip: the same /24 passes",
        |c| {
            enforce(c, true);
            c.origin.ip = Some("203.0.113.200");
        },
        || rotate(false),
    ),
    (
        "binding_ip: another /24 is refused with enforce",
        |c| {
            enforce(c, true);
            c.origin.ip = Some("203.0.114.7");
        },
        elsewhere,
    ),
    (
        "binding_ip: another /24 is recorded with audit",
        |c| {
            c.policy.binding = BindingPolicy::Audit;
            c.policy.binding_ip = true;
            c.origin.ip = Some("203.0.114.7");
        },
        || rotate(true),
    ),
    (
        "binding_ip: the same /64 passes",
        |c| {
            enforce(c, true);
            c.family.created.ip = Some("2001:db8:1:2::5");
            c.origin.ip = Some("2001:db8:1:2:ffff::1");
        },
        || rotate(false),
    ),
    (
        "binding_ip: another /64 is refused",
        |c| {
            enforce(c, true);
            c.family.created.ip = Some("2001:db8:1:2::5");
            c.origin.ip = Some("2001:db8:1:3::5");
        },
        elsewhere,
    ),
    (
        "binding_ip: another family of address is refused",
        |c| {
            enforce(c, true);
            c.family.created.ip = Some("2001:db8:1:2::5");
        },
        elsewhere,
    ),
    (
        "binding_ip: no address at login nor now passes",
        |c| {
            enforce(c, true);
            c.family.created.ip = None;
            c.origin.ip = None;
        },
        || rotate(false),
    ),
    // Scope: narrowing only, for the winner and the grace replay alike.
    ("scope narrowing is allowed", |c| c.requested = Some("read"), || rotate(false)),
    (
        "scope widening is refused, rolled back",
        |c| c.requested = Some("read admin"),
        || Decision::ScopeExceeded,
    ),
    (
        "scope widening is refused before the binding check",
        |c| {
            c.requested = Some("admin");
            enforce(c, false);
            c.origin.user_agent = Some(THIEF);
        },
        || Decision::ScopeExceeded,
    ),
    // Resources: one of the grant's, or any when the grant named none.
    ("a resource of the grant is allowed", |c| c.resource = Some("https://b.example"), || rotate(false)),
    (
        "a resource outside the grant is refused, rolled back",
        |c| c.resource = Some("https://c.example"),
        || Decision::TargetNotGranted,
    ),
    (
        "a grant that named no resource leaves the choice to the registration",
        |c| {
            c.family.resources = "";
            c.resource = Some("https://c.example");
        },
        || rotate(false),
    ),
    (
        "grace replay: a resource outside the grant is refused, as for the first request",
        |c| {
            retry(c);
            c.resource = Some("https://c.example");
        },
        || Decision::TargetNotGranted,
    ),
    (
        "grace replay: narrowing is allowed",
        |c| {
            retry(c);
            c.requested = Some("write");
        },
        || replay(false),
    ),
    (
        "grace replay: widening is refused, as for the first request",
        |c| {
            retry(c);
            c.requested = Some("read write admin");
        },
        || Decision::ScopeExceeded,
    ),
    (
        "grace replay: binding enforce refuses another User-Agent",
        |c| {
            retry(c);
            enforce(c, false);
            c.origin.user_agent = Some(THIEF);
        },
        elsewhere,
    ),
    (
        "grace replay: binding audit records another User-Agent",
        |c| {
            retry(c);
            c.policy.binding = BindingPolicy::Audit;
            c.origin.user_agent = Some(THIEF);
        },
        || replay(true),
    ),
    // DPoP (RFC 9449 §5): a bound family needs a proof of its key; an unbound one takes any.
    (
        "a bound family refreshes with a proof of its key",
        |c| {
            c.family.dpop_jkt = Some("key-a");
            c.dpop_jkt = Some("key-a");
        },
        || rotate(false),
    ),
    (
        "a bound family refuses a proof of another key, rolled back, nothing revoked",
        |c| {
            c.family.dpop_jkt = Some("key-a");
            c.dpop_jkt = Some("key-b");
        },
        || Decision::KeyMismatch,
    ),
    (
        "a bound family refuses a request without a proof",
        |c| c.family.dpop_jkt = Some("key-a"),
        || Decision::KeyMismatch,
    ),
    ("an unbound family takes a request with a proof", |c| c.dpop_jkt = Some("key-b"), || rotate(false)),
    (
        "grace replay: a bound family refuses another key, as for the first request",
        |c| {
            retry(c);
            c.family.dpop_jkt = Some("key-a");
            c.dpop_jkt = Some("key-b");
        },
        || Decision::KeyMismatch,
    ),
    (
        "a missing key is refused before binding enforce could revoke the family",
        |c| {
            c.family.dpop_jkt = Some("key-a");
            enforce(c, false);
            c.origin.user_agent = Some(THIEF);
        },
        || Decision::KeyMismatch,
    ),
];

#[test]
fn every_branch_of_the_refresh_decision() {
    let wrong: Vec<String> = ROWS
        .iter()
        .filter_map(|(name, change, expected)| {
            let mut case = plain();
            change(&mut case);
            let (got, expected) = (decision(&case), expected());
            (got != expected).then(|| format!("{name}: got {got:?}, expected {expected:?}"))
        })
        .collect();
    assert!(wrong.is_empty(), "{} of {} rows:\n{}", wrong.len(), ROWS.len(), wrong.join("\n"));
}
