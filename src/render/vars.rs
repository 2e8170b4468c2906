//! The values Packer reads: `imagekit.auto.pkrvars.json` ([`PackerVars`], written by render)
//! and `imagekit build`'s own var file ([`RuntimeVars`]). serde_json does all the escaping; no
//! value is ever written into HCL text. `variables.pkr.hcl` is derived from these two types
//! (see [`super::variables`]): each field's doc comment is its Packer `description`.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::Serialize;

use crate::ami;
use crate::spec::pins::{pin, CLOUDWATCH_AGENT};
use crate::spec::{Arch, Distro, HostPlacement, Os, Variant};

/// One variant's values, in the var file Packer loads from the build directory by itself.
#[derive(Debug, Clone, Serialize, JsonSchema)]
pub struct PackerVars {
    /// The AMI's name: imagekit-<os>-<release>-<arch>-<first 12 hex of the fingerprint>.
    pub ami_name: String,
    /// The AMI's description.
    pub ami_description: String,
    /// The sha256 over everything that decides the image's bytes.
    pub fingerprint: String,
    /// The region the build instance runs in.
    pub region: String,
    /// The regions the AMI is copied to after the build.
    pub ami_regions: Vec<String>,
    /// The build instance's type.
    pub instance_type: String,
    /// The base AMI's ID; empty to find it with source_ami_filters and source_ami_owners.
    pub source_ami: String,
    /// The accounts whose AMIs the base-image filter considers.
    pub source_ami_owners: Vec<String>,
    /// The filters that find the newest base AMI.
    pub source_ami_filters: BTreeMap<String, String>,
    /// The user Packer connects as.
    pub communicator_username: String,
    /// How long Packer waits for SSH or WinRM to come up (a Mac boots slowly).
    pub communicator_timeout: String,
    /// The root volume's size in GiB.
    pub volume_size: u32,
    /// The base AMI's root device.
    pub root_device_name: String,
    /// The CI agent release the image installs.
    pub agent_version: String,
    /// The Semaphore toolbox release the image installs for the agent user.
    pub toolbox_version: String,
    /// The CloudWatch agent release the image installs (Amazon's S3 path component).
    pub cloudwatch_agent_version: String,
    /// Who must have signed the CloudWatch agent's package, as the OS's check reports it: the
    /// GPG primary-key fingerprint (Linux), the Apple team ID (macOS) or the Authenticode
    /// subject (Windows).
    pub cloudwatch_agent_signer: String,
    /// The bootstrap binary's sha256, which the provisioner re-checks on the builder before
    /// installing it; empty without a binary.
    pub bootstrap_sha256: String,
    /// The provisioning scripts, relative to the build directory, in the order they run.
    pub scripts: Vec<String>,
    /// The host resource group (License Manager) a Mac build is placed in; empty for none.
    pub host_resource_group_arn: String,
    /// The dedicated host a Mac build is placed on; empty for none.
    pub host_id: String,
    /// Tags for the AMI, its snapshots and the build instance.
    pub tags: BTreeMap<String, String>,
}

/// Set by `imagekit build` through a var file of its own, outside the rendered directory, so they
/// never reach the fingerprint. The defaults are what `packer build .` alone gets.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
pub struct RuntimeVars {
    /// A custom EC2 endpoint (imagekit build: AWS_ENDPOINT_URL_EC2 or AWS_ENDPOINT_URL); empty
    /// for AWS's own.
    pub ec2_endpoint: String,
    /// The address Packer connects to; empty for the build instance's own.
    pub ssh_host: String,
    /// The port Packer connects to; 22 means each communicator's own (WinRM: 5986).
    pub ssh_port: u16,
    /// Replace an AMI of the same name and its snapshots (imagekit build --force).
    pub force_deregister: bool,
}

impl Default for RuntimeVars {
    fn default() -> Self {
        RuntimeVars {
            ec2_endpoint: String::new(),
            ssh_host: String::new(),
            ssh_port: 22,
            force_deregister: false,
        }
    }
}

/// Placement and identity: where the image goes and what it is called, not what is in it.
pub const NOT_FINGERPRINTED: &[&str] = &[
    "ami_name",
    "ami_description",
    "fingerprint",
    "region",
    "ami_regions",
    "host_resource_group_arn",
    "host_id",
    // The raw sha256 covers the bootstrap's git-commit slot; the fingerprint already holds the
    // binary's digest without it (see fingerprint::bootstrap_digest).
    "bootstrap_sha256",
];

