//! What differs between CI agents at the fleet level, one row per agent kind. The kind is a
//! setting (`agent = "semaphore"`), and nothing else in `stack` names a CI system.

use imagekit_core::AgentKind;

/// One agent kind's fleet-level facts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AgentRow {
    /// The boot config's `agent`, and the queue `imagekit scale --ci` reads.
    pub kind: AgentKind,
    /// The stack's `endpoint`: whether one is required, and in what form.
    pub endpoint: Endpoint,
    /// The instances' token also reads the queue. Semaphore's metrics API takes the agent-type
    /// token (agent-aws-stack's scaler reads `SEMAPHORE_AGENT_TOKEN_PARAMETER_NAME`,
    /// renderedtext/agent-aws-stack@164b2cb:lib/aws-semaphore-agent-stack.js); Buildkite's
    /// metrics API takes an agent token (see `scale::buildkite`). CircleCI's task API takes a
    /// personal API token, which a resource-class token is not (see `scale::circleci`).
    pub scaler_shares_token: bool,
    /// Which queue the scaler reads, beside the CI system itself.
    pub scaler_queue: ScalerQueue,
}

/// The stack's `endpoint` for a kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    /// Required: the organization's host, which the agent prefixes with its scheme itself
    /// (Semaphore: `ORG.semaphoreci.com`).
    Host,
    /// Optional: the agent's API URL, checked by the bootstrap's own rules (Buildkite's
    /// `https://agent.buildkite.com/v3` when absent).
    OptionalUrl,
}

/// The queue `imagekit scale` reads for a kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScalerQueue {
    /// The whole agent type (Semaphore's metrics are per agent-type token).
    AgentType,
    /// The boot config's `buildkite.queue` (`--queue`; required, as the scaler reads one named
    /// queue), and `buildkite.spawn` agents per instance (`--agents-per-instance`).
    BuildkiteQueue,
    /// `[stack.scaler] resource_class` (`--resource-class`): the runner's token names its
    /// resource class, but nothing on the instance does.
    ResourceClass,
}

/// The agents a stack can run.
pub const ROWS: &[AgentRow] = &[
    AgentRow {
        kind: AgentKind::Semaphore,
        endpoint: Endpoint::Host,
        scaler_shares_token: true,
        scaler_queue: ScalerQueue::AgentType,
    },
    AgentRow {
        kind: AgentKind::Buildkite,
        endpoint: Endpoint::OptionalUrl,
        scaler_shares_token: true,
        scaler_queue: ScalerQueue::BuildkiteQueue,
    },
    AgentRow {
        kind: AgentKind::Circleci,
        endpoint: Endpoint::OptionalUrl,
        scaler_shares_token: false,
        scaler_queue: ScalerQueue::ResourceClass,
    },
];

impl AgentRow {
    pub fn name(&self) -> &'static str {
        self.kind.as_str()
    }
}

/// The row of `kind`.
pub fn row(kind: AgentKind) -> AgentRow {
    ROWS.iter()
        .copied()
        .find(|r| r.kind == kind)
        .expect("every agent kind has a row")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_has_one_row() {
        for kind in AgentKind::ALL {
            assert_eq!(ROWS.iter().filter(|r| r.kind == kind).count(), 1, "{kind}");
        }
    }
}
