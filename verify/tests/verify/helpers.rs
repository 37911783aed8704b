//! Test keys and hand-built tokens, so malformed tokens are as easy to make as good ones; and
//! DPoP keys and proofs (RFC 9449) signed here.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use aws_lc_rs::hmac;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::{KeyPair as RsaKeyPair, KeySize};
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, Ed25519KeyPair, KeyPair, RSA_PKCS1_SHA256, RsaEncoding,
};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jwtd_verify::dpop::{access_token_hash, jwk_thumbprint};
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

/// `b64(header).b64(claims).b64(HMAC-SHA256 tag)`: what an attacker signs with a key it knows.
pub fn hs256(secret: &[u8], header: &Value, claims: &Value) -> String {
    let input = format!("{}.{}", b64(header.to_string().as_bytes()), b64(claims.to_string().as_bytes()));
    let tag = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, secret), input.as_bytes());
    format!("{input}.{}", b64(tag.as_ref()))
}

// --- DPoP ---

/// The public origin the DPoP verifiers are configured with, and the path the tests call.
pub const ORIGIN: &str = "https://api.example.com";
pub const PATH: &str = "/invoices";

/// The claims of a user's token bound to the DPoP key `jkt`.
pub fn bound_claims(jkt: &str) -> Value {
    with(claims(), "cnf", json!({ "jkt": jkt }))
}

/// A verifier of [`key()`]'s tokens that accepts DPoP proofs for [`ORIGIN`].
pub fn dpop_verifier(clock: &Arc<ManualClock>) -> Verifier {
    verifier_builder(&[key()], clock).public_origin(ORIGIN).build()
}

/// A client's DPoP key, of one of the three kinds jwtd's clients use.
pub enum ProofKey {
    Es256(EcdsaKeyPair),
    EdDsa(Ed25519KeyPair),
    Rs256(RsaKeyPair),
}

impl ProofKey {
    pub fn es256() -> Self {
        Self::Es256(EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING).unwrap())
    }

    pub fn ed25519() -> Self {
        Self::EdDsa(Ed25519KeyPair::generate().unwrap())
    }

    pub fn rs256() -> Self {
        Self::Rs256(RsaKeyPair::generate(KeySize::Rsa2048).unwrap())
    }

    pub fn alg(&self) -> &'static str {
        match self {
            Self::Es256(_) => "ES256",
            Self::EdDsa(_) => "EdDSA",
            Self::Rs256(_) => "RS256",
        }
    }

    /// The public JWK, as a client puts it in a proof's header.
    pub fn jwk(&self) -> Value {
        match self {
            Self::Es256(pair) => {
                let point = pair.public_key().as_ref();
                json!({"kty": "EC", "crv": "P-256", "x": b64(&point[1..33]), "y": b64(&point[33..65])})
            }
            Self::EdDsa(pair) => {
                json!({"kty": "OKP", "crv": "Ed25519", "x": b64(pair.public_key().as_ref())})
            }
            Self::Rs256(pair) => {
                let public = pair.public_key();
                json!({
                    "kty": "RSA",
                    "n": b64(public.modulus().big_endian_without_leading_zero()),
                    "e": b64(public.exponent().big_endian_without_leading_zero()),
                })
            }
        }
    }

    /// The RFC 7638 thumbprint a token bound to this key carries in `cnf.jkt`.
    pub fn jkt(&self) -> String {
        jwk_thumbprint(&self.jwk().to_string()).unwrap()
    }

    pub fn header(&self) -> Value {
        json!({"typ": "dpop+jwt", "alg": self.alg(), "jwk": self.jwk()})
    }

    /// `b64(header).b64(claims).b64(signature)` signed by this key, whatever the header says.
    pub fn sign(&self, header: &Value, claims: &Value) -> String {
        let input = format!("{}.{}", b64(header.to_string().as_bytes()), b64(claims.to_string().as_bytes()));
        let rng = SystemRandom::new();
        let signature = match self {
            Self::Es256(pair) => pair.sign(&rng, input.as_bytes()).unwrap().as_ref().to_vec(),
            Self::EdDsa(pair) => pair.sign(input.as_bytes()).as_ref().to_vec(),
            Self::Rs256(pair) => {
                let mut signature = vec![0; pair.public_modulus_len()];
                pair.sign(&RSA_PKCS1_SHA256, &rng, input.as_bytes(), &mut signature).unwrap();
                signature
            }
        };
        format!("{input}.{}", b64(&signature))
    }

    /// A good proof for `method` on [`ORIGIN`] + `path` with `token`, at [`NOW`].
    pub fn proof(&self, method: &str, path: &str, token: &str) -> String {
        self.sign(&self.header(), &proof_claims(method, path, token))
    }
}

/// The claims of a fresh proof (a new `jti` each call) for `method` on [`ORIGIN`] + `path`
/// sent with `token`, issued at [`NOW`].
pub fn proof_claims(method: &str, path: &str, token: &str) -> Value {
    static NEXT_JTI: AtomicU64 = AtomicU64::new(1);
    json!({
        "jti": format!("proof-{}", NEXT_JTI.fetch_add(1, Ordering::Relaxed)),
        "htm": method,
        "htu": format!("{ORIGIN}{path}"),
        "iat": NOW,
        "ath": access_token_hash(token),
    })
}