pub const CANONICAL: &str = "099720109477";

impl PackerVars {
    pub fn new(v: &Variant, scripts: Vec<String>) -> PackerVars {
        let (owners, filters) = source_ami_filter(v);
        let (rg, host) = match &v.host {
            Some(HostPlacement::ResourceGroup(arn)) => (arn.clone(), String::new()),
            Some(HostPlacement::HostId(id)) => (String::new(), id.clone()),
            None => (String::new(), String::new()),
        };
        let mut tags = v.tags.clone();
        let distro = match v.os {
            Os::Linux => v.release().to_string(),
            os => format!("{os}-{}", v.release()),
        };
        for (k, val) in [
            (ami::TAG_OS, v.os.to_string()),
            (ami::TAG_ARCH, v.arch.to_string()),
            (ami::TAG_DISTRO, distro),
            (ami::TAG_AGENT, v.agent.to_string()),
            (ami::TAG_AGENT_VERSION, v.agent_version.clone()),
            (
                ami::TAG_CLOUDWATCH_AGENT_VERSION,
                CLOUDWATCH_AGENT.version.to_string(),
            ),
            ("imagekit:version", env!("CARGO_PKG_VERSION").to_string()),
            (
                "imagekit:skip-provisioning",
                v.skip_provisioning.to_string(),
            ),
        ] {
            tags.insert(k.to_string(), val);
        }
        PackerVars {
            ami_name: String::new(),
            ami_description: String::new(),
            fingerprint: String::new(),
            region: v.build_region().to_string(),
            ami_regions: v.copy_regions().to_vec(),
            instance_type: v.instance_type.clone(),
            source_ami: v.source_ami.clone().unwrap_or_default(),
            source_ami_owners: owners,
            source_ami_filters: filters,
            communicator_username: match (v.os, v.distro) {
                (Os::Linux, Some(Distro::Al2023)) => "ec2-user",
                (Os::Linux, _) => "ubuntu",
                (Os::Windows, _) => "Administrator",
                (Os::Macos, _) => "ec2-user",
            }
            .to_string(),
            communicator_timeout: match v.os {
                Os::Linux => "15m",
                Os::Windows => "30m",
                Os::Macos => "2h",
            }
            .to_string(),
            volume_size: match v.os {
                Os::Linux => 30,
                Os::Windows => 60,
                Os::Macos => 200,
            },
            root_device_name: Distro::root_device_name(v.distro).to_string(),
            agent_version: v.agent_version.clone(),
            toolbox_version: pin(v.agent).toolbox_version.unwrap_or_default().to_string(),
            cloudwatch_agent_version: CLOUDWATCH_AGENT.version.to_string(),
            cloudwatch_agent_signer: CLOUDWATCH_AGENT.signer(v.os).to_string(),
            bootstrap_sha256: String::new(),
            scripts,
            host_resource_group_arn: rg,
            host_id: host,
            tags,
        }
    }

    /// Names the image after its fingerprint, so identical inputs give the identical name. A
    /// Buildkite or CircleCI image carries its kind before the arch, as its variant id does.
    pub fn seal(&mut self, v: &Variant, fingerprint: &str) {
        self.fingerprint = fingerprint.to_string();
        self.ami_name = format!(
            "imagekit-{}-{}-{}{}-{}",
            v.os,
            v.release(),
            v.kind_infix(),
            v.arch,
            &fingerprint[..12]
        );
        self.ami_description = format!(
            "imagekit {} {} {} with {} {}",
            v.os,
            v.release(),
            v.arch,
            pin(v.agent).display,
            v.agent_version
        );
        self.tags
            .insert(ami::TAG_FINGERPRINT.into(), fingerprint.to_string());
        self.tags.insert("Name".into(), self.ami_name.clone());
    }

    /// The variables that decide the image's bytes, as canonical JSON.
    pub fn fingerprinted_json(&self) -> String {
        let mut value = serde_json::to_value(self).expect("vars serialize");
        let map = value.as_object_mut().expect("vars are an object");
        for key in NOT_FINGERPRINTED {
            map.remove(*key);
        }
        if let Some(tags) = map.get_mut("tags").and_then(|t| t.as_object_mut()) {
            tags.remove(ami::TAG_FINGERPRINT);
            tags.remove("Name");
        }
        canonical(&value)
    }
}

