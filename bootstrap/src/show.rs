//! `show-config`: what the instance would boot with, as far as it is known before any AWS call.

use serde_json::{json, Value};

use crate::config::defaults;
use crate::run::LocalLayers;

/// The merged local layers with defaults filled in. A config parameter is named, not read:
/// it is merged at boot. No secret is ever part of this (the token stays in SSM).
pub fn render(local: &LocalLayers) -> String {
    let layer = local.merged();
    let mut doc = json!({
        "agent": layer.agent.unwrap_or_default(),
        "endpoint": layer.endpoint,
        "token_parameter": layer.token_parameter,
        "cache_bucket": layer.cache_bucket,
        "disconnect_after_job": layer.disconnect_after_job.unwrap_or(defaults::DISCONNECT_AFTER_JOB),
        "disconnect_after_idle_timeout": layer
            .disconnect_after_idle_timeout
            .unwrap_or(defaults::DISCONNECT_AFTER_IDLE_TIMEOUT),
        "env": layer.env.unwrap_or_default(),
        "agent_user": layer.agent_user,
        "agent_dir": layer.agent_dir.unwrap_or_else(|| defaults::agent_dir().into()),
        "boot_timeout": layer.boot_timeout.unwrap_or(defaults::BOOT_TIMEOUT),
        "config_parameter": layer.config_parameter,
        "poweroff_command": layer.poweroff_command.unwrap_or_else(defaults::poweroff_command),
    });
    if let Value::Object(map) = &mut doc {
        map.retain(|_, v| !v.is_null());
    }
    serde_json::to_string_pretty(&doc).expect("a JSON value serialises")
}
