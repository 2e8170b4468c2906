//! The instances: types and their arch, the image, the root volume, the metadata service, and
//! for macOS the dedicated hosts.

use super::{Ctx, Instances, Mac, RootVolume};
use crate::exit::UsageError;
use crate::spec::{arch_example, instance_type_arch, Arch, Distro, Os, MAC_TYPES};
use crate::stack::file::{ImageRef, StackTable};
use crate::stack::rules;

/// Root volume types an instance can boot from.
const ROOT_VOLUME_TYPES: &[&str] = &["gp3", "gp2", "io2", "io1", "standard"];

/// How many types a mixed instances policy takes.
const MAX_INSTANCE_TYPES: usize = 40;

pub(super) fn instances(ctx: &Ctx<'_>, t: &StackTable, os: Os) -> Result<Instances, UsageError> {
    let types = ctx.required(
        "instance_types",
        &t.instance_types,
        "the instance types the group launches, e.g. [\"t3.large\"]",
    )?;
    if types.is_empty() || types.len() > MAX_INSTANCE_TYPES {
        return Err(ctx.fail(format!(
            "{} must list 1 to {MAX_INSTANCE_TYPES} instance types",
            ctx.key("instance_types")
        )));
    }
    ctx.check("instance_types", rules::distinct(&types))?;
    let arch = arch_of(ctx, t, os, &types)?;
    let hop_limit = t.metadata_hop_limit.unwrap_or(1);
    if !(1..=64).contains(&hop_limit) {
        return Err(ctx.fail(format!(
            "{} {hop_limit} is outside 1 to 64",
            ctx.key("metadata_hop_limit")
        )));
    }
    if let Some(key) = &t.key_name {
        ctx.check("key_name", rules::key_name(key))?;
    }
    let ipv6 = t.ipv6.unwrap_or(false);
    if ipv6 && t.vpc_id.is_none() {
        return Err(ctx.fail(format!(
            "{} needs {} and subnets with IPv6 ranges: the default VPC has none",
            ctx.key("ipv6"),
            ctx.key("vpc_id")
        )));
    }
    Ok(Instances {
        types,
        arch,
        root: root_volume(ctx, t, os)?,
        hop_limit,
        key_name: t.key_name.clone(),
        public_ip: t.public_ip,
        ipv6,
    })
}

/// Every type must be of the stack's OS kind and of one arch: the image's when it is known.
fn arch_of(ctx: &Ctx<'_>, t: &StackTable, os: Os, types: &[String]) -> Result<Arch, UsageError> {
    let key = ctx.key("instance_types");
    let image_arch = image_arch(ctx, t, os)?;
    if os == Os::Windows && image_arch == Some(Arch::Arm64) {
        return Err(ctx.fail(format!(
            "{} arm64 is not available for windows: allowed values: x86_64",
            ctx.key("arch")
        )));
    }
    let known = image_arch.or((os == Os::Windows).then_some(Arch::X86_64));
    let mut first: Option<(Arch, &str)> = None;
    for it in types {
        let (arch, mac) = instance_type_arch(it).map_err(|why| ctx.fail(format!("{key} {why}")))?;
        match (os, mac) {
            (Os::Macos, false) => {
                return Err(ctx.fail(format!(
                    "{key} {it} is not an EC2 Mac type, and macOS runs only on those ({})",
                    mac_type_list()
                )))
            }
            (Os::Linux | Os::Windows, true) => {
                return Err(ctx.fail(format!(
                    "{key} {it} is an EC2 Mac type: set {} = \"macos\"",
                    ctx.key("os")
                )))
            }
            _ => {}
        }
        if let Some(want) = known {
            if arch != want {
                return Err(ctx.fail(format!(
                    "{key} {it} is {arch} but the image is {want} ({}): use {}",
                    ctx.key("arch"),
                    arch_example(want)
                )));
            }
        }
        match first {
            Some((a, other)) if a != arch => {
                return Err(ctx.fail(format!(
                    "{key} mixes {a} ({other}) and {arch} ({it}): one image runs on one arch"
                )))
            }
            None => first = Some((arch, it)),
            _ => {}
        }
    }
    Ok(first.expect("types is not empty").0)
}

/// The image's arch, when the stack says it: `arch`, or the arch in an image variant's id.
fn image_arch(ctx: &Ctx<'_>, t: &StackTable, os: Os) -> Result<Option<Arch>, UsageError> {
    let variant_arch = match &t.image {
        None => None,
        Some(ImageRef::Ami(ami)) => {
            ctx.check("image", rules::aws_id(ami, "ami-", "an AMI id"))?;
            None
        }
        Some(ImageRef::Ssm { ssm }) => {
            crate::iam::scope::check_parameter_name(&ctx.key("image.ssm"), ssm)
                .map_err(|e| ctx.fail(e))?;
            None
        }
        Some(ImageRef::Variant { variant }) => Some(variant_os_arch(ctx, variant, os)?),
    };
    match (t.arch, variant_arch) {
        (Some(a), Some(v)) if a != v => Err(ctx.fail(format!(
            "{} {a} does not match {} {v}",
            ctx.key("arch"),
            ctx.key("image.variant")
        ))),
        (a, v) => Ok(a.or(v)),
    }
}

