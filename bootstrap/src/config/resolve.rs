//! The merged layers, with defaults applied and required keys checked: what a boot runs with.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::log_group::LogGroupPrefix;
use super::sections::{check_sections, BuildkiteSection, CircleciSection, SemaphoreSection};
use super::watch::WatchInterval;
use super::{BootConfigLayer, ConfigError};
use imagekit_core::AgentKind;

/// Defaults that apply when no layer sets a key. The agent's own (its directory) come from its
/// provider.
pub mod defaults {
    pub const DISCONNECT_AFTER_JOB: bool = true;
    pub const DISCONNECT_AFTER_IDLE_TIMEOUT: u64 = 300;
    pub const BOOT_TIMEOUT: u64 = 120;
    /// The Semaphore agent's own default (semaphoreci/agent@7fc190af6847b2d41fd983ad41b591fc09b87cb6
    /// main.go: `interruption-grace-period`, 0).
    pub const INTERRUPTION_GRACE_PERIOD: u64 = 0;
    /// The Semaphore agent retries registration 30 times, 1 s apart, each request with a 30 s
    /// timeout (semaphoreci/agent@7fc190af6847b2d41fd983ad41b591fc09b87cb6 main.go
    /// `RegisterRetryLimit: 30`, pkg/listener/listener.go `Register`): ~30 s when refused at once.
    pub const FAILED_START_WINDOW: u64 = 120;

    /// Where images bake the config.
    pub fn baked_config_path() -> &'static str {
        if cfg!(windows) {
            r"C:\ProgramData\imagekit\bootstrap.json"
        } else {
            "/etc/imagekit/bootstrap.json"
        }
    }

    /// The CloudWatch agent's control script, where its package installs it (on Windows a
    /// PowerShell script: aws/amazon-cloudwatch-agent@7c48fecadbdb49314f123449fa2167361d307c10
    /// packaging/windows/amazon-cloudwatch-agent-ctl.ps1; elsewhere
    /// packaging/dependencies/amazon-cloudwatch-agent-ctl, installed under /opt/aws).
    pub fn log_shipping_command() -> Vec<String> {
        let argv: &[&str] = if cfg!(windows) {
            &[
                "powershell.exe",
                "-NoProfile",
                "-NonInteractive",
                "-ExecutionPolicy",
                "Bypass",
                "-File",
                r"C:\Program Files\Amazon\AmazonCloudWatchAgent\amazon-cloudwatch-agent-ctl.ps1",
            ]
        } else {
            &["/opt/aws/amazon-cloudwatch-agent/bin/amazon-cloudwatch-agent-ctl"]
        };
        argv.iter().map(|s| s.to_string()).collect()
    }

    /// The OS's own power-off; the launch template's instance-initiated shutdown behaviour
    /// `terminate` turns it into a termination.
    pub fn poweroff_command() -> Vec<String> {
        let argv: &[&str] = if cfg!(windows) {
            &["shutdown", "/s", "/t", "0"]
        } else if cfg!(target_os = "macos") {
            &["/sbin/shutdown", "-h", "now"]
        } else {
            &["systemctl", "poweroff"]
        };
        argv.iter().map(|s| s.to_string()).collect()
    }
}

/// The section of the config's own agent kind (empty when no layer wrote one).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Section {
    Semaphore(SemaphoreSection),
    Buildkite(BuildkiteSection),
    Circleci(CircleciSection),
}

/// The resolved, validated configuration the boot runs with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BootConfig {
    pub agent: AgentKind,
    pub endpoint: String,
    pub token_parameter: String,
    pub cache_bucket: Option<String>,
    pub disconnect_after_job: bool,
    pub disconnect_after_idle_timeout: u64,
    pub interruption_grace_period: u64,
    pub failed_start_window: u64,
    pub static_fleet: bool,
    pub env: BTreeMap<String, String>,
    /// `None`: the user the bootstrap runs as.
    pub agent_user: Option<String>,
    pub agent_dir: PathBuf,
    pub boot_timeout: u64,
    pub config_parameter: Option<String>,
    pub poweroff_command: Vec<String>,
    pub github_host_keys_parameter: Option<String>,
    pub watch_interval: WatchInterval,
    pub capacity_rebalance: bool,
    /// `None`: `/imagekit/<ASG name>`, once the group is known.
    pub log_group_prefix: Option<LogGroupPrefix>,
    /// Empty: no log shipping.
    pub log_shipping_command: Vec<String>,
    pub section: Section,
}

