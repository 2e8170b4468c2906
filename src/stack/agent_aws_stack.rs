//! Imports agent-aws-stack's deploy-time `config.json` (flat `SEMAPHORE_*` keys, string values)
//! as a `[[stack]]` table: the one mapping behind `imagekit stack render --stack-config` and
//! `imagekit userdata --stack-config`.
//!
//! Every key that its `lib/argument-store.js` documents (`required` and `defaults`,
//! renderedtext/agent-aws-stack@164b2cb) is in [`ROWS`]: mapped to a `[[stack]]` key, or refused
//! with why and what to do instead. Any other key is refused too: none is silently dropped. As
//! there, an empty string means "unset", and the defaults that would change what is deployed are
//! applied (`t2.micro`, a max of 1, `ubuntu-focal`).

use std::path::Path;

use imagekit_bootstrap::config::SemaphoreSection;
use serde_json::{Map, Value};

use super::file::{ImageRef, RootVolume, ScalerTable, StackTable};
use crate::exit::UsageError;
use crate::spec::{Arch, Distro, Os};
use crate::userdata::secret;

/// One documented key: the `[[stack]]` key it becomes (for errors and the report), and how.
pub struct Row {
    pub key: &'static str,
    pub into: &'static str,
    apply: Apply,
}

/// Writes one key's value (non-empty) into the table, or says why it cannot be taken.
type Apply = fn(&mut StackTable, &str) -> Result<(), String>;

/// Where a key lands when it only shapes the boot config the instances read.
pub const BOOT: &str = "boot";

macro_rules! row {
    ($key:literal => $into:literal, $apply:expr) => {
        Row {
            key: $key,
            into: $into,
            apply: $apply,
        }
    };
}

