//! The CI agents the bootstrap can start, behind one [`Agent`] trait: one module per agent kind,
//! and nothing outside this module names one.
//!
//! Like afterburn's metadata providers, an agent implements what it must (where it lives, how its
//! config is written, how it is started, how its end is read) and inherits a "not supported"
//! default for the rest (a cache environment, a busy signal, checks beyond the schema).

mod outcome;
mod semaphore;

use std::path::PathBuf;

use crate::config::{BootConfig, BootConfigLayer, ConfigError};
use crate::secrets::Token;
use crate::state::StateDir;
use crate::supervise::{Exit, GracefulStop, Launch, StopSignal};
use crate::user::User;
use imagekit_core::AgentKind;

pub use outcome::{Outcome, Terms};

/// What an agent's start is made of, decided before it starts.
#[derive(Debug, Clone, Copy)]
pub struct Start<'a> {
    pub config: &'a BootConfig,
    pub instance_id: &'a str,
    pub user: &'a User,
    pub state: &'a StateDir,
    /// The pre-signed STS URL naming the agent, when it asked for one ([`Agent::named_by_sts`]).
    /// A secret: it carries the instance's session token.
    pub sts_name: Option<&'a Token>,
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

    /// Refuses, before any AWS call, what the agent itself would refuse. Default: nothing beyond
    /// the schema.
    fn check(&self, _config: &BootConfig) -> Result<(), ConfigError> {
        Ok(())
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
            grace: None,
        }
    }

    /// The agent's end as an [`Outcome`], from its exit and what it left in the state dir; logs
    /// what it read.
    fn read_end(&self, state: &StateDir, exit: &Exit) -> Outcome;
}

/// The provider of `kind`; a kind this version cannot start is a config error (exit 2).
pub fn provider(kind: AgentKind) -> Result<Box<dyn Agent>, ConfigError> {
    match kind {
        AgentKind::Semaphore => Ok(Box::new(semaphore::Semaphore)),
        other => Err(ConfigError::NoProvider(other)),
    }
}

/// The merged layers as the config a boot runs with, and the agent that runs it.
pub fn resolve(layer: BootConfigLayer) -> Result<(Box<dyn Agent>, BootConfig), ConfigError> {
    let agent = provider(layer.agent.unwrap_or_default())?;
    let config = BootConfig::resolve(layer, &agent.default_dir())?;
    agent.check(&config)?;
    Ok((agent, config))
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
    fn a_kind_without_a_provider_is_one_config_error_line() {
        for kind in [AgentKind::Buildkite, AgentKind::Circleci] {
            let err = provider(kind).err().expect("no provider yet").to_string();
            assert_eq!(
                err,
                format!("no provider for agent kind {kind} in this version")
            );
            let layer = BootConfigLayer {
                agent: Some(kind),
                ..Default::default()
            };
            assert!(matches!(resolve(layer), Err(ConfigError::NoProvider(k)) if k == kind));
        }
    }

    #[test]
    fn every_provider_is_the_kind_it_was_asked_for() {
        for kind in AgentKind::ALL {
            if let Ok(agent) = provider(kind) {
                assert_eq!(agent.kind(), kind);
            }
        }
    }
}
