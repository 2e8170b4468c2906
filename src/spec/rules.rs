//! The rules between a variant's fields. Each violation is one line naming the flag (or the
//! imagekit.toml key) and what it allows.

use std::collections::BTreeMap;

use super::file::Image;
use super::file::Matrix;
use super::pins::{pin, AgentPin};
use super::DEFAULT_REGION;
use super::{AgentKind, Arch, Distro, HostPlacement, Options, Os, Variant};
use crate::exit::UsageError;

/// EC2 Mac instance types and the arch each one is.
pub const MAC_TYPES: &[(&str, Arch)] = &[
    ("mac1.metal", Arch::X86_64),
    ("mac2.metal", Arch::Arm64),
    ("mac2-m2.metal", Arch::Arm64),
    ("mac2-m2pro.metal", Arch::Arm64),
    ("mac2-m1ultra.metal", Arch::Arm64),
];

const MAC_TYPE_LIST: &str =
    "mac1.metal (x86_64), mac2.metal, mac2-m2.metal, mac2-m2pro.metal, mac2-m1ultra.metal (arm64)";

/// Where a draft came from, so errors name the flag or the file key the user wrote.
#[derive(Debug, Clone)]
pub enum Origin {
    Flags,
    File { path: String, index: usize },
}

/// A variant before its rules are checked.
#[derive(Debug, Clone)]
pub struct Draft {
    origin: Origin,
    os: Os,
    arch: Option<Arch>,
    distro: Option<Distro>,
    instance_type: Option<String>,
    regions: Vec<String>,
    agent: Option<AgentKind>,
    agent_version: Option<String>,
    /// `--agent` and `--agent-version` were given: they override every image of the file, so
    /// an error about them names the flag, not the image's key.
    agent_flags: (bool, bool),
    source_ami: Option<String>,
    host_resource_group_arn: Option<String>,
    host_id: Option<String>,
    skip_provisioning: bool,
    tags: BTreeMap<String, String>,
}

impl Draft {
    pub fn from_flags(
        os: Os,
        args: &Options,
        defaults: Option<&Matrix>,
        flag_tags: &BTreeMap<String, String>,
    ) -> Draft {
        let mut tags = defaults.map(|d| d.tags.clone()).unwrap_or_default();
        tags.extend(flag_tags.clone());
        Draft {
            origin: Origin::Flags,
            os,
            arch: args.arch,
            distro: args.distro,
            instance_type: args.instance_type.clone(),
            regions: if args.regions.is_empty() {
                defaults.and_then(|d| d.regions.clone()).unwrap_or_default()
            } else {
                args.regions.clone()
            },
            agent: args.agent.or_else(|| defaults.and_then(|d| d.agent)),
            agent_flags: (args.agent.is_some(), args.agent_version.is_some()),
            agent_version: args
                .agent_version
                .clone()
                .or_else(|| defaults.and_then(|d| d.default_version_for(args.agent))),
            source_ami: args.source_ami.clone(),
            host_resource_group_arn: args.host_resource_group_arn.clone(),
            host_id: args.host_id.clone(),
            skip_provisioning: args.skip_provisioning
                || defaults.and_then(|d| d.skip_provisioning).unwrap_or(false),
            tags,
        }
    }

    /// An image from the matrix; `--region`, `--agent`, `--agent-version`, `--skip-provisioning`
    /// and `--tag` override it.
    pub fn from_file(
        image: &Image,
        defaults: &Matrix,
        args: &Options,
        flag_tags: &BTreeMap<String, String>,
    ) -> Draft {
        let index = defaults
            .images
            .iter()
            .position(|i| std::ptr::eq(i, image))
            .unwrap_or(0);
        let mut tags = defaults.tags.clone();
        tags.extend(image.tags.clone());
        tags.extend(flag_tags.clone());
        let regions = if !args.regions.is_empty() {
            args.regions.clone()
        } else {
            image
                .regions
                .clone()
                .or_else(|| defaults.regions.clone())
                .unwrap_or_default()
        };
        Draft {
            origin: Origin::File {
                path: defaults.path.clone(),
                index: index + 1,
            },
            os: image.os,
            arch: image.arch,
            distro: image.distro,
            instance_type: image.instance_type.clone(),
            regions,
            agent: args.agent.or(image.agent).or(defaults.agent),
            agent_flags: (args.agent.is_some(), args.agent_version.is_some()),
            agent_version: args
                .agent_version
                .clone()
                .or_else(|| image.agent_version.clone())
                .or_else(|| defaults.default_version_for(args.agent.or(image.agent))),
            source_ami: image.source_ami.clone(),
            host_resource_group_arn: image.host_resource_group_arn.clone(),
            host_id: image.host_id.clone(),
            skip_provisioning: args.skip_provisioning
                || image
                    .skip_provisioning
                    .or(defaults.skip_provisioning)
                    .unwrap_or(false),
            tags,
        }
    }