/// Every key `argument-store.js` documents, in its order.
pub const ROWS: &[Row] = &[
    row!("SEMAPHORE_AGENT_STACK_NAME" => "name", |t, v| set(&mut t.name, v.to_string())),
    row!("SEMAPHORE_AGENT_TOKEN_PARAMETER_NAME" => "token_parameter", |t, v| some(&mut t.token_parameter, v)),
    row!("SEMAPHORE_ENDPOINT" => "endpoint", |t, v| some(&mut t.endpoint, v)),
    // Used only without SEMAPHORE_ENDPOINT, as `getSemaphoreEndpoint` does.
    row!("SEMAPHORE_ORGANIZATION" => "endpoint", |t, v| {
        t.endpoint.get_or_insert_with(|| format!("{v}.semaphoreci.com"));
        Ok(())
    }),
    row!("SEMAPHORE_AGENT_INSTANCE_TYPE" => "instance_types", |t, v| set(&mut t.instance_types, Some(vec![v.to_string()]))),
    row!("SEMAPHORE_AGENT_ASG_MIN_SIZE" => "min", |t, v| set(&mut t.min, Some(number(v)?))),
    row!("SEMAPHORE_AGENT_ASG_MAX_SIZE" => "max", |t, v| set(&mut t.max, Some(number(v)?))),
    row!("SEMAPHORE_AGENT_ASG_DESIRED" => "", |_, _| Err(
        "the template never sets a desired capacity (each update would reset it); the scaler raises it from the queue: remove it, or set SEMAPHORE_AGENT_ASG_MIN_SIZE for a floor".into()
    )),
    row!("SEMAPHORE_AGENT_ASG_METRICS" => "group_metrics", |t, v| set(&mut t.group_metrics, Some(list(v)))),
    row!("SEMAPHORE_AGENT_ASG_MAX_INSTANCE_LIFETIME" => "max_instance_lifetime", |t, v| set(&mut t.max_instance_lifetime, Some(number(v)?))),
    row!("SEMAPHORE_AGENT_ASG_LAUNCH_TEMPLATE_OVERRIDES_JSON" => "instance_types", |t, v| set(&mut t.instance_types, Some(vec![override_type(v)?]))),
    row!("SEMAPHORE_AGENT_DISCONNECT_AFTER_JOB" => "boot", |t, v| set(&mut boot(t).disconnect_after_job, Some(boolean(v)?))),
    row!("SEMAPHORE_AGENT_DISCONNECT_AFTER_IDLE_TIMEOUT" => "boot", |t, v| set(&mut boot(t).disconnect_after_idle_timeout, Some(seconds(v)?))),
    row!("SEMAPHORE_AGENT_OS" => "os", |t, v| os(t, v)),
    row!("SEMAPHORE_AGENT_ARCH" => "arch", |t, v| set(&mut t.arch, Some(arch(v)?))),
    row!("SEMAPHORE_AGENT_SECURITY_GROUP_ID" => "security_groups", |t, v| set(&mut t.security_groups, Some(vec![v.to_string()]))),
    // agent-aws-stack also opens SSH from 0.0.0.0/0 for a key pair; imagekit opens it only from
    // an `ssh_cidr`, which no agent-aws-stack key names (see `notes`).
    row!("SEMAPHORE_AGENT_KEY_NAME" => "key_name", |t, v| some(&mut t.key_name, v)),
    row!("SEMAPHORE_AGENT_CACHE_BUCKET_NAME" => "cache_bucket", |t, v| some(&mut t.cache_bucket, v)),
    row!("SEMAPHORE_AGENT_TOKEN_KMS_KEY" => "token_kms_key", |t, v| some(&mut t.token_kms_key, v)),
    row!("SEMAPHORE_AGENT_VPC_ID" => "vpc_id", |t, v| some(&mut t.vpc_id, v)),
    row!("SEMAPHORE_AGENT_SUBNETS" => "subnets", |t, v| set(&mut t.subnets, Some(list(v)))),
    row!("SEMAPHORE_AGENT_USE_DYNAMIC_SCALING" => "scaler.enabled", |t, v| set(&mut scaler(t).enabled, Some(boolean(v)?))),
    row!("SEMAPHORE_AGENT_AMI" => "image", |t, v| set(&mut t.image, Some(ImageRef::Ami(v.to_string())))),
    row!("SEMAPHORE_AGENT_MANAGED_POLICY_NAMES" => "managed_policies", |t, v| set(&mut t.managed_policies, Some(list(v)))),
    row!("SEMAPHORE_AGENT_VOLUME_NAME" => "root_volume.device", |t, v| some(&mut volume(t).device, v)),
    row!("SEMAPHORE_AGENT_VOLUME_TYPE" => "root_volume.type", |t, v| some(&mut volume(t).kind, v)),
    row!("SEMAPHORE_AGENT_VOLUME_SIZE" => "root_volume.size", |t, v| set(&mut volume(t).size, Some(number(v)?))),
    row!("SEMAPHORE_AGENT_VOLUME_IOPS" => "root_volume.iops", |t, v| set(&mut volume(t).iops, Some(number(v)?))),
    row!("SEMAPHORE_AGENT_VOLUME_THROUGHPUT" => "root_volume.throughput", |t, v| set(&mut volume(t).throughput, Some(number(v)?))),
    row!("SEMAPHORE_AGENT_TAGS" => "tags", |t, v| tags(t, v)),
    row!("SEMAPHORE_AGENT_LICENSE_CONFIGURATION_ARN" => "license_configuration_arn", |t, v| some(&mut t.license_configuration_arn, v)),
    row!("SEMAPHORE_AGENT_MAC_FAMILY" => "mac_host_families", |t, v| set(&mut t.mac_host_families, Some(list(v)))),
    row!("SEMAPHORE_AGENT_MAC_DEDICATED_HOSTS" => "dedicated_hosts", |t, v| set(&mut t.dedicated_hosts, Some(list(v)))),
    row!("SEMAPHORE_AGENT_AUTO_ALLOCATE_HOST" => "auto_allocate_hosts", |t, v| set(&mut t.auto_allocate_hosts, Some(boolean(v)?))),
    row!("SEMAPHORE_AGENT_AUTO_RELEASE_HOST" => "auto_release_hosts", |t, v| set(&mut t.auto_release_hosts, Some(boolean(v)?))),
    row!("SEMAPHORE_AGENT_AZS" => "availability_zones", |t, v| set(&mut t.availability_zones, Some(list(v)))),
    row!("SEMAPHORE_AGENT_USE_PRE_SIGNED_URL" => "boot", |t, v| {
        let on = boolean(v)?;
        boot(t).semaphore = on.then_some(SemaphoreSection {
            name_from_sts: Some(true),
        });
        Ok(())
    }),
    // Both read together, once every key is in (`overprovision`).
    row!("SEMAPHORE_AGENT_OVERPROVISION_STRATEGY" => "scaler.overprovision", |_, _| Ok(())),
    row!("SEMAPHORE_AGENT_OVERPROVISION_FACTOR" => "scaler.overprovision", |_, _| Ok(())),
    row!("SEMAPHORE_AGENT_USE_IPV6" => "ipv6", |t, v| set(&mut t.ipv6, Some(boolean(v)?))),
    row!("SEMAPHORE_AGENT_ALLOW_PUBLIC_SUBNET" => "", |_, v| only_false(v,
        "it places the scaler Lambda in the VPC's public subnets; imagekit's scaler runs outside the VPC, so there is nothing to allow: remove it")),
    row!("SEMAPHORE_AGENT_ON_DEMAND_BASE_CAPACITY" => "on_demand_base_capacity", |t, v| set(&mut t.on_demand_base_capacity, Some(number(v)?))),
    row!("SEMAPHORE_AGENT_ON_DEMAND_PERCENTAGE_ABOVE_BASE" => "on_demand_percentage_above_base", |t, v| set(&mut t.on_demand_percentage_above_base, Some(number(v)?))),
    row!("SEMAPHORE_AGENT_ON_DEMAND_ALLOCATION_STRATEGY" => "on_demand_allocation_strategy", |t, v| some(&mut t.on_demand_allocation_strategy, v)),
    row!("SEMAPHORE_AGENT_SPOT_ALLOCATION_STRATEGY" => "spot_allocation_strategy", |t, v| some(&mut t.spot_allocation_strategy, v)),
    row!("SEMAPHORE_AGENT_ASG_CAPACITY_REBALANCE" => "capacity_rebalance", |t, v| set(&mut t.capacity_rebalance, Some(boolean(v)?))),
    // Always on here: instances leave by themselves, so scale-in must never pick a busy one.
    row!("SEMAPHORE_AGENT_ASG_NEW_INSTANCES_PROTECTED_FROM_SCALE_IN" => "", |_, v| match boolean(v)? {
        true => Ok(()),
        false => Err("imagekit always protects new instances from scale-in (an idle instance gives itself back; scale-in would pick busy ones): remove it".into()),
    }),
];

