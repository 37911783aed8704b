use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};

use super::*;
use crate::keys::signing::{self, SigningKey};

const ISSUER: &str = "https://jwtd.example";
const CLIENT: &str = "billing";
const NOW: i64 = 1_800_000_000;

/// A client's key pair: the signer, and its public half as a registered JWK set.
fn client_key(alg: signing::Algorithm) -> (SigningKey, JwkSet) {
    let generated = signing::generate(alg, 2048).unwrap();
    let signer = SigningKey::from_pkcs8(generated.jwk.kid.clone(), alg, &generated.pkcs8).unwrap();
    let set = serde_json::from_value(json!({ "keys": [generated.jwk] })).unwrap();
    (signer, set)
}

fn claims() -> Value {
    json!({ "iss": CLIENT, "sub": CLIENT, "aud": ISSUER, "iat": NOW, "exp": NOW + 60, "jti": "j-1" })
}

fn with(change: &[(&str, Value)]) -> Value {
    let mut claims = claims();
    for (name, value) in change {
        if value.is_null() {
            claims.as_object_mut().unwrap().remove(*name);
        } else {
            claims[*name] = value.clone();
        }
    }
    claims
}

#[test]
fn a_well_formed_assertion_verifies_with_each_algorithm() {
    for alg in [signing::Algorithm::Es256, signing::Algorithm::EdDsa, signing::Algorithm::Rs256] {
        let (signer, keys) = client_key(alg);
        let assertion = signer.sign_jwt("JWT", &claims()).unwrap();
        assert_eq!(claimed_client(&assertion).as_deref(), Some(CLIENT));
        let verified = verify(&assertion, &keys, CLIENT, ISSUER, NOW, 5).unwrap();
        assert_eq!(verified, Verified { jti: "j-1".into(), exp: NOW + 60 }, "{alg:?}");
    }
}

#[test]
fn each_rule_refuses_with_its_reason() {
    let (signer, keys) = client_key(signing::Algorithm::Es256);
    #[rustfmt::skip]
    let cases: Vec<(Value, Refused)> = vec![
        (with(&[("iss", json!("other"))]), Refused::Subject),
        (with(&[("sub", json!("other"))]), Refused::Subject),
        (with(&[("sub", Value::Null)]), Refused::Subject),
        (with(&[("aud", json!([ISSUER]))]), Refused::Audience),
        (with(&[("aud", json!(format!("{ISSUER}/oauth2/token")))]), Refused::Audience),
        (with(&[("aud", Value::Null)]), Refused::Audience),
        (with(&[("iat", json!(NOW - 120)), ("exp", json!(NOW - 60))]), Refused::Expired),
        (with(&[("exp", json!(NOW + 301))]), Refused::Lifetime),
        (with(&[("iat", Value::Null)]), Refused::Lifetime),
        (with(&[("exp", Value::Null)]), Refused::Lifetime),
        (with(&[("iat", json!(NOW + 60)), ("exp", json!(NOW + 120))]), Refused::IssuedInFuture),
        (with(&[("nbf", json!(NOW + 60))]), Refused::IssuedInFuture),
        (with(&[("jti", Value::Null)]), Refused::Jti),
        (with(&[("jti", json!("x".repeat(257)))]), Refused::Jti),
    ];
    for (claims, refused) in cases {
        let assertion = signer.sign_jwt("JWT", &claims).unwrap();
        assert_eq!(verify(&assertion, &keys, CLIENT, ISSUER, NOW, 5), Err(refused.clone()), "{claims}");
    }
    // Within the leeway, a just-expired assertion still counts.
    let late = signer.sign_jwt("JWT", &claims()).unwrap();
    assert!(verify(&late, &keys, CLIENT, ISSUER, NOW + 64, 5).is_ok());
    assert_eq!(verify(&late, &keys, CLIENT, ISSUER, NOW + 65, 5), Err(Refused::Expired));
}

#[test]
fn only_the_registered_key_of_the_right_type_verifies() {
    let (signer, keys) = client_key(signing::Algorithm::Es256);
    let (other_signer, other_keys) = client_key(signing::Algorithm::Es256);
    let by_other = other_signer.sign_jwt("JWT", &claims()).unwrap();
    assert_eq!(verify(&by_other, &keys, CLIENT, ISSUER, NOW, 5), Err(Refused::UnknownKey), "another kid");
    // The other key's signature under this key's kid.
    let forged = {
        let mut parts: Vec<String> = by_other.split('.').map(str::to_owned).collect();
        let header = json!({ "alg": "ES256", "typ": "JWT", "kid": signer.kid() });
        parts[0] = URL_SAFE_NO_PAD.encode(header.to_string());
        parts.join(".")
    };
    assert_eq!(verify(&forged, &keys, CLIENT, ISSUER, NOW, 5), Err(Refused::Signature));
    assert!(verify(&by_other, &other_keys, CLIENT, ISSUER, NOW, 5).is_ok());

    let unsigned = format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT"}"#),
        URL_SAFE_NO_PAD.encode(claims().to_string())
    );
    assert!(matches!(
        verify(&unsigned, &keys, CLIENT, ISSUER, NOW, 5),
        Err(Refused::Malformed | Refused::Algorithm)
    ));
    let hmac = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(Algorithm::HS256),
        &claims(),
        &jsonwebtoken::EncodingKey::from_secret(b"a shared secret").unwrap(),
    )
    .unwrap();
    assert_eq!(verify(&hmac, &keys, CLIENT, ISSUER, NOW, 5), Err(Refused::Algorithm));
    // An RSA key's assertion checked against a set holding only an EC key with the same kid.
    let (rsa_signer, _) = client_key(signing::Algorithm::Rs256);
    let mut mismatched: Value = serde_json::to_value(&keys).unwrap();
    mismatched["keys"][0]["kid"] = rsa_signer.kid().into();
    let mismatched: JwkSet = serde_json::from_value(mismatched).unwrap();
    let by_rsa = rsa_signer.sign_jwt("JWT", &claims()).unwrap();
    assert_eq!(verify(&by_rsa, &mismatched, CLIENT, ISSUER, NOW, 5), Err(Refused::UnknownKey));
    assert_eq!(verify("not a jwt", &keys, CLIENT, ISSUER, NOW, 5), Err(Refused::Malformed));
}
