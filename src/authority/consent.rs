//! Consent: what a signed-in person allowed an app, asked on jwtd's consent page and remembered
//! per person and app (see [`crate::accounts::consent`] for who is asked when); and the
//! administrator's view of it: list, and revoke (which also revokes the app's refresh families
//! of that person: what they withdrew stops working now, not when a token expires).

use diesel::Connection;
use serde_json::json;

use super::audit::Actor;
use super::grants::RequestOrigin;
use super::{Authority, Error};
use crate::accounts::clients::Client;
use crate::accounts::consent;
use crate::accounts::sessions::Session;
use crate::scope::Scope;
use crate::store::consents::ConsentRow;
use crate::store::sessions::EndedLogin;
use crate::store::{self, DbConnection};
use crate::tokens::authorization::AuthorizationRequest;

impl Authority {
    /// Whether the person signed in by `session` must be asked before `client` receives what
    /// `request` asks for.
    pub async fn consent_needed(
        &self,
        client: &Client,
        request: &AuthorizationRequest,
        session: &Session,
    ) -> Result<bool, Error> {
        let needs_asking = |remembered: Option<&Scope>| {
            consent::must_ask(client, &request.redirect_uri, &request.scope, remembered, request.ask_consent)
        };
        // Most requests are decided without the database: asked always, or never.
        if needs_asking(Some(&request.scope)) == needs_asking(None) {
            return Ok(needs_asking(None));
        }
        let (user_id, client_id) = (session.user_id.clone(), client.id.clone());
        let remembered =
            self.with_conn(move |conn| Ok(store::consents::find(conn, &user_id, &client_id)?)).await?;
        let remembered = remembered.and_then(|s| Scope::parse(&s).ok());
        Ok(needs_asking(remembered.as_ref()))
    }

    /// The person allowed `client` the `scope` of their request on the consent page: remembered
    /// (with what they allowed before), with its audit event.
    pub async fn grant_consent(
        &self,
        client: &Client,
        scope: &Scope,
        session: &Session,
        origin: RequestOrigin,
    ) -> Result<(), Error> {
        let now = self.clock.now();
        let (user_id, client_id, scope) = (session.user_id.clone(), client.id.clone(), scope.clone());
        self.with_conn(move |conn| {
            conn.transaction(|conn| {
                let before = store::consents::find(conn, &user_id, &client_id)?;
                let before = before.and_then(|s| Scope::parse(&s).ok()).unwrap_or_default();
                let granted = before.union(&scope);
                store::consents::put(conn, &user_id, &client_id, &granted.to_string(), now)?;
                let actor = Actor { id: user_id.clone(), ip: origin.ip.clone() };
                let detail = json!({ "client_id": client_id, "scope": scope.to_string() });
                Ok(actor.audit(conn, now, "consent.granted", Some(&user_id), detail)?)
            })
        })
        .await
    }
}

/// The apps a user allowed, and what each may have.
pub fn list(conn: &mut DbConnection, user_id: &str) -> Result<Vec<ConsentRow>, Error> {
    super::users::find(conn, user_id)?;
    Ok(store::consents::list_for_user(conn, user_id)?)
}

/// Withdraws what `user_id` allowed `client_id`: the app asks again next time, and its refresh
/// families of this user are revoked (and, with a back-channel logout URI, the app is told of
/// each). Returns how many families were revoked.
pub fn revoke(
    conn: &mut DbConnection,
    actor: &Actor,
    user_id: &str,
    client_id: &str,
    now: i64,
) -> Result<usize, Error> {
    conn.transaction(|conn| {
        if !store::consents::delete(conn, user_id, client_id)? {
            return Err(Error::NotFound("consent"));
        }
        let revoked =
            store::refresh::revoke_user_client_families(conn, user_id, client_id, now, "consent_revoked")?;
        let logins: Vec<EndedLogin> = revoked
            .iter()
            .map(|family_id| EndedLogin {
                family_id: family_id.clone(),
                client_id: client_id.to_owned(),
                user_id: user_id.to_owned(),
            })
            .collect();
        super::backchannel::enqueue(conn, &logins, now)?;
        let families = revoked.len();
        let detail = json!({ "client_id": client_id, "families": families });
        actor.audit(conn, now, "consent.revoked", Some(user_id), detail)?;
        Ok(families)
    })
}

/// The consent as the admin API and the CLI show it.
pub fn describe(row: &ConsentRow) -> serde_json::Value {
    json!({
        "client_id": row.client_id,
        "client_name": row.client_name,
        "scope": row.scope,
        "granted_at": row.granted_at,
        "updated_at": row.updated_at,
    })
}
