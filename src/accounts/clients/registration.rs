//! What an operator registers a client as, and the rules a registration keeps whether it is
//! new or changed: each field bounded, each URI allowed for the client's application type, and
//! the rules between fields (a public client has no secret to use `client_credentials` or
//! `password` with; `authorization_code` needs somewhere to send the user back to).

use serde_json::{Map, Value, json};

use super::uris::{self, Deployment, MAX_RESOURCES, MAX_URIS, is_resource_uri};
use super::workload::{DEFAULT_MAX_LIFETIME, MAX_LIFETIME_RANGE, SubjectPattern, WorkloadTrust};
use super::{ApplicationType, AuthMethod, Client, DpopMode, GrantType};
use crate::scope::{Scope, ScopeError};
use jsonwebtoken::jwk::JwkSet;

const MAX_NAME_LEN: usize = 200;
const MAX_AUDIENCE_LEN: usize = 512;
const MAX_AUDIENCES: usize = 16;

/// What an operator asks for when registering a client. Build it with [`ClientRegistration::new`]
/// (and [`ClientRegistration::with`] for the rest), which check every rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientRegistration {
    pub name: String,
    pub scope: Scope,
    pub audiences: Vec<String>,
    pub grant_types: Vec<GrantType>,
    /// Browser clients: refresh tokens travel in a `__Host-` cookie instead of the body.
    pub refresh_cookie: bool,
    /// Audiences of other clients' tokens this client may introspect (none by default).
    pub introspection_audiences: Vec<String>,
    /// A secret (the default), or none for a public client.
    pub auth_method: AuthMethod,
    pub application_type: ApplicationType,
    pub redirect_uris: Vec<String>,
    pub web_origins: Vec<String>,
    pub first_party: bool,
    /// `private_key_jwt`: the client's public keys inline (see [`super::keys::check_jwks`]) ...
    pub jwks: Option<JwkSet>,
    /// ... or where it publishes them (https; loopback http outside production). Exactly one.
    pub jwks_uri: Option<String>,
    /// `workload_identity`: the issuer trusted and which of its subjects are the client.
    pub workload: Option<WorkloadTrust>,
    /// Where RP-initiated logout may send people afterwards; the same rules as redirect URIs.
    pub post_logout_redirect_uris: Vec<String>,
    /// Back-channel logout: `https` (loopback `http` outside production), no fragment.
    pub backchannel_logout_uri: Option<String>,
    /// The resources (absolute URIs) the client may ask tokens for (RFC 8707) ...
    pub resources: Vec<String>,
    /// ... and the audiences of its own API, whose tokens it may exchange (RFC 8693).
    pub served_resources: Vec<String>,
    /// DPoP (RFC 9449): off, optional (the default) or required.
    pub dpop: DpopMode,
    /// DPoP proofs must carry a nonce jwtd provided (RFC 9449 §8).
    pub dpop_nonce: bool,
}

