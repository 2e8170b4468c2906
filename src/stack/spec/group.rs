//! The Auto Scaling group: size, purchase options, placement, lifetime.

use super::{Ctx, Group, Placement};
use crate::exit::UsageError;
use crate::spec::Os;
use crate::stack::file::StackTable;
use crate::stack::rules;

const SPOT_STRATEGIES: &[&str] = &[
    "price-capacity-optimized",
    "capacity-optimized",
    "capacity-optimized-prioritized",
    "lowest-price",
];
const ON_DEMAND_STRATEGIES: &[&str] = &["prioritized", "lowest-price"];

/// The group metrics CloudWatch collects (`MetricsCollection`).
const GROUP_METRICS: &[&str] = &[
    "GroupMinSize",
    "GroupMaxSize",
    "GroupDesiredCapacity",
    "GroupInServiceInstances",
    "GroupPendingInstances",
    "GroupStandbyInstances",
    "GroupTerminatingInstances",
    "GroupTotalInstances",
    "GroupInServiceCapacity",
    "GroupPendingCapacity",
    "GroupStandbyCapacity",
    "GroupTerminatingCapacity",
    "GroupTotalCapacity",
];

/// The group's bounds on `MaxInstanceLifetime`, in seconds (one day to one year).
const LIFETIME: std::ops::RangeInclusive<u32> = 86_400..=31_536_000;

pub(super) fn group(ctx: &Ctx<'_>, t: &StackTable, os: Os) -> Result<Group, UsageError> {
    let min = t.min.unwrap_or(0);
    let max = ctx.required(
        "max",
        &t.max,
        "the most instances the group may run (the scaler raises the desired capacity up to it)",
    )?;
    if max == 0 {
        return Err(ctx.fail(format!("{} must be at least 1", ctx.key("max"))));
    }
    if max < min {
        return Err(ctx.fail(format!(
            "{} {max} is below {} {min}",
            ctx.key("max"),
            ctx.key("min")
        )));
    }
    let on_demand_percentage = t.on_demand_percentage_above_base.unwrap_or(100);
    if on_demand_percentage > 100 {
        return Err(ctx.fail(format!(
            "{} {on_demand_percentage} is above 100",
            ctx.key("on_demand_percentage_above_base")
        )));
    }
    if let Some(s) = &t.spot_allocation_strategy {
        ctx.check(
            "spot_allocation_strategy",
            rules::one_of(s, SPOT_STRATEGIES),
        )?;
    }
    if let Some(s) = &t.on_demand_allocation_strategy {
        ctx.check(
            "on_demand_allocation_strategy",
            rules::one_of(s, ON_DEMAND_STRATEGIES),
        )?;
    }
    if os == Os::Macos && (on_demand_percentage < 100 || t.spot_allocation_strategy.is_some()) {
        return Err(ctx.fail(format!(
            "{} below 100 or {}: EC2 Mac instances run on dedicated hosts, which have no spot market",
            ctx.key("on_demand_percentage_above_base"),
            ctx.key("spot_allocation_strategy")
        )));
    }
    let max_instance_lifetime = match t.max_instance_lifetime {
        None | Some(0) => None,
        Some(s) if LIFETIME.contains(&s) => Some(s),
        Some(s) => {
            return Err(ctx.fail(format!(
                "{} {s} is outside 86400 to 31536000 seconds (one day to one year; 0 for none)",
                ctx.key("max_instance_lifetime")
            )))
        }
    };
    let metrics = t.group_metrics.clone().unwrap_or_default();
    for m in &metrics {
        ctx.check("group_metrics", rules::one_of(m, GROUP_METRICS))?;
    }
    ctx.check("group_metrics", rules::distinct(&metrics))?;
    Ok(Group {
        min,
        max,
        on_demand_base: t.on_demand_base_capacity.unwrap_or(0),
        on_demand_percentage,
        on_demand_strategy: t.on_demand_allocation_strategy.clone(),
        spot_strategy: t.spot_allocation_strategy.clone(),
        placement: placement(ctx, t)?,
        max_instance_lifetime,
        capacity_rebalance: t.capacity_rebalance.unwrap_or(false),
        metrics,
    })
}

/// `vpc_id` and `subnets` both or neither; zones only in the default VPC.
fn placement(ctx: &Ctx<'_>, t: &StackTable) -> Result<Placement, UsageError> {
    match (&t.vpc_id, &t.subnets) {
        (Some(vpc_id), Some(subnets)) => {
            ctx.check("vpc_id", rules::aws_id(vpc_id, "vpc-", "a VPC id"))?;
            if subnets.is_empty() {
                return Err(ctx.fail(format!("{} is empty", ctx.key("subnets"))));
            }
            for s in subnets {
                ctx.check("subnets", rules::aws_id(s, "subnet-", "a subnet id"))?;
            }
            ctx.check("subnets", rules::distinct(subnets))?;
            if t.availability_zones.is_some() {
                return Err(ctx.fail(format!(
                    "{} and {} exclude each other: the subnets decide the zones",
                    ctx.key("availability_zones"),
                    ctx.key("subnets")
                )));
            }
            Ok(Placement::Subnets {
                vpc_id: vpc_id.clone(),
                subnets: subnets.clone(),
            })
        }
        (Some(_), None) => Err(ctx.fail(format!(
            "{} needs {}: the group launches into the subnets you name",
            ctx.key("vpc_id"),
            ctx.key("subnets")
        ))),
        (None, Some(_)) => Err(ctx.fail(format!(
            "{} needs {}: give both, or neither for the default VPC",
            ctx.key("subnets"),
            ctx.key("vpc_id")
        ))),
        (None, None) => {
            if let Some(zones) = &t.availability_zones {
                if zones.is_empty() {
                    return Err(ctx.fail(format!("{} is empty", ctx.key("availability_zones"))));
                }
                for z in zones {
                    ctx.check("availability_zones", rules::availability_zone(z))?;
                }
                ctx.check("availability_zones", rules::distinct(zones))?;
            }
            Ok(Placement::DefaultVpc(t.availability_zones.clone()))
        }
    }
}
