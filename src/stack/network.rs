//! The instances' security group: all egress, no ingress, except SSH from one named network
//! when a key pair is set too. agent-aws-stack opens SSH to 0.0.0.0/0 whenever a key pair is set
//! (`shouldAllowSSHIngress`, renderedtext/agent-aws-stack@164b2cb:lib/argument-store.js), and
//! elastic-ci-stack's `SecurityGroupSshIngress` does the same
//! (buildkite/elastic-ci-stack-for-aws@b4948d8:templates/aws-stack.yml); neither happens here.

use serde::Serialize;

use super::spec::{Security, StackSpec};
use super::tags::{self, Tag};
use super::template::Resource;

/// Create-only in CloudFormation: a changed description would replace the group, so it is fixed.
const DESCRIPTION: &str = "imagekit fleet instances: all egress, SSH only from a named network";

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct SecurityGroup {
    group_description: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    vpc_id: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    security_group_egress: Vec<Rule>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    security_group_ingress: Vec<Rule>,
    tags: Vec<Tag>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct Rule {
    ip_protocol: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    from_port: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    to_port: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    cidr_ip: Option<String>,
    #[serde(rename = "CidrIpv6", skip_serializing_if = "Option::is_none")]
    cidr_ipv6: Option<String>,
    description: &'static str,
}

/// The created group, or `None` when the stack uses the user's own.
pub fn security_group(spec: &StackSpec) -> Option<Resource> {
    let Security::Created { vpc_id, ssh_cidr } = &spec.security else {
        return None;
    };
    // Without egress rules a group allows all outbound IPv4 (and rules need a VpcId); IPv6 is
    // added beside it, which replaces that default, so both are spelled out.
    let egress = if spec.instances.ipv6 {
        vec![
            Rule {
                ip_protocol: "-1",
                from_port: None,
                to_port: None,
                cidr_ip: Some("0.0.0.0/0".into()),
                cidr_ipv6: None,
                description: "all outbound IPv4",
            },
            Rule {
                ip_protocol: "-1",
                from_port: None,
                to_port: None,
                cidr_ip: None,
                cidr_ipv6: Some("::/0".into()),
                description: "all outbound IPv6",
            },
        ]
    } else {
        Vec::new()
    };
    let ingress = ssh_cidr
        .iter()
        .filter(|_| spec.instances.key_name.is_some())
        .map(|cidr| {
            let v6 = cidr.contains(':');
            Rule {
                ip_protocol: "tcp",
                from_port: Some(22),
                to_port: Some(22),
                cidr_ip: (!v6).then(|| cidr.clone()),
                cidr_ipv6: v6.then(|| cidr.clone()),
                description: "SSH with the stack's key pair, from the named network only",
            }
        })
        .collect();
    Some(Resource::new(
        "AWS::EC2::SecurityGroup",
        SecurityGroup {
            group_description: DESCRIPTION,
            vpc_id: vpc_id.clone(),
            security_group_egress: egress,
            security_group_ingress: ingress,
            tags: tags::list(spec),
        },
    ))
}
