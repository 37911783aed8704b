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

use crate::keys::master::MasterKeySource;

const EMBEDDED_DEFAULTS: &str = include_str!("../config/default.toml");

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
    pub revocations: RevocationSettings,
    pub passwords: PasswordSettings,
    pub throttle: ThrottleSettings,
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
    pub alg: String,
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

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BindingPolicy {
    Off,
    Audit,
    Enforce,
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
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RevocationSettings {
    #[serde(with = "humantime_serde")]
    pub max_age: Duration,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PasswordSettings {
    pub memory_kib: u32,
    pub iterations: u32,
    pub parallelism: u32,
    pub hash_concurrency: usize,
    pub max_queue: usize,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ThrottleSettings {
    #[serde(with = "humantime_serde")]
    pub window: Duration,
    pub slow_after: i64,
    #[serde(with = "humantime_serde")]
    pub slow_delay: Duration,
    pub account_limit: i64,
    pub address_limit: i64,
    #[serde(with = "humantime_serde")]
    pub lockout: Duration,
    pub ipv6_prefix: u8,
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

    /// Checks what serde cannot: ranges, URL shapes, and production's extra demands.
    pub fn validate(&mut self) -> Result<(), SettingsError> {
        let invalid = |msg: &str| Err(SettingsError::Invalid(msg.to_owned()));
        let issuer = self.issuer.trim_end_matches('/');
        if !(issuer.starts_with("https://") || issuer.starts_with("http://"))
            || issuer.contains(['?', '#', ' '])
        {
            return invalid("issuer must be an http(s) URL without query or fragment");
        }
        self.issuer = issuer.to_owned();
        let ttl = self.tokens.access_ttl.as_secs();
        if !(60..=86_400).contains(&ttl) {
            return invalid("tokens.access_ttl must be between 1 minute and 1 day");
        }
        if !matches!(self.keys.rsa_bits, 2048 | 3072 | 4096) {
            return invalid("keys.rsa_bits must be 2048, 3072 or 4096");
        }
        if self.keys.jwks_max_age > Duration::from_secs(86_400) {
            return invalid("keys.jwks_max_age must be at most 1 day");
        }
        if crate::keys::signing::Algorithm::parse(&self.keys.alg).is_none() {
            return invalid("keys.alg must be RS256, ES256 or EdDSA");
        }
        if self.keys.leeway > Duration::from_secs(600) {
            return invalid("keys.leeway must be at most 10 minutes");
        }
        if self.keys.reload_interval < Duration::from_millis(50)
            || self.keys.reload_interval > Duration::from_secs(300)
        {
            return invalid("keys.reload_interval must be between 50ms and 5 minutes");
        }
        if !self.keys.rotate_every.is_zero() && self.keys.rotate_every < Duration::from_secs(3_600) {
            return invalid("keys.rotate_every must be 0s (off) or at least 1 hour");
        }
        if !(1_024..=1_048_576).contains(&self.http.max_body_bytes) {
            return invalid("http.max_body_bytes must be between 1 KiB and 1 MiB");
        }
        if self.refresh.idle_ttl.is_zero() {
            return invalid("refresh.idle_ttl must be positive");
        }
        if self.refresh.absolute_ttl > Duration::from_secs(366 * 86_400)
            || self.refresh.absolute_ttl.is_zero()
        {
            return invalid("refresh.absolute_ttl must be between 1 second and 1 year");
        }
        if self.refresh.reuse_grace > Duration::from_secs(60) {
            return invalid("refresh.reuse_grace must be at most 60 seconds");
        }
        if self.refresh.keep_revoked < self.revocation_window() {
            return Err(SettingsError::Invalid(format!(
                "refresh.keep_revoked ({}s) must be at least tokens.access_ttl + max(keys.leeway, {}s) = {}s: \
                 a revoked family purged earlier leaves the revocation feed while its access tokens \
                 still verify",
                self.refresh.keep_revoked.as_secs(),
                VERIFIER_LEEWAY.as_secs(),
                self.revocation_window().as_secs()
            )));
        }
        self.validate_durations()?;
        if self.passwords.memory_kib < 19_456
            || self.passwords.iterations < 2
            || self.passwords.parallelism == 0
        {
            return invalid(
                "passwords: argon2id needs at least memory_kib = 19456, iterations = 2, parallelism = 1",
            );
        }
        if self.throttle.slow_after < 1
            || self.throttle.account_limit < self.throttle.slow_after
            || self.throttle.address_limit < self.throttle.slow_after
        {
            return invalid("throttle: limits must be at least slow_after, which must be at least 1");
        }
        if !(32..=128).contains(&self.throttle.ipv6_prefix) {
            return invalid("throttle.ipv6_prefix must be between 32 and 128");
        }
        if self.database.url.expose_secret().is_empty() {
            let path = self.data_dir.join("jwtd.db");
            if let Some(legacy) = stranded_database(Path::new(""), &path) {
                return Err(SettingsError::Invalid(format!(
                    "a database exists at {} (where earlier versions kept it whatever data_dir said), \
                     but none at {}: move it there, or set database.url = \"sqlite://{}\"",
                    legacy.display(),
                    path.display(),
                    legacy.display()
                )));
            }
            self.database.url = SecretString::from(format!("sqlite://{}", path.display()));
        }
        if self.database.pool_size == 0 {
            return invalid("database.pool_size must be at least 1");
        }
        if self.environment == Environment::Production {
            if self.master_key.is_none() && self.master_key_file.is_none() {
                return Err(SettingsError::Production(
                    "no master key; set JWTD_MASTER_KEY (base64 of 32 bytes) or JWTD_MASTER_KEY_FILE",
                ));
            }
            if !self.issuer.starts_with("https://") {
                return Err(SettingsError::Production("the issuer (JWTD__ISSUER) must be an https URL"));
            }
        }
        Ok(())
    }

    /// Durations that must be positive and bounded: a zero interval would spin or panic a
    /// background task, a zero timeout would refuse every request.
    fn validate_durations(&self) -> Result<(), SettingsError> {
        let ranges: [(&str, Duration, Duration, Duration); 6] = [
            ("refresh.purge_interval", self.refresh.purge_interval, Duration::from_secs(1), DAY),
            ("database.checkout_timeout", self.database.checkout_timeout, Duration::from_millis(10), MINUTE),
            ("throttle.window", self.throttle.window, Duration::from_secs(1), DAY),
            ("throttle.lockout", self.throttle.lockout, Duration::from_secs(1), DAY),
            ("throttle.slow_delay", self.throttle.slow_delay, Duration::ZERO, MINUTE),
            ("revocations.max_age", self.revocations.max_age, Duration::ZERO, MINUTE),
        ];
        for (key, value, min, max) in ranges {
            if value < min || value > max {
                return Err(SettingsError::Invalid(format!(
                    "{key} must be between {} and {}, not {}",
                    humantime_serde::re::humantime::format_duration(min),
                    humantime_serde::re::humantime::format_duration(max),
                    humantime_serde::re::humantime::format_duration(value)
                )));
            }
        }
        Ok(())
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
#[allow(clippy::unwrap_used, clippy::panic)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        let mut all = vec![("JWTD_CONFIG_DIR".to_owned(), "/nonexistent".to_owned())];
        all.extend(pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())));
        all
    }

    #[test]
    fn defaults_then_environment_overrides() {
        let s = Settings::load_from(&vars(&[
            ("JWTD__HTTP__ADDR", "0.0.0.0:9000"),
            ("JWTD__TOKENS__ACCESS_TTL", "10m"),
            ("JWTD__ISSUER", "https://auth.example.com/"),
        ]))
        .unwrap();
        assert_eq!(s.http.addr, "0.0.0.0:9000");
        assert_eq!(s.tokens.access_ttl, Duration::from_secs(600));
        assert_eq!(s.issuer, "https://auth.example.com");
        assert_eq!(s.keys.rsa_bits, 2048);
        assert_eq!(s.environment, Environment::Development);
    }

    #[test]
    fn the_embedded_database_lives_in_the_data_dir_unless_a_url_is_given() {
        let url = |pairs: &[(&str, &str)]| {
            Settings::load_from(&vars(pairs)).unwrap().database.url.expose_secret().to_owned()
        };
        assert_eq!(url(&[]), "sqlite://data/jwtd.db");
        // A data_dir that already holds its database, so no ./data/jwtd.db of a developer's own
        // run can count as stranded.
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("jwtd.db"), b"").unwrap();
        let data_dir = dir.path().display().to_string();
        assert_eq!(url(&[("JWTD__DATA_DIR", &data_dir)]), format!("sqlite://{data_dir}/jwtd.db"));
        let given = "postgres://jwtd@db/jwtd";
        assert_eq!(url(&[("JWTD__DATA_DIR", "/var/lib/jwtd"), ("JWTD__DATABASE__URL", given)]), given);
    }

    #[test]
    fn a_database_left_in_the_old_default_place_is_never_silently_replaced() {
        let cwd = tempfile::tempdir().unwrap();
        let elsewhere = Path::new("var").join("jwtd.db");
        assert_eq!(stranded_database(cwd.path(), &elsewhere), None, "nothing to strand");
        std::fs::create_dir(cwd.path().join("data")).unwrap();
        std::fs::write(cwd.path().join("data").join("jwtd.db"), b"").unwrap();
        assert_eq!(stranded_database(cwd.path(), &elsewhere), Some(cwd.path().join("data").join("jwtd.db")));
        // The default data_dir is the old place itself; a database already moved is fine.
        assert_eq!(stranded_database(cwd.path(), Path::new("data/jwtd.db")), None);
        std::fs::create_dir(cwd.path().join("var")).unwrap();
        std::fs::write(cwd.path().join(&elsewhere), b"").unwrap();
        assert_eq!(stranded_database(cwd.path(), &elsewhere), None);
    }

    #[test]
    fn trusted_proxies_are_parsed_once_at_load() {
        let s = Settings::load_from(&vars(&[("JWTD__HTTP__TRUSTED_PROXIES", "10.0.0.0/8, ::1")])).unwrap();
        assert_eq!(s.http.trusted_proxies, crate::net::TrustedProxies::parse("10.0.0.0/8,::1").unwrap());
        let err = Settings::load_from(&vars(&[("JWTD__HTTP__TRUSTED_PROXIES", "10.0.0.0/33")])).unwrap_err();
        assert!(err.to_string().contains("trusted_proxies"), "{err}");
    }

    #[test]
    fn unknown_keys_are_errors() {
        let err = Settings::load_from(&vars(&[("JWTD__HTTP__ADRR", "x")])).unwrap_err();
        assert!(err.to_string().contains("adrr"), "{err}");
    }

    #[test]
    fn production_refuses_missing_master_key_and_plain_http() {
        let err =
            Settings::load_from(&vars(&[("JWTD_ENV", "production"), ("JWTD__ISSUER", "https://a.example")]))
                .unwrap_err();
        assert!(err.to_string().contains("JWTD_MASTER_KEY"), "{err}");
        let err =
            Settings::load_from(&vars(&[("JWTD_ENV", "production"), ("JWTD_MASTER_KEY", "x")])).unwrap_err();
        assert!(err.to_string().contains("https"), "{err}");
    }

    /// docs/configuration.md is generated from config/default.toml (whose keys the settings
    /// structs match exactly: no serde defaults, and unknown keys are errors), so the reference
    /// cannot drift. `JWTD_UPDATE_DOCS=1 cargo test -p jwtd --lib` rewrites it.
    #[test]
    fn the_configuration_reference_matches_the_defaults() {
        let generated = configuration_reference(EMBEDDED_DEFAULTS);
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/configuration.md");
        if std::env::var("JWTD_UPDATE_DOCS").is_ok() {
            std::fs::write(path, &generated).unwrap();
        }
        let committed = std::fs::read_to_string(path).unwrap_or_default();
        assert!(
            committed == generated,
            "docs/configuration.md is out of date: run JWTD_UPDATE_DOCS=1 cargo test -p jwtd --lib"
        );
        // Every key of the file is a setting, and every setting has a key (load_from would
        // fail otherwise), so the reference lists exactly the settings.
        assert!(Settings::load_from(&vars(&[])).is_ok());
    }

    /// A Markdown table of every key: its environment variable, default and the comment above it.
    fn configuration_reference(defaults: &str) -> String {
        let mut out = String::from(
            "# Configuration reference\n\n\
             Generated from [`config/default.toml`](../config/default.toml) by \
             `JWTD_UPDATE_DOCS=1 cargo test -p jwtd --lib`; a test fails when the two differ.\n\n\
             Layering: the compiled-in defaults, then `default.toml` and `$JWTD_ENV.toml` from \
             `$JWTD_CONFIG_DIR` (default `config/`), then environment variables. Unknown keys are errors. \
             Secrets never live here: `JWTD_MASTER_KEY` (base64 of 32 bytes) or `JWTD_MASTER_KEY_FILE`.\n\n\
             | key | environment variable | default | meaning |\n| --- | --- | --- | --- |\n",
        );
        let (mut section, mut comment) = (String::new(), Vec::new());
        for line in defaults.lines().map(str::trim) {
            if let Some(text) = line.strip_prefix('#') {
                comment.push(text.trim().to_owned());
            } else if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
                section = name.to_owned();
                comment.clear();
            } else if let Some((key, value)) = line.split_once('=') {
                let key = key.trim();
                let path = if section.is_empty() { key.to_owned() } else { format!("{section}.{key}") };
                let env = format!("JWTD__{}", path.replace('.', "__").to_uppercase());
                let meaning = comment.join(" ").replace('|', "\\|");
                assert!(
                    !meaning.is_empty(),
                    "config/default.toml: `{path}` needs a comment saying what it is"
                );
                out.push_str(&format!("| `{path}` | `{env}` | `{}` | {meaning} |\n", value.trim()));
                comment.clear();
            } else {
                comment.clear();
            }
        }
        out
    }

    #[test]
    fn a_revoked_family_is_kept_as_long_as_verifiers_may_accept_its_tokens() {
        // 15 min of access-token lifetime plus jwtd-verify's 60 s leeway, though jwtd's own is 5 s.
        let s = Settings::load_from(&vars(&[("JWTD__KEYS__LEEWAY", "5s")])).unwrap();
        assert_eq!(s.revocation_window(), Duration::from_secs(960));
        let err = Settings::load_from(&vars(&[("JWTD__REFRESH__KEEP_REVOKED", "959s")])).unwrap_err();
        let message = err.to_string();
        assert!(
            message.contains("refresh.keep_revoked") && message.contains("tokens.access_ttl"),
            "{message}"
        );
        assert!(Settings::load_from(&vars(&[("JWTD__REFRESH__KEEP_REVOKED", "960s")])).is_ok());
        // A larger leeway of jwtd's own counts instead.
        let err = Settings::load_from(&vars(&[
            ("JWTD__KEYS__LEEWAY", "120s"),
            ("JWTD__REFRESH__KEEP_REVOKED", "1000s"),
        ]))
        .unwrap_err();
        assert!(err.to_string().contains("1020s"), "{err}");
    }

    #[test]
    fn durations_that_would_stop_a_task_or_every_request_are_errors() {
        for (key, value) in [
            ("JWTD__REFRESH__PURGE_INTERVAL", "0s"),
            ("JWTD__REFRESH__PURGE_INTERVAL", "2d"),
            ("JWTD__DATABASE__CHECKOUT_TIMEOUT", "0s"),
            ("JWTD__THROTTLE__WINDOW", "0s"),
            ("JWTD__THROTTLE__LOCKOUT", "0s"),
            ("JWTD__REVOCATIONS__MAX_AGE", "2h"),
        ] {
            let err = Settings::load_from(&vars(&[(key, value)])).unwrap_err();
            let name = key.trim_start_matches("JWTD__").replace("__", ".").to_lowercase();
            assert!(err.to_string().contains(&name), "{key}={value}: {err}");
        }
    }

    #[test]
    fn out_of_range_values_are_errors() {
        for (key, value) in [
            ("JWTD__TOKENS__ACCESS_TTL", "5s"),
            ("JWTD__KEYS__RSA_BITS", "1024"),
            ("JWTD__ISSUER", "ftp://x"),
            ("JWTD_ENV", "staging"),
            ("JWTD__HTTP__TRUSTED_PROXIES", "localhost"),
        ] {
            assert!(Settings::load_from(&vars(&[(key, value)])).is_err(), "{key}={value}");
        }
    }
}