/// JSON with object keys sorted, whatever serde_json's map flavour is.
fn canonical(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            let items: Vec<String> = keys
                .into_iter()
                .map(|k| {
                    format!(
                        "{}:{}",
                        serde_json::to_string(k).unwrap(),
                        canonical(&map[k])
                    )
                })
                .collect();
            format!("{{{}}}", items.join(","))
        }
        serde_json::Value::Array(items) => {
            let items: Vec<String> = items.iter().map(canonical).collect();
            format!("[{}]", items.join(","))
        }
        other => other.to_string(),
    }
}

/// Owners and `source_ami_filter` filters for the variant's base image.
fn source_ami_filter(v: &Variant) -> (Vec<String>, BTreeMap<String, String>) {
    let mut filters = BTreeMap::new();
    let owners;
    let (name, architecture) = match v.os {
        Os::Linux => {
            let deb_arch = match v.arch {
                Arch::X86_64 => "amd64",
                Arch::Arm64 => "arm64",
            };
            match v.distro.unwrap_or(Distro::Ubuntu2404) {
                Distro::Ubuntu2404 => {
                    owners = vec![CANONICAL.to_string()];
                    (
                        format!("ubuntu/images/hvm-ssd-gp3/ubuntu-noble-24.04-{deb_arch}-server-*"),
                        v.arch.to_string(),
                    )
                }
                Distro::Ubuntu2204 => {
                    owners = vec![CANONICAL.to_string()];
                    (
                        format!("ubuntu/images/hvm-ssd/ubuntu-jammy-22.04-{deb_arch}-server-*"),
                        v.arch.to_string(),
                    )
                }
                Distro::Al2023 => {
                    owners = vec!["amazon".to_string()];
                    (
                        format!("al2023-ami-2023.*-kernel-*-{}", v.arch),
                        v.arch.to_string(),
                    )
                }
            }
        }
        Os::Windows => {
            owners = vec!["amazon".to_string()];
            (
                "Windows_Server-2022-English-Full-Base-*".to_string(),
                "x86_64".to_string(),
            )
        }
        Os::Macos => {
            owners = vec!["amazon".to_string()];
            match v.arch {
                Arch::Arm64 => (
                    format!("amzn-ec2-macos-{}.*-arm64", crate::spec::MACOS_VERSION),
                    "arm64_mac".to_string(),
                ),
                Arch::X86_64 => (
                    format!("amzn-ec2-macos-{}.*", crate::spec::MACOS_VERSION),
                    "x86_64_mac".to_string(),
                ),
            }
        }
    };
    filters.insert("name".into(), name);
    filters.insert("architecture".into(), architecture);
    filters.insert("root-device-type".into(), "ebs".into());
    filters.insert("virtualization-type".into(), "hvm".into());
    (owners, filters)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::spec::AgentKind;

    fn variant(os: Os) -> Variant {
        Variant {
            os,
            arch: Arch::X86_64,
            distro: None,
            instance_type: "t3.small".into(),
            regions: vec!["us-east-1".into()],
            agent: AgentKind::Semaphore,
            agent_version: "v2.2.23".into(),
            source_ami: None,
            host: None,
            skip_provisioning: false,
            tags: BTreeMap::new(),
        }
    }

    /// The CloudWatch agent's pin is in the fingerprinted variables: another release or another
    /// signer is another image.
    #[test]
    fn the_cloudwatch_agent_pin_is_fingerprinted() {
        for os in Os::ALL {
            let vars = PackerVars::new(&variant(os), vec![]);
            assert_eq!(vars.cloudwatch_agent_version, CLOUDWATCH_AGENT.version);
            assert_eq!(vars.cloudwatch_agent_signer, CLOUDWATCH_AGENT.signer(os));
            assert_eq!(
                vars.tags["imagekit:cloudwatch-agent-version"],
                CLOUDWATCH_AGENT.version
            );
            let mut other = vars.clone();
            other.cloudwatch_agent_version = "1.300071.0b1745".into();
            assert_ne!(vars.fingerprinted_json(), other.fingerprinted_json());
            let mut other = vars.clone();
            other.cloudwatch_agent_signer = "0".repeat(40);
            assert_ne!(vars.fingerprinted_json(), other.fingerprinted_json());
        }
    }
}