/// Fields as an operator writes them (the admin API's JSON, the CLI's flags), each optional: at
/// registration an absent field keeps its default, in a change it keeps its registered value.
#[derive(Debug, Default, Clone)]
pub struct ClientChange {
    pub name: Option<String>,
    pub scope: Option<String>,
    pub audiences: Option<Vec<String>>,
    pub grant_types: Option<Vec<String>>,
    /// `token_endpoint_auth_method`: only at registration (see [`Client::changed`]).
    pub auth_method: Option<String>,
    pub application_type: Option<String>,
    pub redirect_uris: Option<Vec<String>>,
    pub web_origins: Option<Vec<String>>,
    pub first_party: Option<bool>,
    pub introspection_audiences: Option<Vec<String>>,
    pub refresh_cookie: Option<bool>,
    pub post_logout_redirect_uris: Option<Vec<String>>,
    /// An empty value removes the URI.
    pub backchannel_logout_uri: Option<String>,
    /// A JWK set; `null` removes it.
    pub jwks: Option<Value>,
    /// An empty value removes it.
    pub jwks_uri: Option<String>,
    /// `workload_identity`: the trusted issuer (an empty value removes the whole trust) ...
    pub workload_issuer: Option<String>,
    /// ... the subject or `prefix*` pattern ...
    pub workload_subject: Option<String>,
    /// ... the audience the tokens carry (empty: jwtd's issuer) ...
    pub workload_audience: Option<String>,
    /// ... where the issuer's keys are (empty: its discovery document) ...
    pub workload_jwks_uri: Option<String>,
    /// ... and the longest token lifetime accepted, in seconds.
    pub workload_max_lifetime: Option<i64>,
    pub resources: Option<Vec<String>>,
    pub served_resources: Option<Vec<String>>,
    /// `off`, `optional` or `required`.
    pub dpop: Option<String>,
    /// RFC 9449 §5.2's client metadata: `true` is `dpop: required`, `false` `dpop: optional`.
    pub dpop_bound_access_tokens: Option<bool>,
    pub dpop_nonce: Option<bool>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RegistrationError {
    #[error("name must be 1 to {MAX_NAME_LEN} characters")]
    Name,
    #[error("scope: {0}")]
    Scope(#[from] ScopeError),
    #[error(
        "audiences must be at most {MAX_AUDIENCES} non-empty URIs of at most {MAX_AUDIENCE_LEN} characters without spaces"
    )]
    Audience,
    #[error(
        "unknown grant type {0:?}; known: authorization_code, client_credentials, password, refresh_token, token_exchange (urn:ietf:params:oauth:grant-type:token-exchange)"
    )]
    GrantType(String),
    #[error("a client needs at least one grant type")]
    NoGrant,
    #[error(
        "unknown token_endpoint_auth_method {0:?}; known: client_secret_basic, client_secret_post, private_key_jwt, none"
    )]
    AuthMethod(String),
    #[error("unknown application_type {0:?}; known: web, native")]
    ApplicationType(String),
    #[error("redirect URI {uri:?} {refusal}")]
    RedirectUri { uri: String, refusal: String },
    #[error("post-logout redirect URI {uri:?} {refusal}")]
    PostLogoutUri { uri: String, refusal: String },
    #[error("backchannel_logout_uri {uri:?} {refusal}")]
    BackchannelUri { uri: String, refusal: String },
    #[error("jwks {0}")]
    Jwks(String),
    #[error("jwks_uri {uri:?} {refusal}")]
    JwksUri { uri: String, refusal: String },
    #[error("a private_key_jwt client needs its public keys: jwks (inline) or jwks_uri, exactly one of them")]
    KeysNeeded,
    #[error("only a private_key_jwt client registers jwks or jwks_uri")]
    KeysUnused,
    #[error("a workload_identity client needs workload_issuer and workload_subject")]
    WorkloadNeeded,
    #[error("only a workload_identity client registers workload_* fields")]
    WorkloadUnused,
    #[error("workload_subject {0}")]
    WorkloadSubject(String),
    #[error("workload_{field} {uri:?} {refusal}")]
    WorkloadUri { field: &'static str, uri: String, refusal: String },
    #[error("workload_audience must be 1 to {MAX_AUDIENCE_LEN} characters without spaces")]
    WorkloadAudience,
    #[error("workload_max_lifetime must be 60 to 86400 seconds")]
    WorkloadLifetime,
    #[error("web origin {origin:?} {refusal}")]
    WebOrigin { origin: String, refusal: String },
    #[error("a client has at most {MAX_URIS} {0}")]
    TooMany(&'static str),
    #[error(
        "a public client (token_endpoint_auth_method none) may not use the {0} grant: it has no secret to prove who it is"
    )]
    PublicGrant(&'static str),
    #[error("the authorization_code grant needs at least one redirect URI")]
    NoRedirectUri,
    #[error("resources must be at most {MAX_RESOURCES} absolute URIs without a fragment ({0:?} is not)")]
    Resource(String),
    #[error(
        "the token-exchange grant needs served_resources (the audiences of the API whose tokens the client exchanges) and resources (the APIs it may exchange them for)"
    )]
    ExchangeNeedsResources,
    #[error("unknown dpop {0:?}; known: off, optional, required")]
    Dpop(String),
    #[error("dpop_nonce needs dpop optional or required")]
    DpopNonceUnused,
    #[error("dpop_bound_access_tokens {bound} contradicts dpop {mode:?}")]
    DpopContradiction { bound: bool, mode: String },
    #[error(
        "token_endpoint_auth_method cannot change after registration ({from} to {to}): its apps were built for it; register a new client instead"
    )]
    AuthMethodFixed { from: &'static str, to: &'static str },
}

