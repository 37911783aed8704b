//! Every known way to forge or bend a token, each answered with its own error, never a panic,
//! never a success; and the same tokens through the actix extractor, each a plain 401.

use actix_web::{App, HttpResponse, test, web};
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair, RSA_PSS_SHA256};
use jwtd_verify::{Algorithm, Authenticated, Error, JwksCache, KeySet};
use serde_json::{Value, json};

use crate::helpers::*;

fn with_header(name: &str, value: Value) -> Value {
    let mut h = header(&key().kid);
    h[name] = value;
    h
}

/// `(what, token, the error it must get)` for every attack on a verifier that trusts only
/// [`key()`] with RS256.
fn attack_table() -> Vec<(&'static str, String, Error)> {
    let k = key();
    let good = k.token(&claims());
    let [h, p, s]: [&str; 3] = good.split('.').collect::<Vec<_>>().try_into().unwrap();
    let admins = k.token(&with(claims(), "sub", json!("admin")));
    let [_, other_p, _]: [&str; 3] = admins.split('.').collect::<Vec<_>>().try_into().unwrap();
    let none = |alg: &str| {
        format!("{}.{}.", b64(json!({"alg": alg, "typ": "at+jwt", "kid": k.kid}).to_string().as_bytes()), p)
    };

    let ec = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING).unwrap();
    let es_input = format!("{}.{p}", b64(with_header("alg", json!("ES256")).to_string().as_bytes()));
    let es_sig = ec.sign(&SystemRandom::new(), es_input.as_bytes()).unwrap();
    let ps_input = format!("{}.{p}", b64(with_header("alg", json!("PS256")).to_string().as_bytes()));
    let ps_sig = k.rsa_signature(&RSA_PSS_SHA256, ps_input.as_bytes());

    let jwk_n = k.modulus();
    let der_public = k.pair.public_key().as_ref().to_vec();
    let jwks_text = jwks(&[k]);
    let deep = format!("{}1{}", "[".repeat(1000), "]".repeat(1000));

    vec![
        ("alg none", none("none"), Error::AlgorithmNotAllowed),
        ("alg NoNe", none("NoNe"), Error::AlgorithmNotAllowed),
        (
            "alg none with a signature",
            format!("{}.{s}", none("none").trim_end_matches('.')),
            Error::AlgorithmNotAllowed,
        ),
        (
            "HS256 keyed with the JWK's n",
            hs256(&jwk_n, &with_header("alg", json!("HS256")), &claims()),
            Error::AlgorithmNotAllowed,
        ),
        (
            "HS256 keyed with the DER public key",
            hs256(&der_public, &with_header("alg", json!("HS256")), &claims()),
            Error::AlgorithmNotAllowed,
        ),
        (
            "HS256 keyed with the JWKS text",
            hs256(jwks_text.as_bytes(), &with_header("alg", json!("HS256")), &claims()),
            Error::AlgorithmNotAllowed,
        ),
        ("HMAC tag under an RS256 header", hs256(&jwk_n, &header(&k.kid), &claims()), Error::BadSignature),
        (
            "ES256 when only RS256 is allowed",
            format!("{es_input}.{}", b64(es_sig.as_ref())),
            Error::AlgorithmNotAllowed,
        ),
        (
            "PS256 when only RS256 is allowed",
            format!("{ps_input}.{}", b64(&ps_sig)),
            Error::AlgorithmNotAllowed,
        ),
        (
            "alg in lower case",
            k.sign(&with_header("alg", json!("rs256")), &claims()),
            Error::AlgorithmNotAllowed,
        ),
        (
            "alg missing",
            k.sign(&json!({"typ": "at+jwt", "kid": k.kid}), &claims()),
            Error::AlgorithmNotAllowed,
        ),
        ("typ JWT (an ID token)", k.sign(&with_header("typ", json!("JWT")), &claims()), Error::WrongType),
        ("typ missing", k.sign(&json!({"alg": "RS256", "kid": k.kid}), &claims()), Error::WrongType),
        ("typ not a string", k.sign(&with_header("typ", json!(["at+jwt"])), &claims()), Error::WrongType),
        ("kid unknown", k.sign(&header("no-such-key"), &claims()), Error::UnknownKey),
        ("kid path-like", k.sign(&header("../../etc/passwd"), &claims()), Error::UnknownKey),
        ("kid empty", k.sign(&header(""), &claims()), Error::InvalidKeyId),
        ("kid a number", k.sign(&with_header("kid", json!(1)), &claims()), Error::InvalidKeyId),
        ("kid 10 KiB", k.sign(&header(&"k".repeat(10 * 1024)), &claims()), Error::TokenTooLarge),
        ("crit", k.sign(&with_header("crit", json!(["exp"])), &claims()), Error::CriticalHeader),
        ("crit empty", k.sign(&with_header("crit", json!([])), &claims()), Error::CriticalHeader),
        (
            "tampered payload",
            format!("{h}.{}.{s}", b64(with(claims(), "sub", json!("admin")).to_string().as_bytes())),
            Error::BadSignature,
        ),
        ("payload swapped from another token", format!("{h}.{other_p}.{s}"), Error::BadSignature),
        ("signature of another key", other_key().sign(&header(&k.kid), &claims()), Error::BadSignature),
        ("empty signature", format!("{h}.{p}."), Error::BadSignature),
        ("2 segments", format!("{h}.{p}"), Error::Malformed),
        ("4 segments", format!("{good}.{s}"), Error::Malformed),
        ("5 segments", format!("{good}.{h}.{p}"), Error::Malformed),
        ("JWE-like empty segments", format!("{h}...{s}"), Error::Malformed),
        ("padded header", format!("{h}=.{p}.{s}"), Error::Malformed),
        ("padded signature", format!("{h}.{p}.{s}=="), Error::Malformed),
        (
            "standard base64 alphabet",
            format!("{h}.{p}.{}", s.replace('-', "+").replace('_', "/") + "+/"),
            Error::Malformed,
        ),
        ("whitespace inside", format!("{h}.{p} .{s}"), Error::Malformed),
        ("oversized token", format!("{h}.{}.{s}", "A".repeat(9000)), Error::TokenTooLarge),
        (
            "non-UTF-8 header",
            k.sign_raw(
                b"{\"alg\":\"RS256\",\"typ\":\"at+jwt\",\"kid\":\"\xff\"}",
                claims().to_string().as_bytes(),
            ),
            Error::MalformedHeader,
        ),
        (
            "header not an object",
            k.sign_raw(b"[\"RS256\"]", claims().to_string().as_bytes()),
            Error::MalformedHeader,
        ),
        (
            "header deeply nested",
            k.sign_raw(
                format!("{{\"alg\":\"RS256\",\"x\":{deep}}}").as_bytes(),
                claims().to_string().as_bytes(),
            ),
            Error::MalformedHeader,
        ),
        (
            "duplicate header member",
            k.sign_raw(
                format!("{{\"alg\":\"RS256\",\"typ\":\"at+jwt\",\"kid\":\"{}\",\"alg\":\"none\"}}", k.kid)
                    .as_bytes(),
                claims().to_string().as_bytes(),
            ),
            Error::DuplicateMember,
        ),
        (
            "duplicate claim",
            k.sign_raw(
                header(&k.kid).to_string().as_bytes(),
                claims().to_string().replacen('{', "{\"sub\":\"admin\",", 1).as_bytes(),
            ),
            Error::DuplicateMember,
        ),
        (
            "claims deeply nested",
            k.sign_raw(header(&k.kid).to_string().as_bytes(), format!("{{\"x\":{deep}}}").as_bytes()),
            Error::MalformedClaims,
        ),
        (
            "claims not JSON",
            k.sign_raw(header(&k.kid).to_string().as_bytes(), b"sub=admin"),
            Error::MalformedClaims,
        ),
        (
            "exp a string",
            k.token(&with(claims(), "exp", json!((NOW + 900).to_string()))),
            Error::InvalidClaim("exp"),
        ),
        (
            "exp a float",
            k.token(&with(claims(), "exp", json!(NOW as f64 + 900.5))),
            Error::InvalidClaim("exp"),
        ),
        ("exp negative", k.token(&with(claims(), "exp", json!(-1))), Error::InvalidClaim("exp")),
        ("exp null", k.token(&with(claims(), "exp", Value::Null)), Error::InvalidClaim("exp")),
        ("exp huge", k.token(&with(claims(), "exp", json!(u64::MAX))), Error::InvalidClaim("exp")),
        ("exp missing", k.token(&without(claims(), "exp")), Error::MissingClaim("exp")),
        ("nbf a string", k.token(&with(claims(), "nbf", json!("0"))), Error::InvalidClaim("nbf")),
        ("iat null", k.token(&with(claims(), "iat", Value::Null)), Error::InvalidClaim("iat")),
        ("aud empty string", k.token(&with(claims(), "aud", json!(""))), Error::InvalidClaim("aud")),
        ("aud empty array", k.token(&with(claims(), "aud", json!([]))), Error::InvalidClaim("aud")),
        (
            "aud another service",
            k.token(&with(claims(), "aud", json!(["https://other.example.com"]))),
            Error::WrongAudience,
        ),
        (
            "aud with a non-string",
            k.token(&with(claims(), "aud", json!([AUDIENCE, 7]))),
            Error::InvalidClaim("aud"),
        ),
        (
            "iss with a trailing slash",
            k.token(&with(claims(), "iss", json!(format!("{ISSUER}/")))),
            Error::WrongIssuer,
        ),
        (
            "iss of another issuer, same key",
            k.token(&with(claims(), "iss", json!("https://evil.example.com"))),
            Error::WrongIssuer,
        ),
        ("iss missing", k.token(&without(claims(), "iss")), Error::MissingClaim("iss")),
        ("sub missing", k.token(&without(claims(), "sub")), Error::MissingClaim("sub")),
        (
            "client_id a number",
            k.token(&with(claims(), "client_id", json!(5))),
            Error::InvalidClaim("client_id"),
        ),
        (
            "scope an array",
            k.token(&with(claims(), "scope", json!(["invoices:read"]))),
            Error::InvalidClaim("scope"),
        ),
        ("expired", k.token(&with(claims(), "exp", json!(NOW - 61))), Error::Expired),
    ]
}

