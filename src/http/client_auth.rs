//! Client authentication at the token endpoint: `client_secret_basic` and
//! `client_secret_post` (RFC 6749 §2.3.1). A request may use one method, not both.

use actix_web::http::header;
use actix_web::{HttpRequest, web};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use zeroize::Zeroizing;

use super::error::ApiError;
use super::params::Params;
use crate::accounts::clients::{Client, secret_matches};
use crate::app::AppState;
use crate::store;
use crate::store::clients::ClientRow;

/// Longest client id or secret looked at; anything longer cannot be ours.
const MAX_CREDENTIAL_LEN: usize = 256;

/// What the client presented. The secret is wiped when dropped and never printed.
pub struct PresentedCredentials {
    pub client_id: String,
    pub secret: Zeroizing<String>,
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
        (None, Some(id), Some(secret)) => {
            if id.len() > MAX_CREDENTIAL_LEN || secret.len() > MAX_CREDENTIAL_LEN {
                return Err(ApiError::invalid_client());
            }
            Ok(PresentedCredentials { client_id: id.to_owned(), secret: Zeroizing::new(secret.to_owned()) })
        }
        (None, _, _) => Err(ApiError::invalid_client()),
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
    Ok(PresentedCredentials { client_id: id, secret })
}

/// `application/x-www-form-urlencoded` decoding of one component.
fn form_decode(text: &str) -> Option<String> {
    let plus_as_space = text.replace('+', " ");
    percent_encoding::percent_decode_str(&plus_as_space).decode_utf8().ok().map(|s| s.into_owned())
}

/// Compared against when the client id is unknown, so an unknown client costs the same as a
/// wrong secret.
const DUMMY_SECRET_HASH: [u8; 32] = [0; 32];

/// Client rows read in the last few seconds, so `client_credentials` touches no database on
/// its hot path. The admin API forgets a client it changes at once; another instance's change
/// reaches this one within `TTL`. Only rows that exist are kept, and the cache is bounded.
#[derive(Debug, Default)]
pub struct ClientCache(std::sync::Mutex<std::collections::HashMap<String, (ClientRow, std::time::Instant)>>);

impl ClientCache {
    const TTL: std::time::Duration = std::time::Duration::from_secs(5);
    const MAX_ENTRIES: usize = 10_000;

    fn get(&self, id: &str) -> Option<ClientRow> {
        let entries = self.0.lock().ok()?;
        entries.get(id).filter(|(_, at)| at.elapsed() < Self::TTL).map(|(row, _)| row.clone())
    }

    fn put(&self, row: ClientRow) {
        if let Ok(mut entries) = self.0.lock() {
            if entries.len() >= Self::MAX_ENTRIES {
                entries.clear();
            }
            entries.insert(row.id.clone(), (row, std::time::Instant::now()));
        }
    }

    /// Drops a client after it changed (secret rotated, deleted).
    pub fn forget(&self, id: &str) {
        if let Ok(mut entries) = self.0.lock() {
            entries.remove(id);
        }
    }
}

/// The client's row, from the cache (5 s) or the database; `None` if there is no such client.
pub async fn client_row(state: &AppState, client_id: &str) -> Result<Option<ClientRow>, ApiError> {
    if let Some(row) = state.clients.get(client_id) {
        return Ok(Some(row));
    }
    let (pool, id) = (state.pool.clone(), client_id.to_owned());
    let row = web::block(move || -> Result<_, ApiError> {
        let mut conn = pool.get().map_err(store::StoreError::from)?;
        Ok(store::clients::find(&mut conn, &id)?)
    })
    .await??;
    if let Some(row) = &row {
        state.clients.put(row.clone());
    }
    Ok(row)
}

/// Authenticates the client of a token, revocation or introspection request.
pub async fn authenticate_client(
    req: &HttpRequest,
    state: &AppState,
    params: &Params,
) -> Result<Client, ApiError> {
    let presented = presented_credentials(req, params)?;
    let row = client_row(state, &presented.client_id).await?;
    let stored_hash = row.as_ref().map_or(&DUMMY_SECRET_HASH[..], |r| r.secret_hash.as_slice());
    let matches = secret_matches(&presented.secret, stored_hash);
    match row {
        Some(row) if matches && !row.disabled => Ok(row.to_client()),
        _ => Err(ApiError::invalid_client()),
    }
}
