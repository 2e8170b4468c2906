//! agent-aws-stack's instance config parameter (`<stack>-config`: camelCase keys, string
//! values), read as a layer so that its users move over unchanged.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use super::sections::SemaphoreSection;
use super::{BootConfigLayer, ConfigError};

/// Every key the stack's start script reads is translated: `endpoint`, `agentTokenParameterName`,
/// `sshKeysParameterName`, `disconnectAfterJob`, `disconnectAfterIdleTimeout`, `envVars` and
/// `usePreSignedURL` (renderedtext/agent-aws-stack@164b2cb:packer/linux/ansible/roles/agent/files/start-agent.sh).
/// A key that format does not have is named in a warning and otherwise ignored, as that script
/// ignores it.
pub(super) fn stack_layer(
    origin: &str,
    map: Map<String, Value>,
) -> Result<BootConfigLayer, ConfigError> {
    let key_err = |key: &str, message: String| ConfigError::Key {
        origin: origin.into(),
        key: key.into(),
        message,
    };
    let mut layer = BootConfigLayer::default();
    for (key, value) in &map {
        match key.as_str() {
            "endpoint" => layer.endpoint = Some(text(value).map_err(|m| key_err(key, m))?),
            "agentTokenParameterName" => {
                layer.token_parameter = Some(text(value).map_err(|m| key_err(key, m))?)
            }
            "disconnectAfterJob" => {
                let v = text(value).map_err(|m| key_err(key, m))?;
                layer.disconnect_after_job = Some(v.parse().map_err(|_| {
                    key_err(key, format!("expected \"true\" or \"false\", found {v:?}"))
                })?);
            }
            "disconnectAfterIdleTimeout" => {
                let v = text(value).map_err(|m| key_err(key, m))?;
                layer.disconnect_after_idle_timeout = Some(v.parse().map_err(|_| {
                    key_err(key, format!("expected a number of seconds, found {v:?}"))
                })?);
            }
            "envVars" => layer.env = Some(env_vars(value).map_err(|m| key_err(key, m))?),
            "sshKeysParameterName" => {
                let name = text(value).map_err(|m| key_err(key, m))?;
                layer.github_host_keys_parameter = Some(name).filter(|n| !n.is_empty());
            }
            "usePreSignedURL" => {
                let v = text(value).map_err(|m| key_err(key, m))?;
                let on = v.parse().map_err(|_| {
                    key_err(key, format!("expected \"true\" or \"false\", found {v:?}"))
                })?;
                layer.semaphore = Some(SemaphoreSection {
                    name_from_sts: Some(on),
                });
            }
            _ => tracing::warn!(
                parameter = origin,
                key = key.as_str(),
                "ignoring key {key}: agent-aws-stack's config format has no such key"
            ),
        }
    }
    Ok(layer)
}

/// The stack writes every value as a string; booleans and numbers are taken as their text.
fn text(value: &Value) -> Result<String, String> {
    match value {
        Value::String(s) => Ok(s.clone()),
        Value::Bool(b) => Ok(b.to_string()),
        Value::Number(n) => Ok(n.to_string()),
        other => Err(format!("expected a string, found {other}")),
    }
}

/// `envVars`: a list of `NAME=VALUE`, or that list as JSON text, or an empty string.
fn env_vars(value: &Value) -> Result<BTreeMap<String, String>, String> {
    let malformed = || "expected a list of \"NAME=VALUE\"".to_string();
    let items = match value {
        Value::Array(items) => items.clone(),
        Value::String(s) if s.trim().is_empty() => Vec::new(),
        Value::String(s) => match serde_json::from_str::<Value>(s) {
            Ok(Value::Array(items)) => items,
            _ => return Err(malformed()),
        },
        _ => return Err(malformed()),
    };
    let mut env = BTreeMap::new();
    for item in items {
        let Value::String(item) = item else {
            return Err(malformed());
        };
        let Some((name, value)) = item.split_once('=') else {
            return Err("an entry lacks `=`".into());
        };
        env.insert(name.to_string(), value.to_string());
    }
    Ok(env)
}

#[cfg(test)]
mod tests {
    use crate::config::parse_parameter_layer;

    #[test]
    fn stack_format_matches_native_keys() {
        let stack = parse_parameter_layer(
            "p",
            r#"{"endpoint":"org.semaphoreci.com","agentTokenParameterName":"/tok",
                "disconnectAfterJob":"false","disconnectAfterIdleTimeout":"120",
                "envVars":["A=1","B=x=y"],"sshKeysParameterName":"k","usePreSignedURL":"true"}"#,
        )
        .unwrap();
        let native = parse_parameter_layer(
            "p",
            r#"{"endpoint":"org.semaphoreci.com","token_parameter":"/tok",
                "disconnect_after_job":false,"disconnect_after_idle_timeout":120,
                "env":{"A":"1","B":"x=y"},"github_host_keys_parameter":"k",
                "semaphore":{"name_from_sts":true}}"#,
        )
        .unwrap();
        assert_eq!(stack, native);
    }

    #[test]
    fn stack_format_bad_boolean_names_key() {
        let err = parse_parameter_layer(
            "p",
            r#"{"agentTokenParameterName":"/t","disconnectAfterJob":"yes"}"#,
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("`disconnectAfterJob`"), "{err}");
    }
}
