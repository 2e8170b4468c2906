//! Reading a layer from text: our own format (files, and a config parameter in it), with errors
//! that name the key at fault.

use std::path::Path;

use serde_json::{Map, Value};

use super::stack::stack_layer;
use super::{BootConfigLayer, ConfigError};
use imagekit_core::AgentKind;

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

/// Deserialises key by key (and a section's keys one by one), so that a wrong type names its
/// key, e.g. `buildkite.spawn` (serde_json's own message gives only a line and column).
fn native_layer(origin: &str, map: Map<String, Value>) -> Result<BootConfigLayer, ConfigError> {
    for (key, value) in &map {
        let Err(message) = try_single(key, value.clone()) else {
            continue;
        };
        // A section whose own keys are at fault: name the one.
        let in_section = match value {
            Value::Object(section) if is_section(key) => section.iter().find_map(|(sub, v)| {
                let one = Value::Object(Map::from_iter([(sub.clone(), v.clone())]));
                try_single(key, one)
                    .err()
                    .map(|m| (format!("{key}.{sub}"), m))
            }),
            _ => None,
        };
        let (key, message) = in_section.unwrap_or((key.clone(), message));
        return Err(ConfigError::Key {
            origin: origin.into(),
            key,
            message,
        });
    }
    serde_json::from_value(Value::Object(map)).map_err(|e| ConfigError::Invalid {
        origin: origin.into(),
        message: e.to_string(),
    })
}

fn is_section(key: &str) -> bool {
    AgentKind::ALL.iter().any(|kind| kind.as_str() == key)
}

/// `{key: value}` alone against the schema: the error message, with serde's "unknown field ..."
/// shortened to what it means here.
fn try_single(key: &str, value: Value) -> Result<(), String> {
    let single = Value::Object(Map::from_iter([(key.to_string(), value)]));
    match serde_json::from_value::<BootConfigLayer>(single) {
        Ok(_) => Ok(()),
        Err(e) if e.to_string().starts_with("unknown field") => Err("unknown key".into()),
        Err(e) => Err(e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrong_type_names_its_key() {
        let err = parse_layer("f.json", r#"{"endpoint":"x","boot_timeout":"soon"}"#)
            .unwrap_err()
            .to_string();
        assert!(err.contains("`boot_timeout`"), "{err}");
        assert!(err.starts_with("f.json"), "{err}");
    }

    #[test]
    fn a_bad_key_inside_a_section_is_named_with_its_section() {
        let err = parse_layer("f.json", r#"{"buildkite":{"queue":"q","spawn":"two"}}"#)
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("f.json: key `buildkite.spawn`: "), "{err}");
        let err = parse_layer("f.json", r#"{"circleci":{"mode":"single-task"}}"#)
            .unwrap_err()
            .to_string();
        assert_eq!(err, "f.json: key `circleci.mode`: unknown key");
    }

    #[test]
    fn a_section_that_is_not_an_object_names_the_section() {
        let err = parse_layer("f.json", r#"{"semaphore":true}"#)
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("f.json: key `semaphore`: "), "{err}");
    }
}