#[derive(Debug)]
pub struct Imported {
    pub table: StackTable,
    /// Each key the file sets, with the `[[stack]]` key it became, in the file's order.
    pub keys: Vec<(String, &'static str)>,
    /// `SEMAPHORE_AGENT_OS` was set (else the table holds its default, ubuntu-focal's linux).
    pub os_given: bool,
}

/// The `[[stack]]` key an agent-aws-stack key became, for [`super::origin::Origin`].
pub fn key_for(field: &str) -> Option<&'static str> {
    ROWS.iter().find(|r| r.into == field).map(|r| r.key)
}

pub fn import(path: &Path, bytes: &[u8]) -> Result<Imported, UsageError> {
    let shown = path.display();
    let value: Value = serde_json::from_slice(bytes)
        .map_err(|e| UsageError::new(format!("{shown}: malformed JSON: {e}")))?;
    let Value::Object(map) = value else {
        return Err(UsageError::new(format!(
            "{shown}: an agent-aws-stack config.json is one JSON object of SEMAPHORE_* keys"
        )));
    };
    secret::refuse_tokens(path, &Value::Object(map.clone()))?;
    let mut table = StackTable::default();
    let mut keys = Vec::new();
    for (key, value) in &map {
        let Some(row) = ROWS.iter().find(|r| r.key == key) else {
            return Err(UsageError::new(format!(
                "{shown}: unknown key `{key}` (not one of agent-aws-stack's lib/argument-store.js keys)"
            )));
        };
        let Some(text) = text(key, value).map_err(|e| UsageError::new(format!("{shown}: {e}")))?
        else {
            continue;
        };
        (row.apply)(&mut table, &text)
            .map_err(|why| UsageError::new(format!("{shown}: {key}: {why}")))?;
        keys.push((key.clone(), row.into));
    }
    let os_given = table.os.is_some();
    defaults(&mut table);
    let finish = |table: &mut StackTable| -> Result<(), String> {
        overprovision(table, &map)?;
        mac_types(table)?;
        volume_needs_a_name(table)
    };
    finish(&mut table).map_err(|e| UsageError::new(format!("{shown}: {e}")))?;
    Ok(Imported {
        table,
        keys,
        os_given,
    })
}

/// What the import cannot carry over exactly, for one stderr line each.
pub fn notes(imported: &Imported) -> Vec<String> {
    let mut notes = Vec::new();
    if imported.table.key_name.is_some() && imported.table.os != Some(Os::Windows) {
        notes.push(
            "SEMAPHORE_AGENT_KEY_NAME: agent-aws-stack opens SSH to 0.0.0.0/0 for a key pair; imagekit opens none (add ssh_cidr in imagekit.toml, or use Session Manager)".to_string(),
        );
    }
    notes
}

