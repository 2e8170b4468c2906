//! The operating systems imagekit builds images for and boots agents on.

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
    clap::ValueEnum,
    Serialize,
    Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Os {
    Linux,
    Windows,
    Macos,
}

impl Os {
    pub const ALL: [Os; 3] = [Os::Linux, Os::Windows, Os::Macos];

    /// The name used in flags, config files, tags and variant IDs.
    pub fn as_str(self) -> &'static str {
        match self {
            Os::Linux => "linux",
            Os::Windows => "windows",
            Os::Macos => "macos",
        }
    }
}

impl std::fmt::Display for Os {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Os {
    type Err = String;

    /// One message for every place that reads an OS from text.
    fn from_str(s: &str) -> Result<Os, String> {
        Os::ALL
            .into_iter()
            .find(|os| os.as_str() == s)
            .ok_or_else(|| format!("unknown OS `{s}` (expected linux, windows or macos)"))
    }
}
