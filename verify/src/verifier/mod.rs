//! The token check itself: compact JWS parsing, header rules, signature, claims.
//!
//! Every step refuses rather than guesses. The header's `alg` is only a claim by the token;
//! the key (chosen by `kid`) decides which algorithm may check it. Headers that would point
//! the verifier at other keys (`jku`, `x5u`, `jwk`, `x5c`) are ignored, never fetched or
//! trusted. The payload is parsed only after the signature verifies.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::algorithm::Algorithm;
use crate::claims::{self, AccessClaims, ClaimsPolicy, Scope};
use crate::jwks::{JwksCache, MAX_KID_LEN};
use crate::strict_json::{StrictJsonError, parse_object};
use crate::{Clock, Error, SystemClock};

/// Largest token accepted by default. jwtd's tokens are about 1 KiB; anything near this is an
/// attempt to make the verifier work for nothing.
pub const DEFAULT_MAX_TOKEN_BYTES: usize = 8 * 1024;

/// Verifies jwtd access tokens against a [`JwksCache`]. Cloning is cheap.
#[derive(Clone)]
pub struct Verifier {
    inner: Arc<VerifierInner>,
}

struct VerifierInner {
    keys: JwksCache,
    policy: ClaimsPolicy,
    clock: Arc<dyn Clock>,
    accept_jwt_type: bool,
    max_token_bytes: usize,
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Verifier")
            .field("issuer", &self.inner.policy.issuer)
            .field("audience", &self.inner.policy.audience)
            .field("keys", &self.inner.keys)
            .finish_non_exhaustive()
    }
}

/// A verified token's claims decoded as `C`, plus its scope (kept apart so scope checks work
/// whatever `C` is).
#[derive(Debug, Clone)]
pub struct Verified<C> {
    pub claims: C,
    pub scope: Scope,
}

/// Configures a [`Verifier`]; start from [`Verifier::builder`].
#[must_use]
pub struct VerifierBuilder {
    keys: JwksCache,
    policy: ClaimsPolicy,
    clock: Arc<dyn Clock>,
    accept_jwt_type: bool,
    max_token_bytes: usize,
}

impl VerifierBuilder {
    /// Tolerance for clock skew on `exp`, `nbf` and `iat` (default 60 s).
    pub fn leeway(mut self, leeway: Duration) -> Self {
        self.policy.leeway_secs = i64::try_from(leeway.as_secs()).unwrap_or(i64::MAX);
        self
    }

    /// Claims that must be present beyond those RFC 9068 requires (`iss exp aud sub client_id
    /// iat jti` are always required), e.g. `sid` to accept only user tokens.
    pub fn require_claims<I, S>(mut self, names: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.policy.required.extend(names.into_iter().map(Into::into));
        self
    }

    /// Compatibility switch: also accept `typ: JWT` (issuers that predate RFC 9068). Off by
    /// default, because it lets an ID token pass as an access token.
    pub fn accept_jwt_type(mut self, accept: bool) -> Self {
        self.accept_jwt_type = accept;
        self
    }

    /// The clock for `exp`/`nbf`/`iat` (default: the system clock).
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Largest token accepted (default 8 KiB).
    pub fn max_token_bytes(mut self, max: usize) -> Self {
        self.max_token_bytes = max;
        self
    }

    pub fn build(self) -> Verifier {
        Verifier {
            inner: Arc::new(VerifierInner {
                keys: self.keys,
                policy: self.policy,
                clock: self.clock,
                accept_jwt_type: self.accept_jwt_type,
                max_token_bytes: self.max_token_bytes,
            }),
        }
    }
}

impl Verifier {
    /// A verifier for tokens issued by `issuer` (compared as an exact string) for `audience`.
    pub fn builder(
        keys: JwksCache,
        issuer: impl Into<String>,
        audience: impl Into<String>,
    ) -> VerifierBuilder {
        VerifierBuilder {
            keys,
            policy: ClaimsPolicy {
                issuer: issuer.into(),
                audience: audience.into(),
                leeway_secs: 60,
                required: Vec::new(),
            },
            clock: Arc::new(SystemClock),
            accept_jwt_type: false,
            max_token_bytes: DEFAULT_MAX_TOKEN_BYTES,
        }
    }

    pub fn keys(&self) -> &JwksCache {
        &self.inner.keys
    }

