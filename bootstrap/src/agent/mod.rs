//! The CI agents the bootstrap can start, behind one [`Agent`] trait: one module per agent kind,
//! and nothing outside this module names one.
//!
//! Like afterburn's metadata providers, an agent implements what it must (where it lives, how its
//! config is written, how it is started, how its end is read) and inherits a "not supported"
//! default for the rest (a cache environment, a busy signal, checks beyond the schema).

mod buildkite;
mod circleci;
mod job_env;
mod leave;
mod outcome;
mod self_exe;
mod semaphore;
mod stop_budget;

use std::path::PathBuf;

use crate::config::{BootConfig, BootConfigLayer, ConfigError};
use crate::secrets::Token;
use crate::state::StateDir;
use crate::supervise::{Exit, GracefulStop, Handoff, Launch, StopSignal};
use crate::user::User;
use imagekit_core::AgentKind;

pub use outcome::{Outcome, Terms};

/// What an agent's start is made of, decided before it starts.
#[derive(Debug, Clone, Copy)]
pub struct Start<'a> {
    pub config: &'a BootConfig,
    pub instance_id: &'a str,
    pub region: &'a str,
    /// The agent user: who runs the jobs.
    pub user: &'a User,
    /// The user the bootstrap runs as (root on an image), for an agent that
    /// [`Agent::runs_as_supervisor`].
    pub supervisor: &'a User,
    pub state: &'a StateDir,
    /// The pre-signed STS URL naming the agent, when it asked for one ([`Agent::named_by_sts`]).
    /// A secret: it carries the instance's session token.
    pub sts_name: Option<&'a Token>,
    /// The token on a pipe, when the agent [`Agent::reads_token_from_descriptor`]: its config
    /// names [`Handoff::reference`] instead of the token.
    pub handoff: Option<&'a Handoff>,
}

/// Whether the agent runs a job right now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Busy {
    Idle,
    Running,
    /// The agent gives no sign either way.
    Unknown,
}

#[derive(Debug, thiserror::Error)]
#[error("{what} {}: {source}", .path.display())]
pub struct AgentError {
    pub what: &'static str,
    pub path: PathBuf,
    pub source: std::io::Error,
}

/// One CI agent: what the bootstrap needs to know to start it, stop it and read its end.
pub trait Agent: Send + Sync {
    fn kind(&self) -> AgentKind;

    /// Where the image installs the agent, when the config names no `agent_dir`.
    fn default_dir(&self) -> PathBuf;

    /// The agent's program.
    fn program(&self, config: &BootConfig) -> PathBuf;

    /// The agent's config file.
    fn config_path(&self, config: &BootConfig) -> PathBuf;

    /// Whether the agent is named by a pre-signed STS `GetCallerIdentity` URL, which the run makes
    /// from the instance's credentials and hands over in [`Start::sts_name`]. Default: no.
    fn named_by_sts(&self, _config: &BootConfig) -> bool {
        false
    }

    /// Whether the agent runs as the bootstrap's own user (root on an image) and runs its jobs
    /// as the agent user itself: then its launch and the state dir are the supervisor's, out of
    /// the jobs' reach. Default: no, the agent runs as the agent user and owns the state dir.
    fn runs_as_supervisor(&self) -> bool {
        false
    }

    /// Whether the agent reads its token from an inherited descriptor that its config names, so
    /// that the token is in no file its jobs can read: then the run hands it over in
    /// [`Start::handoff`] and the launch passes it on. Default: no, the token is in the config.
    fn reads_token_from_descriptor(&self) -> bool {
        false
    }

    /// Refuses, before any AWS call, what the agent itself would refuse or misread, and rewrites
    /// what it would misread but the user plainly meant; returns the warnings to show. Rules
    /// across keys wait for a [`Scope::Complete`] layer. Default: nothing beyond the schema.
    fn check(
        &self,
        _layer: &mut BootConfigLayer,
        _scope: Scope,
    ) -> Result<Vec<String>, ConfigError> {
        Ok(Vec::new())
    }

    /// The job environment that points the agent's jobs at the S3 cache bucket. Default: none.
    fn cache_env(&self, _bucket: &str) -> Vec<(String, String)> {
        Vec::new()
    }

    /// The jobs' environment: the cache's variables first, then the config's `env` (which may
    /// override them).
    fn job_env(&self, config: &BootConfig) -> Vec<(String, String)> {
        let mut env = match &config.cache_bucket {
            Some(bucket) => self.cache_env(bucket),
            None => Vec::new(),
        };
        for (k, v) in &config.env {
            env.retain(|(name, _)| name != k);
            env.push((k.clone(), v.clone()));
        }
        env
    }

    /// Writes what the agent reads when it starts (its config, with `token`: atomic, 0600, owned
    /// by the agent user), and clears what an earlier start left in the state dir.
    fn write_files(&self, start: &Start<'_>, token: &Token) -> Result<(), AgentError>;

    /// The agent's command line and environment (never the token).
    fn launch<'a>(&self, start: &Start<'a>) -> Launch<'a>;

    /// Whether a job runs now, from what the agent left in the state dir. Default: unknown.
    fn busy(&self, _state: &StateDir) -> Busy {
        Busy::Unknown
    }

