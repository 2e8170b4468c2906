//! One layer of boot configuration, exactly as a user writes it, and how layers merge.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::log_group::LogGroupPrefix;
use super::sections::{merge_section, BuildkiteSection, CircleciSection, SemaphoreSection};
use super::watch::WatchInterval;
use imagekit_core::AgentKind;

/// One layer (snake_case keys). Every field is optional: a layer sets what it knows, and a later
/// layer wins key by key.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BootConfigLayer {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent: Option<AgentKind>,
    /// The CI control plane, e.g. `myorg.semaphoreci.com`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    /// SSM parameter holding the agent registration token (a SecureString).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_parameter: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_bucket: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disconnect_after_job: Option<bool>,
    /// Seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disconnect_after_idle_timeout: Option<u64>,
    /// Seconds the agent waits after an interrupt for its job to finish before it stops it
    /// (capped by the baked service's stop timeout).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interruption_grace_period: Option<u64>,
    /// Seconds after its start within which an agent that exits without a reason and without
    /// having registered failed to start (covers the agent's own registration retries).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failed_start_window: Option<u64>,
    /// The fleet is sized by hand: an agent that never leaves (no disconnect after a job, idle
    /// timeout 0) is meant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub static_fleet: Option<bool>,
    /// Extra job environment variables.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub env: Option<BTreeMap<String, String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_user: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_dir: Option<PathBuf>,
    /// Seconds the whole boot may take before the instance is marked unhealthy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub boot_timeout: Option<u64>,
    /// An SSM String parameter holding a further layer (ours, or agent-aws-stack's format).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_parameter: Option<String>,
    /// The command that powers the OS off when the instance is not in an ASG.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub poweroff_command: Option<Vec<String>>,
    /// An SSM parameter holding GitHub's SSH host keys as a JSON list (agent-aws-stack's
    /// `sshKeysParameterName`), added to the agent user's `~/.ssh/known_hosts` for `github.com`
    /// so that a checkout over SSH trusts the host.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub github_host_keys_parameter: Option<String>,
    /// How often the watch reads the instance's metadata while the agent runs (`2s`, `500ms`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub watch_interval: Option<WatchInterval>,
    /// The group has capacity rebalancing on: it replaces an instance at elevated risk of a spot
    /// interruption itself, so the watch leaves rebalance recommendations to it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capacity_rebalance: Option<bool>,
    /// Where the instance's logs go: `<prefix>/agent`, `/bootstrap`, `/boot`, `/system`
    /// (default `/imagekit/<ASG name>`, the groups `imagekit stack` creates).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_group_prefix: Option<LogGroupPrefix>,
    /// The CloudWatch agent's control script, to which `-a fetch-config ...` is added; `[]`
    /// ships no logs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_shipping_command: Option<Vec<String>>,
    /// Settings only the Semaphore agent has.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub semaphore: Option<SemaphoreSection>,
    /// Settings only the Buildkite agent has.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub buildkite: Option<BuildkiteSection>,
    /// Settings only CircleCI's machine runner has.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub circleci: Option<CircleciSection>,
}

/// Sets every field of `$early` that `$later` sets (both structs of `Option` fields).
macro_rules! overlay {
    ($early:ident, $later:ident: $($field:ident),* $(,)?) => {
        $( if $later.$field.is_some() { $early.$field = $later.$field; } )*
    };
}
pub(super) use overlay;

impl BootConfigLayer {
    /// Overlays `later` on `self`: every key that `later` sets wins; a section merges key by key,
    /// so a later `buildkite.queue` leaves an earlier `buildkite.tags` in place.
    pub fn merge(mut self, later: BootConfigLayer) -> BootConfigLayer {
        overlay!(self, later:
            agent,
            endpoint,
            token_parameter,
            cache_bucket,
            disconnect_after_job,
            disconnect_after_idle_timeout,
            interruption_grace_period,
            failed_start_window,
            static_fleet,
            env,
            agent_user,
            agent_dir,
            boot_timeout,
            config_parameter,
            poweroff_command,
            github_host_keys_parameter,
            watch_interval,
            capacity_rebalance,
            log_group_prefix,
            log_shipping_command,
        );
        self.semaphore = merge_section(self.semaphore, later.semaphore);
        self.buildkite = merge_section(self.buildkite, later.buildkite);
        self.circleci = merge_section(self.circleci, later.circleci);
        self
    }

    /// The agent kinds whose section this layer holds.
    pub fn sections(&self) -> Vec<AgentKind> {
        [
            (AgentKind::Semaphore, self.semaphore.is_some()),
            (AgentKind::Buildkite, self.buildkite.is_some()),
            (AgentKind::Circleci, self.circleci.is_some()),
        ]
        .into_iter()
        .filter_map(|(kind, present)| present.then_some(kind))
        .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn later_layer_wins_and_unset_keys_survive() {
        let baked: BootConfigLayer = serde_json::from_str(
            r#"{"endpoint":"a.semaphoreci.com","token_parameter":"/t","boot_timeout":60}"#,
        )
        .unwrap();
        let file: BootConfigLayer =
            serde_json::from_str(r#"{"endpoint":"b.semaphoreci.com"}"#).unwrap();
        let merged = baked.merge(file);
        assert_eq!(merged.endpoint.as_deref(), Some("b.semaphoreci.com"));
        assert_eq!(merged.token_parameter.as_deref(), Some("/t"));
        assert_eq!(merged.boot_timeout, Some(60));
    }

    #[test]
    fn sections_merge_key_by_key() {
        let baked: BootConfigLayer =
            serde_json::from_str(r#"{"buildkite":{"tags":{"os":"linux"},"spawn":2}}"#).unwrap();
        let file: BootConfigLayer =
            serde_json::from_str(r#"{"buildkite":{"queue":"large","spawn":4}}"#).unwrap();
        let merged = baked.merge(file).buildkite.unwrap();
        assert_eq!(merged.queue.as_deref(), Some("large"));
        assert_eq!(merged.spawn, Some(4));
        let tags = merged.tags.unwrap();
        assert_eq!(tags.get("os").map(String::as_str), Some("linux"));
    }

    #[test]
    fn a_section_only_in_the_earlier_layer_survives_a_later_one_without_it() {
        let baked: BootConfigLayer =
            serde_json::from_str(r#"{"circleci":{"max_run_time":3600}}"#).unwrap();
        let merged = baked.merge(BootConfigLayer::default());
        assert_eq!(merged.circleci.unwrap().max_run_time, Some(3600));
    }

    #[test]
    fn unknown_key_is_an_error_naming_it() {
        let err = serde_json::from_str::<BootConfigLayer>(r#"{"tokn_parameter":"/t"}"#)
            .unwrap_err()
            .to_string();
        assert!(err.contains("tokn_parameter"), "{err}");
    }

    #[test]
    fn a_layer_without_sections_serialises_as_before() {
        let layer: BootConfigLayer =
            serde_json::from_str(r#"{"endpoint":"e","token_parameter":"/t"}"#).unwrap();
        assert_eq!(
            serde_json::to_string(&layer).unwrap(),
            r#"{"endpoint":"e","token_parameter":"/t"}"#
        );
        assert!(layer.sections().is_empty());
    }
}
