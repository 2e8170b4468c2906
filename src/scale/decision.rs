//! The scaling decision: one pure function, so every rule is a table row in a unit test.
//!
//! Instances give themselves back when their agent goes idle, so the scaler only ever raises the
//! desired capacity; lowering it could terminate an instance in the middle of a job. For the
//! same reason spares are added only while there is work: on an empty queue they would launch,
//! idle out, give themselves back and launch again, every idle timeout, all day.

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

/// The instances the queue needs: ceil(jobs / agents per instance), plus the overprovision while
/// any job is queued or running, clamped to [min, max]. When min > max (a misconfiguration), max
/// wins: never exceed the ceiling.
pub fn target(jobs: u32, inputs: &Inputs) -> u32 {
    let per = inputs.agents_per_instance.max(1);
    let base = jobs.div_ceil(per);
    let extra = if jobs == 0 {
        0
    } else {
        inputs.overprovision.extra(base)
    };
    base.saturating_add(extra).max(inputs.min).min(inputs.max)
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

    /// One case of the decision, and the peer behaviour it matches or departs from.
    struct Row {
        name: &'static str,
        inputs: Inputs,
        expect: Decision,
        /// Against buildkite/buildkite-agent-scaler@49c4145377fd26fea0f2e9b9eaadfb25ec1956ee
        /// (`Run` in scaler/scaler.go, whose instance buffer is `min(buffer, needed)` and only
        /// while a job is scheduled, running or waiting; the cases of scaler/scaler_test.go), and
        /// renderedtext/agent-aws-stack@164b2cbf3be57a3ba2dfc4010c2614e60da74b0b
        /// (`determineNewSize` in lambdas/agent-scaler/app.js: `min` when the jobs are fewer,
        /// else jobs + overprovision, capped at max; one agent per instance; never scales in).
        peer: &'static str,
    }

    /// (jobs, current, min, max, overprovision, agents per instance).
    const fn inputs(
        jobs: Option<u32>,
        current: u32,
        min: u32,
        max: u32,
        overprovision: Overprovision,
        agents_per_instance: u32,
    ) -> Inputs {
        Inputs {
            jobs,
            current,
            min,
            max,
            overprovision,
            agents_per_instance,
        }
    }

    const fn raise(to: u32) -> Decision {
        Decision::Raise { to, target: to }
    }

    const fn keep(target: u32, why: Why) -> Decision {
        Decision::Keep {
            target: Some(target),
            why,
        }
    }

    const UNKNOWN: Decision = Decision::Keep {
        target: None,
        why: Why::QueueUnknown,
    };

    const TABLE: &[Row] = &[
        Row {
            name: "empty queue with a count: no spares",
            inputs: inputs(Some(0), 0, 0, 10, Count(2), 1),
            expect: keep(0, Why::Enough),
            peer: "matches buildkite-agent-scaler (no buffer without a job); departs from \
                   agent-aws-stack, whose 0 jobs + 2 launches two spares that idle out and \
                   launch again all day",
        },
        Row {
            name: "empty queue with a count and --min 1: the floor and no more",
            inputs: inputs(Some(0), 0, 1, 10, Count(2), 1),
            expect: raise(1),
            peer: "matches both: agent-aws-stack returns min when the jobs are fewer, \
                   buildkite-agent-scaler adds no buffer and floors at MinSize",
        },
        Row {
            name: "empty queue with a percentage: no spares",
            inputs: inputs(Some(0), 0, 0, 10, Percent(50), 1),
            expect: keep(0, Why::Enough),
            peer: "matches agent-aws-stack (ceil(0 × 50%) = 0); buildkite-agent-scaler has no \
                   percentage buffer, and adds none without a job",
        },
        Row {
            name: "1 job below --min 3 with a count: the floor already holds the spares",
            inputs: inputs(Some(1), 0, 3, 10, Count(2), 1),
            expect: raise(3),
            peer: "matches both: agent-aws-stack returns min; buildkite-agent-scaler's 1 + \
                   min(2, 1) floors at 3",
        },
        Row {
            name: "2 jobs below --min 3 with a count: spares above the work",
            inputs: inputs(Some(2), 0, 3, 10, Count(2), 1),
            expect: raise(4),
            peer: "matches buildkite-agent-scaler (2 + min(2, 2)); departs from agent-aws-stack, \
                   which drops the spares while jobs < min and so gives one idle instance, not \
                   the two asked for: spares are headroom above the work, the floor is separate",
        },
        Row {
            name: "jobs equal to --min with a count",
            inputs: inputs(Some(3), 0, 3, 10, Count(2), 1),
            expect: raise(5),
            peer: "matches both: agent-aws-stack's 3 + 2, buildkite-agent-scaler's 3 + min(2, 3)",
        },
        Row {
            name: "jobs above --min",
            inputs: inputs(Some(5), 2, 3, 10, Count(0), 1),
            expect: raise(5),
            peer: "matches both: one instance per job, above the floor",
        },
        Row {
            name: "jobs above --min, a percentage rounds up",
            inputs: inputs(Some(5), 0, 3, 10, Percent(25), 1),
            expect: raise(7),
            peer: "matches agent-aws-stack's Math.ceil(5 × 25 / 100) = 2; buildkite-agent-scaler \
                   has no percentage (its scale-out factor scales the change, another knob)",
        },
        Row {
            name: "1 job with a count of 3: the whole count",
            inputs: inputs(Some(1), 0, 0, 10, Count(3), 1),
            expect: raise(4),
            peer: "matches agent-aws-stack's number strategy (1 + 3); departs from \
                   buildkite-agent-scaler's min(3, 1): the count is the ready capacity asked for \
                   once work starts, and capping it by the jobs in flight would make \
                   --overprovision 3 mean 1 for the first job of a burst",
        },
        Row {
            name: "1 agent per instance: one instance per job",
            inputs: inputs(Some(4), 0, 0, 10, Count(0), 1),
            expect: raise(4),
            peer: "matches both (scaler_test.go's basic scale out: 12 jobs → 12)",
        },
        Row {
            name: "3 agents per instance: 7 jobs need 3 instances",
            inputs: inputs(Some(7), 0, 0, 10, Count(0), 3),
            expect: raise(3),
            peer: "matches buildkite-agent-scaler's ceil(jobs / agents per instance) \
                   (scaler_test.go: 12 jobs at 5 per instance → 3); departs from \
                   agent-aws-stack, whose instances run one agent each",
        },
        Row {
            name: "3 agents per instance with a count",
            inputs: inputs(Some(7), 0, 0, 10, Count(1), 3),
            expect: raise(4),
            peer: "matches buildkite-agent-scaler: 3 instances + min(1, 3)",
        },
        Row {
            name: "3 agents per instance, a percentage of the instances, not of the jobs",
            inputs: inputs(Some(7), 0, 0, 10, Percent(50), 3),
            expect: raise(5),
            peer: "departs from agent-aws-stack, whose percentage is of the jobs (one agent per \
                   instance, so ceil(7 × 50%) = 4 more instances); the spares are instances, as \
                   buildkite-agent-scaler's buffer is: 3 + ceil(3 × 50%)",
        },
        Row {
            name: "3 agents per instance, 2 jobs fit the one instance",
            inputs: inputs(Some(2), 1, 0, 10, Count(0), 3),
            expect: keep(1, Why::Enough),
            peer: "matches buildkite-agent-scaler (ceil(2 / 3) = 1, no change)",
        },
        Row {
            name: "clamped at max",
            inputs: inputs(Some(12), 0, 0, 10, Count(0), 1),
            expect: raise(10),
            peer: "matches both: capped at MaxSize",
        },
        Row {
            name: "spares clamped at max",
            inputs: inputs(Some(9), 0, 0, 10, Count(3), 1),
            expect: raise(10),
            peer: "matches both: spares never push past MaxSize",
        },
        Row {
            name: "a percentage clamped at max",
            inputs: inputs(Some(6), 0, 0, 10, Percent(100), 1),
            expect: raise(10),
            peer: "matches agent-aws-stack: 6 + 6 capped at 10",
        },
        Row {
            name: "a huge queue saturates, clamped",
            inputs: inputs(Some(u32::MAX), 0, 0, 50, Percent(100), 1),
            expect: raise(50),
            peer: "matches both: capped at MaxSize; no overflow on the way",
        },
        Row {
            name: "queue drains: never scale in",
            inputs: inputs(Some(0), 5, 0, 10, Count(0), 1),
            expect: keep(0, Why::NeverScaleIn),
            peer: "matches agent-aws-stack (it only scales up); departs from \
                   buildkite-agent-scaler, which lowers the desired capacity: that can terminate \
                   an instance mid-job, and ours give themselves back when idle",
        },
        Row {
            name: "fewer jobs than instances: never scale in",
            inputs: inputs(Some(2), 5, 0, 10, Count(0), 1),
            expect: keep(2, Why::NeverScaleIn),
            peer: "matches agent-aws-stack (it keeps 5); departs from buildkite-agent-scaler, \
                   which would scale in to 2 (as for the drained queue)",
        },
        Row {
            name: "exactly enough",
            inputs: inputs(Some(4), 4, 0, 10, Count(0), 1),
            expect: keep(4, Why::Enough),
            peer: "matches both: no call when the group already has the target",
        },
        Row {
            name: "queue unreadable: no change",
            inputs: inputs(None, 3, 0, 10, Count(0), 1),
            expect: UNKNOWN,
            peer: "matches both: an API error ends their tick before any change",
        },
        Row {
            name: "queue unreadable below --min: still no change",
            inputs: inputs(None, 0, 2, 10, Count(2), 1),
            expect: UNKNOWN,
            peer: "matches both: neither reaches its min floor without a reading",
        },
        Row {
            name: "current above max: left alone",
            inputs: inputs(Some(20), 12, 0, 10, Count(0), 1),
            expect: keep(10, Why::NeverScaleIn),
            peer: "matches agent-aws-stack (10 is not above 12); departs from \
                   buildkite-agent-scaler, which would scale in to MaxSize",
        },
        Row {
            name: "--min above the group's max: max wins",
            inputs: inputs(Some(0), 0, 5, 3, Count(0), 1),
            expect: raise(3),
            peer: "departs from both, where min wins (buildkite-agent-scaler floors after \
                   capping; agent-aws-stack returns min first): AWS refuses a desired capacity \
                   above MaxSize, so that call would fail every tick",
        },
        Row {
            name: "0 agents per instance is taken as 1",
            inputs: inputs(Some(3), 0, 0, 10, Count(0), 0),
            expect: raise(3),
            peer: "matches buildkite-agent-scaler's \"defaulting to 1\" (the flag refuses 0 \
                   before this)",
        },
    ];

    #[test]
    fn decision_table() {
        for row in TABLE {
            assert_eq!(
                decide(&row.inputs),
                row.expect,
                "row {:?} ({}): {:?}",
                row.name,
                row.peer,
                row.inputs
            );
            assert!(
                row.peer.starts_with("matches") || row.peer.starts_with("departs"),
                "row {:?} says neither what it matches nor what it departs from",
                row.name
            );
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
    fn an_empty_queue_targets_min_whatever_the_overprovision() {
        for over in [
            Count(0),
            Count(1),
            Count(50),
            Percent(1),
            Percent(100),
            Percent(500),
        ] {
            for min in 0..4 {
                let inputs = inputs(Some(0), 0, min, 10, over, 2);
                assert_eq!(decide(&inputs).target(), Some(min), "{inputs:?}");
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
