//! The boot-config schema, shared by `imagekit-bootstrap` (which reads it on the instance) and
//! `imagekit` (which writes it into user-data).
//!
//! A config is merged from layers (baked file, SSM parameter, `--config FILE`), later winning, so
//! each layer is a [`BootConfigLayer`] whose fields are all optional. Unknown keys are errors.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// Which CI agent the instance runs (one enum for the whole kit).
pub use imagekit_core::AgentKind;

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

    pub fn agent_dir() -> &'static str {
        if cfg!(windows) {
            r"C:\semaphore-agent"
        } else {
            "/opt/semaphore/agent"
        }
    }
}

/// Bad configuration: exit code 2, with a message naming the key and where it came from.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("reading config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{origin}: {message}")]
    Invalid { origin: String, message: String },
    #[error("{origin}: key `{key}`: {message}")]
    Key {
        origin: String,
        key: String,
        message: String,
    },
    #[error(
        "missing required key `{0}` (set it in the baked config, the config parameter or --config)"
    )]
    Missing(&'static str),
}

/// Parses one layer of our own (snake_case) format. `origin` names the file or parameter.
pub fn parse_layer(origin: &str, text: &str) -> Result<BootConfigLayer, ConfigError> {
    let map = parse_object(origin, text)?;
    native_layer(origin, map)
}

/// Parses the layer held in a config parameter: our own format, or agent-aws-stack's
/// `<stack>-config` (camelCase keys, string values), recognised by `agentTokenParameterName`.
pub fn parse_parameter_layer(origin: &str, text: &str) -> Result<BootConfigLayer, ConfigError> {
    let map = parse_object(origin, text)?;
    if map.contains_key("agentTokenParameterName") {
        stack_layer(origin, map)
    } else {
        native_layer(origin, map)
    }
}

/// Reads a layer from a file; a missing file is an empty layer only when `optional`.
pub fn read_layer(path: &Path, optional: bool) -> Result<BootConfigLayer, ConfigError> {
    match std::fs::read_to_string(path) {
        Ok(text) => parse_layer(&path.display().to_string(), &text),
        Err(e) if optional && e.kind() == std::io::ErrorKind::NotFound => {
            Ok(BootConfigLayer::default())
        }
        Err(source) => Err(ConfigError::Read {
            path: path.to_path_buf(),
            source,
        }),
    }
}

fn parse_object(origin: &str, text: &str) -> Result<Map<String, Value>, ConfigError> {
    match serde_json::from_str::<Value>(text) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(ConfigError::Invalid {
            origin: origin.into(),
            message: "expected a JSON object".into(),
        }),
        Err(e) => Err(ConfigError::Invalid {
            origin: origin.into(),
            message: format!("not valid JSON: {e}"),
        }),
    }
}

/// Deserialises key by key, so that a wrong type names its key (serde_json's own message
/// gives only a line and column).
fn native_layer(origin: &str, map: Map<String, Value>) -> Result<BootConfigLayer, ConfigError> {
    for (key, value) in &map {
        let single = Value::Object(Map::from_iter([(key.clone(), value.clone())]));
        if let Err(e) = serde_json::from_value::<BootConfigLayer>(single) {
            let message = e.to_string();
            let message = if message.starts_with("unknown field") {
                "unknown key".to_string()
            } else {
                message
            };
            return Err(ConfigError::Key {
                origin: origin.into(),
                key: key.clone(),
                message,
            });
        }
    }
    serde_json::from_value(Value::Object(map)).map_err(|e| ConfigError::Invalid {
        origin: origin.into(),
        message: e.to_string(),
    })
}