    /// How to name `--agent` (`version` false) or `--agent-version` in an error: the flag when
    /// it was given, else as [`Draft::name`] does.
    fn agent_name(&self, version: bool) -> String {
        let (agent, agent_version) = self.agent_flags;
        match (version, agent, agent_version) {
            (false, true, _) => "--agent".into(),
            (true, _, true) => "--agent-version".into(),
            (false, ..) => self.name("agent"),
            (true, ..) => self.name("agent-version"),
        }
    }

    /// How to name a field in an error: the flag, or the file key with its image number.
    fn name(&self, flag: &str) -> String {
        match &self.origin {
            Origin::Flags => format!("--{flag}"),
            Origin::File { path, index } => {
                format!("{path} [[image]] #{index} {}", flag.replace('-', "_"))
            }
        }
    }
}

/// Flags that describe one image make no sense across a whole matrix.
pub fn refuse_per_image_flags_without_os(args: &Options) -> Result<(), UsageError> {
    let given = [
        ("--arch", args.arch.is_some()),
        ("--distro", args.distro.is_some()),
        ("--instance-type", args.instance_type.is_some()),
        ("--source-ami", args.source_ami.is_some()),
        (
            "--host-resource-group-arn",
            args.host_resource_group_arn.is_some(),
        ),
        ("--host-id", args.host_id.is_some()),
    ];
    match given.iter().find(|(_, set)| *set) {
        Some((flag, _)) => Err(UsageError::new(format!(
            "{flag} needs --os (linux|windows|macos): without it every image in imagekit.toml is used"
        ))),
        None => Ok(()),
    }
}

/// `KEY=VALUE` pairs from `--tag`.
pub fn parse_tags(raw: &[String]) -> Result<BTreeMap<String, String>, UsageError> {
    let mut tags = BTreeMap::new();
    for item in raw {
        let Some((key, value)) = item.split_once('=') else {
            return Err(UsageError::new(
                "--tag takes KEY=VALUE (e.g. --tag team=ci); the value given has no `=`",
            ));
        };
        tags.insert(key.to_string(), value.to_string());
    }
    Ok(tags)
}

/// Checks every rule and fills the defaults.
pub fn check(d: Draft) -> Result<Variant, UsageError> {
    check_os_only_flags(&d)?;
    let (arch, instance_type) = arch_and_type(&d)?;
    let regions = regions(&d)?;
    let agent = d.agent.unwrap_or_default();
    let pin = pin(agent);
    if let Some(why) = pin.refusal(d.os) {
        return Err(UsageError::new(format!(
            "{} {agent} is not available for {}: {why}",
            d.agent_name(false),
            d.os
        )));
    }
    let agent_version = agent_version(&d, pin)?;
    if let Some(ami) = &d.source_ami {
        if !is_ami_id(ami) {
            return Err(UsageError::new(format!(
                "{} {ami:?} is not an AMI id: expected ami- and 8 or 17 hex digits",
                d.name("source-ami")
            )));
        }
    }
    let host = host_placement(&d)?;
    for (key, value) in &d.tags {
        check_tag(&d, key, value)?;
    }
    Ok(Variant {
        os: d.os,
        arch,
        distro: match d.os {
            Os::Linux => Some(d.distro.unwrap_or(Distro::Ubuntu2404)),
            _ => None,
        },
        instance_type,
        regions,
        agent,
        agent_version,
        source_ami: d.source_ami.clone(),
        host,
        skip_provisioning: d.skip_provisioning,
        tags: d.tags.clone(),
    })
}