/// A variant id (`crate::spec::Variant::id`): `<os>-<release>-<arch>`.
fn variant_os_arch(ctx: &Ctx<'_>, id: &str, os: Os) -> Result<Arch, UsageError> {
    let key = ctx.key("image.variant");
    let parsed = id.split_once('-').zip(id.rsplit_once('-'));
    let (variant_os, arch) = match parsed {
        Some(((o, _), (_, a))) => (o, a),
        None => return Err(ctx.fail(format!("{key} {id:?} is not a variant id (e.g. linux-ubuntu-24.04-x86_64, as `imagekit render` prints)"))),
    };
    let arch = match arch {
        "x86_64" => Arch::X86_64,
        "arm64" => Arch::Arm64,
        _ => {
            return Err(ctx.fail(format!(
                "{key} {id:?} does not end in an arch (x86_64 or arm64)"
            )))
        }
    };
    if variant_os != os.as_str() {
        return Err(ctx.fail(format!(
            "{key} {id} is a {variant_os} image, but the stack is {os}"
        )));
    }
    Ok(arch)
}

fn root_volume(ctx: &Ctx<'_>, t: &StackTable, os: Os) -> Result<RootVolume, UsageError> {
    if os != Os::Linux && t.distro.is_some() {
        return Err(ctx.fail(format!(
            "{} is only for linux (it decides the root device), not {os}",
            ctx.key("distro")
        )));
    }
    let given = t.root_volume.clone().unwrap_or_default();
    let device = given
        .device
        .unwrap_or_else(|| Distro::root_device_name(t.distro).to_string());
    let device_ok = device
        .strip_prefix("/dev/")
        .is_some_and(|d| !d.is_empty() && d.bytes().all(|b| b.is_ascii_alphanumeric()));
    if !device_ok {
        return Err(ctx.fail(format!(
            "{} {device:?} is not a device name such as /dev/sda1 or /dev/xvda",
            ctx.key("root_volume.device")
        )));
    }
    let kind = given.kind.unwrap_or_else(|| "gp3".into());
    ctx.check("root_volume.type", rules::one_of(&kind, ROOT_VOLUME_TYPES))?;
    if given.iops.is_some() && !matches!(kind.as_str(), "gp3" | "io1" | "io2") {
        return Err(ctx.fail(format!(
            "{} applies to gp3, io1 and io2 volumes, not {kind}",
            ctx.key("root_volume.iops")
        )));
    }
    if given.throughput.is_some() && kind != "gp3" {
        return Err(ctx.fail(format!(
            "{} applies to gp3 volumes only, not {kind}",
            ctx.key("root_volume.throughput")
        )));
    }
    if let Some(size) = given.size {
        if !(1..=16_384).contains(&size) {
            return Err(ctx.fail(format!(
                "{} {size} is outside 1 to 16384 GiB",
                ctx.key("root_volume.size")
            )));
        }
    }
    Ok(RootVolume {
        device,
        size: given.size,
        kind,
        iops: given.iops,
        throughput: given.throughput,
    })
}

/// The keys only a macOS stack takes.
const MAC_KEYS: &[&str] = &[
    "license_configuration_arn",
    "mac_host_families",
    "dedicated_hosts",
    "auto_allocate_hosts",
    "auto_release_hosts",
];

pub(super) fn mac(
    ctx: &Ctx<'_>,
    t: &StackTable,
    os: Os,
    types: &[String],
) -> Result<Option<Mac>, UsageError> {
    if os != Os::Macos {
        let set = [
            t.license_configuration_arn.is_some(),
            t.mac_host_families.is_some(),
            t.dedicated_hosts.is_some(),
            t.auto_allocate_hosts.is_some(),
            t.auto_release_hosts.is_some(),
        ];
        return match MAC_KEYS.iter().zip(set).find(|(_, set)| *set) {
            Some((key, _)) => Err(ctx.fail(format!(
                "{} is only for macos stacks (dedicated hosts), not {os}",
                ctx.key(key)
            ))),
            None => Ok(None),
        };
    }
    let license = ctx.required(
        "license_configuration_arn",
        &t.license_configuration_arn,
        "macOS runs on dedicated hosts, which the launch template takes through a License Manager license configuration (see the README's macOS section)",
    )?;
    ctx.check(
        "license_configuration_arn",
        rules::license_configuration_arn(&license),
    )?;
    let type_families: Vec<String> = types.iter().map(|it| family(it)).collect();
    let families = match &t.mac_host_families {
        Some(families) => families.clone(),
        None => {
            let mut unique = type_families.clone();
            unique.dedup();
            unique
        }
    };
    let known: Vec<String> = MAC_TYPES.iter().map(|(it, _)| family(it)).collect();
    let known: Vec<&str> = known.iter().map(String::as_str).collect();
    for f in &families {
        ctx.check("mac_host_families", rules::one_of(f, &known))?;
    }
    ctx.check("mac_host_families", rules::distinct(&families))?;
    if let Some((it, f)) = types
        .iter()
        .zip(&type_families)
        .find(|(_, f)| !families.contains(f))
    {
        return Err(ctx.fail(format!(
            "{} {it} needs host family {f}, which {} leaves out",
            ctx.key("instance_types"),
            ctx.key("mac_host_families")
        )));
    }
    let hosts = t.dedicated_hosts.clone().unwrap_or_default();
    for h in &hosts {
        ctx.check(
            "dedicated_hosts",
            rules::aws_id(h, "h-", "a dedicated host id"),
        )?;
    }
    Ok(Some(Mac {
        license_configuration_arn: license,
        families,
        dedicated_hosts: hosts,
        auto_allocate: t.auto_allocate_hosts.unwrap_or(true),
        auto_release: t.auto_release_hosts.unwrap_or(true),
    }))
}

/// A Mac type's host family: `mac2-m2.metal` → `mac2-m2`.
pub fn family(instance_type: &str) -> String {
    instance_type
        .strip_suffix(".metal")
        .unwrap_or(instance_type)
        .to_string()
}

fn mac_type_list() -> String {
    MAC_TYPES
        .iter()
        .map(|(t, _)| *t)
        .collect::<Vec<_>>()
        .join(", ")
}
