//! A stack, checked: every default filled and every rule held before anything is written. A
//! violation is one [`UsageError`] line naming the key as the user wrote it ([`Origin`]).

mod access;
mod boot;
mod group;
mod machines;
mod scaling;

use std::collections::BTreeMap;
use std::fmt::Display;

use imagekit_bootstrap::config::BootConfigLayer;

use super::agent::{self, AgentRow};
use super::file::{ImageRef, StackTable};
use super::origin::Origin;
use super::rules;
use crate::exit::UsageError;
use crate::spec::{Arch, Os};

/// The instance log groups, under `/imagekit/<stack>/`: the agent's job log, the bootstrap's
/// own, the OS journal, and cloud-init's or EC2Launch's boot output.
pub const LOG_STREAMS: &[&str] = &["agent", "bootstrap", "system", "boot"];

#[derive(Debug, Clone)]
pub struct StackSpec {
    pub name: String,
    pub agent: AgentRow,
    pub os: Os,
    pub region: Option<String>,
    pub image: Option<ImageRef>,
    pub token_parameter: String,
    pub token_kms_key: Option<String>,
    pub config_parameter: Option<String>,
    /// The boot config the launch template's user data carries.
    pub boot: BootConfigLayer,
    pub instances: Instances,
    pub group: Group,
    pub security: Security,
    pub access: Access,
    pub log_retention_days: u32,
    pub cache: Option<Cache>,
    pub mac: Option<Mac>,
    pub scaler: Option<Scaler>,
    /// The user's tags (top-level and the stack's); imagekit adds its own.
    pub tags: BTreeMap<String, String>,
}

#[derive(Debug, Clone)]
pub struct Instances {
    /// Non-empty; the first is the launch template's.
    pub types: Vec<String>,
    pub arch: Arch,
    pub root: RootVolume,
    pub hop_limit: u8,
    pub key_name: Option<String>,
    pub public_ip: Option<bool>,
    pub ipv6: bool,
}

#[derive(Debug, Clone)]
pub struct RootVolume {
    pub device: String,
    pub size: Option<u32>,
    pub kind: String,
    pub iops: Option<u32>,
    pub throughput: Option<u32>,
}

#[derive(Debug, Clone)]
pub struct Group {
    pub min: u32,
    pub max: u32,
    pub on_demand_base: u32,
    pub on_demand_percentage: u32,
    pub on_demand_strategy: Option<String>,
    pub spot_strategy: Option<String>,
    pub placement: Placement,
    pub max_instance_lifetime: Option<u32>,
    pub capacity_rebalance: bool,
    pub metrics: Vec<String>,
}

