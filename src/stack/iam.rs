//! The instance role and profile, and the scaler's role. Their documents are the ones
//! `imagekit iam-policy instance` and `iam-policy scaler` print (one source, `crate::iam`), scoped
//! to the stack's own partition, region and account, and attached inline: moto cannot delete a
//! stack holding an `AWS::IAM::ManagedPolicy`, and an inline policy lives and dies with its role.

use serde::Serialize;
use serde_json::Value;

use super::ids;
use super::spec::{Scaler, StackSpec};
use super::tags::{self, Tag};
use super::template::{sub_pseudo, Expr, Resource};
use crate::exit::UsageError;
use crate::iam::instance::{InstanceOptions, LogGroups};
use crate::iam::scaler::ScalerOptions;
use crate::iam::{Policy, Scope};

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct Role {
    description: String,
    assume_role_policy_document: Value,
    policies: Vec<InlinePolicy>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    managed_policy_arns: Vec<Expr>,
    #[serde(skip_serializing_if = "Option::is_none")]
    permissions_boundary: Option<Expr>,
    tags: Vec<Tag>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct InlinePolicy {
    policy_name: &'static str,
    policy_document: Value,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct InstanceProfile {
    roles: Vec<Expr>,
}

/// The instances' policy, as `iam-policy instance` builds it for this stack.
pub fn instance_policy(spec: &StackSpec) -> Result<Policy, UsageError> {
    crate::iam::instance::policy(
        &Scope::stack(),
        &InstanceOptions {
            // The token, and GitHub's host keys when the boot config names them.
            ssm_parameters: std::iter::once(spec.token_parameter.clone())
                .chain(spec.boot.github_host_keys_parameter.clone())
                .collect(),
            config_parameter: spec.config_parameter.clone(),
            kms_key: spec.token_kms_key.clone(),
            cache_bucket: spec.cache.as_ref().map(|c| c.bucket.clone()),
            asg_name: Some(spec.name.clone()),
            logs: LogGroups::Exact(spec.log_groups()),
            session_manager: spec.access.session_manager,
        },
    )
}

/// The scaler's policy, as `iam-policy scaler` builds it, plus its own log group.
pub fn scaler_policy(spec: &StackSpec, scaler: &Scaler) -> Result<Policy, UsageError> {
    let shares_token = scaler.options.token_parameter == spec.token_parameter;
    crate::iam::scaler::policy(
        &Scope::stack(),
        &ScalerOptions {
            token_parameter: scaler.options.token_parameter.clone(),
            asg_name: spec.name.clone(),
            kms_key: spec.token_kms_key.clone().filter(|_| shares_token),
            metrics_namespace: scaler.options.metrics_namespace.clone(),
            lambda_log_group: Some(scaler_log_group(spec)),
        },
    )
}

/// Lambda writes a function's logs to `/aws/lambda/<function name>`.
pub fn scaler_log_group(spec: &StackSpec) -> String {
    format!("/aws/lambda/{}", spec.scaler_function_name())
}

pub fn instance_role(spec: &StackSpec) -> Result<Resource, UsageError> {
    let policy = instance_policy(spec)?;
    Ok(Resource::new(
        "AWS::IAM::Role",
        role(
            spec,
            format!("imagekit fleet {}: the agent instances", spec.name),
            "ec2.amazonaws.com",
            "imagekit-instance",
            &policy,
            spec.access
                .managed_policies
                .iter()
                .map(Expr::text)
                .collect(),
        ),
    ))
}

pub fn instance_profile() -> Resource {
    Resource::new(
        "AWS::IAM::InstanceProfile",
        InstanceProfile {
            roles: vec![Expr::reference(ids::INSTANCE_ROLE)],
        },
    )
}

pub fn scaler_role(spec: &StackSpec, scaler: &Scaler) -> Result<Resource, UsageError> {
    let policy = scaler_policy(spec, scaler)?;
    Ok(Resource::new(
        "AWS::IAM::Role",
        role(
            spec,
            format!("imagekit fleet {}: the scaler", spec.name),
            "lambda.amazonaws.com",
            "imagekit-scaler",
            &policy,
            Vec::new(),
        ),
    ))
}

fn role(
    spec: &StackSpec,
    description: String,
    service: &str,
    policy_name: &'static str,
    policy: &Policy,
    managed_policy_arns: Vec<Expr>,
) -> Role {
    let document = serde_json::to_value(policy).expect("a policy serializes");
    Role {
        description,
        assume_role_policy_document: serde_json::json!({
            "Version": "2012-10-17",
            "Statement": [{
                "Effect": "Allow",
                "Principal": { "Service": service },
                "Action": "sts:AssumeRole"
            }]
        }),
        policies: vec![InlinePolicy {
            policy_name,
            policy_document: sub_pseudo(document),
        }],
        managed_policy_arns,
        permissions_boundary: spec.access.permissions_boundary.as_deref().map(Expr::text),
        tags: tags::list(spec),
    }
}
