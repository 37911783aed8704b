//! The actix-web extractor and scope guard, and their exact RFC 6750 answers.

use actix_web::{App, HttpResponse, test, web};
use jwtd_verify::{Authenticated, BearerError};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::helpers::*;

async fn invoices(auth: Authenticated) -> Result<HttpResponse, BearerError> {
    auth.require_scope("invoices:read")?;
    Ok(HttpResponse::Ok().body(format!("invoices of {}", auth.sub)))
}

async fn admin(auth: Authenticated) -> Result<HttpResponse, BearerError> {
    auth.require_scope("invoices:write")?;
    Ok(HttpResponse::Ok().finish())
}

#[derive(Deserialize)]
struct AppClaims {
    roles: Vec<String>,
}

async fn roles(auth: Authenticated<AppClaims>) -> HttpResponse {
    HttpResponse::Ok().body(auth.claims().roles.join(","))
}

async fn call(uri: &str, authorization: Option<String>) -> (u16, Option<String>, Value, String) {
    let app = test::init_service(
        App::new()
            .app_data(web::Data::new(verifier()))
            .route("/invoices", web::get().to(invoices))
            .route("/admin", web::get().to(admin))
            .route("/roles", web::get().to(roles)),
    )
    .await;
    let mut request = test::TestRequest::get().uri(uri);
    if let Some(value) = authorization {
        request = request.insert_header(("Authorization", value));
    }
    let response = test::call_service(&app, request.to_request()).await;
    let status = response.status().as_u16();
    let challenge = response.headers().get("www-authenticate").map(|v| v.to_str().unwrap().to_owned());
    let body = test::read_body(response).await;
    let text = String::from_utf8(body.to_vec()).unwrap();
    let json = serde_json::from_str(&text).unwrap_or(Value::Null);
    (status, challenge, json, text)
}

fn bearer(token: &str) -> Option<String> {
    Some(format!("Bearer {token}"))
}

#[actix_web::test]
async fn no_token_is_401_with_a_bare_bearer_challenge() {
    let (status, challenge, body, _) = call("/invoices", None).await;
    assert_eq!(status, 401);
    assert_eq!(challenge.as_deref(), Some("Bearer"));
    assert_eq!(body["error"], "invalid_request");
    // Another scheme is no bearer token either.
    let (status, challenge, _, _) = call("/invoices", Some("Basic dXNlcjpwYXNz".into())).await;
    assert_eq!((status, challenge.as_deref()), (401, Some("Bearer")));
}

#[actix_web::test]
async fn a_token_in_the_query_string_is_refused_even_when_valid() {
    let token = key().token(&claims());
    let (status, challenge, body, _) = call(&format!("/invoices?access_token={token}"), None).await;
    assert_eq!(status, 401);
    assert_eq!(challenge.as_deref(), Some(r#"Bearer error="invalid_request""#));
    assert_eq!(body["error"], "invalid_request");
    let (status, _, _, _) = call(&format!("/invoices?x=1&access_token={token}"), bearer(&token)).await;
    assert_eq!(status, 401, "a query token is refused even next to a header token");
}

#[actix_web::test]
async fn a_bad_token_is_401_invalid_token_without_details() {
    let token = key().token(&with(claims(), "exp", json!(NOW - 3600)));
    let (status, challenge, body, text) = call("/invoices", bearer(&token)).await;
    assert_eq!(status, 401);
    assert_eq!(challenge.as_deref(), Some(r#"Bearer error="invalid_token""#));
    assert_eq!(body["error"], "invalid_token");
    assert!(body["error_description"].is_string());
    assert!(!text.to_lowercase().contains("expired") && !text.contains(&key().kid), "{text}");
    let (status, challenge, _, _) = call("/invoices", bearer("not a token")).await;
    assert_eq!((status, challenge.as_deref()), (401, Some(r#"Bearer error="invalid_token""#)));
}

#[actix_web::test]
async fn a_missing_scope_is_403_naming_the_scope() {
    let (status, challenge, body, _) = call("/admin", bearer(&key().token(&claims()))).await;
    assert_eq!(status, 403);
    assert_eq!(challenge.as_deref(), Some(r#"Bearer error="insufficient_scope", scope="invoices:write""#));
    assert_eq!(body["error"], "insufficient_scope");
}

#[actix_web::test]
async fn a_good_token_with_the_scope_is_200() {
    let (status, challenge, _, text) = call("/invoices", bearer(&key().token(&claims()))).await;
    assert_eq!((status, challenge), (200, None));
    assert_eq!(text, "invoices of user-42");
    let (status, _, _, _) = call("/invoices", Some(format!("bearer {}", key().token(&claims())))).await;
    assert_eq!(status, 200, "the scheme name is case-insensitive");
}

#[actix_web::test]
async fn the_extractor_decodes_application_claims() {
    let (status, _, _, text) = call("/roles", bearer(&key().token(&claims()))).await;
    assert_eq!((status, text.as_str()), (200, "admin"));
}

#[actix_web::test]
async fn without_a_verifier_in_app_data_the_answer_is_500_not_a_panic() {
    let app = test::init_service(App::new().route("/invoices", web::get().to(invoices))).await;
    let request = test::TestRequest::get()
        .uri("/invoices")
        .insert_header(("Authorization", format!("Bearer {}", key().token(&claims()))));
    assert_eq!(test::call_service(&app, request.to_request()).await.status(), 500);
}
