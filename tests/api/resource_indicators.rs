//! Resource indicators (RFC 8707): a client names the API a token is for, and the token's `aud`
//! is exactly that API; on every grant, within what the client registered, and for a refresh
//! family within what its grant named.

use serde_json::{Value, json};

use crate::code_flow::{Browser, PASSWORD, authorize_url, redeem, register_web_app};
use crate::flow_clients::register;
use crate::helpers::{Backend, assert_error, claims_of, spawn_app};
use crate::on_both_backends;

on_both_backends!(
    a_token_is_for_exactly_the_resource_the_request_names,
    a_refresh_stays_within_the_resources_its_grant_named,
    an_authorization_request_grants_the_resources_it_names,
);

const ORDERS: &str = "https://orders.example";
const PAYMENTS: &str = "https://payments.example";
const EMAIL: &str = "alice@example.com";

fn aud_of(body: &Value) -> Value {
    let jwt = body["access_token"].as_str().unwrap();
    claims_of(jwt)["aud"].clone()
}

async fn body(response: reqwest::Response) -> Value {
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

async fn a_token_is_for_exactly_the_resource_the_request_names(backend: Backend) {
    let app = spawn_app(backend).await;
    let admin = app.admin_token().await;
    let service = json!({
        "name": "svc", "scope": "read", "audiences": ["https://api", "https://other"],
        "grant_types": ["client_credentials"], "resources": [ORDERS, PAYMENTS],
    });
    let service = register(&app, &admin, service).await;

    let usual = body(app.client_token(&service, &[]).await).await;
    assert_eq!(aud_of(&usual), json!(["https://api", "https://other"]), "without resource, as before");
    let orders = body(app.client_token(&service, &[("resource", ORDERS)]).await).await;
    assert_eq!(aud_of(&orders), json!(ORDERS), "exactly the resource");

    for bad in [
        vec![("resource", "https://unregistered.example")],
        vec![("resource", ORDERS), ("resource", PAYMENTS)],
        vec![("resource", "https://orders.example#frag")],
        vec![("resource", "orders")],
    ] {
        assert_error(app.client_token(&service, &bad).await, 400, "invalid_target").await;
    }
}

async fn a_refresh_stays_within_the_resources_its_grant_named(backend: Backend) {
    let app = spawn_app(backend).await;
    let admin = app.admin_token().await;
    app.create_user(EMAIL, PASSWORD, json!({}));
    let client = json!({
        "name": "app", "scope": "read", "grant_types": ["password", "refresh_token"],
        "resources": [ORDERS, PAYMENTS],
    });
    let client = register(&app, &admin, client).await;

    let login = body(app.login(&client, EMAIL, PASSWORD, &[("resource", ORDERS)]).await).await;
    assert_eq!(aud_of(&login), json!(ORDERS));
    let refresh = login["refresh_token"].as_str().unwrap();
    // Another registered resource is wider than the grant: refused, and the token still works.
    let wider = app.refresh(&client, refresh, &[("resource", PAYMENTS)]).await;
    assert_error(wider, 400, "invalid_target").await;
    let again = body(app.refresh(&client, refresh, &[]).await).await;
    assert_eq!(aud_of(&again), json!(ORDERS), "the grant's resource, unnamed");
    let named = app.refresh(&client, again["refresh_token"].as_str().unwrap(), &[("resource", ORDERS)]).await;
    assert_eq!(aud_of(&body(named).await), json!(ORDERS));

    // A login that named no resource may be narrowed to any registered one.
    let open = body(app.login(&client, EMAIL, PASSWORD, &[]).await).await;
    let narrowed =
        app.refresh(&client, open["refresh_token"].as_str().unwrap(), &[("resource", PAYMENTS)]).await;
    assert_eq!(aud_of(&body(narrowed).await), json!(PAYMENTS));
    let two = [("resource", ORDERS), ("resource", PAYMENTS)];
    assert_error(app.login(&client, EMAIL, PASSWORD, &two).await, 400, "invalid_target").await;
}

async fn an_authorization_request_grants_the_resources_it_names(backend: Backend) {
    let app = spawn_app(backend).await;
    let client = register_web_app(&app, true, json!({ "resources": [ORDERS, PAYMENTS] })).await;
    let user = app.create_user(EMAIL, PASSWORD, json!({}));
    let mut browser = Browser::new();

    // Both named at the authorization endpoint; the token request picks one.
    let both = format!("{}&resource={}&resource={}", authorize_url(&app, &client.id, &[]), ORDERS, PAYMENTS);
    let page = browser.get(&both).await;
    let back = browser.sign_in(&app, &page, &user.email, PASSWORD).await;
    let code = browser.allowing(&app, back).await.redirect_params()["code"].clone();
    let tokens = body(redeem(&app, &client, &code, &[("resource", PAYMENTS)]).await).await;
    assert_eq!(aud_of(&tokens), json!(PAYMENTS));
    let refresh = tokens["refresh_token"].as_str().unwrap();
    let all = body(app.refresh(&client, refresh, &[]).await).await;
    assert_eq!(aud_of(&all), json!([ORDERS, PAYMENTS]), "unnamed: every resource of the grant");

    // One named: the code is for it alone.
    let one = format!("{}&resource={}", authorize_url(&app, &client.id, &[]), ORDERS);
    let code = browser.get(&one).await.redirect_params()["code"].clone();
    assert_error(redeem(&app, &client, &code, &[("resource", PAYMENTS)]).await, 400, "invalid_target").await;

    // An unregistered one goes back to the client as invalid_target.
    let unknown = format!("{}&resource=https://elsewhere.example", authorize_url(&app, &client.id, &[]));
    let refused = browser.get(&unknown).await;
    assert_eq!(refused.status, 303);
    assert_eq!(refused.redirect_params()["error"], "invalid_target");
}
