//! The two measuring tools, run as processes (each owns the cores while it measures): the load
//! generator and the raw limits, each answering with one JSON line of its own crate's type.

use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

use jwtd_limits::LimitsReport;
use jwtd_loadgen::LoadReport;
use serde::de::DeserializeOwned;

use crate::teardown::{Teardown, Tool};
use crate::{BoxError, log};

/// The last line of a tool's stdout, as its report.
pub fn report_of<T: DeserializeOwned>(tool: &str, output: &Output) -> Result<T, BoxError> {
    if !output.status.success() {
        return Err(format!("{tool} failed ({})", output.status).into());
    }
    let stdout = String::from_utf8_lossy(&output.stdout);
    let line = stdout.lines().rev().find(|line| !line.trim().is_empty()).ok_or("no report")?;
    serde_json::from_str(line).map_err(|e| format!("{tool}'s report {line:?}: {e}").into())
}

/// One load: where, how long, and the scenario's own arguments.
pub struct Load<'a> {
    pub label: &'a str,
    pub url: String,
    pub secs: f64,
    pub warmup: f64,
    /// The server whose memory and CPU are sampled.
    pub watch_pid: Option<u32>,
    pub args: Vec<String>,
}

pub struct Loadgen<'t> {
    pub bin: PathBuf,
    pub teardown: &'t Teardown,
}

impl Loadgen<'_> {
    fn command(&self, load: &Load<'_>) -> Command {
        let mut command = Command::new(&self.bin);
        command.arg(&load.url).args(["--label", load.label]);
        command.args([
            "-d".to_owned(),
            load.secs.to_string(),
            "--warmup".to_owned(),
            load.warmup.to_string(),
        ]);
        if let Some(pid) = load.watch_pid {
            command.args(["--watch-pid".to_owned(), pid.to_string()]);
        }
        command.args(&load.args).stderr(Stdio::inherit());
        command
    }

    /// Runs one load, logging `what` first; fails when the load generator does (no success, or
    /// more than 1% of the requests failed).
    pub fn run(&self, what: &str, load: &Load<'_>) -> Result<LoadReport, BoxError> {
        log(what);
        let output = self.teardown.run_tool(self.command(load).stdin(Stdio::null()))?;
        report_of(&format!("jwtd-loadgen ({})", load.label), &output)
    }

    /// Starts a load in the background (a flood under another measurement).
    pub fn spawn(&self, load: &Load<'_>) -> Result<Tool, BoxError> {
        self.teardown.spawn_tool(self.command(load).stdin(Stdio::null()))
    }

    pub fn finish(&self, label: &str, load: Tool) -> Result<LoadReport, BoxError> {
        report_of(&format!("jwtd-loadgen ({label})"), &self.teardown.finish_tool(load)?)
    }

    /// A new ES256 key at `path` and its public JWK set at `PATH.jwks.json`.
    pub fn write_key(&self, path: &std::path::Path) -> Result<(), BoxError> {
        let status =
            Command::new(&self.bin).arg("http://127.0.0.1:1/").arg("--write-key").arg(path).status()?;
        if status.success() {
            Ok(())
        } else {
            Err(format!("jwtd-loadgen --write-key failed ({status})").into())
        }
    }
}

pub struct Limits<'t> {
    pub bin: PathBuf,
    pub teardown: &'t Teardown,
    /// A real access token's signing input's length: the signed message's.
    pub message_len: usize,
}

/// Which limit to measure.
#[derive(Debug, Clone, Copy)]
pub enum Limit {
    Rs256,
    Argon2id,
}

impl Limits<'_> {
    pub fn measure(&self, limit: Limit, secs: f64) -> Result<LimitsReport, BoxError> {
        let only = match limit {
            Limit::Rs256 => "rs256",
            Limit::Argon2id => "argon2id",
        };
        log(format!(
            "raw {only} limit on {} cores (message of {} bytes, a jwtd access token's signing input)",
            crate::machine::cores(),
            self.message_len
        ));
        let output = self.teardown.run_tool(
            Command::new(&self.bin)
                .args([
                    "--only",
                    only,
                    "--secs",
                    &secs.to_string(),
                    "--message-len",
                    &self.message_len.to_string(),
                ])
                .stdin(Stdio::null())
                .stderr(Stdio::inherit()),
        )?;
        report_of("jwtd-limits", &output)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::process::ExitStatusExt;
    use std::process::ExitStatus;

    fn output(code: i32, stdout: &str) -> Output {
        Output {
            status: ExitStatus::from_raw(code << 8),
            stdout: stdout.as_bytes().to_vec(),
            stderr: Vec::new(),
        }
    }

    #[test]
    fn a_tools_last_line_is_its_report() {
        let line = r#"{"threads":2,"message_len":415,"rs256_sign_per_s":6908.6,"rs256_verify_per_s":null,"argon2id_hash_per_s":null}"#;
        let report: LimitsReport =
            report_of("jwtd-limits", &output(0, &format!("noise\n{line}\n\n"))).unwrap();
        assert_eq!(report.rs256_sign_per_s, Some(6908.6));
        assert_eq!(report.threads, 2);
    }

    #[test]
    fn a_failed_tool_or_a_line_of_another_shape_is_an_error() {
        assert!(report_of::<LimitsReport>("jwtd-limits", &output(1, "{}")).is_err());
        assert!(report_of::<LimitsReport>("jwtd-limits", &output(0, "threads=2 message_len=415")).is_err());
        assert!(report_of::<LimitsReport>("jwtd-limits", &output(0, "")).is_err());
    }
}
