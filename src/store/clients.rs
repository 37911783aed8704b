//! Client rows. Lists (scopes, audiences, grant types, redirect URIs, web origins) are stored
//! space-separated: none of their members may contain a space.

use diesel::prelude::*;

use super::schema::clients;
use super::{DbConnection, words};
use crate::accounts::clients::workload::{DEFAULT_MAX_LIFETIME, SubjectPattern, WorkloadTrust};
use crate::accounts::clients::{
    ApplicationType, AuthMethod, Client, ClientRegistration, ClientSecret, DpopMode, GrantType, new_client,
};
use crate::scope::Scope;

/// `Debug` leaves out the secret's hash.
#[derive(Clone, Queryable, Selectable)]
#[diesel(table_name = clients)]
pub struct ClientRow {
    pub id: String,
    pub name: String,
    /// `None` for a public client.
    pub secret_hash: Option<Vec<u8>>,
    pub scopes: String,
    pub audiences: String,
    pub grant_types: String,
    pub refresh_cookie: bool,
    pub disabled: bool,
    pub created_at: i64,
    pub updated_at: i64,
    pub introspection_audiences: String,
    pub token_endpoint_auth_method: String,
    pub application_type: String,
    pub redirect_uris: String,
    pub web_origins: String,
    pub first_party: bool,
    pub post_logout_redirect_uris: String,
    pub backchannel_logout_uri: Option<String>,
    /// A JWK set, as JSON.
    pub jwks: Option<String>,
    pub jwks_uri: Option<String>,
    pub workload_issuer: Option<String>,
    pub workload_subject: Option<String>,
    pub workload_audience: Option<String>,
    pub workload_jwks_uri: Option<String>,
    pub workload_max_lifetime: Option<i64>,
    pub resources: String,
    pub served_resources: String,
    pub dpop: String,
    pub dpop_nonce: bool,
}

/// The columns a registration sets (on insert and on change alike).
#[derive(Insertable, AsChangeset)]
#[diesel(table_name = clients, treat_none_as_null = true)]
struct RegisteredColumns<'a> {
    name: &'a str,
    scopes: String,
    audiences: String,
    grant_types: String,
    refresh_cookie: bool,
    introspection_audiences: String,
    application_type: &'a str,
    redirect_uris: String,
    web_origins: String,
    first_party: bool,
    post_logout_redirect_uris: String,
    backchannel_logout_uri: Option<&'a str>,
    jwks: Option<String>,
    jwks_uri: Option<&'a str>,
    workload_issuer: Option<&'a str>,
    workload_subject: Option<String>,
    workload_audience: Option<&'a str>,
    workload_jwks_uri: Option<&'a str>,
    workload_max_lifetime: Option<i64>,
    resources: String,
    served_resources: String,
    dpop: &'a str,
    dpop_nonce: bool,
    updated_at: i64,
}

impl<'a> RegisteredColumns<'a> {
    fn of(registration: &'a ClientRegistration, now: i64) -> Self {
        let grant_types: Vec<&str> = registration.grant_types.iter().map(|g| g.as_str()).collect();
        Self {
            name: &registration.name,
            scopes: registration.scope.to_string(),
            audiences: registration.audiences.join(" "),
            grant_types: grant_types.join(" "),
            refresh_cookie: registration.refresh_cookie,
            introspection_audiences: registration.introspection_audiences.join(" "),
            application_type: registration.application_type.as_str(),
            redirect_uris: registration.redirect_uris.join(" "),
            web_origins: registration.web_origins.join(" "),
            first_party: registration.first_party,
            post_logout_redirect_uris: registration.post_logout_redirect_uris.join(" "),
            backchannel_logout_uri: registration.backchannel_logout_uri.as_deref(),
            jwks: registration.jwks.as_ref().and_then(|set| serde_json::to_string(set).ok()),
            jwks_uri: registration.jwks_uri.as_deref(),
            workload_issuer: registration.workload.as_ref().map(|w| w.issuer.as_str()),
            workload_subject: registration.workload.as_ref().map(|w| w.subject.to_string()),
            workload_audience: registration.workload.as_ref().and_then(|w| w.audience.as_deref()),
            workload_jwks_uri: registration.workload.as_ref().and_then(|w| w.jwks_uri.as_deref()),
            workload_max_lifetime: registration.workload.as_ref().map(|w| w.max_lifetime),
            resources: registration.resources.join(" "),
            served_resources: registration.served_resources.join(" "),
            dpop: registration.dpop.as_str(),
            dpop_nonce: registration.dpop_nonce,
            updated_at: now,
        }
    }
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
    /// The client as the domain sees it. Rows are only written from checked registrations, so
    /// every field parses; anything that does not is read as the narrower choice (a list member
    /// dropped, an unknown method read as needing a secret, an unknown type as web) rather than
    /// widening what the client may do.
    pub fn to_client(&self) -> Client {
        Client {
            id: self.id.clone(),
            name: self.name.clone(),
            scope: Scope::parse(&self.scopes).unwrap_or_default(),
            audiences: words(&self.audiences),
            grant_types: self.grant_types.split(' ').filter_map(GrantType::parse).collect(),
            refresh_cookie: self.refresh_cookie,
            disabled: self.disabled,
            created_at: self.created_at,
            introspection_audiences: words(&self.introspection_audiences),
            auth_method: AuthMethod::parse(&self.token_endpoint_auth_method).unwrap_or(AuthMethod::Secret),
            application_type: ApplicationType::parse(&self.application_type).unwrap_or(ApplicationType::Web),
            redirect_uris: words(&self.redirect_uris),
            web_origins: words(&self.web_origins),
            first_party: self.first_party,
            post_logout_redirect_uris: words(&self.post_logout_redirect_uris),
            backchannel_logout_uri: self.backchannel_logout_uri.clone(),
            jwks: self.jwks.as_deref().and_then(|json| serde_json::from_str(json).ok()),
            jwks_uri: self.jwks_uri.clone(),
            workload: self.workload_trust(),
            resources: words(&self.resources),
            served_resources: words(&self.served_resources),
            dpop: DpopMode::parse(&self.dpop).unwrap_or(DpopMode::Required),
            dpop_nonce: self.dpop_nonce,
        }
    }
}

