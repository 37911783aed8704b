//! Each check of [`check_proof`], one fault at a time, on ES256 proofs signed here.

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
use serde_json::{Value, json};

use super::*;

const NOW: u64 = 1_800_000_000;
const URL: &str = "https://api.example.com/invoices";
const TOKEN: &str = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ1c2VyIn0.c2ln";

struct Signer {
    pair: EcdsaKeyPair,
}

impl Signer {
    fn new() -> Self {
        let pkcs8 =
            EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &SystemRandom::new()).unwrap();
        Self { pair: EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref()).unwrap() }
    }

    fn jwk(&self) -> Value {
        let point = self.pair.public_key().as_ref();
        json!({
            "kty": "EC", "crv": "P-256",
            "x": URL_SAFE_NO_PAD.encode(&point[1..33]), "y": URL_SAFE_NO_PAD.encode(&point[33..65]),
        })
    }

    fn header(&self) -> Value {
        json!({"typ": "dpop+jwt", "alg": "ES256", "jwk": self.jwk()})
    }

    fn sign(&self, header: &Value, claims: &Value) -> String {
        self.sign_raw(&header.to_string(), &claims.to_string())
    }

    fn sign_raw(&self, header: &str, claims: &str) -> String {
        let input = format!("{}.{}", URL_SAFE_NO_PAD.encode(header), URL_SAFE_NO_PAD.encode(claims));
        let signature = self.pair.sign(&SystemRandom::new(), input.as_bytes()).unwrap();
        format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature.as_ref()))
    }
}

fn claims() -> Value {
    json!({"jti": "j-1", "htm": "GET", "htu": URL, "iat": NOW, "ath": access_token_hash(TOKEN)})
}

fn request() -> ProofRequest<'static> {
    ProofRequest { method: "GET", url: URL, access_token: Some(TOKEN) }
}

fn check(proof: &str) -> Result<Proof, ProofError> {
    check_proof(proof, &request(), &ProofPolicy::default(), NOW)
}

fn with(mut value: Value, name: &str, member: Value) -> Value {
    value[name] = member;
    value
}

fn without(mut value: Value, name: &str) -> Value {
    value.as_object_mut().unwrap().remove(name);
    value
}

#[test]
fn a_good_proof_yields_its_key_thumbprint_jti_iat_and_nonce() {
    let signer = Signer::new();
    let proof = check(&signer.sign(&signer.header(), &with(claims(), "nonce", json!("n-1")))).unwrap();
    assert_eq!(proof.jkt, jwk_thumbprint(&signer.jwk().to_string()).unwrap());
    assert_eq!((proof.jti.as_str(), proof.iat, proof.nonce.as_deref()), ("j-1", NOW, Some("n-1")));
    assert_eq!(proof.algorithm, Algorithm::Es256);
    // At the token endpoint: no token, no ath; an equivalent URL spelling matches.
    let token_endpoint =
        ProofRequest { method: "POST", url: "https://AUTH.example.com:443/token", access_token: None };
    let claims =
        json!({"jti": "j-2", "htm": "POST", "htu": "https://auth.example.com/token?x=1", "iat": NOW});
    let proof =
        check_proof(&signer.sign(&signer.header(), &claims), &token_endpoint, &ProofPolicy::default(), NOW);
    assert_eq!(proof.map(|p| p.nonce), Ok(None));
}

#[test]
fn each_header_fault_has_its_own_error() {
    let signer = Signer::new();
    let mut private = signer.jwk();
    private["d"] = json!("AAAA");
    let mut rsa_for_ec = signer.jwk();
    rsa_for_ec["kty"] = json!("RSA");
    for (header, error) in [
        (with(signer.header(), "typ", json!("JWT")), ProofError::WrongType),
        (with(signer.header(), "typ", json!("text/dpop+jwt")), ProofError::WrongType),
        (without(signer.header(), "typ"), ProofError::WrongType),
        (with(signer.header(), "alg", json!("none")), ProofError::UnsupportedAlgorithm),
        (with(signer.header(), "alg", json!("HS256")), ProofError::UnsupportedAlgorithm),
        (with(signer.header(), "alg", json!("es256")), ProofError::UnsupportedAlgorithm),
        (with(signer.header(), "alg", json!("RS512")), ProofError::UnsupportedAlgorithm),
        (with(signer.header(), "crit", json!(["exp"])), ProofError::CriticalHeader),
        (without(signer.header(), "jwk"), ProofError::MissingKey),
        (with(signer.header(), "jwk", private), ProofError::PrivateKey),
        (with(signer.header(), "jwk", rsa_for_ec), ProofError::InvalidKey),
        (with(signer.header(), "jwk", json!("key")), ProofError::InvalidKey),
        (with(signer.header(), "alg", json!("ES384")), ProofError::InvalidKey),
        (with(signer.header(), "jwk", Signer::new().jwk()), ProofError::BadSignature),
    ] {
        assert_eq!(check(&signer.sign(&header, &claims())), Err(error), "{header}");
    }
    // `typ` is a media type (RFC 7515 §4.1.9): any case, with or without `application/`.
    for typ in ["DPoP+JWT", "application/dpop+jwt"] {
        assert!(check(&signer.sign(&with(signer.header(), "typ", json!(typ)), &claims())).is_ok(), "{typ}");
    }
}

