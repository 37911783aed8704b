use super::*;
use crate::accounts::clients::{ApplicationType, AuthMethod};

const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";

fn client() -> Client {
    Client {
        auth_method: AuthMethod::Secret,
        application_type: ApplicationType::Web,
        redirect_uris: vec!["https://app.example/cb".into()],
        web_origins: Vec::new(),
        first_party: false,
        jwks: None,
        jwks_uri: None,
        workload: None,
        post_logout_redirect_uris: Vec::new(),
        backchannel_logout_uri: None,
        resources: Vec::new(),
        served_resources: Vec::new(),
        dpop: DpopMode::Optional,
        dpop_nonce: false,
        id: "app".into(),
        name: "App".into(),
        scope: Scope::parse("openid email read").unwrap(),
        audiences: Vec::new(),
        grant_types: vec![GrantType::AuthorizationCode, GrantType::RefreshToken],
        refresh_cookie: false,
        disabled: false,
        created_at: 0,
        introspection_audiences: Vec::new(),
    }
}

fn raw() -> RawAuthorization {
    RawAuthorization {
        response_type: Some("code".into()),
        client_id: Some("app".into()),
        redirect_uri: Some("https://app.example/cb".into()),
        scope: Some("openid email".into()),
        state: Some("s1".into()),
        nonce: Some("n1".into()),
        code_challenge: Some(CHALLENGE.into()),
        code_challenge_method: Some("S256".into()),
        ..RawAuthorization::default()
    }
}

#[test]
fn the_pkce_example_of_rfc_7636_matches_and_nothing_else_does() {
    assert!(verifier_matches(VERIFIER, CHALLENGE));
    assert!(!verifier_matches(&VERIFIER.replace('d', "e"), CHALLENGE));
    assert!(!verifier_matches("short", CHALLENGE), "under 43 characters");
    assert!(!verifier_matches(&format!("{VERIFIER}!"), CHALLENGE), "outside the unreserved set");
    assert!(!verifier_matches(CHALLENGE, CHALLENGE), "plain: the challenge itself is no verifier");
}

#[test]
fn an_unknown_client_or_redirect_uri_is_never_answered_by_redirect() {
    let c = client();
    assert!(reply_to(&raw(), Some(&c)).is_ok());
    assert!(reply_to(&raw(), None).is_err(), "unknown client");
    let disabled = Client { disabled: true, ..client() };
    assert!(reply_to(&raw(), Some(&disabled)).is_err(), "disabled client");
    for uri in [
        None,
        Some("https://evil.example/cb"),
        Some("https://app.example/cb/"),
        Some("https://app.example/cb?x=1"),
    ] {
        let request = RawAuthorization { redirect_uri: uri.map(str::to_owned), ..raw() };
        assert!(reply_to(&request, Some(&c)).is_err(), "{uri:?}");
    }
    let no_client = RawAuthorization { client_id: None, ..raw() };
    assert!(reply_to(&no_client, Some(&c)).is_err());
    let reply = reply_to(&raw(), Some(&c)).unwrap();
    assert_eq!(reply, ReplyTo { redirect_uri: "https://app.example/cb".into(), state: Some("s1".into()) });
}

