//! `private_key_jwt` for the `assertion` scenario: the load generator holds the client's ES256
//! key and signs a fresh client assertion (its own `jti`) for every request, as a real service
//! does. `--write-key` makes the key and the public JWK set the benchmark registers. The `dpop`
//! scenario signs a fresh DPoP proof (RFC 9449) with the same key for every token request.

use std::sync::atomic::{AtomicU64, Ordering};

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::BoxError;

/// The `kid` of the load generator's key.
pub const KID: &str = "loadgen-1";
const ASSERTION_TYPE: &str = "urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer";

/// Writes a new ES256 key to `path` (PKCS#8 DER) and its public JWK set to `path.jwks.json`.
pub fn write_key(path: &str) -> Result<(), BoxError> {
    let pair =
        EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING).map_err(|_| "key generation failed")?;
    let pkcs8 = pair.to_pkcs8v1().map_err(|_| "key export failed")?;
    std::fs::write(path, pkcs8.as_ref())?;
    // An uncompressed P-256 point: 0x04, then x and y of 32 bytes each.
    let point = pair.public_key().as_ref();
    let (x, y) = (point.get(1..33).ok_or("bad point")?, point.get(33..65).ok_or("bad point")?);
    let jwks = serde_json::json!({ "keys": [{
        "kty": "EC", "crv": "P-256", "alg": "ES256", "use": "sig", "kid": KID,
        "x": URL_SAFE_NO_PAD.encode(x), "y": URL_SAFE_NO_PAD.encode(y),
    }] });
    std::fs::write(format!("{path}.jwks.json"), jwks.to_string())?;
    Ok(())
}

/// Signs client assertions for one client at one audience.
pub struct Signer {
    key: EcdsaKeyPair,
    rng: SystemRandom,
    client_id: String,
    audience: String,
    /// Random per process, so two runs' `jti`s never meet in jwtd's replay store.
    run: String,
    next: AtomicU64,
    /// The public key as a JWK, for a DPoP proof's header.
    jwk: serde_json::Value,
}

impl Signer {
    pub fn load(path: &str, client_id: &str, audience: &str) -> Result<Self, BoxError> {
        let pkcs8 = std::fs::read(path)?;
        let key =
            EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &pkcs8).map_err(|e| e.to_string())?;
        let mut run = [0u8; 8];
        aws_lc_rs::rand::fill(&mut run).map_err(|_| "random failed")?;
        let point = key.public_key().as_ref();
        let (x, y) = (point.get(1..33).ok_or("bad point")?, point.get(33..65).ok_or("bad point")?);
        let jwk = serde_json::json!({
            "kty": "EC", "crv": "P-256", "x": URL_SAFE_NO_PAD.encode(x), "y": URL_SAFE_NO_PAD.encode(y),
        });
        Ok(Self {
            key,
            rng: SystemRandom::new(),
            client_id: client_id.to_owned(),
            audience: audience.to_owned(),
            run: URL_SAFE_NO_PAD.encode(run),
            next: AtomicU64::new(0),
            jwk,
        })
    }

    /// The token request's form body: `client_credentials` with a fresh assertion.
    pub fn token_body(&self) -> Result<String, BoxError> {
        let (now, jti) = self.fresh()?;
        let header = serde_json::json!({ "alg": "ES256", "typ": "JWT", "kid": KID });
        let claims = serde_json::json!({
            "iss": self.client_id, "sub": self.client_id, "aud": self.audience,
            "iat": now, "exp": now + 60, "jti": jti,
        });
        Ok(format!(
            "grant_type=client_credentials&client_assertion_type={ASSERTION_TYPE}&client_assertion={}",
            self.sign(&header, &claims)?
        ))
    }

    /// A fresh DPoP proof (RFC 9449) for `POST` at the audience (the token endpoint's URL).
    pub fn dpop_proof(&self) -> Result<String, BoxError> {
        let (now, jti) = self.fresh()?;
        let header = serde_json::json!({ "alg": "ES256", "typ": "dpop+jwt", "jwk": self.jwk });
        let claims = serde_json::json!({ "jti": jti, "htm": "POST", "htu": self.audience, "iat": now });
        self.sign(&header, &claims)
    }

    /// Now (a time of day, seconds) and a `jti` never used before.
    fn fresh(&self) -> Result<(u64, String), BoxError> {
        #[allow(clippy::disallowed_methods, reason = "iat is a time of day")]
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_secs();
        Ok((now, format!("{}-{}", self.run, self.next.fetch_add(1, Ordering::Relaxed))))
    }

    /// The compact JWS of `header` and `claims`, signed with the key.
    fn sign(&self, header: &serde_json::Value, claims: &serde_json::Value) -> Result<String, BoxError> {
        let input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let signature = self.key.sign(&self.rng, input.as_bytes()).map_err(|_| "signing failed")?;
        Ok(format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature.as_ref())))
    }
}
