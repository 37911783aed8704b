//! DPoP (RFC 9449), the decisions: whether a token request's proof binds its tokens, and the
//! server-provided nonces (§8).
//!
//! The proof itself (its signature with the key in its header, `htm`, `htu`, `iat`, `ath`) is
//! checked by `jwtd_verify::dpop`, the same code resource servers run; what is decided here is
//! what a checked proof means for a client, and the nonces, which need no storage: a nonce is
//! the time window it was made in and an HMAC of it under a key every instance derives from the
//! master key, so any instance accepts what another one gave out.

use aws_lc_rs::constant_time;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::accounts::clients::DpopMode;
use crate::keys::master::MasterKey;

/// `token_type` of a DPoP-bound access token (RFC 9449 §5).
pub const DPOP_TOKEN_TYPE: &str = "DPoP";
/// `token_type` of a bearer token (RFC 6750).
pub const BEARER_TOKEN_TYPE: &str = "Bearer";

/// How long one nonce window lasts. A nonce is accepted in its window and the next, so for one
/// to two windows: long enough for a client to use it, short enough that a proof made with it
/// cannot be stockpiled (RFC 9449 §8, §11.1).
pub const NONCE_WINDOW_SECS: i64 = 60;

/// Length of a nonce's MAC: 128 bits, truncated from HMAC-SHA256.
const NONCE_MAC_LEN: usize = 16;

/// Why a token request's DPoP proof does not do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The client requires DPoP and the request had no proof.
    ProofRequired,
    /// The request carried the `DPoP` header more than once (RFC 9449 §4.3: exactly one).
    SeveralProofs,
}

impl Refusal {
    pub fn description(self) -> &'static str {
        match self {
            Self::ProofRequired => "this client must send a DPoP proof",
            Self::SeveralProofs => "send exactly one DPoP header",
        }
    }
}

/// What to do with a token request's `DPoP` headers for a client in `mode`: `Ok(true)` when
/// the (one) proof must be checked and binds the tokens, `Ok(false)` when the tokens are Bearer
/// (no proof, or DPoP is off for the client, which ignores the header as a server without DPoP
/// would).
pub fn takes_proof(mode: DpopMode, proofs: usize) -> Result<bool, Refusal> {
    match (mode, proofs) {
        (DpopMode::Off, _) => Ok(false),
        (_, 0) if mode == DpopMode::Required => Err(Refusal::ProofRequired),
        (_, 0) => Ok(false),
        (_, 1) => Ok(true),
        _ => Err(Refusal::SeveralProofs),
    }
}

/// A nonce for proofs made at `now`.
pub fn nonce(master: &MasterKey, now: i64) -> String {
    nonce_for_window(master, now.div_euclid(NONCE_WINDOW_SECS))
}

/// Whether `nonce` is one [`nonce`] gave out in the window of `now` or the one before.
pub fn nonce_is_fresh(master: &MasterKey, presented: &str, now: i64) -> bool {
    let window = now.div_euclid(NONCE_WINDOW_SECS);
    [window, window - 1].into_iter().any(|w| {
        constant_time::verify_slices_are_equal(nonce_for_window(master, w).as_bytes(), presented.as_bytes())
            .is_ok()
    })
}

fn nonce_for_window(master: &MasterKey, window: i64) -> String {
    let window = window.to_be_bytes();
    let tag = master.nonce_mac(&window);
    let mac = tag.as_ref();
    let mut bytes = Vec::with_capacity(window.len() + NONCE_MAC_LEN);
    bytes.extend_from_slice(&window);
    bytes.extend_from_slice(mac.get(..NONCE_MAC_LEN).unwrap_or(mac));
    URL_SAFE_NO_PAD.encode(bytes)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn the_mode_decides_what_a_proof_does() {
        type Case = (DpopMode, usize, Result<bool, Refusal>);
        #[rustfmt::skip]
        let table: &[Case] = &[
            (DpopMode::Off, 0, Ok(false)),
            (DpopMode::Off, 1, Ok(false)),
            (DpopMode::Off, 2, Ok(false)),
            (DpopMode::Optional, 0, Ok(false)),
            (DpopMode::Optional, 1, Ok(true)),
            (DpopMode::Optional, 2, Err(Refusal::SeveralProofs)),
            (DpopMode::Required, 0, Err(Refusal::ProofRequired)),
            (DpopMode::Required, 1, Ok(true)),
            (DpopMode::Required, 2, Err(Refusal::SeveralProofs)),
        ];
        for (mode, proofs, expected) in table {
            assert_eq!(takes_proof(*mode, *proofs), *expected, "{mode:?} with {proofs} proofs");
        }
    }

    #[test]
    fn nonces_last_one_to_two_windows_and_need_the_master_key() {
        let master = MasterKey::from_bytes(&[7; 32]).unwrap();
        let other = MasterKey::from_bytes(&[8; 32]).unwrap();
        let start = 60 * 1_000;
        let given = nonce(&master, start + 5);
        assert_eq!(given, nonce(&master, start + 59), "one nonce per window");
        assert_ne!(given, nonce(&master, start + 60));
        assert!(nonce_is_fresh(&master, &given, start + 5));
        assert!(nonce_is_fresh(&master, &given, start + 119), "good in the next window");
        assert!(!nonce_is_fresh(&master, &given, start + 120), "not after that");
        assert!(!nonce_is_fresh(&master, &given, start - 1), "not before it was made");
        assert!(!nonce_is_fresh(&other, &given, start + 5), "another master key never accepts it");
        assert!(!nonce_is_fresh(&master, &nonce(&other, start), start));
        assert!(!nonce_is_fresh(&master, "", start));
        let mut forged = given.clone();
        forged.replace_range(0..1, if given.starts_with('A') { "B" } else { "A" });
        assert!(!nonce_is_fresh(&master, &forged, start + 5));
    }
}
