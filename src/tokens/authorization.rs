//! The authorization request (RFC 6749 §4.1.1, OpenID Connect Core §3.1.2.1, RFC 7636) and the
//! codes it ends in: what a request must hold, which errors may go back to the client and which
//! must not (§4.1.2.1: an unknown client or redirect URI never redirects), and how a code's
//! PKCE verifier is checked. Pure: the edge gathers the parameters, the operations store codes.

use std::borrow::Cow;
use std::fmt;

use aws_lc_rs::{constant_time, digest};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::accounts::clients::{Client, DpopMode, GrantType};
use crate::scope::Scope;
use crate::tokens::resource;

/// How long an authorization code may be redeemed: long enough for a slow mobile network, short
/// enough that a leaked code is worth little.
pub const CODE_TTL_SECS: i64 = 60;
const MAX_STATE_LEN: usize = 1024;
const MAX_NONCE_LEN: usize = 512;
const MAX_LOGIN_HINT_LEN: usize = 320;
/// A SHA-256 in base64url without padding.
const CHALLENGE_LEN: usize = 43;

/// The parameters of an authorization request as they arrived (empty ones already dropped).
#[derive(Debug, Default, Clone)]
pub struct RawAuthorization {
    pub response_type: Option<String>,
    pub client_id: Option<String>,
    pub redirect_uri: Option<String>,
    pub scope: Option<String>,
    pub state: Option<String>,
    pub nonce: Option<String>,
    pub code_challenge: Option<String>,
    pub code_challenge_method: Option<String>,
    pub prompt: Option<String>,
    pub max_age: Option<String>,
    pub login_hint: Option<String>,
    pub response_mode: Option<String>,
    /// `request` or `request_uri` (request objects, not supported), by name.
    pub request_object: Option<&'static str>,
    /// Every `resource` (RFC 8707), in order.
    pub resources: Vec<String>,
    /// `dpop_jkt` (RFC 9449 §10): the DPoP key the code will be redeemed with.
    pub dpop_jkt: Option<String>,
}

/// What `prompt` asks of the authorization server (OIDC Core §3.1.2.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Prompt {
    /// Sign in only if there is no session.
    #[default]
    Default,
    /// Never show a page: answer `login_required` without a session.
    None,
    /// Ask for the password again even with a session.
    Login,
}

/// A valid authorization request.
#[derive(Debug, Clone)]
pub struct AuthorizationRequest {
    pub client_id: String,
    pub redirect_uri: String,
    pub scope: Scope,
    pub state: Option<String>,
    pub nonce: Option<String>,
    pub code_challenge: String,
    pub prompt: Prompt,
    /// `prompt=consent`: ask for consent again even when it was given before.
    pub ask_consent: bool,
    pub max_age: Option<i64>,
    pub login_hint: Option<String>,
    /// The resources (RFC 8707) the code's tokens may be for, each registered for the client.
    pub resources: Vec<String>,
    /// The DPoP key (RFC 7638 thumbprint) the code must be redeemed with, if the request named
    /// one and DPoP is not off for the client.
    pub dpop_jkt: Option<String>,
}

impl AuthorizationRequest {
    /// Whether a session authenticated at `auth_time` may be used as it is at `now`, or the
    /// user must sign in again (`prompt=login`, or older than `max_age`).
    pub fn accepts_session(&self, auth_time: i64, now: i64) -> bool {
        self.prompt != Prompt::Login && self.max_age.is_none_or(|max| now.saturating_sub(auth_time) <= max)
    }
}

/// Why a request cannot even be answered at the client's redirect URI: shown on jwtd's own error
/// page (RFC 6749 §4.1.2.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unredirectable(pub Cow<'static, str>);

impl fmt::Display for Unredirectable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An error the client receives at its redirect URI (RFC 6749 §4.1.2.1, OIDC Core §3.1.2.6).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    pub error: &'static str,
    pub description: Cow<'static, str>,
}

impl Refused {
    pub fn new(error: &'static str, description: impl Into<Cow<'static, str>>) -> Self {
        Self { error, description: description.into() }
    }
}

/// Where an authorization response or error goes: the checked redirect URI and the `state` to
/// echo.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplyTo {
    pub redirect_uri: String,
    pub state: Option<String>,
}

