//! The scaler: `imagekit scale` as a Lambda, or none for a static fleet.

use super::{Ctx, Scaler};
use crate::exit::UsageError;
use crate::iam::scope;
use crate::spec::Arch;
use crate::stack::agent::AgentRow;
use crate::stack::file::{ScalerTable, StackTable};
use crate::stack::rules;

/// Long by design: each scaler key is checked in the order the table lists them, then all of
/// them go through the scaler's own command line once.
pub(super) fn scaler(
    ctx: &Ctx<'_>,
    t: &StackTable,
    agent: AgentRow,
    endpoint: Option<&str>,
) -> Result<Option<Scaler>, UsageError> {
    let s = t.scaler.clone().unwrap_or_default();
    if !s.enabled.unwrap_or(true) {
        return match set_keys(&s).first() {
            Some(key) => Err(ctx.fail(format!(
                "{} has no effect with {} = false; remove it",
                ctx.key(&format!("scaler.{key}")),
                ctx.key("scaler.enabled")
            ))),
            None => Ok(None),
        };
    }
    let token_parameter = match (&s.token_parameter, agent.scaler_shares_token) {
        (Some(name), _) => name.clone(),
        (None, true) => t
            .token_parameter
            .clone()
            .expect("checked with the boot config"),
        (None, false) => {
            return Err(ctx.fail(format!(
                "{} is required: the SSM parameter holding the {} API token",
                ctx.key("scaler.token_parameter"),
                agent.name()
            )))
        }
    };
    scope::check_parameter_name(&ctx.key("scaler.token_parameter"), &token_parameter)
        .map_err(|e| ctx.fail(e))?;
    if let Some(n) = s.reserved_concurrency {
        if n == 0 || n > 1000 {
            return Err(ctx.fail(format!(
                "{} {n} is outside 1 to 1000 (for a static fleet, set {} = false)",
                ctx.key("scaler.reserved_concurrency"),
                ctx.key("scaler.enabled")
            )));
        }
    }
    let memory = s.memory.unwrap_or(128);
    if !(128..=10_240).contains(&memory) {
        return Err(ctx.fail(format!(
            "{} {memory} is outside 128 to 10240 MB",
            ctx.key("scaler.memory")
        )));
    }
    let log_retention_days = s.log_retention_days.unwrap_or(30);
    ctx.check(
        "scaler.log_retention_days",
        rules::retention_days(log_retention_days),
    )?;

    let mut settings = vec![
        ("asg", t.name.clone()),
        ("ci", agent.kind.as_str().to_string()),
        ("token_parameter", token_parameter),
    ];
    settings.extend(endpoint.map(|e| ("endpoint", e.to_string())));
    let optional = [
        (
            "agents_per_instance",
            s.agents_per_instance.map(|n| n.to_string()),
        ),
        ("interval", s.interval.clone()),
        ("overprovision", s.overprovision.clone()),
        ("metrics", s.metrics.map(|b| b.to_string())),
        ("metrics_namespace", s.metrics_namespace.clone()),
    ];
    settings.extend(
        optional
            .into_iter()
            .filter_map(|(id, v)| v.map(|v| (id, v))),
    );
    let options = ctx
        .cli
        .parse(&settings)
        .and_then(|options| crate::scale::Settings::from_options(&options).map(|_| options))
        .map_err(|e| ctx.fail(format!("{}: {e}", ctx.key("scaler"))))?;
    Ok(Some(Scaler {
        arch: s.arch.unwrap_or(Arch::X86_64),
        reserved_concurrency: s.reserved_concurrency,
        memory,
        log_retention_days,
        environment: ctx.cli.environment(&settings),
        options,
    }))
}

/// The scaler keys set besides `enabled`.
fn set_keys(s: &ScalerTable) -> Vec<&'static str> {
    [
        ("arch", s.arch.is_some()),
        ("reserved_concurrency", s.reserved_concurrency.is_some()),
        ("memory", s.memory.is_some()),
        ("log_retention_days", s.log_retention_days.is_some()),
        ("token_parameter", s.token_parameter.is_some()),
        ("agents_per_instance", s.agents_per_instance.is_some()),
        ("interval", s.interval.is_some()),
        ("overprovision", s.overprovision.is_some()),
        ("metrics", s.metrics.is_some()),
        ("metrics_namespace", s.metrics_namespace.is_some()),
    ]
    .into_iter()
    .filter_map(|(k, set)| set.then_some(k))
    .collect()
}
