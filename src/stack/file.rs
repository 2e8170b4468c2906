//! `[[stack]]` tables in `imagekit.toml`: one fleet per table, as the user writes it.
//!
//! ```toml
//! tags = { team = "ci" }          # top-level tags apply to images and stacks
//!
//! [[stack]]
//! name = "ci-linux"
//! os = "linux"
//! endpoint = "acme.semaphoreci.com"
//! token_parameter = "/ci/linux/token"
//! instance_types = ["t3.large", "t3a.large"]
//! max = 10
//!
//! [stack.boot]                    # any boot-config key the stack does not set itself
//! disconnect_after_idle_timeout = 600
//!
//! [stack.scaler]
//! overprovision = "1"
//! ```
//!
//! Unknown keys are errors, as in `[[image]]`. The `[[image]]` side of the file is read by
//! `crate::spec`; this side reads only `tags` and `[[stack]]`.

use std::collections::BTreeMap;
use std::path::Path;

use imagekit_bootstrap::config::{AgentKind, BootConfigLayer};
use serde::Deserialize;

use crate::exit::UsageError;
use crate::spec::{Arch, Distro, Os};

/// The parts of `imagekit.toml` that stacks use.
#[derive(Debug, Default, Deserialize)]
pub struct StackFile {
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
    #[serde(default, rename = "stack")]
    pub stacks: Vec<StackTable>,
}

/// One `[[stack]]`. Every field but `name` and `os` is optional; [`super::spec`] fills the
/// defaults and checks the rules.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StackTable {
    pub name: String,
    /// The CI agent the fleet runs [default: semaphore].
    pub agent: Option<AgentKind>,
    pub os: Option<Os>,
    /// The image's arch; without it, the instance types decide (and must agree).
    pub arch: Option<Arch>,
    /// Linux only: decides the root device name (/dev/xvda on al2023, else /dev/sda1).
    pub distro: Option<Distro>,
    /// Where deploy puts the stack; render is region-independent.
    pub region: Option<String>,
    /// What deploy fills the image parameter with (an AMI, `{ variant = ... }`, `{ ssm = ... }`).
    pub image: Option<ImageRef>,

    pub endpoint: Option<String>,
    pub token_parameter: Option<String>,
    /// ARN or key id of the customer-managed key of the token (and config) parameter.
    pub token_kms_key: Option<String>,
    pub config_parameter: Option<String>,
    pub boot: Option<BootConfigLayer>,

    pub instance_types: Option<Vec<String>>,
    pub min: Option<u32>,
    pub max: Option<u32>,
    pub on_demand_base_capacity: Option<u32>,
    pub on_demand_percentage_above_base: Option<u32>,
    pub on_demand_allocation_strategy: Option<String>,
    pub spot_allocation_strategy: Option<String>,
    pub vpc_id: Option<String>,
    pub subnets: Option<Vec<String>>,
    pub availability_zones: Option<Vec<String>>,
    /// Seconds (0 or 86400 to 31536000), as the group takes it.
    pub max_instance_lifetime: Option<u32>,
    pub capacity_rebalance: Option<bool>,
    pub group_metrics: Option<Vec<String>>,

    pub security_groups: Option<Vec<String>>,
    pub key_name: Option<String>,
    pub ssh_cidr: Option<String>,
    /// Unset: the subnet's own setting.
    pub public_ip: Option<bool>,
    pub ipv6: Option<bool>,
    pub metadata_hop_limit: Option<u8>,
    pub root_volume: Option<RootVolume>,

    pub session_manager: Option<bool>,
    /// Managed policy ARNs, or names of customer-managed policies in the stack's account.
    pub managed_policies: Option<Vec<String>>,
    pub permissions_boundary: Option<String>,
    pub log_retention_days: Option<u32>,

    pub cache_bucket: Option<String>,
    pub create_cache_bucket: Option<bool>,
    pub cache_expire_days: Option<u32>,

    pub license_configuration_arn: Option<String>,
    pub mac_host_families: Option<Vec<String>>,
    pub dedicated_hosts: Option<Vec<String>>,
    pub auto_allocate_hosts: Option<bool>,
    pub auto_release_hosts: Option<bool>,

    pub scaler: Option<ScalerTable>,
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
}

/// The image deploy resolves: an AMI id, an imagekit variant's newest AMI, or an SSM parameter.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum ImageRef {
    Ami(String),
    Variant { variant: String },
    Ssm { ssm: String },
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RootVolume {
    /// [default: the image's root device]
    pub device: Option<String>,
    /// GiB [default: the image's snapshot size].
    pub size: Option<u32>,
    #[serde(rename = "type")]
    pub kind: Option<String>,
    pub iops: Option<u32>,
    pub throughput: Option<u32>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScalerTable {
    /// false: a static fleet, no scaler [default: true].
    pub enabled: Option<bool>,
    /// The Lambda's arch [default: x86_64].
    pub arch: Option<Arch>,
    pub reserved_concurrency: Option<u32>,
    pub memory: Option<u32>,
    pub log_retention_days: Option<u32>,
    /// The CI API token [default: the stack's token_parameter, Semaphore's agent-type token].
    pub token_parameter: Option<String>,
    /// CircleCI's `NAMESPACE/NAME` whose tasks the scaler counts (circleci stacks only).
    pub resource_class: Option<String>,
    /// [default: the boot config's `buildkite.spawn` for Buildkite, else 1].
    pub agents_per_instance: Option<u32>,
    pub interval: Option<String>,
    pub overprovision: Option<String>,
    pub metrics: Option<bool>,
    pub metrics_namespace: Option<String>,
}

/// Reads the stack side of `path`. Errors name the file and line.
pub fn load(path: &Path) -> Result<StackFile, UsageError> {
    crate::spec::read_toml(path)
}
