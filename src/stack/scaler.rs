//! The scaler: the static `imagekit` binary as a `provided.al2023` Lambda (its zip's place is a
//! template parameter: deploy uploads it), run every minute by an EventBridge rule; each
//! invocation ticks every interval until close to its 60 s timeout (`scale::lambda`). Its
//! settings are the `IMAGEKIT_SCALE_*` variables `imagekit scale` reads in Lambda mode.
//!
//! Reserved concurrency is off unless asked for: the scaler only ever raises the desired
//! capacity, so two overlapping invocations are harmless.

use std::collections::BTreeMap;

use serde::Serialize;

use super::ids;
use super::spec::{Scaler, StackSpec};
use super::tags::{self, Tag};
use super::template::{Expr, Resource};

/// The function's timeout: one invocation a minute covers the minute.
pub const TIMEOUT_SECONDS: u32 = 60;

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct Function {
    function_name: String,
    description: String,
    runtime: &'static str,
    handler: &'static str,
    architectures: Vec<&'static str>,
    code: Code,
    role: Expr,
    timeout: u32,
    memory_size: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    reserved_concurrent_executions: Option<u32>,
    environment: Environment,
    tags: Vec<Tag>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct Code {
    s3_bucket: Expr,
    s3_key: Expr,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct Environment {
    variables: BTreeMap<String, String>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct Rule {
    description: String,
    schedule_expression: &'static str,
    state: &'static str,
    targets: Vec<Target>,
    tags: Vec<Tag>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct Target {
    arn: Expr,
    id: &'static str,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct Permission {
    action: &'static str,
    function_name: Expr,
    principal: &'static str,
    source_arn: Expr,
}

/// The function, its schedule and the permission that lets the schedule invoke it.
pub fn resources(spec: &StackSpec, scaler: &Scaler) -> Vec<(String, Resource)> {
    let function = Function {
        function_name: spec.scaler_function_name(),
        description: format!(
            "imagekit scale: raises {}'s desired capacity from the {} queue",
            spec.name,
            spec.agent.name()
        ),
        runtime: "provided.al2023",
        handler: "bootstrap",
        architectures: vec![match scaler.arch {
            crate::spec::Arch::X86_64 => "x86_64",
            crate::spec::Arch::Arm64 => "arm64",
        }],
        code: Code {
            s3_bucket: Expr::reference(ids::SCALER_CODE_BUCKET),
            s3_key: Expr::reference(ids::SCALER_CODE_KEY),
        },
        role: Expr::get_att(ids::SCALER_ROLE, "Arn"),
        timeout: TIMEOUT_SECONDS,
        memory_size: scaler.memory,
        reserved_concurrent_executions: scaler.reserved_concurrency,
        environment: Environment {
            variables: crate::scale::env::environment(&scaler.settings),
        },
        tags: tags::list(spec),
    };
    let rule = Rule {
        description: format!("imagekit fleet {}: run the scaler every minute", spec.name),
        schedule_expression: "rate(1 minute)",
        state: "ENABLED",
        targets: vec![Target {
            arn: Expr::get_att(ids::SCALER_FUNCTION, "Arn"),
            id: "scaler",
        }],
        tags: tags::list(spec),
    };
    let permission = Permission {
        action: "lambda:InvokeFunction",
        function_name: Expr::reference(ids::SCALER_FUNCTION),
        principal: "events.amazonaws.com",
        source_arn: Expr::get_att(ids::SCALER_SCHEDULE, "Arn"),
    };
    let log_group = super::logs::log_group(
        spec,
        super::iam::scaler_log_group(spec),
        scaler.log_retention_days,
    );
    vec![
        (
            ids::SCALER_FUNCTION.into(),
            // The group exists before the function first writes to it, so Lambda never
            // creates it without a retention.
            Resource::new("AWS::Lambda::Function", function).depends_on(ids::SCALER_LOG_GROUP),
        ),
        (
            ids::SCALER_SCHEDULE.into(),
            Resource::new("AWS::Events::Rule", rule),
        ),
        (
            ids::SCALER_PERMISSION.into(),
            Resource::new("AWS::Lambda::Permission", permission),
        ),
        (ids::SCALER_LOG_GROUP.into(), log_group),
    ]
}
