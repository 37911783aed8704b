//! Client operations: register, change, delete, rotate a secret (the admin API and the CLI call
//! the same functions), and the lookups client authentication and liveness need.

use diesel::Connection;
use serde_json::json;

use super::audit::Actor;
use super::{Authority, Error, OAuthCode};
use crate::accounts::clients::workload::SubjectPattern;
use crate::accounts::clients::{
    AuthMethod, Client, ClientChange, ClientRegistration, ClientSecret, Deployment, credentials_match,
};
use crate::store::{self, DbConnection, clients::ClientRow};

/// Compared against when the client id is unknown, so an unknown client costs the same as a
/// wrong secret.
const DUMMY_SECRET_HASH: [u8; 32] = [0; 32];

/// Registers a client and its audit event in one transaction: a client whose event failed would
/// exist with its secret never shown. Returns the client with its secret, shown this once (a
/// public client has none).
pub fn register(
    conn: &mut DbConnection,
    actor: &Actor,
    registration: &ClientRegistration,
    now: i64,
) -> Result<(Client, Option<ClientSecret>), Error> {
    conn.transaction(|conn| {
        refuse_overlap(conn, registration, None)?;
        let (client, secret) = store::clients::register(conn, registration, now).map_err(|e| match e {
            store::clients::RegisterError::Store(e) => Error::from(e),
            other => Error::internal(&other),
        })?;
        actor.audit(conn, now, "client.created", Some(&client.id), client.describe())?;
        Ok((client, secret))
    })
}

/// A workload-identity registration whose subjects overlap another client's of the same issuer
/// is refused: one workload's token must name one client. Likewise an API served by two clients:
/// a token sent to it must be exchangeable by one client only.
fn refuse_overlap(
    conn: &mut DbConnection,
    registration: &ClientRegistration,
    except: Option<&str>,
) -> Result<(), Error> {
    if !registration.served_resources.is_empty() {
        for (other, served) in store::clients::serving(conn)? {
            let shared = served.iter().find(|s| registration.served_resources.contains(s));
            if let (Some(shared), true) = (shared, except != Some(other.as_str())) {
                return Err(Error::invalid(&format!(
                    "served resource {shared} is already served by client {other}: tokens sent to an API may be exchanged by one client only"
                )));
            }
        }
    }
    let Some(trust) = &registration.workload else {
        return Ok(());
    };
    for (other, stored) in store::clients::trusting_issuer(conn, &trust.issuer)? {
        let overlaps = SubjectPattern::parse(&stored).is_ok_and(|pattern| pattern.overlaps(&trust.subject));
        if overlaps && except != Some(other.as_str()) {
            return Err(Error::invalid(&format!(
                "workload_subject {} overlaps client {other}'s {stored} for the same issuer: one workload's token must name one client",
                trust.subject
            )));
        }
    }
    Ok(())
}

/// Changes what `change` names on the client, checked whole with the rules of a new
/// registration in `deployment`, and records `client.updated` with each changed field's value
/// before and after, in one transaction: a change whose event failed is not made. The
/// authentication method cannot change (a public client would keep a secret's hash, a
/// confidential one would lose its secret): register a new client for that. A change that
/// changes nothing writes nothing. The caller drops the client from its caches afterwards.
pub fn update(
    conn: &mut DbConnection,
    actor: &Actor,
    id: &str,
    change: &ClientChange,
    deployment: Deployment,
    now: i64,
) -> Result<Client, Error> {
    conn.transaction(|conn| {
        if store::clients::lock(conn, id)? == 0 {
            return Err(Error::NotFound("client"));
        }
        let client = store::clients::find(conn, id)?.ok_or(Error::NotFound("client"))?.to_client();
        let (registration, changes) = client.changed(change, deployment).map_err(|e| Error::invalid(&e))?;
        if changes.is_empty() {
            return Ok(client);
        }
        refuse_overlap(conn, &registration, Some(id))?;
        store::clients::update(conn, id, &registration, now)?;
        actor.audit(conn, now, "client.updated", Some(id), json!({ "changes": changes }))?;
        store::clients::find(conn, id)?.map(|row| row.to_client()).ok_or(Error::NotFound("client"))
    })
}