/// The agent release, the pin's when none is given: well formed, of the major release the
/// bootstrap drives, and one whose download the provisioning can check.
fn agent_version(d: &Draft, pin: &AgentPin) -> Result<String, UsageError> {
    let flag = d.agent_name(true);
    let kind = pin.kind;
    let version =
        normalize_agent_version(d.agent_version.as_deref().unwrap_or(pin.default_version))
            .ok_or_else(|| {
                UsageError::new(format!(
                    "{flag} {:?} is not an agent release: expected vMAJOR.MINOR.PATCH, e.g. {}",
                    d.agent_version.as_deref().unwrap_or_default(),
                    pin.default_version
                ))
            })?;
    if major_of(&version) != pin.major {
        return Err(UsageError::new(format!(
            "{flag} {version} is not a {kind} v{} release, the only one the bootstrap drives: use e.g. {}",
            pin.major, pin.default_version
        )));
    }
    if kind == AgentKind::Semaphore
        && !imagekit_bootstrap::agent::semaphore_version_supported(&version)
    {
        let (major, minor, patch) = imagekit_bootstrap::agent::SEMAPHORE_MIN_VERSION;
        return Err(UsageError::new(format!(
            "{flag} {version} is too old: the bootstrap configures the agent's pre-job hook, sourced into the job's shell, which agents before v{major}.{minor}.{patch} do not have; use v{major}.{minor}.{patch} or later"
        )));
    }
    let carried = pin.digest_versions();
    if !pin.digests.is_empty() && !carried.contains(&version.as_str()) {
        return Err(UsageError::new(format!(
            "{flag} {version}: its release has no checksums file to check the download against, and imagekit carries {kind}'s published sha256s for {} only; use {}",
            carried.join(", "),
            pin.default_version
        )));
    }
    Ok(version)
}

/// The MAJOR of a normalized `vMAJOR.MINOR.PATCH`.
fn major_of(version: &str) -> u64 {
    version
        .trim_start_matches('v')
        .split('.')
        .next()
        .and_then(|m| m.parse().ok())
        .unwrap_or(0)
}

/// `--distro` is Linux's, the host placement macOS's, and the two placements exclude each other.
fn check_os_only_flags(d: &Draft) -> Result<(), UsageError> {
    if d.os != Os::Linux && d.distro.is_some() {
        return Err(UsageError::new(format!(
            "{} is only for linux (ubuntu-22.04|ubuntu-24.04|al2023), not {}",
            d.name("distro"),
            d.os
        )));
    }
    if d.os != Os::Macos && (d.host_resource_group_arn.is_some() || d.host_id.is_some()) {
        let flag = if d.host_id.is_some() {
            "host-id"
        } else {
            "host-resource-group-arn"
        };
        return Err(UsageError::new(format!(
            "{} is only for macos (dedicated hosts), not {}",
            d.name(flag),
            d.os
        )));
    }
    if d.host_resource_group_arn.is_some() && d.host_id.is_some() {
        return Err(UsageError::new(format!(
            "{} and {} exclude each other: give one",
            d.name("host-resource-group-arn"),
            d.name("host-id")
        )));
    }
    Ok(())
}

/// The arch and instance type, defaults filled, and each matching the other and the OS.
fn arch_and_type(d: &Draft) -> Result<(Arch, String), UsageError> {
    match d.os {
        Os::Macos => mac_arch_and_type(d),
        Os::Windows => {
            if d.arch == Some(Arch::Arm64) {
                return Err(UsageError::new(format!(
                    "{} arm64 is not available for windows: allowed values: x86_64",
                    d.name("arch")
                )));
            }
            let it = d.instance_type.clone().unwrap_or_else(|| "t3.large".into());
            check_instance_type(d, &it, Arch::X86_64)?;
            Ok((Arch::X86_64, it))
        }
        Os::Linux => {
            let arch = d.arch.unwrap_or(Arch::X86_64);
            let default = match arch {
                Arch::X86_64 => "t3.small",
                Arch::Arm64 => "t4g.small",
            };
            let it = d.instance_type.clone().unwrap_or_else(|| default.into());
            check_instance_type(d, &it, arch)?;
            Ok((arch, it))
        }
    }
}

