//! Identifiers that are good once, across every instance sharing the database, kept until
//! what they name could no longer be accepted: `private_key_jwt` assertions' `jti` per client,
//! DPoP proofs' `jti` per key.

use diesel::prelude::*;

use super::DbConnection;
use super::schema::used_jtis;

/// Whose `jti` it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JtiKind {
    /// A client assertion's (RFC 7523), owned by the client id.
    ClientAssertion,
    /// A DPoP proof's (RFC 9449 §11.1), owned by the proof key's thumbprint.
    DpopProof,
}

impl JtiKind {
    fn as_str(self) -> &'static str {
        match self {
            Self::ClientAssertion => "client_assertion",
            Self::DpopProof => "dpop",
        }
    }
}

/// Records `jti` as used by `owner` until `expires_at`. Returns `false` when it was used
/// before (the primary key refused the row): the caller refuses what carried it. Not to be run
/// inside a transaction (on PostgreSQL the refused insert would abort it).
pub fn use_once(
    conn: &mut DbConnection,
    kind: JtiKind,
    owner: &str,
    jti: &str,
    expires_at: i64,
) -> QueryResult<bool> {
    let inserted = diesel::insert_into(used_jtis::table)
        .values((
            used_jtis::kind.eq(kind.as_str()),
            used_jtis::owner.eq(owner),
            used_jtis::jti.eq(jti),
            used_jtis::expires_at.eq(expires_at),
        ))
        .execute(conn);
    match inserted {
        Ok(_) => Ok(true),
        Err(diesel::result::Error::DatabaseError(diesel::result::DatabaseErrorKind::UniqueViolation, _)) => {
            Ok(false)
        }
        Err(e) => Err(e),
    }
}

/// Forgets identifiers whose time ran out before `before` (they cannot be replayed any more).
pub fn purge(conn: &mut DbConnection, before: i64) -> QueryResult<usize> {
    diesel::delete(used_jtis::table.filter(used_jtis::expires_at.lt(before))).execute(conn)
}
