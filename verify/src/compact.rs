//! The compact JWS serialisation (RFC 7515 §7.1), split and decoded without copying what fits
//! on the stack. Shared by access tokens and DPoP proofs.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// Exactly three dot-separated segments (the dots found with SIMD: this scans the whole
/// token on every verification).
pub(crate) fn split_compact(token: &str) -> Option<(&str, &str, &str)> {
    let mut dots = memchr::memchr_iter(b'.', token.as_bytes());
    let (Some(first), Some(second), None) = (dots.next(), dots.next(), dots.next()) else { return None };
    Some((token.get(..first)?, token.get(first + 1..second)?, token.get(second + 1..)?))
}

/// The bytes a signature covers: the header and payload segments with the dot between them.
pub(crate) fn signing_input<'t>(token: &'t str, header: &str, payload: &str) -> Option<&'t [u8]> {
    token.as_bytes().get(..header.len() + 1 + payload.len())
}

/// Decoded bytes: in the caller's buffer when they fit, else on the heap (an oversized
/// signature is then refused by the signature check, like any other wrong one).
pub(crate) enum Decoded<'b> {
    Buffer(&'b [u8]),
    Heap(Vec<u8>),
}

impl AsRef<[u8]> for Decoded<'_> {
    fn as_ref(&self) -> &[u8] {
        match self {
            Self::Buffer(bytes) => bytes,
            Self::Heap(bytes) => bytes,
        }
    }
}

/// Strict base64url (RFC 7515 §2): no padding, no other alphabet, no stray bits. `None` when
/// the segment is not that.
pub(crate) fn decode_into<'b, const N: usize>(segment: &str, buffer: &'b mut [u8; N]) -> Option<Decoded<'b>> {
    if base64::decoded_len_estimate(segment.len()) > N {
        return URL_SAFE_NO_PAD.decode(segment).map(Decoded::Heap).ok();
    }
    let len = URL_SAFE_NO_PAD.decode_slice(segment, buffer).ok()?;
    Some(Decoded::Buffer(buffer.get(..len)?))
}
