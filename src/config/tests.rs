//! The configuration's tests, and the generator of docs/configuration.md.

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
fn the_key_algorithm_is_parsed_once_at_load() {
    let s = Settings::load_from(&vars(&[("JWTD__KEYS__ALG", "ES256")])).unwrap();
    assert_eq!(s.keys.alg, Algorithm::Es256);
    let err = Settings::load_from(&vars(&[("JWTD__KEYS__ALG", "HS256")])).unwrap_err().to_string();
    assert!(err.contains("keys.alg") && err.contains("HS256"), "{err}");
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
            assert!(!meaning.is_empty(), "config/default.toml: `{path}` needs a comment saying what it is");
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
    assert!(message.contains("refresh.keep_revoked") && message.contains("tokens.access_ttl"), "{message}");
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
        ("JWTD__REMOTE_JWKS__TIMEOUT", "0s"),
        ("JWTD__REMOTE_JWKS__MAX_BYTES", "100"),
        ("JWTD__REMOTE_JWKS__MIN_MAX_AGE", "0s"),
        ("JWTD__REMOTE_JWKS__DEFAULT_MAX_AGE", "2d"),
        ("JWTD__REMOTE_JWKS__UNKNOWN_KID_COOLDOWN", "0s"),
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
        ("JWTD__ISSUER", "https://example.com/auth"),
        ("JWTD__SESSIONS__IDLE_TTL", "30s"),
        ("JWTD__SESSIONS__ABSOLUTE_TTL", "2y"),
        ("JWTD__LOGIN__ACCENT_COLOR", "red;}body{display:none"),
        ("JWTD__LOGIN__LOGO_URL", "javascript:alert(1)"),
        ("JWTD__LOGIN__STYLESHEET_URL", "https://cdn.example/a.css; script-src *"),
        ("JWTD__LOGIN__PRODUCT_NAME", " "),
    ] {
        assert!(Settings::load_from(&vars(&[(key, value)])).is_err(), "{key}={value}");
    }
}

#[test]
fn an_issuer_is_an_origin_and_the_login_page_takes_plain_branding() {
    let s = Settings::load_from(&vars(&[
        ("JWTD__ISSUER", "https://id.example.com/"),
        ("JWTD__LOGIN__LOGO_URL", "https://cdn.example/logo.svg"),
        ("JWTD__LOGIN__STYLESHEET_URL", "/static/brand.css"),
        ("JWTD__LOGIN__ACCENT_COLOR", "#abc"),
    ]))
    .unwrap();
    assert_eq!(s.issuer, "https://id.example.com");
    assert_eq!(s.login.logo_url, "https://cdn.example/logo.svg");
}
