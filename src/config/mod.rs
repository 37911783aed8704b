//! Settings, layered: the defaults compiled in from `config/default.toml`, then the files
//! `default.toml` and `$JWTD_ENV.toml` (when present) in `$JWTD_CONFIG_DIR` (default `config`),
//! then environment variables `JWTD__SECTION__KEY`. Unknown keys are an error.
//!
//! Reads: `JWTD_ENV` (`development` or `production`), `JWTD_CONFIG_DIR`, `JWTD__*`,
//! `JWTD_MASTER_KEY`, `JWTD_MASTER_KEY_FILE`, `JWTD_BOOTSTRAP_ADMIN_FILE`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use crate::accounts::clients::Deployment;
use crate::keys::master::MasterKeySource;
use crate::keys::signing::Algorithm;

// The settings the domain is configured with are its own types (the domain does not know the
// configuration); they are read here as they are.
pub use crate::accounts::passwords::PasswordSettings;
pub use crate::accounts::throttle::ThrottleSettings;
pub use crate::tokens::families::{BindingPolicy, TokenFormat};

const EMBEDDED_DEFAULTS: &str = include_str!("../../config/default.toml");

/// The leeway the revocation feed and key retirement allow verifiers, at least: `jwtd-verify`'s
/// default and largest leeway. A verifier may accept a token until its `exp` plus its own
/// leeway, whatever jwtd's `keys.leeway` says, so what jwtd publishes about a token (a revoked
/// family in the feed, a key in the JWKS) must last that long too.
const MINUTE: Duration = Duration::from_secs(60);
const DAY: Duration = Duration::from_secs(86_400);

pub const VERIFIER_LEEWAY: Duration = Duration::from_secs(60);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Environment {
    Development,
    Production,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    pub issuer: String,
    pub data_dir: PathBuf,
    pub http: HttpSettings,
    pub database: DatabaseSettings,
    pub tokens: TokenSettings,
    pub keys: KeySettings,
    pub log: LogSettings,
    pub admin: AdminSettings,
    pub refresh: RefreshSettings,
    pub audit: AuditSettings,
    pub revocations: RevocationSettings,
    pub sessions: SessionSettings,
    pub login: LoginSettings,
    pub passwords: PasswordSettings,
    pub throttle: ThrottleSettings,
    pub backchannel_logout: BackchannelLogoutSettings,
    pub remote_jwks: RemoteJwksSettings,
    #[serde(skip, default = "development")]
    pub environment: Environment,
    /// `JWTD_MASTER_KEY`: base64 of 32 bytes.
    #[serde(skip)]
    pub master_key: Option<SecretString>,
    /// `JWTD_MASTER_KEY_FILE`: a file holding the same base64 text.
    #[serde(skip)]
    pub master_key_file: Option<PathBuf>,
    /// `JWTD_BOOTSTRAP_ADMIN_FILE`: where the bootstrap admin client's credentials are written
    /// (in production, the only way jwtd creates one).
    #[serde(skip)]
    pub bootstrap_admin_file: Option<PathBuf>,
}

