//! `imagekit iam-policy`: least-privilege IAM policies, built as serde types and printed with
//! serde_json. Resources are scoped by ARN (with `*` for a region or account not given), and
//! `Resource: "*"` is used only for actions that have no resource-level scope.

pub mod builder;
pub mod document;
pub mod instance;
pub mod scaler;
pub mod scope;

pub use document::{Policy, Statement};
pub use scope::Scope;

use crate::cli::{IamPolicyCommand, ScopeArgs};
use crate::exit::UsageError;

/// `imagekit iam-policy ...`: validates the flags and builds the policy.
pub fn from_command(command: &IamPolicyCommand) -> Result<Policy, UsageError> {
    let scope =
        |args: &ScopeArgs| Scope::new(&args.partition, &args.regions, args.account_id.as_deref());
    match command {
        IamPolicyCommand::Builder { scope: args } => Ok(builder::policy(&scope(args)?)),
        IamPolicyCommand::Instance {
            ssm_parameters,
            config_parameter,
            kms_key,
            cache_bucket,
            asg_name,
            log_group_prefix,
            scope: args,
        } => instance::policy(
            &scope(args)?,
            &instance::InstanceOptions {
                ssm_parameters: ssm_parameters.clone(),
                config_parameter: config_parameter.clone(),
                kms_key: kms_key.clone(),
                cache_bucket: cache_bucket.clone(),
                asg_name: asg_name.clone(),
                logs: instance::LogGroups::Prefix(log_group_prefix.clone()),
                session_manager: false,
            },
        ),
        IamPolicyCommand::Scaler {
            token_parameter,
            asg_name,
            kms_key,
            metrics_namespace,
            scope: args,
        } => scaler::policy(
            &scope(args)?,
            &scaler::ScalerOptions {
                token_parameter: token_parameter.clone(),
                asg_name: asg_name.clone(),
                kms_key: kms_key.clone(),
                metrics_namespace: metrics_namespace.clone(),
                suspend_processes: false,
                lambda_log_group: None,
            },
        ),
    }
}
