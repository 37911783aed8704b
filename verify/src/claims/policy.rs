//! What the verifier demands of every token's claims, checked on the borrowed
//! [`RegisteredClaims`] before anything owned is built.

use super::registered::{RegisteredClaims, audience_values, numeric_date, string_claim};
use super::required;
use crate::Error;

#[derive(Debug, Clone)]
pub(crate) struct ClaimsPolicy {
    pub issuer: String,
    pub audience: String,
    pub leeway_secs: i64,
    /// Names that must be present beyond the ones RFC 9068 requires.
    pub required: Vec<String>,
}

impl ClaimsPolicy {
    /// Every check on a token's claims; `now` is seconds since the epoch. The order decides
    /// which error a token with several faults gets, and is part of the tested behaviour.
    pub fn check(&self, claims: &RegisteredClaims<'_>, now: i64) -> Result<(), Error> {
        // Claims RFC 9068 §2.2 requires in every access token.
        for (name, member) in [
            ("iss", &claims.iss),
            ("exp", &claims.exp),
            ("aud", &claims.aud),
            ("sub", &claims.sub),
            ("client_id", &claims.client_id),
            ("iat", &claims.iat),
            ("jti", &claims.jti),
        ] {
            if member.is_none() {
                return Err(Error::MissingClaim(name));
            }
        }
        if string_claim(&claims.iss, "iss")? != Some(self.issuer.as_str()) {
            return Err(Error::WrongIssuer);
        }
        if !audience_values(&claims.aud)?.iter().any(|aud| *aud == self.audience) {
            return Err(Error::WrongAudience);
        }
        let exp = required(numeric_date(&claims.exp, "exp")?, "exp")?;
        if now >= exp.saturating_add(self.leeway_secs) {
            return Err(Error::Expired);
        }
        if let Some(nbf) = numeric_date(&claims.nbf, "nbf")?
            && now.saturating_add(self.leeway_secs) < nbf
        {
            return Err(Error::NotYetValid);
        }
        let iat = required(numeric_date(&claims.iat, "iat")?, "iat")?;
        if now.saturating_add(self.leeway_secs) < iat {
            return Err(Error::IssuedInFuture);
        }
        for (name, member) in [("sub", &claims.sub), ("jti", &claims.jti), ("client_id", &claims.client_id)] {
            if required(string_claim(member, name)?, name)?.is_empty() {
                return Err(Error::InvalidClaim(name));
            }
        }
        string_claim(&claims.sid, "sid")?;
        string_claim(&claims.scope, "scope")?;
        if let Some(act) = &claims.act {
            act.check()?;
        }
        claims.confirmation_jkt()?;
        if self.required.iter().any(|name| !claims.contains(name)) {
            return Err(Error::MissingClaim("a configured required claim"));
        }
        Ok(())
    }
}