    /// Verifies `token` and returns its typed claims.
    pub async fn verify(&self, token: &str) -> Result<AccessClaims, Error> {
        AccessClaims::from_map(self.verify_to_map(token).await?)
    }

    /// Verifies `token` and decodes its claims as `C` (all checks of [`Self::verify`] apply
    /// first, so `C` only needs the fields the application cares about).
    pub async fn verify_as<C: DeserializeOwned>(&self, token: &str) -> Result<Verified<C>, Error> {
        let map = self.verify_to_map(token).await?;
        let scope = claims::scope(&map)?;
        let claims = C::deserialize(Value::Object(map)).map_err(|_| Error::InvalidClaim("custom claims"))?;
        Ok(Verified { claims, scope })
    }

    async fn verify_to_map(&self, token: &str) -> Result<Map<String, Value>, Error> {
        let inner = &self.inner;
        if token.len() > inner.max_token_bytes {
            return Err(Error::TokenTooLarge);
        }
        let mut segments = token.split('.');
        let (Some(header_b64), Some(payload_b64), Some(signature_b64), None) =
            (segments.next(), segments.next(), segments.next(), segments.next())
        else {
            return Err(Error::Malformed);
        };
        let header = parse_object(&decode_segment(header_b64)?).map_err(|e| match e {
            StrictJsonError::DuplicateMember => Error::DuplicateMember,
            StrictJsonError::Invalid => Error::MalformedHeader,
        })?;
        let (alg, kid) = self.check_header(&header)?;
        // Decoded now so a malformed segment is refused as such; parsed only once signed.
        let payload = decode_segment(payload_b64)?;
        let signature = decode_segment(signature_b64)?;

        let key_set = inner.keys.key_set_with(kid).await?;
        let key = key_set.find(kid, alg)?;
        let signing_input_len = header_b64.len() + 1 + payload_b64.len();
        let signing_input = token.as_bytes().get(..signing_input_len).ok_or(Error::Malformed)?;
        key.verify_signature(signing_input, &signature)?;

        let claims = parse_object(&payload).map_err(|e| match e {
            StrictJsonError::DuplicateMember => Error::DuplicateMember,
            StrictJsonError::Invalid => Error::MalformedClaims,
        })?;
        inner.policy.check(&claims, inner.clock.now())?;
        Ok(claims)
    }

    /// `alg` allowed, no `crit`, an access-token `typ`, a sane `kid`.
    fn check_header<'h>(&self, header: &'h Map<String, Value>) -> Result<(Algorithm, &'h str), Error> {
        let alg = match header.get("alg") {
            Some(Value::String(name)) => Algorithm::from_name(name),
            _ => None,
        }
        .filter(|alg| self.inner.keys.algorithms().contains(alg))
        .ok_or(Error::AlgorithmNotAllowed)?;
        // RFC 7515 §4.1.11: a recipient must refuse extensions it does not understand; we
        // understand none.
        if header.contains_key("crit") {
            return Err(Error::CriticalHeader);
        }
        let typ = match header.get("typ") {
            Some(Value::String(typ)) => typ.as_str(),
            _ => return Err(Error::WrongType),
        };
        if !self.type_is_accepted(typ) {
            return Err(Error::WrongType);
        }
        match header.get("kid") {
            Some(Value::String(kid)) if !kid.is_empty() && kid.len() <= MAX_KID_LEN => Ok((alg, kid)),
            _ => Err(Error::InvalidKeyId),
        }
    }

    /// RFC 9068 §2.1 and RFC 8725 §3.11: `at+jwt`, with or without the `application/`
    /// prefix, compared case-insensitively like any media type.
    fn type_is_accepted(&self, typ: &str) -> bool {
        let short = strip_prefix_ignore_case(typ, "application/").unwrap_or(typ);
        short.eq_ignore_ascii_case("at+jwt")
            || (self.inner.accept_jwt_type && short.eq_ignore_ascii_case("jwt"))
    }
}

fn strip_prefix_ignore_case<'a>(text: &'a str, prefix: &str) -> Option<&'a str> {
    let head = text.get(..prefix.len())?;
    if head.eq_ignore_ascii_case(prefix) { text.get(prefix.len()..) } else { None }
}

/// Strict base64url (RFC 7515 §2): no padding, no other alphabet, no stray bits.
fn decode_segment(segment: &str) -> Result<Vec<u8>, Error> {
    URL_SAFE_NO_PAD.decode(segment).map_err(|_| Error::Malformed)
}