#[actix_web::test]
async fn every_attack_gets_its_own_error_and_no_message_repeats_the_token() {
    let verifier = verifier();
    assert!(verifier.verify(&key().token(&claims())).await.is_ok(), "the baseline token must verify");
    for (what, token, expected) in attack_table() {
        let error = verifier.verify(&token).await.expect_err(what);
        assert_eq!(error, expected, "{what}");
        let message = error.to_string();
        assert!(!message.contains(&key().kid) && !message.contains("user-42"), "{what}: {message}");
    }
}

#[actix_web::test]
async fn every_attack_through_the_extractor_is_a_plain_401() {
    let app = test::init_service(
        App::new()
            .app_data(web::Data::new(verifier()))
            .route("/", web::get().to(|_: Authenticated| async { HttpResponse::Ok().finish() })),
    )
    .await;
    for (what, token, _) in attack_table() {
        let request =
            test::TestRequest::get().uri("/").insert_header(("Authorization", format!("Bearer {token}")));
        let response = test::call_service(&app, request.to_request()).await;
        assert_eq!(response.status(), 401, "{what}");
        assert_eq!(
            response.headers().get("www-authenticate").unwrap(),
            r#"Bearer error="invalid_token""#,
            "{what}"
        );
        let body: Value = test::read_body_json(response).await;
        assert_eq!(body["error"], "invalid_token", "{what}");
    }
}

