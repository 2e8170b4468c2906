//! Imports agent-aws-stack's deploy-time `config.json` (flat `SEMAPHORE_*` keys, string values)
//! into a boot config. Only the keys that concern the instance map; the rest are deploy-time
//! settings (stack name, instance type, ASG sizes, ...) that the launch template and ASG carry.

use std::path::Path;

use imagekit_bootstrap::config::{AgentKind, BootConfigLayer};
use serde_json::{Map, Value};

use super::secret;
use crate::exit::UsageError;
use imagekit_core::Os;

/// The keys `--stack-config` maps into the boot config.
pub const MAPPED_KEYS: &[&str] = &[
    "SEMAPHORE_ENDPOINT",
    "SEMAPHORE_ORGANIZATION",
    "SEMAPHORE_AGENT_TOKEN_PARAMETER_NAME",
    "SEMAPHORE_AGENT_CACHE_BUCKET_NAME",
    "SEMAPHORE_AGENT_DISCONNECT_AFTER_JOB",
    "SEMAPHORE_AGENT_DISCONNECT_AFTER_IDLE_TIMEOUT",
];

#[derive(Debug)]
pub struct Imported {
    pub config: BootConfigLayer,
    /// Deploy-time keys present in the file that the boot config does not use, sorted.
    pub unused_keys: Vec<String>,
}

pub fn import(path: &Path, bytes: &[u8], os: Os) -> Result<Imported, UsageError> {
    let shown = path.display();
    let value: Value = serde_json::from_slice(bytes)
        .map_err(|e| UsageError::new(format!("{shown}: malformed JSON: {e}")))?;
    let Value::Object(map) = value else {
        return Err(UsageError::new(format!(
            "{shown}: an agent-aws-stack config.json is one JSON object of SEMAPHORE_* keys"
        )));
    };
    secret::refuse_tokens(path, &Value::Object(map.clone()))?;

    let mut unused_keys = Vec::new();
    for (key, value) in &map {
        if !key.starts_with("SEMAPHORE_") {
            return Err(UsageError::new(format!(
                "{shown}: unknown key `{key}` (agent-aws-stack keys start with SEMAPHORE_)"
            )));
        }
        if !matches!(value, Value::String(_) | Value::Bool(_) | Value::Number(_)) {
            return Err(UsageError::new(format!(
                "{shown}: `{key}` must be a string, as agent-aws-stack reads it"
            )));
        }
        if !MAPPED_KEYS.contains(&key.as_str()) {
            unused_keys.push(key.clone());
        }
    }
    unused_keys.sort();
    if let Some(want) = text(&map, "SEMAPHORE_AGENT_OS") {
        if !want.eq_ignore_ascii_case(os.as_str()) {
            return Err(UsageError::new(format!(
                "{shown}: SEMAPHORE_AGENT_OS is `{want}`, which does not match --os"
            )));
        }
    }

    let endpoint = match (
        text(&map, "SEMAPHORE_ENDPOINT"),
        text(&map, "SEMAPHORE_ORGANIZATION"),
    ) {
        (Some(endpoint), _) => endpoint,
        (None, Some(org)) => format!("{org}.semaphoreci.com"),
        (None, None) => {
            return Err(UsageError::new(format!(
                "{shown}: needs SEMAPHORE_ENDPOINT or SEMAPHORE_ORGANIZATION"
            )))
        }
    };
    let token_parameter = text(&map, "SEMAPHORE_AGENT_TOKEN_PARAMETER_NAME").ok_or_else(|| {
        UsageError::new(format!(
            "{shown}: needs SEMAPHORE_AGENT_TOKEN_PARAMETER_NAME (the SSM parameter holding the token)"
        ))
    })?;
    let disconnect_after_job = text(&map, "SEMAPHORE_AGENT_DISCONNECT_AFTER_JOB")
        .map(|v| match v.to_ascii_lowercase().as_str() {
            "true" => Ok(true),
            "false" => Ok(false),
            _ => Err(UsageError::new(format!(
                "{shown}: SEMAPHORE_AGENT_DISCONNECT_AFTER_JOB must be \"true\" or \"false\", not `{v}`"
            ))),
        })
        .transpose()?;
    let disconnect_after_idle_timeout = text(&map, "SEMAPHORE_AGENT_DISCONNECT_AFTER_IDLE_TIMEOUT")
        .map(|v| {
            v.parse::<u64>().map_err(|_| {
                UsageError::new(format!(
                    "{shown}: SEMAPHORE_AGENT_DISCONNECT_AFTER_IDLE_TIMEOUT must be whole seconds, not `{v}`"
                ))
            })
        })
        .transpose()?;

    Ok(Imported {
        config: BootConfigLayer {
            agent: Some(AgentKind::Semaphore),
            endpoint: Some(endpoint),
            token_parameter: Some(token_parameter),
            cache_bucket: text(&map, "SEMAPHORE_AGENT_CACHE_BUCKET_NAME"),
            disconnect_after_job,
            disconnect_after_idle_timeout,
            ..BootConfigLayer::default()
        },
        unused_keys,
    })
}

/// A key's value as text; an empty string counts as unset, as in agent-aws-stack.
fn text(map: &Map<String, Value>, key: &str) -> Option<String> {
    match map.get(key)? {
        Value::String(s) if s.trim().is_empty() => None,
        Value::String(s) => Some(s.trim().to_string()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}
