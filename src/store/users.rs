//! User rows. Emails are stored normalised (see `accounts::users::normalize_email`).

use diesel::prelude::*;
use serde_json::{Map, Value};

use super::DbConnection;
use super::schema::users;
use crate::accounts::clients::random_id;
use crate::accounts::users::User;

/// `Debug` leaves out the password hash.
#[derive(Clone, Queryable, Selectable)]
#[diesel(table_name = users)]
pub struct UserRow {
    pub id: String,
    pub email: String,
    pub password_hash: String,
    pub claims: String,
    pub disabled: bool,
    pub created_at: i64,
    pub updated_at: i64,
}

impl std::fmt::Debug for UserRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserRow")
            .field("id", &self.id)
            .field("email", &self.email)
            .field("disabled", &self.disabled)
            .finish_non_exhaustive()
    }
}

impl UserRow {
    pub fn to_user(&self) -> User {
        User {
            id: self.id.clone(),
            email: self.email.clone(),
            claims: serde_json::from_str::<Map<String, Value>>(&self.claims).unwrap_or_default(),
            disabled: self.disabled,
            created_at: self.created_at,
        }
    }
}

#[derive(Insertable)]
#[diesel(table_name = users)]
pub struct NewUser<'a> {
    pub id: &'a str,
    pub email: &'a str,
    pub password_hash: &'a str,
    pub claims: &'a str,
    pub disabled: bool,
    pub created_at: i64,
    pub updated_at: i64,
}

pub fn insert(conn: &mut DbConnection, user: &NewUser<'_>) -> QueryResult<()> {
    diesel::insert_into(users::table).values(user).execute(conn).map(drop)
}

pub fn find(conn: &mut DbConnection, id: &str) -> QueryResult<Option<UserRow>> {
    users::table.find(id).select(UserRow::as_select()).first(conn).optional()
}

pub fn find_by_email(conn: &mut DbConnection, email: &str) -> QueryResult<Option<UserRow>> {
    users::table.filter(users::email.eq(email)).select(UserRow::as_select()).first(conn).optional()
}

/// One page, ordered by email, starting after `after`.
pub fn page(conn: &mut DbConnection, after: &str, limit: i64) -> QueryResult<Vec<UserRow>> {
    users::table
        .filter(users::email.gt(after))
        .order(users::email.asc())
        .limit(limit)
        .select(UserRow::as_select())
        .load(conn)
}

pub fn delete(conn: &mut DbConnection, id: &str) -> QueryResult<usize> {
    diesel::delete(users::table.find(id)).execute(conn)
}

pub fn set_password_hash(conn: &mut DbConnection, id: &str, hash: &str, now: i64) -> QueryResult<usize> {
    diesel::update(users::table.find(id))
        .set((users::password_hash.eq(hash), users::updated_at.eq(now)))
        .execute(conn)
}

pub fn set_disabled(conn: &mut DbConnection, id: &str, disabled: bool, now: i64) -> QueryResult<usize> {
    diesel::update(users::table.find(id))
        .set((users::disabled.eq(disabled), users::updated_at.eq(now)))
        .execute(conn)
}

pub fn set_claims(conn: &mut DbConnection, id: &str, claims: &str, now: i64) -> QueryResult<usize> {
    diesel::update(users::table.find(id))
        .set((users::claims.eq(claims), users::updated_at.eq(now)))
        .execute(conn)
}

#[derive(Debug, thiserror::Error)]
pub enum CreateError {
    #[error("an account with this email exists")]
    Taken,
    #[error("the system random generator failed")]
    Random,
    #[error(transparent)]
    Store(diesel::result::Error),
}

impl From<diesel::result::Error> for CreateError {
    fn from(e: diesel::result::Error) -> Self {
        match e {
            diesel::result::Error::DatabaseError(diesel::result::DatabaseErrorKind::UniqueViolation, _) => {
                Self::Taken
            }
            other => Self::Store(other),
        }
    }
}

/// Stores a user whose email is normalised, claims validated and password already hashed.
pub fn create(
    conn: &mut DbConnection,
    email: &str,
    password_hash: &str,
    claims: &Map<String, Value>,
    now: i64,
) -> Result<User, CreateError> {
    let id = random_id().map_err(|_| CreateError::Random)?;
    let claims_text = Value::Object(claims.clone()).to_string();
    insert(
        conn,
        &NewUser {
            id: &id,
            email,
            password_hash,
            claims: &claims_text,
            disabled: false,
            created_at: now,
            updated_at: now,
        },
    )?;
    Ok(User { id, email: email.to_owned(), claims: claims.clone(), disabled: false, created_at: now })
}