/// The regions (the default one when none is given), each well formed and given once.
fn regions(d: &Draft) -> Result<Vec<String>, UsageError> {
    let regions = if d.regions.is_empty() {
        vec![DEFAULT_REGION.to_string()]
    } else {
        d.regions.clone()
    };
    for (i, region) in regions.iter().enumerate() {
        if let Err(e) = imagekit_core::region::check(region) {
            return Err(UsageError::new(format!("{}: {e}", d.name("region"))));
        }
        if regions[..i].contains(region) {
            return Err(UsageError::new(format!(
                "{} {region} is given twice: each region once",
                d.name("region")
            )));
        }
    }
    Ok(regions)
}

/// The macOS dedicated-host placement, when one is given, checked for its form.
fn host_placement(d: &Draft) -> Result<Option<HostPlacement>, UsageError> {
    match (&d.host_resource_group_arn, &d.host_id) {
        (Some(arn), _) => {
            let charset = arn
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, ':' | '/' | '-' | '_' | '.'));
            if !(charset && arn.starts_with("arn:aws") && arn.contains(":resource-groups:")) {
                return Err(UsageError::new(format!(
                    "{} {arn:?} is not a resource group ARN: expected arn:aws:resource-groups:REGION:ACCOUNT:group/NAME",
                    d.name("host-resource-group-arn")
                )));
            }
            Ok(Some(HostPlacement::ResourceGroup(arn.clone())))
        }
        (None, Some(id)) => {
            if !is_prefixed_hex(id, "h-") {
                return Err(UsageError::new(format!(
                    "{} {id:?} is not a host id: expected h- and 17 hex digits",
                    d.name("host-id")
                )));
            }
            Ok(Some(HostPlacement::HostId(id.clone())))
        }
        (None, None) => Ok(None),
    }
}

fn mac_arch_and_type(d: &Draft) -> Result<(Arch, String), UsageError> {
    match (&d.instance_type, d.arch) {
        (Some(it), arch) => {
            let Some((_, type_arch)) = MAC_TYPES.iter().find(|(t, _)| t == it) else {
                return Err(UsageError::new(format!(
                    "{} {it:?} is not an EC2 Mac type: allowed values: {MAC_TYPE_LIST}",
                    d.name("instance-type")
                )));
            };
            if let Some(arch) = arch {
                if arch != *type_arch {
                    return Err(UsageError::new(format!(
                        "{} {arch} does not match {} {it}, which is {type_arch}",
                        d.name("arch"),
                        d.name("instance-type")
                    )));
                }
            }
            Ok((*type_arch, it.clone()))
        }
        (None, arch) => {
            let arch = arch.unwrap_or(Arch::Arm64);
            let it = match arch {
                Arch::X86_64 => "mac1.metal",
                Arch::Arm64 => "mac2.metal",
            };
            Ok((arch, it.to_string()))
        }
    }
}

/// `family.size`, and the family's arch matches.
fn check_instance_type(d: &Draft, it: &str, arch: Arch) -> Result<(), UsageError> {
    let (type_arch, mac) = instance_type_arch(it)
        .map_err(|why| UsageError::new(format!("{} {why}", d.name("instance-type"))))?;
    if mac {
        return Err(UsageError::new(format!(
            "{} {it} is an EC2 Mac type: use --os macos",
            d.name("instance-type")
        )));
    }
    if type_arch != arch {
        return Err(UsageError::new(format!(
            "{} {it} is {type_arch} but the image is {arch} ({}): use {}",
            d.name("instance-type"),
            d.name("arch"),
            arch_example(arch)
        )));
    }
    Ok(())
}

/// Instance types to suggest for an arch, in errors.
pub fn arch_example(arch: Arch) -> &'static str {
    match arch {
        Arch::X86_64 => "an x86_64 type such as t3.small, m7i.large",
        Arch::Arm64 => "a Graviton type such as t4g.small, m7g.large",
    }
}

