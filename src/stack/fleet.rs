//! The whole fleet of one stack as one template: every resource family, the parameters only
//! deploy can fill, and the outputs deploy and `stack list` read.
//!
//! Every choice the stack's settings decide is made here, in Rust: the template has no
//! `Conditions`, so what is rendered is what is deployed.

use std::collections::BTreeMap;

use serde_json::json;

use super::spec::StackSpec;
use super::template::{Expr, Output, Parameter, Resource, Template, FORMAT_VERSION};
use super::{cache, group, iam, ids, launch, logs, mac, network, scaler};
use crate::exit::UsageError;
use crate::stack::file::ImageRef;

pub fn template(spec: &StackSpec) -> Result<Template, UsageError> {
    let mut resources: BTreeMap<String, Resource> = BTreeMap::new();
    resources.insert(ids::INSTANCE_ROLE.into(), iam::instance_role(spec)?);
    resources.insert(ids::INSTANCE_PROFILE.into(), iam::instance_profile());
    if let Some(sg) = network::security_group(spec) {
        resources.insert(ids::SECURITY_GROUP.into(), sg);
    }
    resources.insert(ids::LAUNCH_TEMPLATE.into(), launch::launch_template(spec)?);
    resources.insert(ids::GROUP.into(), group::auto_scaling_group(spec));
    resources.extend(logs::instance_log_groups(spec));
    resources.extend(cache::resources(spec));
    if let Some(m) = &spec.mac {
        resources.insert(
            ids::HOST_RESOURCE_GROUP.into(),
            mac::host_resource_group(spec, m),
        );
    }
    if let Some(s) = &spec.scaler {
        resources.insert(ids::SCALER_ROLE.into(), iam::scaler_role(spec, s)?);
        resources.extend(scaler::resources(spec, s));
    }
    Ok(Template {
        format_version: FORMAT_VERSION,
        description: format!(
            "imagekit fleet {}: {} agents on {} {}, rendered by imagekit stack render",
            spec.name,
            spec.agent.name(),
            spec.os,
            spec.instances.arch
        ),
        metadata: json!({
            "imagekit": {
                "stack": spec.name,
                "agent": spec.agent.name(),
                "os": spec.os.as_str(),
                "arch": spec.instances.arch.as_str(),
                "scaler": spec.scaler.is_some(),
            }
        }),
        parameters: parameters(spec),
        resources,
        outputs: outputs(spec),
    })
}

/// Only what deploy alone knows: the image (resolved in the stack's region) and where it
/// uploaded the scaler's code.
fn parameters(spec: &StackSpec) -> BTreeMap<String, Parameter> {
    let mut parameters = BTreeMap::new();
    parameters.insert(
        ids::IMAGE_PARAMETER.into(),
        Parameter {
            kind: "AWS::EC2::Image::Id",
            description: "The agent image (AMI) in the stack's region",
            default: match &spec.image {
                Some(ImageRef::Ami(ami)) => Some(ami.clone()),
                _ => None,
            },
            allowed_pattern: None,
        },
    );
    if spec.scaler.is_some() {
        parameters.insert(
            ids::SCALER_CODE_BUCKET.into(),
            Parameter {
                kind: "String",
                description:
                    "The bucket holding the scaler's zip (imagekit stack deploy uploads it)",
                default: None,
                allowed_pattern: Some("^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$"),
            },
        );
        parameters.insert(
            ids::SCALER_CODE_KEY.into(),
            Parameter {
                kind: "String",
                description: "The scaler's zip in that bucket (named by its sha256)",
                default: None,
                allowed_pattern: Some("^[A-Za-z0-9!_.*'()/-]+$"),
            },
        );
    }
    parameters
}

fn outputs(spec: &StackSpec) -> BTreeMap<String, Output> {
    let mut outputs = BTreeMap::new();
    let mut add = |name: &str, description: &'static str, value: Expr| {
        outputs.insert(name.to_string(), Output { description, value });
    };
    add(
        "AutoScalingGroupName",
        "The fleet's Auto Scaling group",
        Expr::reference(ids::GROUP),
    );
    add(
        "LaunchTemplateId",
        "The instances' launch template",
        Expr::reference(ids::LAUNCH_TEMPLATE),
    );
    add(
        "InstanceRoleArn",
        "The instances' role",
        Expr::get_att(ids::INSTANCE_ROLE, "Arn"),
    );
    add(
        "InstanceProfileArn",
        "The instances' profile",
        Expr::get_att(ids::INSTANCE_PROFILE, "Arn"),
    );
    if spec.scaler.is_some() {
        add(
            "ScalerFunctionArn",
            "The scaler's Lambda function",
            Expr::get_att(ids::SCALER_FUNCTION, "Arn"),
        );
    }
    if spec.cache.as_ref().is_some_and(|c| c.created.is_some()) {
        add(
            "CacheBucketName",
            "The job cache's bucket (kept when the stack is deleted)",
            Expr::reference(ids::CACHE_BUCKET),
        );
    }
    outputs
}
