//! The boot-config schema, shared by `imagekit-bootstrap` (which reads it on the instance) and
//! `imagekit` (which writes it into user-data).
//!
//! A config is merged from layers (baked file, SSM parameter, `--config FILE`), later winning, so
//! each layer is a [`BootConfigLayer`] whose fields are all optional. Unknown keys are errors.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// Which CI agent the instance runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum AgentKind {
    #[default]
    Semaphore,
}

/// One layer of boot configuration, exactly as a user writes it (snake_case keys).
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
}

impl BootConfigLayer {
    /// Overlays `later` on `self`: every key that `later` sets wins.
    pub fn merge(mut self, later: BootConfigLayer) -> BootConfigLayer {
        macro_rules! take {
            ($($f:ident),*) => { $( if later.$f.is_some() { self.$f = later.$f; } )* };
        }
        take!(
            agent,
            endpoint,
            token_parameter,
            cache_bucket,
            disconnect_after_job,
            disconnect_after_idle_timeout,
            env,
            agent_user,
            agent_dir,
            boot_timeout,
            config_parameter,
            poweroff_command
        );
        self
    }
}

/// Defaults that apply when no layer sets a key.
pub mod defaults {
    pub const DISCONNECT_AFTER_JOB: bool = true;
    pub const DISCONNECT_AFTER_IDLE_TIMEOUT: u64 = 300;
    pub const BOOT_TIMEOUT: u64 = 120;

    /// Where images bake the config.
    pub fn baked_config_path() -> &'static str {
        if cfg!(windows) {
            r"C:\ProgramData\imagekit\bootstrap.json"
        } else {
            "/etc/imagekit/bootstrap.json"
        }
    }

    pub fn agent_dir() -> &'static str {
        if cfg!(windows) {
            r"C:\semaphore-agent"
        } else {
            "/opt/semaphore/agent"
        }
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
    fn unknown_key_is_an_error_naming_it() {
        let err = serde_json::from_str::<BootConfigLayer>(r#"{"tokn_parameter":"/t"}"#)
            .unwrap_err()
            .to_string();
        assert!(err.contains("tokn_parameter"), "{err}");
    }
}