/// argument-store.js's defaults where they decide what is deployed (the others equal ours).
fn defaults(t: &mut StackTable) {
    if t.os.is_none() {
        t.os = Some(Os::Linux);
    }
    if t.max.is_none() {
        t.max = Some(1);
    }
    if t.instance_types.is_none() && t.os != Some(Os::Macos) {
        t.instance_types = Some(vec!["t2.micro".into()]);
    }
}

/// For macOS, the group launches `<family>.metal` for each SEMAPHORE_AGENT_MAC_FAMILY (default
/// mac2), whatever SEMAPHORE_AGENT_INSTANCE_TYPE says (`createAutoScalingGroup`'s overrides).
fn mac_types(t: &mut StackTable) -> Result<(), String> {
    if t.os != Some(Os::Macos) {
        return Ok(());
    }
    let families = t
        .mac_host_families
        .get_or_insert_with(|| vec!["mac2".into()])
        .clone();
    let mut types: Vec<String> = families.iter().map(|f| format!("{f}.metal")).collect();
    if let Some(given) = t.instance_types.as_ref().and_then(|v| v.first()) {
        let Some(at) = types.iter().position(|x| x == given) else {
            return Err(format!(
                "SEMAPHORE_AGENT_INSTANCE_TYPE {given} is not a type of SEMAPHORE_AGENT_MAC_FAMILY ({}): agent-aws-stack's group would launch only those",
                families.join(",")
            ));
        };
        // The launch template's own type first.
        let first = types.remove(at);
        types.insert(0, first);
    }
    t.instance_types = Some(types);
    Ok(())
}

/// agent-aws-stack sets a root volume only with SEMAPHORE_AGENT_VOLUME_NAME and drops the other
/// volume keys without it (`createBlockDevices`); here they would not be dropped, so ask.
fn volume_needs_a_name(t: &StackTable) -> Result<(), String> {
    match &t.root_volume {
        Some(v) if v.device.is_none() => Err(
            "SEMAPHORE_AGENT_VOLUME_TYPE, _SIZE, _IOPS and _THROUGHPUT take effect only with SEMAPHORE_AGENT_VOLUME_NAME: set it (e.g. /dev/sda1) or remove them".into(),
        ),
        Some(_) | None => Ok(()),
    }
}

/// A key's value as text; an empty string counts as unset, as in agent-aws-stack.
fn text(key: &str, value: &Value) -> Result<Option<String>, String> {
    match value {
        Value::String(s) if s.trim().is_empty() => Ok(None),
        Value::String(s) => Ok(Some(s.trim().to_string())),
        Value::Bool(b) => Ok(Some(b.to_string())),
        Value::Number(n) => Ok(Some(n.to_string())),
        _ => Err(format!(
            "`{key}` must be a string, as agent-aws-stack reads it"
        )),
    }
}

fn set<T>(slot: &mut T, value: T) -> Result<(), String> {
    *slot = value;
    Ok(())
}

fn some(slot: &mut Option<String>, value: &str) -> Result<(), String> {
    *slot = Some(value.to_string());
    Ok(())
}

fn boot(t: &mut StackTable) -> &mut imagekit_bootstrap::config::BootConfigLayer {
    t.boot.get_or_insert_with(Default::default)
}

fn scaler(t: &mut StackTable) -> &mut ScalerTable {
    t.scaler.get_or_insert_with(Default::default)
}

fn volume(t: &mut StackTable) -> &mut RootVolume {
    t.root_volume.get_or_insert_with(Default::default)
}

