//! One synchronous pass over a compact JWS: segments, header, base64url, key, signature.
//! Nothing here waits: when the cached keys cannot answer, the pass says so and the caller
//! fetches keys and runs it again.

use std::sync::Arc;

use super::{Finish, Verifier};
use crate::Error;
use crate::algorithm::Algorithm;
use crate::compact::{decode_into, signing_input, split_compact};
use crate::header::{Header, is_media_type};
use crate::jwks::{KeySet, MAX_KID_LEN};
use crate::member::Member;
use crate::strict_json::StrictJsonError;

/// Where a pass takes its key from.
pub(super) enum KeySource<'k> {
    /// The cache's current set, if it is fresh and holds the token's `kid` (else the pass
    /// ends with [`Pass::NeedKeys`]).
    Cached,
    /// This set, whatever it holds (the second pass, after the cache was asked).
    Given(&'k KeySet),
}

pub(super) enum Pass<T> {
    Done(T),
    /// The cached keys could not answer for this `kid`.
    NeedKeys(String),
}

/// The longest signature of any supported algorithm (RSA-8192), a header far longer than
/// jwtd's (about 70 bytes), and claims longer than most of jwtd's (300 to 600 bytes):
/// segments up to these sizes decode on the stack, longer ones on the heap.
const SIGNATURE_BUFFER: usize = 1024;
const HEADER_BUFFER: usize = 512;
const PAYLOAD_BUFFER: usize = 1536;

impl Verifier {
    pub(super) fn signed_pass<T>(
        &self,
        token: &str,
        keys: KeySource<'_>,
        finish: &Finish<'_, T>,
    ) -> Result<Pass<T>, Error> {
        let inner = &self.inner;
        if token.len() > inner.max_token_bytes {
            return Err(Error::TokenTooLarge);
        }
        let (header_b64, payload_b64, signature_b64) = split_compact(token).ok_or(Error::Malformed)?;
        let mut header_buffer = [0_u8; HEADER_BUFFER];
        let header_bytes = decode_into(header_b64, &mut header_buffer).ok_or(Error::Malformed)?;
        let header = Header::parse(header_bytes.as_ref()).map_err(|e| match e {
            StrictJsonError::DuplicateMember => Error::DuplicateMember,
            StrictJsonError::Invalid => Error::MalformedHeader,
        })?;
        let (alg, kid) = self.check_header(&header)?;
        // Decoded now so a malformed segment is refused as such; parsed only once signed.
        let mut payload_buffer = [0_u8; PAYLOAD_BUFFER];
        let payload = decode_into(payload_b64, &mut payload_buffer).ok_or(Error::Malformed)?;
        let mut signature_buffer = [0_u8; SIGNATURE_BUFFER];
        let signature = decode_into(signature_b64, &mut signature_buffer).ok_or(Error::Malformed)?;

        let cached: Arc<KeySet>;
        let key = match keys {
            KeySource::Given(set) => set.find(kid, alg)?,
            KeySource::Cached => {
                let Some(set) = inner.keys.fresh_keys() else { return Ok(Pass::NeedKeys(kid.to_owned())) };
                cached = set;
                match cached.find(kid, alg) {
                    Err(Error::UnknownKey) => return Ok(Pass::NeedKeys(kid.to_owned())),
                    found => found?,
                }
            }
        };
        let signed = signing_input(token, header_b64, payload_b64).ok_or(Error::Malformed)?;
        key.verify_signature(signed, signature.as_ref())?;
        finish(payload.as_ref(), kid).map(Pass::Done)
    }

    /// `alg` allowed, no `crit`, an access-token `typ`, a sane `kid`.
    fn check_header<'h>(&self, header: &'h Header<'_>) -> Result<(Algorithm, &'h str), Error> {
        let alg = header
            .alg
            .as_ref()
            .and_then(Member::as_str)
            .and_then(Algorithm::from_name)
            .filter(|alg| self.inner.keys.algorithms().contains(alg))
            .ok_or(Error::AlgorithmNotAllowed)?;
        // RFC 7515 §4.1.11: a recipient must refuse extensions it does not understand; we
        // understand none.
        if header.crit {
            return Err(Error::CriticalHeader);
        }
        let typ = header.typ.as_ref().and_then(Member::as_str).ok_or(Error::WrongType)?;
        if !self.type_is_accepted(typ) {
            return Err(Error::WrongType);
        }
        match header.kid.as_ref().and_then(Member::as_str) {
            Some(kid) if !kid.is_empty() && kid.len() <= MAX_KID_LEN => Ok((alg, kid)),
            _ => Err(Error::InvalidKeyId),
        }
    }

    /// RFC 9068 §2.1 and RFC 8725 §3.11: `at+jwt`, with or without the `application/`
    /// prefix, compared case-insensitively like any media type.
    fn type_is_accepted(&self, typ: &str) -> bool {
        is_media_type(typ, "at+jwt") || (self.inner.accept_jwt_type && is_media_type(typ, "jwt"))
    }
}
