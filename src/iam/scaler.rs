//! The scaler's policy (`imagekit scale`): read its CI token, read and raise one ASG, suspend
//! its AZ rebalancing (the scaler's first tick does, [`crate::az_rebalance`]), publish its
//! metrics under one namespace.

use super::scope::{self, Scope};
use super::{Policy, Statement};
use crate::exit::UsageError;

#[derive(Debug, Clone)]
pub struct ScalerOptions {
    pub token_parameter: String,
    pub asg_name: String,
    /// ARN or key id.
    pub kms_key: Option<String>,
    pub metrics_namespace: String,
    /// As a Lambda: the function's own log group, which exists already.
    pub lambda_log_group: Option<String>,
}

pub fn policy(scope: &Scope, opts: &ScalerOptions) -> Result<Policy, UsageError> {
    scope::check_parameter_name("--token-parameter", &opts.token_parameter)?;
    scope::check_asg_name("--asg-name", &opts.asg_name)?;
    if let Some(key) = &opts.kms_key {
        scope::check_kms_key("--kms-key", key)?;
    }
    let ns = &opts.metrics_namespace;
    if ns.is_empty() || ns.len() > 255 || ns.starts_with("AWS/") || ns.contains(['*', '?']) {
        return Err(UsageError::new(format!(
            "--metrics-namespace: `{ns}` is not a custom CloudWatch namespace"
        )));
    }

    let (via_ssm, via_wildcard) = scope.via_service("ssm");
    let keys = match &opts.kms_key {
        Some(key) => scope::kms_key_arns(scope, key),
        None => scope.arns("kms", "key/*"),
    };
    let mut statements = vec![
        Statement::allow(
            "ReadCiToken",
            ["ssm:GetParameter"],
            scope::parameter_arns(scope, &opts.token_parameter),
        ),
        Statement::allow("DecryptTokenThroughSsm", ["kms:Decrypt"], keys).when(
            if via_wildcard {
                "StringLike"
            } else {
                "StringEquals"
            },
            "kms:ViaService",
            via_ssm,
        ),
        Statement::allow(
            "DescribeGroupsWithoutResourceScope",
            ["autoscaling:DescribeAutoScalingGroups"],
            ["*"],
        ),
        Statement::allow(
            "RaiseDesiredCapacity",
            ["autoscaling:SetDesiredCapacity"],
            scope::asg_arns(scope, &opts.asg_name),
        ),
        Statement::allow(
            "SuspendAzRebalancing",
            [crate::az_rebalance::ACTION],
            scope::asg_arns(scope, &opts.asg_name),
        ),
        // PutMetricData has no resource-level scope; the namespace condition bounds it.
        Statement::allow("PublishScalerMetrics", ["cloudwatch:PutMetricData"], ["*"]).when(
            "StringEquals",
            "cloudwatch:namespace",
            [ns.clone()],
        ),
    ];
    if let Some(group) = &opts.lambda_log_group {
        statements.push(Statement::allow(
            "WriteOwnLogGroup",
            ["logs:CreateLogStream", "logs:PutLogEvents"],
            [
                scope.arns("logs", &format!("log-group:{group}")),
                scope.arns("logs", &format!("log-group:{group}:log-stream:*")),
            ]
            .concat(),
        ));
    }
    Ok(Policy::new(statements))
}