/// `getAsList`: comma-separated, trimmed, empty items dropped.
fn list(v: &str) -> Vec<String> {
    v.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

/// agent-aws-stack's `getAsBool` reads anything but "true" as false; only the two words pass.
fn boolean(v: &str) -> Result<bool, String> {
    match v {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(format!("must be \"true\" or \"false\", not `{v}`")),
    }
}

fn number(v: &str) -> Result<u32, String> {
    v.parse()
        .map_err(|_| format!("must be a whole number, not `{v}`"))
}

fn seconds(v: &str) -> Result<u64, String> {
    v.parse()
        .map_err(|_| format!("must be whole seconds, not `{v}`"))
}

fn only_false(v: &str, why: &str) -> Result<(), String> {
    match boolean(v)? {
        false => Ok(()),
        true => Err(why.to_string()),
    }
}

/// `ubuntu-focal|jammy|noble` (the AMI names' OS), `windows` or `macos`. agent-aws-stack compares
/// `windows` exactly (`isWindowsStack`); the case is taken as meant here.
fn os(t: &mut StackTable, v: &str) -> Result<(), String> {
    let (os, distro) = match v.to_ascii_lowercase().as_str() {
        "windows" => (Os::Windows, None),
        "macos" => (Os::Macos, None),
        "ubuntu-jammy" => (Os::Linux, Some(Distro::Ubuntu2204)),
        "ubuntu-noble" => (Os::Linux, Some(Distro::Ubuntu2404)),
        // imagekit builds no focal image, but its root device is every Ubuntu's.
        "ubuntu-focal" => (Os::Linux, None),
        _ => {
            return Err(format!(
                "`{v}` is not an agent-aws-stack OS (ubuntu-focal, ubuntu-jammy, ubuntu-noble, windows, macos)"
            ))
        }
    };
    t.os = Some(os);
    t.distro = distro;
    Ok(())
}

fn arch(v: &str) -> Result<Arch, String> {
    match v {
        "x86_64" => Ok(Arch::X86_64),
        "arm64" => Ok(Arch::Arm64),
        _ => Err(format!("must be x86_64 or arm64, not `{v}`")),
    }
}

/// One override, as the CDK's `launchTemplateOverrides` takes it: only its instance type has a
/// counterpart here.
fn override_type(v: &str) -> Result<String, String> {
    let Ok(Value::Object(map)) = serde_json::from_str::<Value>(v) else {
        return Err("must be one JSON object, e.g. {\"instanceType\":\"t3.large\"}".into());
    };
    let mut it = None;
    for (key, value) in &map {
        match (key.as_str(), value) {
            ("instanceType" | "InstanceType", Value::String(s)) => it = Some(s.clone()),
            _ => {
                return Err(format!(
                    "`{key}`: only an instanceType override maps (to instance_types); weights and instance requirements are not supported"
                ))
            }
        }
    }
    it.ok_or_else(|| "names no instanceType".to_string())
}

/// `Name:Value,Other:Value`.
fn tags(t: &mut StackTable, v: &str) -> Result<(), String> {
    for pair in list(v) {
        let Some((key, value)) = pair.split_once(':') else {
            return Err(format!("`{pair}` is not KEY:VALUE"));
        };
        t.tags
            .insert(key.trim().to_string(), value.trim().to_string());
    }
    Ok(())
}

/// `none`, or `number`/`percentage` with SEMAPHORE_AGENT_OVERPROVISION_FACTOR: agent-aws-stack's
/// N spare instances or N % of the jobs (`validateOverprovisionStrategy`). It adds them whenever
/// the jobs reach the minimum, even at zero jobs; `imagekit scale` adds them only while jobs are
/// queued or running, so spares do not launch, idle out and launch again all day.
fn overprovision(t: &mut StackTable, map: &Map<String, Value>) -> Result<(), String> {
    let get = |key: &str| map.get(key).and_then(|v| text(key, v).ok().flatten());
    let strategy = get("SEMAPHORE_AGENT_OVERPROVISION_STRATEGY").unwrap_or_else(|| "none".into());
    let factor = match get("SEMAPHORE_AGENT_OVERPROVISION_FACTOR") {
        Some(f) => number(&f).map_err(|e| format!("SEMAPHORE_AGENT_OVERPROVISION_FACTOR {e}"))?,
        None => 0,
    };
    let overprovision = match (strategy.as_str(), factor) {
        ("none", 0) => None,
        ("none", _) => {
            return Err("SEMAPHORE_AGENT_OVERPROVISION_FACTOR has no effect with SEMAPHORE_AGENT_OVERPROVISION_STRATEGY none: set number or percentage, or remove it".into())
        }
        ("number" | "percentage", 0) => {
            return Err("SEMAPHORE_AGENT_OVERPROVISION_FACTOR must be greater than zero with a number or percentage strategy".into())
        }
        ("number", n) => Some(n.to_string()),
        ("percentage", n) => Some(format!("{n}%")),
        (other, _) => {
            return Err(format!(
                "SEMAPHORE_AGENT_OVERPROVISION_STRATEGY must be none, number or percentage, not `{other}`"
            ))
        }
    };
    if overprovision.is_some() {
        scaler(t).overprovision = overprovision;
    }
    Ok(())
}
