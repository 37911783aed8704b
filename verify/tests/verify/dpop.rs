//! DPoP (RFC 9449) at a resource server: every attack through `Verifier::verify_request`, each
//! with its own error, and the same requests through the actix extractor, each with the
//! challenge RFC 9449 §7.1 gives its class; good proofs of ES256, EdDSA and RS256 keys; bearer
//! tokens unchanged; the public origin, never the `Host` header, as what `htu` must name.

use actix_web::http::Method;
use actix_web::{App, HttpResponse, test, web};
use jwtd_verify::dpop::{ProofError, ReplayCache, access_token_hash};
use jwtd_verify::{AccessClaims, Authenticated, BearerError, Error, Verified, Verifier};
use serde_json::{Value, json};

use crate::helpers::*;

const BAD_PROOF: &str = r#"DPoP error="invalid_dpop_proof", algs="ES256 ES384 EdDSA RS256 PS256""#;
const BAD_TOKEN: &str = r#"DPoP error="invalid_token", algs="ES256 ES384 EdDSA RS256 PS256""#;

/// A request as a client sends it.
#[derive(Clone)]
struct Request {
    authorization: String,
    proofs: Vec<String>,
    method: &'static str,
    path: &'static str,
}

impl Request {
    fn dpop(token: &str, proofs: Vec<String>) -> Self {
        Self { authorization: format!("DPoP {token}"), proofs, method: "GET", path: PATH }
    }

    fn bearer(token: &str) -> Self {
        Self { authorization: format!("Bearer {token}"), proofs: Vec::new(), method: "GET", path: PATH }
    }
}

async fn verify(verifier: &Verifier, request: &Request) -> Result<Verified<AccessClaims>, Error> {
    let proof = request.proofs.first().map(String::as_str);
    verifier.verify_request(&request.authorization, proof, request.method, request.path).await
}

async fn invoices(auth: Authenticated) -> Result<HttpResponse, BearerError> {
    auth.require_scope("invoices:read")?;
    Ok(HttpResponse::Ok().body(format!("{} dpop={}", auth.sub, auth.is_dpop())))
}

async fn admin(auth: Authenticated) -> Result<HttpResponse, BearerError> {
    auth.require_scope("invoices:write")?;
    Ok(HttpResponse::Ok().finish())
}

/// `(status, WWW-Authenticate, body)` of `request` through the extractor. The test request's
/// `Host` is `localhost:8080`, not the public origin: only the origin may count.
async fn extract(verifier: &Verifier, request: &Request) -> (u16, Option<String>, String) {
    let app = test::init_service(
        App::new()
            .app_data(web::Data::new(verifier.clone()))
            .route(PATH, web::route().to(invoices))
            .route("/admin", web::route().to(admin)),
    )
    .await;
    let mut call = test::TestRequest::default()
        .method(Method::from_bytes(request.method.as_bytes()).unwrap())
        .uri(request.path);
    if !request.authorization.is_empty() {
        call = call.insert_header(("Authorization", request.authorization.clone()));
    }
    for proof in &request.proofs {
        call = call.append_header(("DPoP", proof.clone()));
    }
    let response = test::call_service(&app, call.to_request()).await;
    let status = response.status().as_u16();
    let challenge = response.headers().get("www-authenticate").map(|v| v.to_str().unwrap().to_owned());
    let body = String::from_utf8(test::read_body(response).await.to_vec()).unwrap();
    (status, challenge, body)
}

/// One attack: the request, the error `verify_request` must give (`None` where it cannot be
/// expressed there: two headers), and the extractor's challenge.
struct Attack {
    what: &'static str,
    request: Request,
    error: Option<Error>,
    challenge: &'static str,
    /// Sent once and accepted before the attack (a replay).
    accepted_before: bool,
}

