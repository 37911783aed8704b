//! Refresh-token values: opaque `jwtd_rt_` + 32 bytes base64url. Only their SHA-256 is stored.
//!
//! A family's first token is random; every successor is derived from its parent with an HMAC
//! under a key only jwtd holds. That lets a replay of the parent within the reuse-grace window
//! be answered with the very same successor, without storing any plaintext and without forking
//! the family.

use std::fmt;

use aws_lc_rs::digest;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::keys::master::MasterKey;

pub const PREFIX: &str = "jwtd_rt_";
const ENCODED_LEN: usize = PREFIX.len() + 43;

/// A refresh token in plain text: never printed, never stored.
#[derive(Clone, PartialEq, Eq)]
pub struct RefreshToken(String);

impl fmt::Debug for RefreshToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RefreshToken(<redacted>)")
    }
}

impl RefreshToken {
    pub fn generate() -> Result<Self, aws_lc_rs::error::Unspecified> {
        let mut bytes = [0u8; 32];
        aws_lc_rs::rand::fill(&mut bytes)?;
        Ok(Self(format!("{PREFIX}{}", URL_SAFE_NO_PAD.encode(bytes))))
    }

    /// Accepts only the exact shape jwtd issues; anything else cannot be one of ours.
    pub fn parse(text: &str) -> Option<Self> {
        let body = text.strip_prefix(PREFIX)?;
        (text.len() == ENCODED_LEN && URL_SAFE_NO_PAD.decode(body).is_ok_and(|b| b.len() == 32))
            .then(|| Self(text.to_owned()))
    }

    /// The token that follows this one in its family.
    pub fn successor(&self, master: &MasterKey) -> Self {
        let tag = master.successor_mac(self.0.as_bytes());
        Self(format!("{PREFIX}{}", URL_SAFE_NO_PAD.encode(tag.as_ref())))
    }

    pub fn hash(&self) -> Vec<u8> {
        digest::digest(&digest::SHA256, self.0.as_bytes()).as_ref().to_vec()
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_have_one_shape_and_deterministic_successors() {
        let master = MasterKey::from_bytes(&[3; 32]).unwrap();
        let token = RefreshToken::generate().unwrap();
        assert_eq!(RefreshToken::parse(token.expose()), Some(token.clone()));
        let next = token.successor(&master);
        assert_eq!(next, token.successor(&master));
        assert_ne!(next, token);
        assert!(RefreshToken::parse(next.expose()).is_some());
        let other_master = MasterKey::from_bytes(&[4; 32]).unwrap();
        assert_ne!(token.successor(&other_master), next);
        assert_eq!(token.hash().len(), 32);
        assert!(!format!("{token:?}").contains(token.expose()));
        for bad in [
            "",
            "jwtd_rt_",
            "jwtd_rt_short",
            "xxxx_rt_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
            "jwtd_rt_!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!",
        ] {
            assert!(RefreshToken::parse(bad).is_none(), "{bad}");
        }
    }
}