/// Checks that the request names a usable client and one of its redirect URIs: only then may an
/// answer go back by redirect.
pub fn reply_to(raw: &RawAuthorization, client: Option<&Client>) -> Result<ReplyTo, Unredirectable> {
    let Some(client_id) = raw.client_id.as_deref() else {
        return Err(Unredirectable("the request names no client (client_id is missing)".into()));
    };
    let client = client.filter(|c| c.id == client_id && !c.disabled).ok_or_else(|| {
        Unredirectable("the request names a client that does not exist or is disabled".into())
    })?;
    let Some(redirect_uri) = raw.redirect_uri.as_deref() else {
        return Err(Unredirectable("the request names no redirect_uri".into()));
    };
    if !client.redirect_uri_matches(redirect_uri) {
        return Err(Unredirectable("the redirect_uri is not registered for this client".into()));
    }
    // The state goes back as it came only if it is bounded; a longer one is not echoed.
    let state = raw.state.clone().filter(|s| s.len() <= MAX_STATE_LEN);
    Ok(ReplyTo { redirect_uri: redirect_uri.to_owned(), state })
}

/// Validates the rest of the request for `client` (whose redirect URI `reply_to` accepted).
pub fn validate(raw: &RawAuthorization, client: &Client) -> Result<AuthorizationRequest, Refused> {
    if let Some(name) = raw.request_object {
        let error = if name == "request" { "request_not_supported" } else { "request_uri_not_supported" };
        return Err(Refused::new(error, format!("{name} is not supported; send the parameters themselves")));
    }
    match raw.response_type.as_deref() {
        None => return Err(Refused::new("invalid_request", "response_type is missing")),
        Some("code") => {}
        Some(_) => {
            return Err(Refused::new("unsupported_response_type", "only response_type=code is supported"));
        }
    }
    if !matches!(raw.response_mode.as_deref(), None | Some("query")) {
        return Err(Refused::new("invalid_request", "only response_mode=query is supported"));
    }
    if !client.allows(GrantType::AuthorizationCode) {
        return Err(Refused::new(
            "unauthorized_client",
            "this client may not use the authorization code flow",
        ));
    }
    if raw.state.as_ref().is_some_and(|s| s.len() > MAX_STATE_LEN) {
        return Err(Refused::new("invalid_request", "state is too long"));
    }
    let scope = requested_scope(raw.scope.as_deref(), &client.scope)?;
    let (prompt, ask_consent) = prompt(raw.prompt.as_deref())?;
    let named: Vec<&str> = raw.resources.iter().map(String::as_str).collect();
    let resources = resource::granted(&named, &client.resources)
        .map_err(|refusal| Refused::new("invalid_target", refusal.description()))?;
    Ok(AuthorizationRequest {
        client_id: client.id.clone(),
        redirect_uri: raw.redirect_uri.clone().unwrap_or_default(),
        scope,
        state: raw.state.clone(),
        nonce: bounded(raw.nonce.as_deref(), MAX_NONCE_LEN, "nonce")?,
        code_challenge: code_challenge(raw)?,
        prompt,
        ask_consent,
        max_age: max_age(raw.max_age.as_deref())?,
        login_hint: bounded(raw.login_hint.as_deref(), MAX_LOGIN_HINT_LEN, "login_hint")?,
        resources,
        dpop_jkt: dpop_jkt(raw.dpop_jkt.as_deref(), client)?,
    })
}

/// `dpop_jkt`: a SHA-256 thumbprint (43 base64url characters), or nothing; ignored for a client
/// with DPoP off, whose token requests ignore proofs too.
fn dpop_jkt(value: Option<&str>, client: &Client) -> Result<Option<String>, Refused> {
    let Some(jkt) = value.filter(|_| client.dpop != DpopMode::Off) else {
        return Ok(None);
    };
    let well_formed = jkt.len() == CHALLENGE_LEN
        && jkt.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if !well_formed {
        return Err(Refused::new("invalid_request", "dpop_jkt must be a JWK SHA-256 thumbprint (RFC 7638)"));
    }
    Ok(Some(jkt.to_owned()))
}

fn bounded(value: Option<&str>, max: usize, name: &str) -> Result<Option<String>, Refused> {
    match value {
        Some(v) if v.len() > max || v.chars().any(char::is_control) => {
            Err(Refused::new("invalid_request", format!("{name} is too long or holds control characters")))
        }
        other => Ok(other.map(str::to_owned)),
    }
}

