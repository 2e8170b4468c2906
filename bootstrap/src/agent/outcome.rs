//! How an agent's run ended, and what that means for the fleet: the one table every agent's end
//! is read into. Agents only detect which row they are in; the give-back acts on the row.

/// How the agent's run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// No work came: the fleet is larger than the queue needs.
    Idle,
    /// The agent ran its job(s) and left as asked (e.g. disconnect after a job).
    JobFinished,
    /// Stopped before it was done: by the OS or the service manager, by the control plane, or by
    /// the agent itself losing it.
    Interrupted,
    /// Ended without saying why, after it had started: a crash or a kill.
    CrashedAfterRunning,
    /// Never got to take work (registration refused, a boot that could not produce an agent).
    FailedToStart,
    /// Stopped because its group is taking the instance out of service already (its target
    /// lifecycle state: terminated, detached, standby, or back to the warm pool): the group
    /// acts, so the give-back leaves the instance alone.
    Withdrawn,
}

/// What a give-back does for an [`Outcome`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Terms {
    /// Lower the group's desired capacity, so that no replacement comes.
    pub decrement: bool,
    /// Mark the group so that the scaler backs off instead of feeding a start that cannot succeed
    /// (the marking itself is the give-back's to add).
    pub mark_group: bool,
    /// Leave the instance to its group, which is acting on it already: no call at all.
    pub leave_to_group: bool,
}

impl Outcome {
    /// The table: an idle agent shrinks the fleet; one that ran (or was cut short) is replaced by
    /// a fresh, clean instance; one that never started shrinks it too, and says so.
    pub fn give_back(self) -> Terms {
        let (decrement, mark_group) = match self {
            Outcome::Idle => (true, false),
            Outcome::JobFinished
            | Outcome::Interrupted
            | Outcome::CrashedAfterRunning
            | Outcome::Withdrawn => (false, false),
            Outcome::FailedToStart => (true, true),
        };
        Terms {
            decrement,
            mark_group,
            leave_to_group: self == Outcome::Withdrawn,
        }
    }

    /// Whether the run failed (exit 1) even once the instance is given back.
    pub fn is_failure(self) -> bool {
        matches!(self, Outcome::CrashedAfterRunning | Outcome::FailedToStart)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_outcome_table() {
        use Outcome::*;
        // (outcome, decrement, mark the group, leave it to the group, the run failed)
        let table = [
            (Idle, true, false, false, false),
            (JobFinished, false, false, false, false),
            (Interrupted, false, false, false, false),
            (CrashedAfterRunning, false, false, false, true),
            (FailedToStart, true, true, false, true),
            (Withdrawn, false, false, true, false),
        ];
        for (outcome, decrement, mark_group, leave_to_group, failed) in table {
            assert_eq!(
                outcome.give_back(),
                Terms {
                    decrement,
                    mark_group,
                    leave_to_group,
                },
                "{outcome:?}"
            );
            assert_eq!(outcome.is_failure(), failed, "{outcome:?}");
        }
    }
}
