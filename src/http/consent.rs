//! The consent page (shown by the authorization endpoint) and its answer, `POST /consent`: the
//! person allows the app what it asked for (remembered, and the browser goes back with a code)
//! or denies it (the app hears `access_denied`).

use actix_web::http::StatusCode;
use actix_web::web::{self, Bytes};
use actix_web::{HttpRequest, HttpResponse};
use askama::Template;

use super::Edge;
use super::authorize::{
    PostedForm, SignedIn, browser_session, code_redirect, error_redirect, expired, form_page, page_fault,
    posted_form,
};
use super::grants::request_origin;
use super::pages::{self, ConsentPage, PageError};
use crate::accounts::consent;
use crate::authority::Authority;
use crate::tokens::authorization::Refused;

/// The consent page for a signed-in person's request.
pub(super) fn page(
    edge: &Edge,
    signed_in: SignedIn<'_>,
    auth_request: &str,
) -> Result<HttpResponse, PageError> {
    let SignedIn { req, client, request, .. } = signed_in;
    let scopes = consent::describe(&request.scope);
    let target = pages::form_target(&request.redirect_uri);
    form_page(req, edge, target, |csrf_token| {
        ConsentPage {
            brand: &edge.brand,
            client_name: &client.name,
            scopes,
            destination: target.unwrap_or("the app"),
            proven: consent::redirect_proves_client(client, &request.redirect_uri),
            csrf_token,
            auth_request,
        }
        .render()
    })
}

/// `POST /consent`: the consent page's answer, from the browser of the person signed in.
pub async fn decide(
    req: HttpRequest,
    body: Bytes,
    state: web::Data<Authority>,
    edge: web::Data<Edge>,
) -> Result<HttpResponse, PageError> {
    let PostedForm { form, client, reply, request } = match posted_form(&req, &body, &state, &edge).await? {
        Ok(posted) => posted,
        Err(refusal) => return Ok(refusal),
    };
    let Some(session) = browser_session(&req, &state, &edge).await? else {
        return Err(expired(&edge, StatusCode::BAD_REQUEST));
    };
    match form.get("decision") {
        Some("allow") => {
            state
                .grant_consent(&client, &request.scope, &session, request_origin(&req))
                .await
                .map_err(|e| page_fault(&edge, e))?;
            state.metrics.sign_in.consents.with_label_values(&["granted"]).inc();
            code_redirect(&state, &edge, &request, &session, &reply, None).await
        }
        Some("deny") => {
            state.metrics.sign_in.consents.with_label_values(&["denied"]).inc();
            let refused = Refused::new("access_denied", "the user did not allow this request");
            Ok(error_redirect(&state, &reply, &refused))
        }
        _ => Err(PageError::bad_request(&edge.brand, "Choose Allow or Deny.")),
    }
}
