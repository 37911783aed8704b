//! Refresh-token values. Two shapes, both `jwtd_rt_` + base64url:
//!
//! - **family tokens** (what jwtd issues): 72 bytes, the family id (16), the generation (8, big
//!   endian), a secret (32) and a tag (16). The family's row stores only the SHA-256 of its
//!   newest token (the head), so a rotation changes one row and inserts none. The tag, an HMAC
//!   under a key derived from the master key, proves jwtd made the token: an older generation
//!   presented again is recognised as a replay without any stored row, and a forged one is
//!   unknown (it cannot revoke anyone's family).
//! - **row tokens** (issued before family tokens): 32 random bytes, one stored row per
//!   generation. They keep working until their families end (see `authority::families`).
//!
//! A family's first secret is random; every successor's secret is an HMAC of its parent under
//! another key only jwtd holds. That lets a replay of the parent within the reuse-grace window
//! be answered with the very same successor, without storing any plaintext and without forking
//! the family; and since the first secret was never stored, neither the database nor the master
//! key alone, nor both together, yields a usable token.

use std::fmt;

use aws_lc_rs::constant_time;
use aws_lc_rs::digest;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::keys::master::MasterKey;

pub const PREFIX: &str = "jwtd_rt_";
const ROW_TOKEN_BYTES: usize = 32;
const FAMILY_ID_BYTES: usize = 16;
const GENERATION_BYTES: usize = 8;
const SECRET_BYTES: usize = 32;
const TAG_BYTES: usize = 16;
const FAMILY_TOKEN_BYTES: usize = FAMILY_ID_BYTES + GENERATION_BYTES + SECRET_BYTES + TAG_BYTES;
/// Longest text [`RefreshToken::parse`] looks at: a family token.
const MAX_TEXT: usize = PREFIX.len() + FAMILY_TOKEN_BYTES.div_ceil(3) * 4;

/// A refresh token in plain text: never printed, never stored.
#[derive(Clone, PartialEq, Eq)]
pub struct RefreshToken(String);

impl fmt::Debug for RefreshToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RefreshToken(<redacted>)")
    }
}

/// Where a family token says it belongs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Position {
    pub family_id: String,
    pub generation: i64,
}

/// What a presented token is, once its tag is checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Located {
    /// A token of the row shape: its family is found through its stored hash.
    Row,
    /// A family token jwtd made.
    Family(Position),
    /// A family token whose tag does not verify: jwtd never issued it.
    Forged,
}

impl RefreshToken {
    /// The first token of the family `family_id` (the text [`crate::accounts::clients::random_id`]
    /// makes: base64url of 16 bytes).
    pub fn first(family_id: &str, master: &MasterKey) -> Result<Self, aws_lc_rs::error::Unspecified> {
        let id = decode_family_id(family_id).ok_or(aws_lc_rs::error::Unspecified)?;
        let mut secret = [0u8; SECRET_BYTES];
        aws_lc_rs::rand::fill(&mut secret)?;
        Ok(Self::family_token(&id, 1, &secret, master))
    }

    /// A random token of the row shape, as jwtd issued before family tokens (what the tests
    /// and benchmarks of those families seed).
    pub fn generate_row_token() -> Result<Self, aws_lc_rs::error::Unspecified> {
        let mut bytes = [0u8; ROW_TOKEN_BYTES];
        aws_lc_rs::rand::fill(&mut bytes)?;
        Ok(Self(format!("{PREFIX}{}", URL_SAFE_NO_PAD.encode(bytes))))
    }

    /// Accepts only the exact shapes jwtd issues; anything else cannot be one of ours. The tag
    /// is checked by [`Self::locate`].
    pub fn parse(text: &str) -> Option<Self> {
        if text.len() > MAX_TEXT {
            return None;
        }
        let length = URL_SAFE_NO_PAD.decode(text.strip_prefix(PREFIX)?).ok()?.len();
        [ROW_TOKEN_BYTES, FAMILY_TOKEN_BYTES].contains(&length).then(|| Self(text.to_owned()))
    }

    /// Which family and generation the token is, if it is a family token with a good tag.
    pub fn locate(&self, master: &MasterKey) -> Located {
        let Some(bytes) = self.body().filter(|b| b.len() == FAMILY_TOKEN_BYTES) else {
            return Located::Row;
        };
        let (signed, tag) = bytes.split_at(FAMILY_TOKEN_BYTES - TAG_BYTES);
        let expected = master.refresh_tag_mac(signed);
        let genuine = expected
            .as_ref()
            .get(..TAG_BYTES)
            .is_some_and(|e| constant_time::verify_slices_are_equal(e, tag).is_ok());
        let generation = signed
            .get(FAMILY_ID_BYTES..FAMILY_ID_BYTES + GENERATION_BYTES)
            .and_then(|g| <[u8; GENERATION_BYTES]>::try_from(g).ok())
            .and_then(|g| i64::try_from(u64::from_be_bytes(g)).ok());
        match (genuine, generation, signed.get(..FAMILY_ID_BYTES)) {
            (true, Some(generation), Some(id)) => {
                Located::Family(Position { family_id: URL_SAFE_NO_PAD.encode(id), generation })
            }
            _ => Located::Forged,
        }
    }