impl ClientRegistration {
    /// A confidential web client with these basics; [`ClientRegistration::with`] sets the rest.
    pub fn new(
        name: &str,
        scope: &str,
        audiences: &[String],
        grant_types: &[String],
    ) -> Result<Self, RegistrationError> {
        let registration = Self {
            name: checked_name(name)?,
            scope: Scope::parse(scope)?,
            audiences: audience_list(audiences)?,
            grant_types: grant_list(grant_types)?,
            refresh_cookie: false,
            introspection_audiences: Vec::new(),
            auth_method: AuthMethod::Secret,
            application_type: ApplicationType::Web,
            redirect_uris: Vec::new(),
            web_origins: Vec::new(),
            first_party: false,
            jwks: None,
            jwks_uri: None,
            workload: None,
            post_logout_redirect_uris: Vec::new(),
            backchannel_logout_uri: None,
            resources: Vec::new(),
            served_resources: Vec::new(),
            dpop: DpopMode::default(),
            dpop_nonce: false,
        };
        registration.check_rules()?;
        Ok(registration)
    }

    /// A new client's registration: what `change` names over the defaults (a confidential web
    /// client with the `client_credentials` grant, no scope, no audience), checked whole. The
    /// name is required.
    pub fn create(change: &ClientChange, deployment: Deployment) -> Result<Self, RegistrationError> {
        let name = change.name.as_deref().ok_or(RegistrationError::Name)?;
        let grants = [GrantType::ClientCredentials.as_str().to_owned()];
        Self::new(name, "", &[], &grants)?.with(change, deployment)
    }

    /// Lets this client (a resource server) introspect tokens of other clients whose `aud`
    /// names one of `audiences` (RFC 7662 §4).
    pub fn with_introspection(mut self, audiences: &[String]) -> Result<Self, RegistrationError> {
        self.introspection_audiences = audience_list(audiences)?;
        Ok(self)
    }

    /// Sets every field `change` names, then checks the whole registration: each URI against
    /// the (perhaps new) application type and `deployment`, and the rules between fields.
    pub fn with(mut self, change: &ClientChange, deployment: Deployment) -> Result<Self, RegistrationError> {
        if let Some(name) = &change.name {
            self.name = checked_name(name)?;
        }
        if let Some(scope) = &change.scope {
            self.scope = Scope::parse(scope)?;
        }
        if let Some(audiences) = &change.audiences {
            self.audiences = audience_list(audiences)?;
        }
        if let Some(grants) = &change.grant_types {
            self.grant_types = grant_list(grants)?;
        }
        if let Some(method) = &change.auth_method {
            self.auth_method = parse_auth_method(method)?;
        }
        if let Some(kind) = &change.application_type {
            self.application_type = ApplicationType::parse(kind)
                .ok_or_else(|| RegistrationError::ApplicationType(kind.clone()))?;
        }
        if let Some(list) = &change.redirect_uris {
            self.redirect_uris = uri_list(list, "redirect URIs")?;
        }
        if let Some(list) = &change.web_origins {
            self.web_origins = uri_list(list, "web origins")?;
        }
        if let Some(audiences) = &change.introspection_audiences {
            self.introspection_audiences = audience_list(audiences)?;
        }
        if let Some(list) = &change.post_logout_redirect_uris {
            self.post_logout_redirect_uris = uri_list(list, "post-logout redirect URIs")?;
        }
        if let Some(list) = &change.resources {
            self.resources = resource_list(list)?;
        }
        if let Some(list) = &change.served_resources {
            self.served_resources = audience_list(list)?;
        }
        if let Some(uri) = &change.backchannel_logout_uri {
            self.backchannel_logout_uri = Some(uri.clone()).filter(|u| !u.is_empty());
        }
        if let Some(jwks) = &change.jwks {
            self.jwks = match jwks {
                Value::Null => None,
                set => Some(super::keys::check_jwks(set).map_err(RegistrationError::Jwks)?),
            };
        }
        if let Some(uri) = &change.jwks_uri {
            self.jwks_uri = Some(uri.clone()).filter(|u| !u.is_empty());
        }
        if let Some(mode) = &change.dpop {
            self.dpop = DpopMode::parse(mode).ok_or_else(|| RegistrationError::Dpop(mode.clone()))?;
        }
        if let Some(bound) = change.dpop_bound_access_tokens {
            let mode = if bound { DpopMode::Required } else { DpopMode::Optional };
            if change.dpop.is_some() && self.dpop != mode {
                let mode = self.dpop.as_str().to_owned();
                return Err(RegistrationError::DpopContradiction { bound, mode });
            }
            self.dpop = mode;
        }
        self.dpop_nonce = change.dpop_nonce.unwrap_or(self.dpop_nonce);
        self.workload = workload_trust(self.workload.take(), change)?;
        self.first_party = change.first_party.unwrap_or(self.first_party);
        self.refresh_cookie = change.refresh_cookie.unwrap_or(self.refresh_cookie);
        self.check(deployment)?;
        Ok(self)
    }