/// The requested scope, which may only narrow the client's; absent, all of it.
fn requested_scope(text: Option<&str>, allowed: &Scope) -> Result<Scope, Refused> {
    let Some(text) = text else {
        return Ok(allowed.clone());
    };
    let scope = Scope::parse(text).map_err(|e| Refused::new("invalid_scope", e.to_string()))?;
    if scope.is_empty() {
        return Err(Refused::new("invalid_scope", "scope is empty"));
    }
    if !scope.is_subset(allowed) {
        return Err(Refused::new(
            "invalid_scope",
            "the requested scope exceeds what this client may ask for",
        ));
    }
    Ok(scope)
}

/// PKCE is required of every client, with S256 only (RFC 9700 §2.1.1; `plain` protects nothing
/// once the request is seen).
fn code_challenge(raw: &RawAuthorization) -> Result<String, Refused> {
    let Some(challenge) = raw.code_challenge.as_deref() else {
        return Err(Refused::new("invalid_request", "code_challenge is required (PKCE, S256)"));
    };
    match raw.code_challenge_method.as_deref() {
        Some("S256") => {}
        None | Some("plain") => {
            return Err(Refused::new("invalid_request", "code_challenge_method must be S256"));
        }
        Some(_) => return Err(Refused::new("invalid_request", "code_challenge_method must be S256")),
    }
    let well_formed = challenge.len() == CHALLENGE_LEN
        && URL_SAFE_NO_PAD.decode(challenge).is_ok_and(|bytes| bytes.len() == 32);
    if !well_formed {
        return Err(Refused::new(
            "invalid_request",
            "code_challenge must be a base64url SHA-256 (43 characters)",
        ));
    }
    Ok(challenge.to_owned())
}

/// The prompt, and whether consent must be asked again (`consent`, which combines with `login`).
fn prompt(text: Option<&str>) -> Result<(Prompt, bool), Refused> {
    let Some(text) = text else {
        return Ok((Prompt::Default, false));
    };
    let (mut prompt, mut consent) = (Prompt::Default, false);
    let values: Vec<&str> = text.split(' ').filter(|v| !v.is_empty()).collect();
    for value in &values {
        match *value {
            "none" if values.len() > 1 => {
                return Err(Refused::new(
                    "invalid_request",
                    "prompt=none cannot be combined with other values",
                ));
            }
            "none" => prompt = Prompt::None,
            "login" => prompt = Prompt::Login,
            "consent" => consent = true,
            // Choosing among accounts is signing in anew.
            "select_account" => prompt = Prompt::Login,
            _ => {
                return Err(Refused::new(
                    "invalid_request",
                    "prompt must be none, login, consent or select_account",
                ));
            }
        }
    }
    Ok((prompt, consent))
}

fn max_age(text: Option<&str>) -> Result<Option<i64>, Refused> {
    text.map(|t| {
        t.parse::<i64>()
            .ok()
            .filter(|v| *v >= 0)
            .ok_or_else(|| Refused::new("invalid_request", "max_age must be a number of seconds"))
    })
    .transpose()
}

/// Whether `verifier` is the one `challenge` was made from (RFC 7636 §4.6), in constant time.
/// A verifier of the wrong shape (§4.1: 43 to 128 unreserved characters) never matches.
pub fn verifier_matches(verifier: &str, challenge: &str) -> bool {
    let well_formed = (43..=128).contains(&verifier.len())
        && verifier.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'));
    if !well_formed {
        return false;
    }
    let computed = URL_SAFE_NO_PAD.encode(digest::digest(&digest::SHA256, verifier.as_bytes()));
    constant_time::verify_slices_are_equal(computed.as_bytes(), challenge.as_bytes()).is_ok()
}

/// A secret drawn for a browser: an authorization code or a session cookie. 256 random bits,
/// base64url; only its SHA-256 is ever stored; never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct BrowserSecret(String);

impl fmt::Debug for BrowserSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("BrowserSecret(<redacted>)")
    }
}

impl BrowserSecret {
    pub fn generate() -> Result<Self, aws_lc_rs::error::Unspecified> {
        let mut bytes = [0u8; 32];
        aws_lc_rs::rand::fill(&mut bytes)?;
        Ok(Self(URL_SAFE_NO_PAD.encode(bytes)))
    }

    /// Accepts only the shape jwtd draws; anything else cannot be one of ours.
    pub fn parse(text: &str) -> Option<Self> {
        (text.len() == CHALLENGE_LEN && URL_SAFE_NO_PAD.decode(text).is_ok_and(|b| b.len() == 32))
            .then(|| Self(text.to_owned()))
    }

    pub fn hash(&self) -> Vec<u8> {
        digest::digest(&digest::SHA256, self.0.as_bytes()).as_ref().to_vec()
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests;
