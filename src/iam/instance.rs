//! The instance profile's policy: what `imagekit-bootstrap` and the agent's job cache need.

use super::scope::{self, Scope};
use super::{Policy, Statement};
use crate::exit::UsageError;

#[derive(Debug, Clone)]
pub struct InstanceOptions {
    /// The token parameter (and any other the bootstrap reads).
    pub ssm_parameters: Vec<String>,
    pub config_parameter: Option<String>,
    /// ARN or key id.
    pub kms_key: Option<String>,
    pub cache_bucket: Option<String>,
    pub asg_name: Option<String>,
    pub logs: LogGroups,
    /// Session Manager shells (the agent of Systems Manager registers and opens channels), with
    /// only the actions that needs: `AmazonSSMManagedInstanceCore` would also allow
    /// `ssm:GetParameter` on every parameter, the token's included.
    pub session_manager: bool,
}

/// Which CloudWatch Logs groups the instances write to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogGroups {
    /// Any group under a prefix, created on first use (`iam-policy instance`).
    Prefix(String),
    /// Exactly these groups, which exist already (a stack creates them).
    Exact(Vec<String>),
}

/// Long by design: one list of statements that reads top to bottom like the document it prints.
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
    match &opts.logs {
        LogGroups::Prefix(prefix) => check_log_group_name("--log-group-prefix", prefix)?,
        LogGroups::Exact(names) => {
            for name in names {
                check_log_group_name("log group", name)?;
            }
        }
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
        Some(key) => scope::kms_key_arns(scope, key),
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
        asg.clone(),
    ));
    // A failed start marks the group for the scaler, and a start that registers clears it
    // (bootstrap/src/giveback/mark.rs): that one tag, on the group's own ARN.
    statements.push(
        Statement::allow(
            "MarkOwnGroupFailedStart",
            ["autoscaling:CreateOrUpdateTags", "autoscaling:DeleteTags"],
            asg,
        )
        .when(
            "ForAllValues:StringEquals",
            "aws:TagKeys",
            [imagekit_core::failed_start::TAG],
        ),
    );
    statements.push(Statement::allow(
        "FindOwnGroupWithoutResourceScope",
        [
            "autoscaling:DescribeAutoScalingInstances",
            "autoscaling:DescribeTags",
        ],
        ["*"],
    ));

    statements.push(logs_statement(scope, &opts.logs));
    if opts.session_manager {
        statements.extend(session_manager_statements(scope));
    }
    Ok(Policy::new(statements))
}

/// Log group names: the one rule (`imagekit_core::log_group`).
fn check_log_group_name(what: &str, name: &str) -> Result<(), UsageError> {
    imagekit_core::log_group::check(name).map_err(|e| UsageError::new(format!("{what}: {e}")))
}

fn logs_statement(scope: &Scope, logs: &LogGroups) -> Statement {
    match logs {
        LogGroups::Prefix(prefix) => Statement::allow(
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
        ),
        // The groups exist: no CreateLogGroup, and no wildcard in the group's name.
        LogGroups::Exact(names) => Statement::allow(
            "WriteOwnLogGroups",
            [
                "logs:CreateLogStream",
                "logs:PutLogEvents",
                "logs:DescribeLogStreams",
            ],
            names
                .iter()
                .flat_map(|name| {
                    [
                        scope.arns("logs", &format!("log-group:{name}")),
                        scope.arns("logs", &format!("log-group:{name}:log-stream:*")),
                    ]
                    .concat()
                })
                .collect::<Vec<_>>(),
        ),
    }
}

/// What the Systems Manager agent needs for Session Manager, as AWS's own
/// `AWSCloud9SSMInstanceProfile` grants it: register the instance, open its message channels.
/// The channels have no resource-level scope.
fn session_manager_statements(scope: &Scope) -> [Statement; 2] {
    [
        Statement::allow(
            "SessionManagerRegisterInstance",
            ["ssm:UpdateInstanceInformation"],
            scope.arns("ec2", "instance/*"),
        ),
        Statement::allow(
            "SessionManagerChannelsWithoutResourceScope",
            [
                "ssmmessages:CreateControlChannel",
                "ssmmessages:CreateDataChannel",
                "ssmmessages:OpenControlChannel",
                "ssmmessages:OpenDataChannel",
            ],
            ["*"],
        ),
    ]
}
