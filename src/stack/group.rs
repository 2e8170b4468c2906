//! The Auto Scaling group, named after the stack.
//!
//! - No `DesiredCapacity`: CloudFormation would reset the scaler's value on every update
//!   (agent-aws-stack leaves it unset for that reason, renderedtext/agent-aws-stack@164b2cb:lib/aws-semaphore-agent-stack.js).
//! - New instances are protected from scale-in: the group never picks a busy instance to end;
//!   instances leave by themselves, through the bootstrap's give-back.
//! - No `UpdatePolicy`: elastic-ci-stack's `AutoScalingReplacingUpdate: WillReplace: true`
//!   replaces the whole group, running jobs included, on a launch template change
//!   (buildkite/elastic-ci-stack-for-aws@b4948d8:templates/aws-stack.yml `AgentAutoScaleGroup`).
//!   Without one, an update only points the group at the new template version.

use serde::Serialize;

use super::ids;
use super::spec::{Placement, StackSpec};
use super::tags::{self, GroupTag};
use super::template::{Expr, Resource};

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct AutoScalingGroup {
    auto_scaling_group_name: String,
    /// Strings, as the resource's schema types them.
    min_size: String,
    max_size: String,
    new_instances_protected_from_scale_in: bool,
    capacity_rebalance: bool,
    mixed_instances_policy: MixedInstancesPolicy,
    #[serde(rename = "VPCZoneIdentifier", skip_serializing_if = "Vec::is_empty")]
    vpc_zone_identifier: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    availability_zones: Option<AvailabilityZones>,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_instance_lifetime: Option<u32>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    metrics_collection: Vec<MetricsCollection>,
    tags: Vec<GroupTag>,
}

#[derive(Serialize)]
#[serde(untagged)]
enum AvailabilityZones {
    Named(Vec<String>),
    All(Expr),
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct MixedInstancesPolicy {
    instances_distribution: InstancesDistribution,
    launch_template: MixedLaunchTemplate,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct InstancesDistribution {
    on_demand_base_capacity: u32,
    on_demand_percentage_above_base_capacity: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    on_demand_allocation_strategy: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    spot_allocation_strategy: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct MixedLaunchTemplate {
    launch_template_specification: LaunchTemplateSpecification,
    overrides: Vec<Override>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct LaunchTemplateSpecification {
    launch_template_id: Expr,
    /// The latest version: an update to the template moves the group to it.
    version: Expr,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct Override {
    instance_type: String,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct MetricsCollection {
    granularity: &'static str,
    metrics: Vec<String>,
}

pub fn auto_scaling_group(spec: &StackSpec) -> Resource {
    let group = &spec.group;
    let (vpc_zone_identifier, availability_zones) = match &group.placement {
        Placement::Subnets { subnets, .. } => (subnets.clone(), None),
        Placement::DefaultVpc(Some(zones)) => {
            (Vec::new(), Some(AvailabilityZones::Named(zones.clone())))
        }
        Placement::DefaultVpc(None) => (Vec::new(), Some(AvailabilityZones::All(Expr::GetAzs))),
    };
    Resource::new(
        "AWS::AutoScaling::AutoScalingGroup",
        AutoScalingGroup {
            auto_scaling_group_name: spec.name.clone(),
            min_size: group.min.to_string(),
            max_size: group.max.to_string(),
            new_instances_protected_from_scale_in: true,
            capacity_rebalance: group.capacity_rebalance,
            mixed_instances_policy: MixedInstancesPolicy {
                instances_distribution: InstancesDistribution {
                    on_demand_base_capacity: group.on_demand_base,
                    on_demand_percentage_above_base_capacity: group.on_demand_percentage,
                    on_demand_allocation_strategy: group.on_demand_strategy.clone(),
                    spot_allocation_strategy: group.spot_strategy.clone(),
                },
                launch_template: MixedLaunchTemplate {
                    launch_template_specification: LaunchTemplateSpecification {
                        launch_template_id: Expr::reference(ids::LAUNCH_TEMPLATE),
                        version: Expr::get_att(ids::LAUNCH_TEMPLATE, "LatestVersionNumber"),
                    },
                    overrides: spec
                        .instances
                        .types
                        .iter()
                        .map(|t| Override {
                            instance_type: t.clone(),
                        })
                        .collect(),
                },
            },
            vpc_zone_identifier,
            availability_zones,
            max_instance_lifetime: group.max_instance_lifetime,
            metrics_collection: if group.metrics.is_empty() {
                Vec::new()
            } else {
                vec![MetricsCollection {
                    granularity: "1Minute",
                    metrics: group.metrics.clone(),
                }]
            },
            // The launch template tags the instances (and their volumes); the group's own tags
            // stay on the group.
            tags: tags::all(spec)
                .into_iter()
                .map(|(key, value)| GroupTag {
                    key,
                    value,
                    propagate_at_launch: false,
                })
                .collect(),
        },
    )
}