fn development() -> Environment {
    Environment::Development
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpSettings {
    pub addr: String,
    pub workers: usize,
    pub max_body_bytes: usize,
    #[serde(with = "humantime_serde")]
    pub shutdown_timeout: Duration,
    pub trusted_proxies: crate::net::TrustedProxies,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseSettings {
    pub url: SecretString,
    pub pool_size: u32,
    #[serde(with = "humantime_serde")]
    pub checkout_timeout: Duration,
}

impl DatabaseSettings {
    /// `postgres` or `sqlite`: the backend `url` names, for the log (the URL may hold a password).
    pub fn backend_name(&self) -> &'static str {
        crate::store::DatabaseLocation::parse(self.url.expose_secret()).backend_name()
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenSettings {
    #[serde(with = "humantime_serde")]
    pub access_ttl: Duration,
    pub default_audience: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeySettings {
    pub alg: Algorithm,
    pub rsa_bits: u32,
    #[serde(with = "humantime_serde")]
    pub jwks_max_age: Duration,
    #[serde(with = "humantime_serde")]
    pub leeway: Duration,
    #[serde(with = "humantime_serde")]
    pub reload_interval: Duration,
    /// Zero: no scheduled rotation.
    #[serde(with = "humantime_serde")]
    pub rotate_every: Duration,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdminSettings {
    pub bootstrap: bool,
    pub addr: String,
    pub metrics: MetricsExposure,
}

/// Where `GET /metrics` answers (it shows key ids, key ages and reuse counts).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MetricsExposure {
    /// Development: on the main listener unless `admin.addr` is set. Production: only on the
    /// admin listener.
    Auto,
    /// On the main listener too.
    Public,
    /// Only on the admin listener (`admin.addr`); nowhere without one.
    Admin,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RefreshSettings {
    #[serde(with = "humantime_serde")]
    pub idle_ttl: Duration,
    #[serde(with = "humantime_serde")]
    pub absolute_ttl: Duration,
    #[serde(with = "humantime_serde")]
    pub reuse_grace: Duration,
    pub binding: BindingPolicy,
    pub binding_ip: bool,
    #[serde(with = "humantime_serde")]
    pub keep_revoked: Duration,
    #[serde(with = "humantime_serde")]
    pub purge_interval: Duration,
    /// What new logins get: family tokens, or row tokens while older instances still run.
    pub token_format: TokenFormat,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditSettings {
    /// Audit events older than this are purged; zero keeps them all.
    #[serde(with = "humantime_serde")]
    pub keep: Duration,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SessionSettings {
    #[serde(with = "humantime_serde")]
    pub idle_ttl: Duration,
    #[serde(with = "humantime_serde")]
    pub absolute_ttl: Duration,
}

/// How the hosted sign-in page looks.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoginSettings {
    pub product_name: String,
    pub logo_url: String,
    pub accent_color: String,
    pub stylesheet_url: String,
}

/// How back-channel logout notices (OpenID Connect Back-Channel Logout 1.0) are delivered.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackchannelLogoutSettings {
    /// One delivery attempt, connecting included, takes at most this long.
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
    /// Attempts before a notice is given up.
    pub max_attempts: u32,
    /// The wait after the first failed attempt; it doubles with each further one (capped).
    #[serde(with = "humantime_serde")]
    pub retry_base: Duration,
    /// How often each instance looks for notices due (it also looks at once when it ended a
    /// session itself).
    #[serde(with = "humantime_serde")]
    pub poll_interval: Duration,
}

/// How key sets published by others (clients' `jwks_uri`, external issuers) are fetched and
/// cached (see `authority::remote_jwks`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RemoteJwksSettings {
    /// One fetch, connecting and reading included, takes at most this long.
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
    /// The largest key set or discovery document read, in bytes.
    pub max_bytes: usize,
    /// The bounds of the freshness a remote's `Cache-Control: max-age` declares; the upper one
    /// is also how long a cached copy serves while fetches fail.
    #[serde(with = "humantime_serde")]
    pub min_max_age: Duration,
    #[serde(with = "humantime_serde")]
    pub max_max_age: Duration,
    /// The freshness of a document served without `max-age`.
    #[serde(with = "humantime_serde")]
    pub default_max_age: Duration,
    /// A `kid` missing from a cached set fetches it again at most once per this long.
    #[serde(with = "humantime_serde")]
    pub unknown_kid_cooldown: Duration,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RevocationSettings {
    #[serde(with = "humantime_serde")]
    pub max_age: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Plain,
    Json,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogSettings {
    pub format: LogFormat,
    pub level: String,
}

#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("configuration: {0}")]
    Load(#[from] config::ConfigError),
    #[error("configuration: JWTD_ENV must be development or production, not {0:?}")]
    Environment(String),
    #[error("configuration: {0}")]
    Invalid(String),
    #[error("refusing to start in production: {0}")]
    Production(&'static str),
}

/// Before `database.url` followed `data_dir`, the embedded database was `data/jwtd.db` under the
/// working directory (`cwd`) whatever `data_dir` said. Such a file, with nothing at `path`, is a
/// database an upgrade would silently replace by an empty one (new keys, no clients or users).
fn stranded_database(cwd: &Path, path: &Path) -> Option<PathBuf> {
    let legacy = cwd.join("data").join("jwtd.db");
    (legacy.is_file() && !cwd.join(path).exists()).then_some(legacy)
}

impl Settings {
    /// Loads the settings from the process environment and the config folder.
    pub fn load() -> Result<Self, SettingsError> {
        let vars: Vec<(String, String)> = std::env::vars().collect();
        Self::load_from(&vars)
    }

    /// Loads the settings from the given environment variables (the process's, or a test's).
    pub fn load_from(vars: &[(String, String)]) -> Result<Self, SettingsError> {
        let var = |name: &str| vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
        let environment = match var("JWTD_ENV").as_deref() {
            None | Some("development") => Environment::Development,
            Some("production") => Environment::Production,
            Some(other) => return Err(SettingsError::Environment(other.to_owned())),
        };
        let env_name = match environment {
            Environment::Development => "development",
            Environment::Production => "production",
        };
        let dir = PathBuf::from(var("JWTD_CONFIG_DIR").unwrap_or_else(|| "config".to_owned()));
        let overrides: config::Map<String, String> = vars
            .iter()
            .filter(|(k, _)| k.starts_with("JWTD__"))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let mut settings: Settings = config::Config::builder()
            .add_source(config::File::from_str(EMBEDDED_DEFAULTS, config::FileFormat::Toml))
            .add_source(config::File::from(dir.join("default.toml")).required(false))
            .add_source(config::File::from(dir.join(format!("{env_name}.toml"))).required(false))
            .add_source(
                config::Environment::with_prefix("JWTD")
                    .prefix_separator("__")
                    .separator("__")
                    .source(Some(overrides)),
            )
            .build()?
            .try_deserialize()?;
        settings.environment = environment;
        settings.master_key = var("JWTD_MASTER_KEY").filter(|v| !v.is_empty()).map(SecretString::from);
        settings.master_key_file = var("JWTD_MASTER_KEY_FILE").filter(|v| !v.is_empty()).map(PathBuf::from);
        settings.bootstrap_admin_file =
            var("JWTD_BOOTSTRAP_ADMIN_FILE").filter(|v| !v.is_empty()).map(PathBuf::from);
        settings.validate()?;
        Ok(settings)
    }

    /// The leeway verifiers are allowed: jwtd's own, or jwtd-verify's if larger.
    pub fn verifier_leeway(&self) -> Duration {
        self.keys.leeway.max(VERIFIER_LEEWAY)
    }

    /// How long after a revocation resource servers may still see one of its access tokens:
    /// the access-token lifetime plus the verifiers' leeway. The revocation feed lists a revoked
    /// family or subject this long, and nothing it lists may be purged sooner.
    pub fn revocation_window(&self) -> Duration {
        self.tokens.access_ttl + self.verifier_leeway()
    }

    /// Where the master key comes from: the environment, a file, or the embedded default's
    /// generated file (never in production: `validate` refused that already).
    pub fn master_key_source(&self) -> MasterKeySource<'_> {
        match (&self.master_key, &self.master_key_file) {
            (Some(inline), _) => MasterKeySource::Inline(inline),
            (None, Some(path)) => MasterKeySource::File(path),
            (None, None) => MasterKeySource::Generated(self.data_dir.join("master.key")),
        }
    }

    /// The deployment as the client rules see it: production refuses web clients' plain-http
    /// loopback redirect URIs and origins.
    pub fn deployment(&self) -> Deployment {
        match self.environment {
            Environment::Development => Deployment::Development,
            Environment::Production => Deployment::Production,
        }
    }

    /// Whether `GET /metrics` answers on the main (public) listener; it always answers on the
    /// admin listener.
    pub fn public_metrics(&self) -> bool {
        match self.admin.metrics {
            MetricsExposure::Public => true,
            MetricsExposure::Admin => false,
            MetricsExposure::Auto => {
                self.environment == Environment::Development && self.admin.addr.is_empty()
            }
        }
    }

    /// The audience of tokens for clients registered without one.
    pub fn default_audience(&self) -> &str {
        if self.tokens.default_audience.is_empty() { &self.issuer } else { &self.tokens.default_audience }
    }

    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }
}

#[cfg(test)]
mod tests;
mod validate;