/// agent-aws-stack's instance config. Keys we act on are translated; the rest (SSH keys for
/// GitHub, pre-signed log URLs, ...) belong to that stack's own scripts and get a debug line.
fn stack_layer(origin: &str, map: Map<String, Value>) -> Result<BootConfigLayer, ConfigError> {
    let key_err = |key: &str, message: String| ConfigError::Key {
        origin: origin.into(),
        key: key.into(),
        message,
    };
    let text = |key: &str, value: &Value| -> Result<String, ConfigError> {
        match value {
            Value::String(s) => Ok(s.clone()),
            Value::Bool(b) => Ok(b.to_string()),
            Value::Number(n) => Ok(n.to_string()),
            other => Err(key_err(key, format!("expected a string, found {other}"))),
        }
    };
    let mut layer = BootConfigLayer::default();
    for (key, value) in &map {
        match key.as_str() {
            "endpoint" => layer.endpoint = Some(text(key, value)?),
            "agentTokenParameterName" => layer.token_parameter = Some(text(key, value)?),
            "disconnectAfterJob" => {
                let v = text(key, value)?;
                layer.disconnect_after_job = Some(v.parse().map_err(|_| {
                    key_err(key, format!("expected \"true\" or \"false\", found {v:?}"))
                })?);
            }
            "disconnectAfterIdleTimeout" => {
                let v = text(key, value)?;
                layer.disconnect_after_idle_timeout = Some(v.parse().map_err(|_| {
                    key_err(key, format!("expected a number of seconds, found {v:?}"))
                })?);
            }
            "envVars" => {
                let items = match value {
                    Value::Array(items) => items.clone(),
                    Value::String(s) if s.trim().is_empty() => Vec::new(),
                    Value::String(s) => match serde_json::from_str::<Value>(s) {
                        Ok(Value::Array(items)) => items,
                        _ => return Err(key_err(key, "expected a list of \"NAME=VALUE\"".into())),
                    },
                    _ => return Err(key_err(key, "expected a list of \"NAME=VALUE\"".into())),
                };
                let mut env = BTreeMap::new();
                for item in items {
                    let Value::String(item) = item else {
                        return Err(key_err(key, "expected a list of \"NAME=VALUE\"".into()));
                    };
                    let Some((name, value)) = item.split_once('=') else {
                        return Err(key_err(key, "an entry lacks `=`".into()));
                    };
                    env.insert(name.to_string(), value.to_string());
                }
                layer.env = Some(env);
            }
            _ => tracing::debug!(
                parameter = origin,
                key = key.as_str(),
                "ignoring agent-aws-stack key that imagekit does not act on"
            ),
        }
    }
    Ok(layer)
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
    pub env: BTreeMap<String, String>,
    /// `None`: the user the bootstrap runs as.
    pub agent_user: Option<String>,
    pub agent_dir: PathBuf,
    pub boot_timeout: u64,
    pub config_parameter: Option<String>,
    pub poweroff_command: Vec<String>,
}

impl BootConfig {
    /// Applies defaults and checks the required keys.
    pub fn resolve(layer: BootConfigLayer) -> Result<BootConfig, ConfigError> {
        let nonempty = |v: Option<String>, key: &'static str| match v {
            Some(v) if !v.trim().is_empty() => Ok(v),
            _ => Err(ConfigError::Missing(key)),
        };
        let poweroff_command = layer
            .poweroff_command
            .unwrap_or_else(defaults::poweroff_command);
        if poweroff_command.is_empty() {
            return Err(ConfigError::Key {
                origin: "config".into(),
                key: "poweroff_command".into(),
                message: "must name a program".into(),
            });
        }
        if layer.boot_timeout == Some(0) {
            return Err(ConfigError::Key {
                origin: "config".into(),
                key: "boot_timeout".into(),
                message: "must be at least 1 second".into(),
            });
        }
        let agent = layer.agent.unwrap_or_default();
        if agent != AgentKind::Semaphore {
            return Err(ConfigError::Key {
                origin: "config".into(),
                key: "agent".into(),
                message: format!("no provider for agent kind {agent} in this version"),
            });
        }
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
            env: layer.env.unwrap_or_default(),
            agent_user: layer.agent_user.filter(|u| !u.is_empty()),
            agent_dir: layer
                .agent_dir
                .unwrap_or_else(|| PathBuf::from(defaults::agent_dir())),
            boot_timeout: layer.boot_timeout.unwrap_or(defaults::BOOT_TIMEOUT),
            config_parameter: layer.config_parameter,
            poweroff_command,
        })
    }

    /// `<agent_dir>/agent` (`agent.exe` on Windows).
    pub fn agent_program(&self) -> PathBuf {
        self.agent_dir
            .join(format!("agent{}", std::env::consts::EXE_SUFFIX))
    }

    pub fn agent_config_path(&self) -> PathBuf {
        self.agent_dir.join("config.yaml")
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

    #[test]
    fn wrong_type_names_its_key() {
        let err = parse_layer("f.json", r#"{"endpoint":"x","boot_timeout":"soon"}"#)
            .unwrap_err()
            .to_string();
        assert!(err.contains("`boot_timeout`"), "{err}");
        assert!(err.starts_with("f.json"), "{err}");
    }

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
                "env":{"A":"1","B":"x=y"}}"#,
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

    #[test]
    fn resolve_requires_endpoint_and_token_parameter() {
        let err = BootConfig::resolve(BootConfigLayer {
            endpoint: Some("e".into()),
            ..Default::default()
        })
        .unwrap_err()
        .to_string();
        assert!(err.contains("token_parameter"), "{err}");
    }
}
