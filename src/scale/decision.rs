//! The scaling decision: one pure function, so every rule is a table row in a unit test.
//!
//! Instances give themselves back when their agent goes idle, so the scaler only ever raises the
//! desired capacity; lowering it could terminate an instance in the middle of a job.

use std::fmt;
use std::str::FromStr;

use serde::Serialize;

/// Spare instances on top of what the queue needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Overprovision {
    /// A fixed number of extra instances.
    Count(u32),
    /// A percentage of the instances the queue needs, rounded up.
    Percent(u32),
}

impl Overprovision {
    /// The extra instances for `base` needed instances.
    pub fn extra(self, base: u32) -> u32 {
        match self {
            Overprovision::Count(n) => n,
            Overprovision::Percent(p) => {
                u32::try_from((u64::from(base) * u64::from(p)).div_ceil(100)).unwrap_or(u32::MAX)
            }
        }
    }
}

impl fmt::Display for Overprovision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Overprovision::Count(n) => write!(f, "{n}"),
            Overprovision::Percent(p) => write!(f, "{p}%"),
        }
    }
}

impl FromStr for Overprovision {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        let bad = || format!("--overprovision {s:?}: expected a count (2) or a percentage (25%)");
        match s.strip_suffix('%') {
            Some(p) => p
                .trim()
                .parse()
                .map(Overprovision::Percent)
                .map_err(|_| bad()),
            None => s.parse().map(Overprovision::Count).map_err(|_| bad()),
        }
    }
}

/// Everything the decision depends on. `jobs` is `None` when the queue could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Inputs {
    pub jobs: Option<u32>,
    pub current: u32,
    pub min: u32,
    pub max: u32,
    pub overprovision: Overprovision,
    pub agents_per_instance: u32,
}

/// What to do with the group, and why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Set the desired capacity to `to` (above the current one).
    Raise { to: u32, target: u32 },
    /// Leave the group alone.
    Keep { target: Option<u32>, why: Why },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Why {
    /// The queue could not be read: no information is no reason to change anything.
    QueueUnknown,
    /// The group already has at least the target.
    Enough,
    /// The target is below the current capacity; scaling in is left to idle instances.
    NeverScaleIn,
}

impl Decision {
    pub fn target(&self) -> Option<u32> {
        match *self {
            Decision::Raise { target, .. } => Some(target),
            Decision::Keep { target, .. } => target,
        }
    }
}

/// The instances the queue needs: ceil(jobs / agents per instance) + overprovision, clamped to
/// [min, max]. When min > max (a misconfiguration), max wins: never exceed the ceiling.
pub fn target(jobs: u32, inputs: &Inputs) -> u32 {
    let per = inputs.agents_per_instance.max(1);
    let base = jobs.div_ceil(per);
    let wanted = base.saturating_add(inputs.overprovision.extra(base));
    wanted.max(inputs.min).min(inputs.max)
}

