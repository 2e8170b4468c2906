//! What only one agent kind has: a section named after the kind (`"buildkite": {...}`). The keys
//! every agent has stay flat in [`super::BootConfigLayer`].
//!
//! A section is typed and refuses unknown keys, like the flat keys. Only the section of the
//! config's own `agent` may be present: a section for another kind is a mistake (a config written
//! for another fleet), refused before anything happens rather than silently ignored.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::layer::overlay;
use super::ConfigError;
use imagekit_core::AgentKind;

/// How a section takes a later layer's keys.
pub trait Merge {
    fn merge(self, later: Self) -> Self;
}

/// Both present: key by key; else whichever is present.
pub fn merge_section<S: Merge>(early: Option<S>, later: Option<S>) -> Option<S> {
    match (early, later) {
        (Some(early), Some(later)) => Some(early.merge(later)),
        (early, None) => early,
        (None, later) => later,
    }
}

/// Semaphore's agent.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SemaphoreSection {
    /// Name the agent with a pre-signed STS `GetCallerIdentity` URL instead of
    /// `<instance-id>__<random>`: agent types whose name assignment is "AWS STS" refuse any other
    /// name (agent-aws-stack's `usePreSignedURL`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name_from_sts: Option<bool>,
}

impl Merge for SemaphoreSection {
    fn merge(mut self, later: Self) -> Self {
        overlay!(self, later: name_from_sts);
        self
    }
}

/// buildkite-agent (v3).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BuildkiteSection {
    /// The queue the agent takes jobs from: its `queue` tag, and the queue `imagekit scale
    /// --queue` reads.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queue: Option<String>,
    /// Further agent tags, name to value (the agent's `tags`, besides `queue`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tags: Option<BTreeMap<String, String>>,
    /// Agents per instance (the agent's `spawn`): the number the scaler divides by.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spawn: Option<u32>,
    /// Where jobs check out and run (the agent's `build-path`); default: where the image made it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub build_path: Option<PathBuf>,
}

impl Merge for BuildkiteSection {
    fn merge(mut self, later: Self) -> Self {
        overlay!(self, later: queue, tags, spawn, build_path);
        self
    }
}

/// CircleCI's machine runner 3. Its `runner.mode` and `runner.idle_timeout` follow the flat
/// `disconnect_after_job` and `disconnect_after_idle_timeout`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CircleciSection {
    /// Seconds a task may run (the runner's `runner.max_run_time`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_run_time: Option<u64>,
    /// Where tasks run (the runner's `runner.working_directory`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub working_directory: Option<PathBuf>,
    /// Whether the runner removes the working directory after each task.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cleanup_working_directory: Option<bool>,
}

impl Merge for CircleciSection {
    fn merge(mut self, later: Self) -> Self {
        overlay!(self, later: max_run_time, working_directory, cleanup_working_directory);
        self
    }
}

/// Refuses a section for any kind but `agent`. `origin` names the file or `config` (merged).
pub fn check_sections(
    origin: &str,
    agent: AgentKind,
    layer: &super::BootConfigLayer,
) -> Result<(), ConfigError> {
    match layer.sections().into_iter().find(|kind| *kind != agent) {
        None => Ok(()),
        Some(other) => Err(ConfigError::Key {
            origin: origin.into(),
            key: other.as_str().into(),
            message: format!(
                "a section for agent kind {other}, but `agent` is {agent}: remove it, or set `agent` to {other}"
            ),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::BootConfigLayer;

    fn layer(json: &str) -> BootConfigLayer {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn the_agents_own_section_is_accepted() {
        let l = layer(r#"{"agent":"buildkite","buildkite":{"queue":"q"}}"#);
        check_sections("f.json", AgentKind::Buildkite, &l).unwrap();
        check_sections(
            "f.json",
            AgentKind::Semaphore,
            &layer(r#"{"semaphore":{}}"#),
        )
        .unwrap();
    }

    #[test]
    fn a_section_for_another_kind_is_refused_naming_the_key() {
        let l = layer(r#"{"buildkite":{"queue":"q"}}"#);
        let err = check_sections("f.json", AgentKind::Semaphore, &l)
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "f.json: key `buildkite`: a section for agent kind buildkite, but `agent` is semaphore: remove it, or set `agent` to buildkite"
        );
    }

    #[test]
    fn sections_refuse_unknown_keys() {
        for json in [
            r#"{"semaphore":{"queue":"q"}}"#,
            r#"{"buildkite":{"queues":"q"}}"#,
            r#"{"circleci":{"mode":"single-task"}}"#,
        ] {
            let err = serde_json::from_str::<BootConfigLayer>(json).unwrap_err();
            assert!(
                err.to_string().starts_with("unknown field"),
                "{json}: {err}"
            );
        }
    }
}
