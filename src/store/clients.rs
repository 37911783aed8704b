//! Client rows. Lists (scopes, audiences, grant types) are stored space-separated: none of
//! their members may contain a space.

use diesel::prelude::*;

use super::DbConnection;
use super::schema::clients;
use crate::accounts::clients::{Client, ClientRegistration, ClientSecret, GrantType, new_client};
use crate::scope::Scope;

/// `Debug` leaves out the secret's hash.
#[derive(Clone, Queryable, Selectable)]
#[diesel(table_name = clients)]
pub struct ClientRow {
    pub id: String,
    pub name: String,
    pub secret_hash: Vec<u8>,
    pub scopes: String,
    pub audiences: String,
    pub grant_types: String,
    pub refresh_cookie: bool,
    pub disabled: bool,
    pub created_at: i64,
    pub updated_at: i64,
    pub introspection_audiences: String,
}

#[derive(Insertable)]
#[diesel(table_name = clients)]
struct NewClient<'a> {
    id: &'a str,
    name: &'a str,
    secret_hash: &'a [u8],
    scopes: &'a str,
    audiences: &'a str,
    grant_types: &'a str,
    refresh_cookie: bool,
    created_at: i64,
    updated_at: i64,
    introspection_audiences: &'a str,
}

impl std::fmt::Debug for ClientRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientRow")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("disabled", &self.disabled)
            .finish_non_exhaustive()
    }
}

impl ClientRow {
    /// The client as the domain sees it. Rows are only written through `insert`, so every
    /// list parses; anything that does not is dropped rather than widening what the client may do.
    pub fn to_client(&self) -> Client {
        Client {
            auth_method: crate::accounts::clients::AuthMethod::Secret,
            application_type: crate::accounts::clients::ApplicationType::Web,
            redirect_uris: Vec::new(),
            web_origins: Vec::new(),
            first_party: false,
            id: self.id.clone(),
            name: self.name.clone(),
            scope: Scope::parse(&self.scopes).unwrap_or_default(),
            audiences: words(&self.audiences),
            grant_types: self.grant_types.split(' ').filter_map(GrantType::parse).collect(),
            refresh_cookie: self.refresh_cookie,
            disabled: self.disabled,
            created_at: self.created_at,
            introspection_audiences: words(&self.introspection_audiences),
        }
    }
}

/// A stored space-separated list.
fn words(list: &str) -> Vec<String> {
    list.split(' ').filter(|a| !a.is_empty()).map(str::to_owned).collect()
}

/// Stores a new client with the hash of its secret.
pub fn insert(conn: &mut DbConnection, client: &Client, secret_hash: &[u8]) -> QueryResult<()> {
    let grant_types: Vec<&str> = client.grant_types.iter().map(|g| g.as_str()).collect();
    diesel::insert_into(clients::table)
        .values(NewClient {
            id: &client.id,
            name: &client.name,
            secret_hash,
            scopes: &client.scope.to_string(),
            audiences: &client.audiences.join(" "),
            grant_types: &grant_types.join(" "),
            refresh_cookie: client.refresh_cookie,
            created_at: client.created_at,
            updated_at: client.created_at,
            introspection_audiences: &client.introspection_audiences.join(" "),
        })
        .execute(conn)
        .map(drop)
}

#[derive(Debug, thiserror::Error)]
pub enum RegisterError {
    #[error("the system random generator failed")]
    Random,
    #[error(transparent)]
    Store(#[from] diesel::result::Error),
}

/// Registers a client: draws its id and secret and stores it. Returns it with its secret,
/// which exists nowhere else afterwards (only its hash is stored).
pub fn register(
    conn: &mut DbConnection,
    registration: &ClientRegistration,
    now: i64,
) -> Result<(Client, ClientSecret), RegisterError> {
    let (client, secret) = new_client(registration, now).map_err(|_| RegisterError::Random)?;
    insert(conn, &client, &secret.hash())?;
    Ok((client, secret))
}

pub fn find(conn: &mut DbConnection, id: &str) -> QueryResult<Option<ClientRow>> {
    clients::table.find(id).select(ClientRow::as_select()).first(conn).optional()
}

pub fn list(conn: &mut DbConnection) -> QueryResult<Vec<ClientRow>> {
    clients::table.order(clients::created_at.asc()).select(ClientRow::as_select()).load(conn)
}

pub fn delete(conn: &mut DbConnection, id: &str) -> QueryResult<usize> {
    diesel::delete(clients::table.find(id)).execute(conn)
}

/// Replaces the client's secret hash; the old secret stops working at once.
pub fn set_secret_hash(
    conn: &mut DbConnection,
    id: &str,
    secret_hash: &[u8],
    now: i64,
) -> QueryResult<usize> {
    diesel::update(clients::table.find(id))
        .set((clients::secret_hash.eq(secret_hash), clients::updated_at.eq(now)))
        .execute(conn)
}