fn attacks() -> Vec<Attack> {
    let client = ProofKey::es256();
    let stranger = ProofKey::es256();
    let token = key().token(&bound_claims(&client.jkt()));
    let good = || proof_claims("GET", PATH, &token);
    let signed = |claims: Value| client.sign(&client.header(), &claims);
    let mut with_d = client.header();
    with_d["jwk"]["d"] = json!(b64(&[7; 32]));
    let mut typ_jwt = client.header();
    typ_jwt["typ"] = json!("JWT");
    let mut alg_none = client.header();
    alg_none["alg"] = json!("none");
    let none = client.sign(&alg_none, &good());
    let none = format!("{}.", none.rsplit_once('.').unwrap().0);
    let mut alg_hs256 = client.header();
    alg_hs256["alg"] = json!("HS256");
    let x = client.jwk()["x"].as_str().unwrap().to_owned();
    let stranger_token = key().token(&bound_claims(&stranger.jkt()));
    let unbound_token = key().token(&claims());
    let expired_token = key().token(&with(bound_claims(&client.jkt()), "exp", json!(NOW - 3600)));

    let proof = |e: ProofError| Some(Error::Dpop(e));
    let attack = |what, proofs: Vec<String>, error, challenge| Attack {
        what,
        request: Request::dpop(&token, proofs),
        error,
        challenge,
        accepted_before: false,
    };
    let replayed = client.proof("GET", PATH, &token);
    vec![
        attack(
            "a proof for another method",
            vec![signed(with(good(), "htm", json!("POST")))],
            proof(ProofError::MethodMismatch),
            BAD_PROOF,
        ),
        attack(
            "a proof for another path",
            vec![signed(with(good(), "htu", json!(format!("{ORIGIN}/admin"))))],
            proof(ProofError::UrlMismatch),
            BAD_PROOF,
        ),
        attack(
            "a proof for another origin",
            vec![signed(with(good(), "htu", json!(format!("https://evil.example.com{PATH}"))))],
            proof(ProofError::UrlMismatch),
            BAD_PROOF,
        ),
        attack(
            "a proof for another token (ath)",
            vec![signed(with(good(), "ath", json!(access_token_hash(&unbound_token))))],
            proof(ProofError::TokenHashMismatch),
            BAD_PROOF,
        ),
        attack(
            "a proof without ath",
            vec![signed(without(good(), "ath"))],
            proof(ProofError::MissingTokenHash),
            BAD_PROOF,
        ),
        Attack {
            accepted_before: true,
            ..attack("a reused jti", vec![replayed], proof(ProofError::Replayed), BAD_PROOF)
        },
        attack(
            "iat an hour ago",
            vec![signed(with(good(), "iat", json!(NOW - 3600)))],
            proof(ProofError::TooOld),
            BAD_PROOF,
        ),
        attack(
            "iat in an hour",
            vec![signed(with(good(), "iat", json!(NOW + 3600)))],
            proof(ProofError::IssuedInFuture),
            BAD_PROOF,
        ),
        attack("alg none", vec![none], proof(ProofError::UnsupportedAlgorithm), BAD_PROOF),
        attack(
            "alg HS256 keyed with the jwk's x",
            vec![hs256(x.as_bytes(), &alg_hs256, &good())],
            proof(ProofError::UnsupportedAlgorithm),
            BAD_PROOF,
        ),
        attack(
            "a private key (d) in the header's jwk",
            vec![client.sign(&with_d, &good())],
            proof(ProofError::PrivateKey),
            BAD_PROOF,
        ),
        attack(
            "signed by another key than the header's",
            vec![stranger.sign(&client.header(), &good())],
            proof(ProofError::BadSignature),
            BAD_PROOF,
        ),
        attack("typ JWT", vec![client.sign(&typ_jwt, &good())], proof(ProofError::WrongType), BAD_PROOF),
        attack("the DPoP scheme without a proof", vec![], Some(Error::DpopProofMissing), BAD_PROOF),
        attack(
            "two DPoP headers",
            vec![client.proof("GET", PATH, &token), client.proof("GET", PATH, &token)],
            None,
            BAD_PROOF,
        ),
        Attack {
            request: Request::dpop(&stranger_token, vec![client.proof("GET", PATH, &stranger_token)]),
            ..attack("a token bound to another key", vec![], proof(ProofError::KeyMismatch), BAD_PROOF)
        },
        Attack {
            request: Request { proofs: vec![client.proof("GET", PATH, &token)], ..Request::bearer(&token) },
            ..attack(
                "a bound token sent as Bearer, even with its proof",
                vec![],
                Some(Error::DpopBoundTokenAsBearer),
                BAD_TOKEN,
            )
        },
        Attack {
            request: Request::dpop(&unbound_token, vec![client.proof("GET", PATH, &unbound_token)]),
            ..attack("an unbound token with the DPoP scheme", vec![], Some(Error::NotDpopBound), BAD_TOKEN)
        },
        Attack {
            request: Request::dpop(&expired_token, vec![client.proof("GET", PATH, &expired_token)]),
            ..attack("an expired bound token with a good proof", vec![], Some(Error::Expired), BAD_TOKEN)
        },
    ]
}

#[tokio::test]
async fn every_attack_through_verify_request_gets_its_own_error() {
    for attack in attacks() {
        let Some(expected) = attack.error.clone() else { continue };
        let verifier = dpop_verifier(&clock());
        if attack.accepted_before {
            assert!(verify(&verifier, &attack.request).await.is_ok(), "{}: first use", attack.what);
        }
        let error = verify(&verifier, &attack.request).await.unwrap_err();
        assert_eq!(error, expected, "{}", attack.what);
        assert!(error.is_token_error(), "{}", attack.what);
        let message = error.to_string();
        assert!(!attack.request.authorization.contains(&message) && !message.contains("eyJ"), "{message}");
    }
}

