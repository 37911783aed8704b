//! Workload tokens as client credentials (workload identity federation): a token another issuer
//! gave a workload (a Kubernetes projected service-account token, a CI system's OIDC token, a
//! SPIFFE JWT-SVID), presented as the `client_assertion` of the client that trusts that issuer.
//!
//! Workloads reuse such a token until their platform refreshes it, so `jti` is not single-use
//! here. What makes it safe instead: the signature with the issuer's published keys, `iss`
//! exactly the trusted issuer, `aud` including the audience the client expects (jwtd's issuer by
//! default, so a token minted for another service is never accepted), `sub` one the client's
//! pattern names, `exp`/`nbf` on jwtd's clock, and a lifetime (`exp` − `iat`) no longer than the
//! client allows (an hour by default).

use jsonwebtoken::jwk::JwkSet;
use serde::Deserialize;

use super::Audience;
use super::client_assertion::{MAX_ASSERTION_LEN, Refused, signed_claims};
use crate::accounts::clients::workload::SubjectPattern;

/// What a client trusts: the issuer, the audience its tokens must carry, the subjects that are
/// the client, and the longest lifetime accepted.
#[derive(Debug, Clone, Copy)]
pub struct Trust<'a> {
    pub issuer: &'a str,
    pub audience: &'a str,
    pub subject: &'a SubjectPattern,
    pub max_lifetime: i64,
}

#[derive(Deserialize)]
struct Claims {
    iss: Option<String>,
    sub: Option<String>,
    aud: Option<Audience>,
    exp: Option<i64>,
    iat: Option<i64>,
    nbf: Option<i64>,
}

/// The issuer and subject a workload token claims, read without verifying anything: only to
/// find the client that trusts them.
pub fn claimed_identity(token: &str) -> Option<(String, String)> {
    if token.len() > MAX_ASSERTION_LEN {
        return None;
    }
    let claims = jsonwebtoken::dangerous::insecure_decode::<Claims>(token).ok()?.claims;
    Some((claims.iss?, claims.sub?))
}

/// Verifies a workload `token` against what the client trusts, with the issuer's `keys`, at
/// `now` with `leeway` seconds of clock skew. Returns the subject.
pub fn verify(
    token: &str,
    keys: &JwkSet,
    trust: &Trust<'_>,
    now: i64,
    leeway: i64,
) -> Result<String, Refused> {
    let claims: Claims = signed_claims(token, keys)?;
    if claims.iss.as_deref() != Some(trust.issuer) {
        return Err(Refused::Untrusted);
    }
    if !claims.aud.as_ref().is_some_and(|aud| aud.contains(trust.audience)) {
        return Err(Refused::WorkloadAudience);
    }
    let Some(exp) = claims.exp else {
        return Err(Refused::Lifetime);
    };
    if now >= exp.saturating_add(leeway) {
        return Err(Refused::Expired);
    }
    if claims.nbf.or(claims.iat).is_some_and(|start| start > now.saturating_add(leeway)) {
        return Err(Refused::IssuedInFuture);
    }
    let issued = claims.iat.or(claims.nbf).ok_or(Refused::Lifetime)?;
    if exp.saturating_sub(issued) > trust.max_lifetime {
        return Err(Refused::WorkloadLifetime);
    }
    match claims.sub {
        Some(sub) if trust.subject.matches(&sub) => Ok(sub),
        _ => Err(Refused::WorkloadSubject),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;
    use crate::keys::signing::{self, SigningKey};

    const CLUSTER: &str = "https://kubernetes.default.svc";
    const JWTD: &str = "https://jwtd.example";
    const NOW: i64 = 1_800_000_000;

    fn cluster_key() -> (SigningKey, JwkSet) {
        let generated = signing::generate(signing::Algorithm::Rs256, 2048).unwrap();
        let signer =
            SigningKey::from_pkcs8(generated.jwk.kid.clone(), signing::Algorithm::Rs256, &generated.pkcs8)
                .unwrap();
        (signer, serde_json::from_value(json!({ "keys": [generated.jwk] })).unwrap())
    }

    /// Shaped like a Kubernetes projected service-account token.
    fn token_claims() -> Value {
        json!({
            "iss": CLUSTER, "sub": "system:serviceaccount:payments:api", "aud": [JWTD],
            "iat": NOW - 60, "nbf": NOW - 60, "exp": NOW + 3540,
            "kubernetes.io": { "namespace": "payments", "serviceaccount": { "name": "api" } },
        })
    }

    #[test]
    fn a_service_account_token_is_checked_against_what_the_client_trusts() {
        let (signer, keys) = cluster_key();
        let pattern = SubjectPattern::parse("system:serviceaccount:payments:*").unwrap();
        let trust = Trust { issuer: CLUSTER, audience: JWTD, subject: &pattern, max_lifetime: 3600 };
        let sign = |changes: &[(&str, Value)]| {
            let mut claims = token_claims();
            for (name, value) in changes {
                claims[*name] = value.clone();
            }
            signer.sign_jwt("JWT", &claims).unwrap()
        };
        assert_eq!(
            verify(&sign(&[]), &keys, &trust, NOW, 5).as_deref(),
            Ok("system:serviceaccount:payments:api")
        );
        assert_eq!(
            claimed_identity(&sign(&[])),
            Some((CLUSTER.into(), "system:serviceaccount:payments:api".into()))
        );
        #[rustfmt::skip]
        let cases: Vec<(Vec<(&str, Value)>, Refused)> = vec![
            (vec![("iss", json!("https://other-cluster"))], Refused::Untrusted),
            (vec![("aud", json!(["https://vault.example"]))], Refused::WorkloadAudience),
            (vec![("sub", json!("system:serviceaccount:billing:api"))], Refused::WorkloadSubject),
            (vec![("exp", json!(NOW - 10))], Refused::Expired),
            (vec![("nbf", json!(NOW + 60)), ("iat", json!(NOW + 60))], Refused::IssuedInFuture),
            (vec![("iat", json!(NOW - 60)), ("exp", json!(NOW + 7200))], Refused::WorkloadLifetime),
        ];
        for (changes, refused) in cases {
            assert_eq!(verify(&sign(&changes), &keys, &trust, NOW, 5), Err(refused.clone()), "{changes:?}");
        }
        assert!(verify(&sign(&[("aud", json!(JWTD))]), &keys, &trust, NOW, 5).is_ok(), "aud as one string");
        let (stranger, _) = cluster_key();
        let forged = stranger.sign_jwt("JWT", &token_claims()).unwrap();
        assert_eq!(verify(&forged, &keys, &trust, NOW, 5), Err(Refused::UnknownKey));
    }
}
