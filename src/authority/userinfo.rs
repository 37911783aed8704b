//! OpenID Connect userinfo (Core §5.3): the claims of the user a live login's token names.

use super::{Authority, Error};
use crate::accounts::users::User;
use crate::store;

impl Authority {
    /// The user a live user token (one with `sid`, checked by [`Self::authorize_bearer`])
    /// names, unless disabled or gone.
    pub async fn userinfo(&self, user_id: &str) -> Result<Option<User>, Error> {
        let user_id = user_id.to_owned();
        let user = self.with_conn(move |conn| Ok(store::users::find(conn, &user_id)?)).await?;
        Ok(user.filter(|u| !u.disabled).map(|u| u.to_user()))
    }
}
