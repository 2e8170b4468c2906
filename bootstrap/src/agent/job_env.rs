//! The jobs' own variables, as the file a hook sources into the job's shell: the one format and
//! the one check shared by every agent whose jobs get their environment from a hook.

use crate::config::ConfigError;

/// Job variables reach the job through a hook the job's shell sources, as `export` lines, so a name
/// must be a shell identifier (POSIX "name"). Any value travels, but none can hold a NUL.
pub fn check_env(name: &str, value: &str) -> Result<(), ConfigError> {
    let mut chars = name.chars();
    let identifier = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !identifier {
        return Err(ConfigError::key(
            "env",
            format!("{name:?} is not a shell variable name: use letters, digits and _, not starting with a digit"),
        ));
    }
    if value.contains('\0') {
        return Err(ConfigError::key(
            &format!("env.{name}"),
            "holds a NUL byte, which no environment variable can: remove it",
        ));
    }
    Ok(())
}

/// The env file's text: one `export NAME=<quoted>` per variable (Unix). Names are shell
/// identifiers and values NUL-free (checked with the config, [`check_env`]).
#[cfg(not(windows))]
pub fn render_env(env: &[(String, String)]) -> Vec<u8> {
    let mut text = String::from("# Written by imagekit-bootstrap: the job's variables.\n");
    for (name, value) in env {
        let quoted = shlex::try_quote(value).expect("job env values are checked NUL-free");
        text.push_str(&format!("export {name}={quoted}\n"));
    }
    text.into_bytes()
}

/// The env file's text: a JSON object (Windows, read back by [`parse_json_env`]).
#[cfg(windows)]
pub fn render_env(env: &[(String, String)]) -> Vec<u8> {
    render_json_env(env)
}

/// The job's variables as one JSON object of strings (serde_json does the escaping).
#[cfg(any(windows, test))]
pub fn render_json_env(env: &[(String, String)]) -> Vec<u8> {
    let map: serde_json::Map<String, serde_json::Value> = env
        .iter()
        .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
        .collect();
    serde_json::to_vec(&map).expect("a JSON object serialises")
}

/// What [`render_json_env`] wrote: a JSON object whose values are all strings.
pub fn parse_json_env(text: &[u8]) -> Result<Vec<(String, String)>, serde_json::Error> {
    let map: std::collections::BTreeMap<String, String> = serde_json::from_slice(text)?;
    Ok(map.into_iter().collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_names_are_shell_identifiers_and_values_anything_but_nul() {
        for name in ["A", "_x", "JAVA_OPTS", "a1"] {
            check_env(name, "v=w 'q' \"d\" $X \\ \n é").unwrap();
        }
        for name in ["1A", "A-B", "", "A B", "é", "A=B"] {
            let e = check_env(name, "v").unwrap_err().to_string();
            assert!(e.starts_with("config: key `env`: "), "{e}");
        }
        assert_eq!(
            check_env("A", "x\0y").unwrap_err().to_string(),
            "config: key `env.A`: holds a NUL byte, which no environment variable can: remove it"
        );
    }
}
