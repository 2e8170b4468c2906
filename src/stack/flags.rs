//! Flags for one stack, without an `imagekit.toml`: the common keys of a `[[stack]]` table (the
//! rest are the file's). Flattened into `stack render` like `spec::VariantArgs` into `render`.

use clap::Args;

use super::file::{ScalerTable, StackTable};
use crate::exit::UsageError;
use crate::spec::{Arch, Distro, Os};

#[derive(Debug, Clone, Default, Args)]
pub struct StackFlags {
    /// One stack from flags: its name (the group and the launch template are named after it).
    #[arg(long, value_name = "NAME", help_heading = "One stack from flags")]
    pub name: Option<String>,
    /// The instances' OS.
    #[arg(long, value_enum, help_heading = "One stack from flags")]
    pub os: Option<Os>,
    /// The image's arch [default: the instance types'].
    #[arg(long, value_enum, help_heading = "One stack from flags")]
    pub arch: Option<Arch>,
    /// Linux: decides the root device (/dev/xvda on al2023).
    #[arg(long, value_enum, help_heading = "One stack from flags")]
    pub distro: Option<Distro>,
    /// The CI agent [default: semaphore].
    #[arg(long, value_enum, help_heading = "One stack from flags")]
    pub agent: Option<imagekit_core::AgentKind>,
    /// The CI control plane, e.g. ORG.semaphoreci.com.
    #[arg(long, value_name = "HOST", help_heading = "One stack from flags")]
    pub endpoint: Option<String>,
    /// SSM SecureString parameter holding the agent token.
    #[arg(long, value_name = "NAME", help_heading = "One stack from flags")]
    pub token_parameter: Option<String>,
    /// Customer-managed KMS key of the token parameter (ARN or key id).
    #[arg(long, value_name = "KEY", help_heading = "One stack from flags")]
    pub token_kms_key: Option<String>,
    /// Instance type the group launches (repeatable: a mixed instances policy).
    #[arg(
        long = "instance-type",
        value_name = "TYPE",
        help_heading = "One stack from flags"
    )]
    pub instance_types: Vec<String>,
    /// The group's minimum size [default: 0].
    #[arg(long, value_name = "N", help_heading = "One stack from flags")]
    pub min: Option<u32>,
    /// The group's maximum size.
    #[arg(long, value_name = "N", help_heading = "One stack from flags")]
    pub max: Option<u32>,
    /// The VPC (with --subnet; neither: the default VPC).
    #[arg(long, value_name = "ID", help_heading = "One stack from flags")]
    pub vpc_id: Option<String>,
    /// A subnet of --vpc-id (repeatable).
    #[arg(
        long = "subnet",
        value_name = "ID",
        help_heading = "One stack from flags"
    )]
    pub subnets: Vec<String>,
    /// Your own security group instead of the stack's egress-only one (repeatable).
    #[arg(
        long = "security-group",
        value_name = "ID",
        help_heading = "One stack from flags"
    )]
    pub security_groups: Vec<String>,
    /// EC2 key pair for the instances.
    #[arg(long, value_name = "NAME", help_heading = "One stack from flags")]
    pub key_name: Option<String>,
    /// Network SSH is allowed from (needs --key-name; never 0.0.0.0/0).
    #[arg(long, value_name = "CIDR", help_heading = "One stack from flags")]
    pub ssh_cidr: Option<String>,
    /// The job cache's S3 bucket.
    #[arg(long, value_name = "BUCKET", help_heading = "One stack from flags")]
    pub cache_bucket: Option<String>,
    /// Create --cache-bucket in the stack (private, encrypted, expiring, kept on delete).
    #[arg(long, help_heading = "One stack from flags")]
    pub create_cache_bucket: bool,
    /// macOS: the License Manager license configuration of the dedicated hosts.
    #[arg(long, value_name = "ARN", help_heading = "One stack from flags")]
    pub license_configuration_arn: Option<String>,
    /// A static fleet: no scaler Lambda.
    #[arg(long, help_heading = "One stack from flags")]
    pub no_scaler: bool,
    /// The scaler Lambda's arch [default: x86_64].
    #[arg(long, value_enum, help_heading = "One stack from flags")]
    pub scaler_arch: Option<Arch>,
    /// Tag on every resource (repeatable).
    #[arg(
        long = "tag",
        value_name = "KEY=VALUE",
        help_heading = "One stack from flags"
    )]
    pub tags: Vec<String>,
}