    /// What `client` is registered as.
    pub fn of(client: &Client) -> Self {
        Self {
            name: client.name.clone(),
            scope: client.scope.clone(),
            audiences: client.audiences.clone(),
            grant_types: client.grant_types.clone(),
            refresh_cookie: client.refresh_cookie,
            introspection_audiences: client.introspection_audiences.clone(),
            auth_method: client.auth_method,
            application_type: client.application_type,
            redirect_uris: client.redirect_uris.clone(),
            web_origins: client.web_origins.clone(),
            first_party: client.first_party,
            jwks: client.jwks.clone(),
            jwks_uri: client.jwks_uri.clone(),
            workload: client.workload.clone(),
            post_logout_redirect_uris: client.post_logout_redirect_uris.clone(),
            backchannel_logout_uri: client.backchannel_logout_uri.clone(),
            resources: client.resources.clone(),
            served_resources: client.served_resources.clone(),
            dpop: client.dpop,
            dpop_nonce: client.dpop_nonce,
        }
    }

    /// Every URI allowed for the application type in `deployment`, and the rules between fields.
    pub fn check(&self, deployment: Deployment) -> Result<(), RegistrationError> {
        for uri in &self.redirect_uris {
            uris::check_redirect_uri(uri, self.application_type, deployment)
                .map_err(|refusal| RegistrationError::RedirectUri { uri: uri.clone(), refusal })?;
        }
        for uri in &self.post_logout_redirect_uris {
            uris::check_redirect_uri(uri, self.application_type, deployment)
                .map_err(|refusal| RegistrationError::PostLogoutUri { uri: uri.clone(), refusal })?;
        }
        if let Some(uri) = &self.backchannel_logout_uri {
            uris::check_server_uri(uri, deployment)
                .map_err(|refusal| RegistrationError::BackchannelUri { uri: uri.clone(), refusal })?;
        }
        if let Some(uri) = &self.jwks_uri {
            uris::check_server_uri(uri, deployment)
                .map_err(|refusal| RegistrationError::JwksUri { uri: uri.clone(), refusal })?;
        }
        if let Some(trust) = &self.workload {
            let uris = [("issuer", Some(&trust.issuer)), ("jwks_uri", trust.jwks_uri.as_ref())];
            for (field, uri) in uris.into_iter().filter_map(|(f, u)| u.map(|u| (f, u))) {
                uris::check_server_uri(uri, deployment)
                    .map_err(|refusal| RegistrationError::WorkloadUri { field, uri: uri.clone(), refusal })?;
            }
        }
        for origin in &self.web_origins {
            uris::check_web_origin(origin, deployment)
                .map_err(|refusal| RegistrationError::WebOrigin { origin: origin.clone(), refusal })?;
        }
        self.check_rules()
    }

    fn check_rules(&self) -> Result<(), RegistrationError> {
        if self.auth_method == AuthMethod::None {
            let needs_secret = [GrantType::ClientCredentials, GrantType::Password, GrantType::TokenExchange];
            if let Some(grant) = needs_secret.into_iter().find(|g| self.grant_types.contains(g)) {
                return Err(RegistrationError::PublicGrant(grant.as_str()));
            }
        }
        if self.grant_types.contains(&GrantType::AuthorizationCode) && self.redirect_uris.is_empty() {
            return Err(RegistrationError::NoRedirectUri);
        }
        if self.grant_types.contains(&GrantType::TokenExchange)
            && (self.served_resources.is_empty() || self.resources.is_empty())
        {
            return Err(RegistrationError::ExchangeNeedsResources);
        }
        if self.dpop_nonce && self.dpop == DpopMode::Off {
            return Err(RegistrationError::DpopNonceUnused);
        }
        let has_keys = (self.jwks.is_some(), self.jwks_uri.is_some());
        match (self.auth_method, has_keys) {
            (AuthMethod::PrivateKeyJwt, (true, false) | (false, true)) => {}
            (AuthMethod::PrivateKeyJwt, _) => return Err(RegistrationError::KeysNeeded),
            (_, (false, false)) => {}
            _ => return Err(RegistrationError::KeysUnused),
        }
        match (self.auth_method, &self.workload) {
            (AuthMethod::WorkloadIdentity, None) => Err(RegistrationError::WorkloadNeeded),
            (AuthMethod::WorkloadIdentity, Some(_)) | (_, None) => Ok(()),
            (_, Some(_)) => Err(RegistrationError::WorkloadUnused),
        }
    }

