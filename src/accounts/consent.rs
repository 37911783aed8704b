//! Consent: whether a person must be asked before an app receives what it asks for, and how each
//! scope is put to them in plain words.
//!
//! - A first-party app whose redirect URI proves who receives the code is never asked about:
//!   the operator trusts it. An `https` URI proves it (the browser authenticates the host), and
//!   so does a web client's loopback `http` URI, which registration admits only outside
//!   production (a developer's own machine).
//! - Any other app is asked once, and what the person allowed is remembered (until their
//!   administrator revokes it); a request for more than was allowed asks again.
//! - A native app whose redirect URI is loopback `http` or a private-use scheme is asked on
//!   every request, remembered or not: any app on the device can claim such a redirect, so
//!   nothing proves the code reaches the app the person once allowed (RFC 8252 §8.6).
//! - `prompt=consent` asks again whatever was remembered.

use crate::accounts::clients::{ApplicationType, Client};
use crate::scope::Scope;

/// Whether the person must be asked before `client` receives `requested` at `redirect_uri`,
/// given what they allowed before (`remembered`) and whether the request said
/// `prompt=consent`.
pub fn must_ask(
    client: &Client,
    redirect_uri: &str,
    requested: &Scope,
    remembered: Option<&Scope>,
    prompt_consent: bool,
) -> bool {
    if prompt_consent || !redirect_proves_client(client, redirect_uri) {
        return true;
    }
    if client.first_party {
        return false;
    }
    !remembered.is_some_and(|allowed| requested.is_subset(allowed))
}

/// Whether only `client` can receive what is sent to `redirect_uri`: an `https` URI, whose host
/// the browser authenticates; or any URI of a web client (its `http` ones are loopback URIs on
/// a development machine). A native app's loopback or private-use URI proves nothing.
pub fn redirect_proves_client(client: &Client, redirect_uri: &str) -> bool {
    client.application_type == ApplicationType::Web
        || redirect_uri.get(..8).is_some_and(|scheme| scheme.eq_ignore_ascii_case("https://"))
}

/// The scopes jwtd describes, in the order the consent page lists them, with what granting each
/// lets the app do.
const DESCRIBED: [(&str, &str); 4] = [
    ("openid", "Know who you are: your account's identifier"),
    ("profile", "See your name and profile details"),
    ("email", "See your email address"),
    ("offline_access", "Stay connected when you are not using it (keep access until you sign out)"),
];

/// What granting `scope` lets the app do, one plain sentence per scope value, as the consent
/// page lists it: the scopes jwtd knows first, in a fixed order, then the others by name.
pub fn describe(scope: &Scope) -> Vec<String> {
    let known = DESCRIBED.iter().filter(|(name, _)| scope.contains(name)).map(|(_, says)| (*says).to_owned());
    let others = scope
        .iter()
        .filter(|token| !DESCRIBED.iter().any(|(name, _)| name == token))
        .map(|token| format!("Use “{token}”"));
    known.chain(others).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::accounts::clients::{AuthMethod, DpopMode};

    fn client(first_party: bool, application_type: ApplicationType) -> Client {
        Client {
            id: "c".into(),
            name: "App".into(),
            scope: Scope::parse("openid email offline_access").unwrap(),
            audiences: Vec::new(),
            grant_types: Vec::new(),
            refresh_cookie: false,
            disabled: false,
            created_at: 0,
            introspection_audiences: Vec::new(),
            auth_method: AuthMethod::None,
            application_type,
            redirect_uris: Vec::new(),
            web_origins: Vec::new(),
            first_party,
            jwks: None,
            jwks_uri: None,
            workload: None,
            post_logout_redirect_uris: Vec::new(),
            backchannel_logout_uri: None,
            resources: Vec::new(),
            served_resources: Vec::new(),
            dpop: DpopMode::Optional,
            dpop_nonce: false,
        }
    }

    #[test]
    fn who_is_asked_when() {
        use ApplicationType::{Native as N, Web as W};
        let scope = |s: &str| Scope::parse(s).unwrap();
        let (https, loopback, private) =
            ("https://app.example/cb", "http://127.0.0.1:5000/cb", "com.example.app:/cb");
        let more = "openid email offline_access";
        type Case<'a> = (bool, ApplicationType, &'a str, &'a str, Option<&'a str>, bool, bool, &'a str);
        #[rustfmt::skip]
        let table: &[Case<'_>] = &[
            // first party, type, redirect, requested, remembered, prompt=consent, asked, why
            (true,  W, https,    "openid email", None,                 false, false, "first party over https"),
            (true,  W, loopback, "openid email", None,                 false, false, "first-party web app on a developer's machine"),
            (true,  W, https,    "openid email", None,                 true,  true,  "prompt=consent"),
            (true,  N, https,    "openid email", None,                 false, false, "native app with a claimed https link"),
            (true,  N, loopback, "openid email", Some("openid email"), false, true,  "native loopback: always"),
            (true,  N, private,  "openid",       Some("openid email"), false, true,  "private-use scheme: always"),
            (false, W, https,    "openid email", None,                 false, true,  "third party, first time"),
            (false, W, https,    "openid email", Some("openid email"), false, false, "remembered"),
            (false, W, loopback, "openid email", Some("openid email"), false, false, "remembered, web app on loopback"),
            (false, W, https,    "openid",       Some("openid email"), false, false, "less than remembered"),
            (false, W, https,    more,           Some("openid email"), false, true,  "more than remembered"),
            (false, W, https,    "openid email", Some("openid email"), true,  true,  "prompt=consent again"),
            (false, N, loopback, "openid",       Some("openid"),       false, true,  "native third party"),
            (false, N, https,    "openid",       Some("openid"),       false, false, "native, claimed https, remembered"),
        ];
        for (first_party, kind, redirect, requested, remembered, prompt, asked, why) in table {
            let remembered = remembered.map(scope);
            let client = client(*first_party, *kind);
            let got = must_ask(&client, redirect, &scope(requested), remembered.as_ref(), *prompt);
            assert_eq!(got, *asked, "{why}");
        }
        let both = scope("openid email");
        assert!(!must_ask(&client(false, N), "HTTPS://app.example/cb", &both, Some(&both), false));
    }

    #[test]
    fn known_scopes_are_described_in_plain_words_first() {
        let described = describe(&Scope::parse("read:invoices offline_access email openid").unwrap());
        assert_eq!(described.len(), 4);
        assert!(described[0].contains("who you are"), "{described:?}");
        assert!(described[1].contains("email address"), "{described:?}");
        assert!(described[2].contains("not using it"), "{described:?}");
        assert_eq!(described[3], "Use “read:invoices”");
    }
}
