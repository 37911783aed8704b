//! Client authentication at the token, revocation and introspection endpoints:
//! `client_secret_basic` and `client_secret_post` (RFC 6749 §2.3.1), a public client's
//! `client_id` alone in the form (`none`; RFC 6749 §3.2.1, OAuth 2.1), or a signed assertion
//! (`private_key_jwt`: `client_assertion_type` and `client_assertion`, RFC 7523 §2.2). A request
//! may use one method, not two. Whether what was presented is right for the client is
//! [`Authority::authenticate_client`]'s or [`Authority::authenticate_with_assertion`]'s
//! decision.

use actix_web::HttpRequest;
use actix_web::http::header;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use zeroize::Zeroizing;

use super::error::ApiError;
use super::params::Params;
use crate::accounts::clients::Client;
use crate::authority::Authority;
use crate::tokens::client_assertion::{ASSERTION_TYPE, MAX_ASSERTION_LEN};

/// Longest client id or secret looked at; anything longer cannot be ours.
const MAX_CREDENTIAL_LEN: usize = 256;

/// What the client presented: its id, and its secret unless it is a public client. The secret
/// is wiped when dropped and never printed.
pub struct PresentedCredentials {
    pub client_id: String,
    pub secret: Option<Zeroizing<String>>,
}

impl std::fmt::Debug for PresentedCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PresentedCredentials").field("client_id", &self.client_id).finish_non_exhaustive()
    }
}

pub fn presented_credentials(req: &HttpRequest, params: &Params) -> Result<PresentedCredentials, ApiError> {
    let basic = match req.headers().get(header::AUTHORIZATION) {
        Some(value) => Some(parse_basic(value.as_bytes())?),
        None => None,
    };
    let post_id = params.get("client_id");
    let post_secret = params.get("client_secret");
    match (basic, post_id, post_secret) {
        (Some(_), _, Some(_)) => {
            Err(ApiError::invalid_request("use one client authentication method, not two"))
        }
        (Some(basic), Some(id), None) if id != basic.client_id => {
            Err(ApiError::invalid_request("client_id does not match the authenticated client"))
        }
        (Some(basic), _, None) => Ok(basic),
        (None, Some(id), secret) => {
            if id.len() > MAX_CREDENTIAL_LEN || secret.is_some_and(|s| s.len() > MAX_CREDENTIAL_LEN) {
                return Err(ApiError::invalid_client());
            }
            let secret = secret.map(|s| Zeroizing::new(s.to_owned()));
            Ok(PresentedCredentials { client_id: id.to_owned(), secret })
        }
        (None, None, _) => Err(ApiError::invalid_client()),
    }
}

/// `Basic base64(urlencode(id) ":" urlencode(secret))`. Any other scheme, or a malformed
/// value, fails authentication with a Basic challenge.
fn parse_basic(value: &[u8]) -> Result<PresentedCredentials, ApiError> {
    let fail = ApiError::invalid_client;
    let value = std::str::from_utf8(value).map_err(|_| fail())?;
    let (scheme, encoded) = value.trim().split_once(' ').ok_or_else(fail)?;
    if !scheme.eq_ignore_ascii_case("basic") || encoded.len() > 4 * MAX_CREDENTIAL_LEN {
        return Err(fail());
    }
    let decoded = Zeroizing::new(STANDARD.decode(encoded.trim()).map_err(|_| fail())?);
    let decoded = std::str::from_utf8(&decoded).map_err(|_| fail())?;
    let (id, secret) = decoded.split_once(':').ok_or_else(fail)?;
    let id = form_decode(id).ok_or_else(fail)?;
    let secret = Zeroizing::new(form_decode(secret).ok_or_else(fail)?);
    if id.is_empty()
        || secret.is_empty()
        || id.len() > MAX_CREDENTIAL_LEN
        || secret.len() > MAX_CREDENTIAL_LEN
    {
        return Err(fail());
    }
    Ok(PresentedCredentials { client_id: id, secret: Some(secret) })
}

/// `application/x-www-form-urlencoded` decoding of one component.
fn form_decode(text: &str) -> Option<String> {
    let plus_as_space = text.replace('+', " ");
    percent_encoding::percent_decode_str(&plus_as_space).decode_utf8().ok().map(|s| s.into_owned())
}

/// A signed client assertion, and the `client_id` the form named beside it (optional).
fn presented_assertion<'a>(
    req: &HttpRequest,
    params: &'a Params,
) -> Result<Option<(Option<&'a str>, &'a str)>, ApiError> {
    let (kind, assertion) = (params.get("client_assertion_type"), params.get("client_assertion"));
    if kind.is_none() && assertion.is_none() {
        return Ok(None);
    }
    if req.headers().contains_key(header::AUTHORIZATION) || params.get("client_secret").is_some() {
        return Err(ApiError::invalid_request("use one client authentication method, not two"));
    }
    match (kind, assertion) {
        (Some(ASSERTION_TYPE), Some(assertion)) if assertion.len() <= MAX_ASSERTION_LEN => {
            Ok(Some((params.get("client_id"), assertion)))
        }
        (Some(ASSERTION_TYPE), Some(_)) => Err(ApiError::invalid_client()),
        (Some(_), Some(_)) => Err(ApiError::invalid_request(
            "client_assertion_type must be urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        )),
        _ => Err(ApiError::invalid_request("client_assertion and client_assertion_type go together")),
    }
}

/// Authenticates the client of a token, revocation or introspection request.
pub async fn authenticate_client(
    req: &HttpRequest,
    state: &Authority,
    params: &Params,
) -> Result<Client, ApiError> {
    if let Some((client_id, assertion)) = presented_assertion(req, params)? {
        return Ok(state.authenticate_with_assertion(client_id, assertion).await?);
    }
    let presented = presented_credentials(req, params)?;
    let secret = presented.secret.as_ref().map(|s| s.as_str());
    Ok(state.authenticate_client(&presented.client_id, secret).await?)
}