fn ps256_token(k: &TestKey) -> String {
    let p = b64(claims().to_string().as_bytes());
    let input = format!("{}.{p}", b64(with_header("alg", json!("PS256")).to_string().as_bytes()));
    format!("{input}.{}", b64(&k.rsa_signature(&RSA_PSS_SHA256, input.as_bytes())))
}

fn verifier_allowing_rs256_and_ps256(jwk: Value) -> jwtd_verify::Verifier {
    let both = [Algorithm::Rs256, Algorithm::Ps256];
    let set = KeySet::from_jwks(json!({ "keys": [jwk] }).to_string().as_bytes(), &both).unwrap();
    jwtd_verify::Verifier::builder(JwksCache::fixed(set, &both), ISSUER, AUDIENCE).clock(clock()).build()
}

#[actix_web::test]
async fn the_jwk_alg_decides_not_the_token_header() {
    let k = key();
    let pinned = verifier_allowing_rs256_and_ps256(k.jwk());
    assert_eq!(pinned.verify(&ps256_token(k)).await.unwrap_err(), Error::KeyAlgorithmMismatch);
    assert!(pinned.verify(&k.token(&claims())).await.is_ok());

    // Without `alg` in the JWK, both allowed algorithms are usable with an RSA key.
    let mut unpinned_jwk = k.jwk();
    unpinned_jwk.as_object_mut().unwrap().remove("alg");
    let unpinned = verifier_allowing_rs256_and_ps256(unpinned_jwk);
    assert!(unpinned.verify(&ps256_token(k)).await.is_ok());
    assert!(unpinned.verify(&k.token(&claims())).await.is_ok());
}

#[tokio::test]
async fn a_10_kib_kid_is_refused_by_its_own_limit_when_the_token_limit_is_raised() {
    let roomy = verifier_builder(&[key()], &clock()).max_token_bytes(64 * 1024).build();
    let token = key().sign(&header(&"k".repeat(10 * 1024)), &claims());
    assert_eq!(roomy.verify(&token).await.unwrap_err(), Error::InvalidKeyId);
}
