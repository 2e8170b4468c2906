//! The CI systems imagekit knows: one enum for the boot config's `agent`, `imagekit scale --ci`,
//! the image spec and the images' tags.

use serde::{Deserialize, Serialize};

#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Default,
    clap::ValueEnum,
    Serialize,
    Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum AgentKind {
    #[default]
    Semaphore,
    Buildkite,
    Circleci,
}

impl AgentKind {
    pub const ALL: [AgentKind; 3] = [
        AgentKind::Semaphore,
        AgentKind::Buildkite,
        AgentKind::Circleci,
    ];

    /// The name used in flags, config files and tags.
    pub fn as_str(self) -> &'static str {
        match self {
            AgentKind::Semaphore => "semaphore",
            AgentKind::Buildkite => "buildkite",
            AgentKind::Circleci => "circleci",
        }
    }
}

impl std::fmt::Display for AgentKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
