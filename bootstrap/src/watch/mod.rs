//! The watch on the instance's metadata while the agent runs: a spot interruption notice, a
//! rebalance recommendation, or the group taking the instance out of service each end the
//! agent's run the way the fleet needs, through the supervisor's stop request.
//!
//! It reads one small item per tick (IMDSv2, the boot's own client), and never acts on what it
//! could not read: a metadata service that errs or goes silent is logged, and asked again.

mod items;
mod schedule;

use std::sync::Mutex;
use std::time::Duration;

use aws_config::imds::Client;

use crate::agent::{Busy, Outcome};
use crate::identity::{imds, Market};
use crate::stop::StopRequest;
pub use items::{Event, Item};
use schedule::Schedule;

/// What the watch did, for the run to read the agent's end by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Acted {
    /// A spot interruption notice: the agent was stopped.
    SpotInterruption,
    /// The group is taking the instance out of service: the agent was stopped.
    Withdrawn,
    /// A rebalance recommendation found the agent idle: it was stopped, to be replaced.
    RebalanceStopped,
    /// A rebalance recommendation found the agent busy: it finishes its job and leaves.
    RebalanceAfterJob,
    /// A rebalance recommendation, which the group's capacity rebalancing acts on itself.
    RebalanceLeftToGroup,
}

impl Acted {
    /// The outcome the instance is given back as, from what the agent's end read as.
    ///
    /// A spot instance goes whatever the agent says: it is interrupted, and given back without
    /// a decrement so that the group launches a replacement elsewhere. An idle agent stopped on
    /// a rebalance is replaced the same way. The group's own withdrawal is left to it. A busy
    /// agent that was let finish ends as it ends.
    pub fn outcome(self, read: Outcome) -> Outcome {
        match self {
            Acted::SpotInterruption | Acted::RebalanceStopped => Outcome::Interrupted,
            Acted::Withdrawn => Outcome::Withdrawn,
            Acted::RebalanceAfterJob | Acted::RebalanceLeftToGroup => read,
        }
    }
}

/// What the watch needs to know about the instance and its settings.
pub struct Settings {
    pub interval: Duration,
    pub market: Market,
    /// The group replaces rebalanced instances itself (boot config `capacity_rebalance`).
    pub capacity_rebalance: bool,
}

/// One watch over one agent's run.
pub struct Watch<'a> {
    client: Client,
    settings: Settings,
    busy: &'a (dyn Fn() -> Busy + Sync),
    acted: Mutex<Option<Acted>>,
}

/// A tick's read that took longer than this counts as silence (the client's own timeouts come
/// first; this bounds the token request too).
const READ_LIMIT: Duration = Duration::from_secs(3);

impl<'a> Watch<'a> {
    pub fn new(client: Client, settings: Settings, busy: &'a (dyn Fn() -> Busy + Sync)) -> Self {
        Watch {
            client,
            settings,
            busy,
            acted: Mutex::new(None),
        }
    }

