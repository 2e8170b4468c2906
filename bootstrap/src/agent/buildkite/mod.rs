//! buildkite-agent (v3): `buildkite-agent start --config buildkite-agent.cfg`, as the agent user.
//!
//! Buildkite passes no shutdown reason, so the bootstrap's own hooks (`hooks.rs`) tell it that
//! the agent registered and that a job ran. Sources: buildkite/agent@d312b88564052a9742f6c50e008c07e5d6035511
//! (tag v3.137.0, the release the images pin), cited per rule as `buildkite/agent@d312b88:path`.

mod config_file;
pub mod hook_command;
mod hooks;
pub mod rules;

use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Duration;

use super::{Agent, AgentError, Busy, Outcome, Scope, Start};
use crate::config::{BootConfig, BootConfigLayer, BuildkiteSection, ConfigError, Section};
use crate::secrets::Token;
use crate::state::StateDir;
use crate::supervise::{Exit, GracefulStop, Launch, StopSignal};
use config_file::AgentConfig;
use imagekit_core::AgentKind;

/// Where the images keep the agent's config, hooks and plugins (packer/scripts/*/buildkite:
/// the Linux packages' /etc/buildkite-agent; /usr/local/etc on macOS; one dir on Windows), with
/// the agent's binary there too (a link to /usr/local/bin/buildkite-agent on Linux and macOS).
#[cfg(all(unix, not(target_os = "macos")))]
pub const DEFAULT_DIR: &str = "/etc/buildkite-agent";
#[cfg(target_os = "macos")]
pub const DEFAULT_DIR: &str = "/usr/local/etc/buildkite-agent";
#[cfg(windows)]
pub const DEFAULT_DIR: &str = r"C:\buildkite-agent";

/// Where the images make the jobs' checkouts, owned by the agent user.
#[cfg(all(unix, not(target_os = "macos")))]
const DEFAULT_BUILD_PATH: &str = "/var/lib/buildkite-agent/builds";
#[cfg(target_os = "macos")]
const DEFAULT_BUILD_PATH: &str = "/Users/buildkite-agent/builds";
#[cfg(windows)]
const DEFAULT_BUILD_PATH: &str = r"C:\buildkite-agent\builds";

/// Seconds a cancelled job has to end before the agent kills it: the agent's own default
/// (clicommand/cancel_signal.go `defaultCancelGracePeriodSecs`), written out so that the stop
/// budget ([`crate::agent::stop_budget`]) counts the value the agent uses.
const CANCEL_GRACE_PERIOD_SECS: u64 = 10;

/// The job variables that name the cache bucket and its region, for plugins (Buildkite has no
/// cache of its own to point at it).
const CACHE_BUCKET_ENV: &str = "IMAGEKIT_CACHE_BUCKET";
const CACHE_REGION_ENV: &str = "IMAGEKIT_CACHE_REGION";

pub struct Buildkite;

impl Buildkite {
    fn section(config: &BootConfig) -> BuildkiteSection {
        match &config.section {
            Section::Buildkite(section) => section.clone(),
            _ => BuildkiteSection::default(),
        }
    }
}

impl Agent for Buildkite {
    fn kind(&self) -> AgentKind {
        AgentKind::Buildkite
    }

    fn default_dir(&self) -> PathBuf {
        PathBuf::from(DEFAULT_DIR)
    }

    /// `<agent_dir>/buildkite-agent` (`.exe` on Windows).
    fn program(&self, config: &BootConfig) -> PathBuf {
        config
            .agent_dir
            .join(format!("buildkite-agent{}", std::env::consts::EXE_SUFFIX))
    }

    /// The packages' name for it (packaging/linux/root/usr/share/buildkite-agent/buildkite-agent.cfg).
    fn config_path(&self, config: &BootConfig) -> PathBuf {
        config.agent_dir.join("buildkite-agent.cfg")
    }

    fn check(&self, layer: &mut BootConfigLayer, scope: Scope) -> Result<Vec<String>, ConfigError> {
        rules::check(layer, scope)
    }

    /// For plugins and jobs that use the bucket: its name and region (the instance's own; the
    /// bucket is checked from it at boot).
    fn cache_env(&self, bucket: &str) -> Vec<(String, String)> {
        vec![(CACHE_BUCKET_ENV.to_string(), bucket.to_string())]
    }

    /// The token reaches the agent on an inherited pipe, which its config names (`token=fd://N`):
    /// the config is the agent user's, as are its jobs, so the token must not be in it.
    fn reads_token_from_descriptor(&self) -> bool {
        true
    }