#[test]
fn every_other_error_is_refused_with_its_code() {
    let c = client();
    let cases: Vec<(RawAuthorization, &str)> = vec![
        (RawAuthorization { response_type: None, ..raw() }, "invalid_request"),
        (RawAuthorization { response_type: Some("token".into()), ..raw() }, "unsupported_response_type"),
        (
            RawAuthorization { response_type: Some("code id_token".into()), ..raw() },
            "unsupported_response_type",
        ),
        (RawAuthorization { response_mode: Some("fragment".into()), ..raw() }, "invalid_request"),
        (RawAuthorization { code_challenge: None, ..raw() }, "invalid_request"),
        (RawAuthorization { code_challenge_method: None, ..raw() }, "invalid_request"),
        (RawAuthorization { code_challenge_method: Some("plain".into()), ..raw() }, "invalid_request"),
        (RawAuthorization { code_challenge: Some("short".into()), ..raw() }, "invalid_request"),
        (RawAuthorization { scope: Some("openid admin".into()), ..raw() }, "invalid_scope"),
        (RawAuthorization { prompt: Some("none login".into()), ..raw() }, "invalid_request"),
        (RawAuthorization { prompt: Some("sometimes".into()), ..raw() }, "invalid_request"),
        (RawAuthorization { max_age: Some("-1".into()), ..raw() }, "invalid_request"),
        (RawAuthorization { max_age: Some("soon".into()), ..raw() }, "invalid_request"),
        (RawAuthorization { nonce: Some("n".repeat(513)), ..raw() }, "invalid_request"),
        (RawAuthorization { request_object: Some("request"), ..raw() }, "request_not_supported"),
        (RawAuthorization { request_object: Some("request_uri"), ..raw() }, "request_uri_not_supported"),
        (RawAuthorization { dpop_jkt: Some("short".into()), ..raw() }, "invalid_request"),
        (RawAuthorization { dpop_jkt: Some(format!("{}=", &CHALLENGE[1..])), ..raw() }, "invalid_request"),
    ];
    for (request, error) in cases {
        assert_eq!(validate(&request, &c).map(drop).unwrap_err().error, error, "{request:?}");
    }
    let no_code_flow = Client { grant_types: vec![GrantType::ClientCredentials], ..client() };
    assert_eq!(validate(&raw(), &no_code_flow).unwrap_err().error, "unauthorized_client");
}

#[test]
fn a_valid_request_keeps_what_the_token_endpoint_and_id_token_need() {
    let asked = RawAuthorization { prompt: Some("login".into()), max_age: Some("300".into()), ..raw() };
    let request = validate(&asked, &client()).unwrap();
    assert_eq!(request.scope.to_string(), "email openid");
    assert_eq!(request.nonce.as_deref(), Some("n1"));
    assert_eq!(request.code_challenge, CHALLENGE);
    assert_eq!(request.prompt, Prompt::Login);
    assert_eq!(request.max_age, Some(300));
    let defaults = validate(&RawAuthorization { scope: None, ..raw() }, &client()).unwrap();
    assert_eq!(defaults.scope.to_string(), "email openid read", "no scope: all the client's");
    assert_eq!(defaults.prompt, Prompt::Default);
    assert_eq!(defaults.dpop_jkt, None);
    let bound = validate(&RawAuthorization { dpop_jkt: Some(CHALLENGE.into()), ..raw() }, &client()).unwrap();
    assert_eq!(bound.dpop_jkt.as_deref(), Some(CHALLENGE), "a thumbprint has a challenge's shape");
    let off = Client { dpop: DpopMode::Off, ..client() };
    let ignored = validate(&RawAuthorization { dpop_jkt: Some("short".into()), ..raw() }, &off).unwrap();
    assert_eq!(ignored.dpop_jkt, None, "DPoP off: dpop_jkt is ignored like the DPoP header");
}

#[test]
fn a_session_is_used_unless_prompt_login_or_max_age_says_otherwise() {
    let request = validate(&raw(), &client()).unwrap();
    assert!(request.accepts_session(0, 1_000_000));
    let login = AuthorizationRequest { prompt: Prompt::Login, ..request.clone() };
    assert!(!login.accepts_session(1_000, 1_000));
    let fresh = AuthorizationRequest { max_age: Some(60), ..request.clone() };
    assert!(fresh.accepts_session(1_000, 1_060));
    assert!(!fresh.accepts_session(1_000, 1_061));
    let none = AuthorizationRequest { prompt: Prompt::None, ..request };
    assert!(none.accepts_session(0, 1_000));
}

#[test]
fn browser_secrets_have_one_shape_and_never_print() {
    let secret = BrowserSecret::generate().unwrap();
    assert_eq!(BrowserSecret::parse(secret.expose()), Some(secret.clone()));
    assert_ne!(BrowserSecret::generate().unwrap(), secret);
    assert!(BrowserSecret::parse("short").is_none());
    assert!(BrowserSecret::parse(&"!".repeat(43)).is_none());
    assert!(!format!("{secret:?}").contains(secret.expose()));
    assert_eq!(secret.hash().len(), 32);
}
