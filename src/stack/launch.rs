//! The launch template, named after the stack. A new image or setting is a new version of it:
//! new instances take it, running ones finish their job and give themselves back.
//!
//! What the reference stacks leave open is closed here: agent-aws-stack sets no metadata options
//! (IMDSv1 stays on) and elastic-ci-stack takes `HttpTokens` as a parameter that defaults to
//! optional, with a hop limit of 2 (renderedtext/agent-aws-stack@164b2cb:lib/aws-semaphore-agent-stack.js,
//! buildkite/elastic-ci-stack-for-aws@b4948d8:templates/aws-stack.yml `AgentLaunchTemplate`).

use serde::Serialize;

use super::ids;
use super::spec::{Security, StackSpec};
use super::tags::{self, Tag};
use super::template::{Expr, Resource};
use crate::exit::UsageError;

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct LaunchTemplate {
    launch_template_name: String,
    launch_template_data: Data,
    tag_specifications: Vec<TagSpecification>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct Data {
    image_id: Expr,
    instance_type: String,
    iam_instance_profile: Profile,
    metadata_options: MetadataOptions,
    instance_initiated_shutdown_behavior: &'static str,
    block_device_mappings: Vec<BlockDevice>,
    #[serde(skip_serializing_if = "Option::is_none")]
    key_name: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    security_group_ids: Vec<Expr>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    network_interfaces: Vec<NetworkInterface>,
    #[serde(skip_serializing_if = "Option::is_none")]
    placement: Option<Placement>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    license_specifications: Vec<License>,
    tag_specifications: Vec<TagSpecification>,
    user_data: Expr,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct Profile {
    arn: Expr,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct MetadataOptions {
    http_endpoint: &'static str,
    http_tokens: &'static str,
    http_put_response_hop_limit: u8,
    /// The bootstrap reads its group's name from the `aws:autoscaling:groupName` tag here.
    instance_metadata_tags: &'static str,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct BlockDevice {
    device_name: String,
    ebs: Ebs,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct Ebs {
    #[serde(skip_serializing_if = "Option::is_none")]
    volume_size: Option<u32>,
    volume_type: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    iops: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    throughput: Option<u32>,
    encrypted: bool,
    delete_on_termination: bool,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct NetworkInterface {
    device_index: u8,
    #[serde(skip_serializing_if = "Option::is_none")]
    associate_public_ip_address: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    ipv6_address_count: Option<u8>,
    groups: Vec<Expr>,
    delete_on_termination: bool,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct Placement {
    tenancy: &'static str,
    host_resource_group_arn: Expr,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct License {
    license_configuration_arn: String,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct TagSpecification {
    resource_type: &'static str,
    tags: Vec<Tag>,
}

/// Long by design: the launch template's properties in the order CloudFormation documents them.
pub fn launch_template(spec: &StackSpec) -> Result<Resource, UsageError> {
    let script = crate::userdata::render(spec.os, &crate::userdata::layer_bytes(&spec.boot))?;
    let groups = match &spec.security {
        Security::Own(ids) => ids.iter().map(|id| Expr::lit(id.as_str())).collect(),
        Security::Created { .. } => vec![Expr::get_att(ids::SECURITY_GROUP, "GroupId")],
    };
    // A public address or IPv6 needs the interface spelled out, and then the groups go on it.
    let (security_group_ids, network_interfaces) =
        if spec.instances.public_ip.is_some() || spec.instances.ipv6 {
            let nic = NetworkInterface {
                device_index: 0,
                associate_public_ip_address: spec.instances.public_ip,
                ipv6_address_count: spec.instances.ipv6.then_some(1),
                groups,
                delete_on_termination: true,
            };
            (Vec::new(), vec![nic])
        } else {
            (groups, Vec::new())
        };
    let instance_tags = tags::instance_list(spec);
    let root = &spec.instances.root;
    let data = Data {
        image_id: Expr::reference(ids::IMAGE_PARAMETER),
        instance_type: spec.instances.types[0].clone(),
        iam_instance_profile: Profile {
            arn: Expr::get_att(ids::INSTANCE_PROFILE, "Arn"),
        },
        metadata_options: MetadataOptions {
            http_endpoint: "enabled",
            http_tokens: "required",
            http_put_response_hop_limit: spec.instances.hop_limit,
            instance_metadata_tags: "enabled",
        },
        instance_initiated_shutdown_behavior: "terminate",
        block_device_mappings: vec![BlockDevice {
            device_name: root.device.clone(),
            ebs: Ebs {
                volume_size: root.size,
                volume_type: root.kind.clone(),
                iops: root.iops,
                throughput: root.throughput,
                encrypted: true,
                delete_on_termination: true,
            },
        }],
        key_name: spec.instances.key_name.clone(),
        security_group_ids,
        network_interfaces,
        placement: spec.mac.as_ref().map(|_| Placement {
            tenancy: "host",
            host_resource_group_arn: Expr::get_att(ids::HOST_RESOURCE_GROUP, "Arn"),
        }),
        license_specifications: spec
            .mac
            .iter()
            .map(|m| License {
                license_configuration_arn: m.license_configuration_arn.clone(),
            })
            .collect(),
        tag_specifications: ["instance", "volume", "network-interface"]
            .into_iter()
            .map(|resource_type| TagSpecification {
                resource_type,
                tags: instance_tags.clone(),
            })
            .collect(),
        user_data: Expr::Base64(script),
    };
    Ok(Resource::new(
        "AWS::EC2::LaunchTemplate",
        LaunchTemplate {
            launch_template_name: spec.name.clone(),
            launch_template_data: data,
            tag_specifications: vec![TagSpecification {
                resource_type: "launch-template",
                tags: tags::list(spec),
            }],
        },
    ))
}