    /// The hooks, the job environment, and the agent's config (naming the token's descriptor).
    fn write_files(&self, start: &Start<'_>, token: &Token) -> Result<(), AgentError> {
        let config = start.config;
        let mut env = self.job_env(config);
        // The bucket's region beside its name (the config's `env` may still override it).
        if config.cache_bucket.is_some() && !config.env.contains_key(CACHE_REGION_ENV) {
            env.insert(1, (CACHE_REGION_ENV.into(), start.region.to_string()));
        }
        hooks::write(&config.agent_dir, start.state, &env, start.user.owner())
            .map_err(|(what, path, source)| AgentError { what, path, source })?;

        let path = self.config_path(config);
        let refused = |why: String| AgentError {
            what: "writing the agent config",
            path: path.clone(),
            source: std::io::Error::new(std::io::ErrorKind::InvalidData, why),
        };
        if let Some(why) = rules::token_misread(token.expose()) {
            return Err(refused(format!(
                "the token in the SSM parameter {why}: store the token alone"
            )));
        }
        let Some(handoff) = start.handoff else {
            return Err(refused("the token was not handed over on a pipe".into()));
        };
        let section = Self::section(config);
        let mut tags = Vec::new();
        if let Some(queue) = &section.queue {
            tags.push(format!("queue={queue}"));
        }
        for (name, value) in section.tags.iter().flatten() {
            tags.push(format!("{name}={value}"));
        }
        let agent_config = AgentConfig {
            token: handoff.reference(),
            endpoint: &config.endpoint,
            name: agent_name(start.instance_id),
            spawn: section.spawn.unwrap_or(1),
            tags,
            disconnect_after_job: config.disconnect_after_job,
            disconnect_after_idle_timeout: config.disconnect_after_idle_timeout,
            cancel_grace_period: CANCEL_GRACE_PERIOD_SECS,
            build_path: section
                .build_path
                .clone()
                .unwrap_or_else(|| PathBuf::from(DEFAULT_BUILD_PATH)),
            hooks_path: config.agent_dir.join("hooks"),
            additional_hooks_path: hooks::dir(&config.agent_dir),
            plugins_path: config.agent_dir.join("plugins"),
        };
        agent_config
            .write(&path, start.user.owner())
            .map_err(|source| AgentError {
                what: "writing the agent config",
                path: path.clone(),
                source,
            })?;
        tracing::info!(path = %path.display(), name = agent_config.name.as_str(), "agent config written");
        Ok(())
    }

    /// `buildkite-agent start --config PATH`; the hooks learn the state dir, and the Windows
    /// ones this binary's path, from the environment.
    fn launch<'a>(&self, start: &Start<'a>) -> Launch<'a> {
        Launch {
            program: self.program(start.config),
            args: vec![
                OsString::from("start"),
                OsString::from("--config"),
                self.config_path(start.config).into_os_string(),
            ],
            dir: start.config.agent_dir.clone(),
            env: vec![
                (
                    hooks::STATE_DIR_ENV.into(),
                    start.state.path().as_os_str().to_os_string(),
                ),
                (
                    super::self_exe::EXE_ENV.into(),
                    super::self_exe::current().into_os_string(),
                ),
            ],
            user: start.user,
            handoff: start.handoff,
        }
    }

    /// Running while a job's environment hook has run and its pre-exit hook has not.
    fn busy(&self, state: &StateDir) -> Busy {
        if hooks::job_running(state) {
            Busy::Running
        } else {
            Busy::Idle
        }
    }

    /// The agent's first SIGTERM (or SIGINT) stops it gracefully, letting running jobs finish;
    /// the second cancels them and stops it within its cancel grace period (a third exits at
    /// once): buildkite/agent@d312b88:clicommand/agent_start.go `poolSignals.handleLoop`. So the
    /// supervisor sends the first, then the second after `interruption_grace_period`, and waits:
    /// after the second the agent exits on its own within the cancel grace period and a second
    /// (`ungracefulStop`: "Timed out waiting for agents to exit; exiting immediately with status
    /// 1"). On Windows Go reads Ctrl-C as the same interrupt.
    fn graceful_stop(&self, config: &BootConfig) -> GracefulStop {
        let bound = CANCEL_GRACE_PERIOD_SECS + super::stop_budget::STOP_MARGIN_SECS;
        GracefulStop {
            signal: StopSignal::Terminate,
            repeat: Some(Duration::from_secs(config.interruption_grace_period)),
            grace: cfg!(windows).then(|| Duration::from_secs(bound)),
        }
    }

    /// Once the agent-startup hook ran: every spawned agent registered.
    fn registered(&self, state: &StateDir) -> bool {
        hooks::registered_file(state).exists()
    }

    fn read_end(&self, _config: &BootConfig, state: &StateDir, exit: &Exit) -> Outcome {
        let progress = Progress {
            registered: self.registered(state),
            job_ran: hooks::job_ran_file(state).exists(),
        };
        let status = exit.status;
        let outcome = outcome_of(progress, exit.stop_requested, status.success());
        match outcome {
            Outcome::FailedToStart => tracing::error!(
                %status,
                "agent exited before registering (its startup hook never ran; a refused token ends it with \"buildkite-agent: fatal: POST .../register: 401 Unauthorized\" and exit 1); giving the instance back as failed to start"
            ),
            Outcome::CrashedAfterRunning => tracing::error!(
                %status,
                job_ran = progress.job_ran,
                "agent exited with a failure after registering; giving the instance back without lowering desired capacity"
            ),
            Outcome::Interrupted => tracing::info!(
                %status,
                job_ran = progress.job_ran,
                "agent stopped on request; giving the instance back as interrupted"
            ),
            _ => tracing::info!(%status, job_ran = progress.job_ran, ?outcome, "agent exited"),
        }
        outcome
    }
}

