//! Logs through env_logger: human-readable lines by default, one JSON object per line with
//! `log.format = "json"`. `RUST_LOG`, when set, overrides `log.level`. Nothing secret is ever
//! passed to a log macro: tokens, secrets and keys redact in `Debug`.

use std::io::Write;

use crate::config::{LogFormat, LogSettings};

pub fn init(settings: &LogSettings) {
    let mut builder = env_logger::Builder::new();
    builder.parse_filters(&settings.level);
    if let Ok(filters) = std::env::var("RUST_LOG") {
        builder.parse_filters(&filters);
    }
    if settings.format == LogFormat::Json {
        builder.format(|buf, record| {
            let line = serde_json::json!({
                "ts": buf.timestamp_millis().to_string(),
                "level": record.level().as_str(),
                "target": record.target(),
                "msg": record.args().to_string(),
            });
            writeln!(buf, "{line}")
        });
    }
    // A second initialisation (tests building several apps) is harmless; ignore it.
    let _ = builder.try_init();
}
