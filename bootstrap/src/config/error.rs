//! Bad configuration: exit code 2, with a message naming the key and where it came from.

use std::path::PathBuf;

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

impl ConfigError {
    /// A bad value of `key` in the merged config.
    pub fn key(key: &str, message: impl Into<String>) -> ConfigError {
        ConfigError::Key {
            origin: "config".into(),
            key: key.into(),
            message: message.into(),
        }
    }
}
