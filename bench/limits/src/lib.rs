//! What one `jwtd-limits` run measured, as the one JSON line it prints on stdout: the type the
//! benchmark's runner (`bench/runner`, `jwtd-bench`) reads back, shared so the two cannot drift.

use serde::{Deserialize, Serialize};

/// The rates measured on all cores; a rate is `None` when `--only` left it out.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LimitsReport {
    pub threads: usize,
    /// Length of the signed message (a jwtd access token's signing input).
    pub message_len: usize,
    pub rs256_sign_per_s: Option<f64>,
    pub rs256_verify_per_s: Option<f64>,
    pub argon2id_hash_per_s: Option<f64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_report_survives_its_json_line() {
        let report = LimitsReport {
            threads: 2,
            message_len: 415,
            rs256_sign_per_s: Some(6908.6),
            rs256_verify_per_s: Some(83513.7),
            argon2id_hash_per_s: None,
        };
        let line = serde_json::to_string(&report).unwrap();
        assert_eq!(serde_json::from_str::<LimitsReport>(&line).unwrap(), report);
    }
}
