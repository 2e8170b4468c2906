//! The machine runner's YAML config, token included (DOCS: circleci/circleci-docs@9734a1410cc98741bc09b84f187325a8f43baf68
//! docs/guides/modules/execution-runner/pages/machine-runner-3-configuration-reference.adoc,
//! one section per key).
//!
//! Written by serde_json as JSON, which YAML 1.2 contains (the same choice as the Semaphore
//! provider's config.yaml); DOCS' own `command_prefix` example is such a flow sequence. Every
//! value is escaped by the serializer, never spliced into text.

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::secrets::Token;
use imagekit_core::atomic;

#[derive(Debug, Serialize)]
pub struct RunnerConfig<'a> {
    pub api: Api<'a>,
    pub runner: Runner,
    pub logging: Logging,
}

#[derive(Debug, Serialize)]
pub struct Api<'a> {
    /// DOCS `api.auth_token`: the resource class's token.
    #[serde(serialize_with = "expose")]
    pub auth_token: &'a Token,
    /// DOCS `api.url`.
    pub url: String,
}

fn expose<S: serde::Serializer>(token: &&Token, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(token.expose())
}

#[derive(Debug, Serialize)]
pub struct Runner {
    /// DOCS `runner.name` ([`super::rules::name_is_valid`]).
    pub name: String,
    /// DOCS `runner.mode`: `single-task` ends the runner after one task, `continuous` polls on.
    pub mode: Mode,
    /// DOCS `runner.idle_timeout`: absent, the runner never ends for want of work.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub idle_timeout: Option<String>,
    /// DOCS `runner.max_run_time`: absent, 5 h.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_run_time: Option<String>,
    /// DOCS `runner.working_directory`.
    pub working_directory: PathBuf,
    /// DOCS `runner.cleanup_working_directory` (its default: false).
    pub cleanup_working_directory: bool,
    /// DOCS `runner.command_prefix`: "a YAML list of arguments that wraps and runs the
    /// task-agent"; ours is `imagekit-bootstrap circleci-task` (`task.rs`).
    pub command_prefix: Vec<String>,
    /// DOCS `runner.task_agent_directory`: where the runner downloads the task-agent and runs it
    /// from (default `~/.local/libexec/circleci`, root's home here, which the agent user cannot
    /// enter): a directory of the agent dir instead, which the agent user can read and run.
    pub task_agent_directory: PathBuf,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Mode {
    SingleTask,
    Continuous,
}

#[derive(Debug, Serialize)]
pub struct Logging {
    /// DOCS `logging.level`: debug, info, warn, error.
    pub level: &'static str,
    /// DOCS `logging.format`: color, text, json, none. `text`: what the bootstrap reads back.
    pub format: &'static str,
    /// DOCS `logging.file`: "the file where the machine runner and task-agent logs will go".
    pub file: PathBuf,
}

/// `secs` as DOCS writes durations: "the following unit identifiers `h`, `m` or `s`", combined
/// as in `1h30m20s`, largest first, zero units left out.
pub fn duration(secs: u64) -> String {
    let (h, m, s) = (secs / 3600, secs / 60 % 60, secs % 60);
    let mut text = String::new();
    for (n, unit) in [(h, 'h'), (m, 'm'), (s, 's')] {
        if n > 0 {
            text.push_str(&format!("{n}{unit}"));
        }
    }
    if text.is_empty() {
        text.push_str("0s");
    }
    text
}

impl RunnerConfig<'_> {
    /// The document, token included. Only [`RunnerConfig::write`] should call this (and tests).
    pub(super) fn render(&self) -> Vec<u8> {
        let mut bytes = serde_json::to_vec_pretty(self).expect("the runner config serialises");
        bytes.push(b'\n');
        bytes
    }

    /// Writes the config atomically and fsync'd, mode 0600, owned by the writer: the runner runs
    /// as root, its tasks as the agent user, who cannot read it.
    pub fn write(&self, path: &Path) -> std::io::Result<()> {
        atomic::write(
            path,
            &self.render(),
            0o600,
            None,
            atomic::Durability::Synced,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_in_the_runners_units() {
        let table = [
            (30, "30s"),
            (300, "5m"),
            (3000, "50m"),
            (5400, "1h30m"),
            (5420, "1h30m20s"),
            (18000, "5h"),
            (259_200, "72h"),
            (3601, "1h1s"),
            (0, "0s"),
        ];
        for (secs, text) in table {
            assert_eq!(duration(secs), text, "{secs}");
        }
    }
}