    /// The token that follows this one in its family: a family token of the next generation for
    /// a family token, a row token for a row token. Its secret is derived from this token, so
    /// asking again gives the same token.
    pub fn successor(&self, master: &MasterKey) -> Self {
        let derived = master.successor_mac(self.0.as_bytes());
        let located = self.body().filter(|b| b.len() == FAMILY_TOKEN_BYTES).and_then(|bytes| {
            let id = <[u8; FAMILY_ID_BYTES]>::try_from(bytes.get(..FAMILY_ID_BYTES)?).ok()?;
            let generation = bytes.get(FAMILY_ID_BYTES..FAMILY_ID_BYTES + GENERATION_BYTES)?;
            let generation = u64::from_be_bytes(<[u8; GENERATION_BYTES]>::try_from(generation).ok()?);
            Some((id, generation))
        });
        match (located, <[u8; SECRET_BYTES]>::try_from(derived.as_ref())) {
            (Some((id, generation)), Ok(secret)) => {
                Self::family_token(&id, generation.saturating_add(1), &secret, master)
            }
            _ => Self(format!("{PREFIX}{}", URL_SAFE_NO_PAD.encode(derived.as_ref()))),
        }
    }

    pub fn hash(&self) -> Vec<u8> {
        digest::digest(&digest::SHA256, self.0.as_bytes()).as_ref().to_vec()
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    fn body(&self) -> Option<Vec<u8>> {
        URL_SAFE_NO_PAD.decode(self.0.strip_prefix(PREFIX)?).ok()
    }

    fn family_token(
        id: &[u8; FAMILY_ID_BYTES],
        generation: u64,
        secret: &[u8; SECRET_BYTES],
        master: &MasterKey,
    ) -> Self {
        let mut bytes = Vec::with_capacity(FAMILY_TOKEN_BYTES);
        bytes.extend_from_slice(id);
        bytes.extend_from_slice(&generation.to_be_bytes());
        bytes.extend_from_slice(secret);
        let tag = master.refresh_tag_mac(&bytes);
        bytes.extend_from_slice(tag.as_ref().get(..TAG_BYTES).unwrap_or_default());
        Self(format!("{PREFIX}{}", URL_SAFE_NO_PAD.encode(&bytes)))
    }
}

fn decode_family_id(id: &str) -> Option<[u8; FAMILY_ID_BYTES]> {
    <[u8; FAMILY_ID_BYTES]>::try_from(URL_SAFE_NO_PAD.decode(id).ok()?).ok()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn master(byte: u8) -> MasterKey {
        MasterKey::from_bytes(&[byte; 32]).unwrap()
    }

    #[test]
    fn family_tokens_carry_their_family_and_generation_and_chain_deterministically() {
        let key = master(3);
        let family = crate::accounts::clients::random_id().unwrap();
        let first = RefreshToken::first(&family, &key).unwrap();
        assert_eq!(RefreshToken::parse(first.expose()), Some(first.clone()));
        assert_eq!(
            first.locate(&key),
            Located::Family(Position { family_id: family.clone(), generation: 1 })
        );
        let second = first.successor(&key);
        assert_eq!(second, first.successor(&key), "the same successor every time");
        assert_ne!(second, first);
        assert_eq!(
            second.locate(&key),
            Located::Family(Position { family_id: family.clone(), generation: 2 })
        );
        assert_ne!(first.successor(&master(4)), second, "successors depend on the master key");
        assert_eq!(first.locate(&master(4)), Located::Forged, "another master key never made it");
        assert_ne!(RefreshToken::first(&family, &key).unwrap(), first, "first secrets are random");
        assert!(RefreshToken::first("not a family id", &key).is_err());
        assert_eq!(first.hash().len(), 32);
        assert!(!format!("{first:?}").contains(first.expose()));
    }

    #[test]
    fn a_changed_family_generation_or_secret_breaks_the_tag() {
        let key = master(3);
        let token = RefreshToken::first(&crate::accounts::clients::random_id().unwrap(), &key).unwrap();
        let bytes = token.body().unwrap();
        for at in [0, FAMILY_ID_BYTES + GENERATION_BYTES - 1, FAMILY_ID_BYTES + GENERATION_BYTES, 71] {
            let mut changed = bytes.clone();
            changed[at] ^= 1;
            let text = format!("{PREFIX}{}", URL_SAFE_NO_PAD.encode(&changed));
            assert_eq!(RefreshToken::parse(&text).unwrap().locate(&key), Located::Forged, "byte {at}");
        }
    }

    #[test]
    fn row_tokens_still_parse_and_chain_as_row_tokens() {
        let key = master(3);
        let token = RefreshToken::generate_row_token().unwrap();
        assert_eq!(RefreshToken::parse(token.expose()), Some(token.clone()));
        assert_eq!(token.locate(&key), Located::Row);
        let next = token.successor(&key);
        assert_eq!(next, token.successor(&key));
        assert_eq!(next.locate(&key), Located::Row);
        assert_eq!(next.expose().len(), token.expose().len());
    }

    #[test]
    fn other_shapes_are_refused() {
        let long = format!("{PREFIX}{}", "A".repeat(10_000));
        for bad in [
            "",
            "jwtd_rt_",
            "jwtd_rt_short",
            "xxxx_rt_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
            "jwtd_rt_!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!",
            "jwtd_rt_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
            &long,
        ] {
            assert!(RefreshToken::parse(bad).is_none(), "{bad}");
        }
    }
}