#[actix_web::test]
async fn every_attack_through_the_extractor_gets_its_rfc_9449_challenge_and_no_detail() {
    for attack in attacks() {
        let verifier = dpop_verifier(&clock());
        if attack.accepted_before {
            let (status, _, body) = extract(&verifier, &attack.request).await;
            assert_eq!((status, body.as_str()), (200, "user-42 dpop=true"), "{}: first use", attack.what);
        }
        let (status, challenge, body) = extract(&verifier, &attack.request).await;
        assert_eq!(status, 401, "{}", attack.what);
        assert_eq!(challenge.as_deref(), Some(attack.challenge), "{}", attack.what);
        let body: Value = serde_json::from_str(&body).unwrap();
        let expected = if attack.challenge == BAD_PROOF { "invalid_dpop_proof" } else { "invalid_token" };
        assert_eq!(body["error"], expected, "{}", attack.what);
        assert_eq!(
            body.as_object().unwrap().len(),
            2,
            "{}: only error and its fixed description",
            attack.what
        );
    }
}

#[actix_web::test]
async fn good_proofs_of_es256_eddsa_and_rs256_keys_are_accepted_both_ways() {
    for client in [ProofKey::es256(), ProofKey::ed25519(), ProofKey::rs256()] {
        let verifier = dpop_verifier(&clock());
        let token = key().token(&bound_claims(&client.jkt()));
        let request = Request::dpop(&token, vec![client.proof("GET", PATH, &token)]);
        let verified = verify(&verifier, &request).await.unwrap();
        assert!(verified.claims.is_dpop_bound(), "{}", client.alg());
        assert_eq!(verified.claims.cnf.unwrap().jkt.unwrap(), client.jkt());
        assert!(verified.scope.contains("invoices:read"));

        let request = Request::dpop(&token, vec![client.proof("POST", PATH, &token)]);
        let (status, challenge, body) = extract(&verifier, &Request { method: "POST", ..request }).await;
        assert_eq!((status, challenge, body.as_str()), (200, None, "user-42 dpop=true"), "{}", client.alg());
    }
}

#[actix_web::test]
async fn the_proof_names_the_public_url_in_any_equivalent_spelling_and_the_query_is_ignored() {
    let client = ProofKey::ed25519();
    let token = key().token(&bound_claims(&client.jkt()));
    let htu = json!("HTTPS://API.example.com:443/invoices?page=2#top");
    let proof = client.sign(&client.header(), &with(proof_claims("GET", PATH, &token), "htu", htu));
    let verifier = dpop_verifier(&clock());
    let request = Request { path: "/invoices?page=3", ..Request::dpop(&token, vec![proof]) };
    assert!(verify(&verifier, &request).await.is_ok());
    // A verifier configured with a trailing slash on its origin sees the same URL.
    let verifier = verifier_builder(&[key()], &clock()).public_origin("https://api.example.com/").build();
    let proof = client.proof("GET", PATH, &token);
    assert!(verify(&verifier, &Request::dpop(&token, vec![proof.clone()])).await.is_ok());
    let (status, _, _) =
        extract(&verifier, &Request { path: "/invoices?x=1", ..Request::dpop(&token, vec![proof]) }).await;
    assert_eq!(status, 401, "the same proof again is a replay, through either path");
}