    /// How to stop the agent so that it finishes cleanly. Default: SIGTERM, and wait for it.
    fn graceful_stop(&self, _config: &BootConfig) -> GracefulStop {
        GracefulStop {
            signal: StopSignal::Terminate,
            repeat: None,
            grace: None,
        }
    }

    /// The agent's own log file, shipped to `<prefix>/agent`. Default: none.
    fn log_file(&self, _state: &StateDir) -> Option<PathBuf> {
        None
    }

    /// Whether the agent has registered with its control plane in this boot, from what it left
    /// in the state dir. Default: unknown, read as not yet.
    fn registered(&self, _state: &StateDir) -> bool {
        false
    }

    /// Whether the agent's control plane has refused it (its token) in this boot, from what it
    /// left in the state dir, while it keeps waiting for work: the supervisor then stops it, and
    /// its end reads as a failed start. Default: no such sign.
    fn refused(&self, _state: &StateDir) -> bool {
        false
    }

    /// The agent's end as an [`Outcome`], from its exit and what it left in the state dir; logs
    /// what it read.
    fn read_end(&self, config: &BootConfig, state: &StateDir, exit: &Exit) -> Outcome;
}

/// The provider of `kind`: every kind the kit knows has one.
pub fn provider(kind: AgentKind) -> Box<dyn Agent> {
    match kind {
        AgentKind::Semaphore => Box::new(semaphore::Semaphore),
        AgentKind::Buildkite => Box::new(buildkite::Buildkite),
        AgentKind::Circleci => Box::new(circleci::Circleci),
    }
}

/// Whether a layer is all there is, or a config parameter read at boot may still set keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    Complete,
    Partial,
}

/// The one check of a (possibly partial) layer, shared by `run`, `show-config`, `imagekit
/// userdata` and the stack: its kind's provider's rules hold. Rewrites the
/// layer as [`Agent::check`] does, and returns the provider and the warnings to show.
pub fn check_layer(
    layer: &mut BootConfigLayer,
    scope: Scope,
) -> Result<(Box<dyn Agent>, Vec<String>), ConfigError> {
    let agent = provider(layer.agent.unwrap_or_default());
    let warnings = agent.check(layer, scope)?;
    Ok((agent, warnings))
}

/// The config a boot runs with, its agent, and the check's warnings.
pub struct Resolved {
    pub agent: Box<dyn Agent>,
    pub config: BootConfig,
    pub warnings: Vec<String>,
}

/// The merged layers, all of them, as the config a boot runs with.
pub fn resolve(mut layer: BootConfigLayer) -> Result<Resolved, ConfigError> {
    let (agent, warnings) = check_layer(&mut layer, Scope::Complete)?;
    let config = BootConfig::resolve(layer, &agent.default_dir())?;
    Ok(Resolved {
        agent,
        config,
        warnings,
    })
}

/// The oldest Semaphore agent release the bootstrap can configure (every key it writes exists),
/// as `(major, minor, patch)`; the image build refuses older `--agent-version`s.
pub const SEMAPHORE_MIN_VERSION: (u64, u64, u64) = semaphore::rules::MIN_AGENT_VERSION;

/// Whether `version` (`vMAJOR.MINOR.PATCH`) is at least [`SEMAPHORE_MIN_VERSION`].
pub fn semaphore_version_supported(version: &str) -> bool {
    semaphore::rules::version_supported(version)
}

/// CircleCI's `command_prefix` wrapper (`imagekit-bootstrap circleci-task`): records the task's
/// start, sets its environment, drops to the agent user and execs the task-agent. Returns only
/// on failure.
pub fn circleci_task(
    state_dir: PathBuf,
    user: Option<String>,
    command: Vec<std::ffi::OsString>,
) -> anyhow::Error {
    circleci::task::exec(circleci::task::Task {
        state_dir,
        user,
        command,
    })
}

/// The Buildkite hooks `buildkite-hook` plays (the Windows hooks' body).
pub use buildkite::hook_command::{HookName as BuildkiteHookName, SUBCOMMAND as BUILDKITE_HOOK};

/// `buildkite-hook NAME`: the Windows Buildkite hook `name`, run by the agent with the job's
/// environment: records what the sh hooks record and hands the job's variables to the agent.
pub fn buildkite_hook(name: BuildkiteHookName) -> anyhow::Result<()> {
    buildkite::hook_command::run(name, &buildkite::hook_command::HookEnv::from_process())
}

/// What `on-shutdown --help` says: the hook is the Semaphore agent's.
pub const ON_SHUTDOWN_ABOUT: &str = semaphore::hook::ABOUT;

/// `on-shutdown`: the agent's shutdown hook. It records the agent's reason for the supervisor and
/// returns at once: no AWS call, no credentials.
pub fn on_shutdown() -> std::io::Result<String> {
    semaphore::hook::record_reason()
}

#[cfg(test)]
mod layout;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_provider_is_the_kind_it_was_asked_for() {
        for kind in AgentKind::ALL {
            assert_eq!(provider(kind).kind(), kind);
        }
    }
}
