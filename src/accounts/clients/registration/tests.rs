//! The registration rules, as tables: no database needed.

use super::*;

fn strings(items: &[&str]) -> Option<Vec<String>> {
    Some(items.iter().map(|s| (*s).to_owned()).collect())
}

fn base() -> ClientRegistration {
    ClientRegistration::new("app", "openid", &[], &["refresh_token".to_owned()]).unwrap()
}

#[test]
fn registration_validates_every_field() {
    let ok = ClientRegistration::new("svc", "a b", &["https://api".into()], &["client_credentials".into()]);
    assert!(ok.is_ok());
    let grants = ["client_credentials".to_owned()];
    assert_eq!(ClientRegistration::new(" ", "a", &[], &grants).err(), Some(RegistrationError::Name));
    assert_eq!(
        ClientRegistration::new("svc", "a", &["has space".into()], &grants).err(),
        Some(RegistrationError::Audience)
    );
    assert_eq!(
        ClientRegistration::new("svc", "a", &[], &["implicit".into()]).err(),
        Some(RegistrationError::GrantType("implicit".into()))
    );
    assert_eq!(ClientRegistration::new("svc", "a", &[], &[]).err(), Some(RegistrationError::NoGrant));
    assert_eq!(
        ClientRegistration::new("svc", "a", &[], &["authorization_code".into()]).err(),
        Some(RegistrationError::NoRedirectUri)
    );
}

#[test]
fn defaults_are_todays_clients() {
    let registration = base();
    assert_eq!(registration.auth_method, AuthMethod::Secret);
    assert_eq!(registration.application_type, ApplicationType::Web);
    assert!(registration.redirect_uris.is_empty() && registration.web_origins.is_empty());
    assert!(!registration.first_party);
    assert_eq!(base().with(&ClientChange::default(), Deployment::Production), Ok(registration));
}

#[test]
fn rules_between_fields_hold() {
    let public = |grants: &[&str]| ClientChange {
        auth_method: Some("none".into()),
        grant_types: strings(grants),
        redirect_uris: strings(&["https://app.example/cb"]),
        ..ClientChange::default()
    };
    let production = Deployment::Production;
    assert!(base().with(&public(&["authorization_code", "refresh_token"]), production).is_ok());
    assert_eq!(
        base().with(&public(&["authorization_code", "client_credentials"]), production).err(),
        Some(RegistrationError::PublicGrant("client_credentials"))
    );
    assert_eq!(
        base().with(&public(&["password"]), production).err(),
        Some(RegistrationError::PublicGrant("password"))
    );
    let bad_method =
        ClientChange { auth_method: Some("client_secret_jwt".into()), ..ClientChange::default() };
    assert_eq!(
        base().with(&bad_method, production).err(),
        Some(RegistrationError::AuthMethod("client_secret_jwt".into()))
    );
    // private_key_jwt: exactly one of jwks and jwks_uri; other methods neither.
    let key_jwt = |jwks: Option<serde_json::Value>, uri: Option<&str>| ClientChange {
        auth_method: Some("private_key_jwt".into()),
        jwks,
        jwks_uri: uri.map(str::to_owned),
        ..ClientChange::default()
    };
    let set = serde_json::json!({ "keys": [{ "kty": "OKP", "crv": "Ed25519", "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo" }] });
    let uri = "https://billing.example/jwks.json";
    assert!(base().with(&key_jwt(Some(set.clone()), None), production).is_ok());
    assert!(base().with(&key_jwt(None, Some(uri)), production).is_ok());
    assert_eq!(base().with(&key_jwt(None, None), production).err(), Some(RegistrationError::KeysNeeded));
    assert_eq!(
        base().with(&key_jwt(Some(set.clone()), Some(uri)), production).err(),
        Some(RegistrationError::KeysNeeded)
    );
    let plain_with_keys = ClientChange { jwks_uri: Some(uri.into()), ..ClientChange::default() };
    assert_eq!(base().with(&plain_with_keys, production).err(), Some(RegistrationError::KeysUnused));
    assert!(matches!(
        base().with(&key_jwt(None, Some("http://billing.example/jwks.json")), production).err(),
        Some(RegistrationError::JwksUri { .. })
    ));
    let too_many: Vec<String> = (0..=MAX_URIS).map(|i| format!("https://app.example/{i}")).collect();
    let change = ClientChange { redirect_uris: Some(too_many), ..ClientChange::default() };
    assert_eq!(base().with(&change, production).err(), Some(RegistrationError::TooMany("redirect URIs")));
}