#[test]
fn each_claim_fault_has_its_own_error() {
    let signer = Signer::new();
    let other_hash = access_token_hash("another token");
    for (claims, error) in [
        (without(claims(), "jti"), ProofError::MissingClaim("jti")),
        (with(claims(), "jti", json!("")), ProofError::InvalidClaim("jti")),
        (with(claims(), "jti", json!(7)), ProofError::InvalidClaim("jti")),
        (with(claims(), "jti", json!("j".repeat(257))), ProofError::InvalidClaim("jti")),
        (without(claims(), "htm"), ProofError::MissingClaim("htm")),
        (with(claims(), "htm", json!("POST")), ProofError::MethodMismatch),
        (with(claims(), "htm", json!("get")), ProofError::MethodMismatch),
        (with(claims(), "htm", json!(["GET"])), ProofError::InvalidClaim("htm")),
        (without(claims(), "htu"), ProofError::MissingClaim("htu")),
        (with(claims(), "htu", json!("https://api.example.com/admin")), ProofError::UrlMismatch),
        (with(claims(), "htu", json!("https://evil.example.com/invoices")), ProofError::UrlMismatch),
        (with(claims(), "htu", json!("http://api.example.com/invoices")), ProofError::UrlMismatch),
        (with(claims(), "htu", json!("/invoices")), ProofError::InvalidClaim("htu")),
        (without(claims(), "iat"), ProofError::MissingClaim("iat")),
        (with(claims(), "iat", json!(NOW.to_string())), ProofError::InvalidClaim("iat")),
        (with(claims(), "iat", json!(-1)), ProofError::InvalidClaim("iat")),
        (with(claims(), "iat", json!(1.5)), ProofError::InvalidClaim("iat")),
        (with(claims(), "iat", json!(NOW + 6)), ProofError::IssuedInFuture),
        (with(claims(), "iat", json!(NOW - 61)), ProofError::TooOld),
        (without(claims(), "ath"), ProofError::MissingTokenHash),
        (with(claims(), "ath", json!(other_hash)), ProofError::TokenHashMismatch),
        (with(claims(), "ath", json!(7)), ProofError::InvalidClaim("ath")),
        (with(claims(), "nonce", json!("")), ProofError::InvalidClaim("nonce")),
        (with(claims(), "nonce", json!(1)), ProofError::InvalidClaim("nonce")),
        (with(claims(), "nonce", json!("n".repeat(513))), ProofError::InvalidClaim("nonce")),
    ] {
        assert_eq!(check(&signer.sign(&signer.header(), &claims)), Err(error), "{claims}");
    }
    // The edges of the window and of the bounds are inside.
    for claims in [
        with(claims(), "iat", json!(NOW + 5)),
        with(claims(), "iat", json!(NOW - 60)),
        with(claims(), "jti", json!("é".repeat(256))),
        with(claims(), "nonce", json!("n".repeat(512))),
    ] {
        assert!(check(&signer.sign(&signer.header(), &claims)).is_ok(), "{claims}");
    }
    // At the token endpoint, any ath is unexpected.
    let request = ProofRequest { access_token: None, ..request() };
    let proof = signer.sign(&signer.header(), &claims());
    assert_eq!(
        check_proof(&proof, &request, &ProofPolicy::default(), NOW),
        Err(ProofError::UnexpectedTokenHash)
    );
}

#[test]
fn malformed_and_oversized_proofs_are_refused_before_any_key_work() {
    let signer = Signer::new();
    let good = signer.sign(&signer.header(), &claims());
    let (input, signature) = good.rsplit_once('.').unwrap();
    for proof in [
        String::new(),
        "a.b".to_owned(),
        format!("{good}.x"),
        format!("{input}.{signature}="),
        format!("{input}.{}", signature.replace(['-', '_'], "+")),
        format!("{}.e30.{signature}", URL_SAFE_NO_PAD.encode(r#"{"typ":"dpop+jwt","typ":"dpop+jwt"}"#)),
        format!("{}.e30.{signature}", URL_SAFE_NO_PAD.encode("[]")),
    ] {
        assert_eq!(check(&proof), Err(ProofError::Malformed), "{proof}");
    }
    let repeated = signer.sign_raw(&signer.header().to_string(), r#"{"jti":"a","jti":"b"}"#);
    assert_eq!(check(&repeated), Err(ProofError::Malformed));
    let policy = ProofPolicy { max_bytes: good.len() - 1, ..ProofPolicy::default() };
    assert_eq!(check_proof(&good, &request(), &policy, NOW), Err(ProofError::TooLarge));
}

#[test]
fn the_policy_window_and_challenge_names() {
    let policy = ProofPolicy::default();
    assert_eq!(policy.window(), Duration::from_secs(65));
    assert_eq!(policy.algorithm_names(), "ES256 ES384 EdDSA RS256 PS256");
    assert_eq!(policy.max_bytes, 8192);
}
