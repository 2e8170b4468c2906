//! macOS: EC2 Mac instances run only on dedicated hosts. A host resource group lets License
//! Manager allocate and release them for the group (the launch template places instances in it
//! and names the license configuration), as agent-aws-stack's `hostResourceGroup` does
//! (renderedtext/agent-aws-stack@164b2cb:lib/aws-semaphore-agent-stack.js). Its deletion
//! protection keeps a group that still holds hosts.

use serde::Serialize;

use super::spec::{Mac, StackSpec};
use super::tags::{self, Tag};
use super::template::{Expr, Resource};
use crate::iam::scope::{STACK_ACCOUNT, STACK_PARTITION, STACK_REGION};

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct Group {
    name: String,
    description: String,
    configuration: Vec<Item>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    resources: Vec<Expr>,
    tags: Vec<Tag>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct Item {
    #[serde(rename = "Type")]
    kind: &'static str,
    parameters: Vec<Parameter>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct Parameter {
    name: &'static str,
    values: Vec<String>,
}

fn parameter(name: &'static str, values: Vec<String>) -> Parameter {
    Parameter { name, values }
}

pub fn host_resource_group(spec: &StackSpec, mac: &Mac) -> Resource {
    let hosts = Item {
        kind: "AWS::EC2::HostManagement",
        parameters: vec![
            parameter(
                "allowed-host-based-license-configurations",
                vec![mac.license_configuration_arn.clone()],
            ),
            parameter("allowed-host-families", mac.families.clone()),
            parameter("auto-allocate-host", vec![mac.auto_allocate.to_string()]),
            parameter("auto-release-host", vec![mac.auto_release.to_string()]),
        ],
    };
    let generic = Item {
        kind: "AWS::ResourceGroups::Generic",
        parameters: vec![
            parameter("allowed-resource-types", vec!["AWS::EC2::Host".into()]),
            parameter("deletion-protection", vec!["UNLESS_EMPTY".into()]),
        ],
    };
    Resource::new(
        "AWS::ResourceGroups::Group",
        Group {
            name: spec.name.clone(),
            // Its schema allows letters, digits, spaces and `_ . -` only.
            description: format!("imagekit fleet {} dedicated Mac hosts", spec.name),
            configuration: vec![hosts, generic],
            resources: mac
                .dedicated_hosts
                .iter()
                .map(|h| {
                    Expr::text(format!(
                        "arn:{STACK_PARTITION}:ec2:{STACK_REGION}:{STACK_ACCOUNT}:dedicated-host/{h}"
                    ))
                })
                .collect(),
            tags: tags::list(spec),
        },
    )
}