impl BootConfig {
    /// Applies defaults and checks the required keys. `default_agent_dir` is where the agent's
    /// image installs it (its provider knows).
    pub fn resolve(
        layer: BootConfigLayer,
        default_agent_dir: &Path,
    ) -> Result<BootConfig, ConfigError> {
        let nonempty = |v: Option<String>, key: &'static str| match v {
            Some(v) if !v.trim().is_empty() => Ok(v),
            _ => Err(ConfigError::Missing(key)),
        };
        let poweroff_command = layer
            .poweroff_command
            .clone()
            .unwrap_or_else(defaults::poweroff_command);
        if poweroff_command.is_empty() {
            return Err(ConfigError::key("poweroff_command", "must name a program"));
        }
        if layer.boot_timeout == Some(0) {
            return Err(ConfigError::key(
                "boot_timeout",
                "must be at least 1 second",
            ));
        }
        let agent = layer.agent.unwrap_or_default();
        check_sections("config", agent, &layer)?;
        let section = match agent {
            AgentKind::Semaphore => Section::Semaphore(layer.semaphore.unwrap_or_default()),
            AgentKind::Buildkite => Section::Buildkite(layer.buildkite.unwrap_or_default()),
            AgentKind::Circleci => Section::Circleci(layer.circleci.unwrap_or_default()),
        };
        Ok(BootConfig {
            agent,
            endpoint: nonempty(layer.endpoint, "endpoint")?,
            token_parameter: nonempty(layer.token_parameter, "token_parameter")?,
            cache_bucket: layer.cache_bucket.filter(|b| !b.is_empty()),
            disconnect_after_job: layer
                .disconnect_after_job
                .unwrap_or(defaults::DISCONNECT_AFTER_JOB),
            disconnect_after_idle_timeout: layer
                .disconnect_after_idle_timeout
                .unwrap_or(defaults::DISCONNECT_AFTER_IDLE_TIMEOUT),
            interruption_grace_period: layer
                .interruption_grace_period
                .unwrap_or(defaults::INTERRUPTION_GRACE_PERIOD),
            failed_start_window: layer
                .failed_start_window
                .unwrap_or(defaults::FAILED_START_WINDOW),
            static_fleet: layer.static_fleet.unwrap_or(false),
            env: layer.env.unwrap_or_default(),
            agent_user: layer.agent_user.filter(|u| !u.is_empty()),
            agent_dir: layer
                .agent_dir
                .unwrap_or_else(|| default_agent_dir.to_path_buf()),
            boot_timeout: layer.boot_timeout.unwrap_or(defaults::BOOT_TIMEOUT),
            config_parameter: layer.config_parameter,
            poweroff_command,
            github_host_keys_parameter: layer.github_host_keys_parameter.filter(|p| !p.is_empty()),
            watch_interval: layer.watch_interval.unwrap_or_default(),
            capacity_rebalance: layer.capacity_rebalance.unwrap_or(false),
            log_group_prefix: layer.log_group_prefix,
            log_shipping_command: layer
                .log_shipping_command
                .unwrap_or_else(defaults::log_shipping_command),
            section,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolve(json: &str) -> Result<BootConfig, ConfigError> {
        BootConfig::resolve(serde_json::from_str(json).unwrap(), Path::new("/agent"))
    }

    #[test]
    fn resolve_requires_endpoint_and_token_parameter() {
        let err = resolve(r#"{"endpoint":"e"}"#).unwrap_err().to_string();
        assert!(err.contains("token_parameter"), "{err}");
    }

    #[test]
    fn defaults_fill_what_no_layer_sets() {
        let config = resolve(r#"{"endpoint":"e","token_parameter":"/t"}"#).unwrap();
        assert_eq!(config.agent, AgentKind::Semaphore);
        assert_eq!(config.agent_dir, Path::new("/agent"));
        assert_eq!(config.boot_timeout, defaults::BOOT_TIMEOUT);
        assert_eq!(
            config.section,
            Section::Semaphore(SemaphoreSection::default())
        );
    }

    #[test]
    fn the_section_of_the_agents_kind_is_carried() {
        let config = resolve(
            r#"{"agent":"buildkite","endpoint":"e","token_parameter":"/t","buildkite":{"spawn":3}}"#,
        )
        .unwrap();
        let Section::Buildkite(section) = config.section else {
            panic!("{:?}", config.section)
        };
        assert_eq!(section.spawn, Some(3));
    }

    #[test]
    fn a_foreign_section_is_refused_after_merging() {
        let err = resolve(r#"{"endpoint":"e","token_parameter":"/t","circleci":{}}"#)
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("config: key `circleci`: "), "{err}");
    }
}
