//! The three metadata items the watch reads, and what each answer means. Every rule here is
//! AWS's documented behaviour:
//!
//! - `spot/instance-action`: `{"action": "stop"|"terminate"|"hibernate", "time": "<UTC>"}` once
//!   EC2 is going to interrupt the spot instance, else HTTP 404
//!   (awsdocs/amazon-ec2-user-guide@57fb57eab9f86bffe17f97646d1847066f34880d:doc_source/spot-instance-termination-notices.md,
//!   "instance-action").
//! - `events/recommendations/rebalance`: `{"noticeTime": "<UTC>"}` once a rebalance
//!   recommendation was emitted, else HTTP 404
//!   (awsdocs/amazon-ec2-user-guide@0f17a814957a4cbcdb23d8ebfcda3cd7f0febb15:doc_source/rebalance-recommendations.md,
//!   "Use instance metadata").
//! - `autoscaling/target-lifecycle-state`: the state the group is moving the instance to, as
//!   plain text (`InService`, `Terminated`, `Detached`, `Standby`, `Warmed:Hibernated`,
//!   `Warmed:Running`, `Warmed:Stopped`, `Warmed:Terminated`); HTTP 404 until the instance first
//!   transitions (awsdocs/amazon-ec2-auto-scaling-user-guide@34e59a864d050d6d8f5d4d8a6bec63ffba21f596:doc_source/retrieving-target-lifecycle-state-through-imds.md).

use serde::Deserialize;

/// One metadata item the watch reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Item {
    SpotAction,
    Rebalance,
    TargetLifecycleState,
}

impl Item {
    pub fn path(self) -> &'static str {
        match self {
            Item::SpotAction => "/latest/meta-data/spot/instance-action",
            Item::Rebalance => "/latest/meta-data/events/recommendations/rebalance",
            Item::TargetLifecycleState => "/latest/meta-data/autoscaling/target-lifecycle-state",
        }
    }

    /// What an answer says: `None` when it announces nothing (404, or a state that keeps the
    /// instance in service). A value that cannot be read is an error, never an event: the watch
    /// must not stop the agent by mistake.
    pub fn read(self, answer: Option<&str>) -> Result<Option<Event>, String> {
        let Some(text) = answer else {
            return Ok(None);
        };
        match self {
            Item::SpotAction => {
                let notice: SpotAction = serde_json::from_str(text)
                    .map_err(|e| format!("not a spot instance action ({e}): {text:?}"))?;
                Ok(Some(Event::SpotInterruption {
                    action: notice.action,
                    time: notice.time,
                }))
            }
            Item::Rebalance => {
                let notice: Rebalance = serde_json::from_str(text)
                    .map_err(|e| format!("not a rebalance recommendation ({e}): {text:?}"))?;
                Ok(Some(Event::Rebalance {
                    notice_time: notice.notice_time,
                }))
            }
            Item::TargetLifecycleState => {
                let state = text.trim();
                Ok(leaving(state).then(|| Event::Leaving {
                    state: state.to_string(),
                }))
            }
        }
    }
}

/// The steady states that take the instance out of service: terminated, detached, in standby,
/// or back into the warm pool. `InService` (and any state not documented as steady) keeps it.
fn leaving(state: &str) -> bool {
    matches!(state, "Terminated" | "Detached" | "Standby") || state.starts_with("Warmed:")
}

#[derive(Deserialize)]
struct SpotAction {
    action: String,
    time: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Rebalance {
    notice_time: String,
}

/// What the metadata announced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    SpotInterruption { action: String, time: String },
    Rebalance { notice_time: String },
    Leaving { state: String },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn absent_items_announce_nothing() {
        for item in [
            Item::SpotAction,
            Item::Rebalance,
            Item::TargetLifecycleState,
        ] {
            assert_eq!(item.read(None), Ok(None), "{item:?}");
        }
    }

    #[test]
    fn the_documented_answers_read_as_their_events() {
        assert_eq!(
            Item::SpotAction.read(Some(
                r#"{"action": "terminate", "time": "2017-09-18T08:22:00Z"}"#
            )),
            Ok(Some(Event::SpotInterruption {
                action: "terminate".into(),
                time: "2017-09-18T08:22:00Z".into()
            }))
        );
        assert_eq!(
            Item::Rebalance.read(Some(r#"{"noticeTime": "2020-10-27T08:22:00Z"}"#)),
            Ok(Some(Event::Rebalance {
                notice_time: "2020-10-27T08:22:00Z".into()
            }))
        );
    }

    #[test]
    fn only_the_states_that_take_the_instance_away_are_events() {
        for state in [
            "Terminated",
            "Detached",
            "Standby",
            "Warmed:Stopped",
            "Warmed:Hibernated\n",
        ] {
            assert!(
                matches!(
                    Item::TargetLifecycleState.read(Some(state)),
                    Ok(Some(Event::Leaving { .. }))
                ),
                "{state}"
            );
        }
        for state in ["InService", "Pending", ""] {
            assert_eq!(
                Item::TargetLifecycleState.read(Some(state)),
                Ok(None),
                "{state}"
            );
        }
    }

    #[test]
    fn an_unreadable_answer_is_an_error_not_an_event() {
        assert!(Item::SpotAction.read(Some("<html>")).is_err());
        assert!(Item::Rebalance.read(Some("{}")).is_err());
    }
}