/// Where the group launches: named subnets of a VPC, or the default VPC in some or all zones.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Placement {
    Subnets {
        vpc_id: String,
        subnets: Vec<String>,
    },
    /// `None`: every zone of the region.
    DefaultVpc(Option<Vec<String>>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Security {
    /// The user's own groups; the stack creates none.
    Own(Vec<String>),
    /// An egress-only group, with SSH from `ssh_cidr` when a key pair is set too.
    Created {
        vpc_id: Option<String>,
        ssh_cidr: Option<String>,
    },
}

#[derive(Debug, Clone)]
pub struct Access {
    pub session_manager: bool,
    /// ARNs, with pseudo parameters for policies named in the stack's account.
    pub managed_policies: Vec<String>,
    pub permissions_boundary: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cache {
    pub bucket: String,
    /// `Some(days)`: the stack creates the bucket and expires objects after `days`.
    pub created: Option<u32>,
}

#[derive(Debug, Clone)]
pub struct Mac {
    pub license_configuration_arn: String,
    pub families: Vec<String>,
    pub dedicated_hosts: Vec<String>,
    pub auto_allocate: bool,
    pub auto_release: bool,
}

#[derive(Debug, Clone)]
pub struct Scaler {
    pub arch: Arch,
    pub reserved_concurrency: Option<u32>,
    pub memory: u32,
    pub log_retention_days: u32,
    /// `imagekit scale`'s settings, by argument id, as parsed from the function's environment
    /// and checked by `scale::Settings::from_options`.
    pub options: crate::scale::Options,
    /// The function's `IMAGEKIT_SCALE_*` environment.
    pub environment: BTreeMap<String, String>,
}

impl StackSpec {
    /// `/imagekit/<stack>/agent`, `/bootstrap`, `/system`, `/boot`.
    pub fn log_groups(&self) -> Vec<String> {
        LOG_STREAMS
            .iter()
            .map(|s| format!("/imagekit/{}/{s}", self.name))
            .collect()
    }

    /// The scaler's Lambda function.
    pub fn scaler_function_name(&self) -> String {
        format!("{}-scaler", self.name)
    }
}

/// Names keys and prefixes errors for one stack.
struct Ctx<'a> {
    origin: &'a Origin,
    name: &'a str,
    cli: &'a dyn super::ScalerCli,
}

impl Ctx<'_> {
    fn key(&self, field: &str) -> String {
        self.origin.key(field)
    }

    fn fail(&self, message: impl Display) -> UsageError {
        self.origin.fail(self.name, message)
    }

    /// A value's form check, its error led by the key.
    fn check(&self, field: &str, result: Result<(), String>) -> Result<(), UsageError> {
        result.map_err(|why| self.fail(format!("{} {why}", self.key(field))))
    }

    /// A key that must be set.
    fn required<T: Clone>(
        &self,
        field: &str,
        value: &Option<T>,
        why: &str,
    ) -> Result<T, UsageError> {
        value
            .clone()
            .ok_or_else(|| self.fail(format!("{} is required: {why}", self.key(field))))
    }
}

/// Checks one table; `file_tags` are the top-level tags of its file.
pub fn resolve(
    table: &StackTable,
    file_tags: &BTreeMap<String, String>,
    origin: &Origin,
    cli: &dyn super::ScalerCli,
) -> Result<StackSpec, UsageError> {
    let ctx = Ctx {
        origin,
        name: &table.name,
        cli,
    };
    ctx.check("name", rules::stack_name(&table.name))?;
    let os = ctx.required("os", &table.os, "linux, windows or macos")?;
    let agent = agent::row(table.agent.unwrap_or_default());
    if let Some(region) = &table.region {
        if !imagekit_core::region::is_region(region) {
            return Err(ctx.fail(format!(
                "{} {region:?} is not a region name (e.g. us-east-1)",
                ctx.key("region")
            )));
        }
    }
    let instances = machines::instances(&ctx, table, os)?;
    let mac = machines::mac(&ctx, table, os, &instances.types)?;
    let group = group::group(&ctx, table, os)?;
    let security = access::security(&ctx, table, os)?;
    let cache = access::cache(&ctx, table)?;
    let boot = boot::layer(&ctx, table, agent, cache.as_ref())?;
    let token_parameter = boot.token_parameter.clone().expect("boot::layer sets it");
    let scaler = scaling::scaler(&ctx, table, agent, &boot)?;
    let log_retention_days = table.log_retention_days.unwrap_or(30);
    ctx.check(
        "log_retention_days",
        rules::retention_days(log_retention_days),
    )?;
    Ok(StackSpec {
        name: table.name.clone(),
        agent,
        os,
        region: table.region.clone(),
        image: table.image.clone(),
        token_parameter,
        token_kms_key: table.token_kms_key.clone(),
        config_parameter: table.config_parameter.clone(),
        boot,
        instances,
        group,
        security,
        access: access::access(&ctx, table)?,
        log_retention_days,
        cache,
        mac,
        scaler,
        tags: tags(&ctx, file_tags, &table.tags)?,
    })
}

fn tags(
    ctx: &Ctx<'_>,
    file_tags: &BTreeMap<String, String>,
    own: &BTreeMap<String, String>,
) -> Result<BTreeMap<String, String>, UsageError> {
    let mut tags = file_tags.clone();
    tags.extend(own.clone());
    for (key, value) in &tags {
        if let Some(why) = crate::spec::tag_problem(key, value) {
            return Err(ctx.fail(format!("{}{why}", ctx.key("tags"))));
        }
    }
    Ok(tags)
}