/// `<instance-id>-%spawn`: the agent replaces `%spawn` with each spawned agent's index
/// (agent_start.go: `strings.ReplaceAll(cfg.Name, "%spawn", strconv.Itoa(index))`), so every
/// agent on the instance has its own name, as the elastic stack names them.
fn agent_name(instance_id: &str) -> String {
    let name = format!("{instance_id}-%spawn");
    debug_assert!(config_file::misread(&name).is_none(), "{name}");
    name
}

/// What the bootstrap's hooks recorded.
#[derive(Debug, Clone, Copy)]
struct Progress {
    registered: bool,
    job_ran: bool,
}

/// An agent that exits before its startup hook never registered: its registration failed (a
/// refused token is not retried: api/retryable.go `IsRetryableStatus` retries only 429 and 5xx,
/// core/client.go `Register` 30 times 10 s apart otherwise), and `agent start` returned the error
/// (main.go → clicommand/errors.go `PrintMessageAndReturnExitCode`: "buildkite-agent: fatal:
/// ...", exit 1). Once registered, the agent exits 0 when it disconnects, after its job or idle
/// (agent_start.go: `pool.Start` returns nil, and with `reflect-exit-status` unset a failed job
/// is still nil). A stop asked for is an interruption.
fn outcome_of(progress: Progress, stop_requested: bool, success: bool) -> Outcome {
    match (progress, stop_requested, success) {
        (_, true, _) => Outcome::Interrupted,
        (
            Progress {
                registered: false, ..
            },
            false,
            _,
        ) => Outcome::FailedToStart,
        (_, false, false) => Outcome::CrashedAfterRunning,
        (Progress { job_ran: true, .. }, false, true) => Outcome::JobFinished,
        (Progress { job_ran: false, .. }, false, true) => Outcome::Idle,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_the_hooks_recorded_reads_as_the_outcome() {
        // (registered, a job ran, stop requested, exit 0, outcome)
        let table = [
            (true, false, false, true, Outcome::Idle),
            (true, true, false, true, Outcome::JobFinished),
            (false, false, false, false, Outcome::FailedToStart),
            (false, false, false, true, Outcome::FailedToStart),
            (true, true, false, false, Outcome::CrashedAfterRunning),
            (true, false, false, false, Outcome::CrashedAfterRunning),
            (true, true, true, true, Outcome::Interrupted),
            (true, false, true, false, Outcome::Interrupted),
            (false, false, true, false, Outcome::Interrupted),
        ];
        for (registered, job_ran, stop, success, outcome) in table {
            let progress = Progress {
                registered,
                job_ran,
            };
            assert_eq!(
                outcome_of(progress, stop, success),
                outcome,
                "{progress:?} stop={stop} success={success}"
            );
        }
    }

    #[test]
    fn the_stop_is_two_signals_apart_by_the_grace_period() {
        let layer: BootConfigLayer = serde_json::from_str(
            r#"{"agent":"buildkite","token_parameter":"/t","interruption_grace_period":90}"#,
        )
        .unwrap();
        let resolved = crate::agent::resolve(layer).unwrap();
        let plan = Buildkite.graceful_stop(&resolved.config);
        assert_eq!(plan.signal, StopSignal::Terminate);
        assert_eq!(plan.repeat, Some(Duration::from_secs(90)));
        assert_eq!(resolved.config.endpoint, rules::DEFAULT_ENDPOINT);
    }

    #[test]
    fn names_carry_the_instance_and_the_spawn_index() {
        assert_eq!(
            agent_name("i-0123456789abcdef0"),
            "i-0123456789abcdef0-%spawn"
        );
    }
}