impl ClientRow {
    /// The stored workload trust; `None` if absent or unreadable (the client then cannot
    /// authenticate, rather than trusting more than it registered).
    fn workload_trust(&self) -> Option<WorkloadTrust> {
        let subject = SubjectPattern::parse(self.workload_subject.as_deref()?).ok()?;
        Some(WorkloadTrust {
            issuer: self.workload_issuer.clone()?,
            subject,
            audience: self.workload_audience.clone(),
            jwks_uri: self.workload_jwks_uri.clone(),
            max_lifetime: self.workload_max_lifetime.unwrap_or(DEFAULT_MAX_LIFETIME),
        })
    }
}

/// Clients trusting workload tokens of `issuer`, with their subject patterns as stored.
pub fn trusting_issuer(conn: &mut DbConnection, issuer: &str) -> QueryResult<Vec<(String, String)>> {
    clients::table
        .filter(clients::workload_issuer.eq(issuer))
        .filter(clients::workload_subject.is_not_null())
        .select((clients::id, clients::workload_subject.assume_not_null()))
        .load(conn)
}

/// Clients serving an API of their own (`served_resources`), with that list.
pub fn serving(conn: &mut DbConnection) -> QueryResult<Vec<(String, Vec<String>)>> {
    let rows: Vec<(String, String)> = clients::table
        .filter(clients::served_resources.ne(""))
        .select((clients::id, clients::served_resources))
        .load(conn)?;
    Ok(rows.into_iter().map(|(id, list)| (id, words(&list))).collect())
}

/// Stores a new client with the hash of its secret (none for a public client).
pub fn insert(conn: &mut DbConnection, client: &Client, secret_hash: Option<&[u8]>) -> QueryResult<()> {
    let registration = ClientRegistration::of(client);
    diesel::insert_into(clients::table)
        .values((
            clients::id.eq(&client.id),
            clients::secret_hash.eq(secret_hash),
            clients::token_endpoint_auth_method.eq(client.auth_method.as_str()),
            clients::created_at.eq(client.created_at),
            RegisteredColumns::of(&registration, client.created_at),
        ))
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

/// Registers a client: draws its id (and its secret, unless it is public) and stores it.
/// Returns it with its secret, which exists nowhere else afterwards (only its hash is stored).
pub fn register(
    conn: &mut DbConnection,
    registration: &ClientRegistration,
    now: i64,
) -> Result<(Client, Option<ClientSecret>), RegisterError> {
    let (client, secret) = new_client(registration, now).map_err(|_| RegisterError::Random)?;
    insert(conn, &client, secret.as_ref().map(ClientSecret::hash).as_deref())?;
    Ok((client, secret))
}

/// Writes a changed registration over the client's row (its id, secret, authentication method
/// and creation time stay). Returns the number of rows changed: 0 if there is no such client.
pub fn update(
    conn: &mut DbConnection,
    id: &str,
    registration: &ClientRegistration,
    now: i64,
) -> QueryResult<usize> {
    diesel::update(clients::table.find(id)).set(RegisteredColumns::of(registration, now)).execute(conn)
}

/// Takes the client row's write lock for the rest of the transaction (PostgreSQL's row lock,
/// SQLite's database write lock) before it is read, so two changes to one client apply one after
/// the other instead of the later overwriting the earlier with what it read before. Returns 0 if
/// there is no such client.
pub fn lock(conn: &mut DbConnection, id: &str) -> QueryResult<usize> {
    diesel::update(clients::table.find(id)).set(clients::updated_at.eq(clients::updated_at)).execute(conn)
}

pub fn find(conn: &mut DbConnection, id: &str) -> QueryResult<Option<ClientRow>> {
    clients::table.find(id).select(ClientRow::as_select()).first(conn).optional()
}

pub fn list(conn: &mut DbConnection) -> QueryResult<Vec<ClientRow>> {
    clients::table.order(clients::created_at.asc()).select(ClientRow::as_select()).load(conn)
}

/// Every web origin an enabled client registered (for CORS), repeats included, each with
/// whether that client takes its refresh token in a cookie.
pub fn web_origins(conn: &mut DbConnection) -> QueryResult<Vec<(String, bool)>> {
    let lists: Vec<(String, bool)> = clients::table
        .filter(clients::disabled.eq(false).and(clients::web_origins.ne("")))
        .select((clients::web_origins, clients::refresh_cookie))
        .load(conn)?;
    Ok(lists.iter().flat_map(|(list, cookie)| words(list).into_iter().map(|o| (o, *cookie))).collect())
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
