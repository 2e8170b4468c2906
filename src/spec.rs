//! Image variants and the rules that hold between them.
//!
//! A [`Variant`] is one image to build: OS, arch, distro, instance type, regions, agent kind and
//! version.
//! Variants come from the command line or from an `imagekit.toml` matrix ([`file`]); every rule in
//! [`rules`] runs before anything is written or any AWS call is made, and a violation is a
//! [`UsageError`] (exit 2) naming the flag and its allowed values.

mod file;
pub mod pins;
mod rules;

pub use file::{read_toml, DEFAULT_FILE};
pub use rules::{
    arch_example, instance_type_arch, is_prefixed_hex, parse_tags, tag_problem, MAC_TYPES,
};

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

use clap::ValueEnum;
use serde::{Deserialize, Serialize};

use crate::exit::UsageError;

/// The build region when none is given.
pub const DEFAULT_REGION: &str = "us-east-1";
/// The Windows Server release the Windows image is built from.
pub const WINDOWS_VERSION: &str = "2022";
/// The macOS major release the macOS image is built from (Sonoma).
pub const MACOS_VERSION: &str = "14";

/// The OS and the CI agent kind, shared with the bootstrap and the launch kit.
pub use imagekit_core::{AgentKind, Os};

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, ValueEnum, Serialize, Deserialize,
)]
pub enum Arch {
    #[value(name = "x86_64")]
    #[serde(rename = "x86_64")]
    X86_64,
    #[value(name = "arm64")]
    #[serde(rename = "arm64")]
    Arm64,
}

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, ValueEnum, Serialize, Deserialize,
)]
pub enum Distro {
    #[value(name = "ubuntu-22.04")]
    #[serde(rename = "ubuntu-22.04")]
    Ubuntu2204,
    #[value(name = "ubuntu-24.04")]
    #[serde(rename = "ubuntu-24.04")]
    Ubuntu2404,
    #[value(name = "al2023")]
    #[serde(rename = "al2023")]
    Al2023,
}

/// Dedicated-host placement for macOS: a host resource group (license-manager allocates hosts)
/// or one specific host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HostPlacement {
    ResourceGroup(String),
    HostId(String),
}

/// One image to build.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Variant {
    pub os: Os,
    pub arch: Arch,
    /// Some only for Linux.
    pub distro: Option<Distro>,
    pub instance_type: String,
    /// Non-empty; `[0]` is the build region, the rest are copy targets.
    pub regions: Vec<String>,
    /// The CI agent the image carries.
    pub agent: AgentKind,
    /// A release of that agent as `vMAJOR.MINOR.PATCH`, e.g. `v2.2.23` (see [`pins`]).
    pub agent_version: String,
    /// Overrides the source AMI filter.
    pub source_ami: Option<String>,
    /// macOS dedicated host placement.
    pub host: Option<HostPlacement>,
    pub skip_provisioning: bool,
    /// Extra AMI tags (`--tag KEY=VALUE`, `tags` in imagekit.toml). Keys `imagekit:*` are reserved.
    pub tags: BTreeMap<String, String>,
}

impl Arch {
    pub fn as_str(self) -> &'static str {
        match self {
            Arch::X86_64 => "x86_64",
            Arch::Arm64 => "arm64",
        }
    }
}

impl Distro {
    pub fn as_str(self) -> &'static str {
        match self {
            Distro::Ubuntu2204 => "ubuntu-22.04",
            Distro::Ubuntu2404 => "ubuntu-24.04",
            Distro::Al2023 => "al2023",
        }
    }
}

impl fmt::Display for Arch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Display for Distro {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Distro {
    /// The root device of imagekit's images of this distro (Amazon Linux boots from /dev/xvda).
    pub fn root_device_name(distro: Option<Distro>) -> &'static str {
        match distro {
            Some(Distro::Al2023) => "/dev/xvda",
            _ => "/dev/sda1",
        }
    }
}