    /// What the watch did, once the agent's run is over.
    pub fn acted(&self) -> Option<Acted> {
        *self.acted.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Reads the metadata every interval until an event asks for the agent's stop; never
    /// resolves otherwise (the agent's exit ends the watch).
    pub async fn run(&self) -> StopRequest {
        let mut schedule = Schedule::for_market(self.settings.market);
        let mut ticks = tokio::time::interval(self.settings.interval);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut failures = Failures::default();
        loop {
            ticks.tick().await;
            let Some(item) = schedule.next() else {
                // Everything the watch reads is settled: nothing more can come.
                return std::future::pending().await;
            };
            let answer =
                match tokio::time::timeout(READ_LIMIT, imds::read_once(&self.client, item.path()))
                    .await
                {
                    Ok(answer) => answer,
                    Err(_) => Err(format!("no answer within {READ_LIMIT:?}")),
                };
            let event = match answer.and_then(|a| item.read(a.as_deref())) {
                Ok(event) => {
                    failures.answered();
                    event
                }
                Err(error) => {
                    failures.failed(item, &error);
                    continue;
                }
            };
            let Some(event) = event else { continue };
            match self.act(event) {
                Step::Stop(request) => return request,
                Step::Settle => schedule.settle(item),
            }
        }
    }

    /// What an event asks for; logs it as one line naming what was seen and what is done.
    fn act(&self, event: Event) -> Step {
        let (acted, step) = match &event {
            Event::SpotInterruption { action, time } => {
                tracing::warn!(
                    seen = "spot interruption notice",
                    action = action.as_str(),
                    time = time.as_str(),
                    "spot interruption notice ({action} at {time}): stopping the agent gracefully now; the instance goes back without lowering desired capacity, so that the group launches a replacement"
                );
                (
                    Acted::SpotInterruption,
                    Step::Stop(StopRequest {
                        cause: "spot interruption notice",
                    }),
                )
            }
            Event::Leaving { state } => {
                tracing::warn!(
                    seen = "target lifecycle state",
                    state = state.as_str(),
                    "the group is taking the instance out of service (target lifecycle state {state}): stopping the agent gracefully; the group is already acting, so it is not called"
                );
                (
                    Acted::Withdrawn,
                    Step::Stop(StopRequest {
                        cause: "target lifecycle state",
                    }),
                )
            }
            Event::Rebalance { notice_time } if self.settings.capacity_rebalance => {
                tracing::info!(
                    seen = "rebalance recommendation",
                    notice_time = notice_time.as_str(),
                    "rebalance recommendation: the group has capacity rebalancing on and replaces the instance itself; the agent keeps running"
                );
                (Acted::RebalanceLeftToGroup, Step::Settle)
            }
            Event::Rebalance { notice_time } => match (self.busy)() {
                Busy::Idle => {
                    tracing::warn!(
                        seen = "rebalance recommendation",
                        notice_time = notice_time.as_str(),
                        busy = "idle",
                        "rebalance recommendation while the agent is idle: stopping it gracefully, so that the instance is replaced"
                    );
                    (
                        Acted::RebalanceStopped,
                        Step::Stop(StopRequest {
                            cause: "rebalance recommendation",
                        }),
                    )
                }
                // No sign either way: a job may be running, and is not cut short on a
                // recommendation.
                busy => {
                    tracing::info!(
                        seen = "rebalance recommendation",
                        notice_time = notice_time.as_str(),
                        busy = if busy == Busy::Running { "running" } else { "unknown" },
                        "rebalance recommendation while the agent runs a job: it finishes the job, and the instance is replaced when the agent leaves"
                    );
                    (Acted::RebalanceAfterJob, Step::Settle)
                }
            },
        };
        let mut slot = self.acted.lock().unwrap_or_else(|e| e.into_inner());
        // A stop outranks what an earlier recommendation noted.
        if slot.is_none() || matches!(step, Step::Stop(_)) {
            *slot = Some(acted);
        }
        step
    }
}

enum Step {
    Stop(StopRequest),
    /// Seen and dealt with: not read again.
    Settle,
}

/// A streak of failed reads: its first is a WARN line, the rest DEBUG, and its end one INFO
/// line, so that an hour of outage is three lines, not a thousand.
#[derive(Default)]
struct Failures {
    streak: u32,
}

impl Failures {
    fn failed(&mut self, item: Item, error: &str) {
        self.streak += 1;
        if self.streak == 1 {
            tracing::warn!(
                path = item.path(),
                error,
                "instance metadata did not answer the watch; nothing is done about it, and it is asked again"
            );
        } else {
            tracing::debug!(
                path = item.path(),
                error,
                streak = self.streak,
                "instance metadata still not answering the watch"
            );
        }
    }

    fn answered(&mut self) {
        if self.streak > 0 {
            tracing::info!(
                failed_reads = self.streak,
                "instance metadata answers the watch again"
            );
        }
        self.streak = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_the_watch_did_decides_the_outcome() {
        use Outcome::*;
        for read in [Idle, JobFinished, Interrupted, CrashedAfterRunning] {
            assert_eq!(Acted::SpotInterruption.outcome(read), Interrupted);
            assert_eq!(Acted::RebalanceStopped.outcome(read), Interrupted);
            assert_eq!(Acted::Withdrawn.outcome(read), Withdrawn);
            assert_eq!(Acted::RebalanceAfterJob.outcome(read), read);
            assert_eq!(Acted::RebalanceLeftToGroup.outcome(read), read);
        }
    }
}
