//! `imagekit iam-policy builder|instance|scaler`: the least-privilege policy as JSON on stdout.

use crate::cli::{IamPolicyCommand, ScopeArgs};
use crate::exit::ExitStatus;
use crate::iam::{builder, instance, scaler, Policy, Scope};
use crate::printer::Printer;

pub fn run(command: &IamPolicyCommand, printer: &Printer) -> anyhow::Result<ExitStatus> {
    let policy = policy(command)?;
    printer.line(policy.to_json())?;
    Ok(ExitStatus::Success)
}

/// Validates the flags and builds the policy.
fn policy(command: &IamPolicyCommand) -> Result<Policy, crate::exit::UsageError> {
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
                lambda_log_group: None,
            },
        ),
    }
}