/// Decides whether to raise the group's desired capacity.
pub fn decide(inputs: &Inputs) -> Decision {
    let Some(jobs) = inputs.jobs else {
        return Decision::Keep {
            target: None,
            why: Why::QueueUnknown,
        };
    };
    let target = target(jobs, inputs);
    if target > inputs.current {
        Decision::Raise { to: target, target }
    } else if target == inputs.current {
        Decision::Keep {
            target: Some(target),
            why: Why::Enough,
        }
    } else {
        Decision::Keep {
            target: Some(target),
            why: Why::NeverScaleIn,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use Overprovision::{Count, Percent};

    /// (jobs, current, min, max, overprovision, agents per instance) → expected decision.
    #[allow(clippy::type_complexity)]
    #[rustfmt::skip]
    const TABLE: &[(&str, Option<u32>, u32, u32, u32, Overprovision, u32, Decision)] = &[
        ("5 queued, empty group", Some(5), 0, 0, 10, Count(0), 1, Decision::Raise { to: 5, target: 5 }),
        ("bounded by max", Some(5), 0, 0, 3, Count(0), 1, Decision::Raise { to: 3, target: 3 }),
        ("min floor with no jobs", Some(0), 0, 2, 10, Count(0), 1, Decision::Raise { to: 2, target: 2 }),
        ("no jobs, at min", Some(0), 2, 2, 10, Count(0), 1, Decision::Keep { target: Some(2), why: Why::Enough }),
        ("queue drains: never scale in", Some(0), 5, 0, 10, Count(0), 1, Decision::Keep { target: Some(0), why: Why::NeverScaleIn }),
        ("fewer jobs than instances", Some(2), 5, 0, 10, Count(0), 1, Decision::Keep { target: Some(2), why: Why::NeverScaleIn }),
        ("exactly enough", Some(4), 4, 0, 10, Count(0), 1, Decision::Keep { target: Some(4), why: Why::Enough }),
        ("overprovision count", Some(5), 0, 0, 10, Count(2), 1, Decision::Raise { to: 7, target: 7 }),
        ("overprovision count on an empty queue", Some(0), 0, 0, 10, Count(1), 1, Decision::Raise { to: 1, target: 1 }),
        ("overprovision count clamped by max", Some(9), 0, 0, 10, Count(3), 1, Decision::Raise { to: 10, target: 10 }),
        ("overprovision 20% of 5 is 1", Some(5), 0, 0, 10, Percent(20), 1, Decision::Raise { to: 6, target: 6 }),
        ("overprovision 25% of 5 rounds up to 2", Some(5), 0, 0, 10, Percent(25), 1, Decision::Raise { to: 7, target: 7 }),
        ("overprovision 50% of nothing is nothing", Some(0), 0, 0, 10, Percent(50), 1, Decision::Keep { target: Some(0), why: Why::Enough }),
        ("overprovision 100% clamped by max", Some(6), 0, 0, 10, Percent(100), 1, Decision::Raise { to: 10, target: 10 }),
        ("2 agents per instance, 5 jobs → 3", Some(5), 0, 0, 10, Count(0), 2, Decision::Raise { to: 3, target: 3 }),
        ("4 agents per instance, 8 jobs → 2", Some(8), 1, 0, 10, Count(0), 4, Decision::Raise { to: 2, target: 2 }),
        ("agents per instance then percent", Some(7), 0, 0, 10, Percent(50), 2, Decision::Raise { to: 6, target: 6 }),
        ("agents per instance 0 treated as 1", Some(3), 0, 0, 10, Count(0), 0, Decision::Raise { to: 3, target: 3 }),
        ("API error: no change", None, 3, 0, 10, Count(0), 1, Decision::Keep { target: None, why: Why::QueueUnknown }),
        ("API error with min above current: still no change", None, 0, 2, 10, Count(2), 1, Decision::Keep { target: None, why: Why::QueueUnknown }),
        ("current above max: never scale in", Some(20), 12, 0, 10, Count(0), 1, Decision::Keep { target: Some(10), why: Why::NeverScaleIn }),
        ("min above max: max wins", Some(0), 0, 5, 3, Count(0), 1, Decision::Raise { to: 3, target: 3 }),
        ("huge queue saturates, clamped", Some(u32::MAX), 0, 0, 50, Percent(100), 1, Decision::Raise { to: 50, target: 50 }),
    ];

    #[test]
    fn decision_table() {
        assert!(TABLE.len() >= 15);
        for &(name, jobs, current, min, max, overprovision, agents_per_instance, expected) in TABLE
        {
            let inputs = Inputs {
                jobs,
                current,
                min,
                max,
                overprovision,
                agents_per_instance,
            };
            assert_eq!(decide(&inputs), expected, "row {name:?}: {inputs:?}");
        }
    }

    #[test]
    fn raise_is_always_above_current_and_within_max() {
        for jobs in 0..30 {
            for current in 0..12 {
                for over in [Count(0), Count(3), Percent(30)] {
                    let inputs = Inputs {
                        jobs: Some(jobs),
                        current,
                        min: 1,
                        max: 10,
                        overprovision: over,
                        agents_per_instance: 2,
                    };
                    if let Decision::Raise { to, .. } = decide(&inputs) {
                        assert!(to > current && to <= 10, "{inputs:?} → {to}");
                    }
                }
            }
        }
    }

    #[test]
    fn overprovision_parses_counts_and_percentages() {
        assert_eq!("3".parse(), Ok(Count(3)));
        assert_eq!("25%".parse(), Ok(Percent(25)));
        assert_eq!(" 10 % ".parse(), Ok(Percent(10)));
        for bad in ["", "-1", "x%", "2.5", "%"] {
            assert!(bad.parse::<Overprovision>().is_err(), "{bad:?}");
        }
        assert_eq!(Percent(25).to_string(), "25%");
    }
}
