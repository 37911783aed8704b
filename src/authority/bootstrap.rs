//! The bootstrap admin client: on an installation's first start, jwtd registers one client
//! allowed `client_credentials` with scope `jwtd:admin`, so an operator can reach the admin API
//! without touching the database. It is created once per database, whatever the number of
//! instances starting at the same time.

use std::path::Path;

use serde_json::json;

use super::audit::Actor;
use crate::accounts::clients::{Client, ClientRegistration, ClientSecret};
use crate::store::{self, DbConnection};

const MARKER: &str = "bootstrap_admin_client";
const LOCK: &str = "bootstrap";

#[derive(Debug, thiserror::Error)]
pub enum BootstrapError {
    #[error(transparent)]
    Register(#[from] store::clients::RegisterError),
    #[error("the bootstrap client's registration is invalid: {0}")]
    Invalid(#[from] crate::accounts::clients::RegistrationError),
    /// Cannot happen: the registration is a confidential client's.
    #[error("the bootstrap client was registered without a secret")]
    NoSecret,
    #[error(transparent)]
    Store(#[from] diesel::result::Error),
    #[error("cannot write {path}: {source}")]
    Write { path: String, source: std::io::Error },
}

/// Whether this database had its bootstrap admin client.
pub fn is_done(conn: &mut DbConnection) -> Result<bool, diesel::result::Error> {
    Ok(store::meta::get(conn, MARKER)?.is_some())
}

/// Whether any client may ask for `jwtd:admin` (the bootstrap one, or an operator's).
pub fn has_admin_client(conn: &mut DbConnection) -> Result<bool, diesel::result::Error> {
    let clients = store::clients::list(conn)?;
    Ok(clients.iter().any(|c| c.to_client().scope.contains(crate::tokens::ADMIN_SCOPE)))
}

/// Registers the bootstrap admin client unless this database already had one. Returns it with
/// its secret the one time it is created.
pub fn ensure_admin_client(
    conn: &mut DbConnection,
    now: i64,
) -> Result<Option<(Client, ClientSecret)>, BootstrapError> {
    if store::meta::get(conn, MARKER)?.is_some() {
        return Ok(None);
    }
    store::with_lock(conn, LOCK, now, |conn| {
        if store::meta::get(conn, MARKER)?.is_some() {
            return Ok(None);
        }
        let registration = ClientRegistration::new(
            "bootstrap-admin",
            crate::tokens::ADMIN_SCOPE,
            &[],
            &["client_credentials".to_owned()],
        )?;
        let (client, secret) = match store::clients::register(conn, &registration, now)? {
            (client, Some(secret)) => (client, secret),
            (_, None) => return Err(BootstrapError::NoSecret),
        };
        store::meta::insert(conn, MARKER, &client.id)?;
        let detail = json!({ "bootstrap": true, "scope": client.scope.to_string() });
        Actor::jwtd().audit(conn, now, "client.created", Some(&client.id), detail)?;
        Ok(Some((client, secret)))
    })
}

/// Writes the credentials to `path`, readable by the owner only (embedded default).
pub fn write_credentials(path: &Path, client: &Client, secret: &ClientSecret) -> Result<(), BootstrapError> {
    let body = json!({ "client_id": client.id, "client_secret": secret.expose(), "scope": client.scope.to_string() });
    crate::keys::master::write_private_file(path, format!("{body}\n").as_bytes())
        .map_err(|source| BootstrapError::Write { path: path.display().to_string(), source })
}
