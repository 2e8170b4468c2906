//! The scaler: `imagekit scale` as a Lambda, or none for a static fleet.

use super::{Ctx, Scaler};
use crate::exit::UsageError;
use crate::iam::scope;
use crate::spec::Arch;
use crate::stack::agent::{AgentRow, ScalerQueue};
use crate::stack::file::{ScalerTable, StackTable};
use crate::stack::rules;
use imagekit_bootstrap::config::BootConfigLayer;

/// Long by design: each scaler key is checked in the order the table lists them, then all of
/// them go through the scaler's own command line once.
pub(super) fn scaler(
    ctx: &Ctx<'_>,
    t: &StackTable,
    agent: AgentRow,
    boot: &BootConfigLayer,
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

    let (queue, agents_per_instance) = queue(ctx, &s, agent, boot)?;
    let mut settings = vec![
        ("asg", t.name.clone()),
        ("ci", agent.kind.as_str().to_string()),
        ("token_parameter", token_parameter),
    ];
    settings.extend(boot.endpoint.clone().map(|e| ("endpoint", e)));
    settings.extend(queue);
    let optional = [
        (
            "agents_per_instance",
            agents_per_instance.map(|n| n.to_string()),
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

/// The scaler setting naming its queue (`("queue", "linux")`), when the kind has one.
type QueueSetting = Option<(&'static str, String)>;

/// The queue flag the kind's scaler reads (`queue` or `resource_class`), and the agents per
/// instance it divides by: Buildkite's `spawn` unless `[stack.scaler]` says the same.
fn queue(
    ctx: &Ctx<'_>,
    s: &ScalerTable,
    agent: AgentRow,
    boot: &BootConfigLayer,
) -> Result<(QueueSetting, Option<u32>), UsageError> {
    if let (Some(_), false) = (
        &s.resource_class,
        agent.scaler_queue == ScalerQueue::ResourceClass,
    ) {
        return Err(ctx.fail(format!(
            "{} is for circleci stacks; a {} scaler does not read one",
            ctx.key("scaler.resource_class"),
            agent.name()
        )));
    }
    match agent.scaler_queue {
        ScalerQueue::AgentType => Ok((None, s.agents_per_instance)),
        ScalerQueue::ResourceClass => match &s.resource_class {
            Some(rc) => Ok((Some(("resource_class", rc.clone())), s.agents_per_instance)),
            None => Err(ctx.fail(format!(
                "{} is required: the CircleCI resource class (NAMESPACE/NAME) whose tasks the \
                 scaler counts, the one the runner's token belongs to",
                ctx.key("scaler.resource_class")
            ))),
        },
        ScalerQueue::BuildkiteQueue => {
            let section = boot.buildkite.clone().unwrap_or_default();
            let Some(queue) = section.queue else {
                return Err(ctx.fail(format!(
                    "{}.buildkite.queue is required: the queue the agents take jobs from, which \
                     the scaler reads (or set {} = false)",
                    ctx.key("boot"),
                    ctx.key("scaler.enabled")
                )));
            };
            let per = match (s.agents_per_instance, section.spawn) {
                (Some(n), Some(spawn)) if n != spawn => {
                    return Err(ctx.fail(format!(
                        "{} {n} differs from {}.buildkite.spawn {spawn}: the scaler divides by the \
                         agents each instance runs; remove it",
                        ctx.key("scaler.agents_per_instance"),
                        ctx.key("boot")
                    )))
                }
                (n, spawn) => n.or(spawn),
            };
            Ok((Some(("queue", queue)), per))
        }
    }
}

/// The scaler keys set besides `enabled`.
fn set_keys(s: &ScalerTable) -> Vec<&'static str> {
    [
        ("arch", s.arch.is_some()),
        ("reserved_concurrency", s.reserved_concurrency.is_some()),
        ("memory", s.memory.is_some()),
        ("log_retention_days", s.log_retention_days.is_some()),
        ("token_parameter", s.token_parameter.is_some()),
        ("resource_class", s.resource_class.is_some()),
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
