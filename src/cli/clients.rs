//! `jwtd clients …`: register, change and list clients, through the operations the admin API
//! uses (so the same rules, the same audit events).

use clap::{Args, Subcommand};
use serde_json::json;

use super::CliResult;
use crate::accounts::clients::{ClientChange, ClientRegistration};
use crate::authority::{self, audit::Actor};
use crate::clock::{Clock, SystemClock};
use crate::config::Settings;
use crate::startup;

#[derive(Debug, Subcommand)]
pub(super) enum ClientsCommand {
    /// Register a client; prints its id and its secret (a public client has none), once.
    Create(Box<CreateClient>),
    /// Change a client: each flag given replaces that field, the others stay.
    Update(Box<UpdateClient>),
    /// List registered clients.
    List {
        #[arg(long)]
        json: bool,
    },
}

pub(super) fn run(settings: &Settings, command: ClientsCommand) -> CliResult {
    match command {
        ClientsCommand::Create(args) => create_client(settings, *args),
        ClientsCommand::Update(args) => update_client(settings, *args),
        ClientsCommand::List { json } => list_clients(settings, json),
    }
}

#[derive(Debug, Args)]
pub(super) struct CreateClient {
    /// A name for operators.
    #[arg(long)]
    name: String,
    #[command(flatten)]
    fields: ClientFlags,
    /// Print one JSON object with `client_id` and `client_secret`.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
pub(super) struct UpdateClient {
    /// The client's id. An id may start with `-` (base64url), so it is taken as it stands.
    #[arg(allow_hyphen_values = true)]
    id: String,
    /// A new name for operators.
    #[arg(long)]
    name: Option<String>,
    #[command(flatten)]
    fields: ClientFlags,
    /// Print the changed client as JSON.
    #[arg(long)]
    json: bool,
}

/// A client's fields, for `create` (absent: the defaults, a confidential web client with the
/// `client_credentials` grant) and `update` (absent: unchanged). A repeated flag gives a list,
/// which replaces the whole list on update; one empty value (`--web-origin ''`) empties it.
#[derive(Debug, Args)]
struct ClientFlags {
    /// Space-separated scopes the client may request.
    #[arg(long)]
    scope: Option<String>,
    /// An audience (`aud`) of its tokens; repeat for several.
    #[arg(long = "audience")]
    audiences: Vec<String>,
    /// A grant type the client may use (`authorization_code`, `client_credentials`, `password`,
    /// `refresh_token`, `token_exchange`); repeat for several.
    #[arg(long = "grant")]
    grants: Vec<String>,
    /// Where browser sign-in may send its users back to (matched exactly); repeat for several.
    #[arg(long = "redirect-uri")]
    redirect_uris: Vec<String>,
    /// An origin (`https://app.example`) whose pages may call the token, revocation and
    /// userinfo endpoints (CORS); repeat for several.
    #[arg(long = "web-origin")]
    web_origins: Vec<String>,
    /// `web` (https redirect URIs) or `native` (loopback and private-use-scheme redirect URIs).
    #[arg(long, value_parser = ["web", "native"])]
    application_type: Option<String>,
    /// `client_secret_basic` (the default; accepts `client_secret_post` too), `private_key_jwt`
    /// (assertions signed by the client's key: give `--jwks-file` or `--jwks-uri`) or `none` (a
    /// public client, without a secret). Fixed once the client exists.
    #[arg(long, conflicts_with = "public")]
    auth_method: Option<String>,
    /// A public client: the same as `--auth-method none`.
    #[arg(long)]
    public: bool,
    /// One of the operator's own apps (`--first-party false` to unset).
    #[arg(long, num_args = 0..=1, default_missing_value = "true")]
    first_party: Option<bool>,
    /// Browser client: send refresh tokens as a `__Host-jwtd_rt` cookie, not in the body
    /// (`--refresh-cookie false` to unset).
    #[arg(long, num_args = 0..=1, default_missing_value = "true")]
    refresh_cookie: Option<bool>,
    /// A resource server's client: it may introspect other clients' tokens whose `aud` names
    /// this audience; repeat for several (without it, only its own tokens).
    #[arg(long = "introspect-audience")]
    introspection_audiences: Vec<String>,
    /// Where logout may send its users afterwards (RP-Initiated Logout, matched exactly); repeat
    /// for several.
    #[arg(long = "post-logout-redirect-uri")]
    post_logout_redirect_uris: Vec<String>,
    /// Where jwtd POSTs a logout token when a session its users signed in through ends
    /// (Back-Channel Logout); `''` removes it.
    #[arg(long)]
    backchannel_logout_uri: Option<String>,
    /// `private_key_jwt` (`--auth-method private_key_jwt`): a file holding the client's public
    /// keys as a JWK set (`{"keys": [...]}`); `''` removes them.
    #[arg(long)]
    jwks_file: Option<std::path::PathBuf>,
    /// `private_key_jwt`: where the client publishes its public keys (https); `''` removes it.
    #[arg(long)]
    jwks_uri: Option<String>,
    /// `workload_identity` (`--auth-method workload_identity`): the issuer of the workloads'
    /// tokens (a Kubernetes cluster's service-account issuer, a CI system's); `''` removes the
    /// whole trust.
    #[arg(long)]
    workload_issuer: Option<String>,
    /// The workloads' subject, exactly, or a prefix ending in `*`
    /// (`system:serviceaccount:payments:*`).
    #[arg(long)]
    workload_subject: Option<String>,
    /// The audience their tokens carry (default: jwtd's issuer).
    #[arg(long)]
    workload_audience: Option<String>,
    /// Where the issuer's keys are (default: its discovery document's jwks_uri).
    #[arg(long)]
    workload_jwks_uri: Option<String>,
    /// The longest token lifetime accepted, in seconds (default 3600).
    #[arg(long)]
    workload_max_lifetime: Option<i64>,
    /// An API (absolute URI) the client may ask tokens for with `resource` (RFC 8707) and, with
    /// the `token_exchange` grant, exchange tokens for; repeat for several.
    #[arg(long = "resource")]
    resources: Vec<String>,
    /// An audience of the API the client serves itself: tokens sent to it are the ones it may
    /// exchange (`token_exchange`); repeat for several.
    #[arg(long = "served-resource")]
    served_resources: Vec<String>,
    /// DPoP (RFC 9449): `off`, `optional` (the default: a proof binds the tokens, none gives
    /// Bearer) or `required`.
    #[arg(long, value_parser = ["off", "optional", "required"])]
    dpop: Option<String>,
    /// DPoP proofs must carry a nonce jwtd provided (`--dpop-nonce false` to unset).
    #[arg(long, num_args = 0..=1, default_missing_value = "true")]
    dpop_nonce: Option<bool>,
}

impl ClientFlags {
    fn into_change(self, name: Option<String>) -> Result<ClientChange, Box<dyn std::error::Error>> {
        let jwks = match &self.jwks_file {
            Some(path) if path.as_os_str().is_empty() => Some(serde_json::Value::Null),
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|e| format!("--jwks-file {}: {e}", path.display()))?;
                Some(
                    serde_json::from_str(&text)
                        .map_err(|e| format!("--jwks-file {}: not JSON: {e}", path.display()))?,
                )
            }
            None => None,
        };
        Ok(ClientChange {
            name,
            scope: self.scope,
            audiences: flag_list(self.audiences),
            grant_types: flag_list(self.grants),
            auth_method: if self.public { Some("none".to_owned()) } else { self.auth_method },
            application_type: self.application_type,
            redirect_uris: flag_list(self.redirect_uris),
            web_origins: flag_list(self.web_origins),
            first_party: self.first_party,
            introspection_audiences: flag_list(self.introspection_audiences),
            refresh_cookie: self.refresh_cookie,
            post_logout_redirect_uris: flag_list(self.post_logout_redirect_uris),
            backchannel_logout_uri: self.backchannel_logout_uri,
            jwks,
            jwks_uri: self.jwks_uri,
            workload_issuer: self.workload_issuer,
            workload_subject: self.workload_subject,
            workload_audience: self.workload_audience,
            workload_jwks_uri: self.workload_jwks_uri,
            workload_max_lifetime: self.workload_max_lifetime,
            resources: flag_list(self.resources),
            served_resources: flag_list(self.served_resources),
            dpop: self.dpop,
            dpop_bound_access_tokens: None,
            dpop_nonce: self.dpop_nonce,
        })
    }
}

