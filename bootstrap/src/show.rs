//! `show-config`: what the instance would boot with, as far as it is known before any AWS call.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use crate::config::defaults;
use crate::run::LocalLayers;

/// The merged local layers with defaults filled in. A config parameter is named, not read:
/// it is merged at boot. No secret is ever part of this (the token stays in SSM).
pub fn render(local: &LocalLayers) -> String {
    let layer = local.merged();
    let fields = [
        ("agent", json!(layer.agent.unwrap_or_default())),
        ("endpoint", json!(layer.endpoint)),
        ("token_parameter", json!(layer.token_parameter)),
        ("cache_bucket", json!(layer.cache_bucket)),
        (
            "disconnect_after_job",
            json!(layer
                .disconnect_after_job
                .unwrap_or(defaults::DISCONNECT_AFTER_JOB)),
        ),
        (
            "disconnect_after_idle_timeout",
            json!(layer
                .disconnect_after_idle_timeout
                .unwrap_or(defaults::DISCONNECT_AFTER_IDLE_TIMEOUT)),
        ),
        ("env", json!(layer.env.unwrap_or_default())),
        ("agent_user", json!(layer.agent_user)),
        (
            "agent_dir",
            json!(layer
                .agent_dir
                .unwrap_or_else(|| defaults::agent_dir().into())),
        ),
        (
            "boot_timeout",
            json!(layer.boot_timeout.unwrap_or(defaults::BOOT_TIMEOUT)),
        ),
        ("config_parameter", json!(layer.config_parameter)),
        (
            "poweroff_command",
            json!(layer
                .poweroff_command
                .unwrap_or_else(defaults::poweroff_command)),
        ),
    ];
    // Sorted by key through a BTreeMap, not serde_json's Map, whose order depends on whether
    // another crate in the same build turned on serde_json's `preserve_order`.
    let doc: BTreeMap<&str, Value> = fields.into_iter().filter(|(_, v)| !v.is_null()).collect();
    serde_json::to_string_pretty(&doc).expect("a JSON value serialises")
}
