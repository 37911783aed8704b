//! What serde cannot check: ranges, URL shapes, relations between keys, and production's extra
//! demands. Every refusal names the key.

use std::path::Path;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};

use super::{DAY, Environment, MINUTE, Settings, SettingsError, VERIFIER_LEEWAY, stranded_database};

fn invalid<T>(message: &str) -> Result<T, SettingsError> {
    Err(SettingsError::Invalid(message.to_owned()))
}

/// A URL the sign-in page may load (a logo, a stylesheet): https, or a path on this server.
/// Nothing that could break out of an attribute or a Content-Security-Policy directive.
fn page_resource(url: &str) -> bool {
    let shape = url.starts_with("https://") || (url.starts_with('/') && !url.starts_with("//"));
    shape
        && url.len() <= 512
        && !url.chars().any(|c| c.is_whitespace() || c.is_control() || "\"';,<>\\".contains(c))
}

/// Each `(key, value, min, max)` has its value within [min, max], or the first that does not is
/// the error.
fn in_ranges(ranges: &[(&str, Duration, Duration, Duration)]) -> Result<(), SettingsError> {
    for &(key, value, min, max) in ranges {
        if value < min || value > max {
            let show = humantime_serde::re::humantime::format_duration;
            return Err(SettingsError::Invalid(format!(
                "{key} must be between {} and {}, not {}",
                show(min),
                show(max),
                show(value)
            )));
        }
    }
    Ok(())
}

impl Settings {
    /// Checks the settings and fills in what follows from others (the embedded database's
    /// place, the issuer without a trailing slash).
    pub fn validate(&mut self) -> Result<(), SettingsError> {
        self.validate_issuer()?;
        self.validate_keys()?;
        self.validate_refresh()?;
        self.validate_durations()?;
        self.validate_accounts()?;
        self.validate_sign_in()?;
        self.validate_database()?;
        self.validate_remote_jwks()?;
        self.validate_production()
    }

    fn validate_issuer(&mut self) -> Result<(), SettingsError> {
        let issuer = self.issuer.trim_end_matches('/');
        if !(issuer.starts_with("https://") || issuer.starts_with("http://"))
            || issuer.contains(['?', '#', ' '])
        {
            return invalid("issuer must be an http(s) URL without query or fragment");
        }
        // Every route sits at the root: an issuer with a path would publish endpoint URLs (and a
        // login page) that do not exist.
        if issuer.split("://").nth(1).is_some_and(|rest| rest.contains('/')) {
            return invalid(
                "issuer must be an origin without a path (https://id.example.com): jwtd serves its \
                 endpoints at the root; give it a host of its own behind the proxy",
            );
        }
        self.issuer = issuer.to_owned();
        Ok(())
    }

    fn validate_keys(&self) -> Result<(), SettingsError> {
        let ttl = self.tokens.access_ttl.as_secs();
        if !(60..=86_400).contains(&ttl) {
            return invalid("tokens.access_ttl must be between 1 minute and 1 day");
        }
        if !matches!(self.keys.rsa_bits, 2048 | 3072 | 4096) {
            return invalid("keys.rsa_bits must be 2048, 3072 or 4096");
        }
        if self.keys.jwks_max_age > DAY {
            return invalid("keys.jwks_max_age must be at most 1 day");
        }
        if self.keys.leeway > Duration::from_secs(600) {
            return invalid("keys.leeway must be at most 10 minutes");
        }
        if self.keys.reload_interval < Duration::from_millis(50) || self.keys.reload_interval > 5 * MINUTE {
            return invalid("keys.reload_interval must be between 50ms and 5 minutes");
        }
        if !self.keys.rotate_every.is_zero() && self.keys.rotate_every < Duration::from_secs(3_600) {
            return invalid("keys.rotate_every must be 0s (off) or at least 1 hour");
        }
        if !(1_024..=1_048_576).contains(&self.http.max_body_bytes) {
            return invalid("http.max_body_bytes must be between 1 KiB and 1 MiB");
        }
        Ok(())
    }