impl Variant {
    /// Stable, filesystem-safe id used for output dirs and `[id region]` log prefixes,
    /// e.g. "linux-ubuntu-24.04-x86_64", "windows-2022-x86_64", "macos-mac2.metal-arm64".
    /// A Buildkite or CircleCI image names its kind before the arch
    /// ("linux-al2023-buildkite-arm64"), so an id still starts with its OS and ends with its
    /// arch; Semaphore's carry none, as they were named before there were other kinds.
    pub fn id(&self) -> String {
        let kind = self.kind_infix();
        match self.os {
            Os::Linux => format!("linux-{}-{kind}{}", self.release(), self.arch),
            Os::Windows => format!("windows-{}-{kind}{}", WINDOWS_VERSION, self.arch),
            Os::Macos => format!("macos-{}-{kind}{}", self.instance_type, self.arch),
        }
    }

    /// `<kind>-` for every kind but Semaphore, whose ids and AMI names predate the kinds.
    pub fn kind_infix(&self) -> String {
        match self.agent {
            AgentKind::Semaphore => String::new(),
            kind => format!("{kind}-"),
        }
    }

    /// The OS release the image carries: the distro for Linux, the Windows Server or macOS
    /// version otherwise. Used in the AMI name.
    pub fn release(&self) -> &'static str {
        match (self.os, self.distro) {
            (Os::Linux, Some(d)) => d.as_str(),
            (Os::Linux, None) => Distro::Ubuntu2404.as_str(),
            (Os::Windows, _) => WINDOWS_VERSION,
            (Os::Macos, _) => MACOS_VERSION,
        }
    }

    /// The build region.
    pub fn build_region(&self) -> &str {
        &self.regions[0]
    }

    /// Regions the AMI is copied to after the build.
    pub fn copy_regions(&self) -> &[String] {
        &self.regions[1..]
    }
}

/// What the command line asks for, applied over `imagekit.toml` when there is one (`None` or
/// empty: not given). The command layer fills it from the clap flags.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Without it, every image in imagekit.toml is used.
    pub os: Option<Os>,
    pub arch: Option<Arch>,
    pub distro: Option<Distro>,
    pub instance_type: Option<String>,
    /// The first is the build region, the rest are copy targets.
    pub regions: Vec<String>,
    pub agent: Option<AgentKind>,
    pub agent_version: Option<String>,
    pub source_ami: Option<String>,
    pub host_resource_group_arn: Option<String>,
    pub host_id: Option<String>,
    /// `KEY=VALUE` items, parsed and checked here.
    pub tags: Vec<String>,
    /// The image matrix; else `./imagekit.toml` if present.
    pub config: Option<PathBuf>,
    pub skip_provisioning: bool,
}

/// Turns flags (and imagekit.toml, when there is one) into checked variants.
pub fn resolve_variants(args: &Options) -> Result<Vec<Variant>, UsageError> {
    let config_path = match &args.config {
        Some(path) => Some(path.clone()),
        None => {
            let default = PathBuf::from(file::DEFAULT_FILE);
            default.is_file().then_some(default)
        }
    };
    let matrix = match &config_path {
        Some(path) => Some(file::load(path)?),
        None => None,
    };
    let flag_tags = rules::parse_tags(&args.tags)?;

    let drafts: Vec<rules::Draft> = match (&args.os, &matrix) {
        (Some(os), matrix) => {
            let defaults = matrix.as_ref();
            vec![rules::Draft::from_flags(*os, args, defaults, &flag_tags)]
        }
        (None, Some(matrix)) => {
            rules::refuse_per_image_flags_without_os(args)?;
            if matrix.images.is_empty() {
                return Err(UsageError::new(format!(
                    "{}: no [[image]] tables; add one or pass --os linux|windows|macos",
                    config_path.unwrap().display()
                )));
            }
            matrix
                .images
                .iter()
                .map(|image| rules::Draft::from_file(image, matrix, args, &flag_tags))
                .collect()
        }
        (None, None) => {
            return Err(UsageError::new(
                "--os is required (linux|windows|macos) when there is no imagekit.toml",
            ))
        }
    };

    let variants = drafts
        .into_iter()
        .map(rules::check)
        .collect::<Result<Vec<_>, _>>()?;
    let mut seen = std::collections::BTreeSet::new();
    for v in &variants {
        if !seen.insert(v.id()) {
            return Err(UsageError::new(format!(
                "imagekit.toml: two images resolve to the same variant {}; remove one",
                v.id()
            )));
        }
    }
    Ok(variants)
}
