//! `imagekit.toml`: a matrix of images, with defaults at the top level.
//!
//! ```toml
//! regions = ["us-east-1", "eu-west-1"]
//! agent = "buildkite"            # semaphore (the default), buildkite or circleci
//!
//! [[image]]
//! os = "linux"
//! distro = "ubuntu-24.04"
//! arch = "arm64"
//!
//! [[image]]
//! os = "macos"
//! instance_type = "mac2-m2.metal"
//! host_resource_group_arn = "arn:aws:resource-groups:us-east-1:123456789012:group/mac"
//! ```
//!
//! The top-level `agent_version` is a release of the top-level `agent` (default semaphore): an
//! image of another kind (its own `agent`, or `--agent`) takes its kind's pinned release unless
//! it names one. Unknown keys are errors, so a typo never silently builds the wrong image. The
//! `[[stack]]` tables in the same file are `crate::stack`'s.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

use super::{AgentKind, Arch, Distro, Os};
use crate::exit::UsageError;

pub const DEFAULT_FILE: &str = "imagekit.toml";

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Matrix {
    #[serde(default)]
    pub regions: Option<Vec<String>>,
    #[serde(default)]
    pub agent: Option<AgentKind>,
    #[serde(default)]
    pub agent_version: Option<String>,
    #[serde(default)]
    pub skip_provisioning: Option<bool>,
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
    #[serde(default, rename = "image")]
    pub images: Vec<Image>,
    /// `[[stack]]` tables: read by `crate::stack`.
    #[serde(default, rename = "stack")]
    _stacks: Option<serde::de::IgnoredAny>,
    /// Where the matrix came from, for error messages.
    #[serde(skip)]
    pub path: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Image {
    pub os: Os,
    pub arch: Option<Arch>,
    pub distro: Option<Distro>,
    pub instance_type: Option<String>,
    pub regions: Option<Vec<String>>,
    pub agent: Option<AgentKind>,
    pub agent_version: Option<String>,
    pub source_ami: Option<String>,
    pub host_resource_group_arn: Option<String>,
    pub host_id: Option<String>,
    pub skip_provisioning: Option<bool>,
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
}

impl Matrix {
    /// The top-level `agent_version`, for an image of `kind` (None: the top-level `agent`). It
    /// is a release of the top-level agent, so an image of another kind does not take it.
    pub fn default_version_for(&self, kind: Option<AgentKind>) -> Option<String> {
        let top = self.agent.unwrap_or_default();
        (kind.unwrap_or(top) == top)
            .then(|| self.agent_version.clone())
            .flatten()
    }
}

pub fn load(path: &Path) -> Result<Matrix, UsageError> {
    let mut matrix: Matrix = read_toml(path)?;
    matrix.path = path.display().to_string();
    Ok(matrix)
}

/// Reads a TOML file into `T`; an error names the file and the line.
pub fn read_toml<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, UsageError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| UsageError::new(format!("reading {}: {e}", path.display())))?;
    toml::from_str(&text).map_err(|e| {
        let line = e
            .span()
            .map(|s| format!(":{}", text[..s.start].matches('\n').count() + 1))
            .unwrap_or_default();
        UsageError::new(format!(
            "{}{line}: {}",
            path.display(),
            e.message().trim().replace('\n', " ")
        ))
    })
}