/// A repeated flag's values: none given is no change; one empty value, an empty list.
fn flag_list(values: Vec<String>) -> Option<Vec<String>> {
    match values.as_slice() {
        [] => None,
        [only] if only.is_empty() => Some(Vec::new()),
        _ => Some(values),
    }
}

fn create_client(settings: &Settings, args: CreateClient) -> CliResult {
    let change = args.fields.into_change(Some(args.name))?;
    let registration = ClientRegistration::create(&change, settings.deployment())?;
    let pool = startup::open_pool(settings)?;
    let (client, secret) =
        authority::clients::register(&mut *pool.get()?, &Actor::cli(), &registration, SystemClock.now())?;
    if args.json {
        println!("{}", client.describe_with_secret(secret.as_ref()));
        return Ok(());
    }
    println!("client_id:     {}", client.id);
    match secret {
        Some(secret) => {
            println!("client_secret: {}", secret.expose());
            println!("The secret is shown once and stored only as a hash: keep it now.");
        }
        None => println!("A public client: it has no secret and presents its client_id alone."),
    }
    Ok(())
}

fn update_client(settings: &Settings, args: UpdateClient) -> CliResult {
    let change = args.fields.into_change(args.name)?;
    let pool = startup::open_pool(settings)?;
    let (actor, now) = (Actor::cli(), SystemClock.now());
    let client =
        authority::clients::update(&mut *pool.get()?, &actor, &args.id, &change, settings.deployment(), now)?;
    if args.json {
        println!("{}", client.describe());
    } else {
        println!("updated client {} ({}); running servers see it within seconds", client.id, client.name);
    }
    Ok(())
}

fn list_clients(settings: &Settings, as_json: bool) -> CliResult {
    let pool = startup::open_pool(settings)?;
    let clients = authority::clients::list(&mut *pool.get()?)?;
    if as_json {
        let list: Vec<_> = clients
            .iter()
            .map(|c| {
                let grants: Vec<&str> = c.grant_types.iter().map(|g| g.as_str()).collect();
                json!({ "client_id": c.id, "name": c.name, "scope": c.scope.to_string(),
                        "audiences": c.audiences, "grant_types": grants, "disabled": c.disabled,
                        "created_at": c.created_at })
            })
            .collect();
        println!("{}", serde_json::Value::Array(list));
        return Ok(());
    }
    println!("{:<24} {:<24} {:<32} SCOPE", "CLIENT_ID", "NAME", "GRANTS");
    for c in &clients {
        let grants: Vec<&str> = c.grant_types.iter().map(|g| g.as_str()).collect();
        println!("{:<24} {:<24} {:<32} {}", c.id, c.name, grants.join(","), c.scope);
    }
    Ok(())
}