    /// The registration's fields as the admin API, the CLI and the audit log show them.
    pub fn describe(&self) -> Map<String, Value> {
        let grants: Vec<&str> = self.grant_types.iter().map(|g| g.as_str()).collect();
        let fields = json!({
            "name": self.name,
            "scope": self.scope.to_string(),
            "audiences": self.audiences,
            "grant_types": grants,
            "refresh_cookie": self.refresh_cookie,
            "introspection_audiences": self.introspection_audiences,
            "token_endpoint_auth_method": self.auth_method.as_str(),
            "application_type": self.application_type.as_str(),
            "redirect_uris": self.redirect_uris,
            "web_origins": self.web_origins,
            "first_party": self.first_party,
            "jwks": self.jwks,
            "jwks_uri": self.jwks_uri,
            "workload_issuer": self.workload.as_ref().map(|w| w.issuer.clone()),
            "workload_subject": self.workload.as_ref().map(|w| w.subject.to_string()),
            "workload_audience": self.workload.as_ref().and_then(|w| w.audience.clone()),
            "workload_jwks_uri": self.workload.as_ref().and_then(|w| w.jwks_uri.clone()),
            "workload_max_lifetime": self.workload.as_ref().map(|w| w.max_lifetime),
            "post_logout_redirect_uris": self.post_logout_redirect_uris,
            "backchannel_logout_uri": self.backchannel_logout_uri,
            "resources": self.resources,
            "served_resources": self.served_resources,
            "dpop": self.dpop.as_str(),
            "dpop_bound_access_tokens": self.dpop == DpopMode::Required,
            "dpop_nonce": self.dpop_nonce,
        });
        match fields {
            Value::Object(fields) => fields,
            _ => Map::new(),
        }
    }
}

impl Client {
    /// This client's registration after `change`, checked whole with the same rules as a new
    /// one, and what changed: each changed field's value before and after (never a secret), for
    /// the audit log. The authentication method is fixed at registration: a change to it is
    /// refused, one naming the present method is no change.
    pub fn changed(
        &self,
        change: &ClientChange,
        deployment: Deployment,
    ) -> Result<(ClientRegistration, Map<String, Value>), RegistrationError> {
        if let Some(method) = &change.auth_method {
            let to = parse_auth_method(method)?;
            if to != self.auth_method {
                return Err(RegistrationError::AuthMethodFixed {
                    from: self.auth_method.as_str(),
                    to: to.as_str(),
                });
            }
        }
        let before = ClientRegistration::of(self);
        let after = before.clone().with(change, deployment)?;
        let old = before.describe();
        let changes = after
            .describe()
            .into_iter()
            .filter(|(field, value)| old.get(field) != Some(value))
            .map(|(field, value)| {
                let was = old.get(&field).cloned().unwrap_or(Value::Null);
                (field, json!({ "from": was, "to": value }))
            })
            .collect();
        Ok((after, changes))
    }
}