    fn validate_refresh(&self) -> Result<(), SettingsError> {
        if self.refresh.idle_ttl.is_zero() {
            return invalid("refresh.idle_ttl must be positive");
        }
        if self.refresh.absolute_ttl > 366 * DAY || self.refresh.absolute_ttl.is_zero() {
            return invalid("refresh.absolute_ttl must be between 1 second and 1 year");
        }
        if self.refresh.reuse_grace > MINUTE {
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
        Ok(())
    }

    /// Sessions' lifetimes and the sign-in page's branding (which goes into HTML and a
    /// Content-Security-Policy, so only plain values pass).
    fn validate_sign_in(&self) -> Result<(), SettingsError> {
        let sessions = &self.sessions;
        if sessions.idle_ttl < MINUTE || sessions.idle_ttl > sessions.absolute_ttl {
            return invalid("sessions.idle_ttl must be at least 1 minute and at most sessions.absolute_ttl");
        }
        if sessions.absolute_ttl > 366 * DAY {
            return invalid("sessions.absolute_ttl must be at most 1 year");
        }
        let login = &self.login;
        if login.product_name.trim().is_empty()
            || login.product_name.chars().count() > 64
            || login.product_name.chars().any(char::is_control)
        {
            return invalid("login.product_name must be 1 to 64 characters");
        }
        let colour = login.accent_color.strip_prefix('#').unwrap_or("-");
        if !matches!(colour.len(), 3 | 6) || !colour.chars().all(|c| c.is_ascii_hexdigit()) {
            return invalid("login.accent_color must be a CSS hex colour, #rgb or #rrggbb");
        }
        for (key, url) in
            [("login.logo_url", &login.logo_url), ("login.stylesheet_url", &login.stylesheet_url)]
        {
            if !url.is_empty() && !page_resource(url) {
                return Err(SettingsError::Invalid(format!(
                    "{key} must be an https URL or a path on this server (/...), without quotes, spaces or ;"
                )));
            }
        }
        Ok(())
    }

    /// Durations that must be positive and bounded: a zero interval would spin or panic a
    /// background task, a zero timeout would refuse every request. And the back-channel
    /// logout's attempts, which the retry schedule multiplies.
    fn validate_durations(&self) -> Result<(), SettingsError> {
        if !(1..=50).contains(&self.backchannel_logout.max_attempts) {
            return invalid("backchannel_logout.max_attempts must be between 1 and 50");
        }
        let backchannel = &self.backchannel_logout;
        let ranges: [(&str, Duration, Duration, Duration); 9] = [
            ("refresh.purge_interval", self.refresh.purge_interval, Duration::from_secs(1), DAY),
            ("database.checkout_timeout", self.database.checkout_timeout, Duration::from_millis(10), MINUTE),
            ("throttle.window", self.throttle.window, Duration::from_secs(1), DAY),
            ("throttle.lockout", self.throttle.lockout, Duration::from_secs(1), DAY),
            ("throttle.slow_delay", self.throttle.slow_delay, Duration::ZERO, MINUTE),
            ("revocations.max_age", self.revocations.max_age, Duration::ZERO, MINUTE),
            ("backchannel_logout.timeout", backchannel.timeout, Duration::from_millis(100), MINUTE),
            ("backchannel_logout.retry_base", backchannel.retry_base, Duration::from_secs(1), 60 * MINUTE),
            (
                "backchannel_logout.poll_interval",
                backchannel.poll_interval,
                Duration::from_millis(10),
                MINUTE,
            ),
        ];
        in_ranges(&ranges)
    }

    /// Fetching others' key sets: every bound positive (a zero max-age would fetch on every
    /// request), the freshness bounds in order, the body large enough for a few RSA keys.
    fn validate_remote_jwks(&self) -> Result<(), SettingsError> {
        let remote = &self.remote_jwks;
        if !(4_096..=1_048_576).contains(&remote.max_bytes) {
            return invalid("remote_jwks.max_bytes must be between 4 KiB and 1 MiB");
        }
        let ranges = [
            ("remote_jwks.timeout", remote.timeout, Duration::from_millis(100), MINUTE),
            ("remote_jwks.min_max_age", remote.min_max_age, Duration::from_secs(1), DAY),
            ("remote_jwks.max_max_age", remote.max_max_age, remote.min_max_age, 7 * DAY),
            ("remote_jwks.default_max_age", remote.default_max_age, remote.min_max_age, remote.max_max_age),
            ("remote_jwks.unknown_kid_cooldown", remote.unknown_kid_cooldown, Duration::from_secs(1), DAY),
        ];
        in_ranges(&ranges)
    }

    fn validate_accounts(&self) -> Result<(), SettingsError> {
        let passwords = &self.passwords;
        if passwords.memory_kib < 19_456 || passwords.iterations < 2 || passwords.parallelism == 0 {
            return invalid(
                "passwords: argon2id needs at least memory_kib = 19456, iterations = 2, parallelism = 1",
            );
        }
        let throttle = &self.throttle;
        if throttle.slow_after < 1
            || throttle.account_limit < throttle.slow_after
            || throttle.address_limit < throttle.slow_after
        {
            return invalid("throttle: limits must be at least slow_after, which must be at least 1");
        }
        if !(32..=128).contains(&throttle.ipv6_prefix) {
            return invalid("throttle.ipv6_prefix must be between 32 and 128");
        }
        Ok(())
    }

    /// An empty `database.url` is SQLite in the data folder, unless an older version's database
    /// would be left behind by that.
    fn validate_database(&mut self) -> Result<(), SettingsError> {
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
        Ok(())
    }

    fn validate_production(&self) -> Result<(), SettingsError> {
        if self.environment != Environment::Production {
            return Ok(());
        }
        if self.master_key.is_none() && self.master_key_file.is_none() {
            return Err(SettingsError::Production(
                "no master key; set JWTD_MASTER_KEY (base64 of 32 bytes) or JWTD_MASTER_KEY_FILE",
            ));
        }
        if !self.issuer.starts_with("https://") {
            return Err(SettingsError::Production("the issuer (JWTD__ISSUER) must be an https URL"));
        }
        Ok(())
    }
}