/// What an instance type runs: its arch, and whether it is an EC2 Mac type. The error says what
/// is wrong with its form. Graviton families carry a `g` after the generation digit (t4g, m7g,
/// c6gn, r8gd) and `a1` is arm64; Mac types are listed in [`MAC_TYPES`].
pub fn instance_type_arch(it: &str) -> Result<(Arch, bool), String> {
    if let Some((_, arch)) = MAC_TYPES.iter().find(|(t, _)| *t == it) {
        return Ok((*arch, true));
    }
    let well_formed = it.split_once('.').is_some_and(|(family, size)| {
        !family.is_empty()
            && !size.is_empty()
            && family.starts_with(|c: char| c.is_ascii_lowercase())
            && family
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
            && size
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
    });
    if !well_formed {
        return Err(format!(
            "{it:?} is not an instance type: expected FAMILY.SIZE, e.g. t3.small"
        ));
    }
    let family = it.split_once('.').unwrap().0;
    if family.starts_with("mac") {
        return Err(format!(
            "{it:?} is not an EC2 Mac type: allowed values: {MAC_TYPE_LIST}"
        ));
    }
    Ok((instance_family_arch(family), false))
}

fn instance_family_arch(family: &str) -> Arch {
    if family == "a1" {
        return Arch::Arm64;
    }
    let suffix = family.trim_start_matches(|c: char| c.is_ascii_lowercase());
    let suffix = suffix.trim_start_matches(|c: char| c.is_ascii_digit());
    if suffix.contains('g') {
        Arch::Arm64
    } else {
        Arch::X86_64
    }
}

/// An AWS resource id: `prefix` and 8 or 17 lowercase hex digits (ami-, h-, vpc-, subnet-, sg-).
pub fn is_prefixed_hex(s: &str, prefix: &str) -> bool {
    s.strip_prefix(prefix).is_some_and(|hex| {
        (hex.len() == 8 || hex.len() == 17)
            && hex
                .chars()
                .all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c))
    })
}

fn is_ami_id(s: &str) -> bool {
    is_prefixed_hex(s, "ami-")
}

/// `2.2.23` or `v2.2.23` → `v2.2.23` (the release tag).
fn normalize_agent_version(s: &str) -> Option<String> {
    let bare = s.strip_prefix('v').unwrap_or(s);
    let parts: Vec<&str> = bare.split('.').collect();
    (parts.len() == 3
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.len() <= 6 && p.chars().all(|c| c.is_ascii_digit())))
    .then(|| format!("v{bare}"))
}

/// AWS tag limits, plus Packer's template syntax: Packer expands `{{ }}` even inside variable
/// values, so a value holding `{{` would not arrive as written. It is refused rather than escaped,
/// because which fields Packer interpolates varies by version.
fn check_tag(d: &Draft, key: &str, value: &str) -> Result<(), UsageError> {
    let flag = d.name("tag");
    if let Some(why) = tag_problem(key, value) {
        return Err(UsageError::new(format!("{flag}{why}")));
    }
    if key.contains("{{") || value.contains("{{") {
        return Err(UsageError::new(format!(
            "{flag} {}: `{{{{` is Packer template syntax, which Packer would expand; remove it",
            key.escape_debug()
        )));
    }
    Ok(())
}

/// What is wrong with a tag under AWS's limits and imagekit's reserved prefixes, as the tail of
/// an error line that starts with the flag or key naming the tag.
pub fn tag_problem(key: &str, value: &str) -> Option<String> {
    if key.is_empty() || key.chars().count() > 128 {
        return Some(": a tag key must be 1 to 128 characters".into());
    }
    if value.chars().count() > 256 {
        return Some(format!(
            " {key}: a tag value must be at most 256 characters"
        ));
    }
    if key.starts_with("imagekit:") || key.starts_with("aws:") {
        return Some(format!(
            " {key}: keys starting with imagekit: or aws: are reserved"
        ));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instance_family_arches() {
        for arm in ["t4g", "m7g", "c6gn", "r8gd", "a1", "g5g"] {
            assert_eq!(instance_family_arch(arm), Arch::Arm64, "{arm}");
        }
        for x86 in ["t3", "m7i", "c6in", "g5", "g4dn", "p4de", "t2"] {
            assert_eq!(instance_family_arch(x86), Arch::X86_64, "{x86}");
        }
    }

    #[test]
    fn agent_versions() {
        assert_eq!(normalize_agent_version("2.2.23").unwrap(), "v2.2.23");
        assert_eq!(normalize_agent_version("v2.4.0").unwrap(), "v2.4.0");
        assert!(normalize_agent_version("latest").is_none());
        assert!(normalize_agent_version("v2.2").is_none());
        assert!(normalize_agent_version("v2.2.2;rm").is_none());
    }
}
