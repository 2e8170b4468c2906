//! What differs between CI agents at the fleet level, one row per agent kind. The kind is a
//! setting (`agent = "semaphore"`): Buildkite and CircleCI add a row here, and nothing else in
//! `stack` names a CI system.

use imagekit_bootstrap::config::AgentKind;

use crate::cli::Ci;

/// One agent kind's fleet-level facts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AgentRow {
    pub kind: AgentKind,
    /// The queue `imagekit scale` reads.
    pub ci: Ci,
    /// The stack must name the CI control plane (`endpoint`).
    pub needs_endpoint: bool,
    /// The instances' token also reads the queue: Semaphore's metrics API takes the agent-type
    /// token (agent-aws-stack's scaler reads `SEMAPHORE_AGENT_TOKEN_PARAMETER_NAME`,
    /// renderedtext/agent-aws-stack@164b2cb:lib/aws-semaphore-agent-stack.js).
    pub scaler_shares_token: bool,
    /// Lower-case name used in descriptions and the stack's metadata.
    pub name: &'static str,
}

pub fn row(kind: AgentKind) -> AgentRow {
    match kind {
        AgentKind::Semaphore => AgentRow {
            kind,
            ci: Ci::Semaphore,
            needs_endpoint: true,
            scaler_shares_token: true,
            name: "semaphore",
        },
    }
}
