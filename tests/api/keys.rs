//! Private keys at rest: sealed under the master key, useless without it.

use std::sync::Arc;

use aws_lc_rs::signature::KeyPair;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jwtd::config::Settings;
use jwtd::keys::master::MasterKey;
use jwtd::startup::Application;

use crate::helpers::{Backend, new_master_key, spawn_app, test_env};
use crate::on_both_backends;

on_both_backends!(private_keys_are_sealed_under_the_master_key, a_wrong_master_key_refuses_to_start);

async fn private_keys_are_sealed_under_the_master_key(backend: Backend) {
    let app = spawn_app(backend).await;
    let pool = jwtd::startup::open_pool(&app.settings()).unwrap();
    let rows = jwtd::store::keys::all(&mut pool.get().unwrap()).unwrap();
    let mut states: Vec<&str> = rows.iter().map(|r| r.state.as_str()).collect();
    states.sort_unstable();
    assert_eq!(states, ["current", "next"]);
    let row = rows.iter().find(|r| r.state.as_str() == "current").unwrap();
    let sealed = row.private_key_sealed.as_deref().unwrap();

    // What the database holds is no key: not PKCS#8, not PKCS#1, anywhere in the blob.
    for start in 0..sealed.len().min(64) {
        assert!(aws_lc_rs::rsa::KeyPair::from_pkcs8(&sealed[start..]).is_err());
        assert!(aws_lc_rs::rsa::KeyPair::from_der(&sealed[start..]).is_err());
    }

    // With the master key it opens into the key the JWKS publishes.
    let master = MasterKey::from_base64(&app.master_key).unwrap();
    let pkcs8 = master.unseal(sealed, row.kid.as_bytes()).unwrap();
    let pair = aws_lc_rs::rsa::KeyPair::from_pkcs8(&pkcs8).unwrap();
    let jwks = app.jwks().await;
    let jwk = jwks.find(&row.kid).unwrap();
    let jsonwebtoken::jwk::AlgorithmParameters::RSA(rsa) = &jwk.algorithm else { panic!("not RSA") };
    let modulus = URL_SAFE_NO_PAD.decode(&rsa.n).unwrap();
    assert_eq!(pair.public_key().modulus().big_endian_without_leading_zero(), modulus.as_slice());

    // With another master key, or bound to another kid, it does not open.
    let other = MasterKey::from_base64(&new_master_key()).unwrap();
    assert!(other.unseal(sealed, row.kid.as_bytes()).is_err());
    assert!(master.unseal(sealed, b"another-kid").is_err());
}

async fn a_wrong_master_key_refuses_to_start(backend: Backend) {
    let app = spawn_app(backend).await;
    let db = app.stop().await;
    let settings = Settings::load_from(&test_env(&db, &new_master_key())).unwrap();
    let err = Application::build(settings).await.err().expect("must refuse a wrong master key");
    assert!(err.to_string().contains("master key"), "{err}");
    drop(Arc::clone(&db));
}