/// Deletes the client and revokes every access token issued through it, in one transaction: its
/// users' (by `client_id`, feed version 2; their refresh families go with the client row) and
/// its own (`sub` = client id, which version-1 readers of the feed see too).
pub fn delete(conn: &mut DbConnection, actor: &Actor, id: &str, now: i64) -> Result<(), Error> {
    conn.transaction(|conn| {
        // Its families go with the row; the feed keeps listing them for tokens exchanged from
        // them (their `sid` is all that ties such a token to this client).
        store::revocations::remember_client_families(conn, id, now)?;
        if store::clients::delete(conn, id)? == 0 {
            return Err(Error::NotFound("client"));
        }
        store::revocations::revoke_client(conn, id, now + 1)?;
        store::revocations::revoke_subject(conn, id, now + 1)?;
        actor.audit(conn, now, "client.deleted", Some(id), json!({}))?;
        Ok(())
    })
}

/// Gives the client a new secret; the old one stops working at once.
pub fn rotate_secret(
    conn: &mut DbConnection,
    actor: &Actor,
    id: &str,
    now: i64,
) -> Result<(Client, ClientSecret), Error> {
    conn.transaction(|conn| {
        let client = store::clients::find(conn, id)?.ok_or(Error::NotFound("client"))?.to_client();
        if client.is_public() {
            return Err(Error::conflict(
                "client_is_public",
                "a public client (token_endpoint_auth_method none) has no secret to rotate",
            ));
        }
        let secret = ClientSecret::generate().map_err(|_| Error::internal(&"random generator failed"))?;
        if store::clients::set_secret_hash(conn, id, &secret.hash(), now)? == 0 {
            return Err(Error::NotFound("client"));
        }
        actor.audit(conn, now, "client.secret_rotated", Some(id), json!({}))?;
        Ok((client, secret))
    })
}

impl Authority {
    /// The client's row, from the cache (5 s) or the database; `None` if there is no such client.
    pub async fn client_row(&self, client_id: &str) -> Result<Option<ClientRow>, Error> {
        let now = self.clock.now();
        if let Some(row) = self.clients.get(client_id, now) {
            return Ok(Some(row));
        }
        let id = client_id.to_owned();
        let row = self.with_conn(move |conn| Ok(store::clients::find(conn, &id)?)).await?;
        if let Some(row) = &row {
            self.clients.put(row.clone(), now);
        }
        Ok(row)
    }

    /// Authenticates a client by its id and what it presented: a confidential client's secret,
    /// compared in constant time (an unknown id costs the same as a wrong secret), or nothing
    /// for a public client. A public client presenting a secret fails, as does a confidential
    /// client presenting none, and a disabled client.
    pub async fn authenticate_client(&self, client_id: &str, secret: Option<&str>) -> Result<Client, Error> {
        let row = self.client_row(client_id).await?;
        let client = row.as_ref().map(ClientRow::to_client);
        let (method, stored_hash) = match (&client, &row) {
            (Some(client), Some(row)) => (client.auth_method, row.secret_hash.as_deref()),
            _ => (AuthMethod::Secret, Some(&DUMMY_SECRET_HASH[..])),
        };
        let matches = credentials_match(method, stored_hash, secret);
        match client {
            Some(client) if matches && !client.disabled => Ok(client),
            _ => Err(Error::oauth(OAuthCode::InvalidClient, "client authentication failed")),
        }
    }
}

/// Every client, oldest first.
pub fn list(conn: &mut DbConnection) -> Result<Vec<Client>, Error> {
    Ok(store::clients::list(conn)?.iter().map(ClientRow::to_client).collect())
}

/// One client by id.
pub fn find(conn: &mut DbConnection, id: &str) -> Result<Client, Error> {
    store::clients::find(conn, id)?.map(|row| row.to_client()).ok_or(Error::NotFound("client"))
}