#[test]
fn dpop_modes_and_nonces() {
    assert_eq!(base().dpop, DpopMode::Optional);
    assert!(!base().dpop_nonce);
    let change = |mode: Option<&str>, nonce: Option<bool>| ClientChange {
        dpop: mode.map(str::to_owned),
        dpop_nonce: nonce,
        ..ClientChange::default()
    };
    let production = Deployment::Production;
    let required = base().with(&change(Some("required"), Some(true)), production).unwrap();
    assert_eq!((required.dpop, required.dpop_nonce), (DpopMode::Required, true));
    assert_eq!(required.describe().get("dpop"), Some(&json!("required")));
    assert_eq!(
        base().with(&change(Some("mandatory"), None), production).err(),
        Some(RegistrationError::Dpop("mandatory".into()))
    );
    assert_eq!(
        base().with(&change(Some("off"), Some(true)), production).err(),
        Some(RegistrationError::DpopNonceUnused)
    );
    // RFC 9449 §5.2's metadata says the same as `dpop`, and may not contradict it.
    let bound = ClientChange { dpop_bound_access_tokens: Some(true), ..ClientChange::default() };
    let bound = base().with(&bound, production).unwrap();
    assert_eq!(bound.dpop, DpopMode::Required);
    assert_eq!(bound.describe().get("dpop_bound_access_tokens"), Some(&json!(true)));
    let unbound = ClientChange { dpop_bound_access_tokens: Some(false), ..ClientChange::default() };
    assert_eq!(bound.clone().with(&unbound, production).unwrap().dpop, DpopMode::Optional);
    let contradiction = ClientChange {
        dpop: Some("off".into()),
        dpop_bound_access_tokens: Some(true),
        ..ClientChange::default()
    };
    assert!(matches!(
        base().with(&contradiction, production),
        Err(RegistrationError::DpopContradiction { bound: true, .. })
    ));
    // Turning DPoP off keeps a registered nonce requirement from lingering unseen: refused too.
    assert_eq!(
        required.with(&change(Some("off"), None), production).err(),
        Some(RegistrationError::DpopNonceUnused)
    );
}

#[test]
fn uris_are_checked_for_the_application_type_they_end_up_with() {
    let native_uri =
        ClientChange { redirect_uris: strings(&["com.example.app:/cb"]), ..ClientChange::default() };
    let error = base().with(&native_uri, Deployment::Development).unwrap_err();
    assert!(matches!(&error, RegistrationError::RedirectUri { uri, .. } if uri == "com.example.app:/cb"));
    assert!(error.to_string().starts_with("redirect URI \"com.example.app:/cb\" uses the scheme"), "{error}");
    let native = ClientChange { application_type: Some("native".into()), ..native_uri };
    assert!(base().with(&native, Deployment::Production).is_ok());
    let origin = ClientChange { web_origins: strings(&["https://app.example/"]), ..ClientChange::default() };
    assert!(matches!(base().with(&origin, Deployment::Production), Err(RegistrationError::WebOrigin { .. })));
}

#[test]
fn a_change_says_what_changed_and_keeps_the_auth_method() {
    let (client, _) = super::super::new_client(&base(), 1).unwrap();
    let change = ClientChange {
        scope: Some("openid profile".into()),
        first_party: Some(true),
        name: Some("app".into()),
        ..ClientChange::default()
    };
    let (after, changes) = client.changed(&change, Deployment::Production).unwrap();
    assert_eq!(after.scope.to_string(), "openid profile");
    assert_eq!(
        Value::Object(changes),
        json!({
            "scope": { "from": "openid", "to": "openid profile" },
            "first_party": { "from": false, "to": true },
        })
    );
    let same = ClientChange { auth_method: Some("client_secret_post".into()), ..ClientChange::default() };
    assert!(client.changed(&same, Deployment::Production).unwrap().1.is_empty());
    let public = ClientChange { auth_method: Some("none".into()), ..ClientChange::default() };
    assert_eq!(
        client.changed(&public, Deployment::Production).err(),
        Some(RegistrationError::AuthMethodFixed { from: "client_secret_basic", to: "none" })
    );
}
