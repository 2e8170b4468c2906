//! What differs between CI agents at the fleet level, one row per agent kind. The kind is a
//! setting (`agent = "semaphore"`): Buildkite and CircleCI become stacks by adding their row to
//! [`ROWS`], and nothing else in `stack` names a CI system.

use imagekit_core::AgentKind;

/// One agent kind's fleet-level facts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AgentRow {
    /// The boot config's `agent`, and the queue `imagekit scale --ci` reads.
    pub kind: AgentKind,
    /// The stack must name the CI control plane (`endpoint`).
    pub needs_endpoint: bool,
    /// The instances' token also reads the queue: Semaphore's metrics API takes the agent-type
    /// token (agent-aws-stack's scaler reads `SEMAPHORE_AGENT_TOKEN_PARAMETER_NAME`,
    /// renderedtext/agent-aws-stack@164b2cb:lib/aws-semaphore-agent-stack.js).
    pub scaler_shares_token: bool,
}

/// The agents a stack can run today.
pub const ROWS: &[AgentRow] = &[AgentRow {
    kind: AgentKind::Semaphore,
    needs_endpoint: true,
    scaler_shares_token: true,
}];

impl AgentRow {
    pub fn name(&self) -> &'static str {
        self.kind.as_str()
    }
}

/// The row of `kind`, or why a stack cannot run it yet.
pub fn row(kind: AgentKind) -> Result<AgentRow, String> {
    ROWS.iter()
        .copied()
        .find(|r| r.kind == kind)
        .ok_or_else(|| {
            format!(
            "{kind} fleets are not supported yet (imagekit-bootstrap runs the {} agent): use {}",
            ROWS.iter().map(|r| r.name()).collect::<Vec<_>>().join(", "),
            ROWS[0].name()
        )
        })
}
