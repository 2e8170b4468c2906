//! `show-config`: what the instance would boot with, as far as it is known before any AWS call.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use crate::agent;
use crate::config::{check_sections, defaults, ConfigError, LocalLayers};

/// The merged local layers with defaults filled in. A config parameter is named, not read:
/// it is merged at boot. No secret is ever part of this (the token stays in SSM). A kind this
/// version cannot start, or a section for another kind, is refused as `run` refuses it.
/// The agent's own rules apply as in `run` (across keys only when no parameter is named); their
/// warnings come back beside the document.
pub fn render(local: &LocalLayers) -> Result<(String, Vec<String>), ConfigError> {
    let mut layer = local.merged();
    let kind = layer.agent.unwrap_or_default();
    let scope = match layer.config_parameter {
        None => agent::Scope::Complete,
        Some(_) => agent::Scope::Partial,
    };
    let (agent, warnings) = agent::check_layer(&mut layer, scope)?;
    check_sections("config", kind, &layer)?;
    let fields = [
        ("agent", json!(kind)),
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
        (
            "interruption_grace_period",
            json!(layer
                .interruption_grace_period
                .unwrap_or(defaults::INTERRUPTION_GRACE_PERIOD)),
        ),
        (
            "failed_start_window",
            json!(layer
                .failed_start_window
                .unwrap_or(defaults::FAILED_START_WINDOW)),
        ),
        ("static_fleet", json!(layer.static_fleet.unwrap_or(false))),
        ("env", json!(layer.env.unwrap_or_default())),
        ("agent_user", json!(layer.agent_user)),
        (
            "agent_dir",
            json!(layer.agent_dir.unwrap_or_else(|| agent.default_dir())),
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
        (
            "watch_interval",
            json!(layer.watch_interval.unwrap_or_default()),
        ),
        (
            "capacity_rebalance",
            json!(layer.capacity_rebalance.unwrap_or(false)),
        ),
        ("log_group_prefix", json!(layer.log_group_prefix)),
        (
            "log_shipping_command",
            json!(layer
                .log_shipping_command
                .unwrap_or_else(defaults::log_shipping_command)),
        ),
        // Only the agent's own section can be here; shown as written.
        ("semaphore", json!(layer.semaphore)),
        ("buildkite", json!(layer.buildkite)),
        ("circleci", json!(layer.circleci)),
    ];
    // Sorted by key through a BTreeMap, not serde_json's Map, whose order depends on whether
    // another crate in the same build turned on serde_json's `preserve_order`.
    let doc: BTreeMap<&str, Value> = fields.into_iter().filter(|(_, v)| !v.is_null()).collect();
    let text = serde_json::to_string_pretty(&doc).expect("a JSON value serialises");
    Ok((text, warnings))
}