/// The flag for a `[[stack]]` key, in errors about a stack given by flags.
pub fn flag_for(field: &str) -> String {
    let flag = match field {
        "instance_types" => "instance-type",
        "subnets" => "subnet",
        "security_groups" => "security-group",
        "tags" => "tag",
        "scaler.enabled" => "no-scaler",
        "scaler.arch" => "scaler-arch",
        other => return format!("--{}", other.replace(['_', '.'], "-")),
    };
    format!("--{flag}")
}

impl StackFlags {
    /// The first flag of this group given, if any.
    pub fn first_given(&self) -> Option<&'static str> {
        let given = [
            ("--name", self.name.is_some()),
            ("--os", self.os.is_some()),
            ("--arch", self.arch.is_some()),
            ("--distro", self.distro.is_some()),
            ("--agent", self.agent.is_some()),
            ("--endpoint", self.endpoint.is_some()),
            ("--token-parameter", self.token_parameter.is_some()),
            ("--token-kms-key", self.token_kms_key.is_some()),
            ("--instance-type", !self.instance_types.is_empty()),
            ("--min", self.min.is_some()),
            ("--max", self.max.is_some()),
            ("--vpc-id", self.vpc_id.is_some()),
            ("--subnet", !self.subnets.is_empty()),
            ("--security-group", !self.security_groups.is_empty()),
            ("--key-name", self.key_name.is_some()),
            ("--ssh-cidr", self.ssh_cidr.is_some()),
            ("--cache-bucket", self.cache_bucket.is_some()),
            ("--create-cache-bucket", self.create_cache_bucket),
            (
                "--license-configuration-arn",
                self.license_configuration_arn.is_some(),
            ),
            ("--no-scaler", self.no_scaler),
            ("--scaler-arch", self.scaler_arch.is_some()),
            ("--tag", !self.tags.is_empty()),
        ];
        given.iter().find(|(_, set)| *set).map(|(flag, _)| *flag)
    }

    /// The flags as the `[[stack]]` table they stand for.
    pub fn to_table(&self) -> Result<StackTable, UsageError> {
        let name = self
            .name
            .clone()
            .ok_or_else(|| UsageError::new("--name is required for a stack from flags"))?;
        let nonempty = |v: &Vec<String>| (!v.is_empty()).then(|| v.clone());
        let tags = crate::spec::parse_tags(&self.tags)?;
        let scaler = (self.no_scaler || self.scaler_arch.is_some()).then(|| ScalerTable {
            enabled: self.no_scaler.then_some(false),
            arch: self.scaler_arch,
            ..ScalerTable::default()
        });
        Ok(StackTable {
            name,
            agent: self.agent,
            os: self.os,
            arch: self.arch,
            distro: self.distro,
            endpoint: self.endpoint.clone(),
            token_parameter: self.token_parameter.clone(),
            token_kms_key: self.token_kms_key.clone(),
            instance_types: nonempty(&self.instance_types),
            min: self.min,
            max: self.max,
            vpc_id: self.vpc_id.clone(),
            subnets: nonempty(&self.subnets),
            security_groups: nonempty(&self.security_groups),
            key_name: self.key_name.clone(),
            ssh_cidr: self.ssh_cidr.clone(),
            cache_bucket: self.cache_bucket.clone(),
            create_cache_bucket: self.create_cache_bucket.then_some(true),
            license_configuration_arn: self.license_configuration_arn.clone(),
            scaler,
            tags,
            ..StackTable::default()
        })
    }
}
