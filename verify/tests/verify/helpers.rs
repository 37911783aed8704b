//! Test keys and hand-built tokens, so malformed tokens are as easy to make as good ones.

use std::sync::{Arc, OnceLock};

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::{KeyPair as RsaKeyPair, KeySize};
use aws_lc_rs::signature::{KeyPair, RSA_PKCS1_SHA256, RsaEncoding};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jwtd_verify::{JwksCache, KeySet, ManualClock, Verifier, VerifierBuilder};
use serde_json::{Value, json};

pub const ISSUER: &str = "https://auth.example.com";
pub const AUDIENCE: &str = "https://api.example.com";
pub const NOW: i64 = 1_800_000_000;

pub fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// An RSA-2048 key with a `kid`. Generating one costs tens of milliseconds, so the tests share
/// a few.
pub struct TestKey {
    pub pair: RsaKeyPair,
    pub kid: String,
}

impl TestKey {
    pub fn generate(kid: &str) -> Self {
        Self { pair: RsaKeyPair::generate(KeySize::Rsa2048).unwrap(), kid: kid.to_owned() }
    }

    pub fn modulus(&self) -> Vec<u8> {
        self.pair.public_key().modulus().big_endian_without_leading_zero().to_vec()
    }

    pub fn jwk(&self) -> Value {
        let public = self.pair.public_key();
        json!({
            "kty": "RSA", "use": "sig", "alg": "RS256", "kid": self.kid,
            "n": b64(public.modulus().big_endian_without_leading_zero()),
            "e": b64(public.exponent().big_endian_without_leading_zero()),
        })
    }

    pub fn rsa_signature(&self, encoding: &'static dyn RsaEncoding, input: &[u8]) -> Vec<u8> {
        let mut signature = vec![0; self.pair.public_modulus_len()];
        self.pair.sign(encoding, &SystemRandom::new(), input, &mut signature).unwrap();
        signature
    }

    /// `b64(header).b64(payload).b64(RS256 signature)` over exactly these bytes.
    pub fn sign_raw(&self, header: &[u8], payload: &[u8]) -> String {
        let input = format!("{}.{}", b64(header), b64(payload));
        let signature = self.rsa_signature(&RSA_PKCS1_SHA256, input.as_bytes());
        format!("{input}.{}", b64(&signature))
    }

    pub fn sign(&self, header: &Value, claims: &Value) -> String {
        self.sign_raw(header.to_string().as_bytes(), claims.to_string().as_bytes())
    }

    /// A good access token for this key with `claims`.
    pub fn token(&self, claims: &Value) -> String {
        self.sign(&header(&self.kid), claims)
    }
}

pub fn key() -> &'static TestKey {
    static KEY: OnceLock<TestKey> = OnceLock::new();
    KEY.get_or_init(|| TestKey::generate("test-key-1"))
}

pub fn other_key() -> &'static TestKey {
    static KEY: OnceLock<TestKey> = OnceLock::new();
    KEY.get_or_init(|| TestKey::generate("test-key-2"))
}

pub fn jwks(keys: &[&TestKey]) -> String {
    json!({ "keys": keys.iter().map(|k| k.jwk()).collect::<Vec<_>>() }).to_string()
}

pub fn header(kid: &str) -> Value {
    json!({ "alg": "RS256", "typ": "at+jwt", "kid": kid })
}

/// The claims jwtd puts in a user's access token, valid at [`NOW`].
pub fn claims() -> Value {
    json!({
        "iss": ISSUER, "sub": "user-42", "aud": AUDIENCE,
        "exp": NOW + 900, "iat": NOW, "nbf": NOW, "jti": "jti-1",
        "client_id": "billing", "scope": "invoices:read profile", "sid": "family-7",
        "roles": ["admin"],
    })
}

pub fn with(mut claims: Value, name: &str, value: Value) -> Value {
    claims[name] = value;
    claims
}

pub fn without(mut claims: Value, name: &str) -> Value {
    claims.as_object_mut().unwrap().remove(name);
    claims
}

pub fn clock() -> Arc<ManualClock> {
    Arc::new(ManualClock::new(NOW))
}

/// A verifier over a fixed key set holding `keys` (no HTTP), at `clock`.
pub fn verifier_builder(keys: &[&TestKey], clock: &Arc<ManualClock>) -> VerifierBuilder {
    let rs256 = [jwtd_verify::Algorithm::Rs256];
    let set = KeySet::from_jwks(jwks(keys).as_bytes(), &rs256).unwrap();
    Verifier::builder(JwksCache::fixed(set, &rs256), ISSUER, AUDIENCE).clock(clock.clone())
}

pub fn verifier() -> Verifier {
    verifier_builder(&[key()], &clock()).build()
}
