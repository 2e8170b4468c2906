//! The instance profile's policy: what `imagekit-bootstrap` and the agent's job cache need.

use super::scope::{self, Scope};
use super::{Policy, Statement};
use crate::exit::UsageError;

#[derive(Debug, Clone, Default)]
pub struct InstanceOptions {
    /// The token parameter (and any other the bootstrap reads).
    pub ssm_parameters: Vec<String>,
    pub config_parameter: Option<String>,
    pub kms_key: Option<String>,
    pub cache_bucket: Option<String>,
    pub asg_name: Option<String>,
    pub log_group_prefix: String,
}

pub fn policy(scope: &Scope, opts: &InstanceOptions) -> Result<Policy, UsageError> {
    if opts.ssm_parameters.is_empty() {
        return Err(UsageError::new(
            "--ssm-parameter: name the SSM parameter that holds the agent token",
        ));
    }
    for name in &opts.ssm_parameters {
        scope::check_parameter_name("--ssm-parameter", name)?;
    }
    if let Some(name) = &opts.config_parameter {
        scope::check_parameter_name("--config-parameter", name)?;
    }
    if let Some(key) = &opts.kms_key {
        scope::check_kms_key("--kms-key", key)?;
    }
    if let Some(bucket) = &opts.cache_bucket {
        scope::check_bucket("--cache-bucket", bucket)?;
    }
    if let Some(asg) = &opts.asg_name {
        scope::check_asg_name("--asg-name", asg)?;
    }
    let prefix = &opts.log_group_prefix;
    if prefix.is_empty()
        || prefix.len() > 400
        || !prefix
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-' | b'/' | b'#'))
    {
        return Err(UsageError::new(format!(
            "--log-group-prefix: `{prefix}` is not a CloudWatch Logs group name prefix"
        )));
    }

    let mut statements = Vec::new();
    let parameters = opts
        .ssm_parameters
        .iter()
        .chain(&opts.config_parameter)
        .flat_map(|name| scope::parameter_arns(scope, name))
        .collect::<Vec<_>>();
    statements.push(Statement::allow(
        "ReadBootParameters",
        ["ssm:GetParameter"],
        parameters,
    ));

    let (via_ssm, via_wildcard) = scope.via_service("ssm");
    let keys = match &opts.kms_key {
        Some(key) => vec![key.clone()],
        None => scope.arns("kms", "key/*"),
    };
    statements.push(
        Statement::allow("DecryptParametersThroughSsm", ["kms:Decrypt"], keys).when(
            if via_wildcard {
                "StringLike"
            } else {
                "StringEquals"
            },
            "kms:ViaService",
            via_ssm,
        ),
    );

    if let Some(bucket) = &opts.cache_bucket {
        let partition = &scope.partition;
        statements.push(Statement::allow(
            "CacheObjects",
            ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"],
            [format!("arn:{partition}:s3:::{bucket}/*")],
        ));
        statements.push(Statement::allow(
            "CacheBucket",
            ["s3:ListBucket"],
            [format!("arn:{partition}:s3:::{bucket}")],
        ));
    }

    let asg = match &opts.asg_name {
        Some(name) => scope::asg_arns(scope, name),
        None => scope.arns("autoscaling", "autoScalingGroup:*:autoScalingGroupName/*"),
    };
    statements.push(Statement::allow(
        "GiveInstanceBackToItsGroup",
        [
            "autoscaling:TerminateInstanceInAutoScalingGroup",
            "autoscaling:SetInstanceHealth",
        ],
        asg,
    ));
    statements.push(Statement::allow(
        "FindOwnGroupWithoutResourceScope",
        ["autoscaling:DescribeAutoScalingInstances"],
        ["*"],
    ));

    statements.push(Statement::allow(
        "WriteLogs",
        [
            "logs:CreateLogGroup",
            "logs:CreateLogStream",
            "logs:PutLogEvents",
            "logs:DescribeLogStreams",
        ],
        [
            scope.arns("logs", &format!("log-group:{prefix}*")),
            scope.arns("logs", &format!("log-group:{prefix}*:log-stream:*")),
        ]
        .concat(),
    ));
    Ok(Policy::new(statements))
}