/// The workload trust after `change`: unchanged when it names no `workload_*` field; removed by
/// an empty `workload_issuer`; otherwise the fields it names over what was there. Each field is
/// checked here; whether the trust is complete is [`ClientRegistration::check_rules`]'s.
fn workload_trust(
    current: Option<WorkloadTrust>,
    change: &ClientChange,
) -> Result<Option<WorkloadTrust>, RegistrationError> {
    let named = change.workload_issuer.is_some()
        || change.workload_subject.is_some()
        || change.workload_audience.is_some()
        || change.workload_jwks_uri.is_some()
        || change.workload_max_lifetime.is_some();
    if !named {
        return Ok(current);
    }
    if change.workload_issuer.as_deref() == Some("") {
        return Ok(None);
    }
    let issuer = change.workload_issuer.clone().or_else(|| current.as_ref().map(|w| w.issuer.clone()));
    let subject = match &change.workload_subject {
        Some(text) => {
            Some(SubjectPattern::parse(text).map_err(|e| RegistrationError::WorkloadSubject(e.to_string()))?)
        }
        None => current.as_ref().map(|w| w.subject.clone()),
    };
    let (Some(issuer), Some(subject)) = (issuer, subject) else {
        return Err(RegistrationError::WorkloadNeeded);
    };
    let optional = |changed: &Option<String>, was: Option<String>| match changed {
        Some(text) if text.is_empty() => None,
        Some(text) => Some(text.clone()),
        None => was,
    };
    let audience = optional(&change.workload_audience, current.as_ref().and_then(|w| w.audience.clone()));
    if audience
        .as_ref()
        .is_some_and(|a| a.len() > MAX_AUDIENCE_LEN || a.chars().any(|c| c.is_whitespace() || c.is_control()))
    {
        return Err(RegistrationError::WorkloadAudience);
    }
    let jwks_uri = optional(&change.workload_jwks_uri, current.as_ref().and_then(|w| w.jwks_uri.clone()));
    let max_lifetime = change
        .workload_max_lifetime
        .or(current.as_ref().map(|w| w.max_lifetime))
        .unwrap_or(DEFAULT_MAX_LIFETIME);
    if !MAX_LIFETIME_RANGE.contains(&max_lifetime) {
        return Err(RegistrationError::WorkloadLifetime);
    }
    Ok(Some(WorkloadTrust { issuer, subject, audience, jwks_uri, max_lifetime }))
}

fn parse_auth_method(name: &str) -> Result<AuthMethod, RegistrationError> {
    AuthMethod::parse(name).ok_or_else(|| RegistrationError::AuthMethod(name.to_owned()))
}

fn checked_name(name: &str) -> Result<String, RegistrationError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > MAX_NAME_LEN || name.chars().any(char::is_control) {
        return Err(RegistrationError::Name);
    }
    Ok(name.to_owned())
}

/// Known grant types, sorted, without repeats; at least one. `token_exchange` is accepted as a
/// short name for the token-exchange grant's URN.
fn grant_list(grant_types: &[String]) -> Result<Vec<GrantType>, RegistrationError> {
    let parse = |name: &str| match name {
        "token_exchange" => Some(GrantType::TokenExchange),
        name => GrantType::parse(name),
    };
    let mut grants = grant_types
        .iter()
        .map(|g| parse(g).ok_or_else(|| RegistrationError::GrantType(g.clone())))
        .collect::<Result<Vec<_>, _>>()?;
    grants.sort();
    grants.dedup();
    if grants.is_empty() {
        return Err(RegistrationError::NoGrant);
    }
    Ok(grants)
}

/// A bounded list of audience URIs without spaces (they are stored space-separated), in order,
/// without repeats.
fn audience_list(audiences: &[String]) -> Result<Vec<String>, RegistrationError> {
    if audiences.len() > MAX_AUDIENCES
        || audiences.iter().any(|a| {
            a.is_empty()
                || a.len() > MAX_AUDIENCE_LEN
                || a.chars().any(|c| c.is_whitespace() || c.is_control())
        })
    {
        return Err(RegistrationError::Audience);
    }
    Ok(without_repeats(audiences))
}

/// At most [`MAX_RESOURCES`] resource identifiers (absolute URIs without a fragment), in order,
/// without repeats.
fn resource_list(list: &[String]) -> Result<Vec<String>, RegistrationError> {
    if let Some(bad) = list.iter().find(|r| !is_resource_uri(r)) {
        return Err(RegistrationError::Resource(bad.chars().take(64).collect()));
    }
    if list.len() > MAX_RESOURCES {
        return Err(RegistrationError::Resource(String::new()));
    }
    Ok(without_repeats(list))
}

/// At most [`MAX_URIS`] URIs, in order, without repeats; each is checked by [`ClientRegistration::check`].
fn uri_list(list: &[String], what: &'static str) -> Result<Vec<String>, RegistrationError> {
    if list.len() > MAX_URIS {
        return Err(RegistrationError::TooMany(what));
    }
    Ok(without_repeats(list))
}

fn without_repeats(items: &[String]) -> Vec<String> {
    let mut list: Vec<String> = Vec::with_capacity(items.len());
    for item in items {
        if !list.contains(item) {
            list.push(item.clone());
        }
    }
    list
}

#[cfg(test)]
mod tests;