#[actix_web::test]
async fn bearer_tokens_work_as_before_and_a_request_without_credentials_is_offered_both_schemes() {
    let verifier = dpop_verifier(&clock());
    let unbound = key().token(&claims());
    let verified = verify(&verifier, &Request::bearer(&unbound)).await.unwrap();
    assert!(!verified.claims.is_dpop_bound());
    let (status, _, body) = extract(&verifier, &Request::bearer(&unbound)).await;
    assert_eq!((status, body.as_str()), (200, "user-42 dpop=false"));

    let nothing = Request { authorization: String::new(), ..Request::bearer("") };
    let (status, challenge, _) = extract(&verifier, &nothing).await;
    assert_eq!(status, 401);
    assert_eq!(challenge.as_deref(), Some(r#"Bearer, DPoP algs="ES256 ES384 EdDSA RS256 PS256""#));
    let basic = Request { authorization: "Basic dXNlcjpwYXNz".into(), ..nothing };
    assert_eq!(extract(&verifier, &basic).await.1, challenge);
    assert_eq!(verify(&verifier, &basic).await.unwrap_err(), Error::UnsupportedScheme);

    let not_a_token = Request::dpop("not a token", vec![]);
    assert_eq!(extract(&verifier, &not_a_token).await.1.as_deref(), Some(BAD_TOKEN));
    assert_eq!(verify(&verifier, &not_a_token).await.unwrap_err(), Error::Malformed);
    let lower_case = Request { authorization: format!("bearer {unbound}"), ..Request::bearer("") };
    assert_eq!(extract(&verifier, &lower_case).await.0, 200, "scheme names are case-insensitive");
}

#[actix_web::test]
async fn a_dpop_request_lacking_scope_gets_a_403_in_the_dpop_scheme() {
    let client = ProofKey::es256();
    let token = key().token(&bound_claims(&client.jkt()));
    let request = Request { path: "/admin", ..Request::dpop(&token, vec![]) };
    let proof = client.sign(&client.header(), &proof_claims("GET", "/admin", &token));
    let (status, challenge, _) =
        extract(&dpop_verifier(&clock()), &Request { proofs: vec![proof], ..request }).await;
    assert_eq!(status, 403);
    assert_eq!(
        challenge.as_deref(),
        Some(
            r#"DPoP error="insufficient_scope", scope="invoices:write", algs="ES256 ES384 EdDSA RS256 PS256""#
        )
    );
}

#[actix_web::test]
async fn dpop_without_a_valid_public_origin_is_answered_as_by_a_server_without_dpop() {
    let client = ProofKey::es256();
    let token = key().token(&bound_claims(&client.jkt()));
    let request = Request::dpop(&token, vec![client.proof("GET", PATH, &token)]);
    let unset = verifier_builder(&[key()], &clock()).build();
    let with_path = verifier_builder(&[key()], &clock()).public_origin("https://api.example.com/v1").build();
    let not_a_url = verifier_builder(&[key()], &clock()).public_origin("api.example.com").build();
    for verifier in [unset, with_path, not_a_url] {
        let error = verify(&verifier, &request).await.unwrap_err();
        assert_eq!(error, Error::DpopNotConfigured);
        assert!(!error.is_token_error());
        let (status, challenge, _) = extract(&verifier, &request).await;
        assert_eq!(status, 401, "never a 500");
        assert_eq!(challenge.as_deref(), Some(r#"Bearer error="invalid_token""#));
    }
    // Without DPoP, a request without credentials is offered Bearer alone, as before.
    let nothing = Request { authorization: String::new(), ..Request::bearer("") };
    let verifier = verifier_builder(&[key()], &clock()).build();
    assert_eq!(extract(&verifier, &nothing).await.1.as_deref(), Some("Bearer"));
}

#[tokio::test]
async fn the_replay_cache_is_per_verifier_unless_shared() {
    let client = ProofKey::es256();
    let token = key().token(&bound_claims(&client.jkt()));
    let request = Request::dpop(&token, vec![client.proof("GET", PATH, &token)]);
    let (one, two) = (dpop_verifier(&clock()), dpop_verifier(&clock()));
    assert!(verify(&one, &request).await.is_ok());
    assert!(verify(&two, &request).await.is_ok(), "replicas do not share a cache");

    let shared = ReplayCache::new(10, std::time::Duration::from_secs(65));
    let build = || {
        verifier_builder(&[key()], &clock()).public_origin(ORIGIN).dpop_replay_cache(shared.clone()).build()
    };
    assert!(verify(&build(), &request).await.is_ok());
    assert_eq!(verify(&build(), &request).await.unwrap_err(), Error::Dpop(ProofError::Replayed));
    assert_eq!(shared.len(), 1);
}

#[tokio::test]
async fn a_refused_request_does_not_use_up_its_proof() {
    let client = ProofKey::es256();
    let clock = clock();
    let verifier = dpop_verifier(&clock);
    // Valid from NOW + 1 with the 60 s leeway.
    let token = key().token(&with(bound_claims(&client.jkt()), "nbf", json!(NOW + 61)));
    let request = Request::dpop(&token, vec![client.proof("GET", PATH, &token)]);
    let proof = request.proofs.first().map(String::as_str);
    assert_eq!(verify(&verifier, &request).await.unwrap_err(), Error::NotYetValid);
    let generic = verifier.verify_request_as::<Value>(&request.authorization, proof, "GET", PATH).await;
    assert_eq!(generic.unwrap_err(), Error::NotYetValid);
    clock.advance(1);
    let generic = verifier.verify_request_as::<Value>(&request.authorization, proof, "GET", PATH).await;
    assert_eq!(generic.unwrap().claims["cnf"]["jkt"], client.jkt());
    assert_eq!(verify(&verifier, &request).await.unwrap_err(), Error::Dpop(ProofError::Replayed));
}
